/**
 * SYN cookies (RFC 4987 section 3.6, in the manner of Linux net/ipv4/syncookies.c): the passive
 * open keeps no state. Everything the connection needs later travels in our initial sequence
 * number and, when the client offers timestamps, in the low bits of our first TSval.
 *
 * ISN layout (32 bits):
 *   bits 31..26  time counter modulo 64 (counter = floor(now / periodMs))
 *   bits 25..24  index into COOKIE_MSS_TABLE (the largest entry not above the client's MSS)
 *   bits 23..0   MAC: HMAC-SHA256(secret, client ip, client port, vip, vip port, client ISN,
 *                full counter, MSS index), first 24 bits
 * A cookie is accepted when its MAC verifies for the full counter reconstructed from the 6 bits
 * and its age is at most maxAge periods.
 *
 * TSval low 6 bits (Linux TS_OPT_*): bits 3..0 the client's window shift (0xf: no window
 * scaling), bit 4 SACK-permitted, bit 5 ECN (always 0: ECN is not negotiated). The TSval is
 * rounded down (never up) so that the connection's timestamp clock, which continues from
 * now + tsOffset, never goes backwards after the handshake.
 * Without timestamps there is nowhere to keep window scale and SACK: the SYN-ACK then offers
 * only MSS and the connection runs without window scaling and SACK (Linux does the same).
 */
import { createHmac } from 'node:crypto';
import { seq, seqGt, type SeqNum } from './seqnum.js';

/** MSS values a cookie can carry (Linux msstab for IPv4). */
export const COOKIE_MSS_TABLE: readonly number[] = [536, 1300, 1440, 1460];

const COUNTER_BITS = 6;
const COUNTER_MOD = 1 << COUNTER_BITS;
const MAC_MASK = 0xffffff;

export const TS_OPT_WSCALE_MASK = 0x0f;
export const TS_OPT_SACK = 0x10;
export const TS_OPT_ECN = 0x20;
export const TS_OPT_MASK = 0x3f;

export interface FourTuple {
  /** The client (remote) address and port. */
  readonly srcIp: number;
  readonly srcPort: number;
  /** The VIP (local) address and port. */
  readonly dstIp: number;
  readonly dstPort: number;
}

export interface CookieConfig {
  /** Length of one counter period in ms (Linux: 60 s; here 64 s by default). */
  readonly periodMs: number;
  /** Oldest accepted counter age in periods (Linux MAX_SYNCOOKIE_AGE = 2). */
  readonly maxAge: number;
}

export type CookieCheck = { ok: true; mssIndex: number } | { ok: false; reason: 'badCookie' | 'expiredCookie' };

export class SynCookies {
  private readonly input = Buffer.alloc(22);

  constructor(
    private readonly secret: Buffer,
    private readonly config: CookieConfig,
  ) {
    if (config.maxAge >= COUNTER_MOD - 1) throw new RangeError(`cookie maxAge must be below ${COUNTER_MOD - 1}`);
  }

  counterAt(nowMs: number): number {
    return Math.floor(nowMs / this.config.periodMs);
  }

  /** Index of the largest table MSS not above the client's MSS (index 0 when the client's is smaller). */
  static mssIndex(clientMss: number): number {
    let idx = 0;
    for (let i = 0; i < COOKIE_MSS_TABLE.length; i++) if (COOKIE_MSS_TABLE[i]! <= clientMss) idx = i;
    return idx;
  }

  encode(t: FourTuple, clientIsn: SeqNum, mssIndex: number, nowMs: number): SeqNum {
    const counter = this.counterAt(nowMs);
    const mac = this.mac(t, clientIsn, counter, mssIndex);
    return seq(((counter % COUNTER_MOD) << 26) | (mssIndex << 24) | mac);
  }

  /** Checks cookie (= the ACK number minus one) against the client's ISN (= its sequence number minus one). */
  check(t: FourTuple, clientIsn: SeqNum, cookie: SeqNum, nowMs: number): CookieCheck {
    const now = this.counterAt(nowMs);
    const low = cookie >>> 26;
    const age = (((now % COUNTER_MOD) - low) % COUNTER_MOD + COUNTER_MOD) % COUNTER_MOD;
    const mssIndex = (cookie >>> 24) & 0x3;
    if (this.mac(t, clientIsn, now - age, mssIndex) !== (cookie & MAC_MASK)) return { ok: false, reason: 'badCookie' };
    if (age > this.config.maxAge) return { ok: false, reason: 'expiredCookie' };
    return { ok: true, mssIndex };
  }

  /** Per-4-tuple timestamp offset (random to an observer, recomputable without state). */
  tsOffset(t: FourTuple): number {
    const h = createHmac('sha256', this.secret);
    this.fillTuple(t);
    this.input.writeUInt32BE(0x74736f66, 12); // "tsof": domain separation from the cookie MAC
    this.input.fill(0, 16);
    h.update(this.input);
    return h.digest().readUInt32BE(0);
  }

  private mac(t: FourTuple, clientIsn: SeqNum, counter: number, mssIndex: number): number {
    this.fillTuple(t);
    this.input.writeUInt32BE(clientIsn >>> 0, 12);
    this.input.writeUInt32BE(counter >>> 0, 16);
    this.input[20] = mssIndex;
    this.input[21] = 0x63; // "c"
    return createHmac('sha256', this.secret).update(this.input).digest().readUIntBE(0, 3);
  }

  private fillTuple(t: FourTuple): void {
    this.input.writeUInt32BE(t.srcIp >>> 0, 0);
    this.input.writeUInt16BE(t.srcPort, 4);
    this.input.writeUInt32BE(t.dstIp >>> 0, 6);
    this.input.writeUInt16BE(t.dstPort, 10);
  }
}

/** The 6 option bits of a cookie TSval. `clientWscale` < 0 means the client sent no window scale. */
export function encodeTsOptions(clientWscale: number, sackPermitted: boolean): number {
  return (clientWscale >= 0 ? clientWscale & TS_OPT_WSCALE_MASK : TS_OPT_WSCALE_MASK) | (sackPermitted ? TS_OPT_SACK : 0);
}

/** TSval for a SYN-ACK: the timestamp clock rounded down to carry the option bits. */
export function cookieTsVal(tsClock: number, options: number): number {
  let ts = ((tsClock & ~TS_OPT_MASK) | options) >>> 0;
  if (seqGt(seq(ts), seq(tsClock))) ts = (ts - (TS_OPT_MASK + 1)) >>> 0;
  return ts;
}

export interface DecodedTsOptions {
  /** The client's shift, or -1 when it did not offer window scaling. */
  clientWscale: number;
  sackPermitted: boolean;
}

/** Reads the option bits back from the echoed TSecr; null when the bits are impossible (ECN set, shift > 14). */
export function decodeTsOptions(tsEcr: number): DecodedTsOptions | null {
  if (tsEcr & TS_OPT_ECN) return null;
  const ws = tsEcr & TS_OPT_WSCALE_MASK;
  if (ws !== TS_OPT_WSCALE_MASK && ws > 14) return null;
  return { clientWscale: ws === TS_OPT_WSCALE_MASK ? -1 : ws, sackPermitted: (tsEcr & TS_OPT_SACK) !== 0 };
}
