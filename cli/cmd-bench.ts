/**
 * `prism bench`: runs the benchmarks, prints the numbers and saves them as JSON.
 * The benchmarks are loaded only when the command runs (dynamic import in its action), so that
 * no other command, and not `prism bench --help`, loads benchmark code.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { BenchContext, BenchResult } from '../bench/bench-context.js';
import { InvalidArgumentError } from '../core/errors.js';
import { requireRoot } from '../netns/index.js';
import { repoRoot } from './paths.js';

type Bench = (ctx: BenchContext) => Promise<BenchResult>;

/** Each benchmark by name, loaded on demand. */
const BENCHES: Record<string, () => Promise<Bench>> = {
  switch: async () => (await import('../bench/switch-bench.js')).runSwitchBench,
  tcp: async () => (await import('../bench/tcp-bench.js')).runTcpBench,
  handoff: async () => (await import('../bench/handoff-bench.js')).runHandoffBench,
};

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run the benchmarks (needs root), print the numbers and save JSON under bench/results/')
    .option('--only <names>', `comma-separated benchmarks to run (${Object.keys(BENCHES).join(', ')})`)
    .option('--seconds <n>', 'seconds per throughput measurement', '5')
    .option('--sizes <bytes>', 'comma-separated object sizes for the hand-off benchmark (default 4096,65536,1048576,8388608,67108864)')
    .action(async (opts: { only?: string; seconds: string; sizes?: string }) => {
      requireRoot('prism bench');
      const names = opts.only ? opts.only.split(',') : Object.keys(BENCHES);
      for (const n of names) if (!BENCHES[n]) throw new InvalidArgumentError(`unknown benchmark ${JSON.stringify(n)}; known: ${Object.keys(BENCHES).join(', ')}`);
      const seconds = Number(opts.seconds);
      if (!(seconds > 0)) throw new InvalidArgumentError('--seconds must be a positive number');
      const sizes = opts.sizes?.split(',').map(Number);
      if (sizes && !sizes.every((n) => Number.isSafeInteger(n) && n >= 0)) throw new InvalidArgumentError('--sizes must be comma-separated byte counts');
      const { machineInfo } = await import('../bench/bench-context.js');
      const { writePlots } = await import('../bench/plots.js');
      const root = repoRoot();
      const ctx: BenchContext = {
        root,
        seconds,
        ...(sizes ? { sizes } : {}),
        progress: (m) => process.stdout.write(`[bench] ${m}\n`),
        line: (m) => process.stdout.write(`${m}\n`),
      };
      const machine = machineInfo();
      ctx.line(`machine: ${machine.cpus} x ${machine.cpuModel}, Linux ${machine.kernel}, Node ${machine.node}, ${machine.date}`);
      const out: BenchResult[] = [];
      for (const n of names) out.push(await (await BENCHES[n]!())(ctx));
      const dir = join(root, 'bench', 'results');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `bench-${String(machine.date).replace(/[:.]/g, '-')}.json`);
      const json = JSON.stringify({ machine, benchmarks: out }, null, 2);
      writeFileSync(file, json);
      writeFileSync(join(dir, 'latest.json'), json);
      ctx.line(`saved ${file}`);
      try {
        for (const svg of writePlots({ machine, benchmarks: out }, dir)) ctx.line(`saved ${svg}`);
      } catch (err) {
        ctx.line(`plots not written: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
}
