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
import { logger } from '../../core/log.js';
import { ipv4ToBytes } from '../../core/header/addr.js';
import { TCP_ACK, TCP_RST } from '../../core/header/tcp.js';
import type { ClientLink, Controller, RequestRouter } from '../controller.js';
import type { HttpRequest, HttpSession } from '../http/intake.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { TcpRepairState } from '../tcp/repair-state.js';
import { buildPacket } from '../tcp/packet-builder.js';
import { AgentClient } from './agent-client.js';

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

export type Outcome = 'done' | 'refused' | 'prepare_failed' | 'rules_failed' | 'start_failed' | 'backend_failed' | 'timeout' | 'release_failed';

/** Durations of the hand-off's own steps (ms), for the benchmark's breakdown. */
export interface StepTimes {
  prepare: number;
  rules: number;
  start: number;
  transfer: number;
  deleteRules: number;
  release: number;
}

interface Backend {
  readonly spec: BackendSpec;
  readonly agent: AgentClient;
  active: number;
  served: number;
  draining: boolean;
}

interface Transaction {
  readonly id: bigint;
  readonly backend: Backend;
  readonly conn: TcpConnection<ClientLink>;
  readonly link: ClientLink;
  readonly exported: TcpRepairState;
  rulesInstalled: boolean;
  done?: (bytesSent: bigint) => void;
  failed?: (reason: string) => void;
}

/** Picks a backend for a request; null = none can take it. */
export type PickBackend = (req: HttpRequest, backends: readonly Backend[]) => Backend | null;

export class HandoffManager implements RequestRouter {
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

  constructor(ctl: Controller, backends: readonly BackendSpec[], timeouts: Partial<HandoffTimeouts> = {}) {
    this.#ctl = ctl;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...timeouts };
    this.#backends = backends.map((spec) => {
      const agent = new AgentClient(spec.name, spec.agentAddress, spec.token);
      const b: Backend = { spec, agent, active: 0, served: 0, draining: false };
      agent.on('done', (id: bigint, bytes: bigint) => this.#tx.get(id)?.done?.(bytes));
      agent.on('aborted', (id: bigint, reason: string) => this.#tx.get(id)?.failed?.(`agent aborted: ${reason}`));
      agent.on('down', () => {
        for (const t of this.#tx.values()) if (t.backend === b) t.failed?.('agent connection lost');
      });
      return b;
    });
    ctl.router = this;
  }

  /** Backends that can take a transaction now. */
  available(): Backend[] {
    return this.#backends.filter((b) => b.agent.up && !b.draining);
  }

  /** Round robin over the available backends (the policy layer replaces this). */
  pick: PickBackend = (_req, backends) => {
    if (backends.length === 0) return null;
    this.#rr = (this.#rr + 1) % backends.length;
    return backends[this.#rr]!;
  };

  route(req: HttpRequest, session: HttpSession<ClientLink>): boolean {
    const conn = session.conn;
    if (conn.state !== 'ESTABLISHED' || conn.unacknowledged > 0) return false;
    const backend = this.pick(req, this.available());
    if (!backend) return false;
    // The client's window closes while the state moves: nothing it sends can fall between the
    // controller and the backend. The backend reopens it when it starts (its window probe); for a
    // read the switch keeps it at zero (the client cannot send the next request meanwhile).
    const isRead = (req.head.method === 'GET' || req.head.method === 'HEAD') && !req.head.contentLength && !req.head.chunked;
    conn.setReceiveWindow('zero');
    conn.freeze();
    const { state, unread } = conn.exportState();
    const tx: Transaction = { id: this.#nextId++, backend, conn, link: conn.link, exported: state, rulesInstalled: false };
    this.#tx.set(tx.id, tx);
    backend.active++;
    void this.#run(tx, req, unread, isRead, session).finally(() => {
      this.#tx.delete(tx.id);
      backend.active--;
    });
    return true;
  }

  async #run(tx: Transaction, req: HttpRequest, unread: Buffer, isRead: boolean, session: HttpSession<ClientLink>): Promise<void> {
    const t = this.#timeouts;
    const times: StepTimes = { prepare: 0, rules: 0, start: 0, transfer: 0, deleteRules: 0, release: 0 };
    let mark = performance.now();
    const lap = (k: keyof StepTimes): void => {
      const now = performance.now();
      times[k] = now - mark;
      mark = now;
    };
    const agent = tx.backend.agent;
    let started = false;
    try {
      // 1. Prepare: the agent builds the socket in repair mode with our state and every byte we ACKed.
      const prep = await agent.call<Obj>(
        'Prepare',
        {
          transaction_id: String(tx.id),
          connection: toProtoState(tx.exported),
          request: unread,
          body: Buffer.alloc(0),
          body_length: String(req.head.contentLength ?? 0),
          deadline_unix_ms: String(Date.now() + t.transactionMs),
        },
        t.prepareMs,
      );
      if (prep.result !== 'ready') {
        this.#count('refused');
        log.info({ tx: String(tx.id), backend: tx.backend.spec.name, reason: prep.refused?.reason, detail: prep.refused?.detail }, 'Prepare refused');
        return this.#giveBack(tx, session);
      }
      lap('prepare');
      // 2. Both rules in one batch.
      await this.#writeRules(tx, 'INSERT', isRead);
      tx.rulesInstalled = true;
      lap('rules');
      // 3. Start; then wait for Done (every response byte ACKed by the client).
      const done = new Promise<bigint>((resolve, reject) => {
        tx.done = resolve;
        tx.failed = (why) => reject(new Error(why));
      });
      done.catch(() => undefined); // a failure during Start is handled when `done` is awaited
      await agent.call('Start', { transaction_id: String(tx.id) }, t.startMs);
      started = true;
      lap('start');
      await withTimeout(done, t.transactionMs, 'the response did not complete');
      lap('transfer');
      // 4. Delete the rules: client segments reach the controller again (dropped while frozen).
      await this.#writeRules(tx, 'DELETE', isRead);
      tx.rulesInstalled = false;
      lap('deleteRules');
      // 5. Release: the agent freezes, dumps and closes the socket without a packet.
      const rel = await agent.call<Obj>('Release', { transaction_id: String(tx.id) }, t.releaseMs);
      lap('release');
      // 6. Adopt: the controller owns the connection again; unread bytes are the next request.
      const conn = this.#ctl.endpoint.adopt(fromProtoState(rel.state, tx.exported), Buffer.from(rel.unread ?? []), tx.link);
      conn.setReceiveWindow('open');
      tx.backend.served++;
      this.stats.byBackend[tx.backend.spec.name] = (this.stats.byBackend[tx.backend.spec.name] ?? 0) + 1;
      this.stats.steps.push(times);
      if (this.stats.steps.length > 10_000) this.stats.steps.shift();
      this.#count('done');
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
      if (!started) {
        this.#count(reason.includes('Prepare') ? 'prepare_failed' : 'rules_failed');
        this.#giveBack(tx, session);
      } else {
        this.#count(reason.includes('did not complete') ? 'timeout' : 'backend_failed');
        this.#resetClient(tx);
      }
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

export function toProtoState(s: TcpRepairState): Obj {
  return {
    client_ip: ipv4ToBytes(s.remoteIp),
    client_port: s.remotePort,
    vip_ip: ipv4ToBytes(s.localIp),
    vip_port: s.localPort,
    snd_nxt: s.sndNxt,
    rcv_nxt: s.rcvNxt,
    snd_una: s.sndUna,
    snd_wnd: s.sndWnd,
    rcv_wnd: s.rcvWnd,
    snd_wscale: s.sndWscale,
    rcv_wscale: s.rcvWscale,
    mss: s.mss,
    sack_permitted: s.sackPermitted,
    timestamps_enabled: s.timestamps,
    ts_val: s.tsVal,
    ts_recent: s.tsRecent,
    snd_wl1: s.sndWl1,
    max_window: s.maxWindow,
    rcv_wup: s.rcvWup,
    wscale_ok: s.wscaleOk,
  };
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
