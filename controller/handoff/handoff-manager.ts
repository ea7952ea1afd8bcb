/**
 * The per-transaction hand-off: for each request the controller has taken in, a policy picks a
 * backend and a transaction moves the connection there and back. This module decides and
 * orchestrates; the pieces live beside it:
 *
 *   transaction.ts  the steps of one transaction (rules → Prepare-and-start → Done → release →
 *                   adopt), their timeouts and the failure record { step, code }
 *   rules.ts        the two rewrite rules of a transaction and what of them is installed
 *   speculation.ts  kept transactions and Continue (Prism 3.3 speculative rule caching)
 *   backends.ts     backends, their agents and counters
 *   history.ts      per-connection transaction history, totals, recent events
 *   clock.ts        the one injected clock
 *
 * Failures before anything reached the client hand the connection back to the controller
 * (which answers 503), or, for an idempotent request, try one other backend; failures after
 * remove the rules, abort the agent's side and reset the client (invariant 5).
 */
import { mark } from '../../core/timeline.js';
import { EventEmitter } from 'node:events';
import { PrismError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { ipv4ToBytes } from '../../core/header/addr.js';
import { TCP_ACK, TCP_RST } from '../../core/header/tcp.js';
import type { ClientLink, Controller, RequestRouter } from '../controller.js';
import type { HttpRequest, HttpSession } from '../http/intake.js';
import { RequestHeadParser } from '../http/request-parser.js';
import type { PolicyEngine } from '../policy/engine.js';
import { connectionId, toPolicyConn, toPolicyRequest } from '../policy/request.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { TcpRepairState } from '../tcp/repair-state.js';
import { buildPacket } from '../tcp/packet-builder.js';
import { AgentClient, type AgentLoad } from './agent-client.js';
import { BackendRegistry, type Backend, type BackendSpec } from './backends.js';
import { systemHandoffClock, type HandoffClock } from './clock.js';
import type { HandoffEvent, Outcome, StepTimes } from './events.js';
import { HandoffHistory, type ConnectionTotals, type TransactionRecord } from './history.js';
import { RuleBatcher, TransactionRules, type RuleWriter } from './rules.js';
import { continueIfSame, DEFAULT_SPECULATION, keepMsFor, type NextVerdict, type SpeculationOptions, type SpeculationStats } from './speculation.js';
import { codeOf, DEFAULT_TIMEOUTS, failTransaction, runTransaction, TransactionEvents, type DoneReport, type HandoffTimeouts, type RunnableTransaction, type RunRequest, type RunResult } from './transaction.js';

export type { HandoffEvent, Outcome, StepTimes, TransactionStep } from './events.js';
export type { Backend, BackendSpec } from './backends.js';
export type { ConnectionTotals, TransactionRecord } from './history.js';
export type { SpeculationOptions } from './speculation.js';
export type { HandoffTimeouts } from './transaction.js';
export { DEFAULT_TIMEOUTS } from './transaction.js';
export { DEFAULT_SPECULATION } from './speculation.js';

const log = logger('handoff');

/** Methods a request may be retried with on another backend (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

/** A policy's choice for one request. */
interface Decision {
  readonly backend: Backend;
  readonly policy: string | null;
  readonly decidedBy: string | null;
  /** The policy expects the connection's next requests on the same backend (keep at once). */
  readonly sticky?: boolean;
}

/** A decision made while speculating that missed: used when the head comes back to the controller. */
interface PendingDecision extends Decision {
  readonly head: Buffer;
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

interface Transaction extends RunnableTransaction {
  /** The request asked to close the connection after its response (RFC 9112 9.6). */
  readonly closeAfter: boolean;
  readonly backend: Backend;
  readonly session: HttpSession<ClientLink>;
  readonly conn: TcpConnection<ClientLink>;
  readonly link: ClientLink;
}

/** Picks a backend for a request; null = none can take it (the controller answers 503). */
export type Decide = (req: HttpRequest, session: HttpSession<ClientLink>, all: readonly Backend[]) => Decision | { reject: number; reason: string } | null;

export interface HandoffManagerOptions {
  readonly timeouts?: Partial<HandoffTimeouts>;
  readonly engine?: PolicyEngine;
  readonly speculation?: Partial<SpeculationOptions>;
  readonly clock?: HandoffClock;
  /** Where the rewrite rules go (default the controller's P4Runtime client; on BMv2 one that drains the switch before a delete). */
  readonly rules?: RuleWriter;
}

export class HandoffManager extends EventEmitter implements RequestRouter {
  readonly #ctl: Controller;
  readonly #backends: BackendRegistry;
  readonly #tx = new Map<bigint, Transaction>();
  readonly #timeouts: HandoffTimeouts;
  readonly #speculation: SpeculationOptions;
  readonly #clock: HandoffClock;
  readonly #rules: RuleWriter;
  readonly #batcher: RuleBatcher | undefined;
  readonly #pending = new Map<TcpConnection<ClientLink>, PendingDecision>();
  readonly #history = new HandoffHistory();
  #nextId = 1n;
  #rr = 0;
  readonly stats = {
    outcomes: {} as Record<Outcome, number>,
    byBackend: {} as Record<string, number>,
    steps: [] as StepTimes[],
    /** Kept transactions, and how each ended: a hit (Continue), a miss (another backend), idle. */
    speculation: { kept: 0, hits: 0, misses: 0, idle: 0 } as SpeculationStats,
  };
  /** The policy engine deciding backends; without one, round robin. */
  engine: PolicyEngine | undefined;

  constructor(ctl: Controller, backends: readonly BackendSpec[], opts: HandoffManagerOptions = {}) {
    super();
    this.#ctl = ctl;
    // A writer of the caller's (BMv2's draining one) writes every delete when it is asked to;
    // the P4Runtime client's deletes are batched (RuleBatcher).
    this.#batcher = opts.rules ? undefined : new RuleBatcher(ctl.client);
    this.#rules = opts.rules ?? this.#batcher!;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    this.#speculation = { ...DEFAULT_SPECULATION, ...opts.speculation };
    this.#clock = opts.clock ?? systemHandoffClock;
    this.engine = opts.engine;
    this.#backends = new BackendRegistry(
      (spec) => new AgentClient(spec.name, spec.agentAddress, spec.token),
      (b) => this.#wire(b),
    );
    for (const spec of backends) this.addBackend(spec);
    ctl.router = this;
    ctl.on('connectionOpened', (conn: TcpConnection<ClientLink>) => this.engine?.addConn(toPolicyConn(conn, this.#clock.epochMs())));
    ctl.on('connectionClosed', (conn: TcpConnection<ClientLink>) => {
      this.#pending.delete(conn);
      this.#history.forget(connectionId(conn));
      this.engine?.rmConn(connectionId(conn));
    });
  }

  /** The agent's events reach the transaction they name. */
  #wire(b: Backend): void {
    const agent = b.agent;
    agent.on('done', (id: bigint, sent: bigint, received: bigint, released: DoneReport['released'], closeRequested: boolean) =>
      this.#tx.get(id)?.events.resolveDone({ sent, received, released, closeRequested }),
    );
    agent.on('next', (id: bigint, head: Buffer, idle: boolean) => this.#tx.get(id)?.events.resolveNext({ head, idle }));
    agent.on('aborted', (id: bigint, reason: string) => this.#tx.get(id)?.events.fail(new PrismError('PRISM_ERR_HANDOFF', `agent aborted: ${reason}`)));
    agent.on('load', (l: AgentLoad) => (b.load = { activeTransactions: l.activeTransactions, recentThroughputBps: l.recentThroughputBps, queueLength: l.queueLength }));
    agent.on('down', () => {
      for (const t of this.#tx.values()) if (t.backend === b) t.events.fail(new PrismError('PRISM_ERR_AGENT_CALL', `the connection to agent ${b.spec.name} was lost`));
    });
  }

  /** Adds a backend and connects to its agent. */
  addBackend(spec: BackendSpec, weight = 1): Backend {
    return this.#backends.add(spec, weight);
  }

  /** Removes a backend with no transaction in flight. */
  removeBackend(name: string): void {
    this.#backends.remove(name);
  }

  backend(name: string): Backend {
    return this.#backends.get(name);
  }

  backends(): readonly Backend[] {
    return this.#backends.all();
  }

  /** Backends that can take a transaction now. */
  available(): Backend[] {
    return this.#backends.available();
  }

  /** Transactions of a connection, most recent first. */
  history(connId: string): readonly TransactionRecord[] {
    return this.#history.of(connId);
  }

  /** Transactions handed off on a connection and their request and response bytes, over its life. */
  totals(connId: string): Readonly<ConnectionTotals> {
    return this.#history.totals(connId);
  }

  /** The transaction in flight on a connection, if any. */
  inFlightOn(connId: string): TransactionRecord | undefined {
    for (const t of this.#tx.values()) if (t.record.connId === connId) return t.record;
    return undefined;
  }

  recent(limit: number): readonly HandoffEvent[] {
    return this.#history.recent(limit);
  }

  /** The policy engine's choice when there is one, else round robin over the available backends. */
  decide: Decide = (req, session, all) => {
    if (this.engine) {
      const now = this.#clock.epochMs();
      const d = this.engine.decide(toPolicyRequest(req), toPolicyConn(session.conn, now), {
        backends: all.map((b) => ({
          name: b.spec.name,
          up: b.agent.up,
          draining: b.draining,
          weight: b.weight,
          load: { ...b.load, activeTransactions: Math.max(b.load.activeTransactions, b.active) },
        })),
        connections: this.#ctl.endpoint.connectionCount,
        nowMs: now,
      });
      if ('reject' in d) return { reject: d.reject, reason: d.reason };
      const backend = all.find((b) => b.spec.name === d.backend && b.agent.up && !b.draining);
      return backend ? { backend, policy: d.policy, decidedBy: d.source, ...(d.sticky ? { sticky: true } : {}) } : null;
    }
    const up = this.available();
    if (up.length === 0) return null;
    this.#rr = (this.#rr + 1) % up.length;
    return { backend: up[this.#rr]!, policy: null, decidedBy: 'round-robin' };
  };

  route(req: HttpRequest, session: HttpSession<ClientLink>): boolean {
    mark('route');
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
    const t0 = this.#clock.now();
    while (conn.unacknowledged > 0) {
      if (conn.closed || this.#clock.now() - t0 > ms) return false;
      await new Promise((r) => this.#clock.setTimeout(() => r(undefined), 1));
    }
    return conn.state === 'ESTABLISHED';
  }

  #take(req: HttpRequest, session: HttpSession<ClientLink>): boolean {
    const conn = session.conn;
    // A speculation that missed already asked the policy about this very request.
    const pending = this.#pending.get(conn);
    this.#pending.delete(conn);
    const reuse = pending && endsWith(pending.head, req.headBytes) && pending.backend.agent.up && !pending.backend.draining;
    const d = reuse ? pending : this.decide(req, session, this.#backends.all());
    mark('decided');
    if (d === null) return false;
    if ('reject' in d) {
      session.respond(d.reject, { 'Content-Type': 'text/plain; charset=utf-8' }, `${d.reason}\n`);
      return true;
    }
    // The client's window closes while the state moves: nothing it sends can fall between the
    // controller and the backend. The backend reopens it when it starts (its window probe); for a
    // read the switch keeps it at zero (the client cannot send the next request meanwhile),
    // unless the transaction is kept: then the next request is meant to reach the backend.
    const isRead = (req.head.method === 'GET' || req.head.method === 'HEAD') && !req.head.contentLength && !req.head.chunked;
    const keepMs = req.head.keepAlive ? keepMsFor(this.#speculation, this.#history.of(connectionId(conn)), d.backend.spec.name, d.sticky === true) : 0;
    conn.setReceiveWindow('zero');
    conn.freeze();
    const { state, unread } = conn.exportState();
    mark('exported');
    this.#attempt({ req, session, decision: d, state, keepMs, cached: false }, { bytes: unread, bodyLength: req.head.contentLength ?? 0, isRead, closeAfter: !req.head.keepAlive }, [d.backend]);
    return true;
  }

  /**
   * One attempt at a transaction on the decision's backend. When nothing reached the client
   * (Prepare refused, the agent unreachable, the rules not written) and the request is
   * idempotent, it is tried once more on another backend; otherwise the controller answers it
   * (503) or the client is reset.
   */
  #attempt(spec: TransactionSpec, run: RunRequest, tried: Backend[]): void {
    const { req, session, decision } = spec;
    const tx = this.#begin(spec);
    mark('begun');
    this.#launch(tx, runTransaction(tx, run, this.#deps(tx)), (result) => {
      if (!result.nothingSent) return;
      const other = IDEMPOTENT.has(req.head.method) && tried.length < 2 ? this.available().find((b) => !tried.includes(b)) : undefined;
      if (other && !session.conn.closed) {
        log.info({ tx: tx.record.id, from: decision.backend.spec.name, to: other.spec.name }, 'retrying the request on another backend');
        this.#count('retried');
        this.#attempt({ ...spec, decision: { backend: other, policy: null, decidedBy: 'retry' }, keepMs: 0 }, run, [...tried, other]);
      } else {
        this.#giveBack(tx, session);
      }
    });
  }

  /** What the steps of `tx` use: its agent, the clock, and the controller for adopt and reset. */
  #deps(tx: Transaction) {
    return {
      clock: this.#clock,
      timeouts: this.#timeouts,
      agent: tx.backend.agent,
      adopt: (state: TcpRepairState, unread: Buffer, unacked: Buffer, close: boolean) => {
        mark('adopt0');
        const conn = this.#ctl.endpoint.adopt(state, unread, tx.link, unacked, { close });
        conn.setReceiveWindow('open');
      },
      resetClient: () => this.#resetClient(tx),
      keep: (kept: RunnableTransaction) => this.#continueIfSame(kept as Transaction),
    };
  }

  /** Registers a transaction: its record in the connection's history, its rules, its event promises. */
  #begin({ req, session, decision, state, keepMs, cached }: TransactionSpec): Transaction {
    const id = this.#nextId++;
    const { backend, policy, decidedBy } = decision;
    const conn = session.conn;
    const record: TransactionRecord = {
      id: String(id),
      connId: connectionId(conn),
      backend: backend.spec.name,
      state: cached ? 'transfer' : 'rules',
      outcome: null,
      method: req.head.method,
      target: req.head.target,
      startedAtMs: this.#clock.epochMs(),
      durationMs: null,
      bytesSent: null,
      policy,
      decidedBy,
      cached,
    };
    this.#history.begin(record);
    const vipMac = this.#ctl.options.vips.find((v) => v.ip === state.localIp)?.mac ?? '02:00:00:00:00:00';
    const rules = new TransactionRules(this.#rules, { state, backend: backend.spec, link: conn.link, vipMac }, this.#timeouts.rulesMs, this.#clock);
    const tx: Transaction = { id, record, closeAfter: !req.head.keepAlive, backend, session, conn, link: conn.link, exported: state, keepMs, cached, continueMs: 0, rules, events: new TransactionEvents() };
    this.#tx.set(id, tx);
    backend.active++;
    return tx;
  }

  /** Takes back a registered transaction that never ran. */
  #unbegin(tx: Transaction): void {
    this.#tx.delete(tx.id);
    tx.backend.active--;
    this.#history.unbegin(tx.record);
  }

  /** Runs a registered transaction to its end and publishes the outcome. */
  #launch(tx: Transaction, run: Promise<RunResult>, then: (r: RunResult) => void = () => undefined): void {
    const t0 = this.#clock.now();
    const { record, backend } = tx;
    void run.then((result) => {
      this.#tx.delete(tx.id);
      backend.active--;
      record.outcome = result.outcome;
      record.state = result.outcome === 'done' ? 'done' : 'failed';
      const durationMs = this.#clock.now() - t0;
      record.durationMs = durationMs;
      record.bytesSent = result.bytesSent;
      if (result.outcome === 'done') {
        backend.served++;
        this.stats.byBackend[backend.spec.name] = (this.stats.byBackend[backend.spec.name] ?? 0) + 1;
        if (result.steps) {
          // The last 10,000 to 12,000 transactions' steps, trimmed in batches (amortised O(1)).
          this.stats.steps.push(result.steps);
          if (this.stats.steps.length > 12_000) this.stats.steps.splice(0, 2_000);
        }
      }
      this.#count(result.outcome);
      const ev: HandoffEvent = {
        tx: record.id,
        connId: record.connId,
        backend: backend.spec.name,
        outcome: result.outcome,
        atMs: this.#clock.epochMs(),
        durationMs,
        steps: result.steps,
        bytesSent: result.bytesSent,
        policy: record.policy,
        cached: record.cached,
      };
      this.#history.finish(ev, result.bytesReceived, result.bytesSent ?? 0);
      if (this.engine && record.policy) {
        this.engine.retire({ id: record.id, connId: record.connId, backend: backend.spec.name, outcome: result.outcome, durationMs, bytesSent: result.bytesSent ?? 0 }, record.policy);
      }
      this.emit('handoff', ev);
      then(result);
    });
  }

  /**
   * A kept transaction after Done (speculation.ts): same backend for the next request → a cached
   * successor serves it (true); otherwise the caller hands the connection back, and a decision
   * made for another backend waits for the head to come back.
   */
  #continueIfSame(tx: Transaction): Promise<boolean> {
    return continueIfSame<Transaction>(tx, {
      clock: this.#clock,
      timeouts: this.#timeouts,
      agent: tx.backend.agent,
      stats: this.stats.speculation,
      judge: (head): NextVerdict<Transaction> => {
        const parsed = new RequestHeadParser(this.#ctl.intake.config).feed(head);
        // A head the controller would refuse (400, 431, 505) comes back so that the intake answers it.
        if (parsed.kind !== 'head' || tx.conn.state !== 'ESTABLISHED') return { same: false };
        const req: HttpRequest = { head: parsed.head, headBytes: head, body: Buffer.alloc(0) };
        const d = this.decide(req, tx.session, this.#backends.all());
        if (d === null || 'reject' in d) return { same: false };
        if (d.backend !== tx.backend) {
          this.#pending.set(tx.conn, { head, ...d });
          return { same: false };
        }
        const keepMs = parsed.head.keepAlive ? this.#speculation.keepMs : 0;
        return { same: true, successor: () => this.#begin({ req, session: tx.session, decision: d, state: tx.exported, keepMs, cached: true }) };
      },
      abandon: (s) => this.#unbegin(s),
      run: (s) => this.#launch(s, runTransaction(s, { bytes: Buffer.alloc(0), bodyLength: 0, isRead: false, closeAfter: s.closeAfter }, this.#deps(s))),
      fail: (s, err) => this.#launch(s, this.#failCached(s, err)),
    });
  }

  /** A cached transaction whose Continue failed after it may have started: its rules go, the client is reset. */
  #failCached(tx: Transaction, err: Error): Promise<RunResult> {
    return failTransaction(tx, { step: 'transfer', code: codeOf(err), message: err.message }, false, this.#deps(tx));
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

  #count(o: Outcome): void {
    this.stats.outcomes[o] = (this.stats.outcomes[o] ?? 0) + 1;
  }

  /** Transactions in flight. */
  get inFlight(): number {
    return this.#tx.size;
  }

  /** No transaction in flight and no rule delete waiting (RuleBatcher): the tables hold only what connections use. */
  get settled(): boolean {
    return this.#tx.size === 0 && (this.#batcher?.pending ?? 0) === 0;
  }

  /** Deferred rule deletes (RuleBatcher): how many, and how many went out with another write. */
  get ruleBatching(): Readonly<RuleBatcher['stats']> & { readonly pending: number } {
    return { ...(this.#batcher?.stats ?? { deferred: 0, batched: 0, failed: 0 }), pending: this.#batcher?.pending ?? 0 };
  }

  /** Writes the rule deletes still deferred (stack shutdown, tests that read the tables). */
  flushRules(): Promise<void> {
    return this.#batcher?.flush() ?? Promise.resolve();
  }

  /** Writes the deferred rule deletes, then closes the agents' connections. */
  async close(): Promise<void> {
    await this.#batcher?.flush();
    this.#backends.close();
  }
}

function endsWith(buf: Buffer, tail: Buffer): boolean {
  return buf.length >= tail.length && buf.subarray(buf.length - tail.length).equals(tail);
}

function ipNum(ip: string): number {
  return ipv4ToBytes(ip).readUInt32BE(0);
}
