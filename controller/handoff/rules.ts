/**
 * A transaction's two rewrite rules (ARCHITECTURE section 5): handoff_in sends the client's
 * segments to the backend, handoff_out makes the backend's look like the VIP's. They are written
 * in one batch, and the set of tables still installed is kept current, so that every failure
 * path deletes exactly what is left (invariant 4).
 */
import { TimeoutError } from '../../core/errors.js';
import type { EntryUpdate } from '../p4rt/client.js';
import type { TableEntrySpec } from '../p4rt/entry-codec.js';
import type { TcpRepairState } from '../tcp/repair-state.js';
import type { ClientLink } from '../controller.js';
import { withTimeout, type HandoffClock } from './clock.js';

export type RuleTable = 'handoff_in' | 'handoff_out';
export const RULE_TABLES: readonly RuleTable[] = ['handoff_in', 'handoff_out'];

/** Where rules go: the P4Runtime client (writeOrThrow), or a fake in unit tests. */
export interface RuleWriter {
  writeOrThrow(updates: readonly EntryUpdate[]): Promise<void>;
}

/** What the rules of one connection on one backend are made of. */
export interface RuleTarget {
  /** The connection as the client sees it (VIP ↔ client). */
  readonly state: TcpRepairState;
  readonly backend: { readonly ip: string; readonly mac: string; readonly port: number };
  readonly link: ClientLink;
  readonly vipMac: string;
}

/** The table entry of `table` for `t`; without an action for a DELETE. */
export function ruleEntry(table: RuleTable, type: EntryUpdate['type'], t: RuleTarget, zeroWindow: boolean): TableEntrySpec {
  const s = t.state;
  const b = t.backend;
  if (table === 'handoff_in') {
    return {
      table,
      match: { 'hdr.ipv4.src_addr': s.remoteIp, 'hdr.ipv4.dst_addr': s.localIp, 'hdr.tcp.src_port': s.remotePort, 'hdr.tcp.dst_port': s.localPort },
      ...(type === 'DELETE' ? {} : { action: 'to_backend', params: { backend_ip: b.ip, backend_mac: b.mac, port: b.port, clear_fin: 1 } }),
    };
  }
  return {
    table,
    match: { 'hdr.ipv4.src_addr': b.ip, 'hdr.ipv4.dst_addr': s.remoteIp, 'hdr.tcp.src_port': s.localPort, 'hdr.tcp.dst_port': s.remotePort },
    ...(type === 'DELETE'
      ? {}
      : { action: 'from_backend', params: { vip: s.localIp, vip_mac: t.vipMac, client_mac: t.link.mac, port: t.link.port, zero_window: zeroWindow ? 1 : 0, drop_rst: 1 } }),
  };
}

/** The rules of one transaction and which of them are in the switch now. */
export class TransactionRules {
  readonly #writer: RuleWriter;
  readonly #target: RuleTarget;
  readonly #timeoutMs: number;
  readonly #clock: HandoffClock;
  readonly #installed = new Set<RuleTable>();

  constructor(writer: RuleWriter, target: RuleTarget, timeoutMs: number, clock: HandoffClock, installed: readonly RuleTable[] = []) {
    this.#writer = writer;
    this.#target = target;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
    for (const t of installed) this.#installed.add(t);
  }

  get installed(): readonly RuleTable[] {
    return [...this.#installed];
  }

  /** Both rules in one batch. */
  insert(zeroWindow: boolean): Promise<void> {
    return this.#write('INSERT', RULE_TABLES, zeroWindow);
  }

  /** Deletes `tables` (default: whatever is installed) in one batch. */
  delete(tables: readonly RuleTable[] = this.installed): Promise<void> {
    return tables.length === 0 ? Promise.resolve() : this.#write('DELETE', tables, false);
  }

  /** Hands the installed rules to another transaction (a cached one serves on them): this one owns none. */
  transfer(): readonly RuleTable[] {
    const t = this.installed;
    this.#installed.clear();
    return t;
  }

  /** Owns `tables` from now on (what its predecessor's transfer() gave up). */
  takeOver(tables: readonly RuleTable[]): void {
    for (const t of tables) this.#installed.add(t);
  }

  async #write(type: 'INSERT' | 'DELETE', tables: readonly RuleTable[], zeroWindow: boolean): Promise<void> {
    const write = this.#writer.writeOrThrow(tables.map((table) => ({ type, entry: ruleEntry(table, type, this.#target, zeroWindow) })));
    await withTimeout(this.#clock, write, this.#timeoutMs, () => new TimeoutError(`hand-off rules ${type}`, this.#timeoutMs));
    for (const table of tables) {
      if (type === 'INSERT') this.#installed.add(table);
      else this.#installed.delete(table);
    }
  }
}
