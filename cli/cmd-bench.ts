/** `prism bench`: runs the benchmarks, prints the numbers and saves them as JSON. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { machineInfo, type BenchContext, type BenchResult } from '../bench/bench-context.js';
import { runHandoffBench } from '../bench/handoff-bench.js';
import { writePlots } from '../bench/plots.js';
import { runSwitchBench } from '../bench/switch-bench.js';
import { runTcpBench } from '../bench/tcp-bench.js';
import { InvalidArgumentError } from '../core/errors.js';
import { requireRoot } from '../netns/index.js';
import { repoRoot } from './paths.js';

const BENCHES: Record<string, (ctx: BenchContext) => Promise<BenchResult>> = {
  switch: runSwitchBench,
  tcp: runTcpBench,
  handoff: runHandoffBench,
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
      for (const n of names) out.push(await BENCHES[n]!(ctx));
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
