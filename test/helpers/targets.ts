/**
 * The switch targets the whole-stack integration suites run against, each with the reason it
 * cannot run here (printed once, the suite skipped) or null. A suite loops over them with
 * `describe.each`, so the same cases run on every target.
 */
import { isRoot } from '../../netns/index.js';
import type { SwitchTarget } from '../../stack/stack.js';
import { ebpfSkipReason } from './ebpf.js';
import { onPath } from './tools.js';

export interface StackTarget {
  readonly target: SwitchTarget;
  /** Why the target cannot run here, or null. */
  readonly skip: string | null;
  /**
   * How much longer than on the embedded target a case may take: BMv2 is a software switch that
   * moves every frame through one ingress thread and libpcap (docs/bmv2.md).
   */
  readonly slowdown: number;
}

function bmv2SkipReason(): string | null {
  if (!isRoot()) return 'needs root (namespaces, TCP_REPAIR)';
  const missing = ['simple_switch_grpc', 'p4c'].filter((c) => !onPath(c));
  if (missing.length > 0) return `${missing.join(' and ')} not on PATH (../shared/p4ref/install.sh installs the reference build; docs/bmv2.md says how to build them)`;
  return null;
}

/** Every target, with its skip reason; `suite` names the suite in the printed reason. */
export function stackTargets(suite: string): StackTarget[] {
  const targets: StackTarget[] = [
    { target: 'embedded', skip: ebpfSkipReason(), slowdown: 1 },
    { target: 'bmv2', skip: bmv2SkipReason(), slowdown: 3 },
  ];
  for (const t of targets) if (t.skip) console.warn(`[skip] ${suite} on ${t.target}: ${t.skip}`);
  return targets;
}

/** The topology line that selects `target` (for testTopology's `extra`). */
export const switchLine = (target: SwitchTarget): string => `switch: { target: ${target} }`;
