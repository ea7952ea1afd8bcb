/** Wrap-safe sequence number arithmetic (RFC 9293 3.4) and the RFC 6298 estimator. */
import { describe, expect, it } from 'vitest';
import { backoff, rttSample } from '../../controller/tcp/rto.js';
import { inRange, inWindow, seq, seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from '../../controller/tcp/seqnum.js';

describe('SeqNum', () => {
  it('compares across the 2^32 wrap', () => {
    const a = seq(0xfffffff0);
    const b = seqAdd(a, 0x20);
    expect(b).toBe(0x10);
    expect(seqLt(a, b)).toBe(true);
    expect(seqGt(b, a)).toBe(true);
    expect(seqLe(a, a) && seqGe(a, a)).toBe(true);
    expect(seqDiff(a, b)).toBe(0x20);
    expect(seqDiff(b, a)).toBe(-0x20);
    expect(seqAdd(seq(5), -10)).toBe(0xfffffffb);
  });
  it('inWindow and inRange', () => {
    const first = seq(0xffffff00);
    expect(inWindow(seq(0xffffff00), first, 0x200)).toBe(true);
    expect(inWindow(seq(0x000000ff), first, 0x200)).toBe(true);
    expect(inWindow(seq(0x00000100), first, 0x200)).toBe(false);
    expect(inWindow(seq(0xfffffeff), first, 0x200)).toBe(false);
    expect(inWindow(first, first, 0)).toBe(false);
    expect(inRange(seq(3), seq(0xfffffffe), seq(4))).toBe(true);
    expect(inRange(seq(4), seq(0xfffffffe), seq(4))).toBe(false);
  });
});

describe('RTO (RFC 6298)', () => {
  const cfg = { initialMs: 1000, minMs: 200, maxMs: 60_000 };
  it('first sample: srtt = r, rttvar = r/2, rto = srtt + 4 rttvar', () => {
    const s = { srtt: 0, rttvar: 0, rto: 1000 };
    rttSample(s, 100, cfg);
    expect(s).toEqual({ srtt: 100, rttvar: 50, rto: 300 });
    rttSample(s, 100, cfg);
    expect(s.srtt).toBe(100);
    expect(s.rttvar).toBe(37.5);
    expect(s.rto).toBe(250);
  });
  it('backoff doubles up to the cap', () => {
    expect(backoff(1000, cfg)).toBe(2000);
    expect(backoff(40_000, cfg)).toBe(60_000);
  });
});
