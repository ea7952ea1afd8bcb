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

  it('curl fetches through the VIP, hash-checked', async () => {
    const r = await client().exec(['bash', '-c', 'curl -sS --fail --max-time 30 http://10.0.0.100/bytes/4194304?seed=9 | sha256sum'], { timeoutMs: 40_000 });
    expect(r.stdout.split(' ')[0]).toBe(deterministicSha256(4194304, 9));
    void createHash;
    void join;
  }, 60_000);
});
