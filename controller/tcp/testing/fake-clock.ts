/**
 * A fake monotonic clock for tests (gVisor faketime): time moves only through advance(), which
 * fires due timers in deadline order (ties in creation order). Handles are small objects.
 */
import { createHash } from 'node:crypto';
import type { Clock, RandomSource } from '../clock.js';

interface FakeTimer {
  at: number;
  id: number;
  fn: (() => void) | null;
}

export class FakeClock implements Clock {
  private t: number;
  private nextId = 1;
  private timers: FakeTimer[] = [];

  constructor(start = 1_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer: FakeTimer = { at: this.t + Math.max(0, ms), id: this.nextId++, fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(handle: unknown): void {
    const timer = handle as FakeTimer | null;
    if (timer) timer.fn = null;
  }

  /** Pending (not cancelled) timers. */
  get pending(): number {
    this.timers = this.timers.filter((x) => x.fn !== null);
    return this.timers.length;
  }

  /** Moves time forward by ms, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: FakeTimer | null = null;
      for (const x of this.timers) {
        if (x.fn && x.at <= end && (!next || x.at < next.at || (x.at === next.at && x.id < next.id))) next = x;
      }
      if (!next) break;
      this.t = Math.max(this.t, next.at);
      const fn = next.fn!;
      next.fn = null;
      fn();
      this.timers = this.timers.filter((x) => x.fn !== null);
    }
    this.t = end;
  }
}

/** Deterministic random bytes from a seed (SHA-256 in counter mode). */
export class SeededRandom implements RandomSource {
  private counter = 0;
  constructor(private readonly seed: string = 'prism') {}
  randomBytes(n: number): Buffer {
    const out: Buffer[] = [];
    let have = 0;
    while (have < n) {
      const b = createHash('sha256').update(`${this.seed}:${this.counter++}`).digest();
      out.push(b);
      have += b.length;
    }
    return Buffer.concat(out).subarray(0, n);
  }
}
