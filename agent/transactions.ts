/**
 * Transactions on a backend: a connection materialised with TCP_REPAIR at Prepare, handed to a
 * Node http.Server at Start for exactly one request (the bytes the controller ACKed come from
 * Prepare as the socket's unread prefix), reported Done when the response has left (at most
 * MAX_UNACKED_TAIL of it unacknowledged), frozen and handed back at Release — or at Done itself,
 * with release_on_done. Nothing is ever sent to the client outside Start..Release (the socket
 * stays in repair mode until Start and is closed in repair mode).
 *
 * Kept transactions (Prepare keep_ms > 0, Prism 3.3): after Done the socket stays open and the
 * agent reads what arrives aside into the unread prefix (nothing is lost: Continue's takeover and
 * Release return it first) until it holds the next request head, and reports it (or that none
 * came within keep_ms) in a NextRequest event. The controller then either calls
 * Continue (the same socket serves that request as a new transaction, the switch rules stay) or
 * Release (the head travels back in `unread`). A transaction whose application asked to close
 * (Done.close_requested) is reported idle at once, whatever is queued: no request after it is
 * served.
 */
import { ipv4ToBytes } from '../core/header/addr.js';
import { mark } from '../core/timeline.js';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { logger } from '../core/log.js';
import { closeSilently, leaveRepair, restore } from '../native/repair.js';
import { RefusedError } from './agent-server.js';
import { freezeSocket, peekUnreadPrefix, readAside, setUnreadPrefix, socketFromFd } from './repair-socket.js';
import { handToServer } from './takeover.js';
import type { LoadReport, NextRequestReport, PrepareSpec, ReleaseResult, TransactionDone, TransactionHost } from './transaction-host.js';

const log = logger('transactions');

type Phase = 'prepared' | 'started' | 'done' | 'kept' | 'failed';

interface Tx {
  readonly id: bigint;
  phase: Phase;
  fd: number;
  socket?: Socket;
  bytesSent: bigint;
  deadline?: NodeJS.Timeout;
  /** After Done, how long to watch for the next request head (0 = not kept). */
  readonly keepMs: number;
  /** Stops the watch for the next request head, while it runs. */
  stopWatch?: (() => void) | undefined;
  /** Release at Done (not kept): Done carries the released connection. */
  readonly releaseOnDone: boolean;
  /**
   * The bytes the controller ACKed (the request, body bytes, anything after them), until Start
   * hands them to the takeover as the socket's unread prefix: they need not go through the
   * kernel's receive queue to be read straight back out of it.
   */
  acked?: Buffer | undefined;
}

/** Longest next-request head a kept transaction reports; a longer one goes back at Release (the controller answers 431). */
const MAX_NEXT_HEAD = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
/** The window of the load report's recent throughput (ms). */
const THROUGHPUT_WINDOW_MS = 5000;

export interface ServerTransactionsOptions {
  readonly name: string;
  /** The backend's own address: the restored socket's local address (the switch rewrites the VIP to it). */
  readonly backendIp: string;
  /** The application serving the requests. */
  readonly server: Server;
  /** Most transactions at once; Prepare refuses beyond it. */
  readonly maxActive?: number;
}

export class ServerTransactions implements TransactionHost {
  readonly #opts: ServerTransactionsOptions;
  readonly #tx = new Map<bigint, Tx>();
  readonly #doneListeners: ((done: TransactionDone) => void)[] = [];
  readonly #abortListeners: ((id: bigint, reason: string) => void)[] = [];
  readonly #nextListeners: ((report: NextRequestReport) => void)[] = [];
  readonly #backendIp: Buffer;
  /** Response bytes of the last THROUGHPUT_WINDOW_MS, oldest first, and their sum (a sliding window). */
  readonly #bytesWindow: { at: number; bytes: number }[] = [];
  #bytesInWindow = 0;
  /** Index of the oldest entry still in the window. */
  #bytesHead = 0;

  constructor(opts: ServerTransactionsOptions) {
    this.#opts = opts;
    this.#backendIp = ipv4ToBytes(opts.backendIp);
  }

  async prepare(spec: PrepareSpec): Promise<void> {
    if (this.#tx.has(spec.id)) throw new RefusedError('REFUSE_REASON_DUPLICATE_TRANSACTION', `transaction ${spec.id} exists`);
    if (this.#tx.size >= (this.#opts.maxActive ?? 1024)) throw new RefusedError('REFUSE_REASON_OVERLOADED', `${this.#tx.size} transactions in progress`);
    if (spec.deadlineMs && spec.deadlineMs < Date.now()) throw new RefusedError('REFUSE_REASON_DEADLINE_EXCEEDED', 'the deadline has passed');
    let fd: number;
    try {
      // rcv_nxt already counts the ACKed bytes; the receive queue starts empty at it.
      fd = restore({ ...spec.state, recvQueue: Buffer.alloc(0) }, { localIp: this.#backendIp });
    } catch (err) {
      throw new RefusedError('REFUSE_REASON_REPAIR_FAILED', (err as Error).message);
    }
    const keepMs = spec.keepMs ?? 0;
    const acked = Buffer.concat([spec.request, spec.body]);
    const tx: Tx = { id: spec.id, phase: 'prepared', fd, bytesSent: 0n, keepMs, releaseOnDone: spec.releaseOnDone === true && keepMs === 0, acked };
    this.#track(tx, spec.deadlineMs);
  }

  #track(tx: Tx, deadlineMs: number): void {
    if (deadlineMs) {
      tx.deadline = setTimeout(() => void this.abort(tx.id, 'deadline exceeded'), Math.max(0, deadlineMs - Date.now()) + 1000);
      tx.deadline.unref();
    }
    this.#tx.set(tx.id, tx);
  }

  async start(id: bigint): Promise<void> {
    const tx = this.#get(id, 'prepared');
    // Leave repair with a window probe: the client learns the backend's window (through the switch's rewrite).
    leaveRepair(tx.fd, { windowProbe: true });
    const socket = socketFromFd(tx.fd, { startReading: false });
    socket.on('error', (err) => log.debug({ tx: String(id), err: err.message }, 'socket error'));
    tx.socket = socket;
    // The takeover reads the unread prefix first; whatever the request does not use goes back
    // at Release as unread, like the receive queue's bytes would (nothing ACKed is lost).
    if (tx.acked && tx.acked.length > 0) setUnreadPrefix(socket, tx.acked);
    tx.acked = undefined;
    // The application runs at the next turn of the event loop: Start's answer leaves first, even
    // when the application then works for seconds before its first byte (hashing a large body,
    // say). An Abort meanwhile removes the transaction, and it is not served.
    setImmediate(() => {
      if (this.#tx.get(id) === tx && tx.phase === 'prepared') this.#serve(tx);
    });
  }

  /** Serves one request on the transaction's socket; Done, then (kept) the watch for the next head. */
  #serve(tx: Tx): void {
    const id = tx.id;
    const socket = tx.socket!;
    tx.phase = 'started';
    handToServer(this.#opts.server, socket).then(
      (r) => {
        if (tx.phase !== 'started') return;
        tx.phase = 'done';
        tx.bytesSent = BigInt(r.bytesSent);
        this.#bytesWindow.push({ at: Date.now(), bytes: r.bytesSent });
        this.#bytesInWindow += r.bytesSent;
        let released: ReleaseResult | undefined;
        if (tx.releaseOnDone) {
          try {
            released = this.#release(tx);
          } catch (err) {
            tx.phase = 'failed';
            for (const l of this.#abortListeners) l(id, `release at Done failed: ${(err as Error).message}`);
            return;
          }
        }
        const done: TransactionDone = { id, bytesSent: BigInt(r.bytesSent), bytesReceived: BigInt(r.bytesReceived), closeRequested: r.closeRequested, ...(released ? { released } : {}) };
        mark('a-done', id);
        for (const l of this.#doneListeners) l(done);
        if (tx.keepMs === 0) return;
        // A server that asked to close does not get another request on this connection, even one
        // already queued: the kept connection is reported idle at once, and the controller closes it.
        if (r.closeRequested) this.#reportNext(tx, Buffer.alloc(0), true);
        else this.#watchNext(tx, tx.keepMs);
      },
      (err: unknown) => {
        if (tx.phase !== 'started') return;
        tx.phase = 'failed';
        log.warn({ tx: String(id), err: (err as Error).message }, 'transaction failed');
        for (const l of this.#abortListeners) l(id, (err as Error).message);
      },
    );
  }

  /**
   * Reads the connection aside (readAside: the bytes go to the socket's unread prefix, which
   * Continue's takeover and Release's freeze return first, so nothing ACKed is lost) until it
   * holds a complete request head, then reports it; reports idle when none comes within `ms` or
   * the head is too long. Event-driven: the watch costs nothing while the connection is quiet,
   * and a request that follows at once is seen when it arrives (a MSG_PEEK watch had to poll:
   * 17 peeks per kept transaction at full load).
   */
  #watchNext(tx: Tx, ms: number): void {
    const socket = tx.socket!;
    let timer: NodeJS.Timeout | undefined;
    let stopRead: (() => void) | undefined;
    const stop = (): void => {
      clearTimeout(timer);
      stopRead?.();
      tx.stopWatch = undefined;
    };
    const check = (queued: Buffer): void => {
      if (tx.phase !== 'done') return stop(); // released or aborted meanwhile
      const end = queued.indexOf(HEAD_END);
      if (end >= 0) {
        stop();
        return this.#reportNext(tx, queued.subarray(0, end + HEAD_END.length), false);
      }
      if (queued.length >= MAX_NEXT_HEAD) {
        stop();
        this.#reportNext(tx, Buffer.alloc(0), true);
      }
    };
    tx.stopWatch = stop;
    timer = setTimeout(() => {
      stop();
      if (tx.phase === 'done') this.#reportNext(tx, Buffer.alloc(0), true);
    }, ms);
    try {
      stopRead = readAside(socket, check);
    } catch (err) {
      stop();
      tx.phase = 'failed';
      for (const l of this.#abortListeners) l(tx.id, `the kept connection failed: ${(err as Error).message}`);
      return;
    }
    // What an earlier takeover left aside may hold the head already.
    check(peekUnreadPrefix(socket));
  }

  /** A kept transaction's next request head, or idle: it waits for Continue or Release. */
  #reportNext(tx: Tx, head: Buffer, idle: boolean): void {
    tx.phase = 'kept';
    mark('a-next');
    for (const l of this.#nextListeners) l({ id: tx.id, head, idle });
  }

  async continue(id: bigint, nextId: bigint, deadlineMs: number, keepMs: number): Promise<void> {
    if (this.#tx.has(nextId)) throw new RefusedError('REFUSE_REASON_DUPLICATE_TRANSACTION', `transaction ${nextId} exists`);
    mark('a-cont');
    const kept = this.#get(id, 'kept');
    this.#forget(kept);
    const tx: Tx = { id: nextId, phase: 'started', fd: kept.fd, socket: kept.socket!, bytesSent: 0n, keepMs, releaseOnDone: false };
    this.#track(tx, deadlineMs);
    this.#serve(tx);
  }

  async release(id: bigint): Promise<ReleaseResult> {
    return this.#release(this.#get(id, 'done', 'kept'));
  }

  #release(tx: Tx): ReleaseResult {
    this.#forget(tx);
    const frozen = freezeSocket(tx.socket!);
    const { recvQueue: _q, ...state } = frozen.state;
    return { state, unread: frozen.unread, unacked: frozen.unacked, bytesSent: tx.bytesSent };
  }

  async abort(id: bigint, reason: string): Promise<boolean> {
    const tx = this.#tx.get(id);
    if (!tx) return false;
    log.info({ tx: String(id), reason }, 'transaction aborted');
    this.#forget(tx);
    // Silently: the controller decides what the client sees (a reset or a retry elsewhere).
    try {
      if (tx.socket) freezeSocket(tx.socket);
      else closeSilently(tx.fd);
    } catch {
      tx.socket?.destroy();
    }
    tx.phase = 'failed';
    return true;
  }

  onDone(listener: (done: TransactionDone) => void): void {
    this.#doneListeners.push(listener);
  }

  onAborted(listener: (id: bigint, reason: string) => void): void {
    this.#abortListeners.push(listener);
  }

  onNextRequest(listener: (report: NextRequestReport) => void): void {
    this.#nextListeners.push(listener);
  }

  /** Computed for every Prepare answer and Done: constant work per call, not per transaction kept. */
  load(): LoadReport {
    const now = Date.now();
    const w = this.#bytesWindow;
    while (this.#bytesHead < w.length && now - w[this.#bytesHead]!.at >= THROUGHPUT_WINDOW_MS) this.#bytesInWindow -= w[this.#bytesHead++]!.bytes;
    if (this.#bytesHead > 1024 && this.#bytesHead * 2 > w.length) {
      w.splice(0, this.#bytesHead);
      this.#bytesHead = 0;
    }
    let started = 0;
    let prepared = 0;
    for (const t of this.#tx.values()) {
      if (t.phase === 'started') started++;
      else if (t.phase === 'prepared') prepared++;
    }
    return {
      agent: this.#opts.name,
      active_transactions: started,
      queue_length: prepared,
      cpu_utilization: 0,
      recent_throughput_bps: String(Math.round((this.#bytesInWindow * 8 * 1000) / THROUGHPUT_WINDOW_MS)),
      timestamp_ms: String(now),
    };
  }

  #get(id: bigint, ...phases: Phase[]): Tx {
    const tx = this.#tx.get(id);
    if (!tx) throw Object.assign(new Error(`no transaction ${id}`), { grpcCode: 5 /* NOT_FOUND */ });
    if (!phases.includes(tx.phase)) throw Object.assign(new Error(`transaction ${id} is ${tx.phase}, not ${phases.join(' or ')}`), { grpcCode: 9 /* FAILED_PRECONDITION */ });
    return tx;
  }

  #forget(tx: Tx): void {
    if (tx.deadline) clearTimeout(tx.deadline);
    tx.stopWatch?.();
    this.#tx.delete(tx.id);
  }
}
