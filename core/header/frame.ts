/**
 * Building and parsing Ethernet / ARP / IPv4 / TCP frames, with checksums computed here,
 * independently of any data plane. Used by tests (packet vectors) and by the software paths.
 */
import { ARP_HTYPE_ETHERNET, ARP_LEN } from './arp.js';
import { internetChecksum, onesComplementSum, pseudoHeaderSum } from './checksum.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER_LEN } from './ethernet.js';
import { IPPROTO_TCP, IPV4_MIN_HEADER_LEN } from './ipv4.js';
import { bytesToIpv4, bytesToMac, ipv4ToBytes, macToBytes } from './addr.js';
import { TCP_MIN_HEADER_LEN } from './tcp.js';

export interface TcpFrameSpec {
  readonly srcMac: string;
  readonly dstMac: string;
  readonly srcIp: string;
  readonly dstIp: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
  readonly options?: Uint8Array;
  readonly payload?: Uint8Array;
  readonly ttl?: number;
  readonly id?: number;
}

export function ethernetHeader(dstMac: string, srcMac: string, etherType: number): Buffer {
  const b = Buffer.alloc(ETH_HEADER_LEN);
  macToBytes(dstMac).copy(b, 0);
  macToBytes(srcMac).copy(b, 6);
  b.writeUInt16BE(etherType, 12);
  return b;
}

/** An Ethernet + IPv4 (no options, DF) + TCP frame with correct checksums. */
export function buildTcpFrame(s: TcpFrameSpec): Buffer {
  const options = s.options ?? new Uint8Array(0);
  if (options.length % 4 !== 0) throw new Error('TCP options must be padded to a multiple of 4 bytes');
  const payload = s.payload ?? new Uint8Array(0);
  const tcpLen = TCP_MIN_HEADER_LEN + options.length + payload.length;
  const ip = Buffer.alloc(IPV4_MIN_HEADER_LEN);
  ip[0] = 0x45;
  ip.writeUInt16BE(IPV4_MIN_HEADER_LEN + tcpLen, 2);
  ip.writeUInt16BE(s.id ?? 0, 4);
  ip.writeUInt16BE(0x4000, 6); // DF
  ip[8] = s.ttl ?? 64;
  ip[9] = IPPROTO_TCP;
  ipv4ToBytes(s.srcIp).copy(ip, 12);
  ipv4ToBytes(s.dstIp).copy(ip, 16);
  ip.writeUInt16BE(internetChecksum(ip), 10);
  const tcp = Buffer.alloc(tcpLen);
  tcp.writeUInt16BE(s.srcPort, 0);
  tcp.writeUInt16BE(s.dstPort, 2);
  tcp.writeUInt32BE(s.seq >>> 0, 4);
  tcp.writeUInt32BE(s.ack >>> 0, 8);
  tcp[12] = ((TCP_MIN_HEADER_LEN + options.length) / 4) << 4;
  tcp[13] = s.flags;
  tcp.writeUInt16BE(s.window, 14);
  Buffer.from(options).copy(tcp, TCP_MIN_HEADER_LEN);
  Buffer.from(payload).copy(tcp, TCP_MIN_HEADER_LEN + options.length);
  tcp.writeUInt16BE(internetChecksum(tcp, pseudoHeaderSum(ip.subarray(12, 16), ip.subarray(16, 20), IPPROTO_TCP, tcpLen)), 16);
  return Buffer.concat([ethernetHeader(s.dstMac, s.srcMac, ETHERTYPE_IPV4), ip, tcp]);
}

export interface ArpSpec {
  readonly op: number;
  readonly senderMac: string;
  readonly senderIp: string;
  readonly targetMac: string;
  readonly targetIp: string;
  readonly ethDst: string;
}

export function buildArpFrame(s: ArpSpec): Buffer {
  const a = Buffer.alloc(ARP_LEN);
  a.writeUInt16BE(ARP_HTYPE_ETHERNET, 0);
  a.writeUInt16BE(ETHERTYPE_IPV4, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(s.op, 6);
  macToBytes(s.senderMac).copy(a, 8);
  ipv4ToBytes(s.senderIp).copy(a, 14);
  macToBytes(s.targetMac).copy(a, 18);
  ipv4ToBytes(s.targetIp).copy(a, 24);
  return Buffer.concat([ethernetHeader(s.ethDst, s.senderMac, ETHERTYPE_ARP), a]);
}

export interface ParsedTcpFrame {
  readonly srcMac: string;
  readonly dstMac: string;
  readonly srcIp: string;
  readonly dstIp: string;
  readonly ttl: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly window: number;
  readonly payload: Buffer;
  /** The IPv4 header checksum verifies. */
  readonly ipChecksumOk: boolean;
  /** The TCP checksum (pseudo-header + segment) verifies. */
  readonly tcpChecksumOk: boolean;
}

/** Parses an Ethernet/IPv4/TCP frame; returns null when it is not one. */
export function parseTcpFrame(f: Uint8Array): ParsedTcpFrame | null {
  const b = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  if (b.length < ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN + TCP_MIN_HEADER_LEN) return null;
  if (b.readUInt16BE(12) !== ETHERTYPE_IPV4) return null;
  const ip = b.subarray(ETH_HEADER_LEN);
  const ihl = (ip[0]! & 0x0f) * 4;
  if (ip[9] !== IPPROTO_TCP || ihl < IPV4_MIN_HEADER_LEN) return null;
  const total = ip.readUInt16BE(2);
  if (total > ip.length || total < ihl + TCP_MIN_HEADER_LEN) return null;
  const tcp = ip.subarray(ihl, total);
  const dataOff = (tcp[12]! >> 4) * 4;
  return {
    dstMac: bytesToMac(b.subarray(0, 6)),
    srcMac: bytesToMac(b.subarray(6, 12)),
    srcIp: bytesToIpv4(ip.subarray(12, 16)),
    dstIp: bytesToIpv4(ip.subarray(16, 20)),
    ttl: ip[8]!,
    srcPort: tcp.readUInt16BE(0),
    dstPort: tcp.readUInt16BE(2),
    seq: tcp.readUInt32BE(4),
    ack: tcp.readUInt32BE(8),
    flags: tcp[13]!,
    window: tcp.readUInt16BE(14),
    payload: Buffer.from(tcp.subarray(dataOff)),
    ipChecksumOk: onesComplementSum(ip.subarray(0, ihl)) === 0xffff,
    tcpChecksumOk: onesComplementSum(tcp, pseudoHeaderSum(ip.subarray(12, 16), ip.subarray(16, 20), IPPROTO_TCP, tcp.length)) === 0xffff,
  };
}

/**
 * Finishes the TCP checksum of an Ethernet/IPv4/TCP frame in place: for frames a local stack sent
 * with checksum offload (the field holds only the pseudo-header sum until a NIC would fill it).
 * Returns false when the frame is not IPv4/TCP (left unchanged).
 */
export function finishTcpChecksum(frame: Buffer): boolean {
  if (frame.length < ETH_HEADER_LEN + IPV4_MIN_HEADER_LEN + TCP_MIN_HEADER_LEN || frame.readUInt16BE(12) !== ETHERTYPE_IPV4) return false;
  const ip = frame.subarray(ETH_HEADER_LEN);
  const ihl = (ip[0]! & 0x0f) * 4;
  if (ip[9] !== IPPROTO_TCP || ihl < IPV4_MIN_HEADER_LEN) return false;
  const total = Math.min(ip.readUInt16BE(2), ip.length);
  if (total < ihl + TCP_MIN_HEADER_LEN) return false;
  const tcp = ip.subarray(ihl, total);
  tcp.writeUInt16BE(0, 16);
  tcp.writeUInt16BE(internetChecksum(tcp, pseudoHeaderSum(ip.subarray(12, 16), ip.subarray(16, 20), IPPROTO_TCP, tcp.length)), 16);
  return true;
}
