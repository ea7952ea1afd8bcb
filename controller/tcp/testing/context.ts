/**
 * Test context for the TCP endpoint (gVisor transport/tcp/testing/context): a fake clock, a
 * seeded random source, a capturing output link, a recording handler, and a simulated client
 * that builds segments with core/header/frame.ts and parses what the endpoint sends with
 * parseTcpFrame (whose checksum verification is independent of the endpoint's own code).
 */
import { ETHERTYPE_IPV4, ETH_HEADER_LEN } from '../../../core/header/ethernet.js';
import { buildTcpFrame, ethernetHeader, parseTcpFrame, type ParsedTcpFrame } from '../../../core/header/frame.js';
import { TCP_ACK, TCP_OPT_MSS, TCP_OPT_NOP, TCP_OPT_SACK, TCP_OPT_SACK_PERMITTED, TCP_OPT_TIMESTAMP, TCP_OPT_WSCALE, TCP_SYN } from '../../../core/header/tcp.js';
import type { TcpConfig } from '../config.js';
import type { TcpConnection } from '../connection.js';
import { TcpEndpoint } from '../endpoint.js';
import type { TcpHandler } from '../host.js';
import { parseOptions, type ParsedOptions } from '../options.js';
import type { CloseReason } from '../states.js';
import { FakeClock, SeededRandom } from './fake-clock.js';

export const VIP = '10.0.0.100';
export const VPORT = 80;

export interface Link {
  readonly port: number;
  readonly mac: string;
}

export interface OutSegment extends ParsedTcpFrame {
  readonly options: ParsedOptions;
  readonly link: Link;
  readonly raw: Buffer;
}

export type RecordedEvent =
  | { type: 'opened'; conn: TcpConnection<Link> }
  | { type: 'adopted'; conn: TcpConnection<Link> }
  | { type: 'data'; conn: TcpConnection<Link> }
  | { type: 'peerFinished'; conn: TcpConnection<Link> }
  | { type: 'closed'; conn: TcpConnection<Link>; reason: CloseReason };

/** Parses an IPv4 packet sent by the endpoint (checksums verified by frame.ts). */
export function parseOut(packet: Buffer, link: Link): OutSegment {
  const frame = Buffer.concat([ethernetHeader('02:00:00:00:00:01', '02:00:00:00:00:02', ETHERTYPE_IPV4), packet]);
  const p = parseTcpFrame(frame);
  if (!p) throw new Error('the endpoint sent something that is not an IPv4/TCP packet');
  const ihl = (packet[0]! & 0x0f) * 4;
  const dataOff = (packet[ihl + 12]! >> 4) * 4;
  const options = parseOptions(packet, ihl + 20, ihl + dataOff);
  if (!options) throw new Error('the endpoint sent malformed options');
  return { ...p, options, link, raw: packet };
}

export class TestContext {
  readonly clock = new FakeClock();
  readonly random = new SeededRandom();
  readonly out: OutSegment[] = [];
  readonly events: RecordedEvent[] = [];
  readonly ep: TcpEndpoint<Link>;
  /** Extra behaviour for handler callbacks (runs after recording). */
  hooks: Partial<TcpHandler<TcpConnection<Link>>> = {};
  private nextPort = 40000;

  constructor(config: Partial<TcpConfig> = {}, handler?: TcpHandler<TcpConnection<Link>>) {
    const rec: TcpHandler<TcpConnection<Link>> = {
      opened: (conn) => {
        this.events.push({ type: 'opened', conn });
        this.hooks.opened?.(conn);
      },
      adopted: (conn, how) => {
        this.events.push({ type: 'adopted', conn });
        this.hooks.adopted?.(conn, how);
      },
      data: (conn) => {
        this.events.push({ type: 'data', conn });
        this.hooks.data?.(conn);
      },
      peerFinished: (conn) => {
        this.events.push({ type: 'peerFinished', conn });
        this.hooks.peerFinished?.(conn);
      },
      closed: (conn, reason) => {
        this.events.push({ type: 'closed', conn, reason });
        this.hooks.closed?.(conn, reason);
      },
    };
    this.ep = new TcpEndpoint<Link>({
      listeners: [{ ip: VIP, port: VPORT }],
      clock: this.clock,
      random: this.random,
      output: (packet, link) => this.out.push(parseOut(packet, link)),
      handler: handler ?? rec,
      config,
    });
  }

  /** Takes (and clears) the captured output. */
  take(): OutSegment[] {
    return this.out.splice(0, this.out.length);
  }

  /** The single captured segment (fails when there are none or several). */
  takeOne(): OutSegment {
    const o = this.take();
    if (o.length !== 1) throw new Error(`expected one segment, got ${o.length}: ${o.map(describe).join(' | ')}`);
    return o[0]!;
  }

  client(opts: Partial<ClientOptions> = {}): Client {
    return new Client(this, { ip: '192.168.1.10', port: this.nextPort++, isn: 0x1000_0000, ts: true, wscale: 7, sack: true, mss: 1460, tsStart: 5000, ...opts });
  }
}

/** A context with one client whose handshake is done and whose outputs were taken. */
export function connectedClient(config: Partial<TcpConfig> = {}, clientOpts: Partial<ClientOptions> = {}): { t: TestContext; c: Client; conn: TcpConnection<Link> } {
  const t = new TestContext(config);
  const c = t.client(clientOpts);
  const conn = c.connect();
  t.take();
  return { t, c, conn };
}

export interface ClientOptions {
  ip: string;
  port: number;
  isn: number;
  /** Offer timestamps / window scale (-1: no) / SACK-permitted on the SYN. */
  ts: boolean;
  wscale: number;
  sack: boolean;
  /** -1: no MSS option. */
  mss: number;
  tsStart: number;
}

export interface SegmentSpec {
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  payload?: Uint8Array | string;
  /** Timestamp option: true = the client's current clock and ts_recent; an object to override; false = none. */
  ts?: boolean | { tsVal: number; tsEcr: number };
  sack?: ReadonlyArray<readonly [number, number]>;
  /** Raw option bytes (replaces ts/sack). */
  options?: Uint8Array;
}

/** A simulated client: tracks its own snd_nxt, the server's rcv side, and its timestamp clock. */
export class Client {
  readonly ip: string;
  readonly port: number;
  /** Next sequence number the client sends. */
  seq: number;
  /** Next sequence number the client expects from the server. */
  ack = 0;
  tsVal: number;
  /** Last TSval seen from the server (echoed). */
  tsRecent = 0;
  /** Window field the client sends. */
  window = 502;
  iss = 0;

  constructor(
    private readonly t: TestContext,
    readonly opts: ClientOptions,
  ) {
    this.ip = opts.ip;
    this.port = opts.port;
    this.seq = opts.isn;
    this.tsVal = opts.tsStart;
  }

  get conn(): TcpConnection<Link> | undefined {
    return this.t.ep.connection(this.ip, this.port, VIP, VPORT);
  }

  get link(): Link {
    return { port: 3, mac: '02:00:00:00:aa:01' };
  }

  /** Builds an IPv4 packet from the client to the VIP. */
  packet(spec: SegmentSpec): Buffer {
    let options: Uint8Array;
    if (spec.options) options = spec.options;
    else {
      const o: number[] = [];
      const ts = spec.ts ?? this.opts.ts;
      if (ts) {
        const v = typeof ts === 'object' ? ts : { tsVal: this.tsVal, tsEcr: this.tsRecent };
        o.push(TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_TIMESTAMP, 10, ...u32(v.tsVal), ...u32(v.tsEcr));
      }
      if (spec.sack && spec.sack.length > 0) {
        o.push(TCP_OPT_NOP, TCP_OPT_NOP, TCP_OPT_SACK, 2 + 8 * spec.sack.length);
        for (const [l, r] of spec.sack) o.push(...u32(l), ...u32(r));
      }
      options = Uint8Array.from(o);
    }
    const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'latin1') : spec.payload;
    const frame = buildTcpFrame({
      srcMac: '02:00:00:00:aa:01',
      dstMac: '02:00:00:00:00:64',
      srcIp: this.ip,
      dstIp: VIP,
      srcPort: this.port,
      dstPort: VPORT,
      seq: spec.seq ?? this.seq,
      ack: spec.ack ?? this.ack,
      flags: spec.flags ?? TCP_ACK,
      window: spec.window ?? this.window,
      options,
      ...(payload ? { payload } : {}),
    });
    return frame.subarray(ETH_HEADER_LEN);
  }

  /** Sends a segment; advances the client's seq by the payload (and SYN/FIN) unless seq was given. */
  send(spec: SegmentSpec = {}): void {
    const p = this.packet(spec);
    if (spec.seq === undefined) {
      const len = typeof spec.payload === 'string' ? Buffer.byteLength(spec.payload, 'latin1') : (spec.payload?.length ?? 0);
      const flags = spec.flags ?? TCP_ACK;
      this.seq = (this.seq + len + (flags & TCP_SYN ? 1 : 0) + (flags & 0x01 ? 1 : 0)) >>> 0;
    }
    this.t.ep.input(p, { link: this.link });
  }

  synOptions(): Uint8Array {
    const o: number[] = [];
    if (this.opts.mss >= 0) o.push(TCP_OPT_MSS, 4, (this.opts.mss >> 8) & 0xff, this.opts.mss & 0xff);
    if (this.opts.sack) o.push(TCP_OPT_SACK_PERMITTED, 2);
    if (this.opts.ts) o.push(TCP_OPT_TIMESTAMP, 10, ...u32(this.tsVal), 0, 0, 0, 0);
    if (this.opts.wscale >= 0) o.push(TCP_OPT_NOP, TCP_OPT_WSCALE, 3, this.opts.wscale);
    while (o.length % 4 !== 0) o.push(TCP_OPT_NOP);
    return Uint8Array.from(o);
  }

  /** Sends SYN and returns the SYN-ACK (or null when none came). */
  syn(): OutSegment | null {
    this.seq = this.opts.isn;
    this.iss = this.opts.isn;
    this.send({ flags: TCP_SYN, ack: 0, window: 64240, options: this.synOptions() });
    const out = this.t.take();
    const sa = out.find((o) => o.flags === (TCP_SYN | TCP_ACK)) ?? null;
    if (sa) {
      this.ack = (sa.seq + 1) >>> 0;
      if (sa.options.hasTimestamp) this.tsRecent = sa.options.tsVal;
    }
    return sa;
  }

  /** Full handshake; returns the connection. Advances the client's clock by 1 ms per segment. */
  connect(extra: SegmentSpec = {}): TcpConnection<Link> {
    const sa = this.syn();
    if (!sa) throw new Error('no SYN-ACK');
    this.tsVal++;
    this.send(extra);
    const c = this.conn;
    if (!c) throw new Error('the final ACK did not create a connection');
    return c;
  }

  /** Folds what the server sent into the client's view (ack, ts_recent). */
  observe(segs: readonly OutSegment[]): void {
    for (const s of segs) {
      const end = (s.seq + s.payload.length + (s.flags & 0x01 ? 1 : 0) + (s.flags & TCP_SYN ? 1 : 0)) >>> 0;
      if (((end - this.ack) | 0) > 0) this.ack = end;
      if (s.options.hasTimestamp) this.tsRecent = s.options.tsVal;
    }
  }
}

export function describe(o: OutSegment): string {
  const f = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'].filter((_, i) => o.flags & (1 << i)).join('|');
  return `${f} seq=${o.seq} ack=${o.ack} win=${o.window} len=${o.payload.length}`;
}

function u32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}
