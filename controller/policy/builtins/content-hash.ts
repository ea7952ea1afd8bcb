/**
 * Content-aware consistent hashing: a request key (the path, or a named header) hashes (FNV-1a)
 * to one of N buckets; a bucket map says which backend serves each bucket. The same key always
 * reaches the same backend until its bucket is moved (admin API: show the map, move buckets,
 * rebalance).
 *
 * Unassigned buckets, and buckets whose backend left the view, are assigned on first use by
 * rendezvous hashing over the eligible backends (so they spread evenly and deterministically).
 * A bucket whose backend is only temporarily ineligible (draining, down, weight 0) is served by
 * the rendezvous choice for that request without changing the map: it comes back when the
 * backend does.
 */
import { eligible, type BucketMap, type BucketMove, type Policy, type PolicyRequest } from '../alrm.js';
import { fnv1a, rendezvous } from '../hash.js';

export interface ContentHashConfig {
  /** 'path' (default) or 'header' (then `header` names it). */
  readonly key?: 'path' | 'header';
  readonly header?: string;
  /** Number of buckets (default 256). */
  readonly buckets?: number;
  /** Initial assignment: bucket i → backends[i mod n]. Without it, buckets are assigned on first use. */
  readonly backends?: readonly string[];
}

export const DEFAULT_BUCKETS = 256;

export function contentHash(): Policy {
  let keyKind: 'path' | 'header' = 'path';
  let header = '';
  let map: (string | null)[] = [];

  const keyOf = (req: PolicyRequest): string => (keyKind === 'path' ? req.path : (req.headers[header] ?? ''));
  const bucketOf = (key: string): number => fnv1a(key) % map.length;

  return {
    description: 'Consistent hashing of a request key (path or a named header) into a bucket map (default 256 buckets → backend), rebalanced by the admin API.',
    configSchema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        key: { enum: ['path', 'header'] },
        header: { type: 'string', pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' },
        buckets: { type: 'integer', minimum: 1, maximum: 65536 },
        backends: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 1024 },
      },
    },
    init(config) {
      const c = (config ?? {}) as ContentHashConfig;
      keyKind = c.key ?? 'path';
      if (keyKind === 'header') {
        if (!c.header) throw new Error("key 'header' needs the header's name in `header`");
        header = c.header.toLowerCase();
      }
      const n = c.buckets ?? DEFAULT_BUCKETS;
      const bs = c.backends ?? [];
      map = Array.from({ length: n }, (_, i) => (bs.length > 0 ? bs[i % bs.length]! : null));
    },
    uninit() {
      map = [];
    },
    addConn() {},
    rmConn() {},
    redirect(req, _conn, view) {
      const bucket = bucketOf(keyOf(req));
      const ok = eligible(view);
      const owner = map[bucket] ?? null;
      // A header key (a session cookie, a tenant id) is the same on every request of a connection:
      // the connection is sticky, and its transactions are kept for the next request at once.
      const sticky = keyKind === 'header';
      const pick = (backend: string) => (sticky ? { backend, sticky } : backend);
      if (owner !== null && ok.some((b) => b.name === owner)) return pick(owner);
      const choice = rendezvous(bucket, ok.map((b) => b.name));
      if (choice === null) return { reject: 503, reason: 'no backend is available' };
      // Assign for good only when the owner is unknown or gone from the view.
      if (owner === null || !view.backends.some((b) => b.name === owner)) map[bucket] = choice;
      return pick(choice);
    },
    retire() {},
    state() {
      return { key: keyKind, header, map };
    },
    buckets(): BucketMap {
      return { key: keyKind === 'path' ? 'path' : `header:${header}`, count: map.length, buckets: [...map] };
    },
    keyBucket(key: string): number {
      return bucketOf(key);
    },
    moveBuckets(moves: readonly BucketMove[]) {
      for (const m of moves) {
        if (!Number.isInteger(m.bucket) || m.bucket < 0 || m.bucket >= map.length) throw new RangeError(`bucket ${m.bucket} is outside 0..${map.length - 1}`);
      }
      for (const m of moves) map[m.bucket] = m.to;
    },
  };
}

/**
 * The fewest moves that spread the buckets evenly over `backends` (each gets ⌊n/k⌋ or ⌈n/k⌉):
 * buckets of backends not in the list, and unassigned ones, move first; then the surplus of the
 * fullest backends goes to the emptiest.
 */
export function rebalanceMoves(map: readonly (string | null)[], backends: readonly string[]): BucketMove[] {
  if (backends.length === 0) return [];
  const names = [...new Set(backends)].sort();
  const owned = new Map<string, number[]>(names.map((n) => [n, []]));
  const loose: number[] = [];
  map.forEach((b, i) => {
    const list = b === null ? undefined : owned.get(b);
    if (list) list.push(i);
    else loose.push(i);
  });
  const base = Math.floor(map.length / names.length);
  let extra = map.length % names.length;
  // Backends that already hold more keep their ⌈n/k⌉ first, so fewer buckets move.
  const order = [...names].sort((a, b) => owned.get(b)!.length - owned.get(a)!.length || (a < b ? -1 : 1));
  const target = new Map<string, number>();
  for (const n of order) target.set(n, base + (extra-- > 0 ? 1 : 0));
  for (const n of order) {
    const list = owned.get(n)!;
    while (list.length > target.get(n)!) loose.push(list.pop()!);
  }
  loose.sort((a, b) => a - b);
  const moves: BucketMove[] = [];
  for (const n of order) {
    const list = owned.get(n)!;
    while (list.length < target.get(n)!) {
      const bucket = loose.shift()!;
      list.push(bucket);
      moves.push({ bucket, to: n });
    }
  }
  return moves;
}
