/**
 * The AdminTarget of a running controller: backends and transactions from the HandoffManager,
 * connections from the TCP endpoint, tables read back through P4Runtime, policies from the engine.
 */
import { PrismError } from '../../core/errors.js';
import type { Controller } from '../controller.js';
import type { HandoffManager, TransactionRecord } from '../handoff/handoff-manager.js';
import type { DecodedMatch } from '../p4rt/entry-codec.js';
import type { PolicyEngine } from '../policy/engine.js';
import { connectionId } from '../policy/request.js';
import type { ClientLink } from '../controller.js';
import type { TcpConnection } from '../tcp/connection.js';
import type {
  AdminTarget,
  BackendInfo,
  ConnectionDetail,
  ConnectionInfo,
  HandoffEvent,
  HealthInfo,
  NewBackend,
  TableEntryInfo,
  TargetStats,
  TransactionInfo,
} from './admin-target.js';

export interface LiveTargetOptions {
  readonly controller: Controller;
  readonly handoff: HandoffManager;
  readonly policies: PolicyEngine;
  /** Token for agents added through the API when the request names none. */
  readonly defaultAgentToken: string;
}

/** A value read from the switch, as a person reads it: IPv4/MAC when the width says so, else a number. */
function show(b: Buffer, bits?: number): string | number {
  if (bits === 32 || (bits === undefined && b.length === 4)) return [...Buffer.concat([Buffer.alloc(Math.max(0, 4 - b.length)), b])].join('.');
  if (bits === 48 || (bits === undefined && b.length === 6)) return [...Buffer.concat([Buffer.alloc(Math.max(0, 6 - b.length)), b])].map((x) => x.toString(16).padStart(2, '0')).join(':');
  return b.length <= 6 ? b.reduce((n, x) => n * 256 + x, 0) : `0x${b.toString('hex')}`;
}

function showMatch(m: DecodedMatch): unknown {
  if (Buffer.isBuffer(m)) return show(m);
  if ('prefixLen' in m) return `${show(m.value, 32)}/${m.prefixLen}`;
  if ('mask' in m) return { value: show(m.value), mask: show(m.mask) };
  return { low: show(m.low), high: show(m.high) };
}

export class LiveAdminTarget implements AdminTarget {
  readonly policies: PolicyEngine;
  readonly #ctl: Controller;
  readonly #handoff: HandoffManager;
  readonly #defaultToken: string;
  readonly #opened = new Map<string, number>();
  readonly #started = Date.now();

  constructor(opts: LiveTargetOptions) {
    this.#ctl = opts.controller;
    this.#handoff = opts.handoff;
    this.policies = opts.policies;
    this.#defaultToken = opts.defaultAgentToken;
    this.#ctl.on('connectionOpened', (conn: TcpConnection<ClientLink>) => this.#opened.set(connectionId(conn), Date.now()));
    this.#ctl.on('connectionClosed', (conn: TcpConnection<ClientLink>) => this.#opened.delete(connectionId(conn)));
  }

  listBackends(): readonly BackendInfo[] {
    return this.#handoff.backends().map((b) => ({
      name: b.spec.name,
      ip: b.spec.ip,
      mac: b.spec.mac,
      port: b.spec.port,
      agentAddress: b.spec.agentAddress,
      up: b.agent.up,
      draining: b.draining,
      weight: b.weight,
      load: b.load,
      activeTransactions: b.active,
      served: b.served,
    }));
  }

  #info(name: string): BackendInfo {
    const b = this.listBackends().find((x) => x.name === name);
    if (!b) throw new PrismError('PRISM_ERR_NOT_FOUND', `no backend named ${name}`);
    return b;
  }

  async addBackend(spec: NewBackend): Promise<BackendInfo> {
    this.#handoff.addBackend({ name: spec.name, ip: spec.ip, mac: spec.mac, port: spec.port, agentAddress: spec.agentAddress, token: spec.token ?? this.#defaultToken }, spec.weight ?? 1);
    return this.#info(spec.name);
  }

  setDraining(name: string, draining: boolean): BackendInfo {
    this.#handoff.backend(name).draining = draining;
    return this.#info(name);
  }

  setWeight(name: string, weight: number): BackendInfo {
    this.#handoff.backend(name).weight = weight;
    return this.#info(name);
  }

  async removeBackend(name: string): Promise<void> {
    this.#handoff.removeBackend(name);
  }

  #connInfo(conn: TcpConnection<ClientLink>): ConnectionInfo {
    const id = connectionId(conn);
    const totals = this.#handoff.totals(id);
    const inFlight = this.#handoff.inFlightOn(id);
    return {
      id,
      client: `${conn.remoteAddress}:${conn.remotePort}`,
      vip: `${conn.localAddress}:${conn.localPort}`,
      state: conn.state,
      owner: inFlight?.backend ?? 'controller',
      // Request and response bytes of the handed-off transactions (the backends' reads and writes).
      bytesIn: totals.bytesIn,
      bytesOut: totals.bytesOut,
      transactions: totals.transactions,
      openedAtMs: this.#opened.get(id) ?? this.#started,
      forcedNext: this.policies.forcedFor(id) ?? null,
    };
  }

  listConnections(): readonly ConnectionInfo[] {
    return [...this.#ctl.endpoint.connections()].map((c) => this.#connInfo(c));
  }

  connection(id: string): ConnectionDetail | undefined {
    const conn = [...this.#ctl.endpoint.connections()].find((c) => connectionId(c) === id);
    if (!conn) return undefined;
    return { ...this.#connInfo(conn), transactionList: this.#handoff.history(id).map(toInfo) };
  }

  forceNext(connId: string, backend: string): void {
    if (!this.connection(connId)) throw new PrismError('PRISM_ERR_NOT_FOUND', `no connection ${connId}`);
    this.#handoff.backend(backend);
    this.policies.forceNext(connId, backend);
  }

  async readTables(table?: string): Promise<readonly TableEntryInfo[]> {
    const entries = await this.#ctl.client.readAll(table ? { table } : {});
    return entries.map((e) => ({
      table: e.table,
      match: Object.fromEntries(Object.entries(e.match).map(([k, v]) => [k, showMatch(v)])),
      action: e.action ?? null,
      params: Object.fromEntries(Object.entries(e.params).map(([k, v]) => [k, show(v)])),
      priority: e.priority || null,
    }));
  }

  health(): HealthInfo {
    const backends = this.listBackends();
    const up = backends.filter((b) => b.up).length;
    const primary = this.#ctl.client.isPrimary;
    const connected = this.#ctl.client.state !== 'closed' && this.#ctl.client.state !== 'disconnected';
    return {
      status: !connected ? 'down' : primary && up > 0 ? 'ok' : 'degraded',
      switch: { connected, primary, address: this.#ctl.options.switchAddress },
      backendsUp: up,
      backendsTotal: backends.length,
      uptimeSeconds: (Date.now() - this.#started) / 1000,
    };
  }

  stats(): TargetStats {
    const rules: Record<string, number> = {};
    try {
      for (const e of this.#ctl.client.desiredEntries()) rules[e.table] = (rules[e.table] ?? 0) + 1;
    } catch {
      // no pipeline yet
    }
    return {
      packetIns: this.#ctl.stats.packetIns,
      packetOuts: this.#ctl.stats.packetOuts,
      malformedPackets: this.#ctl.stats.malformed,
      rulesInstalled: rules,
      transactionsInFlight: this.#handoff.inFlight,
      speculation: { ...this.#handoff.stats.speculation },
    };
  }

  recentHandoffs(limit: number): readonly HandoffEvent[] {
    return this.#handoff.recent(limit);
  }

  onHandoff(listener: (e: HandoffEvent) => void): () => void {
    this.#handoff.on('handoff', listener);
    return () => this.#handoff.off('handoff', listener);
  }
}

function toInfo(t: TransactionRecord): TransactionInfo {
  return {
    id: t.id,
    connId: t.connId,
    backend: t.backend,
    state: t.state,
    outcome: t.outcome,
    method: t.method,
    target: t.target,
    startedAtMs: t.startedAtMs,
    durationMs: t.durationMs,
    bytesSent: t.bytesSent,
    cached: t.cached,
    policy: t.policy,
    decidedBy: t.decidedBy,
  };
}
