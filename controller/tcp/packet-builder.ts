/**
 * Builds the IPv4 + TCP packets the endpoint sends: IPv4 without options, DF set, TTL 64, both
 * checksums computed (RFC 791, RFC 9293 3.1). One allocation per packet.
 */
import { internetChecksum, pseudoHeaderSum } from '../../core/header/checksum.js';
import {
  IPPROTO_TCP,
  IPV4_CHECKSUM_OFFSET,
  IPV4_DEFAULT_TTL,
  IPV4_DST_OFFSET,
  IPV4_FLAGS_FRAGMENT_OFFSET,
  IPV4_FLAG_DF,
  IPV4_IHL_NO_OPTIONS,
  IPV4_MIN_HEADER_LEN,
  IPV4_PROTOCOL_OFFSET,
  IPV4_SRC_OFFSET,
  IPV4_TOTAL_LEN_OFFSET,
  IPV4_TTL_OFFSET,
} from '../../core/header/ipv4.js';
import {
  TCP_ACK_OFFSET,
  TCP_CHECKSUM_OFFSET,
  TCP_DATA_OFFSET_OFFSET,
  TCP_FLAGS_OFFSET,
  TCP_MIN_HEADER_LEN,
  TCP_SEQ_OFFSET,
  TCP_WINDOW_OFFSET,
} from '../../core/header/tcp.js';
import { segmentOptionsLength, writeSegmentOptions } from './options.js';

export interface OutSegment {
  srcIp: number;
  dstIp: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** The 16-bit window field (already scaled down). */
  window: number;
}

/** Options: either raw bytes (SYN-ACK) or the timestamp/SACK pair of an ordinary segment. */
export function buildPacket(
  s: OutSegment,
  rawOptions: Buffer | null,
  ts: { tsVal: number; tsEcr: number } | null,
  sack: readonly number[],
  payload: Uint8Array | null,
): Buffer {
  const optLen = rawOptions ? rawOptions.length : segmentOptionsLength(ts !== null, sack.length / 2);
  const tcpHeaderLen = TCP_MIN_HEADER_LEN + optLen;
  const dataLen = payload ? payload.length : 0;
  const total = IPV4_MIN_HEADER_LEN + tcpHeaderLen + dataLen;
  const b = Buffer.allocUnsafe(total);
  b.fill(0, 0, IPV4_MIN_HEADER_LEN + TCP_MIN_HEADER_LEN);
  b[0] = 0x40 | IPV4_IHL_NO_OPTIONS;
  b.writeUInt16BE(total, IPV4_TOTAL_LEN_OFFSET);
  b.writeUInt16BE(IPV4_FLAG_DF, IPV4_FLAGS_FRAGMENT_OFFSET);
  b[IPV4_TTL_OFFSET] = IPV4_DEFAULT_TTL;
  b[IPV4_PROTOCOL_OFFSET] = IPPROTO_TCP;
  b.writeUInt32BE(s.srcIp >>> 0, IPV4_SRC_OFFSET);
  b.writeUInt32BE(s.dstIp >>> 0, IPV4_DST_OFFSET);
  b.writeUInt16BE(internetChecksum(b.subarray(0, IPV4_MIN_HEADER_LEN)), IPV4_CHECKSUM_OFFSET);
  const t = IPV4_MIN_HEADER_LEN;
  b.writeUInt16BE(s.srcPort, t);
  b.writeUInt16BE(s.dstPort, t + 2);
  b.writeUInt32BE(s.seq >>> 0, t + TCP_SEQ_OFFSET);
  b.writeUInt32BE(s.ack >>> 0, t + TCP_ACK_OFFSET);
  b[t + TCP_DATA_OFFSET_OFFSET] = (tcpHeaderLen / 4) << 4;
  b[t + TCP_FLAGS_OFFSET] = s.flags;
  b.writeUInt16BE(s.window & 0xffff, t + TCP_WINDOW_OFFSET);
  if (rawOptions) rawOptions.copy(b, t + TCP_MIN_HEADER_LEN);
  else writeSegmentOptions(b, t + TCP_MIN_HEADER_LEN, ts, sack);
  if (payload && dataLen > 0) b.set(payload, t + tcpHeaderLen);
  const tcp = b.subarray(t);
  const ph = pseudoHeaderSum(b.subarray(IPV4_SRC_OFFSET, IPV4_SRC_OFFSET + 4), b.subarray(IPV4_DST_OFFSET, IPV4_DST_OFFSET + 4), IPPROTO_TCP, tcp.length);
  b.writeUInt16BE(internetChecksum(tcp, ph), t + TCP_CHECKSUM_OFFSET);
  return b;
}
