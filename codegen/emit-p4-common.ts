/**
 * What the two P4_16 emitters (v1model and TNA) share: the shared include file (header types,
 * the headers struct, local metadata, table sizes), action bodies and the ingress control's
 * statements. Target differences are passed in as a `P4Target` (names of the intrinsic fields and
 * how to drop / forward), the way fabric-tna keeps a shim instead of scattering #ifdefs.
 */
import {
  TCP_FLAG_BITS,
  directCounterName,
  findField,
  headerBits,
  keyFieldName,
  walkPrimitives,
  type ActionDef,
  type Operand,
  type Pipeline,
  type Primitive,
  type Statement,
  type TableDef,
} from './ir.js';
import { Printer, hex } from './printer.js';

/** How a P4 target spells the few things that differ between architectures. */
export interface P4Target {
  /** Expression for the packet's ingress port. */
  readonly ingressPort: string;
  /** Statement(s) that send the packet out of `port` (an expression). */
  forward(port: string): string[];
  /** Statement(s) that drop the packet. */
  drop(): string[];
  /** Type of a port id (`bit<9>` on v1model, `PortId_t` on TNA). */
  readonly portType: string;
  /** Declaration for a direct packets-and-bytes counter named `name`. */
  directCounter(name: string): string;
  /** Table property that binds the direct counter, or null when bound differently. */
  counterProperty(name: string): string;
  /** Statement that counts a hit in a direct counter inside an action (TNA), or null (v1model counts automatically). */
  countInAction(name: string): string | null;
  /**
   * Statement(s) that drop the packet after an action that asked for a drop under an `if`, when
   * the target cannot drop there itself; absent when `drop()` is valid anywhere in an action (TNA:
   * an assignment). p4c's BMv2 back end refuses an extern call (`mark_to_drop`) under a condition
   * in an action ("Conditional execution in actions unsupported on this target"), so on v1model
   * such an action sets `meta.drop_pending` and the control drops right after the table
   * application or action call that may have run it (`emitStatements`).
   */
  readonly deferredDrop?: () => string[];
}

export const HEADERS_STRUCT = 'headers_t';
export const METADATA_STRUCT = 'local_metadata_t';
/** Local metadata field where the TNA parser deposits the TCP checksum residual (see emit-tna.ts). */
export const TCP_CSUM_RESIDUAL_FIELD = 'tcp_csum_residual';
/** Local metadata flag of a drop asked for under an `if` in an action, on targets with `deferredDrop`. */
export const DROP_PENDING_FIELD = 'drop_pending';

/** True when the action drops under a condition (an `if` around a `drop`, at any depth). */
export function dropsConditionally(a: ActionDef): boolean {
  return a.body.some((prim) => prim.op === 'if' && [...walkPrimitives(prim.then)].some((x) => x.op === 'drop'));
}

/** True when some action of the pipeline drops under a condition (the shared include then has `drop_pending`). */
export function hasConditionalDrop(p: Pipeline): boolean {
  return p.actions.some(dropsConditionally);
}

export function headerType(name: string): string {
  return `${name}_t`;
}

export function sizeConstName(t: TableDef): string {
  return `${t.name.toUpperCase()}_TABLE_SIZE`;
}

/** The include file both P4 targets share: header types, structs and sizes. */
export function emitSharedInclude(p: Pipeline): string {
  const out = new Printer({ comment: '//' });
  out.banner('codegen (P4_16 shared include)', `pipeline "${p.name}"`);
  const guard = `__PRISM_${p.name.toUpperCase()}_HEADERS__`;
  out.line(`#ifndef ${guard}`).line(`#define ${guard}`).blank();
  out.comment('Table sizes, all in one place.');
  for (const t of p.tables) out.line(`const bit<32> ${sizeConstName(t)} = ${t.size};`);
  out.blank();
  for (const h of p.headers) {
    if (h.controller) {
      const id = p.controllerHeaderIds[h.name];
      out.line(`@controller_header("${h.controller}")`);
      if (id !== undefined) out.line(`@id(${hex(id, 8)})`);
    }
    out.block(`header ${headerType(h.name)} {`, () => {
      for (const fd of h.fields) out.line(`bit<${fd.bits}> ${fd.name};`);
    });
    out.blank();
  }
  out.block(`struct ${HEADERS_STRUCT} {`, () => {
    for (const h of p.headers) out.line(`${headerType(h.name)} ${h.name};`);
  });
  out.blank();
  out.comment('Per-packet scratch state: csum_dirty is set by actions that rewrite checksummed fields.');
  out.block(`struct ${METADATA_STRUCT} {`, () => {
    out.line('bit<1> csum_dirty;');
    // v1model only (a drop under an `if` in an action, acted on after the table); TNA never reads it.
    if (hasConditionalDrop(p)) out.line(`bit<1> ${DROP_PENDING_FIELD};`);
    if (p.checksums) out.line('bit<16> l4_len;');
    // TNA only (the incremental TCP checksum); v1model never reads it.
    if (p.checksums) out.line(`bit<16> ${TCP_CSUM_RESIDUAL_FIELD};`);
    out.line('bit<6> _pad;');
  });
  out.blank().line(`#endif  // ${guard}`);
  return out.toString();
}

function operand(p: Pipeline, o: Operand): string {
  switch (o.kind) {
    case 'param':
      return o.name;
    case 'field':
      return `hdr.${o.ref.header}.${o.ref.field}`;
    case 'const':
      return hex(o.value);
  }
}

/** The P4 statements of one primitive; `conditional` inside an `if` of the action. */
function primitive(p: Pipeline, t: P4Target, prim: Primitive, out: Printer, conditional = false): void {
  switch (prim.op) {
    case 'assign': {
      const bits = findField(p, prim.dst).bits;
      const src = prim.src.kind === 'const' ? `${bits}w${prim.src.value}` : operand(p, prim.src);
      out.line(`hdr.${prim.dst.header}.${prim.dst.field} = ${src};`);
      break;
    }
    case 'forward':
      out.lines_(t.forward(prim.port.kind === 'const' ? `${prim.port.value}` : `(${t.portType})${operand(p, prim.port)}`));
      break;
    case 'toController': {
      const pin = p.headers.find((h) => h.controller === 'packet_in');
      if (!pin) throw new Error('toController without a packet_in header');
      out.line(`hdr.${pin.name}.setValid();`);
      const [portField, ...rest] = pin.fields;
      if (portField) out.line(`hdr.${pin.name}.${portField.name} = (bit<${portField.bits}>)${t.ingressPort};`);
      for (const fd of rest) out.line(`hdr.${pin.name}.${fd.name} = 0;`);
      out.lines_(t.forward('CPU_PORT'));
      break;
    }
    case 'drop':
      if (conditional && t.deferredDrop) out.line(`meta.${DROP_PENDING_FIELD} = 1;`);
      else out.lines_(t.drop());
      break;
    case 'clearTcpFlag':
      out.line(`hdr.tcp.flags = hdr.tcp.flags & ${hex(0xff & ~TCP_FLAG_BITS[prim.flag], 2).replace('0x', '8w0x')};`);
      break;
    case 'setTcpWindow':
      out.line(`hdr.tcp.window = ${prim.value.kind === 'const' ? `16w${prim.value.value}` : operand(p, prim.value)};`);
      break;
    case 'markChecksum':
      out.line('meta.csum_dirty = 1;');
      break;
    case 'if': {
      const cond =
        prim.cond.kind === 'paramSet'
          ? `${prim.cond.param} == 1`
          : `(hdr.tcp.flags & ${hex(TCP_FLAG_BITS[prim.cond.flag], 2).replace('0x', '8w0x')}) != 0`;
      out.block(`if (${cond}) {`, () => {
        for (const inner of prim.then) primitive(p, t, inner, out, true);
      });
      break;
    }
  }
}

export function emitActions(p: Pipeline, t: P4Target, out: Printer): void {
  for (const a of p.actions) {
    const params = a.params.map((x) => `bit<${x.bits}> ${x.name}`).join(', ');
    // TNA counts direct counters inside actions; the validator guarantees an action of a counted
    // table belongs to that table alone.
    const counted = p.tables.find((tb) => tb.directCounterId !== undefined && tb.actions.includes(a.name));
    const count = counted ? t.countInAction(directCounterName(counted)) : null;
    out.line(`@id(${hex(a.id, 8)})`);
    out.block(`action ${a.name}(${params}) {`, () => {
      for (const prim of a.body) primitive(p, t, prim, out);
      if (count) out.line(count);
    });
    out.blank();
  }
}

export function emitCounters(p: Pipeline, t: P4Target, out: Printer): void {
  for (const tb of p.tables) {
    if (tb.directCounterId === undefined) continue;
    out.line(`@id(${hex(tb.directCounterId, 8)})`);
    out.line(t.directCounter(directCounterName(tb)));
  }
  if (p.tables.some((tb) => tb.directCounterId !== undefined)) out.blank();
}

export function emitTables(p: Pipeline, t: P4Target, out: Printer, actionName: (tb: TableDef, a: string) => string = (_tb, a) => a): void {
  for (const tb of p.tables) {
    out.line(`@id(${hex(tb.id, 8)})`);
    out.block(`table ${tb.name} {`, () => {
      out.block('key = {', () => {
        for (const k of tb.keys) {
          const bits = findField(p, k.field).bits;
          out.line(`${keyFieldName(k)} : ${k.match} @name("${keyFieldName(k)}");  // ${bits} bits`);
        }
      });
      out.block('actions = {', () => {
        for (const a of tb.actions) out.line(`${actionName(tb, a)};`);
      });
      const args = tb.defaultAction.args.map((x) => hex(x)).join(', ');
      out.line(`${tb.constDefault ? 'const ' : ''}default_action = ${actionName(tb, tb.defaultAction.action)}(${args});`);
      if (tb.directCounterId !== undefined) {
        const prop = t.counterProperty(directCounterName(tb));
        if (prop) out.line(prop);
      }
      out.line(`size = ${sizeConstName(tb)};`);
    });
    out.blank();
  }
}

/**
 * The statements of a control's `apply` block. With a target that defers conditional drops
 * (`P4Target.deferredDrop`), a table application or action call that may run an action dropping
 * under a condition is followed by the target's drop check, on every path out of it: at the top
 * of a hit branch (any action of the table may run) and of a miss branch (the default action, or
 * any action of the table when the default is not const), before their own statements and so
 * before an `exit`.
 */
export function emitStatements(p: Pipeline, body: readonly Statement[], out: Printer, t?: P4Target): void {
  const check = (actions: readonly string[]): string[] =>
    t?.deferredDrop && actions.some((a) => p.actions.some((x) => x.name === a && dropsConditionally(x))) ? t.deferredDrop() : [];
  const branch = (lines: readonly string[], stmts: readonly Statement[]): (() => void) => () => {
    out.lines_(lines);
    emitStatements(p, stmts, out, t);
  };
  for (const s of body) {
    switch (s.kind) {
      case 'apply': {
        const hit = s.hit ?? [];
        const miss = s.miss ?? [];
        const table = p.tables.find((x) => x.name === s.table);
        // A hit runs any action of the table; a miss the default action, which the controller may
        // change to any of them unless it is const. (The default is one of the table's actions.)
        const onHit = table ? check(table.actions) : [];
        const onMiss = table ? check(table.constDefault ? [table.defaultAction.action] : table.actions) : [];
        if (hit.length === 0 && miss.length === 0) {
          out.line(`${s.table}.apply();`);
          out.lines_(onHit); // covers both outcomes
        } else if (hit.length > 0 || onHit.length > 0) {
          const hasMiss = miss.length > 0 || onMiss.length > 0;
          out.block(`if (${s.table}.apply().hit) {`, branch(onHit, hit), hasMiss ? '} else {' : '}');
          if (hasMiss) {
            out.indented(branch(onMiss, miss));
            out.line('}');
          }
        } else {
          out.block(`if (${s.table}.apply().miss) {`, branch(onMiss, miss));
        }
        break;
      }
      case 'ifValid': {
        const otherwise = s.else ?? [];
        out.block(`if (hdr.${s.header}.isValid()) {`, () => emitStatements(p, s.then, out, t), otherwise.length > 0 ? '} else {' : '}');
        if (otherwise.length > 0) {
          out.indented(() => emitStatements(p, otherwise, out, t));
          out.line('}');
        }
        break;
      }
      case 'call':
        out.line(`${s.action}(${s.args.map((x) => hex(x)).join(', ')});`);
        out.lines_(check([s.action]));
        break;
      case 'exit':
        out.line('exit;');
        break;
    }
  }
}

/** Parser states as P4, with the target's intrinsic ingress port and CPU port constant. */
export function emitParserStates(p: Pipeline, ingressPort: string, out: Printer, extraInState?: (state: string) => string[]): void {
  for (const s of p.parser) {
    out.block(`state ${s.name} {`, () => {
      if (s.extract) out.line(`packet.extract(hdr.${s.extract});`);
      if (extraInState) out.lines_(extraInState(s.name));
      if (s.select) {
        const on = s.select.on;
        const expr = on.kind === 'field' ? `hdr.${on.ref.header}.${on.ref.field}` : ingressPort;
        out.block(`transition select(${expr}) {`, () => {
          for (const c of s.select!.cases) {
            const v = on.kind === 'ingressPortIsCpu' ? (c.value === 1n ? 'CPU_PORT' : null) : hex(c.value, Math.ceil(findField(p, on.ref).bits / 4));
            if (v !== null) out.line(`${v}: ${c.next};`);
          }
          out.line(`default: ${s.select!.default};`);
        });
      } else {
        out.line(`transition ${s.next ?? 'accept'};`);
      }
    });
  }
}

/** Headers the deparser emits, in order: everything but packet_out. */
export function deparsedHeaders(p: Pipeline): string[] {
  return p.headers.filter((h) => h.controller !== 'packet_out').map((h) => h.name);
}

/** Fields of a header except one, as `hdr.<h>.<f>` expressions (checksum field lists). */
export function fieldsExcept(p: Pipeline, header: string, except: string): string[] {
  const h = p.headers.find((x) => x.name === header);
  if (!h) throw new Error(`no header ${header}`);
  return h.fields.filter((fd) => fd.name !== except).map((fd) => `hdr.${header}.${fd.name}`);
}

/** The state that extracts a header (where TCP length is computed for the checksum). */
export function stateExtracting(p: Pipeline, header: string): string | undefined {
  return p.parser.find((s) => s.extract === header)?.name;
}

export function actionsWriting(p: Pipeline): ActionDef[] {
  return p.actions.filter((a) => [...walkPrimitives(a.body)].some((x) => x.op === 'markChecksum'));
}

export { headerBits };
