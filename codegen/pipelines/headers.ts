/**
 * Wire headers shared by every pipeline, in the order a deparser emits them.
 * Widths follow the RFCs (Ethernet II, RFC 826, RFC 791, RFC 9293); the constants modules in
 * core/header/ give the byte offsets and values used by the software paths.
 */
import { header } from '../builder.js';
import type { HeaderDef } from '../ir.js';

/** Width of a port number in controller headers: 9 bits, as v1model's and TNA's port ids. */
export const PORT_BITS = 9;

/** Sent to the controller: the port the packet came in on. Padded to a whole byte count. */
export const packetIn: HeaderDef = header('packet_in', { ingress_port: PORT_BITS, _pad: 7 }, 'packet_in');
/** Sent by the controller: the port to send the packet out of. */
export const packetOut: HeaderDef = header('packet_out', { egress_port: PORT_BITS, _pad: 7 }, 'packet_out');

export const ethernet: HeaderDef = header('ethernet', { dst_addr: 48, src_addr: 48, ether_type: 16 });

export const arp: HeaderDef = header('arp', {
  hw_type: 16,
  proto_type: 16,
  hw_len: 8,
  proto_len: 8,
  opcode: 16,
  sender_hw_addr: 48,
  sender_proto_addr: 32,
  target_hw_addr: 48,
  target_proto_addr: 32,
});

export const ipv4: HeaderDef = header('ipv4', {
  version: 4,
  ihl: 4,
  diffserv: 8,
  total_len: 16,
  identification: 16,
  flags: 3,
  frag_offset: 13,
  ttl: 8,
  protocol: 8,
  hdr_checksum: 16,
  src_addr: 32,
  dst_addr: 32,
});

/** The fixed TCP header; options and payload follow it and are covered by the checksum. */
export const tcp: HeaderDef = header('tcp', {
  src_port: 16,
  dst_port: 16,
  seq_no: 32,
  ack_no: 32,
  data_offset: 4,
  res: 4,
  flags: 8,
  window: 16,
  checksum: 16,
  urgent_ptr: 16,
});
