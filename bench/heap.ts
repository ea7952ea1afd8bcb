/**
 * Heap measurement for the benchmarks and the memory tests: heap in use after forced full
 * collections. A forced GC needs V8's --expose-gc; it is switched on at the first measurement,
 * never at load, so that merely loading this module (or the CLI that lazily loads the
 * benchmarks) leaves the process's V8 flags as they were.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/** Heap in use after full collections. */
export function settledHeap(): number {
  if (!gc) {
    // The flag exposes `gc` in contexts created from now on; this process's main context keeps
    // no global `gc`.
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}
