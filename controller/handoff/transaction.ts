/**
 * One transaction, as an explicit sequence of steps (ARCHITECTURE sections 3 and 4):
 *
 *   prepare Prepare leaves first: the agent builds the socket with TCP_REPAIR (in repair mode it
 *           sends nothing) while the controller writes the rules
 *   rules   both rewrite rules in one batch (a read's from-backend rule forces the client's
 *           window to zero)
 *   start   after the rules and Prepare's answer: the agent leaves repair mode and serves
 *   transfer until Done (every response byte sent); for a zero-window read Done carries the
 *           released connection (release_on_done), so no Release call follows
 *   kept    (speculative rule caching) Done came and the connection's next request may be served
 *           on the same socket and rules by a cached successor (Continue)
 *   release with the client's window open, the client→backend rule goes first; then Release
 *   adopt   the remaining rules go, and the controller owns the connection again; when the
 *           request or the response asked to close (RFC 9112 9.6), it ends it: FIN after the
 *           response's last byte (the backend's own FIN never reaches the client)
 *
 * A cached transaction starts at `transfer`: its predecessor's socket and rules serve it. The
 * from-backend rule drops the backend's RSTs (drop_rst), so a client segment that reaches the
 * backend before its socket exists or after it is closed is lost and retransmitted, never
 * answered with a reset (invariant 1).
 *
 * Every step has a timeout on the injected clock. A failure is a record { step, code } with the
 * error's PRISM_ERR_* code; the outcome follows from it (outcomeOf), never from message text.
 * Before anything can have reached the client the connection goes back to the controller (which
 * answers 503 or tries another backend); after, the rules go, the agent's side is aborted and the
 * client is reset (invariant 5). No path leaves a rule behind (invariant 4).
 */
import { mark } from '../../core/timeline.js';
import { PrismError, TimeoutError, type PrismErrorCode } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import type { PrepareResponse__Output } from '../../proto/types/prism/control/v1/PrepareResponse.js';
import type { ReleaseResponse__Output } from '../../proto/types/prism/control/v1/ReleaseResponse.js';
import type { TcpRepairState } from '../tcp/repair-state.js';
import { AgentCallError, type AgentCall } from './agent-client.js';
import { withTimeout, type HandoffClock } from './clock.js';
import type { Outcome, StepTimes, TransactionStep } from './events.js';

export type { TransactionStep } from './events.js';
import type { TransactionRecord } from './history.js';
import { fromProtoState, toProtoState } from './proto-state.js';
import type { TransactionRules } from './rules.js';

const log = logger('handoff');


/** Why a transaction failed: the step it was in and the error's stable code. */
export interface HandoffFailure {
  readonly step: TransactionStep;
  readonly code: PrismErrorCode;
  readonly message: string;
}

export interface HandoffTimeouts {
  readonly prepareMs: number;
  readonly rulesMs: number;
  readonly startMs: number;
  /** From Start to Done: the whole response. */
  readonly transactionMs: number;
  readonly releaseMs: number;
}

export const DEFAULT_TIMEOUTS: HandoffTimeouts = { prepareMs: 2000, rulesMs: 2000, startMs: 2000, transactionMs: 30_000, releaseMs: 2000 };

/** The agent as a transaction uses it: calls on its control protocol (AgentClient, or a fake). */
export interface AgentPort {
  call<T>(method: AgentCall, req: object, timeoutMs: number): Promise<T>;
}

export interface DoneReport {
  /** Response bytes the application wrote. */
  readonly sent: bigint;
  /** Request bytes it read (head and body). */
  readonly received: bigint;
  /** Prepared with release_on_done: what Release would have returned. */
  readonly released: ReleaseResponse__Output | undefined;
  /** The application ended the connection after its response (Connection: close). */
  readonly closeRequested: boolean;
}

export interface NextReport {
  readonly head: Buffer;
  readonly idle: boolean;
}

/** The agent's events for one transaction, as promises: Done, the kept connection's next request, a failure. */
export class TransactionEvents {
  readonly done: Promise<DoneReport>;
  readonly next: Promise<NextReport>;
  resolveDone!: (r: DoneReport) => void;
  resolveNext!: (r: NextReport) => void;
  /** The agent aborted the transaction or its connection went away. */
  fail!: (err: PrismError) => void;

  constructor() {
    const failure = new Promise<never>((_, reject) => (this.fail = reject));
    failure.catch(() => undefined); // awaited through the races below
    this.done = Promise.race([new Promise<DoneReport>((r) => (this.resolveDone = r)), failure]);
    this.next = Promise.race([new Promise<NextReport>((r) => (this.resolveNext = r)), failure]);
    this.done.catch(() => undefined);
    this.next.catch(() => undefined);
  }
}

/** What the step sequence needs of a transaction. */
export interface RunnableTransaction {
  readonly id: bigint;
  readonly record: TransactionRecord;
  /** The state handed off (for a cached transaction, the first one's: its 4-tuple and options hold). */
  readonly exported: TcpRepairState;
  /** Kept after Done (speculative rule caching): ms to wait for the next request; 0 = not kept. */
  readonly keepMs: number;
  /** Served on its predecessor's socket and rules: no rules to install, no Prepare. */
  readonly cached: boolean;
  /** A cached transaction's Continue round trip (ms): its `start` step. */
  continueMs: number;
  readonly rules: TransactionRules;
  readonly events: TransactionEvents;
}

/** What the request brings to Prepare. */
export interface RunRequest {
  /** Every byte the controller ACKed: the head and the body bytes already received. */
  readonly bytes: Buffer;
  readonly bodyLength: number;
  /** GET or HEAD without a body: the client's window stays closed while the backend serves. */
  readonly isRead: boolean;
  /**
   * The request asked to close the connection after its response (`Connection: close`, or
   * HTTP/1.0 without keep-alive). The transaction must not be kept.
   */
  readonly closeAfter: boolean;
}

export interface RunDeps {
  readonly clock: HandoffClock;
  readonly timeouts: HandoffTimeouts;
  readonly agent: AgentPort;
  /**
   * The connection comes back to the controller with its unread bytes and unacknowledged tail;
   * `close`: the controller ends it after the tail (and reads no further request from it).
   */
  adopt(state: TcpRepairState, unread: Buffer, unacked: Buffer, close: boolean): void;
  /** A response may have reached the client in part: reset it (the controller knows how). */
  resetClient(): void;
  /** A kept transaction after Done: true when a cached successor took over the socket and rules. */
  keep(tx: RunnableTransaction): Promise<boolean>;
}

export interface RunResult {
  readonly outcome: Outcome;
  readonly steps: StepTimes | null;
  readonly bytesSent: number | null;
  readonly bytesReceived: number;
  /** Nothing reached the client from the backend: the request may be retried or answered here. */
  readonly nothingSent: boolean;
  readonly failure: HandoffFailure | null;
}

/** The outcome of a failed transaction, from its failure record alone. */
export function outcomeOf(f: HandoffFailure, nothingSent: boolean): Outcome {
  if (nothingSent) return f.step === 'rules' ? 'rules_failed' : 'prepare_failed';
  if (f.step === 'start') return 'start_failed';
  if (f.step === 'transfer' && f.code === 'PRISM_ERR_TIMEOUT') return 'timeout';
  if (f.step === 'release') return 'release_failed';
  return 'backend_failed';
}

/** Runs a registered transaction through its steps to an outcome; never throws. */
export async function runTransaction(tx: RunnableTransaction, req: RunRequest, deps: RunDeps): Promise<RunResult> {
  const { clock, agent } = deps;
  const t = deps.timeouts;
  const times: StepTimes = { prepare: 0, rules: 0, start: tx.continueMs, transfer: 0, deleteRules: 0, release: 0 };
  const timed = async <T>(k: keyof StepTimes, p: Promise<T>): Promise<T> => {
    const t0 = clock.now();
    try {
      return await p;
    } finally {
      times[k] += clock.now() - t0;
    }
  };
  const step = (s: TransactionStep): void => {
    tx.record.state = s;
  };
  // A read's from-backend rule forces the client's window to zero, unless the transaction is
  // kept (the next request is meant to reach the backend); a cached one has its predecessor's.
  const zeroWindow = req.isRead && !tx.cached && tx.keepMs === 0;
  let started = tx.cached;
  let unreached = false;
  try {
    if (!tx.cached && !tx.rules.defersDeletes) {
      // Through a writer that does not batch (a remote switch, BMv2's draining writer): the rules
      // first, then Prepare-and-start in one call (Prepare beside the rules is measured only on
      // the embedded target; on BMv2 it is not done yet).
      step('rules');
      await timed('rules', tx.rules.insert(zeroWindow));
      step('prepare');
      let prep: PrepareResponse__Output;
      try {
        prep = await timed('prepare', agent.call<PrepareResponse__Output>('Prepare', prepareRequest(tx, req, clock, t, zeroWindow, true), t.prepareMs + t.startMs));
      } catch (err) {
        // It may have started serving (its answer lost with a dying agent), unless it never left.
        unreached = err instanceof AgentCallError && err.neverSent;
        throw err;
      }
      if (prep.result !== 'ready') return await refused(tx, prep);
      started = true;
    } else if (!tx.cached) {
      // Prepare goes first, and the agent builds the socket (in repair mode: it sends nothing)
      // while the controller writes the rules; Start follows the rules on the same stream. The
      // backend's first segment thus always finds its from-backend rule, and the client's window
      // is closed until Start (its window probe) or, for a read, until the hand-back.
      step('prepare');
      mark('prep-send', tx.id);
      const prepared = timed(
        'prepare',
        agent.call<PrepareResponse__Output>('Prepare', prepareRequest(tx, req, clock, t, zeroWindow, false), t.prepareMs),
      );
      prepared.catch(() => undefined); // awaited below, after the rules
      step('rules');
      // Nothing is started before Start: a failure until then has sent nothing to the client
      // (the prepared socket is aborted without a packet by failTransaction).
      unreached = true;
      await timed('rules', tx.rules.insert(zeroWindow));
      mark('rules-in', tx.id);
      step('prepare');
      const prep = await prepared;
      if (prep.result !== 'ready') return await refused(tx, prep);
      step('start');
      try {
        await timed('start', agent.call('Start', { transaction_id: String(tx.id) }, t.startMs));
      } catch (err) {
        // A Start that failed may still have started serving (its answer lost with a dying
        // agent), unless it never left the controller.
        unreached = err instanceof AgentCallError && err.neverSent;
        throw err;
      }
      started = true;
      mark('prep-ans', tx.id);
    }
    step('transfer');
    const done = await timed('transfer', withTimeout(clock, tx.events.done, t.transactionMs, () => new TimeoutError('the response', t.transactionMs)));
    // A response that ends the connection is not followed by a request on the kept socket.
    mark('done', tx.id);
    const close = req.closeAfter || done.closeRequested;
    if (tx.keepMs > 0 && !close) {
      step('kept');
      if (await deps.keep(tx)) return finished(times, done);
    }
    // Release: the agent freezes, dumps and closes the socket without a packet. It comes before
    // the from-backend rule goes: the response's tail may still be unacknowledged, and a backend
    // that retransmits it after its rule is gone would reach the client from its own address (the
    // client would answer with a RST). With the client's window open the client→backend rule goes
    // first, so that nothing the client sends reaches the socket being dumped (the controller
    // gets it instead and drops it while the connection is frozen; the client retransmits).
    step('release');
    if (!zeroWindow) await timed('deleteRules', tx.rules.delete(['handoff_in']));
    const rel = done.released ?? (await timed('release', agent.call<ReleaseResponse__Output>('Release', { transaction_id: String(tx.id) }, t.releaseMs)));
    step('adopt');
    // The client→backend rule goes before the controller owns the connection again (what the
    // client sends next must reach the controller). The backend→client rule can wait: the
    // backend's socket is closed and sends nothing, so it goes with the next write (RuleBatcher),
    // which never lets a later insert of the same entry pass it. A writer that does not batch
    // (BMv2's draining one) deletes both here, before the connection's next transaction can
    // write the same entry.
    if (!tx.rules.defersDeletes) await timed('deleteRules', tx.rules.delete());
    else if (zeroWindow) await timed('deleteRules', tx.rules.delete(['handoff_in']));
    mark('rules-del', tx.id);
    if (!rel.state) throw new PrismError('PRISM_ERR_PROTO', 'the agent released the connection without its state');
    deps.adopt(fromProtoState(rel.state, tx.exported), Buffer.from(rel.unread ?? []), Buffer.from(rel.unacked ?? []), close);
    mark('adopted', tx.id);
    await tx.rules.deleteLater();
    return finished(times, done);
  } catch (err) {
    const failure: HandoffFailure = { step: tx.record.state, code: codeOf(err), message: (err as Error).message };
    return failTransaction(tx, failure, !started && (failure.step === 'rules' || unreached), deps);
  }
}

/**
 * Ends a failed transaction (invariants 4 and 5): its remaining rules go (reconcile catches what a
 * failed delete leaves), the agent's side is aborted, and the client is reset unless nothing can
 * have reached it. Never throws.
 */
export async function failTransaction(tx: RunnableTransaction, failure: HandoffFailure, nothingSent: boolean, deps: Pick<RunDeps, 'agent' | 'resetClient'>): Promise<RunResult> {
  log.warn({ tx: String(tx.id), nothingSent, step: failure.step, code: failure.code, err: failure.message }, 'hand-off failed');
  await tx.rules.delete().catch((e: unknown) => log.error({ tx: String(tx.id), err: (e as Error).message }, 'could not delete hand-off rules; reconcile will'));
  await deps.agent.call('Abort', { transaction_id: String(tx.id), reason: failure.message }, 1000).catch(() => undefined);
  if (!nothingSent) deps.resetClient();
  return { outcome: outcomeOf(failure, nothingSent), steps: null, bytesSent: null, bytesReceived: 0, nothingSent, failure };
}

/** Prepare was refused: nothing was started or sent; the rules go. */
async function refused(tx: RunnableTransaction, prep: PrepareResponse__Output): Promise<RunResult> {
  log.info({ tx: String(tx.id), reason: prep.refused?.reason, detail: prep.refused?.detail }, 'Prepare refused');
  await tx.rules.delete();
  return { outcome: 'refused', steps: null, bytesSent: null, bytesReceived: 0, nothingSent: true, failure: null };
}

/** Prepare's request; `start`: Prepare-and-start in one call. */
function prepareRequest(tx: RunnableTransaction, req: RunRequest, clock: HandoffClock, t: HandoffTimeouts, zeroWindow: boolean, start: boolean): object {
  return {
    transaction_id: String(tx.id),
    connection: toProtoState(tx.exported),
    request: req.bytes,
    body: Buffer.alloc(0),
    body_length: String(req.bodyLength),
    deadline_unix_ms: String(clock.epochMs() + t.transactionMs),
    start,
    keep_ms: tx.keepMs,
    // A zero-window read is released the moment it is done: the agent does it then and sends the
    // state with Done (no Release round trip).
    release_on_done: zeroWindow,
  };
}

/** The stable code of a failure's error. */
export const codeOf = (err: unknown): PrismErrorCode => (err instanceof PrismError ? err.code : 'PRISM_ERR_HANDOFF');

function finished(times: StepTimes, done: DoneReport): RunResult {
  return { outcome: 'done', steps: times, bytesSent: Number(done.sent), bytesReceived: Number(done.received), nothingSent: false, failure: null };
}
