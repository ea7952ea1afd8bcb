/**
 * Reconnect timing: exponential backoff with a cap and jitter, and a loop that retries an attempt
 * on that schedule. The clock is injected so that tests run the schedule without waiting.
 *
 * Delay n (n = 0, 1, ...) is min(maxMs, initialMs * multiplier^n) scaled by a random factor in
 * [1 - jitter, 1 + jitter], then capped at maxMs again: maxMs is a hard ceiling. With the defaults
 * (100 ms, x2, 10 s, ±20 %) the delays are about 0.1, 0.2, 0.4, ... 6.4, 10, 10 s. The jitter keeps
 * several controllers from retrying in lockstep after a switch restart (as in gRPC's connection
 * backoff, doc/connection-backoff.md).
 */
import { InvalidArgumentError } from '../../core/errors.js';

export interface BackoffOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
  readonly multiplier?: number;
  /** Relative jitter, 0..1. */
  readonly jitter?: number;
  /** Uniform random numbers in [0, 1); Math.random by default. */
  readonly random?: () => number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier: number;
  readonly jitter: number;
  private readonly random: () => number;
  private n = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 100;
    this.maxMs = options.maxMs ?? 10_000;
    this.multiplier = options.multiplier ?? 2;
    this.jitter = options.jitter ?? 0.2;
    this.random = options.random ?? Math.random;
    if (!(this.initialMs > 0) || !(this.maxMs >= this.initialMs) || !(this.multiplier >= 1) || !(this.jitter >= 0 && this.jitter <= 1)) {
      throw new InvalidArgumentError(
        `bad backoff: initialMs ${this.initialMs} > 0, maxMs ${this.maxMs} >= initialMs, multiplier ${this.multiplier} >= 1, jitter ${this.jitter} in 0..1 are required`,
      );
    }
  }

  /** How many delays have been handed out since the last reset. */
  get attempt(): number {
    return this.n;
  }

  /** The next delay in milliseconds (whole). */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * this.multiplier ** this.n);
    this.n++;
    const factor = 1 + this.jitter * (2 * this.random() - 1);
    return Math.max(0, Math.min(this.maxMs, Math.round(base * factor)));
  }

  /** Back to the first delay (after a success). */
  reset(): void {
    this.n = 0;
  }
}

export type TimerHandle = unknown;

/** The time functions the client uses; tests pass a fake one. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface RetryLoopEvents {
  /** Called before each attempt is scheduled, with its number (1-based) and delay. */
  readonly onScheduled?: (attempt: number, delayMs: number) => void;
  /** Called when an attempt failed. */
  readonly onFailure?: (attempt: number, error: unknown) => void;
}

/**
 * Runs `attempt` after a backoff delay until it resolves; each rejection schedules the next
 * attempt with the next delay. stop() cancels a pending attempt (an attempt already running
 * finishes, and its result is ignored).
 *
 * Invariant: at most one attempt is scheduled or running at a time.
 */
export class RetryLoop {
  private timer: TimerHandle | undefined;
  /** Bumped by start() and stop(): callbacks of an older run do nothing. */
  private run = 0;
  private stopped = true;
  private attempts = 0;

  constructor(
    private readonly attempt: () => Promise<void>,
    private readonly backoff: Backoff,
    private readonly clock: Clock = systemClock,
    private readonly events: RetryLoopEvents = {},
  ) {}

  get active(): boolean {
    return !this.stopped;
  }

  /** Starts retrying (no-op when already active). The first attempt waits the first delay. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.run++;
    this.attempts = 0;
    this.backoff.reset();
    this.schedule(this.run);
  }

  stop(): void {
    this.stopped = true;
    this.run++;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(run: number): void {
    const delay = this.backoff.next();
    this.attempts++;
    const n = this.attempts;
    this.events.onScheduled?.(n, delay);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (run !== this.run) return;
      this.attempt().then(
        () => {
          if (run !== this.run) return;
          this.stopped = true;
          this.backoff.reset();
        },
        (err: unknown) => {
          if (run !== this.run) return;
          this.events.onFailure?.(n, err);
          this.schedule(run);
        },
      );
    }, delay);
  }
}
