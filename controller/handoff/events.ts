/**
 * What a finished hand-off reports: its outcome, its steps' durations and the event the
 * HandoffManager emits. Shared with the admin API (admin-target.ts), which reads them without
 * depending on the hand-off machinery.
 */

export type Outcome = 'done' | 'refused' | 'prepare_failed' | 'rules_failed' | 'start_failed' | 'backend_failed' | 'timeout' | 'release_failed' | 'retried';

/** Where a transaction is (controller/handoff/transaction.ts runs the steps), then 'done' or 'failed'. */
export type TransactionStep = 'rules' | 'prepare' | 'start' | 'transfer' | 'kept' | 'release' | 'adopt' | 'done' | 'failed';

/**
 * Durations of the hand-off's own steps (ms), for the benchmark's breakdown. `start` is 0 when
 * Start travels with Prepare; for a cached transaction it is the Continue round trip.
 */
export interface StepTimes {
  prepare: number;
  rules: number;
  start: number;
  transfer: number;
  deleteRules: number;
  release: number;
}

/** Emitted as 'handoff' for every finished transaction, success or failure. */
export interface HandoffEvent {
  readonly tx: string;
  readonly connId: string;
  readonly backend: string;
  readonly outcome: Outcome;
  readonly atMs: number;
  readonly durationMs: number;
  readonly steps: StepTimes | null;
  readonly bytesSent: number | null;
  readonly policy: string | null;
  /** Served on the previous transaction's socket and rules (speculative rule caching). */
  readonly cached: boolean;
}
