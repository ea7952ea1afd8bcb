/**
 * Transactions on a backend: a connection materialised with TCP_REPAIR at Prepare, handed to a
 * Node http.Server at Start for exactly one request, reported Done when every response byte is
 * acknowledged, frozen and handed back at Release. Nothing is ever sent to the client outside
 * Start..Release (the socket stays in repair mode until Start and is closed in repair mode).
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { logger } from '../core/log.js';
import { closeSilently, leaveRepair, restore } from '../native/repair.js';
import { RefusedError } from './agent-server.js';
import { freezeSocket, socketFromFd } from './repair-socket.js';
import { handToServer } from './takeover.js';
import type { LoadReport, PrepareSpec, ReleaseResult, TransactionHost } from './transaction-host.js';

const log = logger('transactions');

type Phase = 'prepared' | 'started' | 'done' | 'failed';

interface Tx {
  readonly id: bigint;
  phase: Phase;
  fd: number;
  socket?: Socket;
  bytesSent: bigint;
  deadline?: NodeJS.Timeout;
}

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
  readonly #doneListeners: ((id: bigint, sent: bigint, received: bigint) => void)[] = [];
  readonly #abortListeners: ((id: bigint, reason: string) => void)[] = [];
  readonly #backendIp: Buffer;
  #bytesWindow: { at: number; bytes: number }[] = [];

  constructor(opts: ServerTransactionsOptions) {
    this.#opts = opts;
    this.#backendIp = Buffer.from(opts.backendIp.split('.').map(Number));
  }

  async prepare(spec: PrepareSpec): Promise<void> {
    if (this.#tx.has(spec.id)) throw new RefusedError('REFUSE_REASON_DUPLICATE_TRANSACTION', `transaction ${spec.id} exists`);
    if (this.#tx.size >= (this.#opts.maxActive ?? 1024)) throw new RefusedError('REFUSE_REASON_OVERLOADED', `${this.#tx.size} transactions in progress`);
    if (spec.deadlineMs && spec.deadlineMs < Date.now()) throw new RefusedError('REFUSE_REASON_DEADLINE_EXCEEDED', 'the deadline has passed');
    let fd: number;
    try {
      fd = restore({ ...spec.state, recvQueue: Buffer.concat([spec.request, spec.body]) }, { localIp: this.#backendIp });
    } catch (err) {
      throw new RefusedError('REFUSE_REASON_REPAIR_FAILED', (err as Error).message);
    }
    const tx: Tx = { id: spec.id, phase: 'prepared', fd, bytesSent: 0n };
    if (spec.deadlineMs) {
      tx.deadline = setTimeout(() => void this.abort(spec.id, 'deadline exceeded'), Math.max(0, spec.deadlineMs - Date.now()) + 1000);
      tx.deadline.unref();
    }
    this.#tx.set(spec.id, tx);
  }

  async start(id: bigint): Promise<void> {
    const tx = this.#get(id, 'prepared');
    // Leave repair with a window probe: the client learns the backend's window (through the switch's rewrite).
    leaveRepair(tx.fd, { windowProbe: true });
    const socket = socketFromFd(tx.fd, { startReading: false });
    socket.on('error', (err) => log.debug({ tx: String(id), err: err.message }, 'socket error'));
    tx.socket = socket;
    tx.phase = 'started';
    handToServer(this.#opts.server, socket).then(
      (r) => {
        if (tx.phase !== 'started') return;
        tx.phase = 'done';
        tx.bytesSent = BigInt(r.bytesSent);
        this.#bytesWindow.push({ at: Date.now(), bytes: r.bytesSent });
        for (const l of this.#doneListeners) l(id, BigInt(r.bytesSent), BigInt(r.bytesReceived));
      },
      (err: unknown) => {
        if (tx.phase !== 'started') return;
        tx.phase = 'failed';
        log.warn({ tx: String(id), err: (err as Error).message }, 'transaction failed');
        for (const l of this.#abortListeners) l(id, (err as Error).message);
      },
    );
  }

  async release(id: bigint): Promise<ReleaseResult> {
    const tx = this.#get(id, 'done');
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

  onDone(listener: (id: bigint, sent: bigint, received: bigint) => void): void {
    this.#doneListeners.push(listener);
  }

  onAborted(listener: (id: bigint, reason: string) => void): void {
    this.#abortListeners.push(listener);
  }

  load(): LoadReport {
    const now = Date.now();
    this.#bytesWindow = this.#bytesWindow.filter((b) => now - b.at < 5000);
    const bytes = this.#bytesWindow.reduce((n, b) => n + b.bytes, 0);
    return {
      agent: this.#opts.name,
      active_transactions: [...this.#tx.values()].filter((t) => t.phase === 'started').length,
      queue_length: [...this.#tx.values()].filter((t) => t.phase === 'prepared').length,
      cpu_utilization: 0,
      recent_throughput_bps: String(Math.round((bytes * 8) / 5)),
      timestamp_ms: String(now),
    };
  }

  #get(id: bigint, phase: Phase): Tx {
    const tx = this.#tx.get(id);
    if (!tx) throw Object.assign(new Error(`no transaction ${id}`), { grpcCode: 5 /* NOT_FOUND */ });
    if (tx.phase !== phase) throw Object.assign(new Error(`transaction ${id} is ${tx.phase}, not ${phase}`), { grpcCode: 9 /* FAILED_PRECONDITION */ });
    return tx;
  }

  #forget(tx: Tx): void {
    if (tx.deadline) clearTimeout(tx.deadline);
    this.#tx.delete(tx.id);
  }
}
