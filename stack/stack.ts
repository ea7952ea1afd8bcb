/**
 * A whole prism deployment on one Linux machine, from a topology file: a namespace per host
 * around the switch, the switch and its P4Runtime server, the controller (P4Runtime client, TCP
 * endpoint, hand-off), and an agent process in every backend's namespace with the built-in object
 * server. Used by `prism topo up`, `prism demo` and the tests.
 *
 * The switch is the topology's `switch.target`:
 * - `embedded`: prism's eBPF switch in this process (real eBPF, real CPU port veth); the
 *   controller owns the CPU port and writes through the switch's in-process Write channel.
 * - `bmv2`: `simple_switch_grpc` in the switch namespace (stack/bmv2.ts) on the same veth ports,
 *   running p4c's JSON of p4/v1model/prism.p4; everything goes the portable way: rules as
 *   P4Runtime Writes over gRPC, client segments as PacketIn and replies as PacketOut on the
 *   stream (docs/bmv2.md).
 *
 * Invariant: `close()` stops the agents, the controller and the switch, and removes every
 * namespace, interface, process and BPF program, also when start-up failed halfway.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Controller, type RouteSpec } from '../controller/controller.js';
import { HandoffManager, type BackendSpec, type HandoffTimeouts } from '../controller/handoff/handoff-manager.js';
import { PrismError } from '../core/errors.js';
import { decodeMessage } from '../core/proto.js';
import { CpuPort } from '../dataplane/cpu-port.js';
import { buildStarHosts, type StarHost } from '../dataplane/ebpf-topology.js';
import { EmbeddedSwitch } from '../dataplane/p4rt-server.js';
import { Topology, type Host } from '../netns/index.js';
import { bmv2DeviceConfig } from '../controller/p4rt/device-config.js';
import { DrainingRuleWriter, SwitchDrainBarrier } from '../controller/p4rt/drain-barrier.js';
import { Bmv2Switch, bmv2Program, requireBmv2Tools, requireEthtool } from './bmv2.js';
import { createAdminApi, type AdminApi } from '../controller/admin/server.js';
import { LiveAdminTarget } from '../controller/admin/live-target.js';
import { PolicyEngine } from '../controller/policy/engine.js';
import type { TopologyFile } from './topology-file.js';

export interface StackOptions {
  /** Repository root (for build/ebpf, p4/p4info and bin/prism.js). */
  readonly root: string;
  /** The eBPF object to push (default build/ebpf/prism.bpf.o). */
  readonly objectPath?: string;
  readonly progress?: (msg: string) => void;
  readonly timeouts?: Partial<HandoffTimeouts>;
  /** Start agents on the backends (default true). */
  readonly agents?: boolean;
  /** Where the admin API listens (default 127.0.0.1:0, any free port). */
  readonly adminListen?: { readonly host: string; readonly port: number };
  /** The admin API's bearer token (default: generated). */
  readonly adminToken?: string;
  /** Extra `prism agent` arguments, by backend name. */
  readonly agentArgs?: Readonly<Record<string, readonly string[]>>;
}

export interface StackDescription {
  readonly name: string;
  readonly runId: string;
  readonly vip: { readonly ip: string; readonly port: number };
  readonly switch: { readonly target: SwitchTarget; readonly p4runtime: string; readonly namespace: string };
  readonly hosts: readonly { readonly name: string; readonly role: string; readonly namespace: string; readonly ip: string; readonly mac: string; readonly port: number }[];
  readonly agents: readonly { readonly name: string; readonly address: string }[];
  readonly admin: { readonly url: string; readonly dashboard: string; readonly token: string };
}

export type SwitchTarget = TopologyFile['switch']['target'];

/** The stack's switch, whatever its target. */
export interface StackSwitch {
  readonly target: SwitchTarget;
  /** Its P4Runtime server (`host:port`, or `unix:<path>` for BMv2). */
  readonly address: string;
  /** The namespace its ports are in. */
  readonly namespace: string;
  /**
   * The entries of `table` on the switch, counted as the switch reports them: read back over
   * P4Runtime (the controller's client) on every target, so a test checks what BMv2 holds, not
   * what the controller believes.
   */
  entryCount(table: string): Promise<number>;
}

export interface RunningStack {
  readonly topo: Topology;
  readonly switch: StackSwitch;
  /** The embedded switch; reading it on a stack of another target throws PRISM_ERR_INVALID_ARGUMENT. */
  readonly sw: EmbeddedSwitch;
  /** The BMv2 switch, or null on another target. */
  readonly bmv2: Bmv2Switch | null;
  /** The drain barrier the hand-off deletes from-backend rules behind (BMv2), or null. */
  readonly drainBarrier: SwitchDrainBarrier | null;
  readonly controller: Controller;
  readonly handoff: HandoffManager;
  readonly hosts: ReadonlyMap<string, StarHost>;
  readonly agentProcesses: ReadonlyMap<string, ChildProcess>;
  readonly agentToken: string;
  readonly policies: PolicyEngine;
  readonly admin: AdminApi;
  readonly adminUrl: string;
  describe(): StackDescription;
  close(): Promise<void>;
}

export const AGENT_SOCKET_DIR = '/run/prism';

export async function startStack(t: TopologyFile, opts: StackOptions): Promise<RunningStack> {
  const say = opts.progress ?? (() => undefined);
  const target = t.switch.target;
  const objectPath = opts.objectPath ?? join(opts.root, 'build', 'ebpf', 'prism.bpf.o');
  // Before any namespace exists: what is missing is said without building anything.
  if (target === 'embedded' && !existsSync(objectPath)) throw new PrismError('PRISM_ERR_NOT_FOUND', `${objectPath} is missing: run \`npm run build\``);
  if (target === 'bmv2') {
    requireBmv2Tools(['simple_switch_grpc']);
    requireEthtool();
  }
  const bmv2Json = target === 'bmv2' ? bmv2Program(opts.root, t.switch.cpuPort) : null;
  const topo = new Topology();
  const sockDir = join(AGENT_SOCKET_DIR, topo.runId);
  const agentToken = randomBytes(24).toString('base64url');
  let sw: EmbeddedSwitch | undefined;
  let bmv2: Bmv2Switch | undefined;
  let controller: Controller | undefined;
  let handoff: HandoffManager | undefined;
  let admin: AdminApi | undefined;
  const agentProcesses = new Map<string, ChildProcess>();
  const close = async (): Promise<void> => {
    // Let transactions still handing back finish (their rules come out), within a bound.
    if (handoff) await waitFor(() => handoff!.inFlight === 0, 5000, 'transactions to finish').catch(() => undefined);
    await admin?.app.close();
    await handoff?.close();
    await controller?.stop();
    await sw?.stop();
    await bmv2?.stop();
    await topo.teardown(); // also ends the agent processes (and BMv2) in the namespaces
    rmSync(sockDir, { recursive: true, force: true });
  };
  try {
    say(`namespaces: ${t.hosts.length} hosts around the switch`);
    const { sw: swHost, hosts } = await buildStarHosts(topo, t.hosts.map((h) => ({ name: h.name, ip: h.ip, port: h.port })));
    const p4info = decodeMessage('p4.config.v1.P4Info', readFileSync(join(opts.root, 'p4', 'p4info', 'prism.p4info.bin')));
    const routes: RouteSpec[] = [...hosts.values()].map((h) => ({ prefix: `${h.spec.ip}/32`, port: h.spec.port, srcMac: h.switchMac, dstMac: h.mac }));
    const common = { deviceId: 1n, electionId: 1n, p4info, vips: t.vips, routes };
    if (target === 'embedded') {
      const cpu = await CpuPort.create({ netns: swHost.netns });
      sw = await EmbeddedSwitch.start({
        grpcAddr: '127.0.0.1:0',
        deviceId: 1n,
        cpuPort: t.switch.cpuPort,
        netns: swHost.netns,
        ports: t.hosts.map((h) => ({ port: h.port, ifname: `p${h.port}` })),
        packetIo: cpu,
        // The controller runs in this process: it owns the CPU port (no PacketIn/PacketOut stream)
        // and writes rules through the switch's in-process Write channel.
        cpuPortOwner: 'local',
      });
      say(`switch: embedded eBPF target, P4Runtime on ${sw.address}`);
      controller = await Controller.start({ ...common, switchAddress: sw.address, deviceConfig: readFileSync(objectPath), localWrite: sw.localWrite, packetPort: cpu });
    } else {
      // BMv2 reads and writes frames with libpcap on the veths: a frame whose checksum the sending
      // kernel left to the NIC (veth's CHECKSUM_PARTIAL) would reach the other host wrong. Like a
      // NIC on a wire, every host fills its checksums in before the frame leaves.
      for (const h of hosts.values()) await h.host.exec(['ethtool', '-K', 'eth0', 'tx', 'off']);
      mkdirSync(sockDir, { recursive: true });
      bmv2 = await Bmv2Switch.start({ host: swHost, ports: t.hosts.map((h) => ({ port: h.port, ifname: `p${h.port}` })), cpuPort: t.switch.cpuPort, deviceId: 1, dir: sockDir });
      say(`switch: BMv2 simple_switch_grpc (pid ${bmv2.pid ?? '?'}), P4Runtime on ${bmv2.address}, program ${bmv2Json!}`);
      // No localWrite, no packetPort: rules over gRPC Write, packets over the P4Runtime stream.
      controller = await Controller.start({ ...common, switchAddress: bmv2.address, deviceConfig: bmv2DeviceConfig(readFileSync(bmv2Json!)) });
    }
    say(`controller: primary, pipeline pushed, VIP ${t.vips.map((v) => `${v.ip}:${v.port}`).join(', ')}`);

    const policies = new PolicyEngine();
    const policy = await policies.install({ builtin: t.policy.name, ...(t.policy.config ? { config: t.policy.config } : {}) });
    policies.activate(policy.id);
    const backends: BackendSpec[] = [];
    const drainBarrier = target === 'bmv2' ? new SwitchDrainBarrier(controller.client, t.switch.cpuPort) : null;
    const handoffOptions = {
      timeouts: opts.timeouts ?? {},
      engine: policies,
      speculation: t.speculation,
      // BMv2 applies a Write at once but works through the frames it has queued one at a time: a
      // from-backend rule is deleted only after what the backend sent has been through ingress.
      ...(drainBarrier ? { rules: new DrainingRuleWriter(controller.client, drainBarrier) } : {}),
    };
    if (opts.agents ?? true) {
      mkdirSync(sockDir, { recursive: true }); // (exists already on bmv2: its gRPC socket)
      // One object store for all backends (removed with sockDir): what one backend stored through
      // the VIP, the next can serve (docs/object-server.md).
      const storeDir = join(sockDir, 'objects');
      for (const h of t.hosts.filter((x) => x.role === 'backend')) {
        const host = hosts.get(h.name)!;
        const sock = join(sockDir, `${h.name}.sock`);
        const proc = host.host.spawn(
          [process.execPath, join(opts.root, 'bin', 'prism.js'), 'agent', '--name', h.name, '--listen', `unix:${sock}`, '--backend-ip', h.ip, '--store-dir', storeDir, '--vip', ...t.vips.map((v) => `${v.ip}:${v.port}`), ...(opts.agentArgs?.[h.name] ?? [])],
          { env: { ...process.env, PRISM_AGENT_TOKEN: agentToken } },
        );
        agentProcesses.set(h.name, proc);
        await waitForFile(sock, 15_000, () => host.host.stderrTail(proc));
        backends.push({ name: h.name, ip: h.ip, mac: host.mac, port: h.port, agentAddress: `unix:${sock}`, token: agentToken });
      }
      handoff = new HandoffManager(controller, backends, handoffOptions);
      await waitFor(() => handoff!.available().length === backends.length, 10_000, 'agents to connect');
      say(`agents: ${backends.map((b) => b.name).join(', ')} ready`);
    } else {
      handoff = new HandoffManager(controller, [], handoffOptions);
    }
    admin = await createAdminApi({
      target: new LiveAdminTarget({ controller, handoff, policies, defaultAgentToken: agentToken }),
      ...(opts.adminToken ? { token: opts.adminToken } : {}),
      logger: false,
    });
    const listen = opts.adminListen ?? { host: '127.0.0.1', port: 0 };
    const adminUrl = await admin.app.listen({ host: listen.host, port: listen.port });
    say(`admin API: ${adminUrl} (dashboard ${adminUrl}/dashboard)`);
    const runningCtl = controller;
    const runningHandoff = handoff;
    const stackSwitch: StackSwitch = {
      target,
      address: sw?.address ?? bmv2!.address,
      namespace: swHost.netns,
      entryCount: async (table) => (await runningCtl.client.readAll({ table })).length,
    };
    const describe = (): StackDescription => ({
      name: t.name,
      runId: topo.runId,
      vip: { ip: t.vips[0]!.ip, port: t.vips[0]!.port },
      switch: { target, p4runtime: stackSwitch.address, namespace: swHost.netns },
      hosts: t.hosts.map((h) => {
        const s = hosts.get(h.name)!;
        return { name: h.name, role: h.role, namespace: s.host.netns, ip: h.ip, mac: s.mac, port: h.port };
      }),
      agents: backends.map((b) => ({ name: b.name, address: b.agentAddress })),
      admin: { url: adminUrl, dashboard: `${adminUrl}/dashboard`, token: runningAdmin.token },
    });
    const runningAdmin = admin;
    const embedded = sw;
    return {
      topo,
      switch: stackSwitch,
      get sw(): EmbeddedSwitch {
        if (!embedded) throw new PrismError('PRISM_ERR_INVALID_ARGUMENT', `stack ${t.name} runs switch target ${target}, not the embedded switch: use stack.switch`);
        return embedded;
      },
      bmv2: bmv2 ?? null,
      drainBarrier,
      controller: runningCtl,
      handoff: runningHandoff,
      hosts,
      agentProcesses,
      agentToken,
      policies,
      admin: runningAdmin,
      adminUrl,
      describe,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function waitForFile(path: string, ms: number, why: () => string): Promise<void> {
  const t0 = Date.now();
  while (!existsSync(path)) {
    if (Date.now() - t0 > ms) throw new PrismError('PRISM_ERR_TIMEOUT', `${path} did not appear within ${ms} ms: ${why() || 'no output'}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new PrismError('PRISM_ERR_TIMEOUT', `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export type { Host };
