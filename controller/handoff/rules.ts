/**
 * A transaction's two rewrite rules (ARCHITECTURE section 5): handoff_in sends the client's
 * segments to the backend, handoff_out makes the backend's look like the VIP's. They are written
 * in one batch, and the set of tables still installed is kept current, so that every failure
 * path deletes exactly what is left (invariant 4).
 */
import { TimeoutError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import type { EntryUpdate } from '../p4rt/client.js';
import { writeErrorOf, type WriteResult } from '../p4rt/write-status.js';
import type { TableEntrySpec } from '../p4rt/entry-codec.js';
import type { TcpRepairState } from '../tcp/repair-state.js';
import type { ClientLink } from '../controller.js';
import { withTimeout, type HandoffClock } from './clock.js';

const log = logger('handoff');

export type RuleTable = 'handoff_in' | 'handoff_out';
export const RULE_TABLES: readonly RuleTable[] = ['handoff_in', 'handoff_out'];

/** Where rules go: the P4Runtime client (writeOrThrow), a RuleBatcher over it, or a fake in unit tests. */
export interface RuleWriter {
  writeOrThrow(updates: readonly EntryUpdate[]): Promise<void>;
  /** Deletes that may wait for the next write (RuleBatcher); without it, they are written at once. */
  deferDelete?: ((updates: readonly EntryUpdate[]) => void) | undefined;
}

/**
 * How long a deferred delete waits for a write to join (ms). A connection's next transaction
 * writes its rules about a millisecond after the hand-back on this project's 2-core machine, so
 * most deletes travel with an insert; an entry of a closed backend socket lingering that long is
 * harmless (nothing matches it: the socket sends nothing).
 */
export const DEFER_MS = 3;

/** What RuleBatcher writes through: the P4Runtime client's per-update results. */
export interface BatchWriter {
  write(updates: readonly EntryUpdate[]): Promise<WriteResult[]>;
}

/**
 * Batches deletes that nothing waits for with the next write, across connections: a hand-back's
 * last rule (handoff_out, once the controller owns the connection again) goes out with the next
 * transaction's insert, in one Write, or on its own DEFER_MS later when no write comes first. A batch never holds two updates of one entry (P4Runtime lets
 * the switch apply a batch in any order): an update of an entry whose delete is pending waits
 * until the delete is written. A deferred delete that fails is logged; reconcile removes what it
 * leaves (invariant 4), as for any failed delete.
 */
export class RuleBatcher implements RuleWriter {
  readonly #writer: BatchWriter;
  #pending: EntryUpdate[] = [];
  #keys = new Set<string>();
  #scheduled: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #inFlight = 0;
  /** Deferred deletes, and how many of them went out with another write. */
  readonly stats = { deferred: 0, batched: 0, failed: 0 };

  constructor(writer: BatchWriter) {
    this.#writer = writer;
  }

  deferDelete(updates: readonly EntryUpdate[]): void {
    for (const u of updates) {
      this.#pending.push(u);
      this.#keys.add(entryKey(u));
    }
    this.stats.deferred += updates.length;
    this.#scheduled ??= setTimeout(() => {
      this.#scheduled = undefined;
      void this.flush();
    }, DEFER_MS);
  }

  async writeOrThrow(updates: readonly EntryUpdate[]): Promise<void> {
    if (this.#flushing) await this.#flushing;
    if (updates.some((u) => this.#keys.has(entryKey(u)))) await this.flush();
    const deferred = this.#take();
    this.stats.batched += deferred.length;
    let results: WriteResult[];
    try {
      results = await this.#writer.write([...deferred, ...updates]);
    } catch (err) {
      if (deferred.length > 0) this.#failed(deferred.length, (err as Error).message);
      throw err;
    }
    this.#report(results.slice(0, deferred.length));
    const mine = results.slice(deferred.length);
    // (Only failures are copied: a result's entry is a lazy description, costly to build.)
    const error = mine.every((r) => r.ok) ? null : writeErrorOf(mine.map((r) => (r.ok ? r : { ...r, index: r.index - deferred.length })));
    if (error) throw error;
  }

  /** Writes the deferred deletes now (also what close() of the hand-off does). */
  flush(): Promise<void> {
    if (this.#scheduled) {
      clearTimeout(this.#scheduled);
      this.#scheduled = undefined;
    }
    const deferred = this.#take();
    if (deferred.length === 0) return this.#flushing ?? Promise.resolve();
    this.#inFlight += deferred.length;
    const p = this.#writer.write(deferred).then(
      (results) => this.#report(results),
      (err: unknown) => this.#failed(deferred.length, (err as Error).message),
    );
    const done = p.finally(() => {
      this.#inFlight -= deferred.length;
      if (this.#flushing === done) this.#flushing = undefined;
    });
    this.#flushing = done;
    return done;
  }

  /** Deletes waiting to be written or being written on their own. */
  get pending(): number {
    return this.#pending.length + this.#inFlight;
  }

  #take(): EntryUpdate[] {
    const d = this.#pending;
    this.#pending = [];
    this.#keys = new Set();
    return d;
  }

  #report(results: readonly WriteResult[]): void {
    const failed = results.filter((r) => !r.ok);
    if (failed.length > 0) this.#failed(failed.length, failed.map((r) => (r.ok ? '' : `${r.entry}: ${r.code} ${r.message}`)).join('; '));
  }

  #failed(n: number, why: string): void {
    this.stats.failed += n;
    log.error({ deletes: n, err: why }, 'deferred hand-off rule deletes failed; reconcile will remove what is left');
  }
}

/** One entry's identity within a batch: its table and match (what P4Runtime keys an entry by). */
function entryKey(u: EntryUpdate): string {
  const m = u.entry.match ?? {};
  return `${String(u.entry.table)}|${Object.keys(m)
    .sort()
    .map((k) => `${k}=${String(m[k] as string | number)}`)
    .join(',')}`;
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

  /** The writer batches deferred deletes (RuleBatcher): deleteLater() then costs no write of its own. */
  get defersDeletes(): boolean {
    return this.#writer.deferDelete !== undefined;
  }

  /**
   * Deletes whatever is installed without waiting: with the next write of the writer, when it
   * batches (RuleBatcher); else at once. This transaction owns no rule afterwards either way.
   */
  deleteLater(): Promise<void> {
    const tables = this.installed;
    if (tables.length === 0) return Promise.resolve();
    if (!this.#writer.deferDelete) return this.delete(tables);
    this.#writer.deferDelete(tables.map((table) => ({ type: 'DELETE' as const, entry: ruleEntry(table, 'DELETE', this.#target, false) })));
    this.#installed.clear();
    return Promise.resolve();
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
