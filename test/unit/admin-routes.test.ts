import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewBackend } from '../../controller/admin/admin-target.js';
import { MemoryAdminTarget } from '../../controller/admin/testing/memory-target.js';
import { createAdminApi, type AdminApi } from '../../controller/admin/server.js';

const TOKEN = 'test-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const BACKENDS: NewBackend[] = ['b1', 'b2', 'b3'].map((name, i) => ({ name, ip: `10.0.1.${i + 1}`, mac: `02:00:00:00:01:0${i + 1}`, port: i + 2, agentAddress: `10.0.1.${i + 1}:7070` }));
const dir = mkdtempSync(join(tmpdir(), 'prism-admin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let target: MemoryAdminTarget;
let api: AdminApi;
let conn: string;

beforeEach(async () => {
  target = new MemoryAdminTarget({ backends: BACKENDS });
  api = await createAdminApi({ target, token: TOKEN });
  conn = target.openConnection('10.0.0.1:40000');
});
afterEach(async () => {
  await api.app.close();
});

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
const call = (method: Method, url: string, payload?: unknown, headers: Record<string, string> = AUTH): Promise<LightMyRequestResponse> =>
  api.app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });
const json = (r: LightMyRequestResponse): any => JSON.parse(r.body);

/** Asserts an RFC 9457 problem response. */
function expectProblem(r: LightMyRequestResponse, status: number, detail?: RegExp): any {
  expect(r.statusCode, r.body).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
  const p = json(r);
  expect(p).toMatchObject({ status, type: expect.stringMatching(/^urn:prism:problem:/), title: expect.any(String) });
  if (detail) expect(p.detail).toMatch(detail);
  return p;
}

/** Every mutating route, with a valid body. */
const MUTATIONS: [Method, string, unknown][] = [
  ['POST', '/backends', { name: 'b9', ip: '10.0.1.9', mac: '02:00:00:00:01:09', port: 9, agentAddress: '10.0.1.9:7070' }],
  ['POST', '/backends/b1/drain', undefined],
  ['POST', '/backends/b1/resume', undefined],
  ['PUT', '/backends/b1/weight', { weight: 2 }],
  ['DELETE', '/backends/b3', undefined],
  ['POST', '/connections/CONN/force', { backend: 'b2' }],
  ['POST', '/policies', { builtin: 'round-robin' }],
  ['POST', '/policies/default/activate', undefined],
  ['DELETE', '/policies/default', undefined],
  ['POST', '/buckets/moves', { moves: [{ bucket: 0, to: 'b1' }] }],
  ['POST', '/buckets/rebalance', {}],
];

describe('auth', () => {
  it('every mutating route answers 401 without a token or with a wrong one, and changes nothing', async () => {
    for (const [m, url, body] of MUTATIONS) {
      const u = url.replace('CONN', conn);
      const none = await call(m, u, body, {});
      expectProblem(none, 401, /needs an Authorization: Bearer token/);
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
      expectProblem(await call(m, u, body, { authorization: 'Bearer wrong-token-wrong-token' }), 401, /not valid/);
      expectProblem(await call(m, u, body, { authorization: `Basic ${TOKEN}` }), 401);
    }
    expect(target.listBackends().map((b) => b.name)).toEqual(['b1', 'b2', 'b3']);
    expect(target.listBackends().every((b) => !b.draining && b.weight === 1)).toBe(true);
  });

  it('a missing token wins over a bad body (auth runs first)', async () => {
    expectProblem(await call('POST', '/backends', { nonsense: true }, {}), 401);
  });

  it('reads are open by default, and protected with protectReads', async () => {
    expect((await call('GET', '/backends', undefined, {})).statusCode).toBe(200);
    const closed = await createAdminApi({ target, token: TOKEN, protectReads: true });
    try {
      expectProblem(await closed.app.inject({ method: 'GET', url: '/backends' }), 401);
      expect((await closed.app.inject({ method: 'GET', url: '/backends', headers: AUTH })).statusCode).toBe(200);
      expect((await closed.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    } finally {
      await closed.app.close();
    }
  });

  it('generates a token when none is configured', async () => {
    const gen = await createAdminApi({ target });
    try {
      expect(gen.generatedToken).toBe(true);
      expect(gen.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const r = await gen.app.inject({ method: 'POST', url: '/backends/b1/drain', headers: { authorization: `Bearer ${gen.token}` } });
      expect(r.statusCode).toBe(200);
    } finally {
      await gen.app.close();
    }
  });

  it('never logs the token', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const logged = await createAdminApi({ target, token: TOKEN, logger: { level: 'trace', stream } });
    try {
      await logged.app.inject({ method: 'POST', url: '/backends/b1/drain', headers: AUTH });
      await logged.app.inject({ method: 'POST', url: '/backends/b1/drain', headers: { authorization: 'Bearer wrong-token-wrong-token' } });
      await logged.app.inject({ method: 'POST', url: '/backends', headers: AUTH, payload: { ...BACKENDS[0], name: 'bx', ip: '10.0.1.77', token: 'agent-secret-0123456789' } });
    } finally {
      await logged.app.close();
    }
    const all = lines.join('');
    expect(all).toContain('[redacted]');
    expect(all).toContain('/backends/b1/drain');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain('wrong-token-wrong-token');
    expect(all).not.toContain('agent-secret');
  });
});

describe('errors are problem+json everywhere', () => {
  it('unknown routes', async () => {
    expectProblem(await call('GET', '/nope'), 404, /no route GET \/nope/);
    expectProblem(await call('POST', '/backends/b1/explode'), 404);
  });

  it('schema errors list what is wrong', async () => {
    const p = expectProblem(await call('POST', '/backends', { name: 'b9', ip: 'not-an-ip', mac: 'zz', port: 9999, agentAddress: 'x', extra: 1 }), 400);
    const paths = p.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['body/ip', 'body/mac', 'body/port', 'body/agentAddress', 'body']));
    expectProblem(await call('PUT', '/backends/b1/weight', { weight: -1 }), 400, /weight must be >= 0/);
    expectProblem(await call('PUT', '/backends/b1/weight', {}), 400, /required property 'weight'/);
    expectProblem(await call('GET', '/handoffs?limit=0'), 400, /limit must be >= 1/);
    expectProblem(await call('GET', '/backends/bad%20name'), 400, /params\/name must match pattern/);
  });

  it('malformed JSON and a wrong content type', async () => {
    const bad = await api.app.inject({ method: 'PUT', url: '/backends/b1/weight', headers: { ...AUTH, 'content-type': 'application/json' }, payload: '{"weight":' });
    expectProblem(bad, 400);
    const text = await api.app.inject({ method: 'PUT', url: '/backends/b1/weight', headers: { ...AUTH, 'content-type': 'text/plain' }, payload: 'weight=3' });
    expectProblem(text, 415);
  });
});

describe('backends', () => {
  it('lists and shows backends', async () => {
    const r = await call('GET', '/backends');
    expect(r.statusCode).toBe(200);
    expect(json(r).map((b: { name: string }) => b.name)).toEqual(['b1', 'b2', 'b3']);
    expect(json(await call('GET', '/backends/b2'))).toMatchObject({ name: 'b2', ip: '10.0.1.2', up: true, draining: false, weight: 1, load: { activeTransactions: 0 } });
    expectProblem(await call('GET', '/backends/zz'), 404, /no backend named zz/);
  });

  it('adds a backend (201, Location), never returns its token, refuses a duplicate (409)', async () => {
    const body = { name: 'b4', ip: '10.0.1.4', mac: '02:00:00:00:01:04', port: 5, agentAddress: 'backend4:7070', token: 'agent-secret-0123456789', weight: 3 };
    const r = await call('POST', '/backends', body);
    expect(r.statusCode).toBe(201);
    expect(r.headers.location).toBe('/backends/b4');
    expect(json(r)).toMatchObject({ name: 'b4', weight: 3 });
    expect(r.body).not.toContain('agent-secret');
    expectProblem(await call('POST', '/backends', body), 409, /exists/);
    expect(target.listBackends()).toHaveLength(4);
  });

  it('sets the weight', async () => {
    expect(json(await call('PUT', '/backends/b2/weight', { weight: 5 }))).toMatchObject({ name: 'b2', weight: 5 });
    expectProblem(await call('PUT', '/backends/zz/weight', { weight: 5 }), 404);
    expectProblem(await call('PUT', '/backends/b2/weight', { weight: 1001 }), 400);
  });

  it('drain: in-flight transactions finish, no new one starts on the drained backend', async () => {
    // One transaction in flight on each backend.
    const conns = [conn, target.openConnection('10.0.0.2:40000'), target.openConnection('10.0.0.3:40000')];
    const inflight = conns.map((c) => target.startTransaction(c, { method: 'GET', target: '/x' }));
    const onB1 = inflight.find((t) => 'backend' in t && t.backend === 'b1');
    expect(onB1 && 'id' in onB1).toBe(true);

    const r = await call('POST', '/backends/b1/drain');
    expect(json(r)).toMatchObject({ name: 'b1', draining: true, activeTransactions: 1 });
    expectProblem(await call('DELETE', '/backends/b1'), 409, /in flight/);

    // The in-flight one finishes normally.
    const ev = target.finishTransaction((onB1 as { id: string }).id);
    expect(ev).toMatchObject({ backend: 'b1', outcome: 'done' });
    // New transactions never land on b1, under every policy.
    for (const p of ['default', 'll', 'ch']) {
      if (p !== 'default') await call('POST', '/policies', { id: p, builtin: p === 'll' ? 'least-loaded' : 'content-hash', config: p === 'ch' ? { backends: ['b1', 'b2', 'b3'] } : {}, activate: true });
      else await call('POST', '/policies/default/activate');
      for (let i = 0; i < 60; i++) {
        const c = target.openConnection(`10.0.${p.length}.${i + 10}:5000`);
        const t = target.startTransaction(c, { method: 'GET', target: `/k/${i}` });
        expect('backend' in t && t.backend, JSON.stringify(t)).not.toBe('b1');
        if ('id' in t) target.finishTransaction(t.id);
        target.closeConnection(c);
      }
    }
    expect(json(await call('GET', '/backends/b1'))).toMatchObject({ activeTransactions: 0, served: 1, draining: true });
    // Idle and drained: it can go. Resume puts a backend back in rotation.
    expect(json(await call('POST', '/backends/b2/resume'))).toMatchObject({ draining: false });
    expectProblem(await call('POST', '/backends/zz/drain'), 404);
    expectProblem(await call('POST', '/backends/zz/resume'), 404);
    const del = await call('DELETE', '/backends/b1');
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    expectProblem(await call('DELETE', '/backends/b1'), 404);
  });
});

describe('connections', () => {
  it('lists connections with state, owner and bytes; filters', async () => {
    const c2 = target.openConnection('10.0.0.2:40001');
    target.startTransaction(c2, { method: 'GET', target: '/big' });
    const all = json(await call('GET', '/connections'));
    expect(all).toHaveLength(2);
    const two = all.find((c: { id: string }) => c.id === c2);
    expect(two).toMatchObject({ client: '10.0.0.2:40001', vip: '10.0.0.100:80', state: 'ESTABLISHED', transactions: 1 });
    expect(two.owner).toMatch(/^b[123]$/);
    expect(two.bytesIn).toBeGreaterThan(0);
    expect(json(await call('GET', '/connections?owner=controller')).map((c: { id: string }) => c.id)).toEqual([conn]);
    expect(json(await call('GET', '/connections?state=CLOSE_WAIT'))).toEqual([]);
    expectProblem(await call('GET', '/connections?colour=red'), 400);
  });

  it('shows one connection with its transactions', async () => {
    const t = target.startTransaction(conn, { method: 'GET', target: '/one' });
    target.finishTransaction((t as { id: string }).id, 'done', 4096);
    target.startTransaction(conn, { method: 'POST', target: '/two' });
    const r = json(await call('GET', `/connections/${conn}`));
    expect(r.transactionList.map((x: { target: string; state: string }) => [x.target, x.state])).toEqual([
      ['/two', 'transfer'],
      ['/one', 'done'],
    ]);
    expect(r.bytesOut).toBe(4096);
    expectProblem(await call('GET', '/connections/10.9.9.9:1-10.0.0.100:80'), 404);
    expectProblem(await call('GET', '/connections/bad%20id'), 400);
  });

  it('forces the next transaction of a connection to a backend', async () => {
    for (const b of ['b3', 'b1', 'b3']) {
      const r = await call('POST', `/connections/${conn}/force`, { backend: b });
      expect(r.statusCode).toBe(202);
      expect(json(r)).toEqual({ connId: conn, backend: b });
      expect(json(await call('GET', `/connections/${conn}`)).forcedNext).toBe(b);
      const t = target.startTransaction(conn, { method: 'GET', target: '/f' });
      expect(t).toMatchObject({ backend: b, decidedBy: 'forced' });
      target.finishTransaction((t as { id: string }).id);
    }
    expectProblem(await call('POST', '/connections/10.9.9.9:1-10.0.0.100:80/force', { backend: 'b1' }), 404, /no connection/);
    expectProblem(await call('POST', `/connections/${conn}/force`, { backend: 'zz' }), 404, /no backend/);
    expectProblem(await call('POST', `/connections/${conn}/force`, {}), 400);
    await call('POST', '/backends/b2/drain');
    expectProblem(await call('POST', `/connections/${conn}/force`, { backend: 'b2' }), 409, /draining/);
  });

  it('lists recent hand-offs', async () => {
    for (let i = 0; i < 3; i++) target.finishTransaction((target.startTransaction(conn, { method: 'GET', target: `/${i}` }) as { id: string }).id, i === 1 ? 'timeout' : 'done');
    const r = json(await call('GET', '/handoffs?limit=2'));
    expect(r.map((h: { tx: string; outcome: string }) => [h.tx, h.outcome])).toEqual([
      ['3', 'done'],
      ['2', 'timeout'],
    ]);
  });
});

describe('policies', () => {
  it('lists the active policy, installed ones, built-ins and stats', async () => {
    const r = json(await call('GET', '/policies'));
    expect(r.active).toBe('default');
    expect(r.policies).toHaveLength(1);
    expect(r.builtins.map((b: { name: string }) => b.name)).toContain('content-hash');
    expect(r.stats.faults).toMatchObject({ threw: 0, timeout: 0 });
  });

  it('installs a built-in, activates it, shows it, removes the inactive one', async () => {
    const r = await call('POST', '/policies', { id: 'rw', builtin: 'read-write-split', config: { primary: 'b1', replicas: ['b2', 'b3'] } });
    expect(r.statusCode).toBe(201);
    expect(json(r)).toMatchObject({ id: 'rw', active: false });
    expect(json(await call('POST', '/policies/rw/activate'))).toMatchObject({ id: 'rw', active: true });
    expect(target.startTransaction(conn, { method: 'PUT', target: '/w' })).toMatchObject({ backend: 'b1', policy: 'rw' });
    expect(json(await call('GET', '/policies/rw')).stats.decisions).toBe(1);
    expectProblem(await call('DELETE', '/policies/rw'), 409, /active policy/);
    await call('POST', '/policies/default/activate');
    expect((await call('DELETE', '/policies/rw')).statusCode).toBe(204);
    expectProblem(await call('GET', '/policies/rw'), 404);
    expectProblem(await call('POST', '/policies/rw/activate'), 404);
    expectProblem(await call('DELETE', '/policies/rw'), 404);
  });

  it('installs a module policy from a file path', async () => {
    const path = join(dir, 'pin.mjs');
    writeFileSync(
      path,
      `export default () => ({ init() {}, uninit() {}, addConn() {}, rmConn() {}, redirect: () => 'b3', retire() {}, state: () => ({}) });`,
    );
    const r = await call('POST', '/policies', { id: 'pin', module: path, activate: true });
    expect(r.statusCode).toBe(201);
    expect(json(r)).toMatchObject({ id: 'pin', kind: 'module', sandboxed: true, active: true });
    expect(target.startTransaction(conn, { method: 'GET', target: '/' })).toMatchObject({ backend: 'b3', policy: 'pin' });
  });

  it('refuses invalid policies at install with the reason (422), bad bodies with 400', async () => {
    let p = expectProblem(await call('POST', '/policies', { builtin: 'read-write-split', config: { primary: 'b1' } }), 422, /replicas/);
    expect(p.code).toBe('policy_bad_config');
    p = expectProblem(await call('POST', '/policies', { builtin: 'magic' }), 422, /no built-in policy is named magic/);
    expect(p.code).toBe('policy_unknown_builtin');
    const broken = join(dir, 'broken.mjs');
    writeFileSync(broken, `export default () => ({ init() {}, redirect: () => 'b1' });`);
    p = expectProblem(await call('POST', '/policies', { module: broken }), 422, /missing functions/);
    expect(p.code).toBe('policy_missing_function');
    expectProblem(await call('POST', '/policies', { id: 'default', builtin: 'round-robin' }), 409);
    expectProblem(await call('POST', '/policies', { builtin: 'round-robin', module: '/x.mjs' }), 400);
    expectProblem(await call('POST', '/policies', {}), 400);
    expectProblem(await call('POST', '/policies', { id: '../evil', builtin: 'round-robin' }), 400);
    expect(json(await call('GET', '/policies')).policies).toHaveLength(1);
  });
});

describe('buckets', () => {
  beforeEach(async () => {
    await call('POST', '/policies', { id: 'ch', builtin: 'content-hash', config: { backends: ['b1', 'b2', 'b3'] }, activate: true });
  });

  it('shows the bucket map and where a key goes', async () => {
    const r = json(await call('GET', '/buckets?key=/videos/42'));
    expect(r).toMatchObject({ policy: 'ch', key: 'path', count: 256 });
    expect(r.buckets).toHaveLength(256);
    expect(r.lookup.backend).toBe(r.buckets[r.lookup.bucket]);
    const t = target.startTransaction(conn, { method: 'GET', target: '/videos/42' });
    expect(t).toMatchObject({ backend: r.lookup.backend });
  });

  it('same key → same backend; a bucket move moves it', async () => {
    const where = json(await call('GET', '/buckets?key=/k')).lookup;
    const run = (): string[] =>
      Array.from({ length: 20 }, (_, i) => {
        const c = target.openConnection(`10.1.0.${i + 1}:6000`);
        const t = target.startTransaction(c, { method: 'GET', target: '/k' }) as { id: string; backend: string };
        target.finishTransaction(t.id);
        target.closeConnection(c);
        return t.backend;
      });
    expect(new Set(run())).toEqual(new Set([where.backend]));
    const to = where.backend === 'b2' ? 'b3' : 'b2';
    const m = await call('POST', '/buckets/moves', { moves: [{ bucket: where.bucket, to }] });
    expect(m.statusCode).toBe(200);
    expect(json(m).map.buckets[where.bucket]).toBe(to);
    expect(new Set(run())).toEqual(new Set([to]));
    expect(json(await call('GET', '/buckets?key=/k')).lookup.backend).toBe(to);
  });

  it('rebalances onto the named (or eligible) backends', async () => {
    const r = json(await call('POST', '/buckets/rebalance', { backends: ['b1', 'b2'] }));
    expect(r.moves.length).toBeGreaterThan(0);
    expect(r.map.buckets.filter((b: string) => b === 'b1')).toHaveLength(128);
    expect(r.map.buckets.filter((b: string) => b === 'b3')).toHaveLength(0);
    await call('POST', '/backends/b2/drain');
    const r2 = json(await call('POST', '/buckets/rebalance', {}));
    expect(r2.map.buckets.filter((b: string) => b === 'b2')).toHaveLength(0);
    expect(json(await call('POST', '/buckets/rebalance', {})).moves).toEqual([]);
  });

  it('bad moves and policies without buckets', async () => {
    expectProblem(await call('POST', '/buckets/moves', { moves: [{ bucket: 256, to: 'b1' }] }), 400, /outside 0..255/);
    expectProblem(await call('POST', '/buckets/moves', { moves: [{ bucket: 1, to: 'zz' }] }), 404, /no backend named zz/);
    expectProblem(await call('POST', '/buckets/moves', { moves: [] }), 400);
    expectProblem(await call('POST', '/buckets/moves', { moves: [{ bucket: -1, to: 'b1' }] }), 400);
    expectProblem(await call('POST', '/buckets/rebalance', { backends: ['zz'] }), 404);
    expectProblem(await call('GET', '/buckets?policy=nope'), 404);
    await call('POST', '/policies/default/activate');
    expectProblem(await call('GET', '/buckets'), 409, /no bucket map/);
    expect(json(await call('GET', '/buckets?policy=ch')).policy).toBe('ch');
    expectProblem(await call('POST', '/buckets/moves', { moves: [{ bucket: 1, to: 'b1' }] }), 409);
  });
});

describe('switch tables, health, metrics, OpenAPI', () => {
  it('reads the tables back, filtered by table', async () => {
    target.startTransaction(conn, { method: 'GET', target: '/' });
    const all = json(await call('GET', '/tables'));
    expect(new Set(all.map((e: { table: string }) => e.table))).toEqual(new Set(['vip', 'l3', 'handoff_in', 'handoff_out']));
    const hin = json(await call('GET', '/tables?table=handoff_in'));
    expect(hin).toHaveLength(1);
    expect(hin[0]).toMatchObject({ action: 'to_backend', match: { 'hdr.ipv4.src_addr': '10.0.0.1', 'hdr.tcp.src_port': 40000 } });
    expectProblem(await call('GET', '/tables?table=nope'), 404, /no table nope/);
    expectProblem(await call('GET', '/tables?table=a%20b'), 400);
  });

  it('health', async () => {
    expect(json(await call('GET', '/health'))).toMatchObject({ status: 'ok', backendsUp: 3, backendsTotal: 3, switch: { connected: true, primary: true } });
    for (const b of ['b1', 'b2', 'b3']) target.setUp(b, false);
    expect(json(await call('GET', '/health')).status).toBe('degraded');
  });

  it('Prometheus metrics: hand-offs by backend and outcome, step histograms, rules, connections by state, PacketIn rate', async () => {
    const t = target.startTransaction(conn, { method: 'GET', target: '/' }) as { id: string; backend: string };
    target.finishTransaction(t.id, 'done', 100, { prepare: 1, rules: 2, start: 0.5, transfer: 10, deleteRules: 2, release: 1 });
    const t2 = target.startTransaction(conn, { method: 'GET', target: '/' }) as { id: string; backend: string };
    target.finishTransaction(t2.id, 'timeout');
    target.startTransaction(target.openConnection('10.0.0.5:1'), { method: 'GET', target: '/' });
    api.rate.tick();
    const r = await call('GET', '/metrics');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    const m = r.body;
    expect(m).toContain(`prism_handoffs_total{backend="${t.backend}",outcome="done"} 1`);
    expect(m).toContain(`prism_handoffs_total{backend="${t2.backend}",outcome="timeout"} 1`);
    // prepare took 1 ms in the first hand-off, 0.4 ms (the memory target's default) in the second.
    expect(m).toContain('prism_handoff_step_seconds_bucket{le="0.0005",step="prepare"} 1');
    expect(m).toContain('prism_handoff_step_seconds_bucket{le="0.001",step="prepare"} 2');
    expect(m).toMatch(/prism_handoff_step_seconds_count\{step="rules"\} 2/);
    expect(m).toMatch(/prism_handoff_duration_seconds_count\{outcome="done"\} 1/);
    expect(m).toContain('prism_rules_installed{table="handoff_in"} 1');
    expect(m).toContain('prism_connections{state="ESTABLISHED",owner="controller"} 1');
    expect(m).toContain('prism_connections{state="ESTABLISHED",owner="backend"} 1');
    expect(m).toMatch(/prism_packet_ins_total \d+/);
    expect(m).toMatch(/prism_packet_in_rate \d/);
    expect(m).toContain('prism_policy_active{policy="default"} 1');
    expect(m).toContain('prism_policy_faults_total{kind="timeout"} 0');
    expect(m).toContain('prism_backend_up{backend="b1"} 1');
  });

  it('serves an OpenAPI document with every route, schemas and bearer security', async () => {
    const doc = json(await call('GET', '/openapi.json'));
    expect(doc.openapi).toBe('3.1.0');
    const paths = Object.keys(doc.paths);
    for (const p of [
      '/health', '/metrics', '/dashboard', '/backends', '/backends/{name}', '/backends/{name}/drain', '/backends/{name}/resume', '/backends/{name}/weight',
      '/connections', '/connections/{id}', '/connections/{id}/force', '/policies', '/policies/{id}', '/policies/{id}/activate',
      '/buckets', '/buckets/moves', '/buckets/rebalance', '/tables', '/handoffs', '/stats/rate',
    ]) expect(paths).toContain(p);
    expect(doc.paths['/backends'].post.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/backends'].post.requestBody.content['application/json'].schema.required).toContain('ip');
    expect(doc.paths['/backends/{name}'].get.responses['404']).toBeDefined();
    expect(doc.components.schemas.Problem).toBeDefined();
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
  });

  it('serves the dashboard and the rate series it polls', async () => {
    const d = await call('GET', '/dashboard');
    expect(d.statusCode).toBe(200);
    expect(d.headers['content-type']).toMatch(/^text\/html/);
    expect(d.body).toContain('id="rate-chart"');
    target.finishTransaction((target.startTransaction(conn, { method: 'GET', target: '/' }) as { id: string }).id);
    const rate = json(await call('GET', '/stats/rate'));
    expect(rate.intervalMs).toBe(1000);
    expect(rate.handoffsPerInterval.at(-1).done).toBe(1);
    expect(rate.connections).toBe(1);
  });
});
