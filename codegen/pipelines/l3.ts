/**
 * A plain IPv4 router with an ACL: proves the IR and its emitters are not specific to prism.
 * No controller headers, no TCP, a ternary table.
 */
import { ETHERTYPE_IPV4 } from '../../core/header/ethernet.js';
import { action, apply, assign, drop, f, forward, ifValid, param } from '../builder.js';
import { P4_ID_PREFIX, p4Id, type Pipeline } from '../ir.js';
import { PORT_BITS, ethernet, ipv4 } from './headers.js';

const A = (n: number): number => p4Id(P4_ID_PREFIX.action, n);
const T = (n: number): number => p4Id(P4_ID_PREFIX.table, n);

export const l3Pipeline: Pipeline = {
  name: 'l3',
  ingressName: 'RouterIngress',
  headers: [ethernet, ipv4],
  parser: [
    {
      name: 'start',
      extract: 'ethernet',
      select: { on: { kind: 'field', ref: f('ethernet.ether_type') }, cases: [{ value: BigInt(ETHERTYPE_IPV4), next: 'parse_ipv4' }], default: 'accept' },
    },
    { name: 'parse_ipv4', extract: 'ipv4' },
  ],
  actions: [
    action('nop', A(1), {}, []),
    action('deny', A(2), {}, [drop()]),
    action('no_route', A(4), {}, [drop()]),
    action('route', A(3), { port: PORT_BITS, src_mac: 48, dst_mac: 48 }, [
      assign('ethernet.src_addr', param('src_mac')),
      assign('ethernet.dst_addr', param('dst_mac')),
      forward(param('port')),
    ]),
  ],
  tables: [
    {
      name: 'acl',
      id: T(1),
      keys: [
        { field: f('ipv4.src_addr'), match: 'ternary' },
        { field: f('ipv4.dst_addr'), match: 'ternary' },
      ],
      actions: ['deny', 'nop'],
      defaultAction: { action: 'nop', args: [] },
      constDefault: true,
      size: 64,
    },
    {
      name: 'routes',
      id: T(2),
      keys: [{ field: f('ipv4.dst_addr'), match: 'lpm' }],
      actions: ['route', 'no_route'],
      defaultAction: { action: 'no_route', args: [] },
      constDefault: false,
      size: 1024,
      directCounterId: p4Id(P4_ID_PREFIX.directCounter, 1),
    },
  ],
  // An ACL hit (deny) drops the packet; everything else is routed.
  ingress: [ifValid('ipv4', [apply('acl', { miss: [apply('routes')] })])],
  controllerHeaderIds: {},
};
