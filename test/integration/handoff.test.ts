/**
 * Per-transaction hand-off end to end: a client and three backends (agents with TCP_REPAIR and the
 * object server) around the embedded switch and the controller. Real clients, bodies hash-checked,
 * every backend serving, no RST seen by the client, no hand-off entry left in the switch.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deterministicSha256 } from '../../agent/bytes.js';
import { parseTopology } from '../../stack/topology-file.js';
import { startStack, type RunningStack } from '../../stack/stack.js';
import { ebpfSkipReason, REPO } from '../helpers/ebpf.js';
import { tcpCounters } from '../helpers/stack.js';

const skip = ebpfSkipReason();
if (skip) console.warn(`[skip] hand-off tests: ${skip}`);

const TOPOLOGY = parseTopology(`
name: handoff-test
vips: [{ ip: 10.0.0.100, port: 80, mac: "02:00:00:00:00:fe" }]
hosts:
  - { name: client, ip: 10.0.0.1, port: 1, role: client }
  - { name: b1, ip: 10.0.0.11, port: 11, role: backend }
  - { name: b2, ip: 10.0.0.12, port: 12, role: backend }
  - { name: b3, ip: 10.0.0.13, port: 13, role: backend }
`);

describe.skipIf(skip)('hand-off: every transaction to a backend, payload straight to the client', () => {
  let stack: RunningStack;
  beforeAll(async () => {
    stack = await startStack(TOPOLOGY, { root: REPO });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
  });

  const client = () => stack.hosts.get('client')!.host;

  it('curl: sequential GETs on one keep-alive connection, hash-checked, served by all backends', async () => {
    const sizes = [0, 1, 1000, 65536, 300_000, 1_048_576, 100, 5000, 2_000_000];
    const script = `
      const http = require('http'); const crypto = require('crypto');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const ports = new Set();
      const get = (n, seed) => new Promise((res, rej) => http.get({ host: '10.0.0.100', path: '/bytes/' + n + '?seed=' + seed, agent }, (r) => {
        ports.add(r.socket.localPort); const h = crypto.createHash('sha256'); r.on('data', (c) => h.update(c));
        r.on('end', () => res({ status: r.statusCode, sha: h.digest('hex'), backend: r.headers['x-backend'] })); r.on('error', rej);
      }).on('error', rej));
      (async () => { const out = []; for (const [i, n] of ${JSON.stringify(sizes)}.entries()) out.push(await get(n, i + 1)); console.log(JSON.stringify({ out, sockets: ports.size })); agent.destroy(); })()
        .catch((e) => { console.error(e); process.exit(1); });`;
    const r = await client().exec([process.execPath, '-e', script], { timeoutMs: 60_000 });
    const { out, sockets } = JSON.parse(r.stdout) as { out: { status: number; sha: string; backend: string }[]; sockets: number };
    expect(sockets).toBe(1);
    expect(out.map((o) => o.status)).toEqual(sizes.map(() => 200));
    expect(out.map((o) => o.sha)).toEqual(sizes.map((n, i) => deterministicSha256(n, i + 1)));
    expect(new Set(out.map((o) => o.backend))).toEqual(new Set(['b1', 'b2', 'b3']));
  }, 90_000);

  it('the client saw no reset, and the switch holds no hand-off entry afterwards', async () => {
    const c = await tcpCounters(client());
    expect(c.TcpOutRsts ?? 0).toBe(0);
    expect(c.TcpExtTCPAbortOnData ?? 0).toBe(0);
    const dp = stack.sw.dataplane!;
    expect(dp.entryCount('handoff_in')).toBe(0);
    expect(dp.entryCount('handoff_out')).toBe(0);
    expect(stack.handoff.stats.outcomes.done).toBeGreaterThan(0);
  });

  it('curl: several URLs on one connection, hash-checked', async () => {
    const urls = [10, 70000, 1_500_000, 0, 333].flatMap((n, i) => ['-o', `/tmp/prism-curl-${process.pid}-${i}`, `http://10.0.0.100/bytes/${n}?seed=${i + 40}`]);
    const r = await client().exec(['curl', '-sS', '--fail', '--max-time', '30', '-w', '%{num_connects} ', ...urls], { timeoutMs: 40_000 });
    // One connection for all of them: every transfer after the first reuses it (num_connects 0).
    expect(r.stdout.trim().split(' ').map(Number).reduce((a, b) => a + b, 0)).toBe(1);
    const sums = await client().exec(['bash', '-c', `sha256sum /tmp/prism-curl-${process.pid}-* && rm -f /tmp/prism-curl-${process.pid}-*`]);
    const got = new Map(sums.stdout.trim().split('\n').map((l) => { const [h, f] = l.split(/\s+/); return [Number(f!.split('-').at(-1)), h!]; }));
    [10, 70000, 1_500_000, 0, 333].forEach((n, i) => expect(got.get(i)).toBe(deterministicSha256(n, i + 40)));
  }, 60_000);

  it("Python's http.client: sequential requests on one connection", async () => {
    const py = `
import http.client, hashlib
c = http.client.HTTPConnection('10.0.0.100', 80, timeout=20)
out = []
for i, n in enumerate((5, 123456, 1000000, 0, 4096, 777777)):
    c.request('GET', '/bytes/%d?seed=%d' % (n, i + 70))
    r = c.getresponse()
    out.append('%s:%s' % (hashlib.sha256(r.read()).hexdigest(), r.getheader('X-Backend')))
print(' '.join(out))`;
    const r = await client().exec(['python3', '-c', py], { timeoutMs: 40_000 });
    const parts = r.stdout.trim().split(' ').map((x) => x.split(':'));
    expect(parts.map((p) => p[0])).toEqual([5, 123456, 1000000, 0, 4096, 777777].map((n, i) => deterministicSha256(n, i + 70)));
  }, 60_000);

  it('PUT of 64 MiB, then GET of it back, byte-identical', async () => {
    const script = `
      const http = require('http'); const crypto = require('crypto');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const body = Buffer.alloc(64 * 1024 * 1024); for (let i = 0; i < body.length; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i);
      const sha = crypto.createHash('sha256').update(body).digest('hex');
      const put = () => new Promise((res, rej) => { const q = http.request({ host: '10.0.0.100', method: 'PUT', path: '/objects/big', agent, headers: { 'content-length': body.length } }, (r) => { r.resume(); r.on('end', () => res([r.statusCode, r.headers['x-content-sha256'], r.headers['x-backend']])); }); q.on('error', rej); q.end(body); });
      const get = (name) => new Promise((res, rej) => http.get({ host: '10.0.0.100', path: '/objects/' + name, agent }, (r) => { const h = crypto.createHash('sha256'); r.on('data', (c) => h.update(c)); r.on('end', () => res([r.statusCode, h.digest('hex'), r.headers['x-backend']])); }).on('error', rej));
      (async () => { const p = await put(); const gets = []; for (let i = 0; i < 3; i++) gets.push(await get('big')); console.log(JSON.stringify({ sha, p, gets })); agent.destroy(); })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = await client().exec([process.execPath, '-e', script], { timeoutMs: 120_000 });
    const { sha, p, gets } = JSON.parse(r.stdout) as { sha: string; p: [number, string, string]; gets: [number, string, string][] };
    expect(p[0]).toBe(201);
    expect(p[1]).toBe(sha);
    // The object lives on the backend that took the PUT; GETs that land there return it intact.
    const onOwner = gets.filter((g) => g[2] === p[2]);
    expect(onOwner.length).toBeGreaterThan(0);
    for (const g of onOwner) expect(g).toEqual([200, sha, p[2]]);
  }, 150_000);

  it('two pipelined requests in one segment: both answered, in order', async () => {
    const py = [
      'import socket, time',
      "s = socket.create_connection(('10.0.0.100', 80), timeout=20)",
      "s.sendall(b'GET /bytes/100?seed=1 HTTP/1.1\\r\\nHost: vip\\r\\n\\r\\nGET /bytes/200?seed=2 HTTP/1.1\\r\\nHost: vip\\r\\n\\r\\n')",
      "buf = b''",
      'end = time.time() + 15',
      "while time.time() < end and (buf.count(b'HTTP/1.1 200') < 2 or len(buf) - buf.rfind(b'\\r\\n\\r\\n') - 4 < 200):",
      '    d = s.recv(65536)',
      '    if not d: break',
      '    buf += d',
      "print(buf.count(b'HTTP/1.1 200'), buf.lower().find(b'content-length: 100') < buf.lower().find(b'content-length: 200'))",
    ].join('\n');
    const r = await client().exec(['python3', '-c', py], { timeoutMs: 40_000 });
    expect(r.stdout.trim()).toBe('2 True');
  }, 60_000);

  it('20 concurrent connections x 10 requests, hash-checked', async () => {
    const script = `
      const http = require('http'); const crypto = require('crypto');
      const one = (c) => new Promise(async (res, rej) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const out = [];
        try {
          for (let i = 0; i < 10; i++) {
            const n = ((c * 7919 + i * 104729) % 300000); const seed = c * 100 + i;
            out.push(await new Promise((ok, ko) => http.get({ host: '10.0.0.100', path: '/bytes/' + n + '?seed=' + seed, agent }, (r) => { const h = crypto.createHash('sha256'); r.on('data', (d) => h.update(d)); r.on('end', () => ok([n, seed, h.digest('hex'), r.headers['x-backend']])); }).on('error', ko)));
          }
          agent.destroy(); res(out);
        } catch (e) { rej(e); }
      });
      Promise.all(Array.from({ length: 20 }, (_, c) => one(c))).then((all) => console.log(JSON.stringify(all.flat())), (e) => { console.error(e); process.exit(1); });`;
    const r = await client().exec([process.execPath, '-e', script], { timeoutMs: 120_000 });
    const all = JSON.parse(r.stdout) as [number, number, string, string][];
    expect(all).toHaveLength(200);
    for (const [n, seed, sha] of all) expect(sha).toBe(deterministicSha256(n, seed));
    expect(new Set(all.map((x) => x[3]))).toEqual(new Set(['b1', 'b2', 'b3']));
  }, 150_000);

  it('curl fetches through the VIP, hash-checked', async () => {
    const r = await client().exec(['bash', '-c', 'curl -sS --fail --max-time 30 http://10.0.0.100/bytes/4194304?seed=9 | sha256sum'], { timeoutMs: 40_000 });
    expect(r.stdout.split(' ')[0]).toBe(deterministicSha256(4194304, 9));
    void createHash;
    void join;
  }, 60_000);
  it('a client that closes mid-response: everything is cleaned up', async () => {
    const script = [
      "const http = require('http');",
      "const q = http.get({ host: '10.0.0.100', path: '/bytes/500000000?seed=3' }, (r) => {",
      "  let n = 0; r.on('data', (c) => { n += c.length; if (n > 2000000) { q.destroy(); console.log('closed after', n, r.headers['x-backend']); } });",
      "});",
      "q.on('error', () => {});",
    ].join('\n');
    const r = await client().exec([process.execPath, '-e', script], { timeoutMs: 30_000 });
    expect(r.stdout).toMatch(/closed after \d+ b[123]/);
    await waitFor(() => stack.handoff.inFlight === 0, 15_000);
    expect(stack.sw.dataplane!.entryCount('handoff_in')).toBe(0);
    expect(stack.sw.dataplane!.entryCount('handoff_out')).toBe(0);
  }, 60_000);

  it('an agent killed mid-response: the client sees an error within the timeout, never a hang; no entry leaks; others keep serving', async () => {
    const script = [
      "const http = require('http'); const t0 = Date.now();",
      "const q = http.get({ host: '10.0.0.100', path: '/bytes/50000000?seed=4' }, (r) => {",
      "  console.log('BACKEND', r.headers['x-backend']);",
      // Read slowly at first, so the response is surely in flight when the agent dies.
      "  let n = 0; r.on('data', (c) => { n += c.length; }); r.pause(); setTimeout(() => r.resume(), 1500);",
      "  r.on('end', () => { console.log('END', n, Date.now() - t0); });",
      "  r.on('error', (e) => { console.log('ERROR', e.code, n, Date.now() - t0); });",
      "  r.on('close', () => { console.log('CLOSE', n, Date.now() - t0); process.exit(0); });",
      "});",
      "q.on('error', (e) => { console.log('REQERROR', e.code, Date.now() - t0); process.exit(0); });",
      "setTimeout(() => { console.log('HANG'); process.exit(0); }, 25000);",
    ].join('\n');
    const c = stack.hosts.get('client')!.host;
    const proc = c.spawn([process.execPath, '-e', script]);
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => /BACKEND (b\d)/.test(out), 10_000);
    const victim = /BACKEND (b\d)/.exec(out)![1]!;
    stack.agentProcesses.get(victim)!.kill('SIGKILL');
    await new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    expect(out).not.toMatch(/HANG/);
    expect(out).not.toMatch(/END 50000000/);
    await waitFor(() => stack.handoff.inFlight === 0, 15_000);
    expect(stack.sw.dataplane!.entryCount('handoff_in')).toBe(0);
    expect(stack.sw.dataplane!.entryCount('handoff_out')).toBe(0);
    // The remaining backends still serve.
    const r = await client().exec(['bash', '-c', 'curl -sS --fail --max-time 20 http://10.0.0.100/bytes/100000?seed=5 | sha256sum'], { timeoutMs: 30_000 });
    expect(r.stdout.split(' ')[0]).toBe(deterministicSha256(100000, 5));
  }, 90_000);
});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
