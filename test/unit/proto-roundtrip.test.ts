/**
 * Every message type of proto/ encodes and decodes, through core/proto.ts and through the
 * @grpc/proto-loader serializers that grpc-js uses on the wire.
 */
import { isAbsolute, join } from 'node:path';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import type * as protoLoader from '@grpc/proto-loader';
import {
  PROTO_DIR,
  decodeMessage,
  encodeMessage,
  loadGrpcDefinitions,
  loadPackageDefinition,
  loadProtoRoot,
  lookupMessageType,
} from '../../core/proto.js';
import { ProtoError } from '../../core/errors.js';
import type { WriteRequest } from '../../proto/types/p4/v1/WriteRequest.js';
import type { PacketOut } from '../../proto/types/p4/v1/PacketOut.js';
import type { StreamMessageRequest } from '../../proto/types/p4/v1/StreamMessageRequest.js';

const NAMESPACES = ['p4.v1', 'p4.config.v1', 'google.rpc', 'prism.control.v1'];
const MAX_DEPTH = 4;

type Obj = Record<string, unknown>;

function allTypes(ns: protobuf.NamespaceBase, out: protobuf.Type[] = []): protobuf.Type[] {
  for (const child of ns.nestedArray) {
    if (child instanceof protobuf.Type) out.push(child);
    if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) allTypes(child, out);
  }
  return out;
}

/** A non-default value of a scalar type, varied by field number so that swapped fields are caught. */
function scalarValue(t: string, id: number, k: number): unknown {
  switch (t) {
    case 'double':
      return 1.25 + id + k;
    case 'float':
      return 0.5 + id + k; // exactly representable in 32 bits
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return -(id * 7 + k + 1);
    case 'uint32':
    case 'fixed32':
      return 4_000_000_000 - id - k;
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return (-9_007_199_254_740_993n - BigInt(id + k)).toString(); // beyond 2^53: precision matters
    case 'uint64':
    case 'fixed64':
      return (18_446_744_073_709_551_615n - BigInt(id + k)).toString();
    case 'bool':
      return true;
    case 'string':
      return `s${id}-${k}`;
    case 'bytes':
      return Buffer.from([id & 0xff, 0xff, 0x00, k]);
    default:
      throw new Error(`unexpected scalar type ${t}`);
  }
}

function enumValue(e: protobuf.Enum, id: number): string {
  const names = Object.keys(e.values).filter((n) => e.values[n] !== 0);
  return names[id % names.length] ?? Object.keys(e.values)[0] ?? '';
}

function enumDefault(e: protobuf.Enum): string {
  return Object.keys(e.values).find((n) => e.values[n] === 0) ?? Object.keys(e.values)[0] ?? '';
}

function defaultOf(f: protobuf.Field): unknown {
  if (f instanceof protobuf.MapField) return {};
  if (f.repeated) return [];
  if (f.resolvedType instanceof protobuf.Type) return null;
  if (f.resolvedType instanceof protobuf.Enum) return enumDefault(f.resolvedType);
  switch (f.type) {
    case 'int64': case 'sint64': case 'sfixed64': case 'uint64': case 'fixed64':
      return '0';
    case 'bool':
      return false;
    case 'string':
      return '';
    case 'bytes':
      return Buffer.alloc(0);
    default:
      return 0;
  }
}

/** The value of one element of a field, and what decoding should give back; undefined when too deep. */
function elementValue(f: protobuf.Field, depth: number, k: number): { input: unknown; expected: unknown } | undefined {
  if (f.resolvedType instanceof protobuf.Type) {
    if (depth >= MAX_DEPTH) return undefined;
    return build(f.resolvedType, depth + 1, 0);
  }
  if (f.resolvedType instanceof protobuf.Enum) {
    const v = enumValue(f.resolvedType, f.id + k);
    return { input: v, expected: v };
  }
  const v = scalarValue(f.type, f.id, k);
  return { input: v, expected: v };
}

/**
 * A populated instance of `type`: every field set, one member of each oneof (member number
 * `variant` modulo the oneof's size), messages to a bounded depth. `expected` is what
 * decodeMessage must return (defaults for what is not set, virtual oneof fields filled).
 */
function build(type: protobuf.Type, depth: number, variant: number): { input: Obj; expected: Obj } {
  const input: Obj = {};
  const expected: Obj = {};
  const chosen = new Map<string, string>();
  for (const o of type.oneofsArray) {
    const member = o.oneof[variant % o.oneof.length];
    if (member !== undefined) chosen.set(o.name, member);
  }
  for (const f of type.fieldsArray) {
    const oneof = f.partOf;
    if (oneof) {
      if (chosen.get(oneof.name) !== f.name) continue;
      const v = elementValue(f, depth, 0);
      if (v === undefined) {
        chosen.delete(oneof.name);
        continue;
      }
      input[f.name] = v.input;
      expected[f.name] = v.expected;
      continue;
    }
    if (f instanceof protobuf.MapField) {
      const v = elementValue(f, depth, 0);
      const key = f.keyType === 'string' ? `key${f.id}` : String(f.id);
      input[f.name] = v === undefined ? {} : { [key]: v.input };
      expected[f.name] = v === undefined ? {} : { [key]: v.expected };
    } else if (f.repeated) {
      const n = f.resolvedType instanceof protobuf.Type ? 1 : 2;
      const items = Array.from({ length: n }, (_, k) => elementValue(f, depth, k)).filter((v) => v !== undefined);
      input[f.name] = items.map((v) => v.input);
      expected[f.name] = items.map((v) => v.expected);
    } else {
      const v = elementValue(f, depth, 0);
      if (v === undefined) {
        expected[f.name] = defaultOf(f);
      } else {
        input[f.name] = v.input;
        expected[f.name] = v.expected;
      }
    }
  }
  for (const o of type.oneofsArray) {
    const member = chosen.get(o.name);
    if (member !== undefined) expected[o.name] = member;
  }
  return { input, expected };
}

const root = loadProtoRoot();
const types = NAMESPACES.flatMap((ns) => allTypes(root.lookup(ns) as protobuf.Namespace));

describe('every message type round-trips (populated automatically)', () => {
  it('finds the message types of all four packages', () => {
    const names = new Set(types.map((t) => t.fullName.slice(1)));
    for (const n of ['p4.v1.WriteRequest', 'p4.config.v1.P4Info', 'google.rpc.Status', 'prism.control.v1.PrepareRequest']) {
      expect(names.has(n)).toBe(true);
    }
    expect(types.length).toBeGreaterThan(120);
  });

  it.each(types.map((t) => [t.fullName.slice(1), t] as const))('%s', (name, type) => {
    const variants = Math.max(1, ...type.oneofsArray.map((o) => o.oneof.length));
    for (let variant = 0; variant < variants; variant++) {
      const { input, expected } = build(type, 0, variant);
      const bytes = encodeMessage(name, input);
      if (type.fieldsArray.length > 0) expect(bytes.length).toBeGreaterThan(0);
      const decoded = decodeMessage(name, bytes);
      expect(decoded).toEqual(expected);
      // Decoded objects are valid input again, and encode to the same bytes.
      expect(encodeMessage(name, decoded).equals(bytes)).toBe(true);
    }
  });
});

// --- hand-written realistic messages -----------------------------------------------------------

const ELECTION_HIGH = '1';
const ELECTION_LOW = '18446744073709551615'; // 2^64 - 1: loses precision as a JS number

const writeRequest: WriteRequest = {
  device_id: '1',
  election_id: { high: ELECTION_HIGH, low: ELECTION_LOW },
  atomicity: 'CONTINUE_ON_ERROR',
  updates: [
    {
      type: 'INSERT',
      entity: {
        table_entry: {
          table_id: 0x02000001,
          priority: 10,
          match: [
            { field_id: 1, exact: { value: Buffer.from([0x0a, 0x00, 0x00, 0x01]) } },
            { field_id: 2, lpm: { value: Buffer.from([0x0a, 0x00, 0x01, 0x00]), prefix_len: 24 } },
            { field_id: 3, ternary: { value: Buffer.from([0x00, 0x50]), mask: Buffer.from([0xff, 0xff]) } },
          ],
          action: {
            action: {
              action_id: 0x01000002,
              params: [
                { param_id: 1, value: Buffer.from([0x0a, 0x00, 0x01, 0x02]) },
                { param_id: 2, value: Buffer.from([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]) },
                { param_id: 3, value: Buffer.from([0x00, 0x03]) },
              ],
            },
          },
        },
      },
    },
  ],
};

const packetOut: PacketOut = {
  payload: Buffer.from('45000028000040004006000000000000', 'hex'),
  metadata: [
    { metadata_id: 1, value: Buffer.from([0x00, 0x01]) },
    { metadata_id: 2, value: Buffer.from([0x00]) },
  ],
};

const arbitration: StreamMessageRequest = {
  arbitration: {
    device_id: '18446744073709551614',
    role: { name: 'prism' },
    election_id: { high: '9223372036854775808', low: ELECTION_LOW },
  },
};

function methodDef(pkgDef: protoLoader.PackageDefinition, service: string, method: string): protoLoader.MethodDefinition<object, object> {
  const svc = pkgDef[service] as protoLoader.ServiceDefinition | undefined;
  const m = svc?.[method];
  if (!m) throw new Error(`no method ${service}/${method}`);
  return m;
}

describe('realistic P4Runtime messages round-trip through protobufjs and grpc-js serializers', () => {
  const pkgDef = loadPackageDefinition();

  it.each([
    ['WriteRequest', 'p4.v1.WriteRequest', 'Write', writeRequest],
    ['StreamMessageRequest with PacketOut', 'p4.v1.StreamMessageRequest', 'StreamChannel', { packet: packetOut }],
    ['StreamMessageRequest with MasterArbitrationUpdate', 'p4.v1.StreamMessageRequest', 'StreamChannel', arbitration],
  ] as const)('%s', (_label, fullName, method, msg) => {
    const m = methodDef(pkgDef, 'p4.v1.P4Runtime', method);
    const viaProtobufjs = encodeMessage(fullName, msg);
    const viaGrpc = m.requestSerialize(msg);
    expect(Buffer.compare(viaGrpc, viaProtobufjs)).toBe(0);

    const a = decodeMessage(fullName, viaGrpc);
    const b = m.requestDeserialize(viaProtobufjs);
    expect(a).toEqual(b);
    expect(a).toMatchObject(msg as object);
  });

  it('keeps every bit of 64-bit values (election id, device id)', () => {
    const decoded = decodeMessage<StreamMessageRequest>('p4.v1.StreamMessageRequest', encodeMessage('p4.v1.StreamMessageRequest', arbitration));
    expect(decoded.arbitration?.election_id).toEqual({ high: '9223372036854775808', low: ELECTION_LOW });
    expect(decoded.arbitration?.device_id).toBe('18446744073709551614');
    expect(decoded.update).toBe('arbitration');
    // bigint input gives the same bytes as the decimal string.
    const withBigint = { arbitration: { ...arbitration.arbitration, election_id: { high: 9223372036854775808n, low: 2n ** 64n - 1n } } };
    expect(encodeMessage('p4.v1.StreamMessageRequest', withBigint).equals(encodeMessage('p4.v1.StreamMessageRequest', arbitration))).toBe(true);
  });

  it('decodes a server-side message (PacketIn) through the response deserializer', () => {
    const m = methodDef(pkgDef, 'p4.v1.P4Runtime', 'StreamChannel');
    const resp = { packet: { payload: Buffer.from([1, 2, 3]), metadata: [{ metadata_id: 1, value: Buffer.from([0, 7]) }] } };
    const bytes = m.responseSerialize(resp);
    expect(m.responseDeserialize(bytes)).toEqual(decodeMessage('p4.v1.StreamMessageResponse', bytes));
    expect(decodeMessage('p4.v1.StreamMessageResponse', bytes)).toMatchObject({ update: 'packet', packet: resp.packet });
  });

  it('round-trips a control-protocol Prepare through the Agent service serializers', () => {
    const m = methodDef(pkgDef, 'prism.control.v1.Agent', 'Prepare');
    const req = {
      transaction_id: '42',
      connection: {
        client_ip: Buffer.from([10, 0, 0, 1]),
        client_port: 51234,
        vip_ip: Buffer.from([10, 0, 100, 1]),
        vip_port: 80,
        snd_nxt: 0xfffffff0,
        rcv_nxt: 12345,
        snd_wscale: 7,
        rcv_wscale: 7,
        mss: 1460,
        sack_permitted: true,
        timestamps_enabled: true,
        ts_val: 1000,
        ts_recent: 2000,
      },
      request: Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\n\r\n'),
      body_length: '0',
    };
    const bytes = m.requestSerialize(req);
    expect(bytes.equals(encodeMessage('prism.control.v1.PrepareRequest', req))).toBe(true);
    expect(m.requestDeserialize(bytes)).toMatchObject(req);
    const refused = { transaction_id: '42', refused: { reason: 'REFUSE_REASON_OVERLOADED', detail: 'queue full' } };
    expect(m.responseDeserialize(m.responseSerialize(refused))).toMatchObject({ ...refused, result: 'refused' });
  });
});

describe('loader API', () => {
  it('resolves PROTO_DIR to the proto/ directory', () => {
    expect(isAbsolute(PROTO_DIR)).toBe(true);
    expect(existsSync(join(PROTO_DIR, 'p4', 'v1', 'p4runtime.proto'))).toBe(true);
    expect(existsSync(join(PROTO_DIR, 'prism', 'control', 'v1', 'control.proto'))).toBe(true);
  });

  it('caches the Root and the grpc object', () => {
    expect(loadProtoRoot()).toBe(root);
    expect(loadGrpcDefinitions()).toBe(loadGrpcDefinitions());
  });

  it('exposes the service client constructors', () => {
    const defs = loadGrpcDefinitions();
    expect(typeof defs.p4.v1.P4Runtime).toBe('function');
    expect(Object.keys(defs.p4.v1.P4Runtime.service)).toEqual([
      'Write',
      'Read',
      'SetForwardingPipelineConfig',
      'GetForwardingPipelineConfig',
      'StreamChannel',
      'Capabilities',
    ]);
    expect(typeof defs.prism.control.v1.Agent).toBe('function');
    expect(defs.prism.control.v1.Agent.service.Events.responseStream).toBe(true);
  });

  it('loads google.protobuf.Any from protobufjs bundled well-known types', () => {
    expect(lookupMessageType('google.protobuf.Any').fieldsArray.map((f) => [f.name, f.id])).toEqual([
      ['type_url', 1],
      ['value', 2],
    ]);
    expect(lookupMessageType('.p4.v1.Uint128').name).toBe('Uint128');
  });
});

describe('bad input is a ProtoError', () => {
  const bad: [string, string, unknown][] = [
    ['unknown message', 'p4.v1.NoSuchMessage', {}],
    ['an enum is not a message', 'google.rpc.Code', {}],
    ['a package is not a message', 'p4.v1', {}],
    ['not an object', 'p4.v1.Uint128', 'high'],
    ['unknown field', 'p4.v1.Uint128', { high: '1', middle: '2' }],
    ['string in uint32', 'p4.v1.TableEntry', { table_id: '1' }],
    ['negative uint32', 'p4.v1.TableEntry', { table_id: -1 }],
    ['uint32 overflow', 'p4.v1.TableEntry', { table_id: 2 ** 32 }],
    ['fraction in int32', 'p4.v1.TableEntry', { priority: 1.5 }],
    ['unsafe number in uint64', 'p4.v1.Uint128', { low: 2 ** 64 }],
    ['uint64 overflow', 'p4.v1.Uint128', { low: '18446744073709551616' }],
    ['negative uint64', 'p4.v1.Uint128', { low: '-1' }],
    ['non-numeric uint64', 'p4.v1.Uint128', { low: '0x10' }],
    ['string in bytes', 'p4.v1.PacketOut', { payload: 'abc' }],
    ['unknown enum name', 'p4.v1.Update', { type: 'UPSERT' }],
    ['unknown enum number', 'p4.v1.Update', { type: 9 }],
    ['two members of one oneof', 'p4.v1.TableAction', { action: { action_id: 1 }, action_profile_member_id: 2 }],
    ['repeated field not an array', 'p4.v1.PacketOut', { metadata: { metadata_id: 1 } }],
    ['nested error', 'p4.v1.WriteRequest', { updates: [{ entity: { table_entry: { match: [{ exact: { value: 5 } }] } } }] }],
  ];
  it.each(bad)('encode: %s', (_label, name, obj) => {
    expect(() => encodeMessage(name, obj)).toThrow(ProtoError);
  });

  it('names the path of a nested error', () => {
    expect(() => encodeMessage('p4.v1.WriteRequest', { updates: [{ entity: { table_entry: { table_id: 'x' } } }] })).toThrow(
      /WriteRequest\.updates\[0\]\.entity\.table_entry\.table_id/,
    );
  });

  it('decode: truncated bytes', () => {
    const bytes = encodeMessage('p4.v1.WriteRequest', writeRequest);
    expect(() => decodeMessage('p4.v1.WriteRequest', bytes.subarray(0, bytes.length - 3))).toThrow(ProtoError);
  });

  it('decode: not bytes', () => {
    expect(() => decodeMessage('p4.v1.WriteRequest', 'abc' as unknown as Uint8Array)).toThrow(ProtoError);
  });
});
