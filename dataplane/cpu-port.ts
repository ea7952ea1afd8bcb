/**
 * The embedded switch's CPU port: a veth pair in the switch's namespace whose data-plane end
 * (`cpu1`) is a switch port like the others (the eBPF program runs at its tc ingress and
 * redirects packet-ins to it), while the controller end (`cpu0`) is read and written with an
 * AF_PACKET socket (native/packet.ts).
 *
 *   controller ── sendPacketOut(port, frame) ──▶ cpu0 ══veth══ cpu1 ──▶ tc ingress: pop packet_out
 *   controller ◀── packet-in {ingressPort, payload} ── cpu0 ══veth══ cpu1 ◀── bpf_redirect(packet_in + frame)
 *
 * Frames on the veth carry the pipeline's controller header in front of the Ethernet frame:
 * [2 bytes: 9-bit port, 7 zero bits, big-endian][frame] — `encodeControllerHeader` /
 * `decodeControllerHeader` below are the one place that knows the layout on the TypeScript side.
 *
 * Invariants:
 * - Both ends have MTU `mtu` (default 9000) and IPv6 address generation off (`addrgenmode none`),
 *   so the kernel never sends its own frames (DAD, router solicitations) into the data plane or
 *   to the controller.
 * - A frame read from cpu0 shorter than header + 14 bytes is counted as malformed and dropped.
 * - `close()` stops the socket and deletes the pair (deleting one end deletes both); it is
 *   idempotent and does not fail when the namespace or the veth is already gone.
 */
import { finishTcpChecksum } from '../core/header/frame.js';
import { InvalidArgumentError, PrismError, type SyscallError } from '../core/errors.js';
import { PORT_BITS } from '../codegen/pipelines/headers.js';
import { validateIfName } from '../netns/names.js';
import { run } from '../netns/run.js';
import { PacketSocket, type PacketStats } from '../native/packet.js';
import type { PacketIn, PacketIo } from './packet-io.js';

export type { PacketIn } from './packet-io.js';

// ---------------------------------------------------------------------------------------------
// controller header

/**
 * Bytes of the controller header in front of frames on the CPU port. The layout is the
 * pipeline's packet_in / packet_out header (codegen/pipelines/headers.ts): a PORT_BITS-bit port
 * number followed by zero padding to a whole byte count, big-endian (as P4 headers are on the wire).
 */
export const CONTROLLER_HEADER_BYTES = Math.ceil(PORT_BITS / 8);
const PORT_SHIFT = CONTROLLER_HEADER_BYTES * 8 - PORT_BITS;
/** Largest port number the header can carry (511). */
export const MAX_CONTROLLER_PORT = 2 ** PORT_BITS - 1;
const ETHERNET_HEADER_BYTES = 14;

/** The packet_out / packet_in header for `port`: port in the top PORT_BITS bits, zero padding. */
export function encodeControllerHeader(port: number): Buffer {
  if (!Number.isInteger(port) || port < 0 || port > MAX_CONTROLLER_PORT) {
    throw new InvalidArgumentError(`port ${String(port)} does not fit the ${PORT_BITS}-bit controller header (0..${MAX_CONTROLLER_PORT})`);
  }
  const b = Buffer.alloc(CONTROLLER_HEADER_BYTES);
  b.writeUIntBE(port * 2 ** PORT_SHIFT, 0, CONTROLLER_HEADER_BYTES);
  return b;
}

/** The port in a packet_in / packet_out header at the start of `buf` (padding bits are ignored). */
export function decodeControllerHeader(buf: Uint8Array): number {
  if (buf.length < CONTROLLER_HEADER_BYTES) {
    throw new InvalidArgumentError(`a controller header needs ${CONTROLLER_HEADER_BYTES} bytes, got ${buf.length}`);
  }
  const v = Buffer.from(buf.buffer, buf.byteOffset, CONTROLLER_HEADER_BYTES).readUIntBE(0, CONTROLLER_HEADER_BYTES);
  return Math.floor(v / 2 ** PORT_SHIFT);
}

// ---------------------------------------------------------------------------------------------
// CpuPort

export type PacketInListener = (packet: PacketIn) => void;

export interface CpuPortOptions {
  /** The switch's network namespace (a name under /var/run/netns); default: the current one. */
  readonly netns?: string;
  /** Controller end, read and written by the CpuPort (default 'cpu0'). */
  readonly ifname?: string;
  /** Data-plane end, where the switch program is attached as the CPU port (default 'cpu1'). */
  readonly dataplaneIfname?: string;
  /** MTU of both ends (default 9000). Packet-outs can carry frames of up to mtu + 12 bytes. */
  readonly mtu?: number;
  /** Socket receive buffer (default 4 MiB). */
  readonly rcvbuf?: number;
}

export interface CpuPortStats {
  readonly packetOuts: number;
  readonly packetIns: number;
  /** Frames from the data plane too short to hold a controller header and an Ethernet header. */
  readonly malformed: number;
  /** Packet-ins that arrived while nobody listened (dropped). */
  readonly unclaimed: number;
  /** Packet-ins dropped because an async iterator's queue was full. */
  readonly overflowed: number;
  readonly socket: PacketStats;
}

export interface PacketInIteratorOptions {
  /** Packet-ins buffered for a slow consumer before new ones are dropped (default 4096). */
  readonly maxQueue?: number;
}

/** The embedded switch's PacketIo: `ingressPort` is the packet_in header, `payload` the frame after it. */
export class CpuPort implements PacketIo {
  readonly netns: string | undefined;
  /** The controller end ('cpu0'). */
  readonly ifname: string;
  /** The data-plane end ('cpu1'): attach the switch program here and use it as the CPU port. */
  readonly dataplaneIfname: string;
  readonly mtu: number;
  readonly #socket: PacketSocket;
  readonly #listeners = new Set<PacketInListener>();
  readonly #errorListeners = new Set<(err: SyscallError) => void>();
  readonly #closeListeners = new Set<() => void>();
  #receiving = false;
  #closed: Promise<void> | undefined;
  #packetOuts = 0;
  #packetIns = 0;
  #malformed = 0;
  #unclaimed = 0;
  #overflowed = 0;

  private constructor(netns: string | undefined, ifname: string, dataplaneIfname: string, mtu: number, socket: PacketSocket) {
    this.netns = netns;
    this.ifname = ifname;
    this.dataplaneIfname = dataplaneIfname;
    this.mtu = mtu;
    this.#socket = socket;
  }

  /** Creates the veth pair (both ends up) and opens the socket on the controller end. */
  static async create(opts: CpuPortOptions = {}): Promise<CpuPort> {
    const ifname = validateIfName(opts.ifname ?? 'cpu0');
    const peer = validateIfName(opts.dataplaneIfname ?? 'cpu1');
    if (ifname === peer) throw new InvalidArgumentError(`both ends of the CPU port are named ${ifname}`);
    const mtu = opts.mtu ?? 9000;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65_535) throw new InvalidArgumentError(`invalid MTU ${mtu}: 68..65535`);
    const netns = opts.netns;
    const ip = ipIn(netns);
    try {
      await ip(['link', 'add', 'name', ifname, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', peer, 'mtu', String(mtu)]);
    } catch (e) {
      const exists = /exists/i.test(String((e as Error).message));
      throw new PrismError(
        exists ? 'PRISM_ERR_ALREADY_EXISTS' : 'PRISM_ERR_COMMAND_FAILED',
        `cannot create the CPU port veth ${ifname}/${peer}${netns ? ` in ${netns}` : ''}${exists ? ': an interface with that name already exists' : ''}`,
        { cause: e },
      );
    }
    try {
      for (const dev of [ifname, peer]) {
        // Before `up`: no link-local address, hence no DAD / router solicitations on the pair.
        await ip(['link', 'set', 'dev', dev, 'addrgenmode', 'none']);
        await ip(['link', 'set', 'dev', dev, 'up']);
      }
      const socketOpts = { ...(netns !== undefined ? { netns } : {}), ...(opts.rcvbuf !== undefined ? { rcvbuf: opts.rcvbuf } : {}) };
      const socket = PacketSocket.open(ifname, socketOpts);
      return new CpuPort(netns, ifname, peer, mtu, socket);
    } catch (e) {
      await deleteLink(netns, ifname).catch(() => {});
      throw e;
    }
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * Sends `frame` (a whole Ethernet frame) to the data plane to be sent out of `egressPort`:
   * writes [packet_out header][frame] into the controller end. Returns the bytes written.
   */
  sendPacketOut(egressPort: number, frame: Uint8Array): number {
    if (this.#closed) throw new PrismError('PRISM_ERR_INVALID_ARGUMENT', `the CPU port ${this.ifname} is closed`);
    if (!(frame instanceof Uint8Array)) throw new TypeError('frame must be a Buffer or Uint8Array');
    if (frame.length < ETHERNET_HEADER_BYTES) {
      throw new InvalidArgumentError(`a packet-out frame needs at least an Ethernet header (14 bytes), got ${frame.length}`);
    }
    const out = Buffer.allocUnsafe(CONTROLLER_HEADER_BYTES + frame.length);
    encodeControllerHeader(egressPort).copy(out, 0);
    out.set(frame, CONTROLLER_HEADER_BYTES);
    const n = this.#socket.send(out);
    this.#packetOuts++;
    return n;
  }

  /**
   * Calls `listener` for every packet-in (in arrival order); returns a function that removes it.
   * `onError` gets socket receive errors (e.g. ENETDOWN when the pair goes down).
   */
  onPacketIn(listener: PacketInListener, onError?: (err: SyscallError) => void): () => void {
    if (this.#closed) throw new PrismError('PRISM_ERR_INVALID_ARGUMENT', `the CPU port ${this.ifname} is closed`);
    this.#listeners.add(listener);
    if (onError) this.#errorListeners.add(onError);
    this.#startReceiving();
    return () => {
      this.#listeners.delete(listener);
      if (onError) this.#errorListeners.delete(onError);
    };
  }

  /**
   * Packet-ins as an async iterator; it ends when the CpuPort is closed (or the loop breaks).
   * Packet-ins beyond `maxQueue` unread ones are dropped and counted (`overflowed`).
   */
  packetIns(opts: PacketInIteratorOptions = {}): AsyncIterableIterator<PacketIn> {
    const maxQueue = opts.maxQueue ?? 4096;
    const queue: PacketIn[] = [];
    let wake: ((r: IteratorResult<PacketIn>) => void) | undefined;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      unsubscribe();
      this.#closeListeners.delete(finish);
      queue.length = 0;
      const w = wake;
      wake = undefined;
      w?.({ value: undefined, done: true });
    };
    const unsubscribe = this.onPacketIn((p) => {
      if (wake) {
        const w = wake;
        wake = undefined;
        w({ value: p, done: false });
      } else if (queue.length < maxQueue) queue.push(p);
      else this.#overflowed++;
    });
    this.#closeListeners.add(finish);
    const it: AsyncIterableIterator<PacketIn> = {
      next: () => {
        const p = queue.shift();
        if (p) return Promise.resolve({ value: p, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          wake = resolve;
        });
      },
      return: () => {
        finish();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<PacketIn> {
    return this.packetIns();
  }

  /** A receiving CpuPort stops keeping the process alive. */
  unref(): this {
    this.#socket.unref();
    return this;
  }

  stats(): CpuPortStats {
    return {
      packetOuts: this.#packetOuts,
      packetIns: this.#packetIns,
      malformed: this.#malformed,
      unclaimed: this.#unclaimed,
      overflowed: this.#overflowed,
      socket: this.#socket.stats(),
    };
  }

  /** Stops receiving, closes the socket, ends iterators and deletes the veth pair. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#socket.close();
      for (const f of [...this.#closeListeners]) f();
      this.#listeners.clear();
      this.#errorListeners.clear();
      await deleteLink(this.netns, this.ifname);
    })();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #startReceiving(): void {
    if (this.#receiving) return;
    this.#receiving = true;
    this.#socket.onFrames(
      (frames) => {
        for (const f of frames) this.#deliver(f);
      },
      (err) => {
        for (const l of [...this.#errorListeners]) l(err);
      },
    );
  }

  #deliver(frame: Buffer): void {
    if (frame.length < CONTROLLER_HEADER_BYTES + ETHERNET_HEADER_BYTES) {
      this.#malformed++;
      return;
    }
    if (this.#listeners.size === 0) {
      this.#unclaimed++;
      return;
    }
    this.#packetIns++;
    const payload = frame.subarray(CONTROLLER_HEADER_BYTES);
    // Sent by a local stack with checksum offload: finish the sum, as the NIC on a wire would have.
    if ((frame as Buffer & { csumNotReady?: boolean }).csumNotReady) finishTcpChecksum(payload);
    const p: PacketIn = { ingressPort: decodeControllerHeader(frame), payload };
    for (const l of [...this.#listeners]) l(p);
  }
}

function ipIn(netns: string | undefined): (args: readonly string[]) => Promise<unknown> {
  return (args) => run(['ip', ...(netns !== undefined ? ['-n', netns] : []), ...args]);
}

/** Deletes the veth (both ends); fine when it, or its namespace, is already gone. */
async function deleteLink(netns: string | undefined, ifname: string): Promise<void> {
  try {
    await ipIn(netns)(['link', 'del', 'dev', ifname]);
  } catch (e) {
    const gone = await ipIn(netns)(['link', 'show', 'dev', ifname]).then(
      () => false,
      () => true,
    );
    if (!gone) throw e;
  }
}
