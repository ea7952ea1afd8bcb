/**
 * AdminTarget: everything the REST admin API needs from the system it administers. The API holds
 * no state of the controller; it calls these methods and turns their errors into
 * application/problem+json. The real implementation sits over the Controller and the
 * HandoffManager; the tests implement it in memory (MemoryAdminTarget, in a testing/ folder).
 *
 * Errors: a method that cannot find what it is asked for throws a PrismError with code
 * PRISM_ERR_NOT_FOUND (→ 404); a conflicting request PRISM_ERR_ALREADY_EXISTS (→ 409); bad
 * arguments PRISM_ERR_INVALID_ARGUMENT (→ 400); P4Runtime unavailable / not primary (→ 503).
 * Anything else becomes 500 with its message.
 */
import type { BackendLoad } from '../policy/alrm.js';
import type { PolicyEngine } from '../policy/engine.js';
import type { HandoffEvent, Outcome, StepTimes, TransactionStep } from '../handoff/events.js';

export type { HandoffEvent, Outcome, StepTimes };

export interface BackendInfo {
  readonly name: string;
  readonly ip: string;
  readonly mac: string;
  /** Switch port the backend is on. */
  readonly port: number;
  /** host:port of the agent's control protocol. */
  readonly agentAddress: string;
  /** The agent's control connection is up. */
  readonly up: boolean;
  readonly draining: boolean;
  readonly weight: number;
  /** The agent's latest load report. */
  readonly load: BackendLoad;
  /** Transactions on this backend now (the controller's count). */
  readonly activeTransactions: number;
  /** Transactions completed on this backend. */
  readonly served: number;
}

export interface NewBackend {
  readonly name: string;
  readonly ip: string;
  readonly mac: string;
  readonly port: number;
  readonly agentAddress: string;
  /** Shared token the agent expects (never returned, never logged). */
  readonly token?: string;
  readonly weight?: number;
}

/** Hand-off steps of a transaction (controller/handoff/transaction.ts), then its end. */
export type TransactionState = TransactionStep;

export interface TransactionInfo {
  readonly id: string;
  readonly connId: string;
  readonly backend: string;
  readonly state: TransactionState;
  /** Outcome once ended ('done', 'refused', 'timeout', …). */
  readonly outcome: string | null;
  readonly method: string;
  readonly target: string;
  readonly startedAtMs: number;
  readonly durationMs: number | null;
  readonly bytesSent: number | null;
  /** Which policy chose the backend, and how ('policy', 'forced', 'default'). */
  readonly policy: string | null;
  readonly decidedBy: string | null;
  /** Served on the previous transaction's socket and rules (speculative rule caching). */
  readonly cached: boolean;
}

export interface ConnectionInfo {
  /** `clientIp:port-vipIp:port` in the controller (controller/policy/request.ts connectionId). */
  readonly id: string;
  readonly client: string;
  readonly vip: string;
  /** RFC 9293 state name (ESTABLISHED, CLOSE_WAIT, …). */
  readonly state: string;
  /** 'controller', or the name of the backend serving a transaction on it now. */
  readonly owner: string;
  /** Payload bytes received from the client / sent to it (by the controller and every backend). */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly transactions: number;
  readonly openedAtMs: number;
  /** Backend the next transaction is forced to, if any. */
  readonly forcedNext: string | null;
}

export interface ConnectionDetail extends ConnectionInfo {
  /** The connection's transactions, most recent first (bounded history). */
  readonly transactionList: readonly TransactionInfo[];
}

/** A table entry read back from the switch (P4Runtime Read), decoded by P4Info names. */
export interface TableEntryInfo {
  readonly table: string;
  readonly match: Readonly<Record<string, unknown>>;
  readonly action: string | null;
  readonly params: Readonly<Record<string, unknown>>;
  readonly priority: number | null;
}

export interface HealthInfo {
  /** ok: switch primary and at least one backend up; degraded: something is missing; down: no switch. */
  readonly status: 'ok' | 'degraded' | 'down';
  readonly switch: { readonly connected: boolean; readonly primary: boolean; readonly address: string };
  readonly backendsUp: number;
  readonly backendsTotal: number;
  readonly uptimeSeconds: number;
}


/** Cumulative counters and gauges read at each metrics scrape. */
export interface TargetStats {
  readonly packetIns: number;
  readonly packetOuts: number;
  readonly malformedPackets: number;
  /** Rules the controller has installed in the switch now, by table. */
  readonly rulesInstalled: Readonly<Record<string, number>>;
  readonly transactionsInFlight: number;
  /** Speculative rule caching: transactions kept after Done, and how each ended (hit, miss, idle). */
  readonly speculation: { readonly kept: number; readonly hits: number; readonly misses: number; readonly idle: number };
}

export interface AdminTarget {
  /** The policy engine the controller decides with (the API installs, activates, shows buckets). */
  readonly policies: PolicyEngine;

  listBackends(): readonly BackendInfo[];
  /** 409 (ALREADY_EXISTS) when the name is taken. */
  addBackend(spec: NewBackend): Promise<BackendInfo>;
  /** Draining: no new transaction starts on it; in-flight ones finish. draining=false resumes. */
  setDraining(name: string, draining: boolean): BackendInfo;
  /** Relative share for the policies (0 = no new transactions). */
  setWeight(name: string, weight: number): BackendInfo;
  /** Removes a backend with no transaction in flight (409 otherwise: drain it first). */
  removeBackend(name: string): Promise<void>;

  listConnections(): readonly ConnectionInfo[];
  connection(id: string): ConnectionDetail | undefined;
  /** The next transaction of the connection goes to this backend (404 for an unknown one of either). */
  forceNext(connId: string, backend: string): void;

  /** Table entries read back through P4Runtime; `table` filters (404 for an unknown table). */
  readTables(table?: string): Promise<readonly TableEntryInfo[]>;

  health(): HealthInfo;
  stats(): TargetStats;
  /** The latest finished hand-offs, most recent first. */
  recentHandoffs(limit: number): readonly HandoffEvent[];
  /** Called for every finished hand-off; returns the unsubscribe function. */
  onHandoff(listener: (e: HandoffEvent) => void): () => void;
}
