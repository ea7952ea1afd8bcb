/**
 * Protobuf text format, printed the way protoc's TextFormat prints it (fields in field-number
 * order, defaults omitted, enums by name, strings and bytes C-escaped, two-space indent), so our
 * .p4info.txt diffs cleanly against the one p4c writes.
 */
import protobuf from 'protobufjs';
import { Printer } from './printer.js';

function escapeBytes(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    if (c === 0x22) s += '\\"';
    else if (c === 0x27) s += "\\'";
    else if (c === 0x5c) s += '\\\\';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c === 0x09) s += '\\t';
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += '\\' + c.toString(8).padStart(3, '0');
  }
  return s;
}

function isDefault(field: protobuf.Field, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (field.map) return Object.keys(v as object).length === 0;
  if (field.repeated) return (v as unknown[]).length === 0;
  if (field.resolvedType instanceof protobuf.Type) return false;
  if (field.partOf) return false; // a set oneof member is printed even when zero
  if (typeof v === 'number') return v === 0;
  if (typeof v === 'string') return v === '' || v === '0';
  if (typeof v === 'boolean') return !v;
  if (v instanceof Uint8Array) return v.length === 0;
  if (typeof v === 'object' && 'low' in (v as object)) return String(v) === '0';
  return false;
}

function scalar(field: protobuf.FieldBase, v: unknown): string {
  if (field.resolvedType instanceof protobuf.Enum) {
    const name = field.resolvedType.valuesById[Number(v)];
    return name ?? String(v);
  }
  if (field.type === 'string') return `"${escapeBytes(Buffer.from(String(v), 'utf8'))}"`;
  if (field.type === 'bytes') return `"${escapeBytes(v as Uint8Array)}"`;
  return String(v);
}

function printMessage(type: protobuf.Type, msg: protobuf.Message, out: Printer): void {
  const fields = [...type.fieldsArray].sort((a, b) => a.id - b.id);
  const obj = msg as unknown as Record<string, unknown>;
  for (const field of fields) {
    field.resolve();
    const v = obj[field.name];
    if (isDefault(field, v)) continue;
    if (field.partOf && (obj[field.partOf.name] as string | undefined) !== undefined && obj[field.partOf.name] !== field.name) continue;
    if (field instanceof protobuf.MapField) {
      printMap(field, v as Record<string, unknown>, out);
      continue;
    }
    const values = field.repeated ? (v as unknown[]) : [v];
    for (const item of values) {
      if (field.resolvedType instanceof protobuf.Type) {
        const sub = field.resolvedType;
        out.block(`${field.name} {`, () => printMessage(sub, item as protobuf.Message, out));
      } else {
        out.line(`${field.name}: ${scalar(field, item)}`);
      }
    }
  }
}

/** A map field as protoc prints it: one `name { key: ... value ... }` entry per key, keys sorted. */
function printMap(field: protobuf.MapField, v: Record<string, unknown>, out: Printer): void {
  const keys = Object.keys(v).sort((a, b) => (field.keyType === 'string' ? (a < b ? -1 : a > b ? 1 : 0) : Number(BigInt(a) - BigInt(b))));
  for (const key of keys) {
    out.block(`${field.name} {`, () => {
      out.line(`key: ${field.keyType === 'string' ? `"${escapeBytes(Buffer.from(key, 'utf8'))}"` : key}`);
      const item = v[key];
      if (field.resolvedType instanceof protobuf.Type) {
        const sub = field.resolvedType;
        out.block('value {', () => printMessage(sub, item as protobuf.Message, out));
      } else {
        out.line(`value: ${scalar(field, item)}`);
      }
    });
  }
}

/** The text format of `msg` (a decoded protobufjs message of `type`). */
export function toTextProto(type: protobuf.Type, msg: protobuf.Message): string {
  const out = new Printer({ comment: '#', indent: '  ' });
  printMessage(type, msg, out);
  return out.toString();
}
