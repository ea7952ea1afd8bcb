/**
 * Validation and parsing of one received IPv4 packet carrying TCP. A packet is either a Segment
 * or the name of the one drop reason that rejects it (stats.ts). Checks, in order: IPv4 header,
 * fragments, protocol, addresses, IPv4 checksum, TCP data offset, TCP checksum (RFC 9293 3.1
 * pseudo-header), flags, options.
 */
import { onesComplementSum, pseudoHeaderSum } from '../../core/header/checksum.js';
import {
  IPPROTO_TCP,
  IPV4_DST_OFFSET,
  IPV4_FLAGS_FRAGMENT_OFFSET,
  IPV4_FLAG_MF,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_MIN_HEADER_LEN,
  IPV4_PROTOCOL_OFFSET,
  IPV4_SRC_OFFSET,
  IPV4_TOTAL_LEN_OFFSET,
} from '../../core/header/ipv4.js';
import {
  TCP_ACK,
  TCP_ACK_OFFSET,
  TCP_DATA_OFFSET_OFFSET,
  TCP_FIN,
  TCP_FLAGS_OFFSET,
  TCP_MIN_HEADER_LEN,
  TCP_RST,
  TCP_SEQ_OFFSET,
  TCP_SYN,
  TCP_WINDOW_OFFSET,
} from '../../core/header/tcp.js';
import { parseOptions, type ParsedOptions } from './options.js';
import { seq, type SeqNum } from './seqnum.js';
import type { DropReason } from './stats.js';

export interface Segment {
  /** Addresses as unsigned 32-bit numbers. */
  readonly srcIp: number;
  readonly dstIp: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: SeqNum;
  readonly ack: SeqNum;
  readonly flags: number;
  /** The window field as sent (not scaled). */
  readonly window: number;
  readonly options: ParsedOptions;
  /** The payload (a view into the input buffer: copy before keeping it). */
  readonly payload: Buffer;
}

/** Sequence space the segment occupies: payload bytes plus one for SYN and one for FIN. */
export function segmentLength(s: Segment): number {
  return s.payload.length + (s.flags & TCP_SYN ? 1 : 0) + (s.flags & TCP_FIN ? 1 : 0);
}

export function parseSegment(ip: Buffer): Segment | DropReason {
  if (ip.length < IPV4_MIN_HEADER_LEN || ip[0]! >> 4 !== 4) return 'badIpHeader';
  const ihl = (ip[0]! & 0x0f) * 4;
  if (ihl < IPV4_MIN_HEADER_LEN || ihl > ip.length) return 'badIpHeader';
  const total = ip.readUInt16BE(IPV4_TOTAL_LEN_OFFSET);
  if (total > ip.length || total < ihl + TCP_MIN_HEADER_LEN) return 'truncated';
  const frag = ip.readUInt16BE(IPV4_FLAGS_FRAGMENT_OFFSET);
  if (frag & IPV4_FLAG_MF || frag & IPV4_FRAGMENT_OFFSET_MASK) return 'fragment';
  if (ip[IPV4_PROTOCOL_OFFSET] !== IPPROTO_TCP) return 'notTcp';
  const srcIp = ip.readUInt32BE(IPV4_SRC_OFFSET);
  const dstIp = ip.readUInt32BE(IPV4_DST_OFFSET);
  if (!isUnicastSource(srcIp) || srcIp === dstIp) return 'badAddress';
  if (onesComplementSum(ip.subarray(0, ihl)) !== 0xffff) return 'badIpChecksum';
  const tcp = ip.subarray(ihl, total);
  const dataOff = (tcp[TCP_DATA_OFFSET_OFFSET]! >> 4) * 4;
  if (dataOff < TCP_MIN_HEADER_LEN || dataOff > tcp.length) return 'badDataOffset';
  const sum = onesComplementSum(tcp, pseudoHeaderSum(ip.subarray(IPV4_SRC_OFFSET, IPV4_SRC_OFFSET + 4), ip.subarray(IPV4_DST_OFFSET, IPV4_DST_OFFSET + 4), IPPROTO_TCP, tcp.length));
  if (sum !== 0xffff) return 'badChecksum';
  const flags = tcp[TCP_FLAGS_OFFSET]!;
  if (!flagsPossible(flags)) return 'badFlags';
  const options = parseOptions(tcp, TCP_MIN_HEADER_LEN, dataOff);
  if (!options) return 'badOptions';
  return {
    srcIp,
    dstIp,
    srcPort: tcp.readUInt16BE(0),
    dstPort: tcp.readUInt16BE(2),
    seq: seq(tcp.readUInt32BE(TCP_SEQ_OFFSET)),
    ack: seq(tcp.readUInt32BE(TCP_ACK_OFFSET)),
    flags,
    window: tcp.readUInt16BE(TCP_WINDOW_OFFSET),
    options,
    payload: tcp.subarray(dataOff),
  };
}

/**
 * Flag combinations no correct TCP sends: SYN with FIN or RST, no control flag at all, and any
 * non-SYN, non-RST segment without ACK (RFC 9293 3.10.7.4: "if the ACK bit is off, drop the
 * segment"). A RST without ACK is legal: it answers a segment that carried no ACK number.
 */
export function flagsPossible(flags: number): boolean {
  const f = flags & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK);
  if (f & TCP_SYN) return (f & (TCP_FIN | TCP_RST)) === 0;
  if (f & TCP_RST) return true;
  return (f & TCP_ACK) !== 0;
}

/** Not 0/8, loopback 127/8, multicast 224/4, reserved 240/4 or broadcast. */
function isUnicastSource(a: number): boolean {
  const first = a >>> 24;
  return first !== 0 && first !== 127 && first < 224;
}
