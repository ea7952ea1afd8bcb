/**
 * Benchmarks of the embedded switch (issue 4), one run, printed and saved as JSON:
 * 1. P4Runtime table writes: entries/s for batches of 1, 100 and 1000 (real gRPC to the switch).
 * 2. Per-packet cost of the hand-off rewrite in the kernel, from the BPF run statistics
 *    (run_time_ns / run_cnt) over BPF_PROG_TEST_RUN, for 64-byte and 1500-byte frames.
 * 3. TCP bulk throughput (iperf3) between two namespaces through the switch, beside the same
 *    transfer over a direct veth link.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { pipelineLayouts } from '../codegen/emit-ebpf.js';
import { prismPipeline } from '../codegen/pipelines/index.js';
import { buildTcpFrame } from '../core/header/frame.js';
import { TCP_ACK } from '../core/header/tcp.js';
import { toFieldBytes } from '../core/p4-values.js';
import { decodeMessage, loadGrpcDefinitions } from '../core/proto.js';
import { EbpfDataplane } from '../dataplane/ebpf-dataplane.js';
import { buildStarHosts } from '../dataplane/ebpf-topology.js';
import { EmbeddedSwitch } from '../dataplane/p4rt-server.js';
import { BpfObject, closeFd, enableStats, progStats, progTestRun } from '../native/index.js';
import { Topology } from '../netns/index.js';
import { type BenchContext, type BenchResult } from './bench-context.js';

/** scripts/bpf-cc.mjs, the one clang command line for BPF objects (loaded from the repository at run time). */
type BpfCc = typeof import('../scripts/bpf-cc.mjs');

type Obj = Record<string, any>;

export async function runSwitchBench(ctx: BenchContext): Promise<BenchResult> {
  const objectPath = join(ctx.root, 'build', 'ebpf', 'prism.bpf.o');
  const p4info = decodeMessage<Obj>('p4.config.v1.P4Info', readFileSync(join(ctx.root, 'p4', 'p4info', 'prism.p4info.bin')));
  const results: Record<string, unknown> = {};

  ctx.progress('switch: per-packet cost of the hand-off rewrite (BPF run stats)');
  const bpfCc = (await import(pathToFileURL(join(ctx.root, 'scripts', 'bpf-cc.mjs')).href)) as BpfCc;
  results.perPacket = perPacketCost(objectPath, bpfCc);
  for (const r of results.perPacket as { frameBytes: number; nsPerPacket: number; baselineNs: number; netNsPerPacket: number }[]) {
    ctx.line(`  hand-off rewrite, ${r.frameBytes}-byte frame: ${r.netNsPerPacket.toFixed(1)} ns/packet net (${r.nsPerPacket.toFixed(1)} measured, ${r.baselineNs.toFixed(1)} for an empty program; goal <= 50)`);
  }

  const topo = new Topology();
  try {
    const { sw, hosts } = await buildStarHosts(topo, [
      { name: 'a', ip: '10.0.0.1', port: 1 },
      { name: 'b', ip: '10.0.0.2', port: 2 },
    ]);
    const server = await EmbeddedSwitch.start({ grpcAddr: '127.0.0.1:0', deviceId: 1n, cpuPort: 64, netns: sw.netns, ports: [{ port: 1, ifname: 'p1' }, { port: 2, ifname: 'p2' }] });
    const P4Runtime = loadGrpcDefinitions().p4.v1.P4Runtime;
    const client = new P4Runtime(server.address, grpc.credentials.createInsecure()) as any;
    const stream = client.StreamChannel();
    stream.on('error', () => undefined); // cancelled at the end
    try {
      await new Promise<void>((resolve) => {
        stream.once('data', () => resolve());
        stream.write({ arbitration: { device_id: '1', election_id: { high: '0', low: '1' } } });
      });
      const unary = (m: string, req: Obj): Promise<Obj> => new Promise((res, rej) => client[m](req, (e: Error | null, r: Obj) => (e ? rej(e) : res(r))));
      await unary('SetForwardingPipelineConfig', { device_id: '1', election_id: { high: '0', low: '1' }, action: 'VERIFY_AND_COMMIT', config: { p4info, p4_device_config: readFileSync(objectPath) } });

      ctx.progress('switch: P4Runtime table writes');
      const table = p4info.tables.find((t: Obj) => t.preamble.alias === 'handoff_in');
      const act = p4info.actions.find((a: Obj) => a.preamble.alias === 'to_backend');
      const entry = (i: number): Obj => ({
        table_id: table.preamble.id,
        match: [
          { field_id: 1, exact: { value: toFieldBytes(0x0a000000 + (i >> 16), 32) } },
          { field_id: 2, exact: { value: toFieldBytes('10.0.0.100', 32) } },
          { field_id: 3, exact: { value: toFieldBytes(i & 0xffff, 16) } },
          { field_id: 4, exact: { value: toFieldBytes(80, 16) } },
        ],
        action: { action: { action_id: act.preamble.id, params: [1, 2, 3, 4].map((id, k) => ({ param_id: id, value: toFieldBytes([0x0a000002, 0x020000000002, 2, 0][k]!, [32, 48, 9, 1][k]!) })) } },
      });
      const writes: { batch: number; entries: number; seconds: number; entriesPerSecond: number }[] = [];
      let next = 0;
      for (const batch of [1, 100, 1000]) {
        const total = batch === 1 ? 2000 : 20000;
        const t0 = process.hrtime.bigint();
        for (let done = 0; done < total; done += batch) {
          const updates = Array.from({ length: batch }, () => ({ type: 'INSERT', entity: { table_entry: entry(next++) } }));
          await unary('Write', { device_id: '1', election_id: { high: '0', low: '1' }, updates });
        }
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        writes.push({ batch, entries: total, seconds, entriesPerSecond: total / seconds });
        ctx.line(`  table writes, batch ${String(batch).padStart(4)}: ${(total / seconds).toFixed(0).padStart(8)} entries/s (${total} entries; goal >= 50000 batched)`);
        // Empty the table again so the next batch size starts from the same state.
        for (let i = next - total; i < next; i += 1000) {
          const updates = Array.from({ length: Math.min(1000, next - i) }, (_, k) => ({ type: 'DELETE', entity: { table_entry: entry(i + k) } }));
          await unary('Write', { device_id: '1', election_id: { high: '0', low: '1' }, updates });
        }
      }
      results.tableWrites = writes;

      ctx.progress('switch: TCP bulk transfer through the switch vs a direct veth (iperf3)');
      for (const h of hosts.values()) {
        const l3 = p4info.tables.find((t: Obj) => t.preamble.alias === 'l3');
        const route = p4info.actions.find((a: Obj) => a.preamble.alias === 'route');
        await unary('Write', {
          device_id: '1',
          election_id: { high: '0', low: '1' },
          updates: [
            {
              type: 'INSERT',
              entity: {
                table_entry: {
                  table_id: l3.preamble.id,
                  match: [{ field_id: 1, lpm: { value: toFieldBytes(h.spec.ip, 32), prefix_len: 32 } }],
                  action: { action: { action_id: route.preamble.id, params: [{ param_id: 1, value: toFieldBytes(h.spec.port, 9) }, { param_id: 2, value: toFieldBytes(h.switchMac, 48) }, { param_id: 3, value: toFieldBytes(h.mac, 48) }] } },
                },
              },
            },
          ],
        });
      }
      const a = hosts.get('a')!.host;
      const b = hosts.get('b')!.host;
      const viaSwitch = await iperf(a, b, '10.0.0.2', ctx.seconds);
      // The same two hosts over a direct veth pair, in one run.
      await topo.link(a, b, { ifnameA: 'direct0', ifnameB: 'direct0' });
      await a.addAddress('direct0', '10.9.0.1/24');
      await b.addAddress('direct0', '10.9.0.2/24');
      const direct = await iperf(a, b, '10.9.0.2', ctx.seconds);
      results.bulk = { viaSwitchGbps: viaSwitch, directGbps: direct, ratio: viaSwitch / direct };
      ctx.line(`  TCP bulk: through the switch ${viaSwitch.toFixed(2)} Gbit/s, direct veth ${direct.toFixed(2)} Gbit/s, ratio ${(viaSwitch / direct).toFixed(2)} (goal >= 0.80)`);
    } finally {
      stream.cancel();
      client.close();
      await server.stop();
    }
  } finally {
    await topo.teardown();
  }
  return { name: 'switch', results };
}

/** run_time_ns per run of a program that only returns: what the measurement itself costs here. */
function emptyProgramBaseline(bpfCc: BpfCc): number {
  const dir = mkdtempSync(join(tmpdir(), 'prism-bench-'));
  try {
    writeFileSync(join(dir, 'empty.c'), '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC("tc") int empty(struct __sk_buff *skb) { return 2; }\nchar LICENSE[] SEC("license") = "GPL";\n');
    execFileSync('clang', bpfCc.clangBpfArgs(join(dir, 'empty.c'), join(dir, 'empty.o'), { werror: false, debug: false }));
    const obj = BpfObject.open(join(dir, 'empty.o'));
    try {
      const fd = obj.program('empty').fd;
      const before = progStats(fd);
      progTestRun(fd, Buffer.alloc(64), { repeat: 200_000 });
      const after = progStats(fd);
      return Number(after.runTimeNs - before.runTimeNs) / Number(after.runCnt - before.runCnt);
    } finally {
      obj.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function perPacketCost(objectPath: string, bpfCc: BpfCc): { frameBytes: number; runs: number; nsPerPacket: number; baselineNs: number; netNsPerPacket: number }[] {
  const dp = EbpfDataplane.load(objectPath, pipelineLayouts(prismPipeline));
  const statsFd = enableStats();
  try {
    const baselineNs = emptyProgramBaseline(bpfCc);
    dp.setCpuPort(64);
    dp.mapPort(1, 1001);
    dp.mapPort(2, 1002);
    const l = dp.layout('handoff_in');
    const act = l.actions.find((a) => a.name === 'to_backend')!;
    dp.writeEntry(
      'handoff_in',
      new Map([
        ['hdr.ipv4.src_addr', { kind: 'exact' as const, value: toFieldBytes('10.0.0.1', 32) }],
        ['hdr.ipv4.dst_addr', { kind: 'exact' as const, value: toFieldBytes('10.0.0.100', 32) }],
        ['hdr.tcp.src_port', { kind: 'exact' as const, value: toFieldBytes(40000, 16) }],
        ['hdr.tcp.dst_port', { kind: 'exact' as const, value: toFieldBytes(80, 16) }],
      ]),
      { actionId: act.id, params: [toFieldBytes('10.0.0.2', 32), toFieldBytes('02:00:00:00:00:02', 48), toFieldBytes(2, 9), toFieldBytes(0, 1)] },
    );
    const out = [];
    for (const frameBytes of [64, 1500]) {
      const payload = Buffer.alloc(frameBytes - 54, 0x61);
      const frame = buildTcpFrame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:fe', srcIp: '10.0.0.1', dstIp: '10.0.0.100', srcPort: 40000, dstPort: 80, seq: 1, ack: 1, flags: TCP_ACK, window: 500, payload });
      dp.testRun(frame, 1); // maps the test device to port 1 and checks the path works
      const runs = 200_000;
      const before = progStats(dp.programFd);
      progTestRun(dp.programFd, frame, { repeat: runs });
      const after = progStats(dp.programFd);
      const ns = Number(after.runTimeNs - before.runTimeNs) / Number(after.runCnt - before.runCnt);
      out.push({ frameBytes, runs, nsPerPacket: ns, baselineNs, netNsPerPacket: ns - baselineNs });
    }
    return out;
  } finally {
    closeFd(statsFd);
    dp.close();
  }
}

async function iperf(client: import('../netns/index.js').Host, server: import('../netns/index.js').Host, ip: string, seconds: number): Promise<number> {
  const srv = server.spawn(['iperf3', '-s', '-1', '-B', ip]);
  try {
    await server.waitForTcpPort(5201, { timeoutMs: 5000, process: srv });
    const r = await client.exec(['iperf3', '-c', ip, '-t', String(seconds), '-J'], { timeoutMs: (seconds + 15) * 1000 });
    const j = JSON.parse(r.stdout) as Obj;
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    srv.kill('SIGTERM');
  }
}
