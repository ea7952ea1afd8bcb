/**
 * `prism demo`: the whole system on this machine. A client and three backends in network
 * namespaces around the embedded switch; the controller programs the switch over P4Runtime and
 * hands every transaction to a backend; agents take the connections over with TCP_REPAIR.
 * Real clients drive it (curl, then a load generator), progress is printed every second, and
 * everything is torn down at the end, on Ctrl-C too.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from 'commander';
import { deterministicSha256 } from '../agent/bytes.js';
import { PrismError } from '../core/errors.js';
import { requireRoot } from '../netns/index.js';
import { startStack, type RunningStack } from '../stack/stack.js';
import { loadTopology } from '../stack/topology-file.js';
import { repoRoot } from './paths.js';

const say = (msg: string): void => void process.stdout.write(`[demo] ${msg}\n`);

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run prism end to end in network namespaces with real clients and print what happens (needs root)')
    .option('--duration <seconds>', 'how long the load runs (0: until Ctrl-C)', '20')
    .option('--connections <n>', 'client connections of the load generator', '4')
    .option('--topology <file>', 'topology file', 'topologies/demo.yaml')
    .action(async (opts: { duration: string; connections: string; topology: string }) => {
      requireRoot('prism demo');
      const duration = Number(opts.duration);
      if (!(duration >= 0)) throw new PrismError('PRISM_ERR_INVALID_ARGUMENT', `--duration must be a number of seconds, got ${opts.duration}`);
      await runDemo(duration, Number(opts.connections), opts.topology);
    });
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function runDemo(duration: number, connections: number, topologyFile: string): Promise<void> {
  const root = repoRoot();
  const topology = loadTopology(join(root, topologyFile));
  const t0 = Date.now();
  let stack: RunningStack | undefined;
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const s = stack;
    stack = undefined;
    if (s) {
      await s.close();
      say('torn down: namespaces, interfaces, processes and BPF programs removed');
    }
  };
  process.once('SIGINT', () => {
    say('Ctrl-C: stopping');
    void stop().then(() => process.exit(130));
  });
  try {
    say(`starting "${topology.name}": ${topology.hosts.length} hosts, VIP ${topology.vips[0]!.ip}:${topology.vips[0]!.port}`);
    stack = await startStack(topology, { root, progress: (m) => say(m) });
    const s = stack;
    const client = [...s.hosts.values()].find((h) => topology.hosts.find((x) => x.name === h.spec.name)?.role === 'client');
    if (!client) throw new PrismError('PRISM_ERR_INVALID_ARGUMENT', 'the topology has no client host');
    const vip = topology.vips[0]!;
    say(`admin API: ${s.adminUrl}  dashboard: ${s.adminUrl}/dashboard  token (for changes): ${s.admin.token}`);
    say(`try: curl ${s.adminUrl}/backends   or   curl -X POST -H 'Authorization: Bearer <token>' ${s.adminUrl}/backends/b1/drain`);

    // curl: a few GETs on one connection; each may go to another backend.
    const sizes = [1024, 1048576, 65536, 8388608];
    const r = await client.host.exec(
      ['curl', '-sS', '--fail', '--max-time', '30', ...sizes.flatMap((n, i) => ['-o', '/dev/null', '-w', `%{http_code} %{size_download} %{time_starttransfer} %header{x-backend} %header{x-content-sha256}\\n`, `http://${vip.ip}:${vip.port}/bytes/${n}?seed=${i + 1}`])],
      { timeoutMs: 60_000 },
    );
    const lines = r.stdout.trim().split('\n');
    lines.forEach((line, i) => {
      const [code, bytes, ttfb, backend, sha] = line.split(' ');
      const ok = sha === deterministicSha256(sizes[i]!, i + 1);
      say(`curl GET /bytes/${sizes[i]} -> ${code}, ${bytes} bytes from ${backend}, first byte after ${(Number(ttfb) * 1000).toFixed(1)} ms, SHA-256 ${ok ? 'ok' : 'MISMATCH'}`);
      if (!ok) throw new PrismError('PRISM_ERR_COMMAND_FAILED', `body of /bytes/${sizes[i]} does not match its hash`);
    });
    say(`curl used one connection for ${lines.length} requests: ${s.handoff.stats.outcomes.done ?? 0} hand-offs so far`);

    // The load generator, with live progress.
    say(`load: ${connections} keep-alive connections, objects of 1 KiB..1 MiB, ${duration === 0 ? 'until Ctrl-C' : `${duration} s`}`);
    const gen = spawn('ip', ['netns', 'exec', client.host.netns, process.execPath, join(root, 'dist', 'bench', 'loadgen.js'), '--url', `http://${vip.ip}:${vip.port}`, '--connections', String(connections), '--duration', String(duration === 0 ? 1e9 : duration)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let final: { requests: number; errors: number; bytes: number; ttfbMs: number[]; backends: Record<string, number> } | undefined;
    let buf = '';
    gen.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = JSON.parse(line) as { final?: boolean; t: number; requests: number; errors: number; bytes: number; ttfbMs: number[]; backends: Record<string, number> };
        if (w.final) {
          final = w;
          continue;
        }
        const per = Object.entries(s.handoff.stats.byBackend).map(([b, n]) => `${b} ${n}`).join(', ');
        say(
          `t=${w.t.toFixed(0).padStart(3)}s  ${String(w.requests).padStart(5)} req/s  ${((w.bytes * 8) / 1e9).toFixed(2)} Gbit/s  first byte p50 ${percentile(w.ttfbMs, 50).toFixed(2)} ms p99 ${percentile(w.ttfbMs, 99).toFixed(2)} ms  errors ${w.errors}  hand-offs: ${per}`,
        );
      }
    });
    await new Promise<void>((resolve) => gen.once('exit', () => resolve()));
    if (!final) throw new PrismError('PRISM_ERR_COMMAND_FAILED', 'the load generator ended without its summary');
    // The last transactions may still be handing back (Done → rules out → Release → adopt).
    for (let i = 0; i < 100 && s.handoff.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 50));
    const steps = s.handoff.stats.steps;
    const avg = (k: keyof (typeof steps)[number]): string => (steps.length ? (steps.reduce((n, x) => n + x[k], 0) / steps.length).toFixed(2) : '-');
    say(`done: ${final.requests} requests, ${final.errors} errors, ${(final.bytes / 1e6).toFixed(1)} MB, first byte p50 ${percentile(final.ttfbMs, 50).toFixed(2)} ms p99 ${percentile(final.ttfbMs, 99).toFixed(2)} ms`);
    say(`served by: ${Object.entries(final.backends).map(([b, n]) => `${b} ${n}`).join(', ')}; hand-off outcomes: ${JSON.stringify(s.handoff.stats.outcomes)}`);
    say(`hand-off steps (mean ms): rules ${avg('rules')}, Prepare-and-start ${avg('prepare')}, response sent after ${avg('transfer')}, Release ${avg('release')}, delete rules ${avg('deleteRules')}`);

    // Speculative rule caching (Prism 3.3): with content hashing, one path keeps one backend, so the
    // kept socket and rules serve every request after the second (Continue), without a hand-off.
    const engine = s.handoff.engine!;
    const previous = engine.activeId;
    const ch = await engine.install({ builtin: 'content-hash', config: { key: 'path' } });
    engine.activate(ch.id);
    say(`policy swapped at run time: ${previous} -> ${ch.id} (content-hash on the path); speculative rule caching is on ('auto')`);
    const before = { ...s.handoff.stats.speculation };
    const n = 20;
    const rc = await client.host.exec(
      ['curl', '-sS', '--fail', '--max-time', '30', ...Array.from({ length: n }, (_, i) => ['-o', '/dev/null', '-w', '%{time_starttransfer} %header{x-backend} %header{x-content-sha256}\\n', `http://${vip.ip}:${vip.port}/bytes/4096?seed=${100 + i}`]).flat()],
      { timeoutMs: 60_000 },
    );
    const got = rc.stdout.trim().split('\n').map((l) => l.split(' '));
    got.forEach(([, , sha], i) => {
      if (sha !== deterministicSha256(4096, 100 + i)) throw new PrismError('PRISM_ERR_COMMAND_FAILED', `body ${i} of the cached run does not match its hash`);
    });
    for (let i = 0; i < 100 && s.handoff.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 50));
    const sp = s.handoff.stats.speculation;
    const ttfb = got.map(([t]) => Number(t) * 1000).sort((a, b) => a - b);
    say(
      `cached: ${n} GETs of one path on one connection, all from ${[...new Set(got.map((g) => g[1]))].join(', ')}, SHA-256 ok; ${sp.hits - before.hits} served on the kept socket (Continue), ` +
        `${sp.misses - before.misses} misses, ${sp.idle - before.idle} idle hand-backs; first byte median ${ttfb[Math.floor(n / 2)]!.toFixed(2)} ms`,
    );
    engine.activate(previous);

    const left = s.sw.dataplane!.entryCount('handoff_in') + s.sw.dataplane!.entryCount('handoff_out');
    const drops = Object.fromEntries(Object.entries(s.sw.dataplane!.drops()).filter(([, n]) => n > 0n).map(([k, v]) => [k, Number(v)]));
    // action_drop here is mostly the hand-off rules at work: a backend's RST for a client segment that
    // reached it before its socket existed or after it closed (drop_rst), never forwarded to the
    // client; IPv4 with no l3 route counts there too.
    say(`switch: ${left} hand-off entries left; drops ${JSON.stringify(drops)}${drops.action_drop ? ' (action_drop: backend RSTs the hand-off rules hold back on purpose, or IPv4 with no route)' : ''}`);
    if (final.errors > 0) throw new PrismError('PRISM_ERR_COMMAND_FAILED', `${final.errors} requests failed`);
  } finally {
    await stop();
  }
  say(`finished in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
