/** Reconnect backoff schedule and retry loop, on a fake clock. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../core/errors.js';
import { Backoff, RetryLoop, type Clock } from '../../controller/p4rt/backoff.js';

/** A clock whose time moves only when the test advances it. */
class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): number {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  /** Runs every timer due up to now + ms, in time order, letting promise callbacks settle in between. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const next = [...this.timers.entries()].filter(([, v]) => v.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
    this.t = end;
  }
}

describe('Backoff', () => {
  it('doubles from the initial delay up to the cap', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 2000, multiplier: 2, jitter: 0.2, random: () => 0.5 });
    expect(Array.from({ length: 8 }, () => b.next())).toEqual([100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    expect(b.attempt).toBe(8);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('jitters within ±jitter and never past the cap', () => {
    const low = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.2, random: () => 0 });
    const high = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.2, random: () => 0.999999 });
    expect([low.next(), low.next(), low.next()]).toEqual([80, 160, 320]);
    expect([high.next(), high.next(), high.next(), high.next(), high.next()]).toEqual([120, 240, 480, 960, 1000]);
    const rnd = new Backoff();
    for (let i = 0; i < 50; i++) expect(rnd.next()).toBeLessThanOrEqual(10_000);
  });

  it('refuses nonsense', () => {
    expect(() => new Backoff({ initialMs: 0 })).toThrow(InvalidArgumentError);
    expect(() => new Backoff({ initialMs: 100, maxMs: 50 })).toThrow(InvalidArgumentError);
    expect(() => new Backoff({ jitter: 2 })).toThrow(InvalidArgumentError);
  });
});

describe('RetryLoop', () => {
  it('retries on the backoff schedule until an attempt succeeds, then stops', async () => {
    const clock = new FakeClock();
    const times: number[] = [];
    let failuresLeft = 5;
    const loop = new RetryLoop(
      async () => {
        times.push(clock.now());
        if (failuresLeft-- > 0) throw new Error('switch down');
      },
      new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.5 }),
      clock,
    );
    loop.start();
    await clock.advance(99);
    expect(times).toEqual([]);
    await clock.advance(10_000);
    // delays 100, 200, 400, 800, 1000 (capped), 1000
    expect(times).toEqual([100, 300, 700, 1500, 2500, 3500]);
    expect(loop.active).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('starts again from the initial delay after a success', async () => {
    const clock = new FakeClock();
    const times: number[] = [];
    let fail = 2;
    const loop = new RetryLoop(
      async () => {
        times.push(clock.now());
        if (fail-- > 0) throw new Error('down');
      },
      new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.5 }),
      clock,
    );
    loop.start();
    await clock.advance(1000);
    expect(times).toEqual([100, 300, 700]);
    loop.start();
    await clock.advance(1000);
    expect(times).toEqual([100, 300, 700, 1100]);
  });

  it('stop() cancels the pending attempt and ignores one in flight', async () => {
    const clock = new FakeClock();
    let calls = 0;
    let release: () => void = () => {};
    const loop = new RetryLoop(
      () => {
        calls++;
        return new Promise<void>((_, reject) => {
          release = () => reject(new Error('late failure'));
        });
      },
      new Backoff({ initialMs: 100, random: () => 0.5 }),
      clock,
    );
    loop.start();
    await clock.advance(100);
    expect(calls).toBe(1);
    loop.stop();
    release();
    await clock.advance(10_000);
    expect(calls).toBe(1);
    expect(clock.pending).toBe(0);
    loop.start();
    loop.stop();
    expect(clock.pending).toBe(0);
  });

  it('reports each scheduled attempt and failure', async () => {
    const clock = new FakeClock();
    const seen: string[] = [];
    let fail = 1;
    const loop = new RetryLoop(
      async () => {
        if (fail-- > 0) throw new Error('nope');
      },
      new Backoff({ initialMs: 50, random: () => 0.5 }),
      clock,
      { onScheduled: (n, ms) => seen.push(`scheduled ${n} in ${ms}`), onFailure: (n, e) => seen.push(`failed ${n}: ${(e as Error).message}`) },
    );
    loop.start();
    await clock.advance(1000);
    expect(seen).toEqual(['scheduled 1 in 50', 'failed 1: nope', 'scheduled 2 in 100']);
  });
});
