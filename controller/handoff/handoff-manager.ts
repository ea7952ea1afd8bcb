/**
 * The per-transaction hand-off (ARCHITECTURE sections 3 and 4), in this order:
 *
 *   freeze (zero window for reads) → Prepare → install both rules in one batch → Start
 *   → Done (every response byte ACKed) → delete both rules → Release → adopt
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

export type Outcome = 'done' | 'refused' | 'prepare_failed' | 'rules_failed' | 'start_failed' | 'backend_failed' | 'timeout' | 'release_failed' | 'retried';

/** Methods a request may be retried with on another backend (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

/** Durations of the hand-off's own steps (ms), for the benchmark's breakdown. */
export interface StepTimes {
  prepare: number;
  rules: number;
  start: number;
  transfer: number;
  deleteRules: number;
  release: number;
}

export interface Backend {
  readonly spec: BackendSpec;
  readonly agent: AgentClient;
  active: number;
  served: number;
  draining: boolean;
  weight: number;
  load: BackendLoad;
}

export type TransactionStep = keyof StepTimes | 'done' | 'failed';

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
}

interface Transaction {
  readonly id: bigint;
  readonly record: TransactionRecord;
  readonly backend: Backend;
  readonly conn: TcpConnection<ClientLink>;
  readonly link: ClientLink;
  readonly exported: TcpRepairState;
  rulesInstalled: boolean;
  done?: (bytesSent: bigint) => void;
  failed?: (reason: string) => void;
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
  #nextId = 1n;
  #rr = 0;
  readonly stats = {
    outcomes: {} as Record<Outcome, number>,
    byBackend: {} as Record<string, number>,
    steps: [] as StepTimes[],
  };

  readonly #history = new Map<string, TransactionRecord[]>();
  readonly #recent: HandoffEvent[] = [];
  /** The policy engine deciding backends; without one, round robin. */
  engine: PolicyEngine | undefined;

  constructor(ctl: Controller, backends: readonly BackendSpec[], timeouts: Partial<HandoffTimeouts> = {}, engine?: PolicyEngine) {
    super();
    this.#ctl = ctl;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...timeouts };
    this.#backends = [];
    this.engine = engine;
    for (const spec of backends) this.addBackend(spec);
    ctl.router = this;
    if (engine) {
      ctl.on('connectionOpened', (conn: TcpConnection<ClientLink>) => engine.addConn(toPolicyConn(conn, Date.now())));
      ctl.on('connectionClosed', (conn: TcpConnection<ClientLink>) => {
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
    agent.on('done', (id: bigint, bytes: bigint) => this.#tx.get(id)?.done?.(bytes));
    agent.on('aborted', (id: bigint, reason: string) => this.#tx.get(id)?.failed?.(`agent aborted: ${reason}`));
    agent.on('load', (l: AgentLoad) => (b.load = { activeTransactions: l.activeTransactions, recentThroughputBps: l.recentThroughputBps, queueLength: l.queueLength }));
    agent.on('down', () => {
      for (const t of this.#tx.values()) if (t.backend === b) t.failed?.('agent connection lost');
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
    const d = this.decide(req, session, this.#backends);
    if (d === null) return false;
    if ('reject' in d) {
      session.respond(d.reject, { 'Content-Type': 'text/plain; charset=utf-8' }, `${d.reason}\n`);
      return true;
    }
    const backend = d.backend;
    // The client's window closes while the state moves: nothing it sends can fall between the
    // controller and the backend. The backend reopens it when it starts (its window probe); for a
    // read the switch keeps it at zero (the client cannot send the next request meanwhile).
    const isRead = (req.head.method === 'GET' || req.head.method === 'HEAD') && !req.head.contentLength && !req.head.chunked;
    conn.setReceiveWindow('zero');
    conn.freeze();
    const { state, unread } = conn.exportState();
    this.#attempt(req, session, backend, d.policy, d.decidedBy, state, unread, isRead, [backend]);
    return true;
  }

  /**
   * One attempt at a transaction on `backend`. When nothing reached the client (Prepare refused,
   * the agent unreachable, the rules not written) and the request is idempotent, it is tried once
   * more on another backend; otherwise the controller answers it (503) or the client is reset.
   */
  #attempt(
    req: HttpRequest,
    session: HttpSession<ClientLink>,
    backend: Backend,
    policy: string | null,
    decidedBy: string | null,
    state: TcpRepairState,
    unread: Buffer,
    isRead: boolean,
    tried: Backend[],
  ): void {
    const conn = session.conn;
    const id = this.#nextId++;
    const connId = connectionId(conn);
    const record: TransactionRecord = {
      id: String(id),
      connId,
      backend: backend.spec.name,
      state: 'prepare',
      outcome: null,
      method: req.head.method,
      target: req.head.target,
      startedAtMs: Date.now(),
      durationMs: null,
      bytesSent: null,
      policy,
      decidedBy,
    };
    const h = this.#history.get(connId) ?? [];
    h.unshift(record);
    if (h.length > HISTORY_PER_CONNECTION) h.pop();
    this.#history.set(connId, h);
    const tx: Transaction = { id, record, backend, conn, link: conn.link, exported: state, rulesInstalled: false };
    this.#tx.set(tx.id, tx);
    backend.active++;
    const t0 = performance.now();
    void this.#run(tx, req, unread, isRead).then((result) => {
      this.#tx.delete(tx.id);
      backend.active--;
      record.outcome = result.outcome;
      record.state = result.outcome === 'done' ? 'done' : 'failed';
      record.durationMs = performance.now() - t0;
      record.bytesSent = result.bytesSent;
      const ev: HandoffEvent = { tx: record.id, connId, backend: backend.spec.name, outcome: result.outcome, atMs: Date.now(), durationMs: record.durationMs, steps: result.steps, bytesSent: result.bytesSent, policy: record.policy };
      this.#recent.unshift(ev);
      if (this.#recent.length > RECENT_EVENTS) this.#recent.pop();
      if (this.engine && record.policy) {
        this.engine.retire({ id: record.id, connId, backend: backend.spec.name, outcome: result.outcome, durationMs: record.durationMs, bytesSent: result.bytesSent ?? 0 } as never, record.policy);
      }
      this.emit('handoff', ev);
      if (!result.nothingSent) return;
      const other = IDEMPOTENT.has(req.head.method) && tried.length < 2 ? this.available().find((b) => !tried.includes(b)) : undefined;
      if (other && !conn.closed) {
        log.info({ tx: record.id, from: backend.spec.name, to: other.spec.name }, 'retrying the request on another backend');
        this.#count('retried');
        this.#attempt(req, session, other, null, 'retry', state, unread, isRead, [...tried, other]);
      } else {
        this.#giveBack(tx, session);
      }
    });
  }

  /**
   * One transaction: rules, then Prepare-and-start in one call; Done when the response is sent;
   * Release (with the unacknowledged tail), then the rule delete, then adopt. The from-backend
   * rule drops the backend's RSTs (drop_rst), so a client segment that reaches the backend before
   * its socket exists or after it is closed is lost (and retransmitted by the client), never
   * answered with a reset (invariant 1); the client's window is closed meanwhile, so no request
   * data is in flight.
   */
  async #run(tx: Transaction, req: HttpRequest, unread: Buffer, isRead: boolean): Promise<{ outcome: Outcome; steps: StepTimes | null; bytesSent: number | null; nothingSent: boolean }> {
    const t = this.#timeouts;
    const times: StepTimes = { prepare: 0, rules: 0, start: 0, transfer: 0, deleteRules: 0, release: 0 };
    const timed = async <T>(k: keyof StepTimes, p: Promise<T>): Promise<T> => {
      const t0 = performance.now();
      try {
        return await p;
      } finally {
        times[k] = performance.now() - t0;
      }
    };
    const agent = tx.backend.agent;
    let started = false;
    let phase: 'prepare' | 'rules' | 'after' = 'rules';
    try {
      // 1. Both rules in one batch, then 2+3. Prepare with start: the agent builds the socket in
      // repair mode with our state and every byte we ACKed, leaves repair mode and serves, in one
      // call. Rules before the socket are safe: the client's window is closed, and a segment that
      // reaches the backend first is answered by a RST that from_backend drops (drop_rst).
      tx.record.state = 'rules';
      phase = 'rules';
      await timed('rules', this.#writeRules(tx, 'INSERT', isRead));
      tx.rulesInstalled = true;
      phase = 'prepare';
      tx.record.state = 'prepare';
      const done = new Promise<bigint>((resolve, reject) => {
        tx.done = resolve;
        tx.failed = (why) => reject(new Error(why));
      });
      done.catch(() => undefined); // a failure before `done` is awaited is handled there
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
          },
          t.prepareMs + t.startMs,
        ),
      );
      if (prep.result !== 'ready') {
        log.info({ tx: String(tx.id), backend: tx.backend.spec.name, reason: prep.refused?.reason, detail: prep.refused?.detail }, 'Prepare refused');
        await this.#writeRules(tx, 'DELETE', isRead).then(() => (tx.rulesInstalled = false));
        this.#count('refused');
        return { outcome: 'refused', steps: null, bytesSent: null, nothingSent: true };
      }
      started = true;
      phase = 'after';
      tx.record.state = 'transfer';
      const bytesSent = await timed('transfer', withTimeout(done, t.transactionMs, 'the response did not complete'));
      // 4. Release: the agent freezes, dumps and closes the socket without a packet. It comes
      // before the rule delete: the response's tail may still be unacknowledged, and a backend
      // that retransmits it (RTO, tail-loss probe) after its rule is gone would reach the client
      // from its own address, and the client would answer with a RST.
      tx.record.state = 'release';
      const rel = await timed('release', agent.call<Obj>('Release', { transaction_id: String(tx.id) }, t.releaseMs));
      // 5. Delete the rules: client segments reach the controller again (dropped while frozen;
      // before that, the closed backend socket's RSTs were dropped by drop_rst).
      await timed('deleteRules', this.#writeRules(tx, 'DELETE', isRead));
      tx.rulesInstalled = false;
      // 6. Adopt: the controller owns the connection again; unread bytes are the next request.
      const conn = this.#ctl.endpoint.adopt(fromProtoState(rel.state, tx.exported), Buffer.from(rel.unread ?? []), tx.link, Buffer.from(rel.unacked ?? []));
      conn.setReceiveWindow('open');
      tx.backend.served++;
      this.stats.byBackend[tx.backend.spec.name] = (this.stats.byBackend[tx.backend.spec.name] ?? 0) + 1;
      this.stats.steps.push(times);
      if (this.stats.steps.length > 10_000) this.stats.steps.shift();
      this.#count('done');
      return { outcome: 'done', steps: times, bytesSent: Number(bytesSent), nothingSent: false };
    } catch (err) {
      const reason = (err as Error).message;
      log.warn({ tx: String(tx.id), backend: tx.backend.spec.name, started, err: reason }, 'hand-off failed');
      if (tx.rulesInstalled) {
        await this.#writeRules(tx, 'DELETE', isRead).then(
          () => (tx.rulesInstalled = false),
          (e: unknown) => log.error({ tx: String(tx.id), err: (e as Error).message }, 'could not delete hand-off rules; reconcile will'),
        );
      }
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

  async #writeRules(tx: Transaction, type: 'INSERT' | 'DELETE', isRead: boolean): Promise<void> {
    const s = tx.exported;
    const b = tx.backend.spec;
    const vip = this.#ctl.options.vips.find((v) => v.ip === s.localIp);
    await withTimeout(
      this.#ctl.client.writeOrThrow([
        {
          type,
          entry: {
            table: 'handoff_in',
            match: { 'hdr.ipv4.src_addr': s.remoteIp, 'hdr.ipv4.dst_addr': s.localIp, 'hdr.tcp.src_port': s.remotePort, 'hdr.tcp.dst_port': s.localPort },
            ...(type === 'INSERT' ? { action: 'to_backend', params: { backend_ip: b.ip, backend_mac: b.mac, port: b.port, clear_fin: 1 } } : {}),
          },
        },
        {
          type,
          entry: {
            table: 'handoff_out',
            match: { 'hdr.ipv4.src_addr': b.ip, 'hdr.ipv4.dst_addr': s.remoteIp, 'hdr.tcp.src_port': s.localPort, 'hdr.tcp.dst_port': s.remotePort },
            ...(type === 'INSERT'
              ? { action: 'from_backend', params: { vip: s.localIp, vip_mac: vip?.mac ?? '02:00:00:00:00:00', client_mac: tx.link.mac, port: tx.link.port, zero_window: isRead ? 1 : 0, drop_rst: 1 } }
              : {}),
          },
        },
      ]),
      this.#timeouts.rulesMs,
      `hand-off rules ${type}`,
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
