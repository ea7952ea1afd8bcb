/**
 * Raw Ethernet frame I/O on one interface: a typed wrapper over the prism_packet native addon
 * (native/src/packet.c, an AF_PACKET SOCK_RAW socket bound to the interface). Used by the
 * embedded switch's CPU port (dataplane/cpu-port.ts) and by tests that play a data plane.
 *
 * - `send` is synchronous (a non-blocking send(2); a full queue is retried for up to 5 ms).
 * - Receiving runs on the Node event loop (uv_poll on the socket): `onFrames(cb)` calls `cb` with
 *   every batch of frames read (up to 64 per call, each its own Buffer copy), in arrival order.
 *   The loop is never blocked; a receiving socket keeps the process alive unless `unref()`ed.
 * - Frames this host transmits on the interface (including our own sends) are not read back
 *   (PACKET_IGNORE_OUTGOING). VLAN tags the kernel moved into metadata are put back, so frames
 *   read are byte-for-byte what was on the wire.
 *
 * System-call failures become `SyscallError` (code 'PRISM_ERR_SYSCALL', with `errno`,
 * `errnoName`, `op`); argument mistakes stay TypeError ('ERR_INVALID_ARG_TYPE') or RangeError
 * ('ERR_OUT_OF_RANGE'). The addon is loaded lazily from native/build/Release/prism_packet.node
 * (found by walking up from this module; PRISM_PACKET_ADDON overrides). See docs/native.md.
 */
import { addonLoader, isNativeErrnoError } from './load-addon.js';
import { PrismError, SyscallError } from '../core/errors.js';

// ---------------------------------------------------------------------------------------------
// the raw addon

/** The addon's handle: a tagged object (do not build one yourself). */
export interface RawPacketHandle {
  readonly fd: number;
  readonly ifindex: number;
}

export interface PacketSocketOptions {
  /** Network namespace of the interface: a name under /var/run/netns or a path to a netns file. */
  readonly netns?: string;
  /** Receive buffer in bytes (SO_RCVBUFFORCE; the kernel doubles it). Default 4 MiB. */
  readonly rcvbuf?: number;
}

export interface PacketStats {
  /** Frames delivered to onFrames callbacks. */
  readonly received: number;
  /** Frames written by send(). */
  readonly sent: number;
  /** Frames the kernel dropped because the receive buffer was full (PACKET_STATISTICS, cumulative). */
  readonly dropped: number;
  /** Frames longer than the 64.5 KiB receive slot (not delivered). */
  readonly truncated: number;
  /** Receive errors (e.g. ENETDOWN when the interface went down), reported to onError if given. */
  readonly errors: number;
  readonly receiving: boolean;
  readonly closed: boolean;
}

interface RawAddon {
  open(ifname: string, opts?: PacketSocketOptions): RawPacketHandle;
  close(handle: RawPacketHandle): void;
  send(handle: RawPacketHandle, frame: Uint8Array): number;
  startReceive(handle: RawPacketHandle, onFrames: (frames: Buffer[]) => void, onError?: (err: Error) => void): void;
  stopReceive(handle: RawPacketHandle): void;
  setRef(handle: RawPacketHandle, ref: boolean): void;
  stats(handle: RawPacketHandle): PacketStats;
}

const loader = addonLoader<RawAddon>('prism_packet', 'PRISM_PACKET_ADDON', toSyscallError);

/** Where the built addon is, or null when it is not built. */
export function packetAddonPath(): string | null {
  return loader.path();
}


/** Whether the addon is built and loadable; the reason when not (for test skips). */
export function packetAddonUnavailableReason(): string | null {
  return loader.unavailableReason();
}

/** Turn the addon's errno-carrying Errors into SyscallError; everything else passes through. */
export function toSyscallError(e: unknown): unknown {
  if (!isNativeErrnoError(e)) return e;
  return new SyscallError(e.syscall, e.errno, e.code, e.message, { cause: e });
}

const call = loader.call;

// ---------------------------------------------------------------------------------------------
// PacketSocket

export type FramesListener = (frames: Buffer[]) => void;
export type ReceiveErrorListener = (err: SyscallError) => void;

export class PacketSocket {
  readonly ifname: string;
  readonly netns: string | undefined;
  readonly #handle: RawPacketHandle;

  private constructor(ifname: string, netns: string | undefined, handle: RawPacketHandle) {
    this.ifname = ifname;
    this.netns = netns;
    this.#handle = handle;
  }

  /**
   * Opens an AF_PACKET socket bound to `ifname` (in `netns` when given). ENODEV when there is no
   * such interface, ENOENT when the namespace does not exist.
   */
  static open(ifname: string, opts: PacketSocketOptions = {}): PacketSocket {
    const handle = call((a) => a.open(ifname, opts));
    return new PacketSocket(ifname, opts.netns, handle);
  }

  /** The socket's fd (informational; it belongs to this object). */
  get fd(): number {
    return this.#handle.fd;
  }

  /** The interface's index in its namespace. */
  get ifindex(): number {
    return this.#handle.ifindex;
  }

  get closed(): boolean {
    return call((a) => a.stats(this.#handle)).closed;
  }

  get receiving(): boolean {
    return call((a) => a.stats(this.#handle)).receiving;
  }

  /**
   * Transmits one frame (a whole Ethernet frame: destination MAC first, no FCS) on the interface;
   * returns the bytes written. A frame shorter than 14 bytes is EINVAL, one longer than MTU + 14
   * is EMSGSIZE, a queue still full after 5 ms is EAGAIN / ENOBUFS, a closed socket EBADF.
   */
  send(frame: Uint8Array): number {
    return call((a) => a.send(this.#handle, frame));
  }

  /**
   * Starts receiving (or replaces the listeners): `listener` gets every batch of frames read.
   * `onError` gets receive errors (e.g. ENETDOWN when the link goes down; receiving continues).
   * An exception thrown by a listener is an uncaught exception.
   */
  onFrames(listener: FramesListener, onError?: ReceiveErrorListener): void {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    const errCb = onError === undefined ? undefined : (e: Error): void => onError(toSyscallError(e) as SyscallError);
    call((a) => a.startReceive(this.#handle, listener, errCb));
  }

  /** Stops receiving (idempotent). Frames arriving meanwhile queue in the socket (up to rcvbuf). */
  stop(): void {
    call((a) => a.stopReceive(this.#handle));
  }

  /** A receiving socket stops keeping the process alive. */
  unref(): this {
    call((a) => a.setRef(this.#handle, false));
    return this;
  }

  ref(): this {
    call((a) => a.setRef(this.#handle, true));
    return this;
  }

  /** Counters (kept after close). */
  stats(): PacketStats {
    return call((a) => a.stats(this.#handle));
  }

  /** Stops receiving and closes the socket. Idempotent. */
  close(): void {
    call((a) => a.close(this.#handle));
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
