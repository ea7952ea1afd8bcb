/**
 * Checks a pipeline before any emitter sees it, so emitters can trust the IR: names resolve, ids are
 * unique and carry their P4Info prefix, widths agree, every header is whole bytes.
 * Returns the list of problems (empty when valid); `assertValidPipeline` throws them as one CodegenError.
 */
import { CodegenError } from '../core/errors.js';
import {
  P4_ID_PREFIX,
  headerBits,
  walkPrimitives,
  walkStatements,
  type ActionDef,
  type FieldRef,
  type Operand,
  type Pipeline,
  type Primitive,
} from './ir.js';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function validatePipeline(p: Pipeline): string[] {
  const problems: string[] = [];
  const bad = (msg: string): void => {
    problems.push(msg);
  };
  const fieldBits = (ref: FieldRef): number | undefined =>
    p.headers.find((h) => h.name === ref.header)?.fields.find((x) => x.name === ref.field)?.bits;

  // Headers
  const headerNames = new Set<string>();
  for (const h of p.headers) {
    if (!IDENT.test(h.name)) bad(`header name ${JSON.stringify(h.name)} is not an identifier`);
    if (headerNames.has(h.name)) bad(`header ${h.name} declared twice`);
    headerNames.add(h.name);
    if (headerBits(h) % 8 !== 0) bad(`header ${h.name} is ${headerBits(h)} bits, not a whole number of bytes`);
    for (const fd of h.fields) {
      if (!IDENT.test(fd.name)) bad(`field ${h.name}.${fd.name} is not an identifier`);
      if (!Number.isInteger(fd.bits) || fd.bits < 1 || fd.bits > 64) bad(`field ${h.name}.${fd.name} has width ${fd.bits} (1..64)`);
    }
  }
  const ctrl = p.headers.filter((h) => h.controller);
  for (const kind of ['packet_in', 'packet_out'] as const) {
    const hs = ctrl.filter((h) => h.controller === kind);
    if (hs.length > 1) bad(`more than one ${kind} controller header`);
    const h = hs[0];
    if (h && p.controllerHeaderIds[h.name] === undefined) bad(`controller header ${h.name} has no P4Info id`);
  }
  for (const [name, id] of Object.entries(p.controllerHeaderIds)) {
    if (!ctrl.some((h) => h.name === name)) bad(`controller header id given for ${name}, which is not a controller header`);
    if (id >>> 24 !== P4_ID_PREFIX.controllerHeader) bad(`controller header ${name} id 0x${id.toString(16)} lacks prefix 0x04`);
  }

  // Parser
  const states = new Set(p.parser.map((s) => s.name));
  if (p.parser.length === 0) bad('parser has no states');
  const nextOk = (n: string): boolean => n === 'accept' || n === 'reject' || states.has(n);
  for (const s of p.parser) {
    if (s.extract !== undefined && !headerNames.has(s.extract)) bad(`parser state ${s.name} extracts unknown header ${s.extract}`);
    if (s.next !== undefined && s.select) bad(`parser state ${s.name} has both next and select`);
    if (s.next !== undefined && !nextOk(s.next)) bad(`parser state ${s.name} goes to unknown state ${s.next}`);
    if (s.select) {
      if (s.select.on.kind === 'field') {
        const bits = fieldBits(s.select.on.ref);
        if (bits === undefined) bad(`parser state ${s.name} selects on unknown field ${s.select.on.ref.header}.${s.select.on.ref.field}`);
        else for (const c of s.select.cases) if (c.value >= 1n << BigInt(bits)) bad(`parser state ${s.name}: case ${c.value} does not fit ${bits} bits`);
      } else if (!ctrl.some((h) => h.controller === 'packet_out')) {
        bad(`parser state ${s.name} tests the CPU port but the pipeline has no packet_out header`);
      }
      for (const c of s.select.cases) if (!nextOk(c.next)) bad(`parser state ${s.name} goes to unknown state ${c.next}`);
      if (!nextOk(s.select.default)) bad(`parser state ${s.name} goes to unknown state ${s.select.default}`);
    }
  }

  // Actions
  const actionNames = new Set<string>();
  const ids = new Map<number, string>();
  const claimId = (id: number, prefix: number, what: string): void => {
    if (id >>> 24 !== prefix) bad(`${what} id 0x${id.toString(16)} lacks prefix 0x${prefix.toString(16).padStart(2, '0')}`);
    const other = ids.get(id);
    if (other) bad(`${what} and ${other} share id 0x${id.toString(16)}`);
    ids.set(id, what);
  };
  for (const a of p.actions) {
    if (!IDENT.test(a.name)) bad(`action name ${JSON.stringify(a.name)} is not an identifier`);
    if (actionNames.has(a.name)) bad(`action ${a.name} declared twice`);
    actionNames.add(a.name);
    claimId(a.id, P4_ID_PREFIX.action, `action ${a.name}`);
    validateAction(p, a, bad, fieldBits);
  }

  // Tables
  const tableNames = new Set<string>();
  for (const t of p.tables) {
    if (!IDENT.test(t.name)) bad(`table name ${JSON.stringify(t.name)} is not an identifier`);
    if (tableNames.has(t.name)) bad(`table ${t.name} declared twice`);
    tableNames.add(t.name);
    claimId(t.id, P4_ID_PREFIX.table, `table ${t.name}`);
    if (t.directCounterId !== undefined) claimId(t.directCounterId, P4_ID_PREFIX.directCounter, `direct counter of ${t.name}`);
    if (t.keys.length === 0) bad(`table ${t.name} has no key`);
    if (t.keys.filter((k) => k.match === 'lpm').length > 1) bad(`table ${t.name} has more than one lpm key`);
    for (const k of t.keys) {
      if (fieldBits(k.field) === undefined) bad(`table ${t.name} keys on unknown field ${k.field.header}.${k.field.field}`);
    }
    if (!Number.isInteger(t.size) || t.size < 1) bad(`table ${t.name} size ${t.size} must be a positive integer`);
    for (const an of t.actions) if (!actionNames.has(an)) bad(`table ${t.name} lists unknown action ${an}`);
    if (!t.actions.includes(t.defaultAction.action)) bad(`table ${t.name}: default action ${t.defaultAction.action} is not in its action list`);
    if (t.directCounterId !== undefined) {
      for (const an of t.actions) {
        const others = p.tables.filter((o) => o !== t && o.actions.includes(an)).map((o) => o.name);
        if (others.length > 0) bad(`action ${an} of ${t.name} (which has a direct counter) is also used by ${others.join(', ')}; TNA counts in the action, so give ${t.name} its own`);
      }
    }
    const da = p.actions.find((a) => a.name === t.defaultAction.action);
    if (da && da.params.length !== t.defaultAction.args.length) bad(`table ${t.name}: default action ${da.name} takes ${da.params.length} arguments, got ${t.defaultAction.args.length}`);
  }

  // Control
  for (const s of walkStatements(p.ingress)) {
    if (s.kind === 'apply' && !tableNames.has(s.table)) bad(`ingress applies unknown table ${s.table}`);
    if (s.kind === 'ifValid' && !headerNames.has(s.header)) bad(`ingress tests unknown header ${s.header}`);
    if (s.kind === 'call') {
      const a = p.actions.find((x) => x.name === s.action);
      if (!a) bad(`ingress calls unknown action ${s.action}`);
      else if (a.params.length !== s.args.length) bad(`ingress calls ${a.name} with ${s.args.length} arguments, it takes ${a.params.length}`);
    }
  }
  const applied = [...walkStatements(p.ingress)].filter((s) => s.kind === 'apply').map((s) => (s.kind === 'apply' ? s.table : ''));
  for (const t of p.tables) {
    const n = applied.filter((x) => x === t.name).length;
    if (n !== 1) bad(`table ${t.name} is applied ${n} times; targets need exactly one application`);
  }

  // Checksums
  if (p.checksums) {
    if (fieldBits(p.checksums.ipv4) !== 16) bad('ipv4 checksum field must be a 16-bit field');
    if (fieldBits(p.checksums.tcp) !== 16) bad('tcp checksum field must be a 16-bit field');
  } else if (p.actions.some((a) => [...walkPrimitives(a.body)].some((x) => x.op === 'markChecksum'))) {
    bad('an action marks checksums for update but the pipeline declares no checksums');
  }
  return problems;
}

function validateAction(
  p: Pipeline,
  a: ActionDef,
  bad: (msg: string) => void,
  fieldBits: (ref: FieldRef) => number | undefined,
): void {
  const params = new Map(a.params.map((x) => [x.name, x.bits]));
  if (params.size !== a.params.length) bad(`action ${a.name} has duplicate parameter names`);
  for (const prm of a.params) {
    if (!IDENT.test(prm.name)) bad(`action ${a.name}: parameter ${prm.name} is not an identifier`);
    if (!Number.isInteger(prm.bits) || prm.bits < 1 || prm.bits > 64) bad(`action ${a.name}: parameter ${prm.name} has width ${prm.bits} (1..64)`);
  }
  const operandBits = (o: Operand, where: string): number | undefined => {
    if (o.kind === 'param') {
      const b = params.get(o.name);
      if (b === undefined) bad(`action ${a.name}: ${where} uses unknown parameter ${o.name}`);
      return b;
    }
    if (o.kind === 'field') {
      const b = fieldBits(o.ref);
      if (b === undefined) bad(`action ${a.name}: ${where} reads unknown field ${o.ref.header}.${o.ref.field}`);
      return b;
    }
    if (o.value < 0n) bad(`action ${a.name}: ${where} uses a negative constant`);
    return undefined;
  };
  const needsTcp = (prim: Primitive): boolean =>
    prim.op === 'clearTcpFlag' || prim.op === 'setTcpWindow' || (prim.op === 'if' && prim.cond.kind === 'tcpFlagSet');
  for (const prim of walkPrimitives(a.body)) {
    switch (prim.op) {
      case 'assign': {
        const dst = fieldBits(prim.dst);
        if (dst === undefined) bad(`action ${a.name} writes unknown field ${prim.dst.header}.${prim.dst.field}`);
        const src = operandBits(prim.src, `assignment to ${prim.dst.header}.${prim.dst.field}`);
        if (dst !== undefined && src !== undefined && dst !== src) bad(`action ${a.name}: ${prim.dst.header}.${prim.dst.field} is ${dst} bits, its value ${src}`);
        if (dst !== undefined && prim.src.kind === 'const' && prim.src.value >= 1n << BigInt(dst)) bad(`action ${a.name}: constant ${prim.src.value} does not fit ${prim.dst.header}.${prim.dst.field}`);
        break;
      }
      case 'forward': {
        const bits = operandBits(prim.port, 'forward');
        if (bits !== undefined && bits > 16) bad(`action ${a.name}: port operand is ${bits} bits (at most 16)`);
        break;
      }
      case 'setTcpWindow': {
        const bits = operandBits(prim.value, 'setTcpWindow');
        if (bits !== undefined && bits !== 16) bad(`action ${a.name}: window operand is ${bits} bits, must be 16`);
        break;
      }
      case 'toController':
        if (!p.headers.some((h) => h.controller === 'packet_in')) bad(`action ${a.name} sends to the controller but the pipeline has no packet_in header`);
        break;
      case 'if':
        if (prim.cond.kind === 'paramSet' && params.get(prim.cond.param) !== 1) bad(`action ${a.name}: condition parameter ${prim.cond.param} must be a 1-bit parameter`);
        break;
      case 'drop':
      case 'clearTcpFlag':
      case 'markChecksum':
        break;
    }
    if (needsTcp(prim) && !p.headers.some((h) => h.name === 'tcp')) bad(`action ${a.name} uses TCP fields but the pipeline has no tcp header`);
  }
}

export function assertValidPipeline(p: Pipeline): void {
  const problems = validatePipeline(p);
  if (problems.length > 0) throw new CodegenError(`pipeline ${p.name} is invalid:\n  - ${problems.join('\n  - ')}`);
}
