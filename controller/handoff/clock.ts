/**
 * The hand-off's one clock: monotonic milliseconds with timers (the TCP endpoint's Clock), and
 * the wall clock for the absolute deadlines the control protocol carries. Injected, so that unit
 * tests run the hand-off on a fake clock.
 */
import { systemClock, type Clock } from '../tcp/clock.js';

export interface HandoffClock extends Clock {
  /** Unix epoch milliseconds (deadline_unix_ms, record timestamps). */
  epochMs(): number;
}

export const systemHandoffClock: HandoffClock = { ...systemClock, epochMs: () => Date.now() };

/** `p`, or a rejection with `error()` after `ms` on `clock`. */
export async function withTimeout<T>(clock: Clock, p: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: unknown;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = clock.setTimeout(() => reject(error()), ms)))]);
  } finally {
    clock.clearTimeout(timer);
  }
}
