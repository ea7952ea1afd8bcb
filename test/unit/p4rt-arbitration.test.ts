/** Election ids and the meaning of MasterArbitrationUpdate answers (P4Runtime spec 5.3-5.5); the PacketIn queue. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../core/errors.js';
import { decodeMessage, encodeMessage } from '../../core/proto.js';
import { arbitrationOutcome, fromUint128, toElectionId, toUint128 } from '../../controller/p4rt/arbitration.js';
import { AsyncQueue } from '../../controller/p4rt/async-queue.js';
import type { MasterArbitrationUpdate__Output } from '../../proto/types/p4/v1/MasterArbitrationUpdate.js';

function update(obj: Record<string, unknown>): MasterArbitrationUpdate__Output {
  return decodeMessage('p4.v1.MasterArbitrationUpdate', encodeMessage('p4.v1.MasterArbitrationUpdate', { device_id: 1, ...obj }));
}

describe('election ids', () => {
  it('converts 128-bit ids both ways', () => {
    const big = (5n << 64n) | 7n;
    expect(toUint128(big)).toEqual({ high: '5', low: '7' });
    expect(fromUint128(toUint128(big))).toBe(big);
    expect(toElectionId({ high: 5, low: 7 })).toBe(big);
    expect(toElectionId('42')).toBe(42n);
    expect(fromUint128(null)).toBeNull();
  });

  it('refuses 0, negatives and values past 128 bits', () => {
    expect(() => toElectionId(0)).toThrow(InvalidArgumentError);
    expect(() => toElectionId(-1)).toThrow(InvalidArgumentError);
    expect(() => toElectionId(1n << 128n)).toThrow(InvalidArgumentError);
    expect(() => toElectionId('ten')).toThrow(InvalidArgumentError);
  });
});

describe('arbitrationOutcome', () => {
  it('reads OK as primary, ALREADY_EXISTS as backup, NOT_FOUND as no primary', () => {
    expect(arbitrationOutcome(update({ election_id: { low: 10 }, status: { code: 0 } }), 10n)).toMatchObject({ role: 'primary', code: 'OK', primaryElectionId: 10n });
    expect(arbitrationOutcome(update({ election_id: { low: 20 }, status: { code: 6 } }), 10n)).toMatchObject({ role: 'backup', code: 'ALREADY_EXISTS', primaryElectionId: 20n });
    expect(arbitrationOutcome(update({ election_id: { low: 20 }, status: { code: 5 } }), 10n)).toMatchObject({ role: 'no-primary', code: 'NOT_FOUND' });
  });

  it('reads a missing status by the election id', () => {
    expect(arbitrationOutcome(update({ election_id: { low: 10 } }), 10n).role).toBe('primary');
    expect(arbitrationOutcome(update({ election_id: { low: 11 } }), 10n).role).toBe('backup');
  });
});

describe('AsyncQueue', () => {
  it('delivers in order, drops the oldest when full, and ends after draining', async () => {
    const q = new AsyncQueue<number>(2);
    q.push(1);
    q.push(2);
    q.push(3);
    expect(q.dropped).toBe(1);
    q.end();
    const got: number[] = [];
    for await (const n of q) got.push(n);
    expect(got).toEqual([2, 3]);
  });

  it('wakes a waiting consumer', async () => {
    let returned = false;
    const q = new AsyncQueue<string>(4, () => (returned = true));
    const it = q[Symbol.asyncIterator]();
    const next = it.next();
    q.push('a');
    expect(await next).toEqual({ value: 'a', done: false });
    await it.return!();
    expect(returned).toBe(true);
    expect((await it.next()).done).toBe(true);
  });
});
