/**
 * What the TCP endpoint needs from the outside world besides packets: a monotonic millisecond
 * clock with timers, and a source of random bytes. Both are injected so that tests run on a fake
 * clock and a seeded random source.
 */
export interface Clock {
  /** Milliseconds, monotonic (never goes backwards). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface RandomSource {
  randomBytes(n: number): Buffer;
}

/** The process clock: performance.now() and Node timers (unref'd so they do not hold the process). */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
