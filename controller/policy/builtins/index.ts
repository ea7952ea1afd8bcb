/** The built-in policies by name. */
import type { PolicyFactory } from '../alrm.js';
import { contentHash } from './content-hash.js';
import { leastLoaded } from './least-loaded.js';
import { readWriteSplit } from './read-write-split.js';
import { roundRobin } from './round-robin.js';

export const BUILTIN_POLICIES: Readonly<Record<string, PolicyFactory>> = Object.freeze({
  'round-robin': roundRobin,
  'least-loaded': leastLoaded,
  'content-hash': contentHash,
  'read-write-split': readWriteSplit,
});

export const DEFAULT_POLICY = 'round-robin';

export { contentHash, leastLoaded, readWriteSplit, roundRobin };
export { rebalanceMoves, DEFAULT_BUCKETS } from './content-hash.js';
