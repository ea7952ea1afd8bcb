/**
 * Speculative rule caching (Prism 3.3): a kept transaction's socket and rules serve the next
 * request when the policy picks the same backend again (Continue), and the connection comes back
 * intact when it does not (a miss), when the client goes quiet (idle), when a body is in flight,
 * and when the client closes. Content hashing on the path decides, so the test knows which
 * requests share a backend. Every body is hash-checked; no RST, no entry left (read back from the
 * switch over P4Runtime). The same cases run on every switch target (test/helpers/targets.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deterministicSha256 } from '../../agent/bytes.js';
import { startStack, type RunningStack } from '../../stack/stack.js';
import { REPO } from '../helpers/ebpf.js';
import { concurrentGets, handoffsSettled, tcpCounters, testTopology } from '../helpers/stack.js';
import { stackTargets, switchLine, type StackTarget } from '../helpers/targets.js';
import { waitFor } from '../helpers/wait.js';

/** The handoff_in and handoff_out entries on the stack's switch, read back over P4Runtime. */
const handoffEntries = async (stack: RunningStack): Promise<number> => (await stack.switch.entryCount('handoff_in')) + (await stack.switch.entryCount('handoff_out'));

for (const t of stackTargets('speculative caching tests')) suites(t);

function suites({ target, skip, slowdown }: StackTarget): void {
/** A case's time bound on this target. */
const ms = (n: number): number => n * slowdown;
const tag = target === 'embedded' ? 'e' : 'b';

describe.skipIf(skip)(`speculative rule caching on ${target}: the next request on the same socket and rules`, () => {
  let stack: RunningStack;
  beforeAll(async () => {
    stack = await startStack(testTopology(`bm-spec-${tag}`, 3, [switchLine(target), 'policy: { name: content-hash, config: { key: path } }', 'speculation: { mode: always, keepMs: 1000 }']), { root: REPO });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  const client = () => stack.hosts.get('client')!.host;
  const spec = () => ({ ...stack.handoff.stats.speculation });
  const entries = (): Promise<number> => handoffEntries(stack);

  it("Node's http: 100 GETs of one path on one connection, one backend, served by Continue", async () => {
    const before = spec();
    const script = `
      const http = require('http'); const crypto = require('crypto');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const ports = new Set();
      const get = (seed) => new Promise((res, rej) => http.get({ host: '10.0.0.100', path: '/bytes/30000?seed=' + seed, agent }, (r) => {
        ports.add(r.socket.localPort); const h = crypto.createHash('sha256'); r.on('data', (c) => h.update(c));
        r.on('end', () => res([r.statusCode, h.digest('hex'), r.headers['x-backend']])); r.on('error', rej);
      }).on('error', rej));
      (async () => { const out = []; for (let i = 1; i <= 100; i++) out.push(await get(i)); console.log(JSON.stringify({ out, sockets: ports.size })); agent.destroy(); })()
        .catch((e) => { console.error(e); process.exit(1); });`;
    const r = await client().exec([process.execPath, '-e', script], { timeoutMs: ms(60_000) });
    const { out, sockets } = JSON.parse(r.stdout) as { out: [number, string, string][]; sockets: number };
    expect(sockets).toBe(1);
    expect(out.map((o) => o[0])).toEqual(out.map(() => 200));
    expect(out.map((o) => o[1])).toEqual(out.map((_, i) => deterministicSha256(30000, i + 1)));
    expect(new Set(out.map((o) => o[2])).size).toBe(1);
    await handoffsSettled(stack);
    const after = spec();
    // Every request after the first goes to the kept socket (99 hits), unless the machine is so
    // slow that the client took longer than keepMs (1 s) between two requests.
    expect(after.hits - before.hits).toBeGreaterThanOrEqual(95);
    expect(await entries()).toBe(0);
  }, ms(90_000));

  it('curl: 150 GETs over several paths on one connection: hits and misses, all hash-checked', async () => {
    const before = spec();
    const sizes = [0, 1, 1000, 65536, 300000, 2_000_000];
    const urls = Array.from({ length: 150 }, (_, i) => ({ n: sizes[(i * 7 + (i >> 2)) % sizes.length]!, seed: 5000 + i }));
    const dir = `/tmp/prism-spec-${process.pid}`;
    await client().exec(['mkdir', '-p', dir]);
    try {
      const args = urls.flatMap((u, i) => ['-o', `${dir}/${i}`, '-w', '%{num_connects} %header{x-backend}\\n', `http://10.0.0.100/bytes/${u.n}?seed=${u.seed}`]);
      const r = await client().exec(['curl', '-sS', '--fail', '--max-time', String(ms(120)), ...args], { timeoutMs: ms(150_000) });
      const lines = r.stdout.trim().split('\n').map((l) => l.split(' '));
      expect(lines.reduce((n, l) => n + Number(l[0]), 0)).toBe(1);
      const sums = await client().exec(['bash', '-c', `cd ${dir} && sha256sum *`], { timeoutMs: ms(60_000) });
      const got = new Map(sums.stdout.trim().split('\n').map((l) => { const [h, f] = l.split(/\s+/); return [Number(f), h!]; }));
      urls.forEach((u, i) => expect(got.get(i)).toBe(deterministicSha256(u.n, u.seed)));
      // The same path always reaches the same backend.
      const byPath = new Map<number, Set<string>>();
      urls.forEach((u, i) => byPath.set(u.n, (byPath.get(u.n) ?? new Set()).add(lines[i]![1]!)));
      for (const s of byPath.values()) expect(s.size).toBe(1);
    } finally {
      await client().exec(['rm', '-rf', dir]);
    }
    await handoffsSettled(stack);
    const after = spec();
    expect(after.hits - before.hits).toBeGreaterThan(0);
    expect(after.misses - before.misses).toBeGreaterThan(0);
    expect(await entries()).toBe(0);
  }, ms(180_000));

  it("Python's http.client: PUTs and GETs of objects on two paths, bodies in flight on hits and misses, byte-identical", async () => {
    const py = [
      'import http.client, hashlib, json, os',
      "c = http.client.HTTPConnection('10.0.0.100', 80, timeout=30)",
      'out = []',
      'for i in range(12):',
      "    name = 'spec-a' if i % 3 else 'spec-b'",
      '    body = os.urandom(200000 + i * 50000)',
      "    c.request('PUT', '/objects/' + name, body=body)",
      '    r = c.getresponse(); r.read(); st = r.status',
      "    c.request('GET', '/objects/' + name)",
      '    r = c.getresponse(); got = r.read()',
      "    out.append([st, r.status, hashlib.sha256(body).hexdigest() == hashlib.sha256(got).hexdigest(), r.getheader('x-backend')])",
      'print(json.dumps(out))',
    ].join('\n');
    const r = await client().exec(['python3', '-c', py], { timeoutMs: ms(120_000) });
    const out = JSON.parse(r.stdout) as [number, number, boolean, string][];
    expect(out).toHaveLength(12);
    for (const [put, get, same] of out) {
      expect([200, 201, 204]).toContain(put);
      expect(get).toBe(200);
      expect(same).toBe(true);
    }
    await handoffsSettled(stack);
    expect(await entries()).toBe(0);
  }, ms(150_000));

  it('a client quiet for longer than keepMs: the connection comes back (idle), the next request still works', async () => {
    const before = spec();
    const script = `
      const http = require('http'); const crypto = require('crypto');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = (seed) => new Promise((res, rej) => http.get({ host: '10.0.0.100', path: '/bytes/7000?seed=' + seed, agent }, (r) => {
        const h = crypto.createHash('sha256'); r.on('data', (c) => h.update(c)); r.on('end', () => res(h.digest('hex')));
      }).on('error', rej));
      (async () => { const a = await get(1); const b = await get(2); console.log('WAITING'); await new Promise((r) => setTimeout(r, 3000)); const c = await get(3); console.log(JSON.stringify([a, b, c])); agent.destroy(); })()
        .catch((e) => { console.error(e); process.exit(1); });`;
    const proc = client().spawn([process.execPath, '-e', script]);
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('WAITING'), 'the first two responses', 20_000, 5);
    // While the client waits (3 s), the kept connection is handed back after keepMs (1 s): the
    // idle report comes, and then no rule stays installed.
    await waitFor(async () => spec().idle > before.idle && (await entries()) === 0, 'the idle hand-back with no rule left', 2500, 5);
    await new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    expect(JSON.parse(out.slice(out.indexOf('\n') + 1))).toEqual([1, 2, 3].map((s) => deterministicSha256(7000, s)));
    await handoffsSettled(stack);
    expect(spec().idle - before.idle).toBeGreaterThan(0);
  }, ms(60_000));

  it('two pipelined requests in one segment on a kept connection: both answered, in order', async () => {
    const py = [
      'import socket, time',
      "s = socket.create_connection(('10.0.0.100', 80), timeout=10)",
      // A response is complete when the head after `start` and its 100 body bytes are in.
      'def complete(b, nth):',
      '    j = -1',
      '    for _ in range(nth): j = b.find(b"HTTP/1.1 200", j + 1)',
      '    k = b.find(b"\\r\\n\\r\\n", j) if j >= 0 else -1',
      '    return k >= 0 and len(b) >= k + 4 + 100',
      'def read_until(nth):',
      '    b = b""',
      '    while not complete(b, nth): b += s.recv(65536)',
      '    return b',
      's.sendall(b"GET /bytes/100?seed=1 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")',
      'first = read_until(1)',
      's.sendall(b"GET /bytes/100?seed=2 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /bytes/100?seed=3 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")',
      'rest = read_until(2)',
      'print(first.count(b"HTTP/1.1 200") + rest.count(b"HTTP/1.1 200"), len(rest))',
    ].join('\n');
    const r = await client().exec(['python3', '-c', py], { timeoutMs: ms(30_000) });
    expect(r.stdout.trim().split(' ')[0]).toBe('3');
    await handoffsSettled(stack);
    expect(await entries()).toBe(0);
  }, ms(60_000));

  it('a client that closes while its connection is kept: closed cleanly, nothing left', async () => {
    const r = await client().exec(['bash', '-c', 'curl -sS --fail http://10.0.0.100/bytes/5000?seed=1 http://10.0.0.100/bytes/5000?seed=2 | sha256sum'], { timeoutMs: ms(30_000) });
    expect(r.stdout.split(' ')[0]).toMatch(/^[0-9a-f]{64}$/);
    await handoffsSettled(stack);
    // The client's FIN, cleared by the rule while kept, is retransmitted to the controller after the hand-back.
    const t0 = Date.now();
    while (stack.controller.endpoint.connectionCount > 0 && Date.now() - t0 < 10_000) await new Promise((res) => setTimeout(res, 50));
    expect(stack.controller.endpoint.connectionCount).toBe(0);
    expect(await entries()).toBe(0);
  }, ms(60_000));

  it('a forced next transaction while the connection is kept: the forced backend serves it (a miss), the others stay cached', async () => {
    const script = `
      const http = require('http');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = (seed) => new Promise((res, rej) => http.get({ host: '10.0.0.100', path: '/bytes/2000?seed=' + seed, agent }, (r) => {
        const port = r.socket.localPort; r.resume(); r.on('end', () => res([r.headers['x-backend'], port]));
      }).on('error', rej));
      const rl = require('readline').createInterface({ input: process.stdin });
      (async () => {
        const [first, port] = await get(1); console.log(JSON.stringify({ port, first }));
        await new Promise((r) => rl.once('line', r));
        const out = []; for (let i = 2; i <= 4; i++) out.push((await get(i))[0]); console.log(JSON.stringify(out)); agent.destroy(); rl.close();
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const proc = client().spawn([process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('\n'), 'the first response', 20_000, 5);
    const { port, first } = JSON.parse(out.split('\n')[0]!) as { port: number; first: string };
    const other = ['b1', 'b2', 'b3'].find((b) => b !== first)!;
    stack.handoff.engine!.forceNext(`10.0.0.1:${port}-10.0.0.100:80`, other);
    proc.stdin!.write('go\n');
    await new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const rest = JSON.parse(out.trim().split('\n')[1]!) as string[];
    expect(rest[0]).toBe(other);
    expect(rest.slice(1)).toEqual([first, first]);
    await handoffsSettled(stack);
    expect(await entries()).toBe(0);
  }, ms(60_000));

  it('the client saw no reset', async () => {
    const c = await tcpCounters(client());
    expect(c.TcpOutRsts ?? 0).toBe(0);
    expect(c.TcpExtTCPAbortOnData ?? 0).toBe(0);
  });

  // Last: it kills an agent.
  it("an agent killed while a connection is kept: the client's next request fails fast or is answered, never hangs; nothing leaks; others serve", async () => {
    const script = [
      "const http = require('http'); const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });",
      "const get = (seed) => new Promise((res) => { const t0 = Date.now(); http.get({ host: '10.0.0.100', path: '/bytes/3000?seed=' + seed, agent, timeout: 15000 }, (r) => {",
      "  let n = 0; r.on('data', (c) => (n += c.length)); r.on('end', () => res(['END', r.statusCode, n, r.headers['x-backend'], Date.now() - t0])); r.on('error', (e) => res(['ERROR', e.code, Date.now() - t0]));",
      "}).on('error', (e) => res(['REQERROR', e.code, Date.now() - t0])).on('timeout', function () { this.destroy(new Error('HANG')); }); });",
      "(async () => { console.log(JSON.stringify(await get(1))); console.log(JSON.stringify(await get(2)));",
      "  await new Promise((r) => setTimeout(r, 300)); console.log(JSON.stringify(await get(3))); agent.destroy(); })();",
    ].join('\n');
    const proc = client().spawn([process.execPath, '-e', script]);
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const t0 = Date.now();
    while (out.split('\n').filter(Boolean).length < 2 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
    const [first, second] = out.trim().split('\n').map((l) => JSON.parse(l) as unknown[]);
    expect(first![0]).toBe('END');
    expect(second![0]).toBe('END');
    // The second transaction is kept (mode always, keepMs 1000) while the client waits 300 ms.
    stack.agentProcesses.get(String(second![3]))!.kill('SIGKILL');
    await new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const third = JSON.parse(out.trim().split('\n')[2]!) as unknown[];
    expect(third).not.toContain('HANG');
    // Served by a live backend (the policy does not pick a backend that is down), or answered by
    // the controller; either way not by the dead one.
    if (third[0] === 'END' && third[1] === 200) expect(third[3]).not.toBe(second![3]);
    await handoffsSettled(stack);
    expect(await entries()).toBe(0);
    const r = await client().exec(['bash', '-c', 'for i in 1 2 3 4 5 6; do curl -sS --max-time 10 -o /dev/null -w "%{http_code}\\n" http://10.0.0.100/bytes/1000?seed=$i; done'], { timeoutMs: ms(90_000) });
    // Paths that hash to a live backend are served; the dead one's are answered, not hung.
    expect(r.stdout.trim().split('\n')).toHaveLength(6);
  }, ms(90_000));
});

describe.skipIf(skip)(`speculative rule caching under concurrency on ${target}`, () => {
  // Round robin with every transaction kept: nearly every next request is a miss (hand-back with an
  // open window); content hashing in the same run afterwards: nearly every one a hit.
  let stack: RunningStack;
  beforeAll(async () => {
    stack = await startStack(testTopology(`bm-specc-${tag}`, 3, [switchLine(target), 'speculation: { mode: always, keepMs: 500 }']), { root: REPO });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
  });

  const plan = Array.from({ length: 16 }, (_, c) => Array.from({ length: 30 }, (_, i) => [(c * 7919 + i * 104729) % 200000, 7000 + c * 100 + i] as const));
  const check = async (): Promise<void> => {
    const all = await concurrentGets(stack.hosts.get('client')!.host, plan, ms(240_000));
    expect(all).toHaveLength(16 * 30);
    for (const [n, seed, sha] of all) expect(sha).toBe(deterministicSha256(n, seed));
    await handoffsSettled(stack);
    expect(await handoffEntries(stack)).toBe(0);
  };

  it('16 connections x 30 requests, round robin: kept transactions miss and hand back, all hash-checked', async () => {
    const before = { ...stack.handoff.stats.speculation };
    await check();
    // Round robin over 3 backends (one counter for all connections): about two in three are misses.
    expect(stack.handoff.stats.speculation.misses - before.misses).toBeGreaterThan(200);
  }, ms(180_000));

  it('the same with content hashing (policy swapped at run time): a request whose path maps to the previous backend is a hit', async () => {
    const engine = stack.handoff.engine!;
    const ch = await engine.install({ builtin: 'content-hash', config: { key: 'path' } });
    engine.activate(ch.id);
    const before = { ...stack.handoff.stats.speculation };
    await check();
    // Each connection's paths differ, so hits need two requests in a row on one backend: about a third.
    expect(stack.handoff.stats.speculation.hits - before.hits).toBeGreaterThan(50);
  }, ms(180_000));

  it('no client reset', async () => {
    const c = await tcpCounters(stack.hosts.get('client')!.host);
    expect(c.TcpOutRsts ?? 0).toBe(0);
    expect(c.TcpExtTCPAbortOnData ?? 0).toBe(0);
  });
});
}
