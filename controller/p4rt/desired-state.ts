/**
 * The table state this controller wants on the switch, and the plan that makes the switch match
 * it (ARCHITECTURE invariant 4: the controller reads the tables back, adds what is missing and
 * deletes what it does not own).
 *
 * The client records every write it makes, keyed by entry identity (table, match, priority:
 * tableEntryKey). How each outcome changes the record — chosen so that a lost or failed write can
 * never leave an entry the controller does not know about:
 *
 * | update | applied          | refused by the switch          | outcome unknown (RPC failed) |
 * |--------|------------------|--------------------------------|------------------------------|
 * | INSERT | recorded         | not recorded                   | not recorded (reconcile deletes it if it landed) |
 * | MODIFY | record replaced  | record kept                    | record kept (reconcile restores it) |
 * | DELETE | record removed   | record removed                 | record removed (reconcile deletes it if it stayed) |
 *
 * Default entries (isDefault) are recorded per table and re-applied with MODIFY.
 */
import type { TableEntry } from '../../proto/types/p4/v1/TableEntry.js';
import { tableActionKey, tableEntryKey, type TableEntryLike } from './entry-codec.js';
import type { UpdateType } from './write-status.js';

export interface DesiredEntry {
  readonly key: string;
  readonly entry: TableEntry;
}

export type WriteOutcome = 'applied' | 'refused' | 'unknown';

export class DesiredState {
  private readonly entries = new Map<string, TableEntry>();
  private readonly defaults = new Map<number, TableEntry>();

  get size(): number {
    return this.entries.size + this.defaults.size;
  }

  /** Records the outcome of one update (see the table in the module comment). */
  record(type: UpdateType, entry: TableEntry, outcome: WriteOutcome): void {
    const key = tableEntryKey(entry);
    if (entry.is_default_action) {
      // The default entry can only be modified; a recorded default is re-applied by reconcile.
      if (type !== 'DELETE' && outcome === 'applied') this.defaults.set(entry.table_id ?? 0, entry);
      if (type === 'DELETE') this.defaults.delete(entry.table_id ?? 0);
      return;
    }
    switch (type) {
      case 'INSERT':
      case 'MODIFY':
        if (outcome === 'applied') this.entries.set(key, entry);
        break;
      case 'DELETE':
        this.entries.delete(key);
        break;
    }
  }

  has(entry: TableEntryLike): boolean {
    return this.entries.has(tableEntryKey(entry));
  }

  get(key: string): TableEntry | undefined {
    return this.entries.get(key);
  }

  /** The recorded (non-default) entries. */
  list(): TableEntry[] {
    return [...this.entries.values()];
  }

  /** The recorded default entries, by table id. */
  listDefaults(): TableEntry[] {
    return [...this.defaults.values()];
  }

  clear(): void {
    this.entries.clear();
    this.defaults.clear();
  }
}

export interface ReconcilePlan {
  /** Entries on the switch that the controller does not own (delete messages: key only). */
  readonly deletes: TableEntry[];
  /** Owned entries whose action differs on the switch. */
  readonly modifies: TableEntry[];
  /** Owned entries missing from the switch. */
  readonly inserts: TableEntry[];
}

/** Only the identity of an entry (what a DELETE needs). */
function keyOnly(te: TableEntryLike): TableEntry {
  const out: TableEntry = {
    table_id: te.table_id ?? 0,
    match: (te.match ?? []).map((m) => {
      const fm: NonNullable<TableEntry['match']>[number] = { field_id: m.field_id ?? 0 };
      if (m.exact) fm.exact = { value: m.exact.value ?? Buffer.alloc(0) };
      else if (m.lpm) fm.lpm = { value: m.lpm.value ?? Buffer.alloc(0), prefix_len: m.lpm.prefix_len ?? 0 };
      else if (m.ternary) fm.ternary = { value: m.ternary.value ?? Buffer.alloc(0), mask: m.ternary.mask ?? Buffer.alloc(0) };
      else if (m.range) fm.range = { low: m.range.low ?? Buffer.alloc(0), high: m.range.high ?? Buffer.alloc(0) };
      else if (m.optional) fm.optional = { value: m.optional.value ?? Buffer.alloc(0) };
      return fm;
    }),
  };
  if (te.priority) out.priority = te.priority;
  return out;
}

/**
 * Compares the owned entries of some tables with what the switch holds in those tables.
 * `actual` are the switch's entries of exactly those tables (default entries and const entries
 * are skipped: they are not the controller's to delete).
 */
export function planReconcile(desired: readonly TableEntry[], actual: readonly TableEntryLike[]): ReconcilePlan {
  const want = new Map(desired.map((e) => [tableEntryKey(e), e]));
  const have = new Map<string, TableEntryLike>();
  for (const e of actual) {
    if (e.is_default_action || e.is_const) continue;
    have.set(tableEntryKey(e), e);
  }
  const deletes: TableEntry[] = [];
  const modifies: TableEntry[] = [];
  const inserts: TableEntry[] = [];
  for (const [key, e] of have) {
    const w = want.get(key);
    if (!w) deletes.push(keyOnly(e));
    else if (tableActionKey(w) !== tableActionKey(e)) modifies.push(w);
  }
  for (const [key, e] of want) if (!have.has(key)) inserts.push(e);
  return { deletes, modifies, inserts };
}
