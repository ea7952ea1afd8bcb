/**
 * The admin API over the real system: backends and their load, drain (no new transaction on the
 * drained backend, others keep serving), a policy swap under load with no failed request,
 * content hashing (same path, same backend), switch tables read back, Prometheus metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type RunningStack } from '../../stack/stack.js';
import { ebpfSkipReason, REPO } from '../helpers/ebpf.js';
import { testTopology } from '../helpers/stack.js';

const skip = ebpfSkipReason();
if (skip) console.warn(`[skip] admin end-to-end tests: ${skip}`);

const TOPOLOGY = testTopology('admin-e2e', 3);

describe.skipIf(skip)('admin API on the running system', () => {
  let stack: RunningStack;
  beforeAll(async () => {
    stack = await startStack(TOPOLOGY, { root: REPO });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
  });

  const api = async (method: string, path: string, body?: unknown, token: string | null = stack.admin.token): Promise<{ status: number; json: any; text: string }> => {
    const r = await fetch(`${stack.adminUrl}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON (metrics)
    }
    return { status: r.status, json, text };
  };

  /** n GETs (each on its own connection) of the given paths; returns the X-Backend of each. */
  const fetchBackends = async (paths: string[]): Promise<string[]> => {
    const script = `
      const http = require('http'); const crypto = require('crypto');
      const paths = ${JSON.stringify(paths)};
      (async () => { const out = []; for (const p of paths) out.push(await new Promise((ok, ko) => http.get({ host: '10.0.0.100', path: p, agent: false }, (r) => {
        const h = crypto.createHash('sha256'); r.on('data', (c) => h.update(c)); r.on('end', () => ok([r.headers['x-backend'], h.digest('hex'), r.headers['x-content-sha256']])); }).on('error', ko)));
        console.log(JSON.stringify(out)); })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = await stack.hosts.get('client')!.host.exec([process.execPath, '-e', script], { timeoutMs: 60_000 });
    const out = JSON.parse(r.stdout) as [string, string, string][];
    for (const [, got, want] of out) expect(got).toBe(want);
    return out.map((x) => x[0]);
  };

  it('lists the backends, up, with their load', async () => {
    const r = await api('GET', '/backends');
    expect(r.status).toBe(200);
    expect((r.json as { name: string; up: boolean }[]).map((b) => [b.name, b.up])).toEqual([
      ['b1', true],
      ['b2', true],
      ['b3', true],
    ]);
  });

  it('refuses a mutating call without the token (401, problem+json)', async () => {
    const r = await api('POST', '/backends/b1/drain', undefined, null);
    expect(r.status).toBe(401);
    expect(r.json.status).toBe(401);
  });

  it('drain: no new transaction goes to the drained backend; the others keep serving', async () => {
    expect((await api('POST', '/backends/b1/drain')).status).toBe(200);
    const served = await fetchBackends(Array.from({ length: 12 }, (_, i) => `/bytes/${1000 + i}?seed=${i}`));
    expect(served).not.toContain('b1');
    expect(new Set(served)).toEqual(new Set(['b2', 'b3']));
    expect((await api('POST', '/backends/b1/resume')).status).toBe(200);
  }, 60_000);

  it('content hashing: the same path always reaches the same backend; swapping policies drops no request', async () => {
    const inst = await api('POST', '/policies', { builtin: 'content-hash', config: { key: 'path' }, activate: true });
    expect(inst.status).toBe(201);
    const paths = ['/bytes/2000?seed=1', '/bytes/3000?seed=2', '/bytes/4000?seed=3'];
    const first = await fetchBackends([...paths, ...paths, ...paths]);
    for (let i = 0; i < 3; i++) expect(new Set([first[i], first[i + 3], first[i + 6]]).size).toBe(1);
    // Swap back to round robin while a load runs: nothing fails.
    const load = fetchBackends(Array.from({ length: 30 }, (_, i) => `/bytes/${500 + i}?seed=${i}`));
    const rr = (await api('GET', '/policies')).json as { policies: { id: string; builtin?: string }[] };
    const roundRobin = rr.policies.find((p) => p.builtin === 'round-robin' || p.id.includes('round'))!;
    expect((await api('POST', `/policies/${roundRobin.id}/activate`)).status).toBe(200);
    expect((await load).length).toBe(30);
  }, 90_000);

  it('reads the switch tables back and serves Prometheus metrics', async () => {
    const t = await api('GET', '/tables?table=vip');
    expect(t.status).toBe(200);
    expect(t.json[0].match['hdr.ipv4.dst_addr']).toBe('10.0.0.100');
    const m = await api('GET', '/metrics', undefined, null);
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/prism_handoffs_total\{[^}]*backend="b2"/);
    expect(m.text).toMatch(/prism_speculation_total\{result="hit"\}/);
  });

  it("a live connection: its transactions, request and response bytes, and each transaction's backend", async () => {
    // A PUT of 100000 bytes, then 3 GETs of 5000, 6000 and 7000 bytes on one connection, held open.
    const py = [
      'import http.client, sys, time',
      "c = http.client.HTTPConnection('10.0.0.100', 80, timeout=10)",
      "c.request('PUT', '/objects/admin-bytes', body=b'x' * 100000); c.getresponse().read()",
      "for n in (5000, 6000, 7000): c.request('GET', '/bytes/%d' % n); c.getresponse().read()",
      "print(c.sock.getsockname()[1]); sys.stdout.flush(); time.sleep(4)",
    ].join('\n');
    const proc = stack.hosts.get('client')!.host.spawn(['python3', '-c', py]);
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const t0 = Date.now();
      while (!out.includes('\n') && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 20));
      const port = Number(out.trim());
      type Conn = { client: string; id: string; owner: string; transactions: number; bytesIn: number; bytesOut: number };
      // The client has the last response before the controller has the connection back.
      let conn: Conn | undefined;
      for (let i = 0; i < 100; i++) {
        const list = await api('GET', '/connections');
        expect(list.status).toBe(200);
        conn = (list.json as Conn[]).find((c) => c.client === `10.0.0.1:${port}`);
        if (conn?.owner === 'controller' && conn.transactions === 4) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(conn).toBeDefined();
      expect(conn!.transactions).toBe(4);
      expect(conn!.bytesIn).toBeGreaterThanOrEqual(100000);
      expect(conn!.bytesOut).toBeGreaterThanOrEqual(5000 + 6000 + 7000);
      const one = await api('GET', `/connections/${encodeURIComponent(conn!.id)}`);
      expect(one.status).toBe(200);
      const txs = one.json.transactionList;
      expect(Array.isArray(txs) ? txs.map((t: { method: string }) => t.method) : []).toEqual(['GET', 'GET', 'GET', 'PUT']);
    } finally {
      proc.kill('SIGTERM');
    }
  });
});
