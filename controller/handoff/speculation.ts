/**
 * Speculative rule caching (Prism 3.3). A kept transaction's rules leave the client's window
 * open, and after Done the agent keeps the socket and reports the next request's head
 * (NextRequest). When the policy picks the same backend again, Continue serves it on the same
 * socket as a new, cached transaction that inherits the rules: no Release, no rule delete or
 * insert, no Prepare. Otherwise (a miss, or no request within keepMs) the connection is handed
 * back as usual, and a decision already made waits for the head to come back as unread bytes.
 *
 * Which transactions are kept: mode 'always' keeps every one; 'off' none; 'auto' keeps one when
 * the connection's previous two transactions went to the same backend (one repeat happens by
 * chance under round robin, and a miss costs a round trip to the agent) or when the policy said
 * the connection is sticky (its decision carries `sticky`).
 */
import { mark } from '../../core/timeline.js';
import { PrismError } from '../../core/errors.js';
import { AgentCallError } from './agent-client.js';
import { type HandoffClock } from './clock.js';
import type { TransactionRecord } from './history.js';
import type { AgentPort, HandoffTimeouts, NextReport, RunnableTransaction } from './transaction.js';

export interface SpeculationOptions {
  readonly mode: 'off' | 'auto' | 'always';
  /** How long a kept transaction waits for the next request before handing the connection back (ms). */
  readonly keepMs: number;
}

export const DEFAULT_SPECULATION: SpeculationOptions = { mode: 'auto', keepMs: 200 };

export interface SpeculationStats {
  kept: number;
  hits: number;
  misses: number;
  idle: number;
}

/** How long a transaction to `backend` is kept after Done (0: not kept). */
export function keepMsFor(opts: SpeculationOptions, history: readonly TransactionRecord[], backend: string, sticky: boolean): number {
  const { mode, keepMs } = opts;
  if (mode === 'off' || keepMs <= 0) return 0;
  if (mode === 'always' || sticky) return keepMs;
  const same = (r: TransactionRecord | undefined): boolean => r !== undefined && r.backend === backend && r.outcome === 'done';
  return same(history[0]) && same(history[1]) ? keepMs : 0;
}

/** What the policy says about a kept connection's next request. */
export type NextVerdict<S> = { readonly same: true; readonly successor: () => S } | { readonly same: false };

export interface KeptDeps<S extends RunnableTransaction> {
  readonly clock: HandoffClock;
  readonly timeouts: HandoffTimeouts;
  readonly agent: AgentPort;
  readonly stats: SpeculationStats;
  /** Parses the head and asks the policy; `same` when it picks the kept transaction's backend. */
  judge(head: Buffer): NextVerdict<S>;
  /** Takes back a successor whose Continue never left the controller. */
  abandon(successor: S): void;
  /** Runs a successor that Continue started. */
  run(successor: S): void;
  /** A successor whose Continue failed after the agent may have started it: it owns the rules and fails. */
  fail(successor: S, err: Error): void;
}

/**
 * A kept transaction after Done: waits for the agent's NextRequest and lets the policy judge it.
 * Same backend: Continue, and the successor runs on the same socket and rules (true). Otherwise
 * false: the caller hands the connection back.
 */
export async function continueIfSame<S extends RunnableTransaction>(tx: RunnableTransaction, deps: KeptDeps<S>): Promise<boolean> {
  const { clock, stats } = deps;
  const t = deps.timeouts;
  stats.kept++;
  // No report in time (an agent that predates keep_ms ignores it) counts as idle: the hand-back
  // works either way, and finds any request the client sent meanwhile in `unread`.
  let timer: unknown;
  const late = new Promise<NextReport>((resolve) => (timer = clock.setTimeout(() => resolve({ head: Buffer.alloc(0), idle: true }), tx.keepMs + t.releaseMs)));
  const next = await Promise.race([tx.events.next, late]).finally(() => clock.clearTimeout(timer));
  mark('next');
  if (next.idle) {
    stats.idle++;
    return false;
  }
  const verdict = deps.judge(next.head);
  if (!verdict.same) {
    stats.misses++;
    return false;
  }
  const successor = verdict.successor();
  const t0 = clock.now();
  try {
    mark('cont-send');
    await deps.agent.call(
      'Continue',
      { transaction_id: String(tx.id), next_transaction_id: String(successor.id), deadline_unix_ms: String(clock.epochMs() + t.transactionMs), keep_ms: successor.keepMs },
      t.startMs,
    );
  } catch (err) {
    if (err instanceof AgentCallError && err.neverSent) {
      // Nothing happened at the agent: this transaction is still kept; hand it back.
      deps.abandon(successor);
      stats.misses++;
      return false;
    }
    // The agent may be serving it: the successor owns the rules and fails (reset).
    successor.rules.takeOver(tx.rules.transfer());
    deps.fail(successor, err instanceof Error ? err : new PrismError('PRISM_ERR_AGENT_CALL', String(err)));
    return true;
  }
  successor.continueMs = clock.now() - t0;
  stats.hits++;
  successor.rules.takeOver(tx.rules.transfer());
  deps.run(successor);
  return true;
}
