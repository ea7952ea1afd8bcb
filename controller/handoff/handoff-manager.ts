/**
 * The per-transaction hand-off (ARCHITECTURE sections 3 and 4), in this order:
 *
 *   freeze (zero window for reads) → install both rules in one batch → Prepare-and-start
 *   → Done (every response byte sent) → Release → delete both rules → adopt
 *
 * (With the client's window open — writes, kept transactions — the client→backend rule is
 * deleted before Release.)
 *
 * Speculative rule caching (Prism 3.3): a transaction may be *kept*. Its rules leave the
 * client's window open, and after Done the agent keeps the socket and reports the next request's
 * head (NextRequest). When the policy picks the same backend again, Continue serves it on the
 * same socket and the rules stay: no Release, no rule delete or install, no Prepare. Otherwise
 * (a miss, or no request within keepMs) the connection comes back with the client→backend rule
 * deleted first (client segments now reach the controller, which holds them), then Release, then
 * the backend→client rule deleted; the head travels back as unread bytes and the decision
 * already made is used for it. Mode 'auto' keeps a transaction when its connection's previous two
 * transactions went to the same backend; 'always' keeps every one; 'off' none.
 *
 * Every step has a timeout. Failures before Start hand the connection back to the controller
 * (which answers 503, or tries another backend); failures after Start remove the rules, abort the
 * agent's side and reset the client (invariant 5). No path leaves a rule behind (invariant 4).
 */
import { EventEmitter } from 'node:events';
import { PrismError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { ipv4ToBytes } from '../../core/header/addr.js';
import { toConnectionState } from '../../native/repair.js';
import { TCP_ACK, TCP_RST } from '../../core/header/tcp.js';
import type { ClientLink, Controller, RequestRouter } from '../controller.js';
import type { HttpRequest, HttpSession } from '../http/intake.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { TcpRepairState } from '../tcp/repair-state.js';
import { buildPacket } from '../tcp/packet-builder.js';
import { AgentCallError, AgentClient, type AgentLoad } from './agent-client.js';
import { RequestHeadParser } from '../http/request-parser.js';
import type { TableEntrySpec } from '../p4rt/entry-codec.js';
import type { HandoffEvent, Outcome, StepTimes } from './events.js';

export type { HandoffEvent, Outcome, StepTimes } from './events.js';
import type { PolicyEngine } from '../policy/engine.js';
import type { BackendLoad } from '../policy/alrm.js';
import { connectionId, toPolicyConn, toPolicyRequest } from '../policy/request.js';

const log = logger('handoff');
type Obj = Record<string, any>;

export interface BackendSpec {
  readonly name: string;
  /** The backend's address (what the switch rewrites the VIP to). */
  readonly ip: string;
  readonly mac: string;
  /** Switch port the backend is on. */
  readonly port: number;
  /** host:port of the agent's control protocol. */
  readonly agentAddress: string;
  readonly token: string;
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

/** Speculative rule caching (Prism 3.3). */
export interface SpeculationOptions {
  readonly mode: 'off' | 'auto' | 'always';
  /** How long a kept transaction waits for the next request before handing the connection back (ms). */
  readonly keepMs: number;
}

export const DEFAULT_SPECULATION: SpeculationOptions = { mode: 'auto', keepMs: 200 };

/** Methods a request may be retried with on another backend (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

export interface Backend {
  readonly spec: BackendSpec;
  readonly agent: AgentClient;
  active: number;
  served: number;
  draining: boolean;
  weight: number;
  load: BackendLoad;
}

export type TransactionStep = keyof StepTimes | 'kept' | 'done' | 'failed';

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

interface DoneReport {
  /** Response bytes the application wrote. */
  readonly sent: bigint;
  /** Request bytes it read (head and body). */
  readonly received: bigint;
  /** Prepared with release_on_done: the ReleaseResponse the agent sent with Done. */
  readonly released: Obj | undefined;
}

interface NextReport {
  readonly head: Buffer;
  readonly idle: boolean;
}

interface Transaction {
  readonly id: bigint;
  readonly record: TransactionRecord;
  readonly backend: Backend;
  readonly session: HttpSession<ClientLink>;
  readonly conn: TcpConnection<ClientLink>;
  readonly link: ClientLink;
  /** The state handed off (for a cached transaction, the first one's: its 4-tuple and options hold). */
  readonly exported: TcpRepairState;
  /** Kept after Done (speculative rule caching): ms to wait for the next request; 0 = not kept. */
  readonly keepMs: number;
  /** Served on its predecessor's socket and rules: no rules to install, no Prepare. */
  readonly cached: boolean;
  /** A cached transaction's Continue round trip (ms): its `start` step. */
  continueMs: number;
  /** Its rules installed in the switch now. */
  readonly rules: Set<RuleTable>;
  /** Settled by the agent's events: Done, the kept connection's next request, or a failure. */
  readonly done: Promise<DoneReport>;
  readonly next: Promise<NextReport>;
  resolveDone: (r: DoneReport) => void;
  resolveNext: (r: NextReport) => void;
  failed: (reason: string) => void;
}

type RuleTable = 'handoff_in' | 'handoff_out';
const RULE_TABLES: readonly RuleTable[] = ['handoff_in', 'handoff_out'];

interface RunResult {
  readonly outcome: Outcome;
  readonly steps: StepTimes | null;
  readonly bytesSent: number | null;
  readonly bytesReceived?: number;
  /** Nothing reached the client from the backend: the request may be retried or answered here. */
  readonly nothingSent: boolean;
}

/** A policy's choice for one request. */
interface Decision {
  readonly backend: Backend;
  readonly policy: string | null;
  readonly decidedBy: string | null;
}

/** What a new transaction is: the request, where it goes, the state handed off, how it runs. */
interface TransactionSpec {
  readonly req: HttpRequest;
  readonly session: HttpSession<ClientLink>;
  readonly decision: Decision;
  readonly state: TcpRepairState;
  /** Kept after Done for this long (speculative rule caching); 0 = not kept. */
  readonly keepMs: number;
  /** Served on the previous transaction's socket and rules (Continue). */
  readonly cached: boolean;
}

/** A decision made while speculating that missed: used when the head comes back to the controller. */
interface PendingDecision extends Decision {
  readonly head: Buffer;
}

export interface ConnectionTotals {
  transactions: number;
  /** Request bytes the backends read (heads and bodies). */
  bytesIn: number;
  /** Response bytes the backends wrote. */
  bytesOut: number;
}

/** Picks a backend for a request; null = none can take it (the controller answers 503). */
export type Decide = (
  req: HttpRequest,
  session: HttpSession<ClientLink>,
  all: readonly Backend[],
) => { backend: Backend; policy: string | null; decidedBy: string | null } | { reject: number; reason: string } | null;

const HISTORY_PER_CONNECTION = 20;
const RECENT_EVENTS = 200;

export class HandoffManager extends EventEmitter implements RequestRouter {
  readonly #ctl: Controller;
  readonly #backends: Backend[];
  readonly #tx = new Map<bigint, Transaction>();
  readonly #timeouts: HandoffTimeouts;
  readonly #speculation: SpeculationOptions;
  readonly #pending = new Map<TcpConnection<ClientLink>, PendingDecision>();
  #nextId = 1n;
  #rr = 0;
  readonly stats = {
    outcomes: {} as Record<Outcome, number>,
    byBackend: {} as Record<string, number>,
    steps: [] as StepTimes[],
    /** Kept transactions, and how each ended: a hit (Continue), a miss (another backend), idle. */
    speculation: { kept: 0, hits: 0, misses: 0, idle: 0 },
  };

  readonly #history = new Map<string, TransactionRecord[]>();
  /** Per connection, over its whole life (the history keeps only the last transactions). */
  readonly #totals = new Map<string, ConnectionTotals>();
  readonly #recent: HandoffEvent[] = [];
  /** The policy engine deciding backends; without one, round robin. */
  engine: PolicyEngine | undefined;

  constructor(ctl: Controller, backends: readonly BackendSpec[], timeouts: Partial<HandoffTimeouts> = {}, engine?: PolicyEngine, speculation: Partial<SpeculationOptions> = {}) {
    super();
    this.#ctl = ctl;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...timeouts };
    this.#speculation = { ...DEFAULT_SPECULATION, ...speculation };
    this.#backends = [];
    this.engine = engine;
    for (const spec of backends) this.addBackend(spec);
    ctl.router = this;
    if (engine) {
      ctl.on('connectionOpened', (conn: TcpConnection<ClientLink>) => engine.addConn(toPolicyConn(conn, Date.now())));
      ctl.on('connectionClosed', (conn: TcpConnection<ClientLink>) => {
        this.#pending.delete(conn);
        this.#totals.delete(connectionId(conn));
        engine.rmConn(connectionId(conn));
        this.#history.delete(connectionId(conn));
      });
    }
  }

  /** Adds a backend and connects to its agent. */
  addBackend(spec: BackendSpec, weight = 1): Backend {
    if (this.#backends.some((b) => b.spec.name === spec.name)) throw new PrismError('PRISM_ERR_ALREADY_EXISTS', `backend ${spec.name} exists`);
    const agent = new AgentClient(spec.name, spec.agentAddress, spec.token);
    const b: Backend = { spec, agent, active: 0, served: 0, draining: false, weight, load: { activeTransactions: 0, recentThroughputBps: 0, queueLength: 0 } };
    agent.on('done', (id: bigint, sent: bigint, received: bigint, released: Obj | undefined) => this.#tx.get(id)?.resolveDone({ sent, received, released }));
    agent.on('next', (id: bigint, head: Buffer, idle: boolean) => this.#tx.get(id)?.resolveNext({ head, idle }));
    agent.on('aborted', (id: bigint, reason: string) => this.#tx.get(id)?.failed(`agent aborted: ${reason}`));
    agent.on('load', (l: AgentLoad) => (b.load = { activeTransactions: l.activeTransactions, recentThroughputBps: l.recentThroughputBps, queueLength: l.queueLength }));
    agent.on('down', () => {
      for (const t of this.#tx.values()) if (t.backend === b) t.failed('agent connection lost');
    });
    this.#backends.push(b);
    return b;
  }

  /** Removes a backend with no transaction in flight. */
  removeBackend(name: string): void {
    const b = this.backend(name);
    if (b.active > 0) throw new PrismError('PRISM_ERR_ALREADY_EXISTS', `backend ${name} has ${b.active} transactions in flight: drain it first`);
    b.agent.close();
    this.#backends.splice(this.#backends.indexOf(b), 1);
  }

  backend(name: string): Backend {
    const b = this.#backends.find((x) => x.spec.name === name);
    if (!b) throw new PrismError('PRISM_ERR_NOT_FOUND', `no backend named ${name}`);
    return b;
  }

  backends(): readonly Backend[] {
    return this.#backends;
  }

  /** Transactions of a connection, most recent first. */
  history(connId: string): readonly TransactionRecord[] {
    return this.#history.get(connId) ?? [];
  }

  /** Transactions handed off on a connection and their request and response bytes, over its life. */
  totals(connId: string): Readonly<ConnectionTotals> {
    return this.#totals.get(connId) ?? { transactions: 0, bytesIn: 0, bytesOut: 0 };
  }

  /** The transaction in flight on a connection, if any. */
  inFlightOn(connId: string): TransactionRecord | undefined {
    for (const t of this.#tx.values()) if (t.record.connId === connId) return t.record;
    return undefined;
  }

  recent(limit: number): readonly HandoffEvent[] {
    return this.#recent.slice(0, limit);
  }

  /** Backends that can take a transaction now. */
  available(): Backend[] {
    return this.#backends.filter((b) => b.agent.up && !b.draining);
  }

  /** The policy engine's choice when there is one, else round robin over the available backends. */
  decide: Decide = (req, session, all) => {
    if (this.engine) {
      const conn = session.conn;
      const d = this.engine.decide(toPolicyRequest(req), toPolicyConn(conn, Date.now()), {
        backends: all.map((b) => ({
          name: b.spec.name,
          up: b.agent.up,
          draining: b.draining,
          weight: b.weight,
          load: { ...b.load, activeTransactions: Math.max(b.load.activeTransactions, b.active) },
        })),
        connections: this.#ctl.endpoint.connectionCount,
        nowMs: Date.now(),
      });
      if ('reject' in d) return { reject: d.reject, reason: d.reason };
      const backend = all.find((b) => b.spec.name === d.backend && b.agent.up && !b.draining);
      return backend ? { backend, policy: d.policy, decidedBy: d.source } : null;
    }
    const up = this.available();
    if (up.length === 0) return null;
    this.#rr = (this.#rr + 1) % up.length;
    return { backend: up[this.#rr]!, policy: null, decidedBy: 'round-robin' };
  };

  route(req: HttpRequest, session: HttpSession<ClientLink>): boolean {
    const conn = session.conn;
    if (conn.state !== 'ESTABLISHED') return false;
    if (conn.unacknowledged > 0) {
      // The previous response's tail is not acknowledged yet (a pipelined request arrived with
      // it): TCP_REPAIR restores a socket with nothing in flight, so wait for the client's ACK
      // (or our retransmission's), then hand the request off.
      void this.#whenAcknowledged(conn, 3000).then((ok) => {
        if (!ok || !this.#take(req, session)) session.respond503(ok ? 'no backend is available' : 'the connection is stalled');
      });
      return true;
    }
    return this.#take(req, session);
  }

  async #whenAcknowledged(conn: TcpConnection<ClientLink>, ms: number): Promise<boolean> {
    const t0 = Date.now();
    while (conn.unacknowledged > 0) {
      if (conn.closed || Date.now() - t0 > ms) return false;
      await new Promise((r) => setTimeout(r, 1));
    }
    return conn.state === 'ESTABLISHED';
  }

  #take(req: HttpRequest, session: HttpSession<ClientLink>): boolean {
    const conn = session.conn;
    // A speculation that missed already asked the policy about this very request.
    const pending = this.#pending.get(conn);
    this.#pending.delete(conn);
    const reuse = pending && endsWith(pending.head, req.headBytes) && pending.backend.agent.up && !pending.backend.draining;
    const d: Decision | { reject: number; reason: string } | null = reuse ? pending : this.decide(req, session, this.#backends);
    if (d === null) return false;
    if ('reject' in d) {
      session.respond(d.reject, { 'Content-Type': 'text/plain; charset=utf-8' }, `${d.reason}\n`);
      return true;
    }
    const backend = d.backend;
    // The client's window closes while the state moves: nothing it sends can fall between the
    // controller and the backend. The backend reopens it when it starts (its window probe); for a
    // read the switch keeps it at zero (the client cannot send the next request meanwhile),
    // unless the transaction is kept: then the next request is meant to reach the backend.
    const isRead = (req.head.method === 'GET' || req.head.method === 'HEAD') && !req.head.contentLength && !req.head.chunked;
    const keepMs = req.head.keepAlive ? this.#keepMsFor(connectionId(conn), backend) : 0;
    conn.setReceiveWindow('zero');
    conn.freeze();
    const { state, unread } = conn.exportState();
    this.#attempt({ req, session, decision: d, state, keepMs, cached: false }, unread, isRead, [backend]);
    return true;
  }

  /** How long a transaction on `backend` is kept after Done (0: not kept), by the speculation mode. */
  #keepMsFor(connId: string, backend: Backend): number {
    const { mode, keepMs } = this.#speculation;
    if (mode === 'off' || keepMs <= 0) return 0;
    if (mode === 'always') return keepMs;
    // 'auto': the policy chose this backend for the connection's last two transactions too (one
    // repeat happens by chance under round robin; a miss costs a round trip to the agent).
    const h = this.#history.get(connId) ?? [];
    const same = (r: TransactionRecord | undefined): boolean => r !== undefined && r.backend === backend.spec.name && r.outcome === 'done';
    return same(h[0]) && same(h[1]) ? keepMs : 0;
  }

  /**
   * One attempt at a transaction on `backend`. When nothing reached the client (Prepare refused,
   * the agent unreachable, the rules not written) and the request is idempotent, it is tried once
   * more on another backend; otherwise the controller answers it (503) or the client is reset.
   */
  #attempt(spec: TransactionSpec, unread: Buffer, isRead: boolean, tried: Backend[]): void {
    const { req, session, decision } = spec;
    const tx = this.#begin(spec);
    this.#launch(tx, this.#run(tx, req, unread, isRead), (result) => {
      if (!result.nothingSent) return;
      const other = IDEMPOTENT.has(req.head.method) && tried.length < 2 ? this.available().find((b) => !tried.includes(b)) : undefined;
      if (other && !session.conn.closed) {
        log.info({ tx: tx.record.id, from: decision.backend.spec.name, to: other.spec.name }, 'retrying the request on another backend');
        this.#count('retried');
        this.#attempt({ ...spec, decision: { backend: other, policy: null, decidedBy: 'retry' }, keepMs: 0 }, unread, isRead, [...tried, other]);
      } else {
        this.#giveBack(tx, session);
      }
    });
  }

  /** Registers a transaction: its record in the connection's history, its event promises. */
  #begin({ req, session, decision, state, keepMs, cached }: TransactionSpec): Transaction {
    const id = this.#nextId++;
    const { backend, policy, decidedBy } = decision;
    const conn = session.conn;
    const connId = connectionId(conn);
    const record: TransactionRecord = {
      id: String(id),
      connId,
      backend: backend.spec.name,
      state: cached ? 'transfer' : 'prepare',
      outcome: null,
      method: req.head.method,
      target: req.head.target,
      startedAtMs: Date.now(),
      durationMs: null,
      bytesSent: null,
      policy,
      decidedBy,
      cached,
    };
    const h = this.#history.get(connId) ?? [];
    h.unshift(record);
    if (h.length > HISTORY_PER_CONNECTION) h.pop();
    this.#history.set(connId, h);
    let resolveDone!: (r: DoneReport) => void;
    let resolveNext!: (r: NextReport) => void;
    let fail!: (why: string) => void;
    const failure = new Promise<never>((_, reject) => (fail = (why) => reject(new Error(why))));
    failure.catch(() => undefined); // awaited through the races below
    const done = Promise.race([new Promise<DoneReport>((r) => (resolveDone = r)), failure]);
    const next = Promise.race([new Promise<NextReport>((r) => (resolveNext = r)), failure]);
    done.catch(() => undefined);
    next.catch(() => undefined);
    const tx: Transaction = {
      id,
      record,
      backend,
      session,
      conn,
      link: conn.link,
      exported: state,
      keepMs,
      cached,
      continueMs: 0,
      rules: new Set(cached ? RULE_TABLES : []),
      done,
      next,
      resolveDone,
      resolveNext,
      failed: fail,
    };
    this.#tx.set(id, tx);
    backend.active++;
    return tx;
  }

  /** Runs a registered transaction to its end and publishes the outcome. */
  #launch(tx: Transaction, run: Promise<RunResult>, then: (r: RunResult) => void = () => undefined): void {
    const t0 = performance.now();
    const { record, backend } = tx;
    void run.then((result) => {
      this.#tx.delete(tx.id);
      backend.active--;
      record.outcome = result.outcome;
      record.state = result.outcome === 'done' ? 'done' : 'failed';
      const durationMs = performance.now() - t0;
      record.durationMs = durationMs;
      record.bytesSent = result.bytesSent;
      const totals = this.#totals.get(record.connId) ?? { transactions: 0, bytesIn: 0, bytesOut: 0 };
      totals.transactions++;
      totals.bytesIn += result.bytesReceived ?? 0;
      totals.bytesOut += result.bytesSent ?? 0;
      this.#totals.set(record.connId, totals);
      const ev: HandoffEvent = { tx: record.id, connId: record.connId, backend: backend.spec.name, outcome: result.outcome, atMs: Date.now(), durationMs, steps: result.steps, bytesSent: result.bytesSent, policy: record.policy, cached: record.cached };
      this.#recent.unshift(ev);
      if (this.#recent.length > RECENT_EVENTS) this.#recent.pop();
      if (this.engine && record.policy) {
        this.engine.retire({ id: record.id, connId: record.connId, backend: backend.spec.name, outcome: result.outcome, durationMs, bytesSent: result.bytesSent ?? 0 }, record.policy);
      }
      this.emit('handoff', ev);
      then(result);
    });
  }

  /**
   * One transaction: rules, then Prepare-and-start in one call; Done when the response is sent;
   * then either the next request on the same socket (kept, a speculation hit) or the hand-back:
   * Release (with the unacknowledged tail), the rule delete, adopt. The from-backend rule drops
   * the backend's RSTs (drop_rst), so a client segment that reaches the backend before its
   * socket exists or after it is closed is lost (and retransmitted by the client), never
   * answered with a reset (invariant 1). A cached transaction starts at the transfer: its
   * predecessor's rules and socket serve it.
   */
  async #run(tx: Transaction, req: HttpRequest, unread: Buffer, isRead: boolean): Promise<RunResult> {
    const t = this.#timeouts;
    const times: StepTimes = { prepare: 0, rules: 0, start: tx.continueMs, transfer: 0, deleteRules: 0, release: 0 };
    const timed = async <T>(k: keyof StepTimes, p: Promise<T>): Promise<T> => {
      const t0 = performance.now();
      try {
        return await p;
      } finally {
        times[k] = performance.now() - t0;
      }
    };
    const agent = tx.backend.agent;
    // A read's from-backend rule forces the client's window to zero, unless the transaction is
    // kept (the next request is meant to reach the backend); a cached one has its predecessor's.
    const zeroWindow = isRead && !tx.cached && tx.keepMs === 0;
    let started = tx.cached;
    let phase: 'prepare' | 'rules' | 'after' = tx.cached ? 'after' : 'rules';
    try {
      if (!tx.cached) {
        // 1. Both rules in one batch, then 2+3. Prepare with start: the agent builds the socket in
        // repair mode with our state and every byte we ACKed, leaves repair mode and serves, in one
        // call. Rules before the socket are safe: the client's window is closed, and a segment that
        // reaches the backend first is answered by a RST that from_backend drops (drop_rst).
        tx.record.state = 'rules';
        await timed('rules', this.#writeRules(tx, 'INSERT', zeroWindow));
        phase = 'prepare';
        tx.record.state = 'prepare';
        const prep = await timed(
          'prepare',
          agent.call<Obj>(
            'Prepare',
            {
              transaction_id: String(tx.id),
              connection: toProtoState(tx.exported),
              request: unread,
              body: Buffer.alloc(0),
              body_length: String(req.head.contentLength ?? 0),
              deadline_unix_ms: String(Date.now() + t.transactionMs),
              start: true,
              keep_ms: tx.keepMs,
              // A read with the client's window closed is released the moment Done comes:
              // the agent does it then and sends the state with Done (no Release round trip).
              release_on_done: zeroWindow,
            },
            t.prepareMs + t.startMs,
          ),
        );
        if (prep.result !== 'ready') {
          log.info({ tx: String(tx.id), backend: tx.backend.spec.name, reason: prep.refused?.reason, detail: prep.refused?.detail }, 'Prepare refused');
          await this.#writeRules(tx, 'DELETE');
          this.#count('refused');
          return { outcome: 'refused', steps: null, bytesSent: null, nothingSent: true };
        }
        started = true;
        phase = 'after';
      }
      tx.record.state = 'transfer';
      const bytes = await timed('transfer', withTimeout(tx.done, t.transactionMs, 'the response did not complete'));
      if (tx.keepMs > 0) {
        this.stats.speculation.kept++;
        tx.record.state = 'kept';
        if (await this.#continueIfSame(tx)) return this.#finished(tx, times, bytes);
      }
      // 4. Release: the agent freezes, dumps and closes the socket without a packet. It comes
      // before the from-backend rule goes: the response's tail may still be unacknowledged, and a
      // backend that retransmits it (RTO, tail-loss probe) after its rule is gone would reach the
      // client from its own address, and the client would answer with a RST. With the client's
      // window open (writes, kept transactions) the client→backend rule goes first, so that
      // nothing the client sends reaches the socket being dumped (the controller gets it instead
      // and drops it while the connection is frozen; the client retransmits).
      tx.record.state = 'release';
      if (!zeroWindow) await timed('deleteRules', this.#writeRules(tx, 'DELETE', false, ['handoff_in']));
      const rel = bytes.released ?? (await timed('release', agent.call<Obj>('Release', { transaction_id: String(tx.id) }, t.releaseMs)));
      // 5. Delete the (remaining) rules: client segments reach the controller again.
      const t0 = performance.now();
      await this.#writeRules(tx, 'DELETE', false, [...tx.rules]);
      times.deleteRules += performance.now() - t0;
      // 6. Adopt: the controller owns the connection again; unread bytes are the next request.
      const conn = this.#ctl.endpoint.adopt(fromProtoState(rel.state, tx.exported), Buffer.from(rel.unread ?? []), tx.link, Buffer.from(rel.unacked ?? []));
      conn.setReceiveWindow('open');
      return this.#finished(tx, times, bytes);
    } catch (err) {
      const reason = (err as Error).message;
      log.warn({ tx: String(tx.id), backend: tx.backend.spec.name, started, err: reason }, 'hand-off failed');
      await this.#deleteRemainingRules(tx);
      await agent.call('Abort', { transaction_id: String(tx.id), reason }, 1000).catch(() => undefined);
      let outcome: Outcome;
      // A Prepare-and-start that failed may still have started serving (its reply lost with a
      // dying agent), unless the call never left the controller: only then did nothing leave
      // the backend, and the request may go elsewhere or be answered here.
      const unreached = err instanceof AgentCallError && err.neverSent;
      const nothingSent = !started && (phase === 'rules' || unreached);
      if (nothingSent) {
        outcome = phase === 'rules' ? 'rules_failed' : 'prepare_failed';
      } else {
        outcome = reason.includes('did not complete') ? 'timeout' : reason.includes('Release') ? 'release_failed' : 'backend_failed';
        this.#resetClient(tx);
      }
      this.#count(outcome);
      return { outcome, steps: null, bytesSent: null, nothingSent };
    }
  }

  #finished(tx: Transaction, times: StepTimes, bytes: DoneReport): RunResult {
    tx.backend.served++;
    this.stats.byBackend[tx.backend.spec.name] = (this.stats.byBackend[tx.backend.spec.name] ?? 0) + 1;
    this.stats.steps.push(times);
    if (this.stats.steps.length > 10_000) this.stats.steps.shift();
    this.#count('done');
    return { outcome: 'done', steps: times, bytesSent: Number(bytes.sent), bytesReceived: Number(bytes.received), nothingSent: false };
  }

  /**
   * A kept transaction after Done: waits for the agent's NextRequest and asks the policy about
   * that request. Same backend: Continue serves it on the same socket as a new (cached)
   * transaction that inherits the rules, and this one ends here (true). Otherwise false: the
   * caller hands the connection back, and the decision waits for the head to come back.
   */
  async #continueIfSame(tx: Transaction): Promise<boolean> {
    const t = this.#timeouts;
    // No report in time (an agent that predates keep_ms ignores it) counts as idle: the hand-back
    // below works either way, and finds any request the client sent meanwhile in `unread`.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<NextReport>((resolve) => (timer = setTimeout(() => resolve({ head: Buffer.alloc(0), idle: true }), tx.keepMs + t.releaseMs)));
    const next = await Promise.race([tx.next, late]).finally(() => clearTimeout(timer));
    if (next.idle) {
      this.stats.speculation.idle++;
      return false;
    }
    const parsed = new RequestHeadParser(this.#ctl.intake.config).feed(next.head);
    // A head the controller would refuse (400, 431, 505) comes back so that the intake answers it.
    const d = parsed.kind === 'head' && tx.conn.state === 'ESTABLISHED' ? this.decide({ head: parsed.head, headBytes: next.head, body: Buffer.alloc(0) }, tx.session, this.#backends) : null;
    if (d === null || 'reject' in d || d.backend !== tx.backend || parsed.kind !== 'head') {
      this.stats.speculation.misses++;
      if (d && !('reject' in d)) this.#pending.set(tx.conn, { head: next.head, backend: d.backend, policy: d.policy, decidedBy: d.decidedBy });
      return false;
    }
    const req: HttpRequest = { head: parsed.head, headBytes: next.head, body: Buffer.alloc(0) };
    const keepMs = parsed.head.keepAlive ? this.#speculation.keepMs : 0;
    const nextTx = this.#begin({ req, session: tx.session, decision: d, state: tx.exported, keepMs, cached: true });
    const t0 = performance.now();
    try {
      await tx.backend.agent.call('Continue', { transaction_id: String(tx.id), next_transaction_id: String(nextTx.id), deadline_unix_ms: String(Date.now() + t.transactionMs), keep_ms: keepMs }, t.startMs);
    } catch (err) {
      if (err instanceof AgentCallError && err.neverSent) {
        // Nothing happened at the agent: this transaction is still kept; hand it back.
        this.#tx.delete(nextTx.id);
        tx.backend.active--;
        this.#history.get(nextTx.record.connId)?.splice(0, 1);
        this.stats.speculation.misses++;
        return false;
      }
      // The agent may be serving it: the new transaction owns the rules and fails (reset).
      tx.rules.clear();
      this.#launch(nextTx, Promise.reject(err as Error).catch((e: unknown) => this.#failCached(nextTx, e as Error)));
      return true;
    }
    nextTx.continueMs = performance.now() - t0;
    this.stats.speculation.hits++;
    tx.rules.clear(); // they are the new transaction's now
    this.#launch(nextTx, this.#run(nextTx, req, Buffer.alloc(0), false));
    return true;
  }

  /** A cached transaction whose Continue failed after it may have started: its rules go, the client is reset. */
  async #failCached(tx: Transaction, err: Error): Promise<RunResult> {
    log.warn({ tx: String(tx.id), backend: tx.backend.spec.name, err: err.message }, 'hand-off failed');
    await this.#deleteRemainingRules(tx);
    await tx.backend.agent.call('Abort', { transaction_id: String(tx.id), reason: err.message }, 1000).catch(() => undefined);
    this.#resetClient(tx);
    this.#count('backend_failed');
    return { outcome: 'backend_failed', steps: null, bytesSent: null, nothingSent: false };
  }

  /** Nothing reached the client from the backend: the controller answers itself. */
  #giveBack(tx: Transaction, session: HttpSession<ClientLink>): void {
    tx.conn.setReceiveWindow('open');
    tx.conn.thaw();
    session.respond503('the backend could not take the request');
  }

  /**
   * The backend died mid-response: the client's rcv_nxt is unknown here, so elicit an ACK with an
   * old segment and answer it with a RST at exactly that sequence number (RFC 5961 accepts it).
   */
  #resetClient(tx: Transaction): void {
    const s = tx.exported;
    const tuple = { srcIp: ipNum(s.localIp), dstIp: ipNum(s.remoteIp), srcPort: s.localPort, dstPort: s.remotePort };
    this.#ctl.expectReset(tuple, (clientAck: number) => buildPacket({ ...tuple, seq: clientAck, ack: 0, flags: TCP_RST, window: 0 }, null, null, [], null));
    const probe = buildPacket({ ...tuple, seq: (s.sndNxt - 1) >>> 0, ack: s.rcvNxt, flags: TCP_ACK, window: 0 }, null, s.timestamps ? { tsVal: s.tsVal, tsEcr: s.tsRecent } : null, [], null);
    this.#ctl.sendIp(probe, tx.link);
    tx.conn.detach();
  }

  /**
   * Inserts or deletes the transaction's rules (both by default) in one batch, and keeps
   * tx.rules current: the failure paths delete exactly what is still installed.
   */
  async #writeRules(tx: Transaction, type: 'INSERT' | 'DELETE', zeroWindow = false, tables: readonly RuleTable[] = RULE_TABLES): Promise<void> {
    const s = tx.exported;
    const b = tx.backend.spec;
    const vip = this.#ctl.options.vips.find((v) => v.ip === s.localIp);
    const entry = (table: RuleTable): TableEntrySpec =>
      table === 'handoff_in'
        ? {
            table,
            match: { 'hdr.ipv4.src_addr': s.remoteIp, 'hdr.ipv4.dst_addr': s.localIp, 'hdr.tcp.src_port': s.remotePort, 'hdr.tcp.dst_port': s.localPort },
            ...(type === 'INSERT' ? { action: 'to_backend', params: { backend_ip: b.ip, backend_mac: b.mac, port: b.port, clear_fin: 1 } } : {}),
          }
        : {
            table,
            match: { 'hdr.ipv4.src_addr': b.ip, 'hdr.ipv4.dst_addr': s.remoteIp, 'hdr.tcp.src_port': s.localPort, 'hdr.tcp.dst_port': s.remotePort },
            ...(type === 'INSERT'
              ? { action: 'from_backend', params: { vip: s.localIp, vip_mac: vip?.mac ?? '02:00:00:00:00:00', client_mac: tx.link.mac, port: tx.link.port, zero_window: zeroWindow ? 1 : 0, drop_rst: 1 } }
              : {}),
          };
    await withTimeout(
      this.#ctl.client.writeOrThrow(tables.map((table) => ({ type, entry: entry(table) }))),
      this.#timeouts.rulesMs,
      `hand-off rules ${type}`,
    );
    for (const table of tables) {
      if (type === 'INSERT') tx.rules.add(table);
      else tx.rules.delete(table);
    }
  }

  /** Deletes whatever rules the transaction still has (failure paths). */
  async #deleteRemainingRules(tx: Transaction): Promise<void> {
    if (tx.rules.size === 0) return;
    await this.#writeRules(tx, 'DELETE', false, [...tx.rules]).catch((e: unknown) =>
      log.error({ tx: String(tx.id), err: (e as Error).message }, 'could not delete hand-off rules; reconcile will'),
    );
  }

  #count(o: Outcome): void {
    this.stats.outcomes[o] = (this.stats.outcomes[o] ?? 0) + 1;
  }

  /** Transactions in flight. */
  get inFlight(): number {
    return this.#tx.size;
  }

  close(): void {
    for (const b of this.#backends) b.agent.close();
  }
}

function endsWith(buf: Buffer, tail: Buffer): boolean {
  return buf.length >= tail.length && buf.subarray(buf.length - tail.length).equals(tail);
}

function ipNum(ip: string): number {
  return ipv4ToBytes(ip).readUInt32BE(0);
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The state Prepare carries: the control protocol's ConnectionState (one mapping: native/repair.ts). */
export function toProtoState(s: TcpRepairState): Obj {
  return toConnectionState({
    clientIp: ipv4ToBytes(s.remoteIp),
    clientPort: s.remotePort,
    vipIp: ipv4ToBytes(s.localIp),
    vipPort: s.localPort,
    sndNxt: s.sndNxt,
    rcvNxt: s.rcvNxt,
    sndUna: s.sndUna,
    sndWnd: s.sndWnd,
    rcvWnd: s.rcvWnd,
    sndWscale: s.sndWscale,
    rcvWscale: s.rcvWscale,
    mss: s.mss,
    sackPermitted: s.sackPermitted,
    timestampsEnabled: s.timestamps,
    tsVal: s.tsVal,
    tsRecent: s.tsRecent,
    sndWl1: s.sndWl1,
    maxWindow: s.maxWindow,
    rcvWup: s.rcvWup,
    wscaleOk: s.wscaleOk,
  });
}

/** The state the agent returned, completed with what does not travel (negotiated at the handshake). */
export function fromProtoState(p: Obj, before: TcpRepairState): TcpRepairState {
  // The 4-tuple is the client's view (VIP ↔ client); the backend's socket had its own address.
  return {
    localIp: before.localIp,
    localPort: before.localPort,
    remoteIp: before.remoteIp,
    remotePort: before.remotePort,
    sndUna: p.snd_una >>> 0,
    sndNxt: p.snd_nxt >>> 0,
    rcvNxt: p.rcv_nxt >>> 0,
    sndWl1: p.snd_wl1 >>> 0,
    sndWnd: p.snd_wnd,
    sndWndRaw: Math.min(0xffff, p.snd_wnd >>> (before.wscaleOk ? before.sndWscale : 0)),
    maxWindow: p.max_window,
    rcvWnd: p.rcv_wnd,
    rcvWup: p.rcv_wup >>> 0,
    wscaleOk: before.wscaleOk,
    sndWscale: before.sndWscale,
    rcvWscale: before.rcvWscale,
    mss: before.mss,
    sackPermitted: before.sackPermitted,
    timestamps: before.timestamps,
    tsVal: p.ts_val >>> 0,
    tsOffset: before.tsOffset,
    tsRecent: p.ts_recent >>> 0,
    exportedAtMs: before.exportedAtMs,
  };
}
