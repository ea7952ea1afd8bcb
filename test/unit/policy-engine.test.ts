import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Policy, PolicyConn, PolicyRequest, PolicyView } from '../../controller/policy/alrm.js';
import { PolicyEngine, type EngineDecision, type FaultEvent } from '../../controller/policy/engine.js';
import { PolicyError } from '../../controller/policy/errors.js';
import { backendView as backend } from '../helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'prism-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a policy module and returns its path. */
function moduleFile(name: string, source: string): string {
  const p = join(dir, name);
  writeFileSync(p, source);
  return p;
}

const GOOD_MODULE = `
export const configSchema = { type: 'object', properties: { prefer: { type: 'string' } }, additionalProperties: false };
export default function create() {
  let prefer = null;
  const conns = new Set();
  return {
    init(config) { prefer = config.prefer ?? null; },
    uninit() { conns.clear(); },
    addConn(c) { conns.add(c.id); },
    rmConn(c) { conns.delete(c.id); },
    redirect(req, conn, view) {
      const ok = view.backends.filter((b) => b.up && !b.draining && b.weight > 0);
      if (prefer && ok.some((b) => b.name === prefer)) return prefer;
      return ok.length ? ok[ok.length - 1].name : { reject: 503, reason: 'none' };
    },
    retire() {},
    state() { return { prefer, conns: [...conns] }; },
  };
}
`;

const VIEW: PolicyView = { backends: [backend('a'), backend('b'), backend('c')], connections: 0, nowMs: 0 };
const req = (path = '/'): PolicyRequest => ({ method: 'GET', target: path, path, headers: {}, contentLength: null });
const conn = (i: number): PolicyConn => ({ id: `10.0.0.${1 + (i % 200)}:${1000 + i}-10.0.0.100:80`, client: `10.0.0.${1 + (i % 200)}:${1000 + i}`, vip: '10.0.0.100:80', openedAtMs: 0 });

const expectRefusal = async (p: Promise<unknown>, reason: string, message: RegExp): Promise<void> => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PolicyError);
  expect((err as PolicyError).reason).toBe(reason);
  expect((err as PolicyError).message).toMatch(message);
};

describe('install and validation', () => {
  it('starts with the default policy (round robin) active', () => {
    const e = new PolicyEngine();
    expect(e.activeId).toBe('default');
    expect(e.list()).toHaveLength(1);
    expect(e.builtins().map((b) => b.name)).toEqual(['round-robin', 'least-loaded', 'content-hash', 'read-write-split']);
  });

  it('installs a built-in with a validated config, inactive until activated', async () => {
    const e = new PolicyEngine();
    const info = await e.install({ id: 'rw', builtin: 'read-write-split', config: { primary: 'a', replicas: ['b', 'c'] } });
    expect(info).toMatchObject({ id: 'rw', kind: 'builtin', active: false, sandboxed: false });
    expect(e.activate('rw').active).toBe(true);
    expect(e.decide({ ...req(), method: 'POST' }, conn(0), VIEW)).toMatchObject({ backend: 'a', policy: 'rw', source: 'policy' });
  });

  it('refuses bad configs, unknown built-ins, duplicate ids, bad ids with the reason', async () => {
    const e = new PolicyEngine();
    await expectRefusal(e.install({ builtin: 'read-write-split', config: { primary: 'a' } }), 'bad_config', /must have required property 'replicas'/);
    await expectRefusal(e.install({ builtin: 'content-hash', config: { buckets: 0 } }), 'bad_config', /buckets must be >= 1/);
    await expectRefusal(e.install({ builtin: 'nope' }), 'unknown_builtin', /no built-in policy is named nope/);
    await expectRefusal(e.install({ id: 'default', builtin: 'round-robin' }), 'conflict', /already installed/);
    await expectRefusal(e.install({ id: 'bad id!', builtin: 'round-robin' }), 'bad_config', /policy id/);
    await expectRefusal(e.install({ builtin: 'read-write-split', config: { primary: 'a', replicas: ['a'] } }), 'init_failed', /init threw: the primary a is also listed/);
    expect(e.list()).toHaveLength(1);
  });

  it('loads a module policy (ESM default export factory) and validates its config against its schema', async () => {
    const e = new PolicyEngine();
    const path = moduleFile('good.mjs', GOOD_MODULE);
    const info = await e.install({ id: 'mod', module: path, config: { prefer: 'b' } });
    expect(info).toMatchObject({ kind: 'module', source: path, sandboxed: true });
    expect(info.stateBytes).toBeGreaterThan(0);
    e.activate('mod');
    expect(e.decide(req(), conn(0), VIEW)).toMatchObject({ backend: 'b', source: 'policy' });
    await expectRefusal(e.install({ module: path, config: { prefer: 3 } }), 'bad_config', /\/prefer must be string/);
  });

  it('accepts an object default export', async () => {
    const e = new PolicyEngine();
    const path = moduleFile(
      'object.js',
      `export default { init() {}, uninit() {}, addConn() {}, rmConn() {}, redirect() { return 'c'; }, retire() {}, state() { return null; } };`,
    );
    await e.install({ id: 'obj', module: path });
    e.activate('obj');
    expect(e.decide(req(), conn(0), VIEW)).toMatchObject({ backend: 'c' });
  });

  it('refuses modules that fail validation, with the reason', async () => {
    const e = new PolicyEngine({ limits: { initMs: 50, stateBytes: 1000 } });
    await expectRefusal(e.install({ module: join(dir, 'missing.mjs') }), 'load_failed', /cannot read/);
    await expectRefusal(e.install({ module: moduleFile('x.ts', 'export default 1') }), 'load_failed', /\.js or \.mjs/);
    await expectRefusal(e.install({ module: moduleFile('syntax.mjs', 'export default {') }), 'load_failed', /importing/);
    await expectRefusal(e.install({ module: moduleFile('nodefault.mjs', 'export const x = 1;') }), 'load_failed', /no default export/);
    await expectRefusal(
      e.install({ module: moduleFile('missing-fn.mjs', 'export default () => ({ init() {}, redirect() { return "a"; } })') }),
      'missing_function',
      /missing functions uninit, addConn, rmConn, retire, state/,
    );
    await expectRefusal(
      e.install({ module: moduleFile('init-throws.mjs', GOOD_MODULE.replace("prefer = config.prefer ?? null;", "throw new Error('no database');")) }),
      'init_failed',
      /init threw: no database/,
    );
    await expectRefusal(
      e.install({ module: moduleFile('init-loops.mjs', GOOD_MODULE.replace("prefer = config.prefer ?? null;", 'for (;;) {}')) }),
      'init_failed',
      /did not return within 50 ms/,
    );
    await expectRefusal(
      e.install({ module: moduleFile('fat.mjs', GOOD_MODULE.replace('return { prefer, conns: [...conns] };', "return 'x'.repeat(5000);")) }),
      'state_too_large',
      /5002 bytes \(budget 1000\)/,
    );
    await expectRefusal(
      e.install({ module: moduleFile('badschema.mjs', GOOD_MODULE.replace("type: 'object'", "type: 'nonsense'")) }),
      'bad_config',
      /not a valid JSON Schema/,
    );
  });

  it('restricts module paths to the configured directories', async () => {
    const e = new PolicyEngine({ moduleDirs: [join(dir, 'allowed')] });
    await expectRefusal(e.install({ module: moduleFile('outside.mjs', GOOD_MODULE) }), 'load_failed', /outside the directories/);
  });

  it('removes inactive policies only', async () => {
    const e = new PolicyEngine();
    await e.install({ id: 'rr2', builtin: 'round-robin' });
    e.activate('rr2');
    expect(() => e.remove('rr2')).toThrow(/active policy/);
    expect(() => e.remove('default')).toThrow(/cannot be removed/);
    e.activate('default');
    e.remove('rr2');
    expect(() => e.get('rr2')).toThrow(PolicyError);
  });
});

describe('faults fall back to the default policy and are counted', () => {
  it('a policy that throws', async () => {
    const thrower = (): Policy => ({
      init() {},
      uninit() {},
      addConn() {},
      rmConn() {},
      redirect() {
        throw new Error('boom');
      },
      retire() {},
    });
    const e = new PolicyEngine({ builtins: { thrower } });
    const faults: FaultEvent[] = [];
    e.on('fault', (f: FaultEvent) => faults.push(f));
    await e.install({ id: 't', builtin: 'thrower' });
    e.activate('t');
    const ds = Array.from({ length: 6 }, () => e.decide(req(), conn(0), VIEW));
    for (const d of ds) expect(d).toMatchObject({ source: 'default', fault: 'threw', policy: 't' });
    // Round robin over a, b, c.
    expect(ds.map((d) => ('backend' in d ? d.backend : null)).sort()).toEqual(['a', 'a', 'b', 'b', 'c', 'c']);
    expect(e.stats.faults.threw).toBe(6);
    expect(e.get('t').stats.faults.threw).toBe(6);
    expect(e.get('t').stats.lastFault).toMatchObject({ kind: 'threw', message: 'boom' });
    expect(faults[0]).toEqual({ policy: 't', call: 'redirect', kind: 'threw', message: 'boom' });
  });

  it('a built-in call over its budget: the result is discarded (overrun)', async () => {
    const slow = (): Policy => ({
      init() {},
      uninit() {},
      addConn() {},
      rmConn() {},
      redirect() {
        const until = performance.now() + 8;
        while (performance.now() < until);
        return 'a';
      },
      retire() {},
    });
    const e = new PolicyEngine({ builtins: { slow }, limits: { callMs: 2 } });
    await e.install({ id: 's', builtin: 'slow' });
    e.activate('s');
    const d = e.decide(req(), conn(0), VIEW);
    expect(d).toMatchObject({ source: 'default', fault: 'overrun' });
    expect(e.stats.faults.overrun).toBe(1);
  });

  it('an infinite-loop module policy is cut off by the VM timeout, then suspended after repeated faults', async () => {
    const e = new PolicyEngine({ limits: { callMs: 20, faultLimit: 3 } });
    const path = moduleFile('loop.mjs', GOOD_MODULE.replace('const ok = view.backends', 'for (;;) {}\n      const ok = view.backends'));
    await e.install({ id: 'loop', module: path });
    e.activate('loop');
    const t0 = performance.now();
    const d = e.decide(req(), conn(0), VIEW);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(d).toMatchObject({ source: 'default', fault: 'timeout' });
    expect('backend' in d && ['a', 'b', 'c'].includes(d.backend)).toBe(true);
    e.decide(req(), conn(0), VIEW);
    e.decide(req(), conn(0), VIEW);
    expect(e.stats.faults.timeout).toBe(3);
    expect(e.get('loop').suspended).toMatch(/3 consecutive faults/);
    expect(e.stats.suspensions).toBe(1);
    // Suspended: no more calls into it (fast), the default decides.
    const t1 = performance.now();
    for (let i = 0; i < 100; i++) expect(e.decide(req(), conn(0), VIEW)).toMatchObject({ source: 'default' });
    expect(performance.now() - t1).toBeLessThan(500);
    expect(e.stats.faults.timeout).toBe(3);
    // The engine is fine afterwards.
    e.activate('default');
    expect(e.decide(req(), conn(0), VIEW)).toMatchObject({ source: 'policy', policy: 'default' });
  });

  it('an invalid decision (unknown or drained backend, bad reject) goes to the default', async () => {
    let answer: unknown = 'zzz';
    const odd = (): Policy => ({
      init() {},
      uninit() {},
      addConn() {},
      rmConn() {},
      redirect: () => answer as string,
      retire() {},
    });
    const e = new PolicyEngine({ builtins: { odd } });
    await e.install({ id: 'odd', builtin: 'odd' });
    e.activate('odd');
    expect(e.decide(req(), conn(0), VIEW)).toMatchObject({ source: 'default', fault: 'invalid' });
    answer = 'a';
    const drainedA: PolicyView = { ...VIEW, backends: [backend('a', { draining: true }), backend('b')] };
    expect(e.decide(req(), conn(0), drainedA)).toMatchObject({ source: 'default', fault: 'invalid', backend: 'b' });
    answer = { reject: 200, reason: 'ok?' };
    expect(e.decide(req(), conn(0), VIEW)).toMatchObject({ source: 'default', fault: 'invalid' });
    answer = { reject: 429, reason: 'slow down' };
    expect(e.decide(req(), conn(0), VIEW)).toMatchObject({ reject: 429, reason: 'slow down', source: 'policy' });
    expect(e.stats.faults.invalid).toBe(3);
  });

  it('a policy whose state grows past its budget is suspended', async () => {
    const e = new PolicyEngine({ limits: { stateBytes: 2000, stateCheckEvery: 10 } });
    const leaky = GOOD_MODULE.replace('const ok = view.backends', 'conns.add(String(Math.random()));\n      const ok = view.backends');
    await e.install({ id: 'leaky', module: moduleFile('leaky.mjs', leaky) });
    e.activate('leaky');
    for (let i = 0; i < 200; i++) e.decide(req(), conn(0), VIEW);
    expect(e.stats.faults.state).toBe(1);
    expect(e.get('leaky').suspended).toMatch(/state over budget/);
    expect(e.decide(req(), conn(0), VIEW)).toMatchObject({ source: 'default' });
  });

  it('the view and request a policy sees are read-only', async () => {
    const mutator = (): Policy => ({
      init() {},
      uninit() {},
      addConn() {},
      rmConn() {},
      redirect(_r, _c, view) {
        (view.backends[0] as { up: boolean }).up = false;
        return 'a';
      },
      retire() {},
    });
    const e = new PolicyEngine({ builtins: { mutator } });
    await e.install({ id: 'm', builtin: 'mutator' });
    e.activate('m');
    const v: PolicyView = { ...VIEW, backends: [backend('a')] };
    expect(e.decide(req(), conn(0), v)).toMatchObject({ source: 'default', fault: 'threw' });
    expect(v.backends[0]!.up).toBe(true);
  });
});

describe('connections, swaps and forced hand-offs', () => {
  it('replays live connections into the new policy on swap, and removes them from the old one', async () => {
    const e = new PolicyEngine();
    await e.install({ id: 'm1', module: moduleFile('m1.mjs', GOOD_MODULE) });
    await e.install({ id: 'm2', module: moduleFile('m2.mjs', GOOD_MODULE) });
    e.activate('m1');
    for (let i = 0; i < 5; i++) e.addConn(conn(i));
    e.rmConn(conn(4).id);
    e.activate('m2');
    e.addConn(conn(9));
    // state() sizes: m1 has no connections left, m2 has 5 (4 replayed + 1 new).
    const m2 = e.get('m2');
    const m1 = e.get('m1');
    expect(m2.stats.calls).toBeGreaterThanOrEqual(5);
    expect(e.connections).toBe(5);
    expect(m1.active).toBe(false);
    expect(e.stats.swaps).toBe(2);
  });

  it('a policy swap under running load: no failed decision', async () => {
    const e = new PolicyEngine();
    await e.install({ id: 'ch', builtin: 'content-hash' });
    await e.install({ id: 'll', builtin: 'least-loaded' });
    await e.install({ id: 'mod', module: moduleFile('swap.mjs', GOOD_MODULE) });
    const ids = ['default', 'ch', 'll', 'mod'];
    let stop = false;
    const decisions: EngineDecision[] = [];
    // 200 concurrent clients, each issuing requests on its own connection until told to stop.
    const clients = Array.from({ length: 200 }, async (_, i) => {
      const c = conn(i);
      e.addConn(c);
      let n = 0;
      while (!stop) {
        decisions.push(e.decide(req(`/obj/${i}/${n++ % 7}`), c, VIEW));
        await new Promise((r) => setImmediate(r));
      }
      e.rmConn(c.id);
    });
    // Swap 40 times while they run; install and activate a fresh module policy midway.
    for (let s = 0; s < 40; s++) {
      await new Promise((r) => setTimeout(r, 2));
      if (s === 20) await e.install({ id: 'late', module: moduleFile('late.mjs', GOOD_MODULE), config: { prefer: 'a' } });
      e.activate(s > 20 && s % 5 === 0 ? 'late' : ids[s % ids.length]!);
    }
    stop = true;
    await Promise.all(clients);
    expect(decisions.length).toBeGreaterThan(2000);
    // No failed decision: every request got an eligible backend.
    const failed = decisions.filter((d) => !('backend' in d) || !['a', 'b', 'c'].includes(d.backend));
    expect(failed).toEqual([]);
    expect(new Set(decisions.map((d) => d.policy))).toEqual(new Set([...ids, 'late']));
    // The swaps themselves cause no fault. (A GC pause can still push a single call past its
    // budget on a loaded machine: that is a counted fallback, not a failed request.)
    const faults = Object.values(e.stats.faults).reduce((a, b) => a + b, 0);
    expect(faults, JSON.stringify(e.list().map((p) => [p.id, p.stats.lastFault]))).toBeLessThanOrEqual(decisions.length / 1000);
    expect(decisions.filter((d) => d.source === 'default').length).toBe(e.stats.bySource.default);
    expect(e.stats.swaps).toBeGreaterThanOrEqual(30);
    expect(e.connections).toBe(0);
  });

  it('forces the next transaction of a connection once, if the backend is eligible', () => {
    const e = new PolicyEngine();
    const c = conn(1);
    expect(() => e.forceNext(c.id, 'b')).toThrow(/no connection/);
    e.addConn(c);
    e.forceNext(c.id, 'c');
    expect(e.decide(req(), c, VIEW)).toMatchObject({ backend: 'c', source: 'forced' });
    expect(e.decide(req(), c, VIEW)).toMatchObject({ source: 'policy' });
    e.forceNext(c.id, 'a');
    const drainedA: PolicyView = { ...VIEW, backends: [backend('a', { draining: true }), backend('b')] };
    expect(e.decide(req(), c, drainedA)).toMatchObject({ backend: 'b', source: 'policy' });
  });

  it('retires a transaction into the policy that decided it, even after a swap', async () => {
    const retired: string[] = [];
    const rec = (): Policy => ({
      init() {},
      uninit() {},
      addConn() {},
      rmConn() {},
      redirect: () => 'a',
      retire: (t) => void retired.push(t.id),
    });
    const e = new PolicyEngine({ builtins: { rec } });
    await e.install({ id: 'rec', builtin: 'rec' });
    e.activate('rec');
    const d = e.decide(req(), conn(0), VIEW);
    e.activate('default');
    e.retire({ id: '7', connId: conn(0).id, backend: 'a', outcome: 'done', durationMs: 3, bytesSent: 10 }, d.policy);
    expect(retired).toEqual(['7']);
  });
});

describe('buckets through the engine', () => {
  it('shows, moves and rebalances the active content-hash map', async () => {
    const e = new PolicyEngine();
    expect(() => e.buckets()).toThrow(/no bucket map/);
    await e.install({ id: 'ch', builtin: 'content-hash', config: { buckets: 16, backends: ['a'] } });
    e.activate('ch');
    const bucket = e.keyBucket('/k')!;
    expect(e.decide(req('/k'), conn(0), VIEW)).toMatchObject({ backend: 'a' });
    e.moveBuckets([{ bucket, to: 'c' }]);
    expect(e.decide(req('/k'), conn(0), VIEW)).toMatchObject({ backend: 'c' });
    const r = e.rebalance(['a', 'b']);
    expect(r.map.buckets.filter((b) => b === 'a')).toHaveLength(8);
    expect(r.map.buckets.filter((b) => b === 'b')).toHaveLength(8);
    expect(r.moves).toHaveLength(8);
  });
});
