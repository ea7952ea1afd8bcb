/** Test helpers for the eBPF target: compile the generated C, load it, install named entries. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipelineLayouts } from '../../codegen/emit-ebpf.js';
import type { Pipeline } from '../../codegen/ir.js';
import { toFieldBytes } from '../../core/p4-values.js';
import { EbpfDataplane } from '../../dataplane/ebpf-dataplane.js';
import { clangBpfArgs } from '../../scripts/bpf-cc.mjs';
import type { FieldMatchValue } from '../../dataplane/ebpf-entries.js';
import { addonUnavailableReason } from '../../native/index.js';
import { isRoot } from '../../netns/index.js';
import type { EntrySpec } from '../vectors/pipeline-vectors.js';

export const REPO = join(import.meta.dirname, '..', '..');

/** Why eBPF tests cannot run here, or null. */
export function ebpfSkipReason(): string | null {
  if (!isRoot()) return 'needs root (CAP_BPF, CAP_NET_ADMIN) to load BPF programs';
  const addon = addonUnavailableReason();
  if (addon) return `the native libbpf addon is not available: ${addon}`;
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'clang is not installed (npm test installs it on Debian)';
  }
  return null;
}

/** Compiles p4/ebpf/<name>.c (the committed generated file) into a temporary object. */
export function compileGenerated(name: string): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'prism-ebpf-'));
  const path = join(dir, `${name}.bpf.o`);
  execFileSync('clang', clangBpfArgs(join(REPO, 'p4', 'ebpf', `${name}.c`), path));
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function loadPipeline(p: Pipeline, objectPath: string): EbpfDataplane {
  return EbpfDataplane.load(objectPath, pipelineLayouts(p));
}

/** Installs an entry given by names (table, key fields, action, params). */
export function installEntry(dp: EbpfDataplane, e: EntrySpec): void {
  const l = dp.layout(e.table);
  const match = new Map<string, FieldMatchValue>();
  for (const [name, m] of Object.entries(e.match)) {
    const kf = l.keyFields.find((k) => k.name === name);
    if (!kf) throw new Error(`table ${e.table} has no key ${name}`);
    if ('exact' in m) match.set(name, { kind: 'exact', value: toFieldBytes(m.exact, kf.bits, name) });
    else if ('lpm' in m) match.set(name, { kind: 'lpm', value: toFieldBytes(m.lpm, kf.bits, name), prefixLen: m.prefixLen });
    else match.set(name, { kind: 'ternary', value: toFieldBytes(m.ternary, kf.bits, name), mask: toFieldBytes(m.mask, kf.bits, name) });
  }
  const a = l.actions.find((x) => x.name === e.action);
  if (!a) throw new Error(`table ${e.table} has no action ${e.action}`);
  const params = a.params.map((p) => {
    const v = e.params[p.name];
    if (v === undefined) throw new Error(`action ${e.action} needs param ${p.name}`);
    return toFieldBytes(v, p.bits, p.name);
  });
  dp.writeEntry(e.table, match, { actionId: a.id, params }, { mode: 'insert', ...(e.priority !== undefined ? { priority: e.priority } : {}) });
}
