/**
 * Packet test vectors for the generated pipelines, as data: the table entries to install, the
 * frame and the port it arrives on, and the frame and port expected (or a drop). The same table
 * drives the eBPF target (BPF_PROG_TEST_RUN) and, where BMv2 is installed, simple_switch_grpc.
 * Expected frames are built here with their checksums computed in TypeScript
 * (core/header/frame.ts), independently of any data plane.
 */
import { buildArpFrame, buildTcpFrame, ethernetHeader, type TcpFrameSpec } from '../../core/header/frame.js';
import { ARP_OP_REQUEST } from '../../core/header/arp.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../core/header/tcp.js';
import type { P4Value } from '../../core/p4-values.js';

export type MatchValueSpec =
  | { readonly exact: P4Value }
  | { readonly lpm: P4Value; readonly prefixLen: number }
  | { readonly ternary: P4Value; readonly mask: P4Value };

export interface EntrySpec {
  readonly table: string;
  readonly match: Readonly<Record<string, MatchValueSpec>>;
  readonly action: string;
  readonly params: Readonly<Record<string, P4Value>>;
  readonly priority?: number;
}

export interface PacketVector {
  readonly name: string;
  readonly pipeline: 'prism' | 'l3';
  readonly entries: readonly EntrySpec[];
  readonly ingressPort: number;
  readonly input: Buffer;
  /** Expected result: a frame on a port, or a drop. */
  readonly expect: { readonly port: number; readonly output: Buffer } | { readonly drop: true };
}

/** The ports and the CPU port the vectors use. */
export const VECTOR_PORTS = { client: 1, backend: 2, other: 3, cpu: 64 } as const;

const CLIENT = { mac: '02:00:00:00:00:01', ip: '10.0.0.1', port: 40000 };
const VIP = { mac: '02:00:00:00:00:fe', ip: '10.0.0.100', port: 80 };
const BACKEND = { mac: '02:00:00:00:01:02', ip: '10.0.1.2', port: 80 };
const SWITCH_MAC = '02:00:00:00:00:aa';

const clientToVip = (extra: Partial<TcpFrameSpec> = {}): TcpFrameSpec => ({
  srcMac: CLIENT.mac,
  dstMac: VIP.mac,
  srcIp: CLIENT.ip,
  dstIp: VIP.ip,
  srcPort: CLIENT.port,
  dstPort: VIP.port,
  seq: 0x11223344,
  ack: 0x55667788,
  flags: TCP_ACK | TCP_PSH,
  window: 502,
  payload: Buffer.from('GET /bytes/1024 HTTP/1.1\r\nHost: vip\r\n\r\n'),
  // A timestamp option, as Linux sends: NOP NOP TS(10)
  options: Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
  ...extra,
});

const backendToClient = (extra: Partial<TcpFrameSpec> = {}): TcpFrameSpec => ({
  srcMac: BACKEND.mac,
  dstMac: SWITCH_MAC,
  srcIp: BACKEND.ip,
  dstIp: CLIENT.ip,
  srcPort: BACKEND.port,
  dstPort: CLIENT.port,
  seq: 0x0a0b0c0d,
  ack: 0x11223390,
  flags: TCP_ACK | TCP_PSH,
  window: 1024,
  payload: Buffer.alloc(1400, 0x5a),
  ...extra,
});

const handoffIn = (clearFin: number): EntrySpec => ({
  table: 'handoff_in',
  match: {
    'hdr.ipv4.src_addr': { exact: CLIENT.ip },
    'hdr.ipv4.dst_addr': { exact: VIP.ip },
    'hdr.tcp.src_port': { exact: CLIENT.port },
    'hdr.tcp.dst_port': { exact: VIP.port },
  },
  action: 'to_backend',
  params: { backend_ip: BACKEND.ip, backend_mac: BACKEND.mac, port: VECTOR_PORTS.backend, clear_fin: clearFin },
});

const handoffOut = (zeroWindow: number, dropRst: number): EntrySpec => ({
  table: 'handoff_out',
  match: {
    'hdr.ipv4.src_addr': { exact: BACKEND.ip },
    'hdr.ipv4.dst_addr': { exact: CLIENT.ip },
    'hdr.tcp.src_port': { exact: BACKEND.port },
    'hdr.tcp.dst_port': { exact: CLIENT.port },
  },
  action: 'from_backend',
  params: { vip: VIP.ip, vip_mac: VIP.mac, client_mac: CLIENT.mac, port: VECTOR_PORTS.client, zero_window: zeroWindow, drop_rst: dropRst },
});

const vipEntry: EntrySpec = {
  table: 'vip',
  match: { 'hdr.ipv4.dst_addr': { exact: VIP.ip }, 'hdr.tcp.dst_port': { exact: VIP.port } },
  action: 'to_controller',
  params: {},
};

const route = (prefix: string, len: number, port: number, dstMac: string): EntrySpec => ({
  table: 'l3',
  match: { 'hdr.ipv4.dst_addr': { lpm: prefix, prefixLen: len } },
  action: 'route',
  params: { port, src_mac: SWITCH_MAC, dst_mac: dstMac },
});

/** packet_in / packet_out: a 9-bit port then 7 bits of padding. */
export function controllerHeader(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE((port & 0x1ff) << 7);
  return b;
}

function prismVectors(): PacketVector[] {
  const v: PacketVector[] = [];
  const req = buildTcpFrame(clientToVip());
  v.push({
    name: 'handoff_in: client segment rewritten to the backend (dst IP, dst MAC, checksums)',
    pipeline: 'prism',
    entries: [handoffIn(0), vipEntry],
    ingressPort: VECTOR_PORTS.client,
    input: req,
    expect: { port: VECTOR_PORTS.backend, output: buildTcpFrame(clientToVip({ dstIp: BACKEND.ip, dstMac: BACKEND.mac })) },
  });
  v.push({
    name: 'handoff_in with clear_fin: FIN cleared on the way to the backend',
    pipeline: 'prism',
    entries: [handoffIn(1)],
    ingressPort: VECTOR_PORTS.client,
    input: buildTcpFrame(clientToVip({ flags: TCP_ACK | TCP_FIN, payload: Buffer.alloc(0) })),
    expect: {
      port: VECTOR_PORTS.backend,
      output: buildTcpFrame(clientToVip({ flags: TCP_ACK, payload: Buffer.alloc(0), dstIp: BACKEND.ip, dstMac: BACKEND.mac })),
    },
  });
  v.push({
    name: 'handoff_in without clear_fin: FIN kept',
    pipeline: 'prism',
    entries: [handoffIn(0)],
    ingressPort: VECTOR_PORTS.client,
    input: buildTcpFrame(clientToVip({ flags: TCP_ACK | TCP_FIN, payload: Buffer.alloc(0) })),
    expect: {
      port: VECTOR_PORTS.backend,
      output: buildTcpFrame(clientToVip({ flags: TCP_ACK | TCP_FIN, payload: Buffer.alloc(0), dstIp: BACKEND.ip, dstMac: BACKEND.mac })),
    },
  });
  v.push({
    name: 'handoff_out: backend segment sent to the client as from the VIP',
    pipeline: 'prism',
    entries: [handoffOut(0, 0)],
    ingressPort: VECTOR_PORTS.backend,
    input: buildTcpFrame(backendToClient()),
    expect: { port: VECTOR_PORTS.client, output: buildTcpFrame(backendToClient({ srcIp: VIP.ip, srcMac: VIP.mac, dstMac: CLIENT.mac })) },
  });
  v.push({
    name: 'handoff_out with zero_window: advertised window forced to 0',
    pipeline: 'prism',
    entries: [handoffOut(1, 0)],
    ingressPort: VECTOR_PORTS.backend,
    input: buildTcpFrame(backendToClient()),
    expect: {
      port: VECTOR_PORTS.client,
      output: buildTcpFrame(backendToClient({ srcIp: VIP.ip, srcMac: VIP.mac, dstMac: CLIENT.mac, window: 0 })),
    },
  });
  v.push({
    name: 'handoff_out with drop_rst: a backend RST is dropped',
    pipeline: 'prism',
    entries: [handoffOut(0, 1)],
    ingressPort: VECTOR_PORTS.backend,
    input: buildTcpFrame(backendToClient({ flags: TCP_RST | TCP_ACK, payload: Buffer.alloc(0) })),
    expect: { drop: true },
  });
  v.push({
    name: 'handoff_out with drop_rst: a non-RST segment still passes',
    pipeline: 'prism',
    entries: [handoffOut(0, 1)],
    ingressPort: VECTOR_PORTS.backend,
    input: buildTcpFrame(backendToClient({ payload: Buffer.alloc(0) })),
    expect: {
      port: VECTOR_PORTS.client,
      output: buildTcpFrame(backendToClient({ payload: Buffer.alloc(0), srcIp: VIP.ip, srcMac: VIP.mac, dstMac: CLIENT.mac })),
    },
  });
  const syn = buildTcpFrame(clientToVip({ flags: TCP_SYN, payload: Buffer.alloc(0), ack: 0 }));
  v.push({
    name: 'vip: a SYN to the VIP goes to the controller with packet_in(ingress port)',
    pipeline: 'prism',
    entries: [vipEntry],
    ingressPort: VECTOR_PORTS.client,
    input: syn,
    expect: { port: VECTOR_PORTS.cpu, output: Buffer.concat([controllerHeader(VECTOR_PORTS.client), syn]) },
  });
  const arp = buildArpFrame({ op: ARP_OP_REQUEST, senderMac: CLIENT.mac, senderIp: CLIENT.ip, targetMac: '00:00:00:00:00:00', targetIp: VIP.ip, ethDst: 'ff:ff:ff:ff:ff:ff' });
  v.push({
    name: 'ARP goes to the controller',
    pipeline: 'prism',
    entries: [],
    ingressPort: VECTOR_PORTS.backend,
    input: arp,
    expect: { port: VECTOR_PORTS.cpu, output: Buffer.concat([controllerHeader(VECTOR_PORTS.backend), arp]) },
  });
  const synAck = buildTcpFrame(backendToClient({ srcIp: VIP.ip, srcMac: VIP.mac, dstMac: CLIENT.mac, flags: TCP_SYN | TCP_ACK, payload: Buffer.alloc(0) }));
  v.push({
    name: 'packet_out: a controller frame leaves on the port it names, header removed',
    pipeline: 'prism',
    entries: [],
    ingressPort: VECTOR_PORTS.cpu,
    input: Buffer.concat([controllerHeader(VECTOR_PORTS.client), synAck]),
    expect: { port: VECTOR_PORTS.client, output: synAck },
  });
  const toOther = buildTcpFrame(clientToVip({ dstIp: '192.168.7.9', dstMac: SWITCH_MAC }));
  v.push({
    name: 'l3: longest prefix wins and MACs are rewritten',
    pipeline: 'prism',
    entries: [route('192.168.0.0', 16, VECTOR_PORTS.backend, '02:00:00:00:09:09'), route('192.168.7.0', 24, VECTOR_PORTS.other, '02:00:00:00:07:07')],
    ingressPort: VECTOR_PORTS.client,
    input: toOther,
    expect: { port: VECTOR_PORTS.other, output: buildTcpFrame(clientToVip({ dstIp: '192.168.7.9', srcMac: SWITCH_MAC, dstMac: '02:00:00:00:07:07' })) },
  });
  v.push({
    name: 'l3: a miss runs the default action (drop)',
    pipeline: 'prism',
    entries: [route('192.168.0.0', 16, VECTOR_PORTS.backend, '02:00:00:00:09:09')],
    ingressPort: VECTOR_PORTS.client,
    input: buildTcpFrame(clientToVip({ dstIp: '172.16.0.1' })),
    expect: { drop: true },
  });
  v.push({
    name: 'a frame that is neither IPv4 nor ARP has no egress port and is dropped',
    pipeline: 'prism',
    entries: [],
    ingressPort: VECTOR_PORTS.client,
    input: Buffer.concat([ethernetHeader('33:33:00:00:00:01', CLIENT.mac, 0x86dd), Buffer.alloc(60)]),
    expect: { drop: true },
  });
  v.push({
    name: 'a truncated TCP header stops the parser; the packet is routed on what parsed',
    pipeline: 'prism',
    entries: [vipEntry, route('10.0.0.0', 24, VECTOR_PORTS.other, '02:00:00:00:07:07')],
    ingressPort: VECTOR_PORTS.client,
    input: req.subarray(0, 14 + 20 + 10),
    expect: {
      port: VECTOR_PORTS.other,
      output: Buffer.concat([ethernetHeader('02:00:00:00:07:07', SWITCH_MAC, 0x0800), req.subarray(14, 14 + 20 + 10)]),
    },
  });
  return v;
}

function l3Vectors(): PacketVector[] {
  const routes: EntrySpec[] = [
    { table: 'routes', match: { 'hdr.ipv4.dst_addr': { lpm: '10.0.0.0', prefixLen: 8 } }, action: 'route', params: { port: 2, src_mac: SWITCH_MAC, dst_mac: '02:00:00:00:02:02' } },
    { table: 'routes', match: { 'hdr.ipv4.dst_addr': { lpm: '10.9.0.0', prefixLen: 16 } }, action: 'route', params: { port: 3, src_mac: SWITCH_MAC, dst_mac: '02:00:00:00:03:03' } },
  ];
  const deny: EntrySpec = {
    table: 'acl',
    match: { 'hdr.ipv4.src_addr': { ternary: '10.66.0.0', mask: '255.255.0.0' } },
    action: 'deny',
    params: {},
    priority: 10,
  };
  const pkt = (src: string, dst: string): TcpFrameSpec => ({ ...clientToVip(), srcIp: src, dstIp: dst, dstMac: SWITCH_MAC });
  return [
    {
      name: 'l3 router: lpm /16 beats /8',
      pipeline: 'l3',
      entries: [...routes, deny],
      ingressPort: 1,
      input: buildTcpFrame(pkt('10.1.1.1', '10.9.3.4')),
      expect: { port: 3, output: buildTcpFrame({ ...pkt('10.1.1.1', '10.9.3.4'), srcMac: SWITCH_MAC, dstMac: '02:00:00:00:03:03' }) },
    },
    {
      name: 'l3 router: ternary ACL denies a source prefix',
      pipeline: 'l3',
      entries: [...routes, deny],
      ingressPort: 1,
      input: buildTcpFrame(pkt('10.66.5.5', '10.9.3.4')),
      expect: { drop: true },
    },
    {
      name: 'l3 router: no route, default action drops',
      pipeline: 'l3',
      entries: [...routes],
      ingressPort: 1,
      input: buildTcpFrame(pkt('10.1.1.1', '11.0.0.1')),
      expect: { drop: true },
    },
  ];
}

export function pipelineVectors(): PacketVector[] {
  return [...prismVectors(), ...l3Vectors()];
}
