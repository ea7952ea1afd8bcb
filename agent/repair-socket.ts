/**
 * Node-level helpers over native/repair.ts: turn a repair-state record into a live `net.Socket`,
 * and freeze a live `net.Socket` back into a state record, with nothing sent to the peer either
 * way (beyond the optional window probe when a restored socket goes live).
 *
 * How a kernel socket becomes a net.Socket: `new net.Socket({ fd, readable: true, writable: true })`
 * works in Node 20 for a connected TCP fd (libuv's uv_tcp_open(): the fd is made non-blocking and
 * read/written like an accepted socket). The net.Socket then owns the fd: destroying it closes it.
 *
 * How a net.Socket is frozen without a FIN: the fd (socket._handle.fd) is put in repair mode first
 * (TCP_REPAIR=1), then dumped, then the JS socket is destroyed. Node's destroy() only close()s the
 * fd (no shutdown() unless end() was called, and resetAndDestroy() is not used), and close() of a
 * socket in repair mode ends in tcp_disconnect(), which sends nothing: no FIN, no RST. No dup() is
 * needed, and the fd is closed exactly once, by its owner.
 *
 * Bytes Node has already read from the kernel but nobody consumed (the readable buffer) are not in
 * the kernel's receive queue any more: freezeSocket() puts them in front of the dumped queue, so
 * `unread` always ends at state.rcvNxt.
 */
import { Socket } from 'node:net';
import { InvalidArgumentError } from '../core/errors.js';
import {
  closeSilently,
  dump,
  freeze,
  leaveRepair,
  restore,
  stateOf,
  type RepairDump,
  type RepairState,
  type RestoreState,
} from '../native/repair.js';

export interface RestoreSocketOptions {
  /** Network namespace the socket is created in (name under /var/run/netns or a path). */
  readonly netns?: string;
  /** Bind this local address instead of state.vipIp (4 bytes). */
  readonly localIp?: Uint8Array;
  /** Leave repair mode with a window probe (default true; false: TCP_REPAIR_OFF_NO_WP). */
  readonly windowProbe?: boolean;
  /**
   * Start reading at once (default true). false: the socket is created paused (Node's
   * `pauseOnCreate`), so nothing is read from the kernel until someone reads; use it when the
   * receive queue must stay in the kernel (handToServer reads it request by request).
   */
  readonly startReading?: boolean;
}

/** Node's internal view of a net.Socket's handle (only what is used here). */
interface TcpHandle {
  fd?: number;
  reading?: boolean;
  readStart?: () => number;
  readStop?: () => number;
}

function handleOf(socket: Socket): TcpHandle | null {
  return ((socket as unknown as { _handle?: TcpHandle | null })._handle ?? null) as TcpHandle | null;
}

/** The kernel fd behind a net.Socket (throws InvalidArgumentError for a socket without one). */
export function socketFd(socket: Socket): number {
  const fd = handleOf(socket)?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new InvalidArgumentError('the socket has no kernel fd (not connected, destroyed, or not a TCP socket)');
  }
  return fd;
}

/** Wraps a live (not repair-mode) connected TCP fd in a net.Socket that owns it. */
export function socketFromFd(fd: number, opts: { readonly startReading?: boolean } = {}): Socket {
  // allowHalfOpen: an end of stream from the peer must not make Node send our FIN (the
  // controller owns the connection's end; the switch clears the client's FIN anyway).
  const options = { fd, readable: true, writable: true, allowHalfOpen: true, pauseOnCreate: opts.startReading === false };
  const socket = new Socket(options as ConstructorParameters<typeof Socket>[0]);
  // TCP_NODELAY, as Node's HTTP server sets on the sockets it accepts: a response written in two
  // parts (head, then body) must not wait for the client's delayed ACK of the first (Nagle).
  socket.setNoDelay(true);
  return socket;
}

/**
 * Restores `state` (with `recvQueue` as the receive queue) in the kernel, leaves repair mode and
 * returns the connection as a net.Socket. On any failure the socket is closed silently and the
 * error (SyscallError / TypeError / RangeError) is thrown.
 */
export function restoreSocket(state: RestoreState, recvQueue: Uint8Array, opts: RestoreSocketOptions = {}): Socket {
  const restoreOpts = {
    ...(opts.netns !== undefined ? { netns: opts.netns } : {}),
    ...(opts.localIp !== undefined ? { localIp: opts.localIp } : {}),
  };
  const fd = restore({ ...state, recvQueue }, restoreOpts);
  try {
    leaveRepair(fd, { windowProbe: opts.windowProbe ?? true });
    return socketFromFd(fd, opts.startReading === undefined ? {} : { startReading: opts.startReading });
  } catch (e) {
    try {
      closeSilently(fd);
    } catch {
      // the original error matters more
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// stop reading, freeze

/** Bytes a takeover consumed from the kernel but did not feed to the application (see takeover.ts). */
const unreadPrefix = new WeakMap<Socket, Buffer>();

/** Records bytes read from `socket`'s kernel queue that belong to the next request; freezeSocket() returns them first. */
export function setUnreadPrefix(socket: Socket, bytes: Buffer): void {
  const prev = unreadPrefix.get(socket);
  unreadPrefix.set(socket, prev ? Buffer.concat([prev, bytes]) : bytes);
}

/** The bytes setUnreadPrefix() recorded, left in place. */
export function peekUnreadPrefix(socket: Socket): Buffer {
  return unreadPrefix.get(socket) ?? Buffer.alloc(0);
}

/** The bytes setUnreadPrefix() recorded, handed over: the next takeover reads them first. */
export function takeUnreadPrefix(socket: Socket): Buffer {
  const prefix = unreadPrefix.get(socket) ?? Buffer.alloc(0);
  unreadPrefix.delete(socket);
  return prefix;
}

/**
 * Stops Node from reading `socket` any further (libuv readStop, and the stream can no longer
 * restart it) and returns the bytes Node had already read but nobody consumed. After this the
 * kernel receive queue is left alone: only freezeSocket() or direct fd reads touch it.
 */
export function stopReading(socket: Socket): Buffer {
  const h = handleOf(socket);
  if (h && h.reading !== false && typeof h.readStop === 'function') {
    h.reading = false;
    h.readStop();
  }
  // Readable.read() would call _read() -> tryReadStart() once its buffer drains: not any more.
  (socket as unknown as { _read: () => void })._read = () => {};
  socket.pause();
  return drainBuffered(socket);
}

/** What Node read from the kernel and buffered in the stream, taken out; nobody else sees it. */
function drainBuffered(socket: Socket): Buffer {
  // read() emits 'data' for what it returns: the bytes must come to us only, so listeners are
  // detached while the buffer drains.
  const listeners = socket.rawListeners('data');
  socket.removeAllListeners('data');
  const chunks: Buffer[] = [];
  try {
    for (;;) {
      const c: unknown = socket.read();
      if (c === null || c === undefined) break;
      chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
    }
  } finally {
    for (const l of listeners) socket.on('data', l as (...args: unknown[]) => void);
    socket.pause(); // re-adding a 'data' listener resumes a stream
  }
  return Buffer.concat(chunks);
}

/**
 * Reads `socket` (stopped by stopReading) aside: every byte the kernel delivers goes to the
 * unread prefix (freezeSocket() and the next takeover return it first, so nothing ACKed is
 * lost), and `onBytes` sees the whole prefix after each arrival. Event-driven (libuv readStart),
 * where a watch with MSG_PEEK would have to poll. Returns the function that stops it; `onBytes`
 * should stop it as soon as it has what it waits for, which bounds what is read to one chunk
 * beyond that.
 */
export function readAside(socket: Socket, onBytes: (prefix: Buffer) => void): () => void {
  const h = handleOf(socket);
  const start = h?.readStart?.bind(h);
  const stop = h?.readStop?.bind(h);
  if (!h || !start || !stop) throw new InvalidArgumentError('readAside: the socket has no TCP handle');
  let stopped = false;
  const take = (): boolean => {
    const b = drainBuffered(socket);
    if (b.length > 0) setUnreadPrefix(socket, b);
    return b.length > 0;
  };
  const onReadable = (): void => {
    if (stopped) return;
    if (take()) onBytes(peekUnreadPrefix(socket));
    // Node stops the handle itself when its buffer is full; keep going until told to stop.
    if (!stopped && h.reading === false) {
      h.reading = true;
      start();
    }
  };
  socket.on('readable', onReadable);
  h.reading = true;
  start();
  return () => {
    if (stopped) return;
    stopped = true;
    h.reading = false;
    stop();
    socket.off('readable', onReadable);
    take();
  };
}

export interface FrozenSocket {
  /** The state to hand back (ConnectionState + recvQueue = `unread`). */
  readonly state: RepairState;
  /** Bytes received and ACKed by this host but not consumed by the application, in order. */
  readonly unread: Buffer;
  /** Bytes sent from state.sndUna on and not acknowledged yet (then any unsent ones). */
  readonly unacked: Buffer;
  /** The raw dump (queue sizes, TCP_INFO) for diagnostics. */
  readonly dump: RepairDump;
  /** Bytes the application had written that were still in Node's buffer (lost; 0 when the transaction finished). */
  readonly writePending: number;
}

/**
 * Freezes a live net.Socket: stops Node's reads, TCP_REPAIR=1 on its fd, dumps the state and
 * the unread bytes, then destroys the JS socket (its fd is closed in repair mode: nothing is sent).
 * Throws (SyscallError) without destroying the socket when the freeze itself fails.
 */
export function freezeSocket(socket: Socket): FrozenSocket {
  const fd = socketFd(socket);
  const writePending = socket.writableLength;
  const buffered = stopReading(socket);
  freeze(fd);
  let d: RepairDump;
  try {
    d = dump(fd);
  } catch (e) {
    // Frozen but not dumpable (e.g. not ESTABLISHED): still close without a sound.
    socket.on('error', () => {});
    socket.destroy();
    throw e;
  }
  const prefix = unreadPrefix.get(socket);
  unreadPrefix.delete(socket);
  const unread = Buffer.concat([...(prefix ? [prefix] : []), buffered, d.recvQueue]);
  socket.on('error', () => {});
  socket.destroy(); // close(fd) in repair mode: no FIN, no RST
  return { state: { ...stateOf(d), recvQueue: unread }, unread, unacked: d.sendQueue, dump: d, writePending };
}
