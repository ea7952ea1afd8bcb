/**
 * TCP connection hand-off with Linux TCP_REPAIR: a typed wrapper over the prism_repair native
 * addon (native/src/repair.c). fd based and synchronous; needs CAP_NET_ADMIN (root).
 *
 * - `restore(state, opts)` creates a connected socket from a state record without sending
 *   anything (the fd stays in repair mode); `leaveRepair(fd, {windowProbe})` makes it live.
 * - `freeze(fd)` puts a live socket in repair mode; `dump(fd)` reads its state and its unread
 *   receive-queue bytes; `closeSilently(fd)` closes it with no FIN and no RST.
 *
 * `RepairState` maps 1:1 onto prism.control.v1.ConnectionState (proto field `snake_case` ->
 * property `camelCase`: client_ip -> clientIp, snd_wl1 -> sndWl1, ...), plus `recvQueue`, the
 * bytes waiting in the receive queue (PrepareRequest.request + body on the way in,
 * ReleaseResponse.unread on the way out). `toConnectionState` / `fromConnectionState` convert.
 *
 * System-call failures become `SyscallError` (code 'PRISM_ERR_SYSCALL', with `op` such as
 * 'setsockopt(TCP_REPAIR_WINDOW)', `errno`, `errnoName`); argument mistakes stay TypeError
 * ('ERR_INVALID_ARG_TYPE') or RangeError ('ERR_OUT_OF_RANGE'). The addon is loaded lazily from
 * native/build/Release/prism_repair.node (found by walking up from this module;
 * PRISM_REPAIR_ADDON overrides). See docs/native.md.
 */
import { bytesToIpv4, ipv4ToBytes } from '../core/header/addr.js';
import { addonLoader } from './load-addon.js';
import type { ConnectionState, ConnectionState__Output } from '../proto/types/prism/control/v1/ConnectionState.js';
import { toSyscallError } from './packet.js';

// ---------------------------------------------------------------------------------------------
// records

/**
 * The TCP state of one connection, as prism.control.v1.ConnectionState carries it, plus the
 * receive-queue bytes. "Local" is the side holding the state (it speaks as the VIP).
 * Sequence numbers and timestamps are uint32 as on the wire.
 */
export interface RepairState {
  /** client_ip: the client's IPv4 address, 4 bytes in network order. */
  readonly clientIp: Uint8Array;
  /** client_port */
  readonly clientPort: number;
  /** vip_ip: the local address (the VIP; see RestoreOptions.localIp for binding another one). */
  readonly vipIp: Uint8Array;
  /** vip_port */
  readonly vipPort: number;
  /** snd_nxt: next sequence number the local side sends. */
  readonly sndNxt: number;
  /** rcv_nxt: next sequence number expected from the client (recvQueue ends just before it). */
  readonly rcvNxt: number;
  /** snd_una: oldest unacknowledged sequence number; restore() requires sndUna === sndNxt. */
  readonly sndUna: number;
  /** snd_wnd: the client's receive window in bytes (scaled). */
  readonly sndWnd: number;
  /** rcv_wnd: the local receive window last advertised, in bytes (scaled). */
  readonly rcvWnd: number;
  /** snd_wscale: shift the client applies (0..14). */
  readonly sndWscale: number;
  /** rcv_wscale: shift the local side applies (0..14). */
  readonly rcvWscale: number;
  /** mss: the client's MSS (mss_clamp), 88..65535. */
  readonly mss: number;
  /** sack_permitted */
  readonly sackPermitted: boolean;
  /** timestamps_enabled */
  readonly timestampsEnabled: boolean;
  /** ts_val: the TSval the next local segment carries (ms clock; restore rounds an odd value up by 1). */
  readonly tsVal: number;
  /** ts_recent: the client's last TSval. Not settable or readable through TCP_REPAIR: dump() reports 0, restore() ignores it. */
  readonly tsRecent: number;
  /** snd_wl1 (TCP_REPAIR_WINDOW) */
  readonly sndWl1: number;
  /** max_window (TCP_REPAIR_WINDOW): must be >= sndWnd. */
  readonly maxWindow: number;
  /** rcv_wup (TCP_REPAIR_WINDOW): must not be after rcvNxt. */
  readonly rcvWup: number;
  /** wscale_ok: window scaling was negotiated (the shifts may both be 0 and still apply). restore(): when
   *  omitted, true if a shift is non-zero; false with a non-zero shift is a RangeError. */
  readonly wscaleOk: boolean;
  /** Not in ConnectionState: bytes received (and ACKed) but not yet read by the application. */
  readonly recvQueue: Buffer;
}

/** What restore() accepts: a RepairState whose recvQueue may be omitted (empty). */
export type RestoreState = Omit<RepairState, 'recvQueue' | 'wscaleOk'> & {
  readonly recvQueue?: Uint8Array;
  readonly wscaleOk?: boolean;
};

/** A few TCP_INFO fields (struct tcp_info). */
export interface RepairTcpInfo {
  /** TCP state (1 = ESTABLISHED). */
  readonly state: number;
  /** TCPI_OPT_* bits: 1 timestamps, 2 SACK, 4 window scale, 8 ECN. */
  readonly options: number;
  readonly sndWscale: number;
  readonly rcvWscale: number;
  /** mss_cache: the payload size of full segments sent now (MSS minus options). */
  readonly sndMss: number;
  readonly rcvMss: number;
  readonly advmss: number;
  readonly pmtu: number;
  /** Segments sent and not acknowledged (packets_out). */
  readonly unacked: number;
  readonly retransmits: number;
  readonly totalRetrans: number;
  /** Retransmission timeout, µs. */
  readonly rto: number;
  /** Smoothed RTT, µs. */
  readonly rtt: number;
  readonly sndCwnd: number;
}

/** dump(): the state plus queue sizes and diagnostics. */
export interface RepairDump extends RepairState {
  /** The send queue from snd_una (unacknowledged, then unsent bytes): whoever takes over retransmits them. */
  readonly sendQueue: Buffer;
  /** SIOCOUTQ: bytes in the send queue (unsent + unacknowledged). */
  readonly sendQueueBytes: number;
  /** SIOCOUTQNSD: bytes queued and not sent yet. */
  readonly unsentBytes: number;
  /** Sent and not acknowledged (sendQueueBytes - unsentBytes): 0 when the response is fully ACKed. */
  readonly unackedBytes: number;
  /** The socket used usec TSvals (route feature tcp_usec_ts); restore() always uses ms. */
  readonly usecTimestamps: boolean;
  readonly tcpInfo: RepairTcpInfo;
}

export interface RestoreOptions {
  /** Network namespace for the socket (name under /var/run/netns or a path); only socket() runs there. */
  readonly netns?: string;
  /** Bind this local address instead of state.vipIp (4 bytes), e.g. the backend's own address. */
  readonly localIp?: Uint8Array;
}

export interface LeaveRepairOptions {
  /** true: TCP_REPAIR = 0, the kernel sends a window probe (the peer answers with an ACK).
   *  false: TCP_REPAIR_OFF_NO_WP (-1), nothing is sent. */
  readonly windowProbe: boolean;
}

export interface QueueSizes {
  /** SIOCOUTQ: unsent + unacknowledged bytes. */
  readonly outq: number;
  /** SIOCOUTQNSD: unsent bytes. */
  readonly notsent: number;
  /** SIOCINQ: unread received bytes. */
  readonly inq: number;
}

export interface ListenOptions {
  readonly netns?: string;
  readonly backlog?: number;
}

interface RawAddon {
  restore(state: RestoreState, opts?: RestoreOptions): number;
  leaveRepair(fd: number, opts: LeaveRepairOptions): void;
  freeze(fd: number): void;
  dump(fd: number): RepairDump;
  closeSilently(fd: number): void;
  isRepair(fd: number): boolean;
  queues(fd: number): QueueSizes;
  tcpInfo(fd: number): RepairTcpInfo;
  peek(fd: number, max: number): Buffer | null;
  recv(fd: number, max: number): Buffer | null;
  listen(ip: Uint8Array, port: number, opts?: ListenOptions): number;
}

// ---------------------------------------------------------------------------------------------
// loading

const loader = addonLoader<RawAddon>('prism_repair', 'PRISM_REPAIR_ADDON', toSyscallError);

/** Where the built addon is, or null when it is not built. */
export function repairAddonPath(): string | null {
  return loader.path();
}


/** Whether the addon is built and loadable; the reason when not (for test skips). */
export function repairAddonUnavailableReason(): string | null {
  return loader.unavailableReason();
}

const call = loader.call;

// ---------------------------------------------------------------------------------------------
// API

/**
 * Creates a connected TCP socket from `state` without sending a segment, and returns its fd,
 * still in repair mode (call leaveRepair() when the data path is ready). Sequence (verified
 * against net/ipv4/tcp.c; docs/native.md): socket in opts.netns -> TCP_REPAIR=1 -> IP_FREEBIND
 * -> bind(local ip:vipPort) -> send-queue seq = sndNxt (= sndUna) -> receive-queue seq =
 * rcvNxt - len(recvQueue) -> TCP_MAXSEG = mss -> connect(client) -> TCP_REPAIR_OPTIONS (MSS,
 * window scale, SACK, timestamps) -> TCP_TIMESTAMP -> receive queue bytes -> TCP_REPAIR_WINDOW.
 * On any failure the socket is closed (silently) and a SyscallError names the failing step.
 */
export function restore(state: RestoreState, opts: RestoreOptions = {}): number {
  return call((a) => a.restore(state, opts));
}

/** Leaves repair mode: the socket is live from here on. */
export function leaveRepair(fd: number, opts: LeaveRepairOptions): void {
  call((a) => a.leaveRepair(fd, opts));
}

/** Puts a live socket in repair mode: from here on it sends nothing of its own accord. */
export function freeze(fd: number): void {
  call((a) => a.freeze(fd));
}

/** Reads the state of a frozen socket (EPERM when not in repair mode, ENOTCONN unless ESTABLISHED). */
export function dump(fd: number): RepairDump {
  return call((a) => a.dump(fd));
}

/** Closes the fd with nothing sent (puts the socket in repair mode first when needed). */
export function closeSilently(fd: number): void {
  call((a) => a.closeSilently(fd));
}

export function isRepair(fd: number): boolean {
  return call((a) => a.isRepair(fd));
}

/** SIOCOUTQ / SIOCOUTQNSD / SIOCINQ. `outq === 0`: everything sent has been acknowledged. */
export function queues(fd: number): QueueSizes {
  return call((a) => a.queues(fd));
}

export function tcpInfo(fd: number): RepairTcpInfo {
  return call((a) => a.tcpInfo(fd));
}

/** recv(MSG_PEEK | MSG_DONTWAIT) of up to `max` bytes: null when nothing is queued, empty at end of stream. Not in repair mode. */
export function peek(fd: number, max: number): Buffer | null {
  return call((a) => a.peek(fd, max));
}

/** recv(MSG_DONTWAIT) of up to `max` bytes: null when nothing is queued, empty at end of stream. */
export function recv(fd: number, max: number): Buffer | null {
  return call((a) => a.recv(fd, max));
}

/** A listening TCP socket (SO_REUSEADDR) on ip:port inside `netns`; hand the fd to net.Server#listen({fd}). */
export function listenFd(ip: Uint8Array | string, port: number, opts: ListenOptions = {}): number {
  const bytes = typeof ip === 'string' ? ipv4ToBytes(ip) : ip;
  return call((a) => a.listen(bytes, port, opts));
}

// ---------------------------------------------------------------------------------------------
// conversions

/** IPv4 text ↔ bytes: core/header/addr.ts (re-exported for the addon's callers). */
export { bytesToIpv4, ipv4ToBytes };

/** RepairState -> the control protocol's ConnectionState (recvQueue travels separately). */
export function toConnectionState(s: RestoreState): ConnectionState__Output {
  return {
    client_ip: Buffer.from(s.clientIp),
    client_port: s.clientPort,
    vip_ip: Buffer.from(s.vipIp),
    vip_port: s.vipPort,
    snd_nxt: s.sndNxt,
    rcv_nxt: s.rcvNxt,
    snd_una: s.sndUna,
    snd_wnd: s.sndWnd,
    rcv_wnd: s.rcvWnd,
    snd_wscale: s.sndWscale,
    rcv_wscale: s.rcvWscale,
    mss: s.mss,
    sack_permitted: s.sackPermitted,
    timestamps_enabled: s.timestampsEnabled,
    ts_val: s.tsVal,
    ts_recent: s.tsRecent,
    snd_wl1: s.sndWl1,
    max_window: s.maxWindow,
    rcv_wup: s.rcvWup,
    wscale_ok: s.wscaleOk ?? (s.sndWscale !== 0 || s.rcvWscale !== 0),
  };
}

function protoBytes(v: Buffer | Uint8Array | string | undefined): Buffer {
  if (v === undefined) return Buffer.alloc(0);
  return typeof v === 'string' ? Buffer.from(v, 'base64') : Buffer.from(v);
}

/** The control protocol's ConnectionState (+ the receive-queue bytes) -> RepairState. Missing numbers are 0. */
export function fromConnectionState(c: ConnectionState, recvQueue: Uint8Array = Buffer.alloc(0)): RepairState {
  return {
    clientIp: protoBytes(c.client_ip),
    clientPort: c.client_port ?? 0,
    vipIp: protoBytes(c.vip_ip),
    vipPort: c.vip_port ?? 0,
    sndNxt: c.snd_nxt ?? 0,
    rcvNxt: c.rcv_nxt ?? 0,
    sndUna: c.snd_una ?? 0,
    sndWnd: c.snd_wnd ?? 0,
    rcvWnd: c.rcv_wnd ?? 0,
    sndWscale: c.snd_wscale ?? 0,
    rcvWscale: c.rcv_wscale ?? 0,
    mss: c.mss ?? 0,
    sackPermitted: c.sack_permitted ?? false,
    timestampsEnabled: c.timestamps_enabled ?? false,
    tsVal: c.ts_val ?? 0,
    tsRecent: c.ts_recent ?? 0,
    sndWl1: c.snd_wl1 ?? 0,
    maxWindow: c.max_window ?? 0,
    rcvWup: c.rcv_wup ?? 0,
    wscaleOk: c.wscale_ok ?? ((c.snd_wscale ?? 0) !== 0 || (c.rcv_wscale ?? 0) !== 0),
    recvQueue: Buffer.from(recvQueue),
  };
}

/** Just the RepairState fields of a dump (drops the diagnostics). */
export function stateOf(d: RepairDump): RepairState {
  const { sendQueue: _q, sendQueueBytes: _a, unsentBytes: _b, unackedBytes: _c, usecTimestamps: _d, tcpInfo: _e, ...s } = d;
  return s;
}
