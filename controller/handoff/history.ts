/**
 * What the controller remembers of transactions: each connection's recent ones (for the admin
 * API and the speculation mode 'auto'), per-connection totals over its life, and the latest
 * hand-off events.
 */
import type { HandoffEvent, Outcome, TransactionStep } from './events.js';

/** What the admin API shows of a transaction. */
export interface TransactionRecord {
  readonly id: string;
  readonly connId: string;
  readonly backend: string;
  state: TransactionStep;
  outcome: Outcome | null;
  readonly method: string;
  readonly target: string;
  readonly startedAtMs: number;
  durationMs: number | null;
  bytesSent: number | null;
  readonly policy: string | null;
  readonly decidedBy: string | null;
  /** Served on the previous transaction's socket and rules (a speculation hit). */
  readonly cached: boolean;
}

export interface ConnectionTotals {
  transactions: number;
  /** Request bytes the backends read (heads and bodies). */
  bytesIn: number;
  /** Response bytes the backends wrote. */
  bytesOut: number;
}

const HISTORY_PER_CONNECTION = 20;
const RECENT_EVENTS = 200;

export class HandoffHistory {
  readonly #byConn = new Map<string, TransactionRecord[]>();
  readonly #totals = new Map<string, ConnectionTotals>();
  readonly #recent: HandoffEvent[] = [];

  /** Records a new transaction as its connection's most recent. */
  begin(record: TransactionRecord): void {
    const h = this.#byConn.get(record.connId) ?? [];
    h.unshift(record);
    if (h.length > HISTORY_PER_CONNECTION) h.pop();
    this.#byConn.set(record.connId, h);
  }

  /** Takes back a transaction that never ran (its Continue never left the controller). */
  unbegin(record: TransactionRecord): void {
    const h = this.#byConn.get(record.connId);
    if (h?.[0] === record) h.shift();
  }

  /** A transaction ended: its bytes count toward its connection's totals, its event is kept. */
  finish(ev: HandoffEvent, bytesIn: number, bytesOut: number): void {
    const t = this.#totals.get(ev.connId) ?? { transactions: 0, bytesIn: 0, bytesOut: 0 };
    t.transactions++;
    t.bytesIn += bytesIn;
    t.bytesOut += bytesOut;
    this.#totals.set(ev.connId, t);
    this.#recent.unshift(ev);
    if (this.#recent.length > RECENT_EVENTS) this.#recent.pop();
  }

  /** Transactions of a connection, most recent first. */
  of(connId: string): readonly TransactionRecord[] {
    return this.#byConn.get(connId) ?? [];
  }

  totals(connId: string): Readonly<ConnectionTotals> {
    return this.#totals.get(connId) ?? { transactions: 0, bytesIn: 0, bytesOut: 0 };
  }

  recent(limit: number): readonly HandoffEvent[] {
    return this.#recent.slice(0, limit);
  }

  /** The connection closed. */
  forget(connId: string): void {
    this.#byConn.delete(connId);
    this.#totals.delete(connId);
  }
}
