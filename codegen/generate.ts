/**
 * Runs the emitters for a pipeline and returns the files they make, keyed by path relative to
 * the output directory (p4/ in the repository). Deterministic: the same pipeline gives the same bytes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { emitSharedInclude } from './emit-p4-common.js';
import { emitEbpf } from './emit-ebpf.js';
import { emitP4Info } from './emit-p4info.js';
import { emitTna } from './emit-tna.js';
import { emitV1model } from './emit-v1model.js';
import type { Pipeline } from './ir.js';
import { PIPELINES } from './pipelines/index.js';
import { assertValidPipeline } from './validate.js';

export const TARGETS = ['v1model', 'tna', 'ebpf', 'p4info'] as const;
export type Target = (typeof TARGETS)[number];

export type GeneratedFiles = Map<string, string | Buffer>;

export function sharedIncludePath(p: Pipeline): string {
  return `shared/${p.name}_headers.p4`;
}

export function generate(p: Pipeline, targets: readonly Target[] = TARGETS): GeneratedFiles {
  assertValidPipeline(p);
  const files: GeneratedFiles = new Map();
  const wantsP4 = targets.includes('v1model') || targets.includes('tna');
  if (wantsP4) files.set(sharedIncludePath(p), emitSharedInclude(p));
  if (targets.includes('v1model')) files.set(`v1model/${p.name}.p4`, emitV1model(p, `../${sharedIncludePath(p)}`));
  if (targets.includes('tna')) files.set(`tna/${p.name}.p4`, emitTna(p, `../${sharedIncludePath(p)}`));
  if (targets.includes('ebpf')) files.set(`ebpf/${p.name}.c`, emitEbpf(p));
  if (targets.includes('p4info')) {
    const info = emitP4Info(p);
    files.set(`p4info/${p.name}.p4info.txt`, info.text);
    files.set(`p4info/${p.name}.p4info.bin`, info.binary);
  }
  return files;
}

export function pipelineByName(name: string): Pipeline {
  const p = PIPELINES[name];
  if (!p) throw new InvalidArgumentError(`unknown pipeline ${JSON.stringify(name)}; known: ${Object.keys(PIPELINES).join(', ')}`);
  return p;
}

export function parseTargets(spec: string): Target[] {
  if (spec === 'all') return [...TARGETS];
  const out: Target[] = [];
  for (const t of spec.split(',')) {
    if (!(TARGETS as readonly string[]).includes(t)) {
      throw new InvalidArgumentError(`unknown target ${JSON.stringify(t)}; known: ${TARGETS.join(', ')}, all`);
    }
    out.push(t as Target);
  }
  return out;
}

/** Writes generated files under `outDir`; returns the paths written. */
export function writeGenerated(files: GeneratedFiles, outDir: string): string[] {
  const written: string[] = [];
  for (const [rel, content] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    const full = join(outDir, rel);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
    written.push(full);
  }
  return written;
}
