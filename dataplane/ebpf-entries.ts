/**
 * Turns table entries (match values and action params as P4Runtime bytestrings) into the BPF
 * map keys and values of the eBPF target, and back. The layout comes from codegen/ebpf-layout.ts,
 * the same module the C emitter uses.
 *
 * Values arrive as bytestrings: canonical (no leading zero bytes) or padded to the full width; a
 * value wider than its field is rejected (P4Runtime spec 8.4, INVALID_ARGUMENT).
 */
import { endianness } from 'node:os';
import { InvalidArgumentError } from '../core/errors.js';
import {
  VALUE_ACTION_OFFSET,
  VALUE_BYTES_OFFSET,
  VALUE_PACKETS_OFFSET,
  VALUE_PARAMS_OFFSET,
  VALUE_PRIORITY_OFFSET,
  lpmPrefixLength,
  type TableLayout,
} from '../codegen/ebpf-layout.js';

const LE = endianness() === 'LE';
const EMPTY = Buffer.alloc(0);

function writeU32(b: Buffer, v: number, off: number): void {
  if (LE) b.writeUInt32LE(v >>> 0, off);
  else b.writeUInt32BE(v >>> 0, off);
}
function readU32(b: Buffer, off: number): number {
  return LE ? b.readUInt32LE(off) : b.readUInt32BE(off);
}
function readU64(b: Buffer, off: number): bigint {
  return LE ? b.readBigUInt64LE(off) : b.readBigUInt64BE(off);
}
function writeU64(b: Buffer, v: bigint, off: number): void {
  if (LE) b.writeBigUInt64LE(v, off);
  else b.writeBigUInt64BE(v, off);
}

/** Names a value in errors; a function when building the name costs more than the check. */
type What = string | (() => string);
const named = (what: What): string => (typeof what === 'string' ? what : what());

/**
 * Writes a bytestring into `out` at `offset`, widened to `bytes` bytes (leading zeros), checked to
 * fit `bits`. The hot path of every table write: no allocation.
 */
export function fitInto(out: Buffer, offset: number, value: Uint8Array, bits: number, bytes: number, what: What): void {
  const n = value.length;
  if (n === 0) throw new InvalidArgumentError(`${named(what)}: empty bytestring`);
  let start = 0;
  while (n - start > bytes && value[start] === 0) start++;
  const len = n - start;
  if (len > bytes) throw new InvalidArgumentError(`${named(what)}: ${n} bytes do not fit ${bits} bits`);
  const spare = bytes * 8 - bits;
  if (spare > 0 && len === bytes && value[start]! >> (8 - spare) !== 0) {
    throw new InvalidArgumentError(`${named(what)}: value 0x${Buffer.from(value).toString('hex')} does not fit ${bits} bits`);
  }
  out.fill(0, offset, offset + bytes - len);
  out.set(start === 0 ? value : value.subarray(start), offset + bytes - len);
}

/**
 * A bytestring widened to `bytes` bytes, checked to fit `bits`. `what` names the value in errors.
 */
export function fitBytes(value: Uint8Array, bits: number, bytes: number, what: What): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  fitInto(out, 0, value, bits, bytes, what);
  return out;
}

export type FieldMatchValue =
  | { readonly kind: 'exact'; readonly value: Uint8Array }
  | { readonly kind: 'lpm'; readonly value: Uint8Array; readonly prefixLen: number }
  | { readonly kind: 'ternary'; readonly value: Uint8Array; readonly mask: Uint8Array };

/** Match values by key field name (`hdr.ipv4.dst_addr`). Missing ternary/lpm fields are wildcards. */
export type MatchSpec = ReadonlyMap<string, FieldMatchValue>;

export interface EncodedKey {
  /** The BPF map key (hash, lpm); for ternary the slot is chosen by the caller. */
  readonly mapKey: Buffer;
  /** Ternary only: key data and mask stored in the value. */
  readonly ternary?: { readonly key: Buffer; readonly mask: Buffer };
}

export function encodeKey(layout: TableLayout, match: MatchSpec): EncodedKey {
  for (const name of match.keys()) {
    if (!layout.keyFields.some((k) => k.name === name)) throw new InvalidArgumentError(`table ${layout.name} has no key field ${name}`);
  }
  const data = Buffer.alloc(layout.keyDataBytes);
  const mask = layout.kind === 'ternary' ? Buffer.alloc(layout.keyDataBytes) : EMPTY;
  let prefixLen = 0;
  for (const kf of layout.keyFields) {
    const m = match.get(kf.name);
    const what = (): string => `${layout.name} ${kf.name}`;
    if (!m) {
      if (kf.match === 'exact') throw new InvalidArgumentError(`${what()}: exact match field is missing`);
      continue; // wildcard: zero value, zero mask, prefix 0
    }
    if (m.kind !== kf.match) throw new InvalidArgumentError(`${what()}: expected a ${kf.match} match, got ${m.kind}`);
    if (m.kind === 'exact') {
      // The whole field is matched (fitInto checked the bits): value only, mask all ones.
      fitInto(data, kf.offset, m.value, kf.bits, kf.bytes, what);
      if (mask !== EMPTY) mask.fill(0xff, kf.offset, kf.offset + kf.bytes);
      continue;
    }
    const v = fitBytes(m.value, kf.bits, kf.bytes, what);
    let fieldMask: Buffer = EMPTY;
    if (m.kind === 'lpm') {
      if (!Number.isInteger(m.prefixLen) || m.prefixLen < 0 || m.prefixLen > kf.bits) {
        throw new InvalidArgumentError(`${what}: prefix length ${m.prefixLen} outside 0..${kf.bits}`);
      }
      fieldMask = prefixMask(kf.bits, kf.bytes, m.prefixLen);
      prefixLen = m.prefixLen;
    } else {
      fieldMask = fitBytes(m.mask, kf.bits, kf.bytes, () => `${what()} mask`);
    }
    // P4Runtime spec 9.1.1: bits outside the mask / prefix must be zero.
    for (let i = 0; i < kf.bytes; i++) {
      if ((v[i]! & ~fieldMask[i]!) !== 0) throw new InvalidArgumentError(`${what()}: value has bits set outside its mask or prefix`);
    }
    v.copy(data, kf.offset);
    if (mask !== EMPTY) fieldMask.copy(mask, kf.offset);
  }
  if (layout.kind === 'hash') return { mapKey: data };
  if (layout.kind === 'lpm') {
    const key = Buffer.alloc(4 + layout.keyDataBytes);
    writeU32(key, lpmPrefixLength(layout, prefixLen), 0);
    data.copy(key, 4);
    return { mapKey: key };
  }
  return { mapKey: Buffer.alloc(4), ternary: { key: data, mask } };
}

function prefixMask(bits: number, bytes: number, prefixLen: number): Buffer {
  const m = Buffer.alloc(bytes);
  const start = bytes * 8 - bits; // padding bits at the front
  for (let i = 0; i < prefixLen; i++) {
    const bit = start + i;
    m[bit >> 3]! |= 0x80 >> (bit & 7);
  }
  return m;
}

export interface ActionValue {
  readonly actionId: number;
  /** Params in declaration order, as bytestrings. */
  readonly params: readonly Uint8Array[];
}

export interface EntryValueOptions {
  readonly priority?: number;
  readonly ternary?: { readonly key: Buffer; readonly mask: Buffer };
  readonly packets?: bigint;
  readonly bytes?: bigint;
}

export function encodeValue(layout: TableLayout, action: ActionValue, opts: EntryValueOptions = {}): Buffer {
  const al = layout.actions.find((a) => a.id === action.actionId);
  if (!al) throw new InvalidArgumentError(`table ${layout.name} cannot use action id ${action.actionId}`);
  if (action.params.length !== al.params.length) {
    throw new InvalidArgumentError(`action ${al.name} takes ${al.params.length} params, got ${action.params.length}`);
  }
  const v = Buffer.alloc(layout.valueBytes);
  writeU32(v, action.actionId, VALUE_ACTION_OFFSET);
  writeU64(v, opts.packets ?? 0n, VALUE_PACKETS_OFFSET);
  writeU64(v, opts.bytes ?? 0n, VALUE_BYTES_OFFSET);
  al.params.forEach((p, i) => {
    fitInto(v, VALUE_PARAMS_OFFSET + p.offset, action.params[i]!, p.bits, p.bytes, () => `action ${al.name} param ${p.name}`);
  });
  if (layout.ternary) {
    writeU32(v, opts.priority ?? 0, VALUE_PRIORITY_OFFSET);
    if (opts.ternary) {
      opts.ternary.key.copy(v, layout.ternary.keyOffset);
      opts.ternary.mask.copy(v, layout.ternary.maskOffset);
    }
    v[layout.ternary.validOffset] = 1;
  }
  return v;
}

export interface DecodedValue {
  readonly actionId: number;
  readonly params: Buffer[];
  readonly packets: bigint;
  readonly bytes: bigint;
  readonly priority: number;
  readonly valid: boolean;
}

export function decodeValue(layout: TableLayout, v: Buffer): DecodedValue {
  if (v.length !== layout.valueBytes) throw new InvalidArgumentError(`table ${layout.name}: value is ${v.length} bytes, expected ${layout.valueBytes}`);
  const actionId = readU32(v, VALUE_ACTION_OFFSET);
  const al = layout.actions.find((a) => a.id === actionId);
  const params = al ? al.params.map((p) => Buffer.from(v.subarray(VALUE_PARAMS_OFFSET + p.offset, VALUE_PARAMS_OFFSET + p.offset + p.bytes))) : [];
  return {
    actionId,
    params,
    packets: readU64(v, VALUE_PACKETS_OFFSET),
    bytes: readU64(v, VALUE_BYTES_OFFSET),
    priority: layout.ternary ? readU32(v, VALUE_PRIORITY_OFFSET) : 0,
    valid: layout.ternary ? v[layout.ternary.validOffset] === 1 : true,
  };
}

export { readU32 as readHostU32, writeU32 as writeHostU32, readU64 as readHostU64 };

/** A decoded key: match values in key-field order (wildcards omitted), as the layout stores them. */
export interface DecodedKey {
  readonly fields: { readonly name: string; readonly match: FieldMatchValue }[];
}

/** The match of a stored entry: from the map key (hash, lpm) or the key and mask in the value (ternary). */
export function decodeKey(layout: TableLayout, mapKey: Buffer, value?: Buffer): DecodedKey {
  const fields: { name: string; match: FieldMatchValue }[] = [];
  if (layout.kind === 'ternary') {
    if (!value || !layout.ternary) throw new InvalidArgumentError(`table ${layout.name}: ternary keys live in the value`);
    for (const kf of layout.keyFields) {
      const v = value.subarray(layout.ternary.keyOffset + kf.offset, layout.ternary.keyOffset + kf.offset + kf.bytes);
      const m = value.subarray(layout.ternary.maskOffset + kf.offset, layout.ternary.maskOffset + kf.offset + kf.bytes);
      if (m.every((x) => x === 0)) continue;
      fields.push({ name: kf.name, match: kf.match === 'exact' ? { kind: 'exact', value: Buffer.from(v) } : { kind: 'ternary', value: Buffer.from(v), mask: Buffer.from(m) } });
    }
    return { fields };
  }
  const data = layout.kind === 'lpm' ? mapKey.subarray(4) : mapKey;
  const lpmBits = layout.kind === 'lpm' ? readU32(mapKey, 0) : 0;
  for (const kf of layout.keyFields) {
    const v = Buffer.from(data.subarray(kf.offset, kf.offset + kf.bytes));
    if (kf.match === 'lpm') {
      const prefixLen = lpmBits - kf.offset * 8 - (kf.bytes * 8 - kf.bits);
      if (prefixLen > 0) fields.push({ name: kf.name, match: { kind: 'lpm', value: v, prefixLen } });
    } else {
      fields.push({ name: kf.name, match: { kind: 'exact', value: v } });
    }
  }
  return { fields };
}
