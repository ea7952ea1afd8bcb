/**
 * The controller's P4Runtime client and the packet vectors against BMv2 (simple_switch_grpc) with
 * the p4c-compiled v1model program, where both are on PATH. BMv2 and p4c are packaged neither
 * for Debian nor npm (see docs/codegen.md for building them); without them this file prints that
 * it skipped and why.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bmv2DeviceConfig } from '../../controller/p4rt/device-config.js';
import { P4RuntimeClient } from '../../controller/p4rt/client.js';
import { PacketSocket } from '../../native/packet.js';
import { Topology, isRoot, type Host } from '../../netns/index.js';
import { decodeMessage } from '../../core/proto.js';
import { REPO } from '../helpers/ebpf.js';
import { VECTOR_PORTS, pipelineVectors } from '../vectors/pipeline-vectors.js';

const missing = ['p4c', 'simple_switch_grpc'].filter((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status !== 0);
const reason = missing.length > 0 ? `${missing.join(' and ')} not on PATH (see docs/codegen.md to build them)` : !isRoot() ? 'needs root for namespaces' : null;
if (reason) console.warn(`[skip] BMv2 tests: ${reason}`);

describe.skipIf(reason)('BMv2: the client and the packet vectors on simple_switch_grpc', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prism-bmv2-'));
  const topo = new Topology();
  let bmv2: ChildProcess;
  let sw: Host;
  let client: P4RuntimeClient;
  let peer: Host;
  const sock = join(dir, 'p4runtime.sock');
  const ports = [1, 2, 3];

  beforeAll(async () => {
    execFileSync('p4c', ['--target', 'bmv2', '--arch', 'v1model', `-DCPU_PORT=${VECTOR_PORTS.cpu}`, '-o', dir, '--p4runtime-files', join(dir, 'p4info.bin'), join(REPO, 'p4', 'v1model', 'prism.p4')]);
    sw = await topo.addHost('bmv2');
    const peerHost = await topo.addHost('peer');
    for (const p of ports) await topo.link(sw, peerHost, { ifnameA: `s${p}`, ifnameB: `h${p}` });
    // gRPC over a unix socket: BMv2 runs in the switch namespace, and a unix socket (a file) is
    // reachable from this process's namespace where 127.0.0.1 in another namespace is not.
    const args = ['--no-p4', '--device-id', '1', ...ports.flatMap((p) => ['-i', `${p}@s${p}`]), '--', '--grpc-server-addr', `unix:${sock}`, '--cpu-port', String(VECTOR_PORTS.cpu)];
    bmv2 = spawn('ip', ['netns', 'exec', sw.netns, 'simple_switch_grpc', ...args], { stdio: 'ignore' });
    for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    peer = peerHost;
  });

  afterAll(async () => {
    await client?.close();
    bmv2?.kill('SIGTERM');
    await topo.teardown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pushes the p4c JSON and P4Info, then forwards the l3 vector', async () => {
    client = await P4RuntimeClient.connect(`unix:${sock}`, { deviceId: 1, electionId: 1 });
    const p4info = decodeMessage<Record<string, unknown>>('p4.config.v1.P4Info', readFileSync(join(dir, 'p4info.bin')));
    await client.setPipeline({ p4info: p4info as never, deviceConfig: bmv2DeviceConfig(readFileSync(join(dir, 'prism.json'))) });
    const v = pipelineVectors().find((x) => x.name.startsWith('l3: longest prefix'))!;
    for (const e of v.entries) {
      const match = Object.fromEntries(
        Object.entries(e.match).map(([k, m]) => [k, 'exact' in m ? m.exact : 'lpm' in m ? { value: m.lpm, prefixLen: m.prefixLen } : { value: m.ternary, mask: m.mask }]),
      );
      await client.insert({ table: e.table, match: match as never, action: e.action, params: e.params as never });
    }
    if (!('port' in v.expect)) throw new Error('vector must forward');
    const out = PacketSocket.open(`h${v.expect.port}`, { netns: peer.netns });
    const inp = PacketSocket.open(`h${v.ingressPort}`, { netns: peer.netns });
    const got: Buffer[] = [];
    out.onFrames((f) => got.push(...f));
    try {
      inp.send(v.input);
      await new Promise((r) => setTimeout(r, 500));
      expect(got.some((f) => f.equals((v.expect as { output: Buffer }).output))).toBe(true);
    } finally {
      out.close();
      inp.close();
    }
  });
});
