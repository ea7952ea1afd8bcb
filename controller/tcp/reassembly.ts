/**
 * Out-of-order receive queue (RFC 9293 3.10.7.4 "segments with higher beginning sequence numbers
 * may be held for later processing"). Holds disjoint byte ranges beyond rcv_nxt, sorted; a new
 * segment only fills the gaps between ranges already held, so overlapping retransmissions never
 * duplicate or replace bytes. Bounded by a segment count; the caller bounds bytes by the window.
 * Also reports SACK blocks (RFC 2018 4: the block holding the most recent segment first).
 */
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, type SeqNum } from './seqnum.js';

interface Range {
  seq: SeqNum;
  data: Buffer;
}

export class ReassemblyQueue {
  private ranges: Range[] = [];
  private lastSeq: SeqNum | null = null;
  /** Bytes held. */
  bytes = 0;

  get empty(): boolean {
    return this.ranges.length === 0;
  }

  get segments(): number {
    return this.ranges.length;
  }

  /**
   * Adds data starting at s (after rcv_nxt). Returns false (and keeps nothing) when the pieces
   * would exceed maxRanges.
   */
  insert(s: SeqNum, data: Buffer, maxRanges: number): boolean {
    const end = seqAdd(s, data.length);
    const pieces: Range[] = [];
    let cur = s;
    for (const r of this.ranges) {
      const rEnd = seqAdd(r.seq, r.data.length);
      if (seqLe(rEnd, cur)) continue;
      if (seqGe(r.seq, end)) break;
      if (seqGt(r.seq, cur)) pieces.push({ seq: cur, data: Buffer.from(data.subarray(seqDiff(s, cur), seqDiff(s, r.seq))) });
      if (seqGt(rEnd, cur)) cur = rEnd;
      if (seqGe(cur, end)) break;
    }
    if (seqLt(cur, end)) pieces.push({ seq: cur, data: Buffer.from(data.subarray(seqDiff(s, cur))) });
    if (pieces.length === 0) {
      this.lastSeq = s;
      return true;
    }
    if (this.ranges.length + pieces.length > maxRanges) return false;
    for (const p of pieces) {
      this.bytes += p.data.length;
      let i = this.ranges.length;
      while (i > 0 && seqGt(this.ranges[i - 1]!.seq, p.seq)) i--;
      this.ranges.splice(i, 0, p);
    }
    this.lastSeq = s;
    return true;
  }

  /** Removes and returns the bytes that continue rcv_nxt (null when none do). */
  take(rcvNxt: SeqNum): Buffer | null {
    const out: Buffer[] = [];
    let next = rcvNxt;
    while (this.ranges.length > 0) {
      const r = this.ranges[0]!;
      if (seqGt(r.seq, next)) break;
      this.ranges.shift();
      this.bytes -= r.data.length;
      const skip = seqDiff(r.seq, next);
      if (skip < r.data.length) {
        const part = r.data.subarray(skip);
        out.push(part);
        next = seqAdd(next, part.length);
      }
    }
    if (this.ranges.length === 0) this.lastSeq = null;
    return out.length === 0 ? null : out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /** Up to maxBlocks SACK blocks [left, right) as a flat list, the most recent first. */
  sackBlocks(maxBlocks: number): number[] {
    const blocks: number[] = [];
    for (const r of this.ranges) {
      const end = seqAdd(r.seq, r.data.length);
      const n = blocks.length;
      if (n > 0 && blocks[n - 1] === r.seq) blocks[n - 1] = end;
      else blocks.push(r.seq, end);
    }
    const last = this.lastSeq;
    if (last !== null) {
      for (let i = 0; i < blocks.length; i += 2) {
        if (seqGe(last, blocks[i]! as SeqNum) && seqLt(last, blocks[i + 1]! as SeqNum) && i > 0) {
          const [l, r] = [blocks[i]!, blocks[i + 1]!];
          blocks.splice(i, 2);
          blocks.unshift(l, r);
          break;
        }
      }
    }
    return blocks.slice(0, maxBlocks * 2);
  }

  clear(): void {
    this.ranges = [];
    this.bytes = 0;
    this.lastSeq = null;
  }
}
