/**
 * The one place that loads the protobuf definitions under proto/: P4Runtime v1
 * (p4.v1, p4.config.v1), google.rpc, and Prism's own control protocol
 * (prism.control.v1). Everything else goes through this module.
 *
 * - loadProtoRoot(): a protobufjs Root with every file loaded, for encoding and
 *   decoding any message by full name (encodeMessage / decodeMessage).
 * - loadGrpcDefinitions(): the @grpc/grpc-js object (service client constructors,
 *   message/enum definitions), typed with the generated proto/types.
 *
 * Both paths share one object shape (GRPC_LOADER_OPTIONS): field names as in the
 * .proto files (snake_case), 64-bit integers as decimal strings on output, bytes as
 * Buffer, enums as their names, defaults filled in, and the name of the set oneof
 * member in a virtual field named after the oneof. See docs/protobuf.md.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { ProtoGrpcType as P4RuntimeProtoGrpcType } from '../proto/types/p4runtime.js';
import type { ProtoGrpcType as ControlProtoGrpcType } from '../proto/types/control.js';
import { ProtoError } from './errors.js';

/** The grpc-js object of p4/v1/p4runtime.proto and prism/control/v1/control.proto. */
export type PrismGrpcObject = P4RuntimeProtoGrpcType & ControlProtoGrpcType;

/** Top-level .proto files, relative to PROTO_DIR; their imports are loaded with them. */
export const PROTO_FILES: readonly string[] = [
  'p4/v1/p4runtime.proto',
  'google/rpc/code.proto',
  'prism/control/v1/control.proto',
];

/** The files that define gRPC services. */
export const GRPC_PROTO_FILES: readonly string[] = ['p4/v1/p4runtime.proto', 'prism/control/v1/control.proto'];

/** Conversion options shared by the grpc-js loader and decodeMessage (and by scripts/gen-proto-types.mjs). */
export const CONVERSION_OPTIONS = {
  /** 64-bit integers (device ids, election ids, cookies) become decimal strings: no precision loss. */
  longs: String,
  /** Enums become their names ('INSERT', 'EXACT'). */
  enums: String,
  /** bytes fields become Buffers. */
  bytes: Buffer,
  /** Unset scalars get their default, unset repeated fields [], unset messages null. */
  defaults: true,
  /** A virtual field named after each oneof holds the name of its set member. */
  oneofs: true,
} as const;

/** Options of @grpc/proto-loader. keepCase: field names stay as in the specification. */
export const GRPC_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  ...CONVERSION_OPTIONS,
};

function findProtoDir(): string {
  // Works from source (core/proto.ts, run by vitest or tsx) and compiled (dist/core/proto.js).
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'p4', 'v1', 'p4runtime.proto'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new ProtoError(`cannot find the proto/ directory above ${fileURLToPath(import.meta.url)}`);
    }
    dir = parent;
  }
}

/** Absolute path of the proto/ directory (the include root of every .proto file). */
export const PROTO_DIR: string = findProtoDir();

let cachedRoot: protobuf.Root | undefined;
let cachedPackageDefinition: protoLoader.PackageDefinition | undefined;
let cachedGrpcObject: PrismGrpcObject | undefined;

/** A protobufjs Root with all definitions loaded and resolved (cached). Names keep their .proto case. */
export function loadProtoRoot(): protobuf.Root {
  if (cachedRoot) return cachedRoot;
  const root = new protobuf.Root();
  // google/protobuf/*.proto come from protobufjs's bundled well-known types before
  // resolvePath is consulted; everything else is found under PROTO_DIR.
  root.resolvePath = (_origin: string, target: string): string => {
    const full = isAbsolute(target) ? target : join(PROTO_DIR, target);
    if (!existsSync(full)) throw new ProtoError(`cannot find ${target} under ${PROTO_DIR}`);
    return full;
  };
  try {
    root.loadSync(PROTO_FILES.map((f) => join(PROTO_DIR, f)), { keepCase: true });
    root.resolveAll();
  } catch (err) {
    if (err instanceof ProtoError) throw err;
    throw new ProtoError(`cannot load the protobuf definitions: ${(err as Error).message}`, { cause: err });
  }
  cachedRoot = root;
  return root;
}

/** The @grpc/proto-loader package definition of the service files (cached). */
export function loadPackageDefinition(): protoLoader.PackageDefinition {
  if (cachedPackageDefinition) return cachedPackageDefinition;
  try {
    cachedPackageDefinition = protoLoader.loadSync([...GRPC_PROTO_FILES], { ...GRPC_LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
  } catch (err) {
    throw new ProtoError(`cannot load the gRPC definitions: ${(err as Error).message}`, { cause: err });
  }
  return cachedPackageDefinition;
}

/** The grpc-js object: `p4.v1.P4Runtime`, `prism.control.v1.Agent` client constructors, messages (cached). */
export function loadGrpcDefinitions(): PrismGrpcObject {
  if (cachedGrpcObject) return cachedGrpcObject;
  cachedGrpcObject = grpc.loadPackageDefinition(loadPackageDefinition()) as unknown as PrismGrpcObject;
  return cachedGrpcObject;
}

/** The message type with this full name ('p4.v1.WriteRequest'; a leading dot is accepted). */
export function lookupMessageType(fullName: string): protobuf.Type {
  const name = fullName.startsWith('.') ? fullName.slice(1) : fullName;
  let found: protobuf.ReflectionObject | null;
  try {
    found = loadProtoRoot().lookup(name);
  } catch (err) {
    throw new ProtoError(`bad message name ${JSON.stringify(fullName)}`, { cause: err });
  }
  if (!(found instanceof protobuf.Type)) throw new ProtoError(`no message type named ${JSON.stringify(fullName)}`);
  return found;
}

/**
 * Encodes a plain object (the shape decodeMessage and grpc-js produce, or a hand-written one)
 * as the named message. The object is checked strictly first: unknown fields, wrong types,
 * out-of-range integers, unknown enum names and two members of one oneof are ProtoErrors.
 * 64-bit integers may be numbers (safe integers), decimal strings, bigints or Long objects.
 */
export function encodeMessage(fullName: string, obj: unknown): Buffer {
  const type = lookupMessageType(fullName);
  const normalized = normalizeMessage(type, obj, type.name);
  let bytes: Uint8Array;
  try {
    bytes = type.encode(type.fromObject(normalized)).finish();
  } catch (err) {
    throw new ProtoError(`cannot encode ${type.fullName.slice(1)}: ${(err as Error).message}`, { cause: err });
  }
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes bytes as the named message into a plain object shaped like grpc-js output (CONVERSION_OPTIONS). */
export function decodeMessage<T extends object = Record<string, unknown>>(fullName: string, bytes: Uint8Array): T {
  const type = lookupMessageType(fullName);
  if (!(bytes instanceof Uint8Array)) throw new ProtoError(`decode ${type.fullName.slice(1)}: input is not a Uint8Array`);
  try {
    return type.toObject(type.decode(bytes), CONVERSION_OPTIONS) as T;
  } catch (err) {
    throw new ProtoError(`cannot decode ${type.fullName.slice(1)}: ${(err as Error).message}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------
// Strict input checking. protobufjs's fromObject coerces silently (a string becomes 0 in an
// int32 field) and its verify() rejects the decimal strings we use for 64-bit values, so
// encodeMessage checks the object itself and converts bigints to strings on the way.

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return typeof v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null || v instanceof protobuf.Message;
}

function isLong(v: unknown): v is { low: number; high: number; unsigned: boolean } {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { low?: unknown }).low === 'number' &&
    typeof (v as { high?: unknown }).high === 'number' &&
    typeof (v as { unsigned?: unknown }).unsigned === 'boolean'
  );
}

function normalize64(v: unknown, unsigned: boolean, path: string, typeName: string): unknown {
  let big: bigint;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new ProtoError(`${path}: expected ${typeName}, got ${describe(v)} (not a safe integer; use a string or bigint)`);
    big = BigInt(v);
  } else if (typeof v === 'string') {
    if (!/^-?\d+$/.test(v)) throw new ProtoError(`${path}: expected ${typeName}, got ${describe(v)}`);
    big = BigInt(v);
  } else if (typeof v === 'bigint') {
    big = v;
  } else if (isLong(v)) {
    const u = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
    big = v.unsigned ? u : BigInt.asIntN(64, u);
  } else {
    throw new ProtoError(`${path}: expected ${typeName}, got ${describe(v)}`);
  }
  const [min, max] = unsigned ? [0n, UINT64_MAX] : [INT64_MIN, INT64_MAX];
  if (big < min || big > max) throw new ProtoError(`${path}: ${big} is out of range for ${typeName}`);
  return big.toString();
}

function normalizeScalar(field: protobuf.Field, v: unknown, path: string): unknown {
  const t = field.type;
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    if (typeof v === 'string') {
      if (!(v in resolved.values)) throw new ProtoError(`${path}: ${JSON.stringify(v)} is not a value of enum ${resolved.fullName.slice(1)}`);
      return v;
    }
    if (typeof v === 'number' && Number.isInteger(v)) {
      if (!Object.values(resolved.values).includes(v)) throw new ProtoError(`${path}: ${v} is not a value of enum ${resolved.fullName.slice(1)}`);
      return v;
    }
    throw new ProtoError(`${path}: expected enum ${resolved.fullName.slice(1)}, got ${describe(v)}`);
  }
  if (resolved instanceof protobuf.Type) {
    return normalizeMessage(resolved, v, path);
  }
  switch (t) {
    case 'double':
    case 'float':
      if (typeof v !== 'number') throw new ProtoError(`${path}: expected ${t}, got ${describe(v)}`);
      return v;
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) throw new ProtoError(`${path}: expected ${t}, got ${describe(v)}`);
      return v;
    case 'uint32':
    case 'fixed32':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > UINT32_MAX) throw new ProtoError(`${path}: expected ${t}, got ${describe(v)}`);
      return v;
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return normalize64(v, false, path, t);
    case 'uint64':
    case 'fixed64':
      return normalize64(v, true, path, t);
    case 'bool':
      if (typeof v !== 'boolean') throw new ProtoError(`${path}: expected bool, got ${describe(v)}`);
      return v;
    case 'string':
      if (typeof v !== 'string') throw new ProtoError(`${path}: expected string, got ${describe(v)}`);
      return v;
    case 'bytes':
      if (!(v instanceof Uint8Array)) throw new ProtoError(`${path}: expected bytes (Buffer or Uint8Array), got ${describe(v)}`);
      return v;
    default:
      throw new ProtoError(`${path}: unsupported field type ${t}`);
  }
}

function normalizeMessage(type: protobuf.Type, obj: unknown, path: string): Record<string, unknown> {
  if (!isPlainObject(obj)) throw new ProtoError(`${path}: expected message ${type.fullName.slice(1)} (a plain object), got ${describe(obj)}`);
  const out: Record<string, unknown> = {};
  const oneofNames = new Set(type.oneofsArray.map((o) => o.name));
  for (const [key, value] of Object.entries(obj)) {
    const field = type.fields[key];
    if (!field) {
      // The virtual oneof field of decoded objects ('entity: "table_entry"') is accepted and ignored.
      if (oneofNames.has(key) && (value === undefined || value === null || typeof value === 'string')) continue;
      throw new ProtoError(`${path}: message ${type.fullName.slice(1)} has no field ${JSON.stringify(key)}`);
    }
    if (value === undefined || value === null) continue;
    const fieldPath = `${path}.${key}`;
    if (field.map) {
      if (!isPlainObject(value)) throw new ProtoError(`${fieldPath}: expected a map (plain object), got ${describe(value)}`);
      const m: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) m[k] = normalizeScalar(field, v, `${fieldPath}[${JSON.stringify(k)}]`);
      out[key] = m;
    } else if (field.repeated) {
      if (!Array.isArray(value)) throw new ProtoError(`${fieldPath}: expected an array, got ${describe(value)}`);
      out[key] = value.map((v: unknown, i) => normalizeScalar(field, v, `${fieldPath}[${i}]`));
    } else {
      out[key] = normalizeScalar(field, value, fieldPath);
    }
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.oneof.filter((name) => out[name] !== undefined);
    if (set.length > 1) throw new ProtoError(`${path}: oneof ${oneof.name} has more than one member set (${set.join(', ')})`);
  }
  return out;
}
