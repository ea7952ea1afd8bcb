/** `prism codegen`: generate the data plane for every target from the TypeScript pipeline description. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { TARGETS, generate, parseTargets, pipelineByName, writeGenerated } from '../codegen/generate.js';
import { PIPELINES } from '../codegen/pipelines/index.js';

export function registerCodegen(program: Command): void {
  program
    .command('codegen')
    .description('generate the data plane from the pipeline description: P4_16 (v1model, TNA), eBPF C and P4Info')
    .option('--pipeline <name>', `pipeline to generate (${Object.keys(PIPELINES).join(' | ')}); default: all of them`)
    .option('--target <list>', `comma-separated targets (${TARGETS.join(' | ')}) or all`, 'all')
    .option('--out <dir>', 'output directory (files go to <dir>/<target>/...)', 'p4')
    .addHelpText(
      'after',
      '\nThe files under p4/ in the repository are this command\'s output and are committed;\n' +
        'a test fails when they are stale. Run `prism codegen` after changing codegen/.',
    )
    .action((opts: { pipeline?: string; target: string; out: string }) => {
      const pipelines = opts.pipeline ? [pipelineByName(opts.pipeline)] : Object.values(PIPELINES);
      const targets = parseTargets(opts.target);
      const outDir = resolve(opts.out);
      for (const p of pipelines) {
        const written = writeGenerated(generate(p, targets), outDir);
        for (const f of written) process.stdout.write(`wrote ${f}\n`);
      }
    });
}
