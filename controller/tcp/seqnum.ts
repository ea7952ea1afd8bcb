/**
 * TCP sequence numbers (RFC 9293 section 3.4): unsigned 32-bit values compared modulo 2^32.
 * Never compare raw sequence numbers with `<`; use these helpers, which stay correct across the wrap.
 * Values are plain numbers in [0, 2^32) branded as SeqNum so that a byte count is not mistaken for one.
 */
export type SeqNum = number & { readonly __seqnum: unique symbol };

/** Wraps any integer into a sequence number. */
export function seq(n: number): SeqNum {
  return (n >>> 0) as SeqNum;
}

/** a + n (n may be negative). */
export function seqAdd(a: SeqNum, n: number): SeqNum {
  return ((a + n) >>> 0) as SeqNum;
}

/** The signed distance b - a in (-2^31, 2^31]: positive when b is after a. */
export function seqDiff(a: SeqNum, b: SeqNum): number {
  return (b - a) | 0;
}

/** a < b modulo 2^32. */
export function seqLt(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGe(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) >= 0;
}

export function seqMax(a: SeqNum, b: SeqNum): SeqNum {
  return seqGe(a, b) ? a : b;
}

export function seqMin(a: SeqNum, b: SeqNum): SeqNum {
  return seqLe(a, b) ? a : b;
}

/** first <= v < first + size (gVisor seqnum.InWindow). A size of 0 contains nothing. */
export function inWindow(v: SeqNum, first: SeqNum, size: number): boolean {
  const d = (v - first) >>> 0;
  return d < size;
}

/** a <= v < b (gVisor seqnum.InRange). */
export function inRange(v: SeqNum, a: SeqNum, b: SeqNum): boolean {
  return ((v - a) >>> 0) < ((b - a) >>> 0);
}
