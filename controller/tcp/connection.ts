/**
 * One client connection after the handshake: the RFC 9293 synchronized states (ESTABLISHED,
 * CLOSE-WAIT, LAST-ACK, FIN-WAIT-1/2, CLOSING, TIME-WAIT), receive side (reassembly, delayed ACK,
 * window), send side (queue, retransmission, FIN), RFC 5961 checks, PAWS, and the hand-off
 * operations (freeze, exportState, setReceiveWindow).
 *
 * Compactness: every field is a number, boolean or reference; buffers and the out-of-order queue
 * exist only while they hold bytes; one timer handle serves every deadline (delayed ACK,
 * retransmission/persist, TIME-WAIT/FIN-WAIT-2). An idle ESTABLISHED connection holds no buffer
 * and no timer.
 *
 * Invariant: `frozen` implies no timer is armed and no segment is emitted.
 * Invariant: sndUna <= sndNxt <= sndMax; the send queue holds the bytes from sndUna on.
 */
import { TcpStateError } from '../../core/errors.js';
import { numberToIpv4 } from '../../core/header/addr.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../core/header/tcp.js';
import type { ConnectionHost } from './host.js';
import { buildPacket } from './packet-builder.js';
import { ReassemblyQueue } from './reassembly.js';
import type { TcpRepairState } from './repair-state.js';
import { backoff, rttSample } from './rto.js';
import { segmentLength, type Segment } from './segment.js';
import { inWindow, seq, seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax, type SeqNum } from './seqnum.js';
import { HandoffState, TCP_STATE_NAMES, TcpState, type CloseReason, type TcpStateName } from './states.js';

const ACK_NONE = 0;
const ACK_DELAYED = 1;
const ACK_NOW = 2;

/** Timestamp option bytes (NOP NOP TS) on every segment when timestamps are on (RFC 7323 3.2). */
const TS_OPTION_BYTES = 12;

/** Parameters of a new connection (from a validated cookie, or from an adopted state). */
export interface ConnectionInit<L> {
  readonly link: L;
  readonly remoteIp: number;
  readonly remotePort: number;
  readonly localIp: number;
  readonly localPort: number;
  readonly iss: SeqNum;
  readonly irs: SeqNum;
  /** The client's MSS (the largest segment we may send, options excluded). */
  readonly mss: number;
  /** -1: no window scaling on this connection. */
  readonly sndWscale: number;
  readonly rcvWscale: number;
  readonly sackPermitted: boolean;
  readonly timestamps: boolean;
  readonly tsOffset: number;
}

export type ArrivalResult = 'done' | 'reopen';

export class TcpConnection<L = unknown> {
  /** Application slot (the HTTP layer keeps its session here). */
  user: unknown = null;
  link: L;
  readonly remoteIp: number;
  readonly remotePort: number;
  readonly localIp: number;
  readonly localPort: number;

  private st: TcpState = TcpState.ESTABLISHED;
  private handoff: HandoffState = HandoffState.LIVE;
  private closeReason: CloseReason | null = null;

  // Send sequence space (RFC 9293 3.3.1).
  private sndUna: SeqNum;
  private sndNxt: SeqNum;
  /** Highest sequence number sent + 1 (sndNxt moves back on a retransmission timeout). */
  private sndMax: SeqNum;
  /** The client's window in bytes (scaled). */
  private sndWnd = 0;
  private sndWl1: SeqNum;
  private sndWl2: SeqNum;
  private maxSndWnd = 0;
  private sndWscale: number;
  private mss: number;
  private sndQ: Buffer | null = null;
  private finQueued = false;
  /** Sequence number of our FIN once sent; -1 before. */
  private finSeq = -1;
  private cwnd: number;
  private dupAcks = 0;

  // Receive sequence space.
  private rcvNxt: SeqNum;
  /** Right edge of the window we have offered (never moved left, RFC 9293 3.8.6.2.2). */
  private rcvAdv: SeqNum;
  private rcvWscale: number;
  /** Window (bytes) in the last segment we sent. */
  private lastWndSent = 0;
  private zeroWindow = false;
  private unread: Buffer | null = null;
  private ooo: ReassemblyQueue | null = null;
  /** Sequence number of a FIN received beyond rcv_nxt; -1 when none. */
  private oooFinSeq = -1;
  private peerFin = false;

  // Options.
  /** Whether window scaling was negotiated (a shift of 0 on both sides is possible). */
  private wscaleNegotiated: boolean;
  private readonly sackOk: boolean;
  private readonly tsOk: boolean;
  private tsOffset: number;
  private tsRecent = 0;
  private lastAckSent: SeqNum;

  // Timers: one handle for every deadline; 0 means unset.
  private timer: unknown = null;
  private timerAt = 0;
  private ackAt = 0;
  private rtoAt = 0;
  private waitAt = 0;
  private ackMode = ACK_NONE;
  private fullSegsUnacked = 0;
  /** True while the endpoint is processing a segment for this connection (ACKs are coalesced). */
  private busy = false;

  // RFC 6298.
  private srtt = 0;
  private rttvar = 0;
  private rto: number;
  private retries = 0;
  /** Karn's timing without timestamps: sequence number being timed, -1 when none. */
  private rttSeq = -1;
  private rttTime = 0;

  constructor(
    private readonly host: ConnectionHost<TcpConnection<L>, L>,
    init: ConnectionInit<L>,
  ) {
    this.link = init.link;
    this.remoteIp = init.remoteIp;
    this.remotePort = init.remotePort;
    this.localIp = init.localIp;
    this.localPort = init.localPort;
    const iss1 = seqAdd(init.iss, 1);
    this.sndUna = iss1;
    this.sndNxt = iss1;
    this.sndMax = iss1;
    this.sndWl1 = init.irs;
    this.sndWl2 = iss1;
    this.rcvNxt = seqAdd(init.irs, 1);
    this.rcvAdv = this.rcvNxt;
    this.lastAckSent = this.rcvNxt;
    this.sndWscale = Math.max(init.sndWscale, 0);
    this.rcvWscale = init.sndWscale >= 0 ? init.rcvWscale : 0;
    this.wscaleNegotiated = init.sndWscale >= 0;
    this.mss = init.mss;
    this.sackOk = init.sackPermitted;
    this.tsOk = init.timestamps;
    this.tsOffset = init.tsOffset;
    this.rto = host.config.rtoInitialMs;
    this.cwnd = host.config.initialCwndSegments * this.sendMss();
  }

  // ---------------------------------------------------------------- observation

  get state(): TcpStateName {
    return TCP_STATE_NAMES[this.st] as TcpStateName;
  }

  /** CLOSED: forgotten by the endpoint (reset, aborted, timed out, detached, or fully closed). */
  get closed(): boolean {
    return this.st === TcpState.CLOSED;
  }

  get frozen(): boolean {
    return this.handoff === HandoffState.FROZEN;
  }

  /** In-order bytes received and not consumed yet. */
  get readable(): number {
    return this.unread ? this.unread.length : 0;
  }

  /** Bytes queued by send() and not acknowledged yet. */
  get unacknowledged(): number {
    return this.sndQ ? this.sndQ.length : 0;
  }

  get peerFinished(): boolean {
    return this.peerFin;
  }

  get remoteAddress(): string {
    return ipString(this.remoteIp);
  }

  get localAddress(): string {
    return ipString(this.localIp);
  }

  /** The unread bytes (a view; valid until the next consume or input). */
  peek(): Buffer {
    return this.unread ?? EMPTY;
  }

  /** Current TSval of this connection's timestamp clock. */
  tsNow(): number {
    return (Math.floor(this.host.clock.now()) + this.tsOffset) >>> 0;
  }

  // ---------------------------------------------------------------- application calls

  /** Drops n bytes from the front of the unread bytes; sends a window update when the window re-opens. */
  consume(n: number): void {
    if (!this.unread || n <= 0) return;
    this.unread = n >= this.unread.length ? null : this.unread.subarray(n);
    this.maybeWindowUpdate();
  }

  /** Asks for an immediate ACK (the HTTP layer calls it when a request head is complete). */
  ackNow(): void {
    this.ackMode = ACK_NOW;
    if (!this.busy) this.flush();
  }

  /**
   * 'zero': advertise a zero window from now on (a backend serves a transaction; the client must
   * not send the next request). 'open': advertise the free buffer again and send a window update.
   */
  setReceiveWindow(mode: 'zero' | 'open'): void {
    const zero = mode === 'zero';
    if (zero === this.zeroWindow) return;
    this.zeroWindow = zero;
    if (!zero) this.host.stats.windowUpdates++;
    this.ackMode = ACK_NOW;
    if (!this.busy) this.flush();
  }

  /** Queues data for the client. */
  send(data: Uint8Array): void {
    this.assertLive('send');
    if (this.finQueued || (this.st !== TcpState.ESTABLISHED && this.st !== TcpState.CLOSE_WAIT)) {
      throw new TcpStateError('send', this.state, 'the connection is closing or closed for sending');
    }
    if (data.length === 0) return;
    const b = Buffer.from(data);
    this.sndQ = this.sndQ ? Buffer.concat([this.sndQ, b]) : b;
    this.transmit();
  }

  /** Sends FIN after every queued byte (RFC 9293 3.10.4 CLOSE). Idempotent. */
  end(): void {
    this.assertLive('end');
    if (this.finQueued || this.st === TcpState.CLOSED) return;
    if (this.st === TcpState.ESTABLISHED) this.st = TcpState.FIN_WAIT_1;
    else if (this.st === TcpState.CLOSE_WAIT) this.st = TcpState.LAST_ACK;
    else return;
    this.finQueued = true;
    this.transmit();
  }

  /** Sends RST (RFC 9293 3.10.5 ABORT) and forgets the connection. Nothing is sent from TIME-WAIT or when closed. */
  abort(): void {
    if (this.st === TcpState.CLOSED) return;
    if (this.st !== TcpState.TIME_WAIT) this.emit(TCP_RST | TCP_ACK, this.sndMax, null, true);
    this.finish('aborted');
  }

  /**
   * Stops the connection emitting anything: pending ACKs are sent first, then timers stop and
   * every later segment for it is dropped (counted as drops.frozen; the client retransmits).
   * Out-of-order bytes are discarded (SACK reneging, RFC 2018 8: the client retransmits them).
   */
  freeze(): void {
    if (this.frozen || this.st === TcpState.CLOSED) return;
    this.flush();
    this.handoff = HandoffState.FROZEN;
    this.ackAt = this.rtoAt = this.waitAt = 0;
    this.ackMode = ACK_NONE;
    this.rearm();
    this.ooo = null;
    this.oooFinSeq = -1;
  }

  /** Cancels a freeze (the hand-off did not happen): the connection resumes and re-sends an ACK. */
  thaw(): void {
    if (!this.frozen) return;
    this.handoff = HandoffState.LIVE;
    this.ackMode = ACK_NOW;
    this.flush();
  }

  /**
   * Everything TCP_REPAIR needs to materialise this connection on a backend, plus the unread
   * bytes. Only for a frozen ESTABLISHED connection with nothing of ours unacknowledged.
   */
  exportState(): { state: TcpRepairState; unread: Buffer } {
    if (!this.frozen) throw new TcpStateError('exportState', this.state, 'freeze() the connection first');
    if (this.st !== TcpState.ESTABLISHED) throw new TcpStateError('exportState', this.state, 'only an ESTABLISHED connection can be handed off');
    if (this.sndQ || this.sndUna !== this.sndMax) throw new TcpStateError('exportState', this.state, 'data sent by the controller is not acknowledged yet');
    const now = this.host.clock.now();
    const state: TcpRepairState = {
      localIp: this.localAddress,
      localPort: this.localPort,
      remoteIp: this.remoteAddress,
      remotePort: this.remotePort,
      sndUna: this.sndUna,
      sndNxt: this.sndNxt,
      rcvNxt: this.rcvNxt,
      sndWl1: this.sndWl1,
      sndWnd: this.sndWnd,
      sndWndRaw: this.sndWnd >>> this.sndWscale,
      maxWindow: this.maxSndWnd,
      rcvWnd: this.lastWndSent,
      rcvWup: this.lastAckSent,
      wscaleOk: this.wscaleNegotiated,
      sndWscale: this.sndWscale,
      rcvWscale: this.rcvWscale,
      mss: this.mss,
      sackPermitted: this.sackOk,
      timestamps: this.tsOk,
      tsVal: this.tsNow(),
      tsOffset: this.tsOffset >>> 0,
      tsRecent: this.tsRecent,
      exportedAtMs: now,
    };
    return { state, unread: Buffer.from(this.peek()) };
  }

  /** Forgets a frozen connection without sending anything (the backend keeps it). */
  detach(): void {
    if (this.st === TcpState.CLOSED) return;
    this.finish('detached');
  }

  // ---------------------------------------------------------------- endpoint calls

  /** Sets the send window from the ACK that completed the handshake (RFC 7323 2.2: scaled). */
  initSendWindow(window: number, wl1: SeqNum, tsVal: number | null): void {
    this.sndWnd = window << this.sndWscale;
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = wl1;
    if (tsVal !== null) this.tsRecent = tsVal;
    // The SYN-ACK offered min(rcvBuffer, 65535), unscaled (RFC 7323 2.2).
    const offered = Math.min(this.host.config.rcvBuffer, 65535);
    this.rcvAdv = seqAdd(this.rcvNxt, offered);
    this.lastWndSent = offered;
  }

  /** Restores a state handed back by a backend (endpoint.adopt). */
  restore(s: TcpRepairState, unread: Buffer, link: L, tsFloor: number, unacked: Buffer = Buffer.alloc(0)): void {
    this.link = link;
    this.handoff = HandoffState.LIVE;
    this.st = TcpState.ESTABLISHED;
    this.closeReason = null;
    // The backend's send queue from snd_una (sent but unacknowledged, then unsent) becomes ours:
    // retransmitted on RTO, trimmed by the client's ACKs, the unsent part sent by transmit().
    const withTail = unacked.length > 0;
    this.sndUna = seq(withTail ? s.sndUna : s.sndNxt);
    this.sndNxt = seq(s.sndNxt);
    this.sndMax = seq(s.sndNxt);
    this.sndWl1 = seq(s.sndWl1);
    this.sndWl2 = seq(s.sndUna);
    this.sndWscale = s.sndWscale;
    this.rcvWscale = s.rcvWscale;
    this.wscaleNegotiated = s.wscaleOk;
    this.sndWnd = s.sndWnd;
    this.maxSndWnd = Math.max(s.maxWindow, s.sndWnd);
    this.mss = s.mss;
    this.rcvNxt = seq(s.rcvNxt);
    this.lastAckSent = this.rcvNxt;
    this.rcvAdv = seqAdd(this.rcvNxt, s.rcvWnd);
    this.zeroWindow = false;
    this.unread = unread.length > 0 ? Buffer.from(unread) : null;
    this.ooo = null;
    this.oooFinSeq = -1;
    this.peerFin = false;
    this.sndQ = withTail ? Buffer.from(unacked) : null;
    this.finQueued = false;
    this.finSeq = -1;
    this.dupAcks = 0;
    this.retries = 0;
    this.rttSeq = -1;
    this.cwnd = this.host.config.initialCwndSegments * this.sendMss();
    if (withTail && this.sndUna !== this.sndNxt) this.rtoAt = Math.floor(this.host.clock.now()) + this.rto;
    this.tsRecent = s.tsRecent;
    // TSval never goes backwards (RFC 7323 5.4, PAWS at the client): continue from the larger of
    // our clock and the backend's.
    const nowMs = Math.floor(this.host.clock.now());
    const ours = (nowMs + this.tsOffset) >>> 0;
    const target = seqGe(seq(ours), seq(tsFloor)) ? ours : tsFloor >>> 0;
    this.tsOffset = (target - nowMs) >>> 0;
  }

  /** Runs a callback with ACK coalescing, then sends what is due. */
  withBusy(fn: () => void): void {
    const outer = this.busy;
    this.busy = true;
    try {
      fn();
    } finally {
      this.busy = outer;
    }
    if (!outer) this.flush();
  }

  /** Processes one segment for this connection (RFC 9293 3.10.7.4 "Otherwise"). */
  arrive(seg: Segment): ArrivalResult {
    const stats = this.host.stats;
    if (this.frozen) {
      stats.drops.frozen++;
      return 'done';
    }
    if (this.st === TcpState.CLOSED) return 'done';
    let result: ArrivalResult = 'done';
    this.withBusy(() => {
      result = this.process(seg);
    });
    return result;
  }

  private process(seg: Segment): ArrivalResult {
    const stats = this.host.stats;
    const cfg = this.host.config;
    const flags = seg.flags;
    const opts = seg.options;
    const len = segmentLength(seg);

    // RFC 6191 / Linux: a SYN with a higher sequence number may reuse a TIME-WAIT 4-tuple.
    if (flags & TCP_SYN && this.st === TcpState.TIME_WAIT && seqGt(seg.seq, this.rcvNxt) &&
      (!this.tsOk || !opts.hasTimestamp || seqGt(seq(opts.tsVal), seq(this.tsRecent)))) {
      this.finish('normal');
      return 'reopen';
    }
    // RFC 5961 4.2: a SYN on a synchronized connection, whatever its sequence number, gets a challenge ACK.
    if (flags & TCP_SYN) {
      stats.drops.synInSynchronized++;
      this.challengeAck();
      return 'done';
    }
    // PAWS (RFC 7323 5.3 R1).
    if (this.tsOk && opts.hasTimestamp && !(flags & TCP_RST) && this.tsRecent !== 0 && seqLt(seq(opts.tsVal), seq(this.tsRecent))) {
      stats.drops.paws++;
      this.ackMode = ACK_NOW;
      return 'done';
    }
    // Acceptability (RFC 9293 3.10.7.4, first check): the window is what we have offered.
    const wnd = Math.max(seqDiff(this.rcvNxt, this.rcvAdv), 0);
    let acceptable: boolean;
    if (len === 0) acceptable = wnd === 0 ? seg.seq === this.rcvNxt : inWindow(seg.seq, this.rcvNxt, wnd);
    else acceptable = wnd > 0 && (inWindow(seg.seq, this.rcvNxt, wnd) || inWindow(seqAdd(seg.seq, len - 1), this.rcvNxt, wnd));
    if (!acceptable) {
      if (flags & TCP_RST) {
        stats.drops.rstOutOfWindow++;
        return 'done';
      }
      if (seg.seq === seqAdd(this.rcvNxt, -1) && seg.payload.length <= 1 && !(flags & TCP_FIN)) stats.keepalivesAnswered++;
      else if (wnd === 0 && seg.seq === this.rcvNxt) stats.zeroWindowProbes++;
      else stats.drops.outOfWindow++;
      if (this.st === TcpState.TIME_WAIT && flags & TCP_FIN) this.waitAt = this.host.clock.now() + cfg.timeWaitMs;
      this.ackMode = ACK_NOW;
      return 'done';
    }
    // RFC 5961 3.2: RST.
    if (flags & TCP_RST) {
      if (seg.seq === this.rcvNxt) {
        this.finish(this.st === TcpState.TIME_WAIT ? 'normal' : 'reset');
      } else {
        stats.drops.rstNotExact++;
        this.challengeAck();
      }
      return 'done';
    }
    // ACK (RFC 9293 fifth check, RFC 5961 5.2).
    if (seqGt(seg.ack, this.sndMax)) {
      stats.drops.ackTooNew++;
      this.ackMode = ACK_NOW;
      return 'done';
    }
    if (seqLt(seg.ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) {
      stats.drops.ackTooOld++;
      this.challengeAck();
      return 'done';
    }
    // RFC 7323 4.3: remember the timestamp to echo.
    if (this.tsOk && opts.hasTimestamp && seqLe(seg.seq, this.lastAckSent)) this.tsRecent = opts.tsVal;

    this.processAck(seg);
    if (this.closed) return 'done';
    if (this.st === TcpState.TIME_WAIT) {
      if (flags & TCP_FIN) {
        this.ackMode = ACK_NOW;
        this.waitAt = this.host.clock.now() + cfg.timeWaitMs;
      }
      return 'done';
    }

    // Segment text (RFC 9293 seventh check).
    let delivered = false;
    let finNow = false;
    const receiving = this.st === TcpState.ESTABLISHED || this.st === TcpState.FIN_WAIT_1 || this.st === TcpState.FIN_WAIT_2;
    if (seg.payload.length > 0) {
      if (!receiving || this.peerFin) {
        stats.drops.dataAfterFin++;
      } else {
        delivered = this.receiveData(seg, wnd);
      }
    }
    // FIN (eighth check): processed only when every byte before it has arrived.
    if (flags & TCP_FIN && receiving && !this.peerFin) {
      const fs = seqAdd(seg.seq, seg.payload.length);
      if (fs === this.rcvNxt) finNow = true;
      else if (inWindow(fs, this.rcvNxt, wnd + 1)) {
        this.oooFinSeq = fs;
        this.ackMode = ACK_NOW;
      }
    }
    if (!finNow && this.oooFinSeq !== -1 && this.oooFinSeq === this.rcvNxt && !this.ooo) finNow = true;

    if (delivered) this.host.handler.data(this);
    if (this.closed || this.frozen) return 'done';
    if (finNow) this.receiveFin();
    return 'done';
  }

  /** Accepts payload within the window; returns true when in-order bytes were added. */
  private receiveData(seg: Segment, wnd: number): boolean {
    const cfg = this.host.config;
    let s = seg.seq;
    let data = seg.payload;
    // Trim what we already have and what lies beyond the offered window.
    const before = seqDiff(s, this.rcvNxt);
    if (before > 0) {
      data = data.subarray(before);
      s = this.rcvNxt;
    }
    const room = seqDiff(s, seqAdd(this.rcvNxt, wnd));
    if (data.length > room) data = data.subarray(0, Math.max(room, 0));
    if (data.length === 0) {
      this.ackMode = ACK_NOW;
      return false;
    }
    if (s === this.rcvNxt) {
      const hadOoo = this.ooo !== null;
      this.appendUnread(data);
      this.rcvNxt = seqAdd(this.rcvNxt, data.length);
      if (this.ooo) {
        const more = this.ooo.take(this.rcvNxt);
        if (more) {
          this.appendUnread(more);
          this.rcvNxt = seqAdd(this.rcvNxt, more.length);
        }
        if (this.ooo.empty) this.ooo = null;
      }
      if (hadOoo) {
        // RFC 5681 4.2: ACK at once when a segment fills a hole.
        this.ackMode = ACK_NOW;
      } else if (data.length >= this.recvMss()) {
        // RFC 5681 4.2 / 9293 3.8.6.3: at least every second full-sized segment.
        if (++this.fullSegsUnacked >= 2) this.ackMode = ACK_NOW;
      }
      if (this.ackMode === ACK_NONE) this.ackMode = ACK_DELAYED;
      return true;
    }
    // Out of order: hold it, and send a duplicate ACK at once (RFC 5681 4.2) with SACK blocks.
    const q = this.ooo ?? new ReassemblyQueue();
    if (!q.insert(s, Buffer.from(data), cfg.maxOooSegments)) this.host.stats.drops.oooQueueFull++;
    this.ooo = q.empty ? null : q;
    this.ackMode = ACK_NOW;
    return false;
  }

  private appendUnread(b: Buffer): void {
    this.unread = this.unread ? Buffer.concat([this.unread, b]) : Buffer.from(b);
  }

  private receiveFin(): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.peerFin = true;
    this.oooFinSeq = -1;
    this.ackMode = ACK_NOW;
    switch (this.st) {
      case TcpState.ESTABLISHED:
        this.st = TcpState.CLOSE_WAIT;
        break;
      case TcpState.FIN_WAIT_1:
        this.st = TcpState.CLOSING;
        break;
      case TcpState.FIN_WAIT_2:
        this.enterTimeWait();
        return;
      default:
        break;
    }
    this.host.handler.peerFinished(this);
  }

  private processAck(seg: Segment): void {
    const now = this.host.clock.now();
    const ack = seg.ack;
    const opts = seg.options;
    const window = seg.window << this.sndWscale;
    // RFC 9293 3.10.7.4: update the send window from newer segments only.
    let windowChanged = false;
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))) {
      windowChanged = window !== this.sndWnd;
      this.sndWnd = window;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (window > this.maxSndWnd) this.maxSndWnd = window;
    }
    if (seqGt(ack, this.sndUna)) {
      let acked = seqDiff(this.sndUna, ack);
      // RTT (RFC 7323 4.1 with timestamps; Karn's algorithm without).
      if (this.tsOk && opts.hasTimestamp && opts.tsEcr !== 0) {
        this.sampleRtt(seqDiff(seq(opts.tsEcr), seq(this.tsNow())));
      } else if (this.rttSeq !== -1 && seqGt(ack, seq(this.rttSeq))) {
        this.sampleRtt(now - this.rttTime);
        this.rttSeq = -1;
      }
      const qlen = this.sndQ ? this.sndQ.length : 0;
      const dataAcked = Math.min(acked, qlen);
      if (this.sndQ) this.sndQ = dataAcked >= qlen ? null : this.sndQ.subarray(dataAcked);
      this.sndUna = ack;
      if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
      this.retries = 0;
      this.dupAcks = 0;
      this.cwnd += Math.min(acked, this.sendMss());
      acked = 0;
      this.rtoAt = this.sndUna === this.sndMax ? 0 : now + this.rto;
      const finAcked = this.finSeq !== -1 && seqGt(ack, seq(this.finSeq));
      if (finAcked) {
        switch (this.st) {
          case TcpState.FIN_WAIT_1:
            this.st = TcpState.FIN_WAIT_2;
            this.waitAt = now + this.host.config.finWait2Ms;
            break;
          case TcpState.CLOSING:
            this.enterTimeWait();
            return;
          case TcpState.LAST_ACK:
            this.finish('normal');
            return;
          default:
            break;
        }
      }
    } else if (ack === this.sndUna && seg.payload.length === 0 && !windowChanged && !(seg.flags & TCP_FIN) && this.sndUna !== this.sndMax) {
      // RFC 5681 3.2: fast retransmit on the third duplicate ACK.
      if (++this.dupAcks === 3) {
        this.host.stats.retransmits++;
        this.retransmitFirst();
      }
    }
    this.transmit();
  }

  // ---------------------------------------------------------------- sending

  /** Sends queued data and FIN as far as the client's window and our congestion window allow. */
  private transmit(): void {
    if (this.frozen || this.st === TcpState.CLOSED || this.st === TcpState.TIME_WAIT) return;
    const now = this.host.clock.now();
    for (;;) {
      const qlen = this.sndQ ? this.sndQ.length : 0;
      const off = seqDiff(this.sndUna, this.sndNxt);
      const remaining = qlen - off;
      if (remaining > 0) {
        const limit = Math.min(this.sndWnd, this.cwnd) - off;
        if (limit <= 0) {
          // RFC 9293 3.8.6.1: zero window with nothing in flight: probe it (persist timer).
          if (this.sndWnd === 0 && this.sndUna === this.sndMax && this.rtoAt === 0) this.rtoAt = now + this.rto;
          break;
        }
        const n = Math.min(remaining, this.sendMss() - this.sackOptionBytes(), limit);
        const payload = this.sndQ!.subarray(off, off + n);
        let flags = TCP_ACK | TCP_PSH;
        // FIN follows the last queued byte (finQueued means no more data can be queued).
        if (off + n === qlen && this.finQueued) flags |= TCP_FIN;
        if (this.rttSeq === -1 && this.sndNxt === this.sndMax && !this.tsOk) {
          this.rttSeq = this.sndNxt;
          this.rttTime = now;
        }
        this.emit(flags, this.sndNxt, payload, false);
        this.sndNxt = seqAdd(this.sndNxt, n);
        if (flags & TCP_FIN) {
          this.finSeq = this.sndNxt;
          this.sndNxt = seqAdd(this.sndNxt, 1);
        }
        this.sndMax = seqMax(this.sndMax, this.sndNxt);
        if (this.rtoAt === 0) this.rtoAt = now + this.rto;
        if (flags & TCP_FIN) break;
        continue;
      }
      if (remaining === 0 && this.finQueued && (this.finSeq === -1 || this.sndNxt === seq(this.finSeq))) {
        this.finSeq = this.sndNxt;
        this.emit(TCP_FIN | TCP_ACK, this.sndNxt, null, false);
        this.sndNxt = seqAdd(this.sndNxt, 1);
        this.sndMax = seqMax(this.sndMax, this.sndNxt);
        if (this.rtoAt === 0) this.rtoAt = now + this.rto;
      }
      break;
    }
    this.rearm();
  }

  /** Retransmits the first unacknowledged segment (data, or FIN alone). */
  private retransmitFirst(): void {
    const qlen = this.sndQ ? this.sndQ.length : 0;
    this.rttSeq = -1;
    if (qlen > 0) {
      const n = Math.min(qlen, this.sendMss() - this.sackOptionBytes());
      let flags = TCP_ACK | TCP_PSH;
      if (n === qlen && this.finSeq !== -1) flags |= TCP_FIN;
      this.emit(flags, this.sndUna, this.sndQ!.subarray(0, n), false);
    } else if (this.finSeq !== -1 && this.sndUna === seq(this.finSeq)) {
      this.emit(TCP_FIN | TCP_ACK, this.sndUna, null, false);
    }
  }

  private onRto(now: number): void {
    const stats = this.host.stats;
    const cfg = this.host.config;
    this.rtoAt = 0;
    if (this.sndUna === this.sndMax) {
      // Persist timer: a zero-window probe (Linux: an ACK with seq = snd_una - 1).
      if (this.sndQ && this.sndWnd === 0) {
        stats.zeroWindowProbes++;
        this.emit(TCP_ACK, seqAdd(this.sndUna, -1), null, false);
        this.rto = backoff(this.rto, this.rtoConfig());
        this.rtoAt = now + this.rto;
      }
      return;
    }
    if (++this.retries > cfg.maxRetries) {
      stats.giveUps++;
      this.emit(TCP_RST | TCP_ACK, this.sndMax, null, true);
      this.finish('timeout');
      return;
    }
    stats.rtoTimeouts++;
    stats.retransmits++;
    // RFC 6298 5.5-5.6: back off, retransmit the earliest unacknowledged segment, restart the timer.
    this.rto = backoff(this.rto, this.rtoConfig());
    this.cwnd = this.sendMss();
    this.retransmitFirst();
    const n = this.sndQ ? Math.min(this.sndQ.length, this.sendMss() - this.sackOptionBytes()) : 0;
    const sentFin = this.finSeq !== -1 && (this.sndQ === null || n === this.sndQ.length);
    this.sndNxt = seqAdd(this.sndUna, n + (sentFin ? 1 : 0));
    this.rtoAt = now + this.rto;
  }

  private challengeAck(): void {
    if (this.host.takeChallengeAck()) {
      this.host.stats.challengeAcks++;
      this.ackMode = ACK_NOW;
    } else {
      this.host.stats.challengeAcksRateLimited++;
    }
  }

  /** Sends what is due: data first (it carries the ACK), then an ACK if one is owed now, or arms the delayed ACK. */
  flush(): void {
    if (this.frozen || this.st === TcpState.CLOSED) return;
    this.transmit();
    if (this.ackMode === ACK_NOW) {
      this.emit(TCP_ACK, this.sndNxt, null, false);
    } else if (this.ackMode === ACK_DELAYED && this.ackAt === 0) {
      this.ackAt = this.host.clock.now() + this.host.config.delayedAckMs;
    }
    this.rearm();
  }

  private maybeWindowUpdate(): void {
    if (this.frozen || this.zeroWindow || this.st === TcpState.CLOSED) return;
    const offered = Math.max(seqDiff(this.rcvNxt, this.rcvAdv), 0);
    const threshold = Math.min(this.host.config.rcvBuffer >>> 1, this.recvMss());
    // RFC 9293 3.8.6.2.2: announce a re-opened window once it has grown enough to matter.
    if (offered < threshold && this.freeWindow() >= threshold) {
      this.host.stats.windowUpdates++;
      this.ackMode = ACK_NOW;
      if (!this.busy) this.flush();
    }
  }

  private freeWindow(): number {
    const used = (this.unread ? this.unread.length : 0) + (this.ooo ? this.ooo.bytes : 0);
    return Math.max(this.host.config.rcvBuffer - used, 0);
  }

  /** The window field to send, and moves rcvAdv (never left, except when a zero window is forced). */
  private windowToSend(): number {
    if (this.zeroWindow) {
      this.lastWndSent = 0;
      return 0;
    }
    const scale = this.rcvWscale;
    let wnd = Math.min(this.freeWindow(), 65535 << scale);
    const offered = Math.max(seqDiff(this.rcvNxt, this.rcvAdv), 0);
    if (wnd < offered) wnd = offered; // never shrink the offered window
    let field = wnd >>> scale;
    if (field << scale < offered) field = Math.min(field + 1, 65535);
    const bytes = field << scale;
    const edge = seqAdd(this.rcvNxt, bytes);
    if (seqGt(edge, this.rcvAdv)) this.rcvAdv = edge;
    this.lastWndSent = bytes;
    return field;
  }

  /** Builds and sends one segment carrying the current ACK, window and options. */
  private emit(flags: number, s: SeqNum, payload: Uint8Array | null, isRst: boolean): void {
    const window = isRst ? 0 : this.windowToSend();
    const ts = this.tsOk ? { tsVal: this.tsNow(), tsEcr: this.tsRecent } : null;
    const sack = this.sackOk && this.ooo && !isRst ? this.ooo.sackBlocks(this.tsOk ? 3 : 4) : NO_SACK;
    const packet = buildPacket(
      {
        srcIp: this.localIp,
        dstIp: this.remoteIp,
        srcPort: this.localPort,
        dstPort: this.remotePort,
        seq: s,
        ack: this.rcvNxt,
        flags,
        window,
      },
      null,
      ts,
      sack,
      payload,
    );
    if (!isRst) {
      this.lastAckSent = this.rcvNxt;
      this.ackMode = ACK_NONE;
      this.ackAt = 0;
      this.fullSegsUnacked = 0;
    }
    this.host.stats.segmentsOut++;
    this.host.send(packet, this.link);
  }

  // ---------------------------------------------------------------- timers

  private rearm(): void {
    let at = 0;
    for (const d of [this.ackAt, this.rtoAt, this.waitAt]) if (d !== 0 && (at === 0 || d < at)) at = d;
    if (at === this.timerAt) return;
    const clock = this.host.clock;
    if (this.timer !== null) clock.clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = at;
    if (at !== 0) this.timer = clock.setTimeout(() => this.onTimer(), Math.max(at - clock.now(), 0));
  }

  private onTimer(): void {
    this.timer = null;
    this.timerAt = 0;
    if (this.frozen || this.st === TcpState.CLOSED) return;
    const now = this.host.clock.now();
    const due = (d: number): boolean => d !== 0 && d - now <= 0.5;
    this.busy = true;
    try {
      if (due(this.waitAt)) {
        this.waitAt = 0;
        if (this.st === TcpState.TIME_WAIT) {
          this.finish('normal');
          return;
        }
        if (this.st === TcpState.FIN_WAIT_2) {
          this.finish('finWait2Timeout');
          return;
        }
      }
      if (due(this.ackAt)) {
        this.ackAt = 0;
        if (this.ackMode === ACK_DELAYED) {
          this.host.stats.delayedAcks++;
          this.ackMode = ACK_NOW;
        }
      }
      if (due(this.rtoAt)) this.onRto(now);
    } finally {
      this.busy = false;
    }
    this.flush();
  }

  // ---------------------------------------------------------------- endings

  private enterTimeWait(): void {
    this.st = TcpState.TIME_WAIT;
    this.ackMode = ACK_NOW;
    this.rtoAt = 0;
    this.waitAt = this.host.clock.now() + this.host.config.timeWaitMs;
    this.sndQ = null;
    this.ooo = null;
    this.unread = null;
    this.emitClosed('normal');
  }

  private finish(reason: CloseReason): void {
    this.st = TcpState.CLOSED;
    this.ackAt = this.rtoAt = this.waitAt = 0;
    this.ackMode = ACK_NONE;
    this.rearm();
    this.sndQ = null;
    this.ooo = null;
    this.unread = null;
    this.host.remove(this);
    this.emitClosed(reason);
  }

  private emitClosed(reason: CloseReason): void {
    if (this.closeReason !== null) return;
    this.closeReason = reason;
    this.host.handler.closed(this, reason);
  }

  // ---------------------------------------------------------------- helpers

  /** Largest payload we send: the client's MSS (capped by ours) less the timestamp option. */
  private sendMss(): number {
    return Math.max(Math.min(this.mss, this.host.config.mss) - (this.tsOk ? TS_OPTION_BYTES : 0), 64);
  }

  /** Full-sized segment from the client: our advertised MSS less its timestamp option. */
  private recvMss(): number {
    return this.host.config.mss - (this.tsOk ? TS_OPTION_BYTES : 0);
  }

  private sackOptionBytes(): number {
    if (!this.sackOk || !this.ooo) return 0;
    const blocks = Math.min(this.ooo.segments, this.tsOk ? 3 : 4);
    return 4 + 8 * blocks;
  }

  private sampleRtt(ms: number): void {
    const r = { srtt: this.srtt, rttvar: this.rttvar, rto: this.rto };
    rttSample(r, ms, this.rtoConfig());
    this.srtt = r.srtt;
    this.rttvar = r.rttvar;
    this.rto = r.rto;
  }

  private rtoConfig(): { initialMs: number; minMs: number; maxMs: number } {
    const c = this.host.config;
    return { initialMs: c.rtoInitialMs, minMs: c.rtoMinMs, maxMs: c.rtoMaxMs };
  }

  private assertLive(op: string): void {
    if (this.frozen) throw new TcpStateError(op, this.state, 'the connection is frozen for a hand-off');
    if (this.st === TcpState.CLOSED) throw new TcpStateError(op, this.state, 'the connection is closed');
  }
}

const EMPTY = Buffer.alloc(0);
const NO_SACK: readonly number[] = [];

const ipString = numberToIpv4;
