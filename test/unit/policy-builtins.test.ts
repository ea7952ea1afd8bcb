import { describe, expect, it } from 'vitest';
import type { BackendView, Decision, Policy, PolicyConn, PolicyRequest, PolicyView } from '../../controller/policy/alrm.js';
import { contentHash, leastLoaded, readWriteSplit, rebalanceMoves, roundRobin } from '../../controller/policy/builtins/index.js';
import { backendView as backend } from '../helpers/fixtures.js';

const conn: PolicyConn = { id: '10.0.0.1:5000-10.0.0.100:80', client: '10.0.0.1:5000', vip: '10.0.0.100:80', openedAtMs: 0 };
const req = (path: string, method = 'GET', headers: Record<string, string> = {}): PolicyRequest => ({ method, target: path, path, headers, contentLength: null });
const view = (...backends: BackendView[]): PolicyView => ({ backends, connections: 1, nowMs: 0 });
const make = (f: () => Policy, config: unknown = {}): Policy => {
  const p = f();
  p.init(config);
  return p;
};
const counts = (p: Policy, v: PolicyView, n: number, r = req('/')): Record<string, number> => {
  const c: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const d = p.redirect(r, conn, v);
    const k = typeof d === 'string' ? d : 'backend' in d ? d.backend : `reject:${d.reject}`;
    c[k] = (c[k] ?? 0) + 1;
  }
  return c;
};

describe('round robin', () => {
  it('cycles over the eligible backends, in proportion to their weights', () => {
    const p = make(roundRobin);
    expect(counts(p, view(backend('a'), backend('b'), backend('c')), 300)).toEqual({ a: 100, b: 100, c: 100 });
    expect(counts(p, view(backend('a', { weight: 3 }), backend('b')), 400)).toEqual({ a: 300, b: 100 });
  });

  it('skips draining, down and weight-0 backends, and rejects with 503 when none is left', () => {
    const p = make(roundRobin);
    const v = view(backend('a', { draining: true }), backend('b', { up: false }), backend('c', { weight: 0 }), backend('d'));
    expect(counts(p, v, 10)).toEqual({ d: 10 });
    expect(p.redirect(req('/'), conn, view(backend('a', { draining: true })))).toEqual({ reject: 503, reason: 'no backend is available' });
  });
});

describe('least loaded', () => {
  it('picks the backend with the fewest active + queued transactions per weight', () => {
    const p = make(leastLoaded);
    const v = view(
      backend('a', { load: { activeTransactions: 5, recentThroughputBps: 0, queueLength: 0 } }),
      backend('b', { load: { activeTransactions: 1, recentThroughputBps: 0, queueLength: 2 } }),
      backend('c', { load: { activeTransactions: 4, recentThroughputBps: 0, queueLength: 0 } }),
    );
    expect(p.redirect(req('/'), conn, v)).toBe('b');
  });

  it('is speed-sensitive: a backend near its throughput capacity counts as busier', () => {
    const p = make(leastLoaded, { capacityBps: 1_000_000 });
    const v = view(
      backend('fast', { load: { activeTransactions: 2, recentThroughputBps: 0, queueLength: 0 } }),
      backend('saturated', { load: { activeTransactions: 1, recentThroughputBps: 2_000_000, queueLength: 0 } }),
    );
    // saturated: 2 × 3 = 6; fast: 3 × 1 = 3
    expect(p.redirect(req('/'), conn, v)).toBe('fast');
  });

  it('breaks ties by name and skips a drained backend', () => {
    const p = make(leastLoaded);
    expect(p.redirect(req('/'), conn, view(backend('b'), backend('a')))).toBe('a');
    expect(p.redirect(req('/'), conn, view(backend('b'), backend('a', { draining: true })))).toBe('b');
  });
});

describe('content-aware consistent hashing', () => {
  const v = view(backend('a'), backend('b'), backend('c'));

  it('sends the same key to the same backend every time', () => {
    const p = make(contentHash);
    for (const path of ['/x', '/img/1.png', '/a/b/c', '/']) {
      const first = p.redirect(req(path), conn, v);
      for (let i = 0; i < 50; i++) expect(p.redirect(req(path), conn, v)).toBe(first);
    }
    // A query string is not part of the key.
    expect(p.redirect({ ...req('/x'), target: '/x?y=1' }, conn, v)).toBe(p.redirect(req('/x'), conn, v));
  });

  it('spreads keys over the backends', () => {
    const p = make(contentHash);
    const c: Record<string, number> = {};
    for (let i = 0; i < 3000; i++) {
      const d = p.redirect(req(`/obj/${i}`), conn, v) as string;
      c[d] = (c[d] ?? 0) + 1;
    }
    for (const n of ['a', 'b', 'c']) expect(c[n]).toBeGreaterThan(600);
  });

  it('a bucket move moves the key', () => {
    const p = make(contentHash, { backends: ['a', 'b', 'c'] });
    const bucket = p.keyBucket!('/moved');
    const before = p.redirect(req('/moved'), conn, v);
    expect(before).toBe(p.buckets!().buckets[bucket]);
    const to = before === 'a' ? 'b' : 'a';
    p.moveBuckets!([{ bucket, to }]);
    for (let i = 0; i < 10; i++) expect(p.redirect(req('/moved'), conn, v)).toBe(to);
    expect(() => p.moveBuckets!([{ bucket: 256, to: 'a' }])).toThrow(/outside/);
  });

  it('hashes a named header when configured', () => {
    const p = make(contentHash, { key: 'header', header: 'X-Tenant', buckets: 64 });
    expect(p.buckets!()).toMatchObject({ key: 'header:x-tenant', count: 64 });
    const d1 = p.redirect(req('/one', 'GET', { 'x-tenant': 'acme' }), conn, v);
    // A header key marks the connection sticky (its transactions are kept for the next request).
    expect(d1).toMatchObject({ sticky: true });
    expect(p.redirect(req('/two', 'POST', { 'x-tenant': 'acme' }), conn, v)).toEqual(d1);
    expect(typeof p.redirect(req('/two'), conn, v)).toBe('object');
    expect(() => make(contentHash, { key: 'header' })).toThrow(/header/);
  });

  it('serves a draining owner\'s bucket elsewhere for now, without moving it', () => {
    const p = make(contentHash, { backends: ['a', 'b', 'c'] });
    const bucket = p.keyBucket!('/k');
    const owner = p.buckets!().buckets[bucket]!;
    const drained = view(...['a', 'b', 'c'].map((n) => backend(n, { draining: n === owner })));
    const d = p.redirect(req('/k'), conn, drained);
    expect(d).not.toBe(owner);
    expect(p.buckets!().buckets[bucket]).toBe(owner);
    expect(p.redirect(req('/k'), conn, v)).toBe(owner);
  });

  it('reassigns buckets of a backend that left the view', () => {
    const p = make(contentHash, { backends: ['a', 'gone'] });
    const gone = p.buckets!().buckets.indexOf('gone');
    // Find a key in that bucket.
    let key = '';
    for (let i = 0; key === ''; i++) if (p.keyBucket!(`/k${i}`) === gone) key = `/k${i}`;
    expect(p.redirect(req(key), conn, v)).not.toBe('gone');
    expect(p.buckets!().buckets[gone]).not.toBe('gone');
  });

  it('rebalances with the fewest moves', () => {
    const map = [...Array<string>(200).fill('a'), ...Array<string>(56).fill('b')];
    const moves = rebalanceMoves(map, ['a', 'b', 'c', 'd']);
    const after = [...map];
    for (const m of moves) after[m.bucket] = m.to;
    const c: Record<string, number> = {};
    for (const b of after) c[b] = (c[b] ?? 0) + 1;
    expect(c).toEqual({ a: 64, b: 64, c: 64, d: 64 });
    expect(moves).toHaveLength(200 - 64 + 0); // a gives 136; b keeps its 56 and receives 8
    expect(rebalanceMoves(after, ['a', 'b', 'c', 'd'])).toEqual([]);
    const unassigned = rebalanceMoves(Array<string | null>(10).fill(null), ['x', 'y']);
    expect(unassigned).toHaveLength(10);
  });
});

describe('read/write split', () => {
  const v = view(backend('primary'), backend('r1'), backend('r2'));
  const cfg = { primary: 'primary', replicas: ['r1', 'r2'] };

  it('sends GET and HEAD to the replicas, everything else to the primary', () => {
    const p = make(readWriteSplit, cfg);
    expect(counts(p, v, 10, req('/q', 'GET'))).toEqual({ r1: 5, r2: 5 });
    expect(counts(p, v, 4, req('/q', 'HEAD'))).toEqual({ r1: 2, r2: 2 });
    for (const m of ['POST', 'PUT', 'DELETE', 'PATCH']) expect(p.redirect(req('/w', m), conn, v)).toBe('primary');
  });

  it('never sends a write to a replica', () => {
    const p = make(readWriteSplit, cfg);
    const noPrimary = view(backend('primary', { up: false }), backend('r1'), backend('r2'));
    const d: Decision = p.redirect(req('/w', 'POST'), conn, noPrimary);
    expect(d).toEqual({ reject: 503, reason: 'the primary primary is not available' });
  });

  it('reads fall back to the primary when no replica is eligible (unless configured not to)', () => {
    const drained = view(backend('primary'), backend('r1', { draining: true }), backend('r2', { up: false }));
    expect(make(readWriteSplit, cfg).redirect(req('/q'), conn, drained)).toBe('primary');
    expect(make(readWriteSplit, { ...cfg, readFromPrimary: false }).redirect(req('/q'), conn, drained)).toMatchObject({ reject: 503 });
  });

  it('refuses a primary that is also a replica', () => {
    expect(() => make(readWriteSplit, { primary: 'a', replicas: ['a'] })).toThrow(/also listed/);
  });
});
