/**
 * The pipeline intermediate representation (IR): the data plane described once, in TypeScript,
 * and emitted for every target (P4_16 v1model, P4_16 TNA, eBPF C, P4Info).
 *
 * The IR is deliberately small: fixed-width headers, a select-driven parser, match-action tables
 * whose actions are built from a handful of primitives, and a control block made of table
 * applications and header-validity tests. Everything an emitter needs is explicit here, so emitters
 * never guess. `validatePipeline` checks a pipeline before any emitter sees it.
 */

import { TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG } from '../core/header/tcp.js';

/** P4Runtime match kinds the IR supports (P4Runtime spec 9.1.1). */
export type MatchKind = 'exact' | 'lpm' | 'ternary';

export interface FieldDef {
  readonly name: string;
  readonly bits: number;
}

export interface HeaderDef {
  /** Header instance name, e.g. `ipv4` (the P4 type is `<name>_t`). */
  readonly name: string;
  readonly fields: readonly FieldDef[];
  /** Controller headers carry metadata to/from the controller on the CPU port (@controller_header). */
  readonly controller?: 'packet_in' | 'packet_out';
}

/** A field of a header instance, e.g. `{ header: 'ipv4', field: 'dst_addr' }`. */
export interface FieldRef {
  readonly header: string;
  readonly field: string;
}

/** A value used by a primitive: an action parameter or a constant. */
export type Operand =
  | { readonly kind: 'param'; readonly name: string }
  | { readonly kind: 'const'; readonly value: bigint }
  | { readonly kind: 'field'; readonly ref: FieldRef };

export type TcpFlag = 'cwr' | 'ece' | 'urg' | 'ack' | 'psh' | 'rst' | 'syn' | 'fin';

/** TCP flag bits by name, from the one TCP constants module. */
export const TCP_FLAG_BITS: Readonly<Record<TcpFlag, number>> = {
  fin: TCP_FIN,
  syn: TCP_SYN,
  rst: TCP_RST,
  psh: TCP_PSH,
  ack: TCP_ACK,
  urg: TCP_URG,
  ece: TCP_ECE,
  cwr: TCP_CWR,
};

/** A condition inside an action: a 1-bit parameter is set, or a TCP flag is set on the packet. */
export type Condition =
  | { readonly kind: 'paramSet'; readonly param: string }
  | { readonly kind: 'tcpFlagSet'; readonly flag: TcpFlag };

/**
 * Action primitives. Emitters implement exactly these; an action body is a list of them.
 * Writes to IPv4 or TCP fields covered by a checksum must be followed by `markChecksum`
 * (`action()` in the builder adds it), so targets that recompute checksums know to.
 */
export type Primitive =
  | { readonly op: 'assign'; readonly dst: FieldRef; readonly src: Operand }
  | { readonly op: 'forward'; readonly port: Operand }
  | { readonly op: 'toController' }
  | { readonly op: 'drop' }
  | { readonly op: 'clearTcpFlag'; readonly flag: TcpFlag }
  | { readonly op: 'setTcpWindow'; readonly value: Operand }
  | { readonly op: 'markChecksum' }
  | { readonly op: 'if'; readonly cond: Condition; readonly then: readonly Primitive[] };

export interface ParamDef {
  readonly name: string;
  readonly bits: number;
}

export interface ActionDef {
  readonly name: string;
  /** P4Info id (prefix 0x01). */
  readonly id: number;
  readonly params: readonly ParamDef[];
  readonly body: readonly Primitive[];
}

export interface KeyDef {
  readonly field: FieldRef;
  readonly match: MatchKind;
}

export interface ActionCall {
  readonly action: string;
  /** Arguments in parameter order. */
  readonly args: readonly bigint[];
}

export interface TableDef {
  readonly name: string;
  /** P4Info id (prefix 0x02). */
  readonly id: number;
  readonly keys: readonly KeyDef[];
  /** Names of the actions an entry may use. */
  readonly actions: readonly string[];
  readonly defaultAction: ActionCall;
  /** The default action cannot be changed by the controller. */
  readonly constDefault: boolean;
  readonly size: number;
  /** A direct counter (packets and bytes) per entry; P4Info id (prefix 0x13) when present. */
  readonly directCounterId?: number;
}

/** Statements of the ingress control. */
export type Statement =
  | {
      readonly kind: 'apply';
      readonly table: string;
      readonly hit?: readonly Statement[];
      readonly miss?: readonly Statement[];
    }
  | { readonly kind: 'ifValid'; readonly header: string; readonly then: readonly Statement[]; readonly else?: readonly Statement[] }
  | { readonly kind: 'call'; readonly action: string; readonly args: readonly bigint[] }
  | { readonly kind: 'exit' };

/** What a parser state selects on. */
export type SelectOn = { readonly kind: 'field'; readonly ref: FieldRef } | { readonly kind: 'ingressPortIsCpu' };

export interface ParserState {
  readonly name: string;
  readonly extract?: string;
  /** Unconditional next state when there is no `select`; `accept` when both are absent. */
  readonly next?: string;
  readonly select?: {
    readonly on: SelectOn;
    readonly cases: readonly { readonly value: bigint; readonly next: string }[];
    readonly default: string;
  };
}

export interface ChecksumSpec {
  /** IPv4 header checksum over the `ipv4` header (RFC 791). */
  readonly ipv4: { readonly header: string; readonly field: string };
  /** TCP checksum over the pseudo-header, the TCP header and the payload (RFC 9293 section 3.1). */
  readonly tcp: { readonly header: string; readonly field: string };
}

export interface Pipeline {
  /** Short name, used for file names (`prism`, `l3`). */
  readonly name: string;
  /** The ingress control's name as P4 names it; qualifies table and action names (`MyIngress.l3`). */
  readonly ingressName: string;
  readonly headers: readonly HeaderDef[];
  /** Parser states; the first one is the start state. */
  readonly parser: readonly ParserState[];
  readonly actions: readonly ActionDef[];
  readonly tables: readonly TableDef[];
  readonly ingress: readonly Statement[];
  /** Checksums to keep valid after rewrites; absent when no action writes a checksummed field. */
  readonly checksums?: ChecksumSpec;
  /** P4Info ids of the controller headers (prefix 0x04), by header name. */
  readonly controllerHeaderIds: Readonly<Record<string, number>>;
}

/** P4Info id prefixes (p4.config.v1.P4Ids.Prefix). */
export const P4_ID_PREFIX = {
  action: 0x01,
  table: 0x02,
  controllerHeader: 0x04,
  directCounter: 0x13,
} as const;

export function p4Id(prefix: number, n: number): number {
  return ((prefix << 24) | (n & 0xffffff)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Helpers that the pipelines and emitters share.

export function findHeader(p: Pipeline, name: string): HeaderDef {
  const h = p.headers.find((x) => x.name === name);
  if (!h) throw new Error(`pipeline ${p.name}: no header ${name}`);
  return h;
}

export function findField(p: Pipeline, ref: FieldRef): FieldDef {
  const f = findHeader(p, ref.header).fields.find((x) => x.name === ref.field);
  if (!f) throw new Error(`pipeline ${p.name}: no field ${ref.header}.${ref.field}`);
  return f;
}

export function findAction(p: Pipeline, name: string): ActionDef {
  const a = p.actions.find((x) => x.name === name);
  if (!a) throw new Error(`pipeline ${p.name}: no action ${name}`);
  return a;
}

export function findTable(p: Pipeline, name: string): TableDef {
  const t = p.tables.find((x) => x.name === name);
  if (!t) throw new Error(`pipeline ${p.name}: no table ${name}`);
  return t;
}

/** Bit offset of a field inside its header. */
export function fieldBitOffset(h: HeaderDef, field: string): number {
  let off = 0;
  for (const f of h.fields) {
    if (f.name === field) return off;
    off += f.bits;
  }
  throw new Error(`header ${h.name}: no field ${field}`);
}

export function headerBits(h: HeaderDef): number {
  return h.fields.reduce((n, f) => n + f.bits, 0);
}

/** Fully qualified names as p4c writes them in P4Info: `<control>.<local>`. */
export function qualifiedName(p: Pipeline, local: string): string {
  return `${p.ingressName}.${local}`;
}

/** The key field's name as p4c writes it in P4Info: the key expression, `hdr.<header>.<field>`. */
export function keyFieldName(k: KeyDef): string {
  return `hdr.${k.field.header}.${k.field.field}`;
}

export function directCounterName(t: TableDef): string {
  return `${t.name}_counter`;
}

/** Every primitive in an action body, depth first (through `if`). */
export function* walkPrimitives(body: readonly Primitive[]): Generator<Primitive> {
  for (const prim of body) {
    yield prim;
    if (prim.op === 'if') yield* walkPrimitives(prim.then);
  }
}

/** Every table applied by a list of statements, in order of first appearance. */
export function* walkStatements(body: readonly Statement[]): Generator<Statement> {
  for (const s of body) {
    yield s;
    if (s.kind === 'apply') {
      yield* walkStatements(s.hit ?? []);
      yield* walkStatements(s.miss ?? []);
    } else if (s.kind === 'ifValid') {
      yield* walkStatements(s.then);
      yield* walkStatements(s.else ?? []);
    }
  }
}
