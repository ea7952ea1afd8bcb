/**
 * The whole prism stack for integration tests, in one process: hosts in namespaces around the
 * embedded switch (real eBPF, real CPU port), the switch's P4Runtime server, and the controller
 * connected to it over gRPC. `close()` removes everything, also after a failed start.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, type RouteSpec } from '../../controller/controller.js';
import { decodeMessage } from '../../core/proto.js';
import { CpuPort } from '../../dataplane/cpu-port.js';
import { buildStarHosts, type StarHost, type StarHostSpec } from '../../dataplane/ebpf-topology.js';
import { EmbeddedSwitch } from '../../dataplane/p4rt-server.js';
import { Topology, type Host } from '../../netns/index.js';
import { compileGenerated, REPO } from './ebpf.js';

export const VIP = { ip: '10.0.0.100', port: 80, mac: '02:00:00:00:00:fe' };
export const CPU_PORT = 64;

export interface Stack {
  readonly topo: Topology;
  readonly sw: EmbeddedSwitch;
  readonly controller: Controller;
  readonly hosts: ReadonlyMap<string, StarHost>;
  readonly switchHost: Host;
  close(): Promise<void>;
}

export async function startStack(hostSpecs: readonly StarHostSpec[]): Promise<Stack> {
  const obj = compileGenerated('prism');
  const topo = new Topology();
  let sw: EmbeddedSwitch | undefined;
  let controller: Controller | undefined;
  const close = async (): Promise<void> => {
    await controller?.stop();
    await sw?.stop();
    await topo.teardown();
    obj.cleanup();
  };
  try {
    const { sw: swHost, hosts } = await buildStarHosts(topo, hostSpecs);
    const cpu = await CpuPort.create({ netns: swHost.netns });
    sw = await EmbeddedSwitch.start({
      grpcAddr: '127.0.0.1:0',
      deviceId: 1n,
      cpuPort: CPU_PORT,
      netns: swHost.netns,
      ports: hostSpecs.map((h) => ({ port: h.port, ifname: `p${h.port}` })),
      packetIo: cpu,
    });
    const routes: RouteSpec[] = [...hosts.values()].map((h) => ({ prefix: `${h.spec.ip}/32`, port: h.spec.port, srcMac: h.switchMac, dstMac: h.mac }));
    controller = await Controller.start({
      switchAddress: sw.address,
      deviceId: 1n,
      electionId: 1n,
      p4info: decodeMessage('p4.config.v1.P4Info', readFileSync(join(REPO, 'p4', 'p4info', 'prism.p4info.bin'))),
      deviceConfig: readFileSync(obj.path),
      vips: [VIP],
      routes,
    });
    return { topo, sw, controller, hosts, switchHost: swHost, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** TCP counters of a host's kernel (nstat -az), by name. */
export async function tcpCounters(host: Host): Promise<Record<string, number>> {
  const r = await host.exec(['nstat', '-az']);
  const out: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+)\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}
