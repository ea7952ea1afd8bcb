/**
 * AdminTarget in memory: backends, connections and transactions as plain records, decisions by
 * a real PolicyEngine. It is the admin API's contract in executable form (the API's tests and the
 * dashboard test run against it). Transactions are simulated: start one (the engine decides),
 * finish it (a hand-off event with step times is emitted, the policy retires it).
 *
 * Test code: only tests and benchmarks import it (the lint forbids any other import of a
 * `testing/` folder, and the build leaves it out). The shapes it reports are the real ones: the
 * hand-off events of controller/handoff/events.ts, and the hand-off rules built by the hand-off's
 * own ruleEntry (controller/handoff/rules.ts), shown the way the live target shows what it reads.
 */
import { PrismError } from '../../../core/errors.js';
import type { ClientLink } from '../../controller.js';
import type { HandoffEvent, Outcome, StepTimes } from '../../handoff/events.js';
import { RULE_TABLES, ruleEntry, type RuleTarget } from '../../handoff/rules.js';
import type { TableEntrySpec } from '../../p4rt/entry-codec.js';
import type { BackendLoad, PolicyRequest, PolicyView } from '../../policy/alrm.js';
import { PolicyEngine } from '../../policy/engine.js';
import type { TcpRepairState } from '../../tcp/repair-state.js';
import type {
  AdminTarget,
  BackendInfo,
  ConnectionDetail,
  ConnectionInfo,
  HealthInfo,
  NewBackend,
  TableEntryInfo,
  TargetStats,
  TransactionInfo,
} from '../admin-target.js';

interface MemBackend {
  spec: NewBackend;
  up: boolean;
  draining: boolean;
  weight: number;
  load: BackendLoad;
  active: number;
  served: number;
}

interface MemConn {
  id: string;
  client: string;
  vip: string;
  state: string;
  owner: string;
  bytesIn: number;
  bytesOut: number;
  openedAtMs: number;
  /** Switch port and MAC the client is reached through (the handoff_out rule's client_mac, port). */
  link: ClientLink;
  txs: TransactionInfo[];
}

interface MemTx {
  info: TransactionInfo;
  conn: MemConn;
  backend: MemBackend;
  policy: string;
  /** A read without a body: the real hand-off forces a zero window (transaction.ts). */
  zeroWindow: boolean;
}

const TABLES = ['vip', 'l3', ...RULE_TABLES] as const;
const HISTORY = 500;

export interface MemoryTargetOptions {
  readonly backends?: readonly NewBackend[];
  readonly engine?: PolicyEngine;
  readonly vip?: string;
  /** The VIP's MAC (the handoff_out rule's vip_mac). */
  readonly vipMac?: string;
  /** Where every simulated client is reached through. */
  readonly clientLink?: ClientLink;
}

export class MemoryAdminTarget implements AdminTarget {
  readonly policies: PolicyEngine;
  readonly vip: string;
  readonly vipMac: string;
  readonly clientLink: ClientLink;
  readonly #backends = new Map<string, MemBackend>();
  readonly #conns = new Map<string, MemConn>();
  readonly #tx = new Map<string, MemTx>();
  readonly #recent: HandoffEvent[] = [];
  readonly #listeners = new Set<(e: HandoffEvent) => void>();
  readonly #startedAt = Date.now();
  #txSeq = 0;
  #packetIns = 0;
  #packetOuts = 0;

  constructor(opts: MemoryTargetOptions = {}) {
    this.policies = opts.engine ?? new PolicyEngine();
    this.vip = opts.vip ?? '10.0.0.100:80';
    this.vipMac = opts.vipMac ?? '02:00:00:00:00:fe';
    this.clientLink = opts.clientLink ?? { port: 1, mac: '02:00:00:00:00:01' };
    for (const b of opts.backends ?? []) this.#backends.set(b.name, this.#mem(b));
  }

  // ------------------------------------------------------------------ AdminTarget

  listBackends(): BackendInfo[] {
    return [...this.#backends.values()].map((b) => this.#backendInfo(b));
  }

  async addBackend(spec: NewBackend): Promise<BackendInfo> {
    if (this.#backends.has(spec.name)) throw new PrismError('PRISM_ERR_ALREADY_EXISTS', `a backend named ${spec.name} exists`);
    if ([...this.#backends.values()].some((b) => b.spec.ip === spec.ip)) throw new PrismError('PRISM_ERR_ALREADY_EXISTS', `a backend with address ${spec.ip} exists`);
    const b = this.#mem(spec);
    this.#backends.set(spec.name, b);
    return this.#backendInfo(b);
  }

  setDraining(name: string, draining: boolean): BackendInfo {
    const b = this.#backend(name);
    b.draining = draining;
    return this.#backendInfo(b);
  }

  setWeight(name: string, weight: number): BackendInfo {
    const b = this.#backend(name);
    b.weight = weight;
    return this.#backendInfo(b);
  }

  async removeBackend(name: string): Promise<void> {
    const b = this.#backend(name);
    if (b.active > 0) throw new PrismError('PRISM_ERR_ALREADY_EXISTS', `backend ${name} has ${b.active} transaction(s) in flight: drain it and wait`);
    this.#backends.delete(name);
  }

  listConnections(): ConnectionInfo[] {
    return [...this.#conns.values()].map((c) => this.#connInfo(c));
  }

  connection(id: string): ConnectionDetail | undefined {
    const c = this.#conns.get(id);
    return c ? { ...this.#connInfo(c), transactionList: [...c.txs].reverse() } : undefined;
  }

  forceNext(connId: string, backend: string): void {
    if (!this.#conns.has(connId)) throw new PrismError('PRISM_ERR_NOT_FOUND', `no connection ${connId}`);
    this.#backend(backend);
    this.policies.forceNext(connId, backend);
  }

  async readTables(table?: string): Promise<TableEntryInfo[]> {
    if (table !== undefined && !(TABLES as readonly string[]).includes(table)) throw new PrismError('PRISM_ERR_NOT_FOUND', `the pipeline has no table ${table}`);
    const [vipIp, vipPort] = this.vip.split(':');
    const specs: TableEntrySpec[] = [
      { table: 'vip', match: { 'hdr.ipv4.dst_addr': vipIp, 'hdr.tcp.dst_port': Number(vipPort) }, action: 'to_controller' },
      ...[...this.#backends.values()].map((b) => ({
        table: 'l3',
        match: { 'hdr.ipv4.dst_addr': { value: b.spec.ip, prefixLen: 32 } },
        action: 'route',
        params: { port: b.spec.port, dst_mac: b.spec.mac },
      })),
    ];
    for (const t of this.#tx.values()) {
      const target: RuleTarget = { state: ruleState(t.conn.client, this.vip), backend: t.backend.spec, link: t.conn.link, vipMac: this.vipMac };
      for (const rule of RULE_TABLES) specs.push(ruleEntry(rule, 'INSERT', target, t.zeroWindow));
    }
    const all = specs.map(entryInfo);
    return table === undefined ? all : all.filter((e) => e.table === table);
  }

  health(): HealthInfo {
    const up = [...this.#backends.values()].filter((b) => b.up).length;
    return {
      status: up > 0 ? 'ok' : 'degraded',
      switch: { connected: true, primary: true, address: 'memory' },
      backendsUp: up,
      backendsTotal: this.#backends.size,
      uptimeSeconds: (Date.now() - this.#startedAt) / 1000,
    };
  }

  stats(): TargetStats {
    return {
      packetIns: this.#packetIns,
      packetOuts: this.#packetOuts,
      malformedPackets: 0,
      rulesInstalled: { vip: 1, l3: this.#backends.size, handoff_in: this.#tx.size, handoff_out: this.#tx.size },
      transactionsInFlight: this.#tx.size,
      speculation: { kept: 0, hits: 0, misses: 0, idle: 0 },
    };
  }

  recentHandoffs(limit: number): HandoffEvent[] {
    return this.#recent.slice(-limit).reverse();
  }

  onHandoff(listener: (e: HandoffEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ------------------------------------------------------------------ simulation

  /** A client connects (3 packets in, 1 out: the handshake through the controller). */
  openConnection(client: string, at = Date.now()): string {
    const id = `${client}-${this.vip}`;
    if (this.#conns.has(id)) throw new PrismError('PRISM_ERR_ALREADY_EXISTS', `connection ${id} exists`);
    const c: MemConn = { id, client, vip: this.vip, state: 'ESTABLISHED', owner: 'controller', bytesIn: 0, bytesOut: 0, openedAtMs: at, link: this.clientLink, txs: [] };
    this.#conns.set(id, c);
    this.#packetIns += 2;
    this.#packetOuts += 1;
    this.policies.addConn({ id, client, vip: this.vip, openedAtMs: at });
    return id;
  }

  closeConnection(id: string): void {
    const c = this.#conns.get(id);
    if (!c) throw new PrismError('PRISM_ERR_NOT_FOUND', `no connection ${id}`);
    this.#conns.delete(id);
    this.#packetIns += 2;
    this.policies.rmConn(id);
  }

  /**
   * A request arrives on a connection the controller owns: the engine decides. Returns the
   * transaction, or the reject the controller would answer itself.
   */
  startTransaction(connId: string, request: { method: string; target: string; headers?: Record<string, string> }): TransactionInfo | { reject: number; reason: string } {
    const c = this.#conns.get(connId);
    if (!c) throw new PrismError('PRISM_ERR_NOT_FOUND', `no connection ${connId}`);
    if (c.owner !== 'controller') throw new PrismError('PRISM_ERR_ALREADY_EXISTS', `connection ${connId} is on ${c.owner} now`);
    const q = request.target.indexOf('?');
    const req: PolicyRequest = {
      method: request.method,
      target: request.target,
      path: q < 0 ? request.target : request.target.slice(0, q),
      headers: Object.fromEntries(Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
      contentLength: null,
    };
    const conn = { id: c.id, client: c.client, vip: c.vip, openedAtMs: c.openedAtMs };
    this.#packetIns++;
    c.bytesIn += 64 + request.target.length;
    const d = this.policies.decide(req, conn, this.view());
    if ('reject' in d) return { reject: d.reject, reason: d.reason };
    const b = this.#backend(d.backend);
    const info: TransactionInfo = {
      id: String(++this.#txSeq),
      connId,
      backend: b.spec.name,
      state: 'transfer',
      outcome: null,
      method: req.method,
      target: req.target,
      startedAtMs: Date.now(),
      durationMs: null,
      bytesSent: null,
      policy: d.policy,
      decidedBy: d.source,
      cached: false,
    };
    const zeroWindow = (req.method === 'GET' || req.method === 'HEAD') && req.contentLength === null;
    this.#tx.set(info.id, { info, conn: c, backend: b, policy: d.policy, zeroWindow });
    c.txs.push(info);
    if (c.txs.length > 50) c.txs.shift();
    c.owner = b.spec.name;
    b.active++;
    return info;
  }

  /** The transaction ends: the connection comes back to the controller, the policy retires it. */
  finishTransaction(txId: string, outcome: Outcome = 'done', bytesSent = 1000, steps?: StepTimes): HandoffEvent {
    const t = this.#tx.get(txId);
    if (!t) throw new PrismError('PRISM_ERR_NOT_FOUND', `no transaction ${txId} in flight`);
    this.#tx.delete(txId);
    const now = Date.now();
    const durationMs = Math.max(0, now - t.info.startedAtMs);
    const done: TransactionInfo = { ...t.info, state: outcome === 'done' ? 'done' : 'failed', outcome, durationMs, bytesSent };
    const i = t.conn.txs.indexOf(t.info);
    if (i >= 0) t.conn.txs[i] = done;
    t.conn.owner = 'controller';
    t.conn.bytesOut += bytesSent;
    t.backend.active--;
    if (outcome === 'done') t.backend.served++;
    const ev: HandoffEvent = {
      tx: txId,
      connId: t.conn.id,
      backend: t.backend.spec.name,
      outcome,
      atMs: now,
      durationMs,
      steps: steps ?? { prepare: 0.4, rules: 0.8, start: 0.2, transfer: durationMs, deleteRules: 0.7, release: 0.3 },
      bytesSent,
      policy: t.policy,
      cached: false,
    };
    this.#recent.push(ev);
    if (this.#recent.length > HISTORY) this.#recent.shift();
    this.policies.retire({ id: txId, connId: t.conn.id, backend: ev.backend, outcome, durationMs, bytesSent }, t.policy);
    for (const l of this.#listeners) l(ev);
    return ev;
  }

  setLoad(name: string, load: Partial<BackendLoad>): void {
    const b = this.#backend(name);
    b.load = { ...b.load, ...load };
  }

  setUp(name: string, up: boolean): void {
    this.#backend(name).up = up;
  }

  /** The read-only view the policies see. */
  view(): PolicyView {
    return {
      backends: [...this.#backends.values()].map((b) => ({
        name: b.spec.name,
        up: b.up,
        draining: b.draining,
        weight: b.weight,
        load: { ...b.load, activeTransactions: Math.max(b.load.activeTransactions, b.active) },
      })),
      connections: this.#conns.size,
      nowMs: Date.now(),
    };
  }

  inFlight(): TransactionInfo[] {
    return [...this.#tx.values()].map((t) => t.info);
  }

  // ------------------------------------------------------------------ internals

  #mem(spec: NewBackend): MemBackend {
    return { spec, up: true, draining: false, weight: spec.weight ?? 1, load: { activeTransactions: 0, recentThroughputBps: 0, queueLength: 0 }, active: 0, served: 0 };
  }

  #backend(name: string): MemBackend {
    const b = this.#backends.get(name);
    if (!b) throw new PrismError('PRISM_ERR_NOT_FOUND', `no backend named ${name}`);
    return b;
  }

  #backendInfo(b: MemBackend): BackendInfo {
    return {
      name: b.spec.name,
      ip: b.spec.ip,
      mac: b.spec.mac,
      port: b.spec.port,
      agentAddress: b.spec.agentAddress,
      up: b.up,
      draining: b.draining,
      weight: b.weight,
      load: { ...b.load, activeTransactions: Math.max(b.load.activeTransactions, b.active) },
      activeTransactions: b.active,
      served: b.served,
    };
  }

  #connInfo(c: MemConn): ConnectionInfo {
    return {
      id: c.id,
      client: c.client,
      vip: c.vip,
      state: c.state,
      owner: c.owner,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      transactions: c.txs.length,
      openedAtMs: c.openedAtMs,
      forcedNext: this.policies.forcedFor(c.id) ?? null,
    };
  }
}

/**
 * The state a rule is built from. A rule reads only the 4-tuple; the sequence and window state
 * is not simulated here and stays zero.
 */
function ruleState(client: string, vip: string): TcpRepairState {
  const [remoteIp = '', remotePort] = client.split(':');
  const [localIp = '', localPort] = vip.split(':');
  return {
    localIp,
    localPort: Number(localPort),
    remoteIp,
    remotePort: Number(remotePort),
    sndUna: 0,
    sndNxt: 0,
    rcvNxt: 0,
    sndWl1: 0,
    sndWnd: 0,
    sndWndRaw: 0,
    maxWindow: 0,
    rcvWnd: 0,
    rcvWup: 0,
    wscaleOk: false,
    sndWscale: 0,
    rcvWscale: 0,
    mss: 0,
    sackPermitted: false,
    timestamps: false,
    tsVal: 0,
    tsOffset: 0,
    tsRecent: 0,
    exportedAtMs: 0,
  };
}

/** An entry as the live target shows one it read back: LPM matches as "a.b.c.d/len". */
function entryInfo(spec: TableEntrySpec): TableEntryInfo {
  const match = Object.fromEntries(
    Object.entries(spec.match ?? {}).map(([k, v]) => [k, typeof v === 'object' && v !== null && 'prefixLen' in v ? `${String(v.value)}/${v.prefixLen}` : v]),
  );
  return { table: String(spec.table), match, action: spec.action === undefined ? null : String(spec.action), params: spec.params ?? {}, priority: spec.priority ?? null };
}
