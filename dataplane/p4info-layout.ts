/**
 * Table layouts of the eBPF target computed from a P4Info (what SetForwardingPipelineConfig
 * carries), by the same rules the C emitter applies to the IR (codegen/ebpf-layout.ts).
 */
import { InvalidArgumentError } from '../core/errors.js';
import { layoutTable, type LayoutMatchKind, type TableLayout } from '../codegen/ebpf-layout.js';

type Obj = Record<string, any>;

const KINDS: Readonly<Record<string, LayoutMatchKind>> = { EXACT: 'exact', LPM: 'lpm', TERNARY: 'ternary' };

/** `p4info` is a decoded p4.config.v1.P4Info (keepCase names, enums as strings). */
export function layoutsFromP4Info(p4info: Obj): TableLayout[] {
  const actions = new Map<number, Obj>((p4info.actions ?? []).map((a: Obj) => [a.preamble.id, a]));
  return (p4info.tables ?? []).map((t: Obj) => {
    const name = String(t.preamble.name);
    return layoutTable({
      id: t.preamble.id,
      name: name.includes('.') ? name.slice(name.lastIndexOf('.') + 1) : name,
      size: Number(t.size),
      keys: (t.match_fields ?? []).map((m: Obj) => {
        const kind = KINDS[m.match_type as string];
        if (!kind) throw new InvalidArgumentError(`table ${name}: match kind ${m.match_type ?? m.other_match_type} of ${m.name} is not supported by the eBPF target`);
        return { name: m.name, bits: m.bitwidth, match: kind };
      }),
      actions: (t.action_refs ?? []).map((r: Obj) => {
        const a = actions.get(r.id);
        if (!a) throw new InvalidArgumentError(`table ${name} refers to unknown action id ${r.id}`);
        return { id: a.preamble.id, name: lastPart(a.preamble.name), params: (a.params ?? []).map((p: Obj) => ({ name: p.name, bits: p.bitwidth })) };
      }),
    });
  });
}

function lastPart(n: string): string {
  return n.includes('.') ? n.slice(n.lastIndexOf('.') + 1) : n;
}
