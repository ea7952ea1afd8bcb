/**
 * TCP options (RFC 9293 3.2; window scale and timestamps RFC 7323; SACK RFC 2018): parsing what a
 * client sends and writing what the endpoint sends. Unknown options are skipped; a known option with
 * the wrong length is ignored (as Linux does); a length that runs past the header is malformed.
 */
import {
  TCP_MAX_WSCALE,
  TCP_OPT_EOL,
  TCP_OPT_MSS,
  TCP_OPT_MSS_LEN,
  TCP_OPT_NOP,
  TCP_OPT_SACK,
  TCP_OPT_SACK_BLOCK_LEN,
  TCP_OPT_SACK_PERMITTED,
  TCP_OPT_SACK_PERMITTED_LEN,
  TCP_OPT_TIMESTAMP,
  TCP_OPT_TIMESTAMP_LEN,
  TCP_OPT_WSCALE,
  TCP_OPT_WSCALE_LEN,
} from '../../core/header/tcp.js';

/** Options of one received segment. Absent options are -1 / false; SACK blocks are [left, right) pairs. */
export interface ParsedOptions {
  mss: number;
  wscale: number;
  sackPermitted: boolean;
  hasTimestamp: boolean;
  tsVal: number;
  tsEcr: number;
  /** Flat list left0, right0, left1, right1, ... (at most 4 blocks); empty when none. */
  sack: number[];
}

export function emptyOptions(): ParsedOptions {
  return { mss: -1, wscale: -1, sackPermitted: false, hasTimestamp: false, tsVal: 0, tsEcr: 0, sack: [] };
}

/** Parses the option bytes b[start, end). Returns null when an option length is malformed. */
export function parseOptions(b: Uint8Array, start: number, end: number): ParsedOptions | null {
  const o = emptyOptions();
  let i = start;
  while (i < end) {
    const kind = b[i]!;
    if (kind === TCP_OPT_EOL) break;
    if (kind === TCP_OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return null;
    const len = b[i + 1]!;
    if (len < 2 || i + len > end) return null;
    switch (kind) {
      case TCP_OPT_MSS:
        if (len === TCP_OPT_MSS_LEN) o.mss = (b[i + 2]! << 8) | b[i + 3]!;
        break;
      case TCP_OPT_WSCALE:
        // RFC 7323 2.3: a shift above 14 is used as 14.
        if (len === TCP_OPT_WSCALE_LEN) o.wscale = Math.min(b[i + 2]!, TCP_MAX_WSCALE);
        break;
      case TCP_OPT_SACK_PERMITTED:
        if (len === TCP_OPT_SACK_PERMITTED_LEN) o.sackPermitted = true;
        break;
      case TCP_OPT_TIMESTAMP:
        if (len === TCP_OPT_TIMESTAMP_LEN) {
          o.hasTimestamp = true;
          o.tsVal = readU32(b, i + 2);
          o.tsEcr = readU32(b, i + 6);
        }
        break;
      case TCP_OPT_SACK:
        if ((len - 2) % TCP_OPT_SACK_BLOCK_LEN === 0) {
          for (let j = i + 2; j + TCP_OPT_SACK_BLOCK_LEN <= i + len && o.sack.length < 8; j += TCP_OPT_SACK_BLOCK_LEN) {
            o.sack.push(readU32(b, j), readU32(b, j + 4));
          }
        }
        break;
      default:
        break;
    }
    i += len;
  }
  return o;
}

function readU32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

function writeU32(b: Uint8Array, i: number, v: number): void {
  b[i] = (v >>> 24) & 0xff;
  b[i + 1] = (v >>> 16) & 0xff;
  b[i + 2] = (v >>> 8) & 0xff;
  b[i + 3] = v & 0xff;
}

/** What a SYN-ACK carries. wscale / timestamps are omitted when < 0 / null. */
export interface SynAckOptions {
  mss: number;
  wscale: number;
  sackPermitted: boolean;
  timestamp: { tsVal: number; tsEcr: number } | null;
}

/**
 * SYN-ACK options in Linux's layout (so captures look familiar): MSS; then SACK-permitted and
 * timestamps packed as `SACKOK TS` (or `NOP NOP TS`, or `NOP NOP SACKOK`); then `NOP WS`.
 */
export function writeSynAckOptions(o: SynAckOptions): Buffer {
  const parts: number[] = [TCP_OPT_MSS, TCP_OPT_MSS_LEN, (o.mss >>> 8) & 0xff, o.mss & 0xff];
  if (o.timestamp) {
    if (o.sackPermitted) parts.push(TCP_OPT_SACK_PERMITTED, TCP_OPT_SACK_PERMITTED_LEN);
    else parts.push(TCP_OPT_NOP, TCP_OPT_NOP);
    parts.push(TCP_OPT_TIMESTAMP, TCP_OPT_TIMESTAMP_LEN, 0, 0, 0, 0, 0, 0, 0, 0);
  } else if (o.sackPermitted) {
    parts.push(TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_SACK_PERMITTED, TCP_OPT_SACK_PERMITTED_LEN);
  }
  if (o.wscale >= 0) parts.push(TCP_OPT_NOP, TCP_OPT_WSCALE, TCP_OPT_WSCALE_LEN, o.wscale);
  const b = Buffer.from(parts);
  if (o.timestamp) {
    writeU32(b, 8, o.timestamp.tsVal);
    writeU32(b, 12, o.timestamp.tsEcr);
  }
  return b;
}

/** Length of the options of a non-SYN segment with `tsEnabled` and `sackBlocks` blocks. */
export function segmentOptionsLength(tsEnabled: boolean, sackBlocks: number): number {
  return (tsEnabled ? 12 : 0) + (sackBlocks > 0 ? 4 + TCP_OPT_SACK_BLOCK_LEN * sackBlocks : 0);
}

/**
 * Writes `NOP NOP TS` (when ts) and `NOP NOP SACK blocks` into b at off; returns bytes written
 * (a multiple of 4). `sack` is the flat [left, right) list.
 */
export function writeSegmentOptions(b: Uint8Array, off: number, ts: { tsVal: number; tsEcr: number } | null, sack: readonly number[]): number {
  let i = off;
  if (ts) {
    b[i++] = TCP_OPT_NOP;
    b[i++] = TCP_OPT_NOP;
    b[i++] = TCP_OPT_TIMESTAMP;
    b[i++] = TCP_OPT_TIMESTAMP_LEN;
    writeU32(b, i, ts.tsVal);
    writeU32(b, i + 4, ts.tsEcr);
    i += 8;
  }
  if (sack.length > 0) {
    const blocks = sack.length / 2;
    b[i++] = TCP_OPT_NOP;
    b[i++] = TCP_OPT_NOP;
    b[i++] = TCP_OPT_SACK;
    b[i++] = 2 + blocks * TCP_OPT_SACK_BLOCK_LEN;
    for (const v of sack) {
      writeU32(b, i, v);
      i += 4;
    }
  }
  return i - off;
}
