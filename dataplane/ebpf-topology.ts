/**
 * A star topology around the eBPF switch: one namespace per host, a switch namespace, one veth
 * per host (host `eth0` ↔ switch `p<port>`), the generated program attached at every switch
 * port's tc ingress, and l3 routes so hosts reach each other through the data plane.
 * Used by the demo, the tests and later `prism topo up`.
 *
 * Invariant: `close()` detaches the program, closes the BPF object and removes every namespace,
 * interface and process, also when setup failed halfway.
 */
import { ipv4ToBytes } from '../core/header/addr.js';
import { toFieldBytes } from '../core/p4-values.js';
import type { Pipeline } from '../codegen/ir.js';
import { pipelineLayouts } from '../codegen/emit-ebpf.js';
import { Host, Topology } from '../netns/index.js';
import { EbpfDataplane } from './ebpf-dataplane.js';
import type { FieldMatchValue } from './ebpf-entries.js';

export interface StarHostSpec {
  readonly name: string;
  readonly ip: string;
  readonly port: number;
}

export interface StarHost {
  readonly spec: StarHostSpec;
  readonly host: Host;
  readonly mac: string;
  /** MAC of the switch port facing this host. */
  readonly switchMac: string;
}

export interface StarTopology {
  readonly topo: Topology;
  readonly dataplane: EbpfDataplane;
  readonly switchHost: Host;
  readonly hosts: ReadonlyMap<string, StarHost>;
  close(): Promise<void>;
}

export const STAR_PREFIX_LEN = 24;

/**
 * Hosts around a switch namespace, without a data plane: namespaces, veths (host `eth0` ↔ switch
 * `p<port>`), addresses and static neighbours pointing at the switch ports.
 */
export async function buildStarHosts(topo: Topology, specs: readonly StarHostSpec[]): Promise<{ sw: Host; hosts: Map<string, StarHost> }> {
  const sw = await topo.addHost('sw');
  await ipv4Only(sw);
  const hosts = new Map<string, StarHost>();
  for (const h of specs) {
    const host = await topo.addHost(h.name);
    await ipv4Only(host);
    const link = await topo.link(host, sw, { ifnameA: 'eth0', ifnameB: `p${h.port}` });
    await host.addAddress('eth0', `${h.ip}/${STAR_PREFIX_LEN}`);
    hosts.set(h.name, { spec: h, host, mac: link.a.mac, switchMac: link.b.mac });
  }
  // Every host resolves every other host to the switch port it is attached to: the data plane routes.
  for (const a of hosts.values()) {
    for (const b of hosts.values()) {
      if (a !== b) await a.host.addNeighbor(b.spec.ip, a.switchMac, 'eth0');
    }
  }
  return { sw, hosts };
}

/**
 * The pipelines are IPv4 only: without IPv6 the hosts send no router solicitations or neighbour
 * discovery that the switch would count as drops. Set before the links exist, so they inherit it.
 */
async function ipv4Only(host: Host): Promise<void> {
  await host.sysctl('net.ipv6.conf.all.disable_ipv6', '1');
  await host.sysctl('net.ipv6.conf.default.disable_ipv6', '1');
}

/** Builds the topology with the eBPF data plane loaded directly (no P4Runtime); on failure everything built so far is removed. */
export async function startStarTopology(opts: {
  readonly pipeline: Pipeline;
  readonly objectPath: string;
  readonly hosts: readonly StarHostSpec[];
  readonly cpuPort?: number;
  readonly runId?: string;
}): Promise<StarTopology> {
  const topo = new Topology(opts.runId ? { runId: opts.runId } : {});
  let dp: EbpfDataplane | undefined;
  const close = async (): Promise<void> => {
    dp?.close();
    dp = undefined;
    await topo.teardown();
  };
  try {
    const { sw, hosts } = await buildStarHosts(topo, opts.hosts);
    dp = EbpfDataplane.load(opts.objectPath, pipelineLayouts(opts.pipeline));
    if (opts.cpuPort !== undefined) dp.setCpuPort(opts.cpuPort);
    for (const h of hosts.values()) {
      dp.attach(h.spec.port, `p${h.spec.port}`, sw.netns);
      addRoute(dp, opts.pipeline, h);
    }
    const dataplane = dp;
    return { topo, dataplane, switchHost: sw, hosts, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** An l3 /32 route to a host: out of its switch port, with its MAC. */
function addRoute(dp: EbpfDataplane, p: Pipeline, h: StarHost): void {
  const l3 = p.tables.find((t) => t.keys.length === 1 && t.keys[0]!.match === 'lpm');
  if (!l3) throw new Error(`pipeline ${p.name} has no lpm routing table`);
  const layout = dp.layout(l3.name);
  const route = layout.actions.find((a) => a.name === 'route');
  if (!route) throw new Error(`table ${l3.name} has no route action`);
  const match = new Map<string, FieldMatchValue>([[layout.keyFields[0]!.name, { kind: 'lpm', value: ipv4ToBytes(h.spec.ip), prefixLen: 32 }]]);
  const values: Record<string, string | number> = { port: h.spec.port, src_mac: h.switchMac, dst_mac: h.mac };
  dp.writeEntry(l3.name, match, {
    actionId: route.id,
    params: route.params.map((x) => toFieldBytes(values[x.name] ?? 0, x.bits, x.name)),
  });
}
