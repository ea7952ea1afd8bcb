/**
 * Hands a taken-over connection to any Node `http.Server` for exactly one request.
 *
 * The problem: Node's HTTP server reads greedily. Given the net.Socket itself, its parser consumes
 * the socket's handle directly (parser.consume(handle)) and libuv reads up to 64 KiB at a time,
 * so the start of the next pipelined request would be read out of the kernel and lost to the
 * hand-back (invariant 3: nothing is ACKed that is not delivered).
 *
 * The approach: the server never sees the socket. `handToServer` emits 'connection' with a Duplex
 * bridge (Node documents that any Duplex may be injected this way) and reads the request out of
 * the kernel itself, byte-exact:
 *   - Node stops reading the socket (libuv readStop; bytes Node had already buffered are used first).
 *   - A small HTTP/1.1 framer finds where the request ends: request line + headers up to the empty
 *     line, then Content-Length bytes, or a chunked body up to the last chunk and trailers.
 *   - Bytes are taken from the kernel with recv(MSG_PEEK) to look and recv(n) to consume exactly
 *     the bytes that belong to the request (in a fixed-length body: recv(min(left, 1 MiB)) directly);
 *     the next request stays in the kernel receive queue, where freezeSocket() finds it.
 *   - Writes go straight to the real socket (the response travels to the client directly);
 *     end()/destroy() of the bridge never reach the real socket (no FIN: the controller owns
 *     the connection's end). A server that wanted to close is reported as `closeRequested`.
 *   - Done = the response's 'finish', then Node's write buffer empty, then SIOCOUTQ == 0 (every
 *     byte acknowledged by the peer). Then the bridge is detached from the server.
 *
 * Limits: waiting for body bytes not yet arrived and for the final ACK is polled (every `pollMs`,
 * default 1 ms) rather than event-driven; HTTP/1.1 only (no Upgrade/CONNECT: reported as a
 * normal completion without a response); a request head larger than `maxHeaderBytes` fails.
 */
import { mark } from '../core/timeline.js';
import { Duplex } from 'node:stream';
import type { Server, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PrismError, TimeoutError } from '../core/errors.js';
import { peek, queues, recv } from '../native/repair.js';
import { setUnreadPrefix, socketFd, stopReading, takeUnreadPrefix } from './repair-socket.js';

export interface HandToServerOptions {
  /** Reject (TimeoutError) when the transaction has not completed within this many ms. Default 30 000. */
  readonly timeoutMs?: number;
  /** Largest request head (request line + headers). Default 64 KiB. */
  readonly maxHeaderBytes?: number;
  /** Polling interval for body bytes not yet arrived and for the final ACK, ms. Default 1. */
  readonly pollMs?: number;
}

export interface TakeoverResult {
  /** Response bytes the server wrote (all acknowledged by the peer). */
  readonly bytesSent: number;
  /** Request bytes fed to the server (exactly one request). */
  readonly bytesReceived: number;
  /** Status code of the response (0 when the server wrote none). */
  readonly statusCode: number;
  /** The server ended or destroyed the connection (Connection: close, a parse error): the controller should close it. */
  readonly closeRequested: boolean;
  /** The request line, e.g. 'GET /bytes/10 HTTP/1.1'. */
  readonly requestLine: string;
}

/** Raised when the request cannot be framed (bad head, conflicting lengths) or the peer went away. */
export class TakeoverError extends PrismError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PRISM_ERR_PROTO', message, options);
  }
}

const READ_CHUNK = 1024 * 1024;

/** Unacknowledged response bytes Done may leave for Release to hand back (see finish()). */
export const MAX_UNACKED_TAIL = 32 * 1024;

// ---------------------------------------------------------------------------------------------
// request framing

type FramerState = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'done';

/**
 * Finds the end of one HTTP/1.1 request in a byte stream. feed(buf) returns how many leading bytes
 * of buf belong to the request; once `done`, the rest of buf is the next request.
 */
export class RequestFramer {
  state: FramerState = 'head';
  requestLine = '';
  /** Bytes left in the current fixed-length body or chunk. */
  left = 0;
  readonly #maxHead: number;
  #head: Buffer[] = [];
  #headLen = 0;
  #line = ''; // partial chunk-size or trailer line

  constructor(maxHeaderBytes: number) {
    this.#maxHead = maxHeaderBytes;
  }

  get done(): boolean {
    return this.state === 'done';
  }

  feed(buf: Buffer): number {
    let i = 0;
    while (i < buf.length && this.state !== 'done') {
      switch (this.state) {
        case 'head': {
          // Search across the boundary with the bytes kept so far.
          const tail = this.#headLen > 0 ? Buffer.concat(this.#head).subarray(Math.max(0, this.#headLen - 3)) : Buffer.alloc(0);
          const window = Buffer.concat([tail, buf.subarray(i)]);
          const at = window.indexOf('\r\n\r\n');
          if (at < 0) {
            this.#push(buf.subarray(i));
            i = buf.length;
            if (this.#headLen > this.#maxHead) throw new TakeoverError(`request head longer than ${this.#maxHead} bytes`);
            break;
          }
          const end = at + 4 - tail.length; // bytes of buf (from i) that finish the head
          this.#push(buf.subarray(i, i + end));
          i += end;
          this.#parseHead(Buffer.concat(this.#head).toString('latin1'));
          break;
        }
        case 'body': {
          const n = Math.min(this.left, buf.length - i);
          this.left -= n;
          i += n;
          if (this.left === 0) this.state = 'done';
          break;
        }
        case 'chunk-size':
        case 'trailers': {
          const nl = buf.indexOf(0x0a, i);
          const end = nl < 0 ? buf.length : nl + 1;
          this.#line += buf.subarray(i, end).toString('latin1');
          i = end;
          if (this.#line.length > 8192) throw new TakeoverError('chunk-size or trailer line too long');
          if (nl < 0) break;
          const line = this.#line.replace(/\r?\n$/, '');
          this.#line = '';
          if (this.state === 'trailers') {
            if (line === '') this.state = 'done';
            break;
          }
          const m = /^([0-9a-fA-F]+)(;.*)?$/.exec(line.trim());
          if (!m) throw new TakeoverError(`bad chunk size line ${JSON.stringify(line)}`);
          const size = parseInt(m[1]!, 16);
          if (!Number.isSafeInteger(size)) throw new TakeoverError('chunk size too large');
          if (size === 0) this.state = 'trailers';
          else {
            this.left = size;
            this.state = 'chunk-data';
          }
          break;
        }
        case 'chunk-data': {
          const n = Math.min(this.left, buf.length - i);
          this.left -= n;
          i += n;
          if (this.left === 0) {
            this.state = 'chunk-crlf';
            this.left = 2;
          }
          break;
        }
        case 'chunk-crlf': {
          const n = Math.min(this.left, buf.length - i);
          this.left -= n;
          i += n;
          if (this.left === 0) this.state = 'chunk-size';
          break;
        }
        default:
          break;
      }
    }
    return i;
  }

  #push(b: Buffer): void {
    if (b.length === 0) return;
    this.#head.push(Buffer.from(b));
    this.#headLen += b.length;
  }

  #parseHead(head: string): void {
    const lines = head.split('\r\n');
    // RFC 9112 2.2: ignore at least one empty line before the request line.
    while (lines.length > 0 && lines[0] === '') lines.shift();
    this.requestLine = lines[0] ?? '';
    let length: number | null = null;
    let chunked = false;
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      if (c <= 0) continue;
      const name = line.slice(0, c).trim().toLowerCase();
      const value = line.slice(c + 1).trim();
      if (name === 'content-length') {
        if (!/^\d+$/.test(value)) throw new TakeoverError(`bad Content-Length ${JSON.stringify(value)}`);
        const n = Number(value);
        if (length !== null && length !== n) throw new TakeoverError('conflicting Content-Length headers');
        length = n;
      } else if (name === 'transfer-encoding') {
        chunked = value.toLowerCase().split(',').map((v) => v.trim()).at(-1) === 'chunked';
      }
    }
    if (chunked) this.state = 'chunk-size';
    else if (length !== null && length > 0) {
      this.left = length;
      this.state = 'body';
    } else this.state = 'done';
  }
}

// ---------------------------------------------------------------------------------------------
// the bridge the server sees

class TakeoverBridge extends Duplex {
  readonly #socket: Socket;
  bytesSent = 0;
  closeRequested = false;

  constructor(socket: Socket) {
    super({ allowHalfOpen: true });
    this.#socket = socket;
  }

  override _read(): void {
    // bytes are pushed by handToServer as they are taken from the kernel
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.bytesSent += chunk.length;
    if (this.#socket.write(chunk)) cb();
    else this.#socket.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.closeRequested = true; // never end the real socket: no FIN
    cb();
  }

  /** Set by handToServer before it destroys the bridge itself (that is not the server closing). */
  detaching = false;

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.detaching && !this.writableFinished) this.closeRequested = true;
    cb(err); // the real socket is left alone
  }

  // What servers and applications read off a socket.
  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.#socket.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.#socket.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.#socket.localAddress;
  }
  get localPort(): number | undefined {
    return this.#socket.localPort;
  }
  get encrypted(): boolean {
    return false;
  }
  setTimeout(_ms: number, _cb?: () => void): this {
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.#socket.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(_enable?: boolean, _delay?: number): this {
    return this;
  }
  address(): ReturnType<Socket['address']> {
    return this.#socket.address();
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Serves exactly one request from `socket`'s receive queue with `server` and resolves when the
 * response has been written and fully acknowledged by the peer. Node stops reading `socket` for
 * good; bytes after the request stay in the kernel (freezeSocket() returns them as unread). The
 * real socket is never ended or destroyed here, whatever happens: the caller freezes or aborts it.
 */
export function handToServer(server: Server, socket: Socket, opts: HandToServerOptions = {}): Promise<TakeoverResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const pollMs = opts.pollMs ?? 1;
  const fd = socketFd(socket);
  // A kept connection's earlier takeover may have left bytes of this request aside (the prefix).
  const buffered = Buffer.concat([takeUnreadPrefix(socket), stopReading(socket)]);
  const framer = new RequestFramer(opts.maxHeaderBytes ?? 64 * 1024);
  const bridge = new TakeoverBridge(socket);

  return new Promise<TakeoverResult>((resolve, reject) => {
    let settled = false;
    let bytesReceived = 0;
    let statusCode = 0;
    let responseDone = false;
    const timers = new Set<NodeJS.Timeout>();
    const immediates = new Set<NodeJS.Immediate>();
    let finishPolls = 0;
    const later = (fn: () => void, ms: number): void => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    };

    const cleanup = (): void => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const i of immediates) clearImmediate(i);
      immediates.clear();
      server.off('request', onRequest);
      socket.off('error', onSocketError);
      socket.off('close', onSocketClose);
      if (!bridge.destroyed) {
        bridge.detaching = true;
        bridge.destroy();
      }
    };
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(err);
    };
    const onSocketError = (err: Error): void => fail(new TakeoverError(`the connection failed: ${err.message}`, { cause: err }));
    const onSocketClose = (): void => fail(new TakeoverError('the connection was closed during the takeover'));

    const deadline = setTimeout(() => fail(new TimeoutError('handToServer (one request served and acknowledged)', timeoutMs)), timeoutMs);
    timers.add(deadline);

    const finish = (): void => {
      if (settled) return;
      // Everything written must have left Node and been acknowledged by the peer.
      // Done when everything written has left: Node's buffer is empty and the kernel sent it all
      // (SIOCOUTQNSD = 0). Waiting for the client's ACK too would add its delayed-ACK timer
      // (40 ms on Linux) to about every other transaction; the unacknowledged tail travels back
      // at Release instead, for the controller to retransmit if it is lost.
      // Done also waits until at most MAX_UNACKED_TAIL bytes are unacknowledged: a large response
      // otherwise leaves up to a whole congestion window in flight, which Release must dump and the
      // controller keep for retransmission (seed 001: a drained send queue makes the hand-off
      // state small). While bytes are in flight the client ACKs every other segment at once, so
      // this costs about a round trip; a small response is under the bound from the start.
      let ready = false;
      try {
        const q = socket.writableLength === 0 ? queues(fd) : null;
        ready = q !== null && q.notsent === 0 && q.outq <= MAX_UNACKED_TAIL;
      } catch (e) {
        return fail(e as Error);
      }
      if (!ready) {
        // The peer's ACK of a small response comes within tens of microseconds on a LAN: look again
        // at once a few times (setImmediate) before falling back to the timer's millisecond ticks.
        if (++finishPolls <= 64) {
          const i = setImmediate(finish);
          immediates.add(i);
          return;
        }
        return later(finish, pollMs);
      }
      settled = true;
      mark('a-ready');
      const requestLine = framer.requestLine;
      cleanup();
      resolve({ bytesSent: bridge.bytesSent, bytesReceived, statusCode, closeRequested: bridge.closeRequested, requestLine });
    };

    function onRequest(req: IncomingMessage, res: ServerResponse): void {
      if (req.socket !== (bridge as unknown as Socket)) return;
      mark('a-req');
      const done = (): void => {
        if (responseDone) return;
        responseDone = true;
        mark('a-resfin');
        statusCode = res.statusCode;
        finish();
      };
      if (res.writableFinished) done();
      else res.once('finish', done);
    }

    // The request, byte-exact.
    const deliver = (bytes: Buffer): void => {
      if (bytes.length === 0) return;
      bytesReceived += bytes.length;
      bridge.push(bytes);
    };
    const pump = (): void => {
      if (settled) return;
      try {
        while (!framer.done) {
          let chunk: Buffer | null;
          if (framer.state === 'body' || framer.state === 'chunk-data') {
            chunk = recv(fd, Math.min(framer.left, READ_CHUNK)); // all of it belongs to the request
            if (chunk !== null && chunk.length > 0) framer.feed(chunk);
          } else {
            const look = peek(fd, READ_CHUNK);
            chunk = null;
            if (look !== null && look.length > 0) {
              const n = framer.feed(look);
              chunk = recv(fd, n);
              if (chunk === null || chunk.length !== n) throw new TakeoverError(`short read: ${chunk?.length ?? 0} of ${n} peeked bytes`);
            } else if (look !== null) chunk = look; // empty: end of stream
          }
          if (chunk === null) return later(pump, pollMs); // nothing queued yet
          if (chunk.length === 0) throw new TakeoverError('the peer closed the connection before the request was complete');
          deliver(chunk);
        }
      } catch (e) {
        fail(e as Error);
      }
    };

    server.prependListener('request', onRequest);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    bridge.on('error', () => {}); // errors the server raises on its side end the transaction via 'close'
    bridge.on('close', () => {
      // The server gave up the connection (parse error, destroy) before a response finished.
      if (!responseDone && !settled) {
        responseDone = true;
        finish();
      }
    });
    server.emit('connection', bridge);

    // Bytes Node had already read come first; what is beyond the request goes back as unread.
    try {
      const n = framer.feed(buffered);
      deliver(buffered.subarray(0, n));
      if (n < buffered.length) setUnreadPrefix(socket, Buffer.from(buffered.subarray(n)));
    } catch (e) {
      fail(e as Error);
      return;
    }
    pump();
  });
}
