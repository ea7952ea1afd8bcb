/**
 * `Connection: close` and HTTP/1.0 end to end (issue 11, RFC 9112 section 9.6): the backend's FIN
 * never reaches the client (the switch clears it, the takeover never ends the real socket), so
 * after the hand-back the controller closes the connection itself — FIN right after the last
 * response byte, the normal close handshake, no RST — when the request asked for it or the
 * application answered `Connection: close`; and nothing the client sends after that starts
 * another transaction. Real clients in the client namespace; bodies hash-checked; the client's
 * TCP counters show no reset; no hand-off entry is left after any test.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deterministicSha256 } from '../../agent/bytes.js';
import type { Host } from '../../netns/index.js';
import { startStack, type RunningStack } from '../../stack/stack.js';
import { ebpfSkipReason, REPO } from '../helpers/ebpf.js';
import { handoffsSettled, tcpCounters, testTopology } from '../helpers/stack.js';

const skip = ebpfSkipReason();
if (skip) console.warn(`[skip] connection-close tests: ${skip}`);

/**
 * A raw-socket client (Python): sends `first`, reads responses (framed by Content-Length) until
 * end of stream, a reset or 5 s of silence; writes `after` once the first response is complete
 * and `afterEof` once the stream has ended, then looks again (a reset would show). Prints JSON:
 * how the stream ended, every response (status, headers, body length and SHA-256), the time from
 * the last response byte to end of stream, and any bytes left over.
 */
const RAW_CLIENT = String.raw`
import hashlib, json, socket, sys, time
first, after, after_eof = (a.encode('latin1') for a in json.loads(sys.argv[1]))
s = socket.create_connection(('10.0.0.100', 80), timeout=5)
s.sendall(first)
buf, responses, end, t_resp, t_eof, sent_after = b'', [], 'timeout', None, None, not after
def parse():
    global buf
    while True:
        k = buf.find(b'\r\n\r\n')
        if k < 0: return False
        lines = buf[:k].decode('latin1').split('\r\n')
        headers = {l.split(':', 1)[0].strip().lower(): l.split(':', 1)[1].strip() for l in lines[1:] if ':' in l}
        n = int(headers.get('content-length', '0'))
        if len(buf) < k + 4 + n: return False
        body = buf[k + 4:k + 4 + n]
        responses.append({'status': lines[0], 'headers': headers, 'length': n, 'sha256': hashlib.sha256(body).hexdigest()})
        buf = buf[k + 4 + n:]
        return True
while True:
    try:
        d = s.recv(65536)
    except socket.timeout:
        end = 'timeout'; break
    except ConnectionResetError:
        end = 'reset'; break
    if not d:
        end, t_eof = 'eof', time.time(); break
    buf += d
    while parse():
        t_resp = time.time()
        if not sent_after:
            s.sendall(after); sent_after = True
late = None
if end == 'eof' and after_eof:
    s.sendall(after_eof)
    s.settimeout(1)
    try:
        late = 'eof' if s.recv(65536) == b'' else 'data'
    except socket.timeout:
        late = 'timeout'
    except ConnectionResetError:
        late = 'reset'
s.close()
print(json.dumps({'end': end, 'responses': responses, 'eofAfterMs': None if t_eof is None or t_resp is None else (t_eof - t_resp) * 1000, 'leftover': len(buf), 'late': late}))
`;

interface RawResponse {
  status: string;
  headers: Record<string, string>;
  length: number;
  sha256: string;
}
interface RawResult {
  end: 'eof' | 'reset' | 'timeout';
  responses: RawResponse[];
  eofAfterMs: number | null;
  leftover: number;
  late: 'eof' | 'data' | 'timeout' | 'reset' | null;
}

const get = (path: string, version: '1.0' | '1.1', headers: Record<string, string> = {}): string =>
  `GET ${path} HTTP/${version}\r\n${Object.entries({ ...(version === '1.1' ? { Host: 'vip' } : {}), ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;

/** The counters of the client's kernel that would show a reset, sent or received. */
const RESET_COUNTERS = ['TcpOutRsts', 'TcpEstabResets', 'TcpExtTCPAbortOnData', 'TcpExtTCPAbortOnClose'] as const;

function suite(name: string, topologyName: string, topologyExtra: readonly string[], body: (ctx: Ctx) => void): void {
  describe.skipIf(skip)(name, () => {
    const ctx = {} as Ctx;
    let resetsBefore: Record<string, number> = {};
    beforeAll(async () => {
      ctx.stack = await startStack(testTopology(topologyName, 3, topologyExtra), { root: REPO });
    }, 60_000);
    afterAll(async () => {
      await ctx.stack?.close();
    });
    const client = () => ctx.stack.hosts.get('client')!.host;
    ctx.raw = async (first, after = '', afterEof = '') => {
      const r = await client().exec(['python3', '-c', RAW_CLIENT, JSON.stringify([first, after, afterEof])], { timeoutMs: 20_000 });
      return JSON.parse(r.stdout) as RawResult;
    };
    ctx.client = client;
    ctx.transactions = () => Object.values(ctx.stack.handoff.stats.outcomes).reduce((n, v) => n + v, 0);
    ctx.resetsSeen = async () => {
      const c = await tcpCounters(client());
      return Object.fromEntries(RESET_COUNTERS.map((k) => [k, (c[k] ?? 0) - (resetsBefore[k] ?? 0)]));
    };
    // The client's reset counters, as each test begins.
    beforeEach(async () => {
      if (ctx.stack) resetsBefore = await tcpCounters(client());
    });
    // After every test: no transaction in flight and no hand-off entry left in the switch.
    afterEach(async () => {
      if (!ctx.stack) return;
      await handoffsSettled(ctx.stack);
      expect(ctx.stack.sw.dataplane!.entryCount('handoff_in')).toBe(0);
      expect(ctx.stack.sw.dataplane!.entryCount('handoff_out')).toBe(0);
    });
    body(ctx);
  });
}

interface Ctx {
  stack: RunningStack;
  client(): Host;
  raw(first: string, after?: string, afterEof?: string): Promise<RawResult>;
  /** Transactions finished so far, whatever their outcome. */
  transactions(): number;
  /** Reset counters of the client's kernel since the test began. */
  resetsSeen(): Promise<Record<string, number>>;
}

const noResets = Object.fromEntries(RESET_COUNTERS.map((k) => [k, 0]));

suite('Connection: close and HTTP/1.0: the controller closes after the response', 'close-test', [], (ctx) => {
  it('curl --http1.0: the whole body, hash-checked, curl exits 0 well within a second, no reset', async () => {
    const dir = `/tmp/prism-close-${process.pid}`;
    await ctx.client().exec(['mkdir', '-p', dir]);
    try {
      const r = await ctx.client().exec(
        ['curl', '-sS', '--fail', '--http1.0', '--max-time', '10', '-o', `${dir}/body`, '-w', '%{http_code} %header{x-content-sha256} %{time_total}', 'http://10.0.0.100/bytes/300000?seed=21'],
        { timeoutMs: 15_000 },
      );
      const [code, sha, total] = r.stdout.trim().split(' ');
      expect(code).toBe('200');
      expect(sha).toBe(deterministicSha256(300000, 21));
      const sum = await ctx.client().exec(['sha256sum', `${dir}/body`]);
      expect(sum.stdout.split(' ')[0]).toBe(sha);
      // curl's own clock, from its start to the end of the transfer (a process spawn under a
      // loaded CI machine is not what this measures).
      expect(Number(total)).toBeLessThan(1);
    } finally {
      await ctx.client().exec(['rm', '-rf', dir]);
    }
    expect(await ctx.resetsSeen()).toEqual(noResets);
  }, 30_000);

  it("Python's http.client with Connection: close: the response read fully, then end of stream within 1 s", async () => {
    const py = String.raw`
import hashlib, http.client, json, socket, time
c = http.client.HTTPConnection('10.0.0.100', 80, timeout=5)
c.connect()
raw = c.sock.dup()  # http.client closes its socket after a closing response; the dup keeps it open
c.request('GET', '/bytes/200000?seed=22', headers={'Connection': 'close'})
r = c.getresponse()
body = r.read()
t = time.time()
raw.settimeout(1)
try:
    eof = 'eof' if raw.recv(1) == b'' else 'data'
except socket.timeout:
    eof = 'timeout'
except ConnectionResetError:
    eof = 'reset'
print(json.dumps({'status': r.status, 'connection': r.getheader('Connection'), 'sha': r.getheader('X-Content-SHA256'), 'got': hashlib.sha256(body).hexdigest(), 'eof': eof, 'ms': (time.time() - t) * 1000}))
raw.close()
`;
    const r = await ctx.client().exec(['python3', '-c', py], { timeoutMs: 20_000 });
    const out = JSON.parse(r.stdout) as { status: number; connection: string; sha: string; got: string; eof: string; ms: number };
    expect(out.status).toBe(200);
    expect(out.connection).toBe('close');
    expect(out.got).toBe(deterministicSha256(200000, 22));
    expect(out.sha).toBe(out.got);
    expect(out.eof).toBe('eof');
    expect(out.ms).toBeLessThan(1000);
    expect(await ctx.resetsSeen()).toEqual(noResets);
  }, 30_000);

  it('a raw HTTP/1.0 request read to end of stream: the whole response, then EOF within 1 s', async () => {
    const before = ctx.transactions();
    const r = await ctx.raw(get('/bytes/5000', '1.0'));
    expect(r.end).toBe('eof');
    expect(r.responses).toHaveLength(1);
    const [res] = r.responses;
    expect(res!.status).toMatch(/^HTTP\/1\.1 200 /);
    expect(res!.headers.connection).toBe('close');
    expect(res!.length).toBe(5000);
    expect(res!.sha256).toBe(res!.headers['x-content-sha256']);
    expect(r.eofAfterMs!).toBeLessThan(1000);
    expect(r.leftover).toBe(0);
    await handoffsSettled(ctx.stack);
    expect(ctx.transactions() - before).toBe(1);
    expect(await ctx.resetsSeen()).toEqual(noResets);
  }, 30_000);

  it('a raw HTTP/1.1 request with Connection: close read to end of stream: the whole response, then EOF within 1 s', async () => {
    const r = await ctx.raw(get('/bytes/70000?seed=23', '1.1', { Connection: 'close' }));
    expect(r.end).toBe('eof');
    expect(r.responses.map((x) => [x.length, x.sha256])).toEqual([[70000, deterministicSha256(70000, 23)]]);
    expect(r.eofAfterMs!).toBeLessThan(1000);
    expect(await ctx.resetsSeen()).toEqual(noResets);
  }, 30_000);

  it('the application answers Connection: close: EOF within 1 s; requests written afterwards are never served', async () => {
    const before = ctx.transactions();
    // A keep-alive request; the object server closes anyway (close=1). One more request is written
    // as soon as the response is in, another after the end of stream.
    const r = await ctx.raw(get('/bytes/8000?seed=24&close=1', '1.1'), get('/bytes/10?seed=1', '1.1'), get('/bytes/20?seed=2', '1.1'));
    expect(r.end).toBe('eof');
    expect(r.responses).toHaveLength(1);
    expect(r.responses[0]!.headers.connection).toBe('close');
    expect(r.responses[0]!.sha256).toBe(deterministicSha256(8000, 24));
    expect(r.eofAfterMs!).toBeLessThan(1000);
    expect(r.leftover).toBe(0);
    expect(r.late).toBe('eof'); // no answer, no reset
    await handoffsSettled(ctx.stack);
    expect(ctx.transactions() - before).toBe(1);
    expect(await ctx.resetsSeen()).toEqual(noResets);
  }, 30_000);

  it('pipelined: a GET with Connection: close, then another GET: only the first is answered, then EOF', async () => {
    const before = ctx.transactions();
    const r = await ctx.raw(get('/bytes/3000?seed=25', '1.1', { Connection: 'close' }) + get('/bytes/4000?seed=26', '1.1'));
    expect(r.end).toBe('eof');
    expect(r.responses.map((x) => [x.length, x.sha256])).toEqual([[3000, deterministicSha256(3000, 25)]]);
    expect(r.leftover).toBe(0);
    await handoffsSettled(ctx.stack);
    expect(ctx.transactions() - before).toBe(1);
    expect(await ctx.resetsSeen()).toEqual(noResets);
  }, 30_000);

  it('pipelined: a GET the application closes (close=1), then another GET: only the first is answered, then EOF', async () => {
    const before = ctx.transactions();
    const r = await ctx.raw(get('/bytes/3000?seed=27&close=1', '1.1') + get('/bytes/4000?seed=28', '1.1'));
    expect(r.end).toBe('eof');
    expect(r.responses.map((x) => [x.length, x.sha256])).toEqual([[3000, deterministicSha256(3000, 27)]]);
    await handoffsSettled(ctx.stack);
    expect(ctx.transactions() - before).toBe(1);
    expect(await ctx.resetsSeen()).toEqual(noResets);
  }, 30_000);

  it('keep-alive still keeps: two requests on one connection are both answered, and the connection stays open', async () => {
    const r = await ctx.raw(get('/bytes/1000?seed=29', '1.1'), get('/bytes/2000?seed=30', '1.1'));
    // Nobody closes: the client gives up reading after 5 s of silence.
    expect(r.end).toBe('timeout');
    expect(r.responses.map((x) => [x.length, x.sha256])).toEqual([
      [1000, deterministicSha256(1000, 29)],
      [2000, deterministicSha256(2000, 30)],
    ]);
  }, 30_000);
});

suite('Connection: close on kept connections (speculative rule caching)', 'close-kept', ['policy: { name: content-hash, config: { key: path } }', 'speculation: { mode: always, keepMs: 1000 }'], (ctx) => {
  const spec = () => ({ ...ctx.stack.handoff.stats.speculation });

  it('the application closes a kept transaction: not kept, EOF within 1 s, the request written afterwards is never served', async () => {
    const before = { tx: ctx.transactions(), ...spec() };
    const r = await ctx.raw(get('/bytes/6000?seed=31&close=1', '1.1'), get('/bytes/6000?seed=32&close=1', '1.1'));
    expect(r.end).toBe('eof');
    expect(r.responses.map((x) => [x.length, x.sha256])).toEqual([[6000, deterministicSha256(6000, 31)]]);
    expect(r.eofAfterMs!).toBeLessThan(1000);
    await handoffsSettled(ctx.stack);
    expect(ctx.transactions() - before.tx).toBe(1);
    expect(spec().hits - before.hits).toBe(0);
    expect(spec().kept - before.kept).toBe(0);
    expect(await ctx.resetsSeen()).toEqual(noResets);
  }, 30_000);

  it('pipelined behind a response the application closes: the queued request is not served on the kept socket', async () => {
    const before = { tx: ctx.transactions(), ...spec() };
    const r = await ctx.raw(get('/bytes/6000?seed=33&close=1', '1.1') + get('/bytes/6000?seed=34', '1.1'));
    expect(r.end).toBe('eof');
    expect(r.responses.map((x) => [x.length, x.sha256])).toEqual([[6000, deterministicSha256(6000, 33)]]);
    await handoffsSettled(ctx.stack);
    expect(ctx.transactions() - before.tx).toBe(1);
    expect(spec().hits - before.hits).toBe(0);
    expect(await ctx.resetsSeen()).toEqual(noResets);
  }, 30_000);

  it('a Connection: close request served on the kept socket (a hit): answered, then EOF within 1 s', async () => {
    const before = { tx: ctx.transactions(), ...spec() };
    // The same path twice: content hashing sends both to one backend, so the second is a hit.
    const r = await ctx.raw(get('/bytes/5000?seed=35', '1.1'), get('/bytes/5000?seed=36', '1.1', { Connection: 'close' }));
    expect(r.end).toBe('eof');
    expect(r.responses.map((x) => [x.length, x.sha256])).toEqual([
      [5000, deterministicSha256(5000, 35)],
      [5000, deterministicSha256(5000, 36)],
    ]);
    expect(r.responses[1]!.headers.connection).toBe('close');
    expect(r.eofAfterMs!).toBeLessThan(1000);
    await handoffsSettled(ctx.stack);
    expect(ctx.transactions() - before.tx).toBe(2);
    expect(spec().hits - before.hits).toBe(1);
    expect(await ctx.resetsSeen()).toEqual(noResets);
  }, 30_000);
});
