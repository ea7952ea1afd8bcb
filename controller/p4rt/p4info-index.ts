/**
 * A P4Info indexed by name, alias and id: tables and their match fields, actions and their
 * params, controller packet metadata (packet_in / packet_out) and direct counters.
 *
 * A name resolves when it is the object's full name ("MyIngress.handoff_in"), its alias
 * ("handoff_in"), or a dot-separated suffix of either that fits exactly one object ("ipv4.dst_addr"
 * or "dst_addr" for the match field "hdr.ipv4.dst_addr" when no other field of the table ends so).
 * A number resolves as the P4Info id. Anything else throws P4InfoLookupError, which names what was
 * looked up, where, the nearest names, and the known ones.
 *
 * Invariant: the index is immutable; a new pipeline gets a new index.
 */
import { P4InfoLookupError } from '../../core/errors.js';
import { decodeMessage } from '../../core/proto.js';
import type { P4Info__Output } from '../../proto/types/p4/config/v1/P4Info.js';

export type MatchKind = 'EXACT' | 'LPM' | 'TERNARY' | 'RANGE' | 'OPTIONAL' | 'OTHER';
export type ActionScope = 'TABLE_AND_DEFAULT' | 'TABLE_ONLY' | 'DEFAULT_ONLY';

export interface MatchFieldInfo {
  readonly id: number;
  readonly name: string;
  readonly bitwidth: number;
  readonly matchType: MatchKind;
  /** For matchType OTHER: the architecture-specific match kind name. */
  readonly otherMatchType: string;
}

export interface ActionRefInfo {
  readonly id: number;
  readonly scope: ActionScope;
}

export interface TableInfo {
  readonly id: number;
  readonly name: string;
  readonly alias: string;
  /** Match fields in P4Info order (which is the order of the P4 key). */
  readonly matchFields: readonly MatchFieldInfo[];
  readonly actionRefs: readonly ActionRefInfo[];
  /** Non-zero when the default action cannot be changed. */
  readonly constDefaultActionId: number;
  readonly initialDefaultActionId: number;
  readonly directResourceIds: readonly number[];
  readonly size: number;
  readonly isConst: boolean;
  /** True when a match field is TERNARY, RANGE or OPTIONAL: entries then need a priority > 0 (spec 9.1). */
  readonly needsPriority: boolean;
}

export interface ActionParamInfo {
  readonly id: number;
  readonly name: string;
  readonly bitwidth: number;
}

export interface ActionInfo {
  readonly id: number;
  readonly name: string;
  readonly alias: string;
  readonly params: readonly ActionParamInfo[];
}

export interface PacketMetadataFieldInfo {
  readonly id: number;
  readonly name: string;
  readonly bitwidth: number;
}

export interface ControllerPacketMetadataInfo {
  readonly id: number;
  /** "packet_in" or "packet_out" (the @controller_header name). */
  readonly name: string;
  readonly alias: string;
  readonly fields: readonly PacketMetadataFieldInfo[];
}

export interface DirectCounterInfo {
  readonly id: number;
  readonly name: string;
  readonly alias: string;
  readonly unit: string;
  readonly tableId: number;
}

interface Named {
  readonly id: number;
  readonly name: string;
  readonly alias?: string;
}

/** The name to show for an object: its alias when it has one (P4Info aliases are the shortest unique names). */
export function displayName(o: Named): string {
  return o.alias || o.name;
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

function lastSegment(name: string): string {
  const i = name.lastIndexOf('.');
  return i < 0 ? name : name.slice(i + 1);
}

/** Up to three names of `items` near `wanted` (edit distance or substring), nearest first. */
export function nearNames(wanted: string, items: readonly Named[]): string[] {
  const w = wanted.toLowerCase();
  const scored: { name: string; score: number }[] = [];
  for (const item of items) {
    const forms = [item.name, item.alias ?? '', lastSegment(item.name)].filter(Boolean).map((f) => f.toLowerCase());
    let best = Infinity;
    for (const f of forms) {
      const d = levenshtein(w, f);
      const limit = Math.max(2, Math.floor(Math.max(w.length, f.length) / 3));
      if (d <= limit) best = Math.min(best, d);
      if (w.length >= 3 && (f.includes(w) || w.includes(f))) best = Math.min(best, 0.5 + Math.abs(f.length - w.length) / 100);
    }
    if (best !== Infinity) scored.push({ name: displayName(item), score: best });
  }
  scored.sort((a, b) => a.score - b.score || a.name.localeCompare(b.name));
  return [...new Set(scored.map((s) => s.name))].slice(0, 3);
}

/** Resolves `ref` among `items` by id, full name, alias, or unique dot-suffix (see the module comment). */
function resolve<T extends Named>(kind: string, items: readonly T[], ref: string | number, scope = ''): T {
  if (typeof ref === 'number') {
    const found = items.find((i) => i.id === ref);
    if (found) return found;
    throw new P4InfoLookupError(kind, `id ${ref}`, { scope, known: items.map((i) => `${displayName(i)} (${i.id})`) });
  }
  const exact = items.find((i) => i.name === ref) ?? items.find((i) => i.alias === ref);
  if (exact) return exact;
  const suffix = `.${ref}`;
  const bySuffix = items.filter((i) => i.name.endsWith(suffix) || (i.alias ?? '').endsWith(suffix));
  if (bySuffix.length === 1) return bySuffix[0]!;
  if (bySuffix.length > 1) throw new P4InfoLookupError(kind, ref, { scope, ambiguous: bySuffix.map((i) => i.name) });
  throw new P4InfoLookupError(kind, ref, { scope, suggestions: nearNames(ref, items), known: items.map(displayName) });
}

function toMatchKind(m: P4Info__Output['tables'][number]['match_fields'][number]): MatchKind {
  if (m.match === 'other_match_type') return 'OTHER';
  switch (m.match_type) {
    case 'EXACT':
    case 'LPM':
    case 'TERNARY':
    case 'RANGE':
    case 'OPTIONAL':
      return m.match_type;
    default:
      return 'OTHER';
  }
}

export class P4InfoIndex {
  /** The P4Info message this index was built from (decoded form, as core/proto.ts produces). */
  readonly p4info: P4Info__Output;
  private readonly tableList: readonly TableInfo[];
  private readonly actionList: readonly ActionInfo[];
  private readonly packetMetadataList: readonly ControllerPacketMetadataInfo[];
  private readonly directCounterList: readonly DirectCounterInfo[];
  private readonly tablesById: ReadonlyMap<number, TableInfo>;
  private readonly actionsById: ReadonlyMap<number, ActionInfo>;

  /** From a decoded P4Info or its binary encoding (the .p4info.bin files). */
  static from(p4info: P4Info__Output | Uint8Array): P4InfoIndex {
    return new P4InfoIndex(p4info instanceof Uint8Array ? decodeMessage<P4Info__Output>('p4.config.v1.P4Info', p4info) : p4info);
  }

  constructor(p4info: P4Info__Output) {
    this.p4info = p4info;
    this.tableList = (p4info.tables ?? []).map((t) => {
      const matchFields = (t.match_fields ?? []).map((m) => ({
        id: m.id,
        name: m.name,
        bitwidth: m.bitwidth,
        matchType: toMatchKind(m),
        otherMatchType: m.other_match_type ?? '',
      }));
      return {
        id: t.preamble?.id ?? 0,
        name: t.preamble?.name ?? '',
        alias: t.preamble?.alias ?? '',
        matchFields,
        actionRefs: (t.action_refs ?? []).map((r) => ({ id: r.id, scope: r.scope ?? 'TABLE_AND_DEFAULT' })),
        constDefaultActionId: t.const_default_action_id ?? 0,
        initialDefaultActionId: t.initial_default_action?.action_id ?? 0,
        directResourceIds: t.direct_resource_ids ?? [],
        size: Number(t.size ?? 0),
        isConst: t.is_const_table ?? false,
        needsPriority: matchFields.some((m) => m.matchType === 'TERNARY' || m.matchType === 'RANGE' || m.matchType === 'OPTIONAL'),
      };
    });
    this.actionList = (p4info.actions ?? []).map((a) => ({
      id: a.preamble?.id ?? 0,
      name: a.preamble?.name ?? '',
      alias: a.preamble?.alias ?? '',
      params: (a.params ?? []).map((p) => ({ id: p.id, name: p.name, bitwidth: p.bitwidth })),
    }));
    this.packetMetadataList = (p4info.controller_packet_metadata ?? []).map((c) => ({
      id: c.preamble?.id ?? 0,
      name: c.preamble?.name ?? '',
      alias: c.preamble?.alias ?? '',
      fields: (c.metadata ?? []).map((m) => ({ id: m.id, name: m.name, bitwidth: m.bitwidth })),
    }));
    this.directCounterList = (p4info.direct_counters ?? []).map((c) => ({
      id: c.preamble?.id ?? 0,
      name: c.preamble?.name ?? '',
      alias: c.preamble?.alias ?? '',
      unit: c.spec?.unit ?? 'UNSPECIFIED',
      tableId: c.direct_table_id,
    }));
    this.tablesById = new Map(this.tableList.map((t) => [t.id, t]));
    this.actionsById = new Map(this.actionList.map((a) => [a.id, a]));
  }

  tables(): readonly TableInfo[] {
    return this.tableList;
  }

  actions(): readonly ActionInfo[] {
    return this.actionList;
  }

  /**
   * Lookups by name that succeeded (the index never changes): the hand-off names the same tables,
   * fields, actions and parameters for every entry it writes.
   */
  private readonly found = new Map<string, unknown>();

  private memo<T>(key: string, look: () => T): T {
    const hit = this.found.get(key);
    if (hit !== undefined) return hit as T;
    const v = look();
    if (this.found.size < 10_000) this.found.set(key, v);
    return v;
  }

  /** A table by full name, alias, unique suffix or id. */
  table(ref: string | number | TableInfo): TableInfo {
    if (typeof ref === 'object') return ref;
    if (typeof ref === 'number') {
      const t = this.tablesById.get(ref);
      if (t) return t;
    }
    return typeof ref === 'string' ? this.memo(`t|${ref}`, () => resolve('table', this.tableList, ref)) : resolve('table', this.tableList, ref);
  }

  /** A table by id, or undefined (for decoding entries the switch sends). */
  tableById(id: number): TableInfo | undefined {
    return this.tablesById.get(id);
  }

  /** An action by full name, alias, unique suffix or id. */
  action(ref: string | number | ActionInfo): ActionInfo {
    if (typeof ref === 'object') return ref;
    if (typeof ref === 'number') {
      const a = this.actionsById.get(ref);
      if (a) return a;
    }
    return resolve('action', this.actionList, ref);
  }

  actionById(id: number): ActionInfo | undefined {
    return this.actionsById.get(id);
  }

  /** A match field of `table` by full name ("hdr.ipv4.dst_addr"), unique suffix ("dst_addr") or id. */
  matchField(table: string | number | TableInfo, ref: string | number): MatchFieldInfo {
    const t = this.table(table);
    return this.memo(`f|${t.id}|${typeof ref}|${ref}`, () => resolve('match field', t.matchFields, ref, `table ${displayName(t)}`));
  }

  /** A parameter of `action` by name or id. */
  param(action: string | number | ActionInfo, ref: string | number): ActionParamInfo {
    const a = this.action(action);
    return this.memo(`p|${a.id}|${typeof ref}|${ref}`, () => resolve('parameter', a.params, ref, `action ${displayName(a)}`));
  }

  /**
   * An action that `table` may use, by name or id; throws P4InfoLookupError when the action
   * exists but is not one of the table's actions (listing those).
   */
  tableAction(table: string | number | TableInfo, ref: string | number | ActionInfo): { action: ActionInfo; scope: ActionScope } {
    const t = this.table(table);
    if (typeof ref !== 'object') return this.memo(`a|${t.id}|${typeof ref}|${ref}`, () => this.lookTableAction(t, ref));
    return this.lookTableAction(t, ref);
  }

  private lookTableAction(t: TableInfo, ref: string | number | ActionInfo): { action: ActionInfo; scope: ActionScope } {
    const allowed = t.actionRefs.map((r) => this.actionsById.get(r.id)).filter((a): a is ActionInfo => a !== undefined);
    let a: ActionInfo;
    if (typeof ref === 'object') {
      a = ref;
    } else {
      try {
        a = resolve('action', allowed, ref, `table ${displayName(t)}`);
      } catch (scoped) {
        // Not among the table's actions: an action of another table gets the "not allowed" message below.
        try {
          a = this.action(ref);
        } catch {
          throw scoped;
        }
      }
    }
    const actionRef = t.actionRefs.find((r) => r.id === a.id);
    if (!actionRef) {
      throw new P4InfoLookupError('action', displayName(a), { scope: `table ${displayName(t)}`, known: allowed.map(displayName) });
    }
    return { action: a, scope: actionRef.scope };
  }

  /** Controller packet metadata by name ("packet_in", "packet_out") or id. */
  packetMetadata(ref: string | number): ControllerPacketMetadataInfo {
    return resolve('controller packet metadata', this.packetMetadataList, ref);
  }

  /** A field of controller packet metadata ("packet_out", "egress_port") by name, unique suffix or id. */
  packetMetadataField(header: string | number | ControllerPacketMetadataInfo, ref: string | number): PacketMetadataFieldInfo {
    const h = typeof header === 'object' ? header : this.packetMetadata(header);
    return resolve('metadata field', h.fields, ref, `controller packet metadata ${h.name}`);
  }

  /** True when the P4Info has controller packet metadata of that name (a pipeline may have no CPU port). */
  hasPacketMetadata(name: string): boolean {
    return this.packetMetadataList.some((c) => c.name === name || c.alias === name);
  }

  directCounters(): readonly DirectCounterInfo[] {
    return this.directCounterList;
  }

  /** A direct counter by name, alias, unique suffix or id. */
  directCounter(ref: string | number): DirectCounterInfo {
    return resolve('direct counter', this.directCounterList, ref);
  }

  /** The direct counter attached to `table`, if any. */
  directCounterOf(table: string | number | TableInfo): DirectCounterInfo | undefined {
    const t = this.table(table);
    return this.directCounterList.find((c) => c.tableId === t.id);
  }
}
