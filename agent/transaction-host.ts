/**
 * What the agent's control-protocol server asks of the backend: materialise a connection,
 * start serving it, report when the response is fully acknowledged, hand the connection back.
 * agent/transactions.ts implements it with TCP_REPAIR and a Node http.Server.
 */
import type { RepairState } from '../native/repair.js';

/** The connection state that travels in Prepare and Release (control.proto ConnectionState). */
export type ConnectionStateRecord = Omit<RepairState, 'recvQueue'>;

export interface LoadReport {
  readonly agent: string;
  readonly active_transactions: number;
  readonly queue_length: number;
  readonly cpu_utilization: number;
  readonly recent_throughput_bps: string;
  readonly timestamp_ms: string;
}

export interface PrepareSpec {
  readonly id: bigint;
  readonly state: ConnectionStateRecord;
  /** The request head (and any bytes the controller received after it). */
  readonly request: Buffer;
  /** Body bytes the controller already ACKed. */
  readonly body: Buffer;
  readonly bodyLength: bigint;
  /** Unix ms by which the transaction must be done; 0 = none. */
  readonly deadlineMs: number;
  /** After Done, keep the socket this long waiting for the next request head (0 = wait for Release). */
  readonly keepMs?: number;
  /** Release at Done (Done and Release in one: the Done listener gets the released connection). Ignored when kept. */
  readonly releaseOnDone?: boolean;
}

/** A kept transaction's next request head (still queued in the socket), or idle (none in time). */
export interface NextRequestReport {
  readonly id: bigint;
  readonly head: Buffer;
  readonly idle: boolean;
}

export interface ReleaseResult {
  readonly state: ConnectionStateRecord;
  /** Bytes the backend's kernel ACKed but the application did not read: the next request's start. */
  readonly unread: Buffer;
  /** Response bytes sent and not yet acknowledged (from state.sndUna): the controller retransmits them if needed. */
  readonly unacked: Buffer;
  readonly bytesSent: bigint;
}

/** A transaction's response has been sent (the Done event). */
export interface TransactionDone {
  readonly id: bigint;
  /** Response bytes the application wrote. */
  readonly bytesSent: bigint;
  /** Request bytes it read (head and body). */
  readonly bytesReceived: bigint;
  /**
   * The application ended the connection after its response (it answered `Connection: close`,
   * or gave the connection up): the socket sends no FIN, the controller closes the connection.
   */
  readonly closeRequested: boolean;
  /** Prepared with releaseOnDone: the transaction is released already, and this is its connection. */
  readonly released?: ReleaseResult;
}

export interface TransactionHost {
  prepare(spec: PrepareSpec): Promise<void>;
  start(id: bigint): Promise<void>;
  release(id: bigint): Promise<ReleaseResult>;
  /** Serves the next request of kept transaction `id` on the same socket as transaction `nextId`. */
  continue(id: bigint, nextId: bigint, deadlineMs: number, keepMs: number): Promise<void>;
  abort(id: bigint, reason: string): Promise<boolean>;
  onDone(listener: (done: TransactionDone) => void): void;
  onAborted(listener: (id: bigint, reason: string) => void): void;
  onNextRequest(listener: (report: NextRequestReport) => void): void;
  load(): LoadReport;
}
