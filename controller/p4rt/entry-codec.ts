/**
 * Table entries by name ↔ p4.v1.TableEntry (P4Runtime spec 9.1).
 *
 * An entry is written with names: `{ table: 'handoff_in', match: { 'hdr.ipv4.src_addr': '10.0.0.1',
 * ... }, action: 'to_backend', params: { backend_ip: '10.0.1.2', backend_mac: '02:00:00:00:01:02',
 * port: 2, clear_fin: 0 } }`. Values are numbers, bigints, IPv4 or MAC strings, decimal or 0x-hex
 * strings, or bytes; each is checked against the width from the P4Info and sent as the canonical
 * bytestring (spec 8.4: no leading zero bytes). Match values by kind:
 *
 * - EXACT: a value (required).
 * - LPM: `{ value, prefixLen }`, "a.b.c.d/len", or a value (full-length prefix). Bits past the prefix
 *   must be zero; prefixLen 0 is "don't care" and the field is left out (spec 9.1.1).
 * - TERNARY: `{ value, mask }` or a value (all-ones mask). `value & ~mask` must be zero; a zero mask is
 *   "don't care" and the field is left out.
 * - RANGE: `{ low, high }` or a value (low = high). The full range is "don't care" and left out.
 * - OPTIONAL: a value, or null / absent for "don't care".
 *
 * Decoding gives the same shapes back with canonical Buffers, so a decoded entry encodes to the same
 * message. Entries of tables with TERNARY, RANGE or OPTIONAL fields need a priority >= 1; other
 * tables take none. `isDefault: true` addresses the table's default entry (no match, MODIFY only).
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { bytesToIpv4, bytesToMac } from '../../core/header/addr.js';
import { canonicalBytes, toFieldBytes, type P4Value } from '../../core/p4-values.js';
import type { FieldMatch } from '../../proto/types/p4/v1/FieldMatch.js';
import type { TableEntry } from '../../proto/types/p4/v1/TableEntry.js';
import { displayName, type MatchFieldInfo, type P4InfoIndex, type TableInfo } from './p4info-index.js';

export interface LpmMatch {
  readonly value: P4Value;
  readonly prefixLen: number;
}
export interface TernaryMatch {
  readonly value: P4Value;
  readonly mask: P4Value;
}
export interface RangeMatch {
  readonly low: P4Value;
  readonly high: P4Value;
}
export interface OptionalMatch {
  readonly value: P4Value;
}
export type MatchSpec = P4Value | LpmMatch | TernaryMatch | RangeMatch | OptionalMatch;

/** A table entry by name. `match` keys are match field names (full or unique suffix). */
export interface TableEntrySpec {
  readonly table: string | number;
  readonly match?: Readonly<Record<string, MatchSpec | null | undefined>>;
  readonly action?: string | number;
  readonly params?: Readonly<Record<string, P4Value>>;
  readonly priority?: number;
  readonly isDefault?: boolean;
}

export type DecodedMatch = Buffer | { value: Buffer; prefixLen: number } | { value: Buffer; mask: Buffer } | { low: Buffer; high: Buffer };

/** A table entry as read back: names from the P4Info, canonical Buffers for values. */
export interface DecodedTableEntry {
  /** The table's alias (or full name when it has none). */
  readonly table: string;
  readonly tableId: number;
  /** Only the fields present in the message: "don't care" fields are absent. Keys are full field names. */
  readonly match: Readonly<Record<string, DecodedMatch>>;
  readonly action?: string;
  readonly actionId?: number;
  readonly params: Readonly<Record<string, Buffer>>;
  readonly priority: number;
  readonly isDefault: boolean;
  /** Present when the read asked for counters and the table has a direct counter. */
  readonly counters?: { readonly bytes: bigint; readonly packets: bigint };
  /** True for entries of const tables / const entries (the switch refuses to change them). */
  readonly isConst?: boolean;
}

/** The subset of p4.v1.TableEntry this module reads: both the request and the decoded shapes fit it. */
export interface TableEntryLike {
  readonly table_id?: number;
  readonly match?: readonly FieldMatchLike[];
  readonly action?: {
    readonly action?: { readonly action_id?: number; readonly params?: readonly { readonly param_id?: number; readonly value?: Bytes }[] } | null;
  } | null;
  readonly priority?: number;
  readonly is_default_action?: boolean;
  readonly is_const?: boolean;
  readonly counter_data?: { readonly byte_count?: unknown; readonly packet_count?: unknown } | null;
}

type Bytes = Buffer | Uint8Array | string;

export interface FieldMatchLike {
  readonly field_id?: number;
  readonly exact?: { readonly value?: Bytes } | null;
  readonly ternary?: { readonly value?: Bytes; readonly mask?: Bytes } | null;
  readonly lpm?: { readonly value?: Bytes; readonly prefix_len?: number } | null;
  readonly range?: { readonly low?: Bytes; readonly high?: Bytes } | null;
  readonly optional?: { readonly value?: Bytes } | null;
  readonly other?: unknown;
}

export interface EncodeOptions {
  /** INSERT and MODIFY need an action; DELETE does not (the switch ignores it). Default true. */
  readonly requireAction?: boolean;
}

const MAX_PRIORITY = 2 ** 31 - 1;

function isP4Value(v: unknown): v is P4Value {
  return typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' || v instanceof Uint8Array;
}

function toBuffer(b: Bytes | undefined): Buffer {
  if (b === undefined) return Buffer.alloc(0);
  if (typeof b === 'string') return Buffer.from(b, 'base64');
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function toBig(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`);
}

function canonical(v: P4Value, bits: number, what: string): Buffer {
  // toFieldBytes gives a fresh buffer: its canonical form can be a view of it (no copy).
  const b = toFieldBytes(v, bits, what);
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return i === 0 ? b : b.subarray(i);
}

function ones(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

function bigToCanonical(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}

/** The short name of a match field: the last segment when no other field of the table shares it. */
function fieldLabel(table: TableInfo, f: MatchFieldInfo): string {
  const seg = f.name.slice(f.name.lastIndexOf('.') + 1);
  return table.matchFields.filter((o) => o.name.slice(o.name.lastIndexOf('.') + 1) === seg).length === 1 ? seg : f.name;
}

/** A value for people: IPv4 for 32-bit fields, MAC for 48-bit ones, decimal up to 64 bits, else hex. */
export function formatValue(b: Uint8Array, bits: number): string {
  const v = toBig(b);
  if (bits === 32 && v <= 0xffffffffn) return bytesToIpv4(toFieldBytes(v, 32));
  if (bits === 48 && v <= ones(48)) return bytesToMac(toFieldBytes(v, 48));
  if (bits <= 64) return v.toString();
  return `0x${v.toString(16)}`;
}

function encodeFieldMatch(f: MatchFieldInfo, spec: MatchSpec, what: string): FieldMatch | null {
  const bits = f.bitwidth;
  switch (f.matchType) {
    case 'EXACT': {
      if (!isP4Value(spec)) throw new InvalidArgumentError(`${what}: an EXACT field takes a value, got ${JSON.stringify(spec)}`);
      return { field_id: f.id, exact: { value: canonical(spec, bits, what) } };
    }
    case 'LPM': {
      let value: P4Value;
      let prefixLen: number;
      if (typeof spec === 'string' && spec.includes('/')) {
        const [v, len] = spec.split('/');
        if (v === undefined || len === undefined || !/^\d+$/.test(len)) throw new InvalidArgumentError(`${what}: ${JSON.stringify(spec)} is not value/prefix-length`);
        value = v;
        prefixLen = Number(len);
      } else if (isP4Value(spec)) {
        value = spec;
        prefixLen = bits;
      } else if ('prefixLen' in spec) {
        value = spec.value;
        prefixLen = spec.prefixLen;
      } else {
        throw new InvalidArgumentError(`${what}: an LPM field takes { value, prefixLen }, "value/len" or a value`);
      }
      if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > bits) {
        throw new InvalidArgumentError(`${what}: prefix length ${prefixLen} is outside 0..${bits}`);
      }
      const v = toBig(toFieldBytes(value, bits, what));
      const hostBits = v & ones(bits - prefixLen);
      if (hostBits !== 0n) {
        const masked = bigToCanonical(v & ~ones(bits - prefixLen) & ones(bits));
        throw new InvalidArgumentError(
          `${what}: bits past the /${prefixLen} prefix must be zero (spec 9.1.1); use ${formatValue(masked, bits)}/${prefixLen}`,
        );
      }
      if (prefixLen === 0) return null;
      return { field_id: f.id, lpm: { value: bigToCanonical(v), prefix_len: prefixLen } };
    }
    case 'TERNARY': {
      let value: P4Value;
      let mask: P4Value;
      if (isP4Value(spec)) {
        value = spec;
        mask = ones(bits);
      } else if ('mask' in spec) {
        value = spec.value;
        mask = spec.mask;
      } else {
        throw new InvalidArgumentError(`${what}: a TERNARY field takes { value, mask } or a value`);
      }
      const v = toBig(toFieldBytes(value, bits, `${what} value`));
      const m = toBig(toFieldBytes(mask, bits, `${what} mask`));
      if ((v & ~m) !== 0n) {
        throw new InvalidArgumentError(`${what}: value bits outside the mask must be zero (spec 9.1.1); value & mask = 0x${(v & m).toString(16)}`);
      }
      if (m === 0n) return null;
      return { field_id: f.id, ternary: { value: bigToCanonical(v), mask: bigToCanonical(m) } };
    }
    case 'RANGE': {
      let low: P4Value;
      let high: P4Value;
      if (isP4Value(spec)) {
        low = spec;
        high = spec;
      } else if ('low' in spec) {
        low = spec.low;
        high = spec.high;
      } else {
        throw new InvalidArgumentError(`${what}: a RANGE field takes { low, high } or a value`);
      }
      const lo = toBig(toFieldBytes(low, bits, `${what} low`));
      const hi = toBig(toFieldBytes(high, bits, `${what} high`));
      if (lo > hi) throw new InvalidArgumentError(`${what}: low ${lo} is above high ${hi}`);
      if (lo === 0n && hi === ones(bits)) return null;
      return { field_id: f.id, range: { low: bigToCanonical(lo), high: bigToCanonical(hi) } };
    }
    case 'OPTIONAL': {
      const value = isP4Value(spec) ? spec : 'value' in spec && !('mask' in spec) && !('prefixLen' in spec) ? spec.value : undefined;
      if (value === undefined) throw new InvalidArgumentError(`${what}: an OPTIONAL field takes a value (or null for "don't care")`);
      return { field_id: f.id, optional: { value: canonical(value, bits, what) } };
    }
    case 'OTHER':
      throw new InvalidArgumentError(`${what}: match kind ${JSON.stringify(f.otherMatchType)} is not supported`);
  }
}

/**
 * A name-level entry as a p4.v1.TableEntry message. Throws P4InfoLookupError for unknown names and
 * InvalidArgumentError for values that do not fit, missing exact fields, missing params, or a
 * priority the table does not take.
 */
export function encodeTableEntry(index: P4InfoIndex, spec: TableEntrySpec, options: EncodeOptions = {}): TableEntry {
  const table = index.table(spec.table);
  const tname = displayName(table);
  const isDefault = spec.isDefault === true;
  const fields = new Map<number, FieldMatch>();
  const given = Object.entries(spec.match ?? {});
  if (isDefault && given.some(([, v]) => v !== undefined && v !== null)) {
    throw new InvalidArgumentError(`table ${tname}: the default entry has no match key`);
  }
  for (const [name, value] of given) {
    const f = index.matchField(table, name);
    if (fields.has(f.id)) throw new InvalidArgumentError(`table ${tname}: match field ${f.name} given twice`);
    if (value === undefined || value === null) {
      if (f.matchType === 'EXACT') throw new InvalidArgumentError(`table ${tname}: EXACT match field ${f.name} needs a value`);
      continue;
    }
    const fm = encodeFieldMatch(f, value, `${tname}.${f.name}`);
    if (fm) fields.set(f.id, fm);
  }
  if (!isDefault) {
    const missing = table.matchFields.filter((f) => f.matchType === 'EXACT' && !fields.has(f.id));
    if (missing.length > 0) {
      throw new InvalidArgumentError(`table ${tname}: missing EXACT match field${missing.length > 1 ? 's' : ''} ${missing.map((f) => f.name).join(', ')}`);
    }
  }

  const priority = spec.priority ?? 0;
  if (!Number.isInteger(priority) || priority < 0 || priority > MAX_PRIORITY) {
    throw new InvalidArgumentError(`table ${tname}: priority ${priority} is not an integer in 1..${MAX_PRIORITY}`);
  }
  if (isDefault) {
    if (priority !== 0) throw new InvalidArgumentError(`table ${tname}: the default entry takes no priority`);
  } else if (table.needsPriority && priority === 0) {
    throw new InvalidArgumentError(`table ${tname} has TERNARY/RANGE/OPTIONAL fields: its entries need a priority >= 1`);
  } else if (!table.needsPriority && priority !== 0) {
    throw new InvalidArgumentError(`table ${tname} has only EXACT/LPM fields: its entries take no priority (got ${priority})`);
  }

  const entry: TableEntry = {
    table_id: table.id,
    match: table.matchFields.map((f) => fields.get(f.id)).filter((m): m is FieldMatch => m !== undefined),
  };
  if (priority !== 0) entry.priority = priority;
  if (isDefault) entry.is_default_action = true;

  if (spec.action !== undefined) {
    const { action, scope } = index.tableAction(table, spec.action);
    const aname = displayName(action);
    if (isDefault && table.constDefaultActionId !== 0) {
      const constName = index.actionById(table.constDefaultActionId);
      throw new InvalidArgumentError(`table ${tname}: the default action is const (${constName ? displayName(constName) : table.constDefaultActionId}) and cannot be changed`);
    }
    if (isDefault && scope === 'TABLE_ONLY') throw new InvalidArgumentError(`table ${tname}: action ${aname} is @tableonly and cannot be the default action`);
    if (!isDefault && scope === 'DEFAULT_ONLY') throw new InvalidArgumentError(`table ${tname}: action ${aname} is @defaultonly and can only be the default action`);
    const params = spec.params ?? {};
    const seen = new Set<number>();
    const encoded: { param_id: number; value: Buffer }[] = [];
    for (const [name, value] of Object.entries(params)) {
      const p = index.param(action, name);
      if (seen.has(p.id)) throw new InvalidArgumentError(`action ${aname}: parameter ${p.name} given twice`);
      seen.add(p.id);
      encoded.push({ param_id: p.id, value: canonical(value, p.bitwidth, `${aname}(${p.name})`) });
    }
    const missing = action.params.filter((p) => !seen.has(p.id));
    if (missing.length > 0) {
      throw new InvalidArgumentError(`action ${aname}: missing parameter${missing.length > 1 ? 's' : ''} ${missing.map((p) => p.name).join(', ')}`);
    }
    encoded.sort((a, b) => a.param_id - b.param_id);
    entry.action = { action: { action_id: action.id, params: encoded } };
  } else if (options.requireAction ?? true) {
    throw new InvalidArgumentError(`table ${tname}: the entry needs an action (allowed: ${table.actionRefs.map((r) => { const a = index.actionById(r.id); return a ? displayName(a) : String(r.id); }).join(', ')})`);
  } else if (spec.params !== undefined && Object.keys(spec.params).length > 0) {
    throw new InvalidArgumentError(`table ${tname}: params given without an action`);
  }
  return entry;
}

/**
 * Some match fields of `table`, encoded as in encodeTableEntry but without requiring every EXACT
 * field (for read filters). "Don't care" values are left out.
 */
export function encodeMatchFields(index: P4InfoIndex, table: string | number | TableInfo, match: Readonly<Record<string, MatchSpec | null | undefined>>): FieldMatch[] {
  const t = index.table(table);
  const out: FieldMatch[] = [];
  for (const [name, value] of Object.entries(match)) {
    if (value === undefined || value === null) continue;
    const f = index.matchField(t, name);
    const fm = encodeFieldMatch(f, value, `${displayName(t)}.${f.name}`);
    if (fm) out.push(fm);
  }
  return out;
}

/** A p4.v1.TableEntry (as sent or as read) back to names. Unknown ids throw P4InfoLookupError. */
export function decodeTableEntry(index: P4InfoIndex, te: TableEntryLike): DecodedTableEntry {
  const table = index.table(te.table_id ?? 0);
  const match: Record<string, DecodedMatch> = {};
  for (const m of te.match ?? []) {
    const f = index.matchField(table, m.field_id ?? 0);
    if (m.exact) match[f.name] = canonicalBytes(toBuffer(m.exact.value));
    else if (m.lpm) match[f.name] = { value: canonicalBytes(toBuffer(m.lpm.value)), prefixLen: m.lpm.prefix_len ?? 0 };
    else if (m.ternary) match[f.name] = { value: canonicalBytes(toBuffer(m.ternary.value)), mask: canonicalBytes(toBuffer(m.ternary.mask)) };
    else if (m.range) match[f.name] = { low: canonicalBytes(toBuffer(m.range.low)), high: canonicalBytes(toBuffer(m.range.high)) };
    else if (m.optional) match[f.name] = canonicalBytes(toBuffer(m.optional.value));
    else throw new InvalidArgumentError(`table ${displayName(table)}: match field ${f.name} has no value of a supported kind`);
  }
  const params: Record<string, Buffer> = {};
  const a = te.action?.action;
  let actionName: string | undefined;
  let actionId: number | undefined;
  if (a) {
    const action = index.action(a.action_id ?? 0);
    actionName = displayName(action);
    actionId = action.id;
    for (const p of a.params ?? []) params[index.param(action, p.param_id ?? 0).name] = canonicalBytes(toBuffer(p.value));
  }
  const out: {
    -readonly [K in keyof DecodedTableEntry]: DecodedTableEntry[K];
  } = {
    table: displayName(table),
    tableId: table.id,
    match,
    params,
    priority: te.priority ?? 0,
    isDefault: te.is_default_action ?? false,
  };
  if (actionName !== undefined && actionId !== undefined) {
    out.action = actionName;
    out.actionId = actionId;
  }
  if (te.counter_data) {
    out.counters = { bytes: BigInt(String(te.counter_data.byte_count ?? 0)), packets: BigInt(String(te.counter_data.packet_count ?? 0)) };
  }
  if (te.is_const) out.isConst = true;
  return out;
}

function hexOf(b: Bytes | undefined): string {
  return canonicalBytes(toBuffer(b)).toString('hex');
}

/**
 * The identity of an entry on the switch (spec 9.1: table, match key and priority; or the table's
 * default entry), as a string: two messages for the same entry give the same key whatever their
 * value padding or field order.
 */
export function tableEntryKey(te: TableEntryLike): string {
  const tableId = te.table_id ?? 0;
  if (te.is_default_action) return `${tableId}/default`;
  const parts = [...(te.match ?? [])].sort((a, b) => (a.field_id ?? 0) - (b.field_id ?? 0)).map(fieldMatchKey);
  return `${tableId}/${te.priority ?? 0}/${parts.join(',')}`;
}

/** One field of a match key as a comparable string (field id, kind, canonical values). */
export function fieldMatchKey(m: FieldMatchLike): string {
  const id = m.field_id ?? 0;
  if (m.exact) return `${id}=${hexOf(m.exact.value)}`;
  if (m.lpm) return `${id}=${hexOf(m.lpm.value)}/${m.lpm.prefix_len ?? 0}`;
  if (m.ternary) return `${id}=${hexOf(m.ternary.value)}&${hexOf(m.ternary.mask)}`;
  if (m.range) return `${id}=${hexOf(m.range.low)}..${hexOf(m.range.high)}`;
  if (m.optional) return `${id}=?${hexOf(m.optional.value)}`;
  return `${id}=other`;
}

/** The action part of an entry as a comparable string ('' for none). */
export function tableActionKey(te: TableEntryLike): string {
  const a = te.action?.action;
  if (!a) return '';
  const params = [...(a.params ?? [])].sort((x, y) => (x.param_id ?? 0) - (y.param_id ?? 0)).map((p) => `${p.param_id ?? 0}=${hexOf(p.value)}`);
  return `${a.action_id ?? 0}(${params.join(',')})`;
}

/**
 * An entry for people and error messages: `handoff_in(src_addr=10.0.0.1, ..., dst_port=80)`, with
 * `priority N` and `-> action(params)` when present. Unknown ids are shown as numbers.
 */
export function describeTableEntry(index: P4InfoIndex | null, te: TableEntryLike, withAction = false): string {
  const table = index?.tableById(te.table_id ?? 0);
  if (!table) return `table ${te.table_id ?? 0} entry ${tableEntryKey(te)}`;
  if (te.is_default_action) {
    return `${displayName(table)}(default)${withAction ? describeAction(index, te) : ''}`;
  }
  const parts = (te.match ?? []).map((m) => {
    const f = table.matchFields.find((x) => x.id === m.field_id);
    if (!f) return `#${m.field_id ?? 0}=?`;
    const label = fieldLabel(table, f);
    const fmt = (b: Bytes | undefined): string => formatValue(toBuffer(b), f.bitwidth);
    if (m.exact) return `${label}=${fmt(m.exact.value)}`;
    if (m.lpm) return `${label}=${fmt(m.lpm.value)}/${m.lpm.prefix_len ?? 0}`;
    if (m.ternary) return `${label}=${fmt(m.ternary.value)}&&&${fmt(m.ternary.mask)}`;
    if (m.range) return `${label}=${fmt(m.range.low)}..${fmt(m.range.high)}`;
    if (m.optional) return `${label}=${fmt(m.optional.value)}`;
    return `${label}=?`;
  });
  const prio = te.priority ? ` priority ${te.priority}` : '';
  return `${displayName(table)}(${parts.join(', ')})${prio}${withAction ? describeAction(index, te) : ''}`;
}

function describeAction(index: P4InfoIndex | null, te: TableEntryLike): string {
  const a = te.action?.action;
  if (!a) return '';
  const action = index?.actionById(a.action_id ?? 0);
  if (!action) return ` -> action ${a.action_id ?? 0}`;
  const params = (a.params ?? []).map((p) => {
    const info = action.params.find((x) => x.id === p.param_id);
    return info ? `${info.name}=${formatValue(toBuffer(p.value), info.bitwidth)}` : `#${p.param_id ?? 0}`;
  });
  return ` -> ${displayName(action)}(${params.join(', ')})`;
}
