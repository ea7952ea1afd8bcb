/**
 * The controller's TCP endpoint: server side of client connections to VIPs, fed with IPv4
 * packets (PacketIn with Ethernet stripped) and answering through an output callback (PacketOut).
 * It does no I/O of its own; clock and randomness are injected.
 *
 * Passive open is stateless (SYN cookies, syn-cookie.ts): a SYN is answered and forgotten; the
 * ACK that carries a valid cookie creates the connection. Segments for unknown 4-tuples are
 * dropped and counted, never answered with a RST (ARCHITECTURE invariant 1).
 */
import { InvalidArgumentError, TcpStateError } from '../../core/errors.js';
import { ipv4ToNumber } from '../../core/header/addr.js';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../core/header/tcp.js';
import type { Clock, RandomSource } from './clock.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig } from './config.js';
import { TcpConnection } from './connection.js';
import type { Adoption, ConnectionHost, TcpHandler } from './host.js';
import { writeSynAckOptions } from './options.js';
import { buildPacket } from './packet-builder.js';
import type { TcpRepairState } from './repair-state.js';
import { parseSegment, type Segment } from './segment.js';
import { seq, seqAdd, seqGt } from './seqnum.js';
import { newStats, type TcpStats } from './stats.js';
import { COOKIE_MSS_TABLE, SynCookies, cookieTsVal, decodeTsOptions, encodeTsOptions, type FourTuple } from './syn-cookie.js';

export interface Listener {
  readonly ip: string;
  readonly port: number;
}

export interface TcpEndpointOptions<L> {
  /** VIP addresses and ports to accept connections on. */
  readonly listeners: readonly Listener[];
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Sends one complete IPv4 packet (src = VIP) towards the client reached through `link`. */
  readonly output: (packet: Buffer, link: L) => void;
  readonly handler: TcpHandler<TcpConnection<L>>;
  readonly config?: Partial<TcpConfig>;
}

/** Per-packet context: the opaque link (e.g. ingress port and client MAC) kept with a connection. */
export interface InputContext<L> {
  readonly link: L;
}

export class TcpEndpoint<L = unknown> implements ConnectionHost<TcpConnection<L>, L> {
  readonly stats: TcpStats = newStats();
  readonly config: TcpConfig;
  readonly clock: Clock;
  readonly handler: TcpHandler<TcpConnection<L>>;
  private readonly output: (packet: Buffer, link: L) => void;
  private readonly cookies: SynCookies;
  /** listener key (ip * 65536 + port) → client key (ip * 65536 + port) → connection. */
  private readonly tables = new Map<number, Map<number, TcpConnection<L>>>();
  /** Listeners removed while they still had connections: no new handshakes. */
  private readonly closedListeners = new Set<number>();
  private challengeWindowStart = 0;
  private challengeCount = 0;

  constructor(opts: TcpEndpointOptions<L>) {
    this.config = { ...DEFAULT_TCP_CONFIG, ...opts.config };
    if (this.config.rcvWscale < 0 || this.config.rcvWscale > 14) throw new InvalidArgumentError(`rcvWscale must be 0..14, got ${this.config.rcvWscale}`);
    this.clock = opts.clock;
    this.handler = opts.handler;
    this.output = opts.output;
    this.cookies = new SynCookies(opts.random.randomBytes(32), { periodMs: this.config.cookiePeriodMs, maxAge: this.config.cookieMaxAge });
    for (const l of opts.listeners) this.addListener(l.ip, l.port);
  }

  addListener(ip: string, port: number): void {
    const key = listenerKey(ipv4ToNumber(ip), port);
    if (!this.tables.has(key)) this.tables.set(key, new Map());
  }

  /** Stops accepting new connections on ip:port; existing ones continue. */
  removeListener(ip: string, port: number): void {
    const key = listenerKey(ipv4ToNumber(ip), port);
    const t = this.tables.get(key);
    if (t && t.size === 0) this.tables.delete(key);
    else if (t) this.closedListeners.add(key);
  }

  /** The connection for a 4-tuple (client address first), if any. */
  connection(remoteIp: string, remotePort: number, localIp: string, localPort: number): TcpConnection<L> | undefined {
    return this.tables.get(listenerKey(ipv4ToNumber(localIp), localPort))?.get(listenerKey(ipv4ToNumber(remoteIp), remotePort));
  }

  *connections(): IterableIterator<TcpConnection<L>> {
    for (const t of this.tables.values()) yield* t.values();
  }

  get connectionCount(): number {
    return this.stats.connections;
  }

  /** Processes one received IPv4 packet. Never throws for bad input: it is dropped and counted. */
  input(packet: Buffer, ctx: InputContext<L>): void {
    this.stats.segmentsIn++;
    const seg = parseSegment(packet);
    if (typeof seg === 'string') {
      this.stats.drops[seg]++;
      return;
    }
    const lkey = listenerKey(seg.dstIp, seg.dstPort);
    const table = this.tables.get(lkey);
    if (!table) {
      this.stats.drops.notListening++;
      return;
    }
    const ckey = listenerKey(seg.srcIp, seg.srcPort);
    const conn = table.get(ckey);
    if (conn && conn.arrive(seg) === 'done') return;
    if (this.closedListeners.has(lkey)) {
      this.stats.drops.notListening++;
      return;
    }
    if (seg.flags & TCP_RST) {
      this.stats.drops.noConnection++;
      return;
    }
    if (seg.flags & TCP_SYN) {
      if (seg.flags & TCP_ACK) this.stats.drops.unexpectedSynAck++;
      else this.answerSyn(seg, ctx.link);
      return;
    }
    this.completeHandshake(seg, table, ckey, ctx.link);
  }

  /**
   * Creates (or thaws, when a frozen connection holds the 4-tuple) a connection from a state handed
   * back by a backend, with `unread` as its first unread bytes; then re-opens the window with an
   * ACK. Adoption is allowed beyond maxConnections (the connection was ours before).
   *
   * `how.close` tells the handler to end the connection (its FIN follows `unacked`, on the same
   * segment as the window update). The window opens for a closing connection too: Linux holds a
   * FIN back while the window it was offered is zero, and the client's FIN must be able to come.
   */
  adopt(state: TcpRepairState, unread: Buffer, link: L, unacked: Buffer = Buffer.alloc(0), how: Adoption = { close: false }): TcpConnection<L> {
    const inFlight = (state.sndNxt - state.sndUna) >>> 0;
    if (inFlight > unacked.length) {
      throw new InvalidArgumentError(`adopt: the backend left ${inFlight} bytes unacknowledged but handed back ${unacked.length}`);
    }
    const localIp = ipv4ToNumber(state.localIp);
    const lkey = listenerKey(localIp, state.localPort);
    let table = this.tables.get(lkey);
    if (!table) {
      table = new Map();
      this.tables.set(lkey, table);
    }
    const remoteIp = ipv4ToNumber(state.remoteIp);
    const ckey = listenerKey(remoteIp, state.remotePort);
    let conn = table.get(ckey);
    if (conn && !conn.frozen) throw new TcpStateError('adopt', conn.state, 'the 4-tuple has a live connection');
    if (!conn) {
      const tuple: FourTuple = { srcIp: remoteIp, srcPort: state.remotePort, dstIp: localIp, dstPort: state.localPort };
      conn = new TcpConnection<L>(this, {
        link,
        remoteIp,
        remotePort: state.remotePort,
        localIp,
        localPort: state.localPort,
        iss: seqAdd(seq(state.sndNxt), -1),
        irs: seqAdd(seq(state.rcvNxt), -1),
        mss: state.mss,
        sndWscale: state.wscaleOk ? state.sndWscale : -1,
        rcvWscale: state.rcvWscale,
        sackPermitted: state.sackPermitted,
        timestamps: state.timestamps,
        tsOffset: this.cookies.tsOffset(tuple),
      });
      table.set(ckey, conn);
      this.stats.connections++;
      this.stats.connectionsCreated++;
    }
    // The backend's clock went on while it held the connection; its TSval at release is a floor.
    conn.restore(state, unread, link, state.tsVal, unacked);
    const c = conn;
    c.withBusy(() => {
      c.setReceiveWindow('open');
      c.ackNow();
      this.handler.adopted(c, how);
    });
    return c;
  }

  // ---------------------------------------------------------------- ConnectionHost

  send(packet: Buffer, link: L): void {
    this.output(packet, link);
  }

  takeChallengeAck(): boolean {
    const now = this.clock.now();
    if (now - this.challengeWindowStart >= 1000) {
      this.challengeWindowStart = now;
      this.challengeCount = 0;
    }
    if (this.challengeCount >= this.config.challengeAckPerSecond) return false;
    this.challengeCount++;
    return true;
  }

  remove(conn: TcpConnection<L>): void {
    const lkey = listenerKey(conn.localIp, conn.localPort);
    const table = this.tables.get(lkey);
    if (!table || table.get(listenerKey(conn.remoteIp, conn.remotePort)) !== conn) return;
    table.delete(listenerKey(conn.remoteIp, conn.remotePort));
    this.stats.connections--;
    this.stats.connectionsClosed++;
    if (table.size === 0 && this.closedListeners.has(lkey)) {
      this.tables.delete(lkey);
      this.closedListeners.delete(lkey);
    }
  }

  // ---------------------------------------------------------------- handshake

  /** RFC 9293 3.10.7.2 LISTEN with SYN, answered statelessly with a cookie. */
  private answerSyn(seg: Segment, link: L): void {
    const cfg = this.config;
    this.stats.synReceived++;
    if (this.stats.connections >= cfg.maxConnections) {
      this.stats.drops.connCapSyn++;
      return;
    }
    const tuple: FourTuple = { srcIp: seg.srcIp, srcPort: seg.srcPort, dstIp: seg.dstIp, dstPort: seg.dstPort };
    const o = seg.options;
    const clientMss = o.mss > 0 ? o.mss : 536;
    const now = this.clock.now();
    const iss = this.cookies.encode(tuple, seg.seq, SynCookies.mssIndex(clientMss), now);
    const useTs = cfg.timestamps && o.hasTimestamp;
    const wscale = useTs && cfg.windowScaling && o.wscale >= 0 ? o.wscale : -1;
    const sack = useTs && cfg.sack && o.sackPermitted;
    let timestamp: { tsVal: number; tsEcr: number } | null = null;
    if (useTs) {
      const tsClock = (Math.floor(now) + this.cookies.tsOffset(tuple)) >>> 0;
      timestamp = { tsVal: cookieTsVal(tsClock, encodeTsOptions(wscale, sack)), tsEcr: o.tsVal };
    }
    const options = writeSynAckOptions({ mss: cfg.mss, wscale: wscale >= 0 ? cfg.rcvWscale : -1, sackPermitted: sack, timestamp });
    const packet = buildPacket(
      {
        srcIp: seg.dstIp,
        dstIp: seg.srcIp,
        srcPort: seg.dstPort,
        dstPort: seg.srcPort,
        seq: iss,
        ack: seqAdd(seg.seq, 1),
        flags: TCP_SYN | TCP_ACK,
        window: Math.min(cfg.rcvBuffer, 65535),
      },
      options,
      null,
      [],
      null,
    );
    this.stats.synCookiesSent++;
    this.stats.segmentsOut++;
    this.output(packet, link);
  }

  /** A non-SYN segment for an unknown 4-tuple: the final ACK of a handshake if its cookie verifies. */
  private completeHandshake(seg: Segment, table: Map<number, TcpConnection<L>>, ckey: number, link: L): void {
    const cfg = this.config;
    const tuple: FourTuple = { srcIp: seg.srcIp, srcPort: seg.srcPort, dstIp: seg.dstIp, dstPort: seg.dstPort };
    const irs = seqAdd(seg.seq, -1);
    const iss = seqAdd(seg.ack, -1);
    const now = this.clock.now();
    const check = this.cookies.check(tuple, irs, iss, now);
    if (!check.ok) {
      // Not a handshake we answered: an old or foreign segment. Dropped, never answered with RST.
      this.stats.drops[check.reason]++;
      return;
    }
    const o = seg.options;
    const tsOffset = this.cookies.tsOffset(tuple);
    let sndWscale = -1;
    let sack = false;
    let ts = false;
    if (cfg.timestamps && o.hasTimestamp) {
      const decoded = decodeTsOptions(o.tsEcr);
      const tsClock = (Math.floor(now) + tsOffset) >>> 0;
      if (!decoded || seqGt(seq(o.tsEcr), seq(tsClock))) {
        this.stats.drops.badCookie++;
        return;
      }
      ts = true;
      sndWscale = cfg.windowScaling ? decoded.clientWscale : -1;
      sack = cfg.sack && decoded.sackPermitted;
    }
    if (this.stats.connections >= cfg.maxConnections) {
      this.stats.drops.connCapAck++;
      return;
    }
    const conn = new TcpConnection<L>(this, {
      link,
      remoteIp: seg.srcIp,
      remotePort: seg.srcPort,
      localIp: seg.dstIp,
      localPort: seg.dstPort,
      iss,
      irs,
      mss: COOKIE_MSS_TABLE[check.mssIndex]!,
      sndWscale,
      rcvWscale: cfg.rcvWscale,
      sackPermitted: sack,
      timestamps: ts,
      tsOffset,
    });
    conn.initSendWindow(seg.window, seg.seq, ts ? o.tsVal : null);
    table.set(ckey, conn);
    this.stats.connections++;
    this.stats.connectionsCreated++;
    this.stats.cookiesAccepted++;
    conn.withBusy(() => {
      this.handler.opened(conn);
      if (conn.state !== 'CLOSED' && !conn.frozen) conn.arrive(seg);
    });
  }
}

function listenerKey(ip: number, port: number): number {
  return (ip >>> 0) * 65536 + port;
}
