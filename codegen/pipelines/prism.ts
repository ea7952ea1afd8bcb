/**
 * The prism pipeline (ARCHITECTURE section 5).
 *
 * - `handoff_in`: a client segment of a handed-off connection goes to its backend (dst IP/MAC rewritten).
 * - `handoff_out`: the backend's segment goes to the client as if from the VIP (src IP/MAC rewritten;
 *   optionally the window forced to zero and RSTs dropped).
 * - `vip`: anything else addressed to a VIP goes to the controller, which owns the connection.
 * - `l3`: ordinary forwarding for everything else. ARP goes to the controller.
 */
import { ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../../core/header/ethernet.js';
import { IPPROTO_TCP, IPV4_IHL_NO_OPTIONS } from '../../core/header/ipv4.js';
import {
  action,
  apply,
  assign,
  call,
  clearTcpFlag,
  drop,
  exit,
  f,
  fieldValue,
  forward,
  ifValid,
  konst,
  param,
  paramSet,
  setTcpWindow,
  tcpFlagSet,
  toController,
  when,
} from '../builder.js';
import { P4_ID_PREFIX, p4Id, type Pipeline } from '../ir.js';
import { PORT_BITS, arp, ethernet, ipv4, packetIn, packetOut, tcp } from './headers.js';

/** Table sizes, all in one place. */
export const PRISM_TABLE_SIZES = {
  handoff_in: 65536,
  handoff_out: 65536,
  vip: 256,
  l3: 1024,
} as const;

const CHECKSUMMED = ['ipv4', 'tcp'];
const A = (n: number): number => p4Id(P4_ID_PREFIX.action, n);
const T = (n: number): number => p4Id(P4_ID_PREFIX.table, n);

export const prismPipeline: Pipeline = {
  name: 'prism',
  ingressName: 'MyIngress',
  headers: [packetIn, packetOut, ethernet, arp, ipv4, tcp],
  parser: [
    {
      name: 'start',
      select: { on: { kind: 'ingressPortIsCpu' }, cases: [{ value: 1n, next: 'parse_packet_out' }], default: 'parse_ethernet' },
    },
    { name: 'parse_packet_out', extract: 'packet_out', next: 'parse_ethernet' },
    {
      name: 'parse_ethernet',
      extract: 'ethernet',
      select: {
        on: { kind: 'field', ref: f('ethernet.ether_type') },
        cases: [
          { value: BigInt(ETHERTYPE_IPV4), next: 'parse_ipv4' },
          { value: BigInt(ETHERTYPE_ARP), next: 'parse_arp' },
        ],
        default: 'accept',
      },
    },
    { name: 'parse_arp', extract: 'arp' },
    {
      name: 'parse_ipv4',
      extract: 'ipv4',
      // Only option-less, unfragmented IPv4 carries a TCP header we rewrite.
      select: { on: { kind: 'field', ref: f('ipv4.ihl') }, cases: [{ value: BigInt(IPV4_IHL_NO_OPTIONS), next: 'parse_ipv4_unfragmented' }], default: 'accept' },
    },
    {
      name: 'parse_ipv4_unfragmented',
      select: { on: { kind: 'field', ref: f('ipv4.frag_offset') }, cases: [{ value: 0n, next: 'parse_ipv4_protocol' }], default: 'accept' },
    },
    {
      name: 'parse_ipv4_protocol',
      select: { on: { kind: 'field', ref: f('ipv4.protocol') }, cases: [{ value: BigInt(IPPROTO_TCP), next: 'parse_tcp' }], default: 'accept' },
    },
    { name: 'parse_tcp', extract: 'tcp' },
  ],
  actions: [
    action('nop', A(1), {}, []),
    // Misses of the counted hand-off tables have their own actions: TNA counts inside actions.
    action('no_handoff_in', A(8), {}, []),
    action('no_handoff_out', A(9), {}, []),
    action('drop', A(2), {}, [drop()]),
    action('to_controller', A(3), {}, [toController()]),
    action('send_packet_out', A(4), {}, [forward(fieldValue('packet_out.egress_port'))]),
    action(
      'to_backend',
      A(5),
      { backend_ip: 32, backend_mac: 48, port: PORT_BITS, clear_fin: 1 },
      [
        assign('ipv4.dst_addr', param('backend_ip')),
        assign('ethernet.dst_addr', param('backend_mac')),
        forward(param('port')),
        when(paramSet('clear_fin'), clearTcpFlag('fin')),
      ],
      CHECKSUMMED,
    ),
    action(
      'from_backend',
      A(6),
      { vip: 32, vip_mac: 48, client_mac: 48, port: PORT_BITS, zero_window: 1, drop_rst: 1 },
      [
        assign('ipv4.src_addr', param('vip')),
        assign('ethernet.src_addr', param('vip_mac')),
        assign('ethernet.dst_addr', param('client_mac')),
        forward(param('port')),
        when(paramSet('zero_window'), setTcpWindow(konst(0))),
        when(paramSet('drop_rst'), when(tcpFlagSet('rst'), drop())),
      ],
      CHECKSUMMED,
    ),
    action('route', A(7), { port: PORT_BITS, src_mac: 48, dst_mac: 48 }, [
      assign('ethernet.src_addr', param('src_mac')),
      assign('ethernet.dst_addr', param('dst_mac')),
      forward(param('port')),
    ]),
  ],
  tables: [
    {
      name: 'handoff_in',
      id: T(1),
      keys: [
        { field: f('ipv4.src_addr'), match: 'exact' },
        { field: f('ipv4.dst_addr'), match: 'exact' },
        { field: f('tcp.src_port'), match: 'exact' },
        { field: f('tcp.dst_port'), match: 'exact' },
      ],
      actions: ['to_backend', 'no_handoff_in'],
      defaultAction: { action: 'no_handoff_in', args: [] },
      constDefault: true,
      size: PRISM_TABLE_SIZES.handoff_in,
      directCounterId: p4Id(P4_ID_PREFIX.directCounter, 1),
    },
    {
      name: 'handoff_out',
      id: T(2),
      keys: [
        { field: f('ipv4.src_addr'), match: 'exact' },
        { field: f('ipv4.dst_addr'), match: 'exact' },
        { field: f('tcp.src_port'), match: 'exact' },
        { field: f('tcp.dst_port'), match: 'exact' },
      ],
      actions: ['from_backend', 'no_handoff_out'],
      defaultAction: { action: 'no_handoff_out', args: [] },
      constDefault: true,
      size: PRISM_TABLE_SIZES.handoff_out,
      directCounterId: p4Id(P4_ID_PREFIX.directCounter, 2),
    },
    {
      name: 'vip',
      id: T(3),
      keys: [
        { field: f('ipv4.dst_addr'), match: 'exact' },
        { field: f('tcp.dst_port'), match: 'exact' },
      ],
      actions: ['to_controller', 'nop'],
      defaultAction: { action: 'nop', args: [] },
      constDefault: true,
      size: PRISM_TABLE_SIZES.vip,
    },
    {
      name: 'l3',
      id: T(4),
      keys: [{ field: f('ipv4.dst_addr'), match: 'lpm' }],
      actions: ['route', 'drop'],
      defaultAction: { action: 'drop', args: [] },
      constDefault: false,
      size: PRISM_TABLE_SIZES.l3,
    },
  ],
  ingress: [
    ifValid('packet_out', [call('send_packet_out'), exit()]),
    ifValid('arp', [call('to_controller'), exit()]),
    ifValid('tcp', [
      apply('handoff_in', {
        hit: [exit()],
        miss: [apply('handoff_out', { hit: [exit()], miss: [apply('vip', { hit: [exit()] })] })],
      }),
    ]),
    ifValid('ipv4', [apply('l3')]),
  ],
  checksums: {
    ipv4: { header: 'ipv4', field: 'hdr_checksum' },
    tcp: { header: 'tcp', field: 'checksum' },
  },
  controllerHeaderIds: {
    packet_in: p4Id(P4_ID_PREFIX.controllerHeader, 1),
    packet_out: p4Id(P4_ID_PREFIX.controllerHeader, 2),
  },
};
