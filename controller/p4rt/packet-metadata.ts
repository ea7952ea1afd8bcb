/**
 * PacketOut / PacketIn metadata by name (P4Runtime spec 16.1): the fields of the P4Info's
 * controller packet metadata "packet_out" and "packet_in" (the @controller_header headers), sent as
 * canonical bytestrings with their P4Info ids.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { canonicalBytes, toFieldBytes, type P4Value } from '../../core/p4-values.js';
import type { PacketIn__Output } from '../../proto/types/p4/v1/PacketIn.js';
import type { PacketOut } from '../../proto/types/p4/v1/PacketOut.js';
import type { P4InfoIndex } from './p4info-index.js';

/** A packet the switch sent to the controller, with its metadata decoded by name. */
export interface ReceivedPacket {
  readonly payload: Buffer;
  /** Metadata values by field name ("ingress_port"); ids missing from the P4Info appear as "#<id>". */
  readonly metadata: Readonly<Record<string, bigint>>;
  /** The same values as the canonical bytes received. */
  readonly rawMetadata: Readonly<Record<string, Buffer>>;
}

/** Fields whose name starts with "_" (padding, e.g. "_pad") default to 0 when not given. */
function isPadding(name: string): boolean {
  return name.startsWith('_');
}

/**
 * A p4.v1.PacketOut with `metadata` encoded by name against the "packet_out" controller metadata.
 * Every non-padding field must be given; unknown names throw P4InfoLookupError.
 */
export function encodePacketOut(index: P4InfoIndex, payload: Uint8Array, metadata: Readonly<Record<string, P4Value>>): PacketOut {
  const header = index.packetMetadata('packet_out');
  const values = new Map<number, Buffer>();
  for (const [name, value] of Object.entries(metadata)) {
    const field = index.packetMetadataField(header, name);
    values.set(field.id, canonicalBytes(toFieldBytes(value, field.bitwidth, `packet_out.${name}`)));
  }
  const missing = header.fields.filter((f) => !values.has(f.id) && !isPadding(f.name));
  if (missing.length > 0) {
    throw new InvalidArgumentError(`packet_out: missing metadata ${missing.map((f) => `${f.name} (bit<${f.bitwidth}>)`).join(', ')}`);
  }
  return {
    payload: Buffer.from(payload),
    metadata: header.fields.map((f) => ({ metadata_id: f.id, value: values.get(f.id) ?? Buffer.from([0]) })),
  };
}

/** A p4.v1.PacketIn with its metadata decoded against the "packet_in" controller metadata. */
export function decodePacketIn(index: P4InfoIndex | null, msg: PacketIn__Output): ReceivedPacket {
  const header = index?.hasPacketMetadata('packet_in') ? index.packetMetadata('packet_in') : undefined;
  const metadata: Record<string, bigint> = {};
  const rawMetadata: Record<string, Buffer> = {};
  for (const m of msg.metadata ?? []) {
    const field = header?.fields.find((f) => f.id === m.metadata_id);
    const name = field ? field.name : `#${m.metadata_id}`;
    const value = canonicalBytes(m.value ?? Buffer.alloc(0));
    rawMetadata[name] = value;
    metadata[name] = value.length === 0 ? 0n : BigInt(`0x${value.toString('hex')}`);
  }
  return { payload: msg.payload ?? Buffer.alloc(0), metadata, rawMetadata };
}
