/**
 * The hand-off benchmark (issue 6), one run, side by side:
 *   direct  — the client fetches from a backend directly, through the same switch path (l3);
 *   nginx   — the client fetches through nginx as a reverse proxy (keep-alive to the backends);
 *   prism   — the client fetches from the VIP; every request is handed to a backend (round
 *             robin: each request of a connection goes to another backend);
 *   prism-cached — the same with speculative rule caching (Prism 3.3): content hashing keeps the
 *             one path on one backend, so every request after the second is served by Continue on
 *             the kept socket and rules.
 * Throughput for object sizes 4 KiB .. 64 MiB over persistent connections (1 and 4), and
 * latency to the first response byte for small objects, with prism's own steps broken down.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host } from '../netns/index.js';
import { startStack } from '../stack/stack.js';
import { parseTopology } from '../stack/topology-file.js';
import type { HandoffEvent, StepTimes } from '../controller/handoff/handoff-manager.js';
import type { BenchContext, BenchResult } from './bench-context.js';

const TOPOLOGY = parseTopology(`
name: bench
vips: [{ ip: 10.0.0.100, port: 80, mac: "02:00:00:00:00:fe" }]
hosts:
  - { name: client, ip: 10.0.0.1, port: 1, role: client }
  - { name: proxy, ip: 10.0.0.2, port: 2, role: client }
  - { name: b1, ip: 10.0.0.11, port: 11, role: backend }
  - { name: b2, ip: 10.0.0.12, port: 12, role: backend }
  - { name: b3, ip: 10.0.0.13, port: 13, role: backend }
`);

const SIZES = [4096, 65536, 1048576, 8388608, 67108864];

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (clock ticks of 10 ms). */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11], fields[12]: utime, stime (fields 14 and 15 of proc(5), counted from the state)
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Pids of a process and its descendants (nginx's master and worker). */
function withChildren(pid: number): number[] {
  const out = [pid];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
      for (const k of kids ? kids.split(' ') : []) out.push(...withChildren(Number(k)));
    }
  } catch {
    // gone
  }
  return out;
}
type Mode = 'direct' | 'nginx' | 'prism' | 'prism-cached';
const URLS: Record<Mode, string> = { direct: 'http://10.0.0.11:8080', nginx: 'http://10.0.0.2:80', prism: 'http://10.0.0.100:80', 'prism-cached': 'http://10.0.0.100:80' };

interface LoadSummary {
  requests: number;
  errors: number;
  bytes: number;
  t: number;
  ttfbMs: number[];
}

async function load(ctx: BenchContext, client: Host, url: string, size: number, connections: number, seconds: number): Promise<LoadSummary> {
  const p = spawn('ip', ['netns', 'exec', client.netns, process.execPath, join(ctx.root, 'dist', 'bench', 'loadgen.js'), '--url', url, '--connections', String(connections), '--duration', String(seconds), '--sizes', String(size), '--fixed-seed'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve) => p.once('exit', () => resolve()));
  const final = out.trim().split('\n').map((l) => JSON.parse(l) as LoadSummary & { final?: boolean }).find((x) => x.final);
  if (!final) throw new Error(`load generator gave no summary for ${url}`);
  return final;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : 0;
};

export async function runHandoffBench(ctx: BenchContext): Promise<BenchResult> {
  ctx.progress('hand-off: starting a client, nginx, three backends with agents, the switch and the controller');
  const stack = await startStack(TOPOLOGY, { root: ctx.root });
  const dir = mkdtempSync(join(tmpdir(), 'prism-bench-'));
  try {
    const client = stack.hosts.get('client')!.host;
    const proxy = stack.hosts.get('proxy')!.host;
    const bin = join(ctx.root, 'bin', 'prism.js');
    const servers: number[] = [];
    for (const b of ['b1', 'b2', 'b3']) {
      const h = stack.hosts.get(b)!.host;
      const p = h.spawn([process.execPath, bin, 'serve', '--listen', '0.0.0.0:8080', '--name', b]);
      await h.waitForTcpPort(8080, { timeoutMs: 10_000, process: p });
      servers.push(p.pid!);
    }
    writeFileSync(
      join(dir, 'nginx.conf'),
      [
        // Workers as root: they write proxy temp files under the benchmark's private directory.
        'user root;',
        'worker_processes 1;',
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/error.log;`,
        'daemon off;',
        'events { worker_connections 1024; }',
        'http {',
        '  access_log off;',
        `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
        '  upstream backends { server 10.0.0.11:8080; server 10.0.0.12:8080; server 10.0.0.13:8080; keepalive 32; }',
        '  server { listen 80; location / { proxy_pass http://backends; proxy_http_version 1.1; proxy_set_header Connection ""; } }',
        '}',
      ].join('\n'),
    );
    const ng = proxy.spawn(['nginx', '-c', join(dir, 'nginx.conf')]);
    await proxy.waitForTcpPort(80, { timeoutMs: 10_000, process: ng });

    // prism runs round robin; prism-cached the content-hash policy (one path, one backend).
    const engine = stack.handoff.engine!;
    const roundRobin = engine.activeId;
    const contentHash = (await engine.install({ builtin: 'content-hash', config: { key: 'path' } })).id;
    // CPU per request of what serves it, per process group: the controller and the embedded
    // switch (this process), the agents (each with its application), the plain object servers
    // (direct, and nginx's upstreams), nginx. The client's load generator is not counted.
    const agents = [...stack.agentProcesses.values()].map((p) => p.pid!);
    const nginxPids = withChildren(ng.pid!);
    // The switch's own share of this process: the time inside its in-process Write handler
    // (the eBPF data plane itself runs in the kernel, on whichever CPU the packet is on).
    const cpuSeconds = (pids: readonly number[]): number => pids.reduce((n, pid) => n + procCpuSeconds(pid), 0);
    const cpuNow = () => {
      const self = process.cpuUsage();
      return {
        controllerAndSwitch: (self.user + self.system) / 1e6,
        switchWrites: stack.sw.localWrites.ms / 1000,
        agents: cpuSeconds(agents),
        servers: cpuSeconds(servers),
        nginx: cpuSeconds(nginxPids),
      };
    };
    type CpuGroup = keyof ReturnType<typeof cpuNow>;
    const run = async (mode: Mode, size: number, connections: number, seconds: number): Promise<LoadSummary & { cpuMsPerRequest: Record<CpuGroup, number> }> => {
      engine.activate(mode === 'prism-cached' ? contentHash : roundRobin);
      const before = cpuNow();
      const r = await load(ctx, client, URLS[mode], size, connections, seconds);
      const after = cpuNow();
      const cpuMsPerRequest = {} as Record<CpuGroup, number>;
      for (const g of Object.keys(before) as CpuGroup[]) cpuMsPerRequest[g] = r.requests > 0 ? ((after[g] - before[g]) * 1000) / r.requests : 0;
      return { ...r, cpuMsPerRequest };
    };
    const sizes = ctx.sizes ?? SIZES;

    // Warm-up: every mode, every size once (fills the servers' hash caches).
    for (const mode of Object.keys(URLS) as Mode[]) for (const size of sizes) await run(mode, size, 1, 0.3);

    const throughput: { mode: Mode; size: number; connections: number; gbps: number; requestsPerSecond: number; errors: number; cpuMsPerRequest: Record<CpuGroup, number> }[] = [];
    const cpuLine = (mode: Mode, c: Record<CpuGroup, number>): string => {
      const f = (x: number): string => x.toFixed(3);
      if (mode === 'direct') return `direct: server ${f(c.servers)}`;
      if (mode === 'nginx') return `nginx: nginx ${f(c.nginx)} + servers ${f(c.servers)} = ${f(c.nginx + c.servers)}`;
      return `${mode}: controller+switch ${f(c.controllerAndSwitch)} (switch writes ${f(c.switchWrites)}) + agents ${f(c.agents)} = ${f(c.controllerAndSwitch + c.agents)}`;
    };
    for (const connections of [1, 4]) {
      for (const size of sizes) {
        const cpu: string[] = [];
        const row: string[] = [];
        for (const mode of Object.keys(URLS) as Mode[]) {
          const r = await run(mode, size, connections, ctx.seconds);
          const gbps = (r.bytes * 8) / r.t / 1e9;
          throughput.push({ mode, size, connections, gbps, requestsPerSecond: r.requests / r.t, errors: r.errors, cpuMsPerRequest: r.cpuMsPerRequest });
          row.push(`${mode} ${gbps.toFixed(2)}`);
          cpu.push(cpuLine(mode, r.cpuMsPerRequest));
        }
        const by = (m: Mode) => throughput.find((x) => x.mode === m && x.size === size && x.connections === connections)!.gbps;
        ctx.line(
          `  ${String(connections)} conn, ${fmtSize(size).padStart(6)}: ${row.join('  ')} Gbit/s  prism/direct ${(by('prism') / by('direct')).toFixed(2)}  cached/direct ${(by('prism-cached') / by('direct')).toFixed(2)}  prism/nginx ${(by('prism') / by('nginx')).toFixed(2)}  cached/nginx ${(by('prism-cached') / by('nginx')).toFixed(2)}`,
        );
        ctx.line(`      CPU ms per request — ${cpu.join('; ')}`);
      }
    }

    // The floor under every step: one gRPC round trip to an agent (Health) and to the switch.
    const rtt = async (call: () => Promise<unknown>): Promise<number> => {
      const ts: number[] = [];
      for (let i = 0; i < 300; i++) {
        const t0 = performance.now();
        await call();
        ts.push(performance.now() - t0);
      }
      return pct(ts, 50);
    };
    const floor = {
      agentRoundTripMs: await rtt(() => stack.handoff.backends()[0]!.agent.health(2000)),
      switchReadRoundTripMs: await rtt(() => stack.controller.client.readAll({ table: 'vip' })),
    };
    ctx.line(`  gRPC floor, p50 of 300 idle calls: agent Health ${floor.agentRoundTripMs.toFixed(3)} ms, P4Runtime Read ${floor.switchReadRoundTripMs.toFixed(3)} ms`);

    ctx.progress('hand-off: latency to the first byte, 4 KiB objects, one connection');
    const latency: Record<Mode, { p50: number; p99: number }> = {} as never;
    let steps: StepTimes[] = [];
    let cached = { requests: 0, hits: 0, continueMs: 0 };
    for (const mode of Object.keys(URLS) as Mode[]) {
      // The steps of this run's transactions (stats.steps is a bounded ring: no index into it).
      const seen: StepTimes[] = [];
      const collect = (e: HandoffEvent): void => void (e.steps && seen.push(e.steps));
      stack.handoff.on('handoff', collect);
      const hitsBefore = stack.handoff.stats.speculation.hits;
      const r = await run(mode, 4096, 1, ctx.seconds).finally(() => stack.handoff.off('handoff', collect));
      latency[mode] = { p50: pct(r.ttfbMs, 50), p99: pct(r.ttfbMs, 99) };
      let note = '';
      if (mode === 'prism') steps = seen;
      if (mode === 'prism-cached') {
        const hits = stack.handoff.stats.speculation.hits - hitsBefore;
        cached = { requests: r.requests, hits, continueMs: pct(seen.map((x) => x.start).filter((x) => x > 0), 50) };
        note = `  (${hits} of ${r.requests} requests served by Continue; Continue round trip p50 ${cached.continueMs.toFixed(3)} ms)`;
      }
      ctx.line(`  ${mode.padEnd(12)} first byte p50 ${latency[mode].p50.toFixed(3)} ms  p99 ${latency[mode].p99.toFixed(3)} ms${note}`);
    }
    const med = (k: 'prepare' | 'rules' | 'start' | 'transfer' | 'deleteRules' | 'release'): number => pct(steps.map((s) => s[k]), 50);
    const breakdown = { prepare: med('prepare'), rules: med('rules'), start: med('start'), transfer: med('transfer'), deleteRules: med('deleteRules'), release: med('release') };
    const overhead = latency.prism.p50 - latency.direct.p50;
    ctx.line(`  prism startup overhead over direct at p50: ${(overhead * 1000).toFixed(0)} us (goal <= 150 us); with cached rules ${((latency['prism-cached'].p50 - latency.direct.p50) * 1000).toFixed(0)} us`);
    ctx.line(`  prism steps, median ms: Prepare ${breakdown.prepare.toFixed(3)} with the rule write ${breakdown.rules.toFixed(3)} beside it, Start ${breakdown.start.toFixed(3)}, Done (sent) after ${breakdown.transfer.toFixed(3)}, Release ${breakdown.release.toFixed(3)}, rule delete ${breakdown.deleteRules.toFixed(3)}`);
    ctx.line(`  teardown (last byte sent -> controller owns the connection): ${(breakdown.deleteRules + breakdown.release).toFixed(3)} ms at the median`);

    // The hot path's goals (issue 12), as ratios from this one run; a size not measured is skipped.
    const row = (m: Mode, size: number, connections: number) => throughput.find((x) => x.mode === m && x.size === size && x.connections === connections);
    const ratio = (a: Mode, b: Mode, size: number, connections: number): number | null => {
      const x = row(a, size, connections);
      const y = row(b, size, connections);
      return x && y && y.gbps > 0 ? x.gbps / y.gbps : null;
    };
    const cpu4k = row('prism', 4096, 4)?.cpuMsPerRequest;
    const goals = [
      { what: '4 KiB, 4 conns: prism / nginx', value: ratio('prism', 'nginx', 4096, 4), goal: '>= 0.25', ok: (v: number) => v >= 0.25 },
      { what: '4 KiB, 4 conns: prism-cached / nginx', value: ratio('prism-cached', 'nginx', 4096, 4), goal: '>= 0.8', ok: (v: number) => v >= 0.8 },
      { what: '64 KiB, 4 conns: prism / nginx', value: ratio('prism', 'nginx', 65536, 4), goal: '>= 0.8', ok: (v: number) => v >= 0.8 },
      { what: '1 MiB, 1 conn: prism / direct', value: ratio('prism', 'direct', 1048576, 1), goal: '>= 0.9', ok: (v: number) => v >= 0.9 },
      { what: '1 MiB, 1 conn: prism / nginx', value: ratio('prism', 'nginx', 1048576, 1), goal: '> 1', ok: (v: number) => v > 1 },
      { what: 'first byte over direct, p50 (ms): prism', value: overhead, goal: '<= 0.5', ok: (v: number) => v <= 0.5 },
      { what: 'first byte over direct, p50 (ms): prism-cached', value: latency['prism-cached'].p50 - latency.direct.p50, goal: '<= 0.15', ok: (v: number) => v <= 0.15 },
      { what: 'CPU per hand-off, all prism processes (ms; 4 KiB, 4 conns)', value: cpu4k ? cpu4k.controllerAndSwitch + cpu4k.agents : null, goal: '<= 0.6', ok: (v: number) => v <= 0.6 },
    ].map((g) => ({ what: g.what, value: g.value, goal: g.goal, met: g.value === null ? null : g.ok(g.value) }));
    ctx.line('  goals (issue 12), from this run:');
    for (const g of goals) ctx.line(`    ${g.what.padEnd(62)} ${g.value === null ? 'not measured' : g.value.toFixed(3)}  goal ${g.goal}${g.met === null ? '' : g.met ? '  met' : '  not met'}`);

    ng.kill('SIGTERM');
    engine.activate(roundRobin);
    return { name: 'handoff', results: { throughput, latency, cached, floor, breakdown, startupOverheadMs: overhead, goals, outcomes: stack.handoff.stats.outcomes, speculation: stack.handoff.stats.speculation } };
  } finally {
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function fmtSize(n: number): string {
  return n >= 1048576 ? `${n / 1048576} MiB` : `${n / 1024} KiB`;
}
