/**
 * P4_16 for Tofino's TNA architecture (tna.p4, compiled by bf-p4c --arch tna).
 *
 * The program shares the header types, structs and table sizes with the v1model program (the shared
 * include) and reuses the common action, table and statement emitters through a TNA `P4Target`.
 * What is TNA's own:
 * - the ingress parser starts by extracting the intrinsic metadata and skipping the port metadata
 *   (phase 0), then runs the pipeline's parser states; the CPU-port test selects on
 *   `ig_intr_md.ingress_port`;
 * - direct counters are `DirectCounter` externs counted by `count()` inside every action of the table;
 * - checksums are recomputed in the ingress deparser by `Checksum` externs: the IPv4 header checksum
 *   from scratch, the TCP checksum incrementally from a residual the parser deposits (the deparser
 *   cannot see the payload). See `tcpChecksumPlan` for the arithmetic;
 * - egress is empty: its parser only extracts the egress intrinsic metadata.
 * docs/tna.md explains how to compile and load the result.
 */
import { CodegenError } from '../core/errors.js';
import {
  HEADERS_STRUCT,
  METADATA_STRUCT,
  TCP_CSUM_RESIDUAL_FIELD,
  deparsedHeaders,
  emitActions,
  emitCounters,
  emitParserStates,
  emitStatements,
  emitTables,
  fieldsExcept,
  type P4Target,
} from './emit-p4-common.js';
import { findHeader, walkPrimitives, type FieldRef, type HeaderDef, type ParserState, type Pipeline } from './ir.js';
import { Printer } from './printer.js';

/**
 * The CPU (PCIe) port of a 2-pipe Tofino 1 (pipe 1, port 64). A 4-pipe Tofino 1 uses 320; see
 * docs/tna.md for Tofino 2 and the model. Override with -DCPU_PORT=<n>.
 */
export const TNA_DEFAULT_CPU_PORT = 192;

/** The egress pipeline carries nothing of ours: empty header and metadata structs. */
const EGRESS_HEADERS_STRUCT = 'egress_headers_t';
const EGRESS_METADATA_STRUCT = 'egress_metadata_t';

const IPV4_CHECKSUM = 'ipv4_checksum';
const TCP_CHECKSUM = 'tcp_checksum';

const tna: P4Target = {
  ingressPort: 'ig_intr_md.ingress_port',
  forward: (port) => [`ig_tm_md.ucast_egress_port = ${port};`],
  drop: () => ['ig_dprsr_md.drop_ctl = 1;'],
  portType: 'PortId_t',
  directCounter: (name) => `DirectCounter<bit<32>>(CounterType_t.PACKETS_AND_BYTES) ${name};`,
  counterProperty: (name) => `counters = ${name};`,
  countInAction: (name) => `${name}.count();`,
};

// ---------------------------------------------------------------------------------------------
// Parser states: TNA's `start` is the architecture's (it extracts the intrinsic metadata), so a
// pipeline state of that name is renamed and TNA's start transitions to the pipeline's first state.

function freshName(taken: ReadonlySet<string>, base: string): string {
  if (!taken.has(base)) return base;
  for (let i = 0; ; i++) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
}

/** The pipeline's parser states with `start` renamed; returns them and the name of the first state. */
function renameStart(p: Pipeline): { states: ParserState[]; first: string } {
  const taken = new Set(p.parser.map((s) => s.name));
  const renamed = freshName(taken, 'parse_start');
  const r = (n: string): string => (n === 'start' ? renamed : n);
  const states = p.parser.map((s): ParserState => {
    const out: { -readonly [K in keyof ParserState]: ParserState[K] } = { name: r(s.name) };
    if (s.extract !== undefined) out.extract = s.extract;
    if (s.next !== undefined) out.next = r(s.next);
    if (s.select) {
      out.select = {
        on: s.select.on,
        cases: s.select.cases.map((c) => ({ value: c.value, next: r(c.next) })),
        default: r(s.select.default),
      };
    }
    return out;
  });
  const first = states[0];
  if (!first) throw new CodegenError(`pipeline ${p.name}: parser has no states`);
  return { states, first: first.name };
}

function successors(s: ParserState): string[] {
  if (s.select) return [...s.select.cases.map((c) => c.next), s.select.default];
  return [s.next ?? 'accept'];
}

/** States reachable from `from` (excluded) without passing through `avoid`. */
function reachable(states: readonly ParserState[], from: string, avoid?: string): Set<string> {
  const byName = new Map(states.map((s) => [s.name, s]));
  const seen = new Set<string>();
  const todo = [from];
  while (todo.length > 0) {
    const s = byName.get(todo.pop()!);
    if (!s) continue;
    for (const n of successors(s)) {
      if (n === avoid || seen.has(n)) continue;
      seen.add(n);
      todo.push(n);
    }
  }
  return seen;
}

// ---------------------------------------------------------------------------------------------
// The incremental TCP checksum.

/** Fields of the IPv4 header that enter the TCP pseudo-header and that we can update incrementally. */
const PSEUDO_HEADER_ADDRS = ['src_addr', 'dst_addr'];
/** IPv4 fields the pseudo-header depends on that the incremental scheme does not support rewriting. */
const PSEUDO_HEADER_OTHER = ['protocol', 'total_len', 'ihl'];

/**
 * What the ingress parser subtracts and the ingress deparser adds back for the TCP checksum.
 *
 * The arithmetic (ones' complement sums, RFC 1071; incremental update, RFC 1624 eqn. 3):
 * let S be the sum over the pseudo-header, the TCP header (checksum field zero) and the payload;
 * the packet carries C = ~S. Split S = W + R, where W are the 16-bit words an action may rewrite
 * (the IPv4 addresses, the TCP words holding flags and window) and R all the rest, which the switch
 * never changes (and which includes the payload the deparser cannot see).
 * - Parser: `subtract` W_old and C_old, then `subtract_all_and_deposit` the running value:
 *   residual = -W_old - C_old = -W_old + S_old = R  (in ones' complement, -x = ~x, so -C = S).
 * - Deparser: `update({W_new, residual})` = ~(W_new + R) = ~S_new, the new checksum.
 * Both engines place a field by its bit position (parser: in the packet; deparser: in the field
 * list), so W is made of whole 16-bit words: every field sharing a word with a rewritten field is
 * included (data_offset and res go with flags), and the deparser list keeps each word 16-bit aligned.
 * `subtract_all_and_deposit` also subtracts every header extracted after its state, which the
 * deparser would then have to add back: we require TCP to be the last header extracted.
 */
interface TcpChecksumPlan {
  /** State extracting the IPv4 header, and the IPv4 fields it subtracts (the rewritable addresses). */
  readonly ipv4State: string;
  readonly ipv4Fields: readonly string[];
  /** State extracting the TCP header, and the TCP fields it subtracts (whole words; checksum last). */
  readonly tcpState: string;
  readonly tcpFields: readonly string[];
}

/** Bit spans of a header's fields. */
function spans(h: HeaderDef): { name: string; start: number; end: number }[] {
  let off = 0;
  return h.fields.map((f) => {
    const s = { name: f.name, start: off, end: off + f.bits };
    off += f.bits;
    return s;
  });
}

/** The written fields of `h` widened to the whole 16-bit words they share with other fields, in header order. */
function wholeWords(h: HeaderDef, written: ReadonlySet<string>): string[] {
  const sp = spans(h);
  const wordsOf = (s: { start: number; end: number }): number[] => {
    const ws: number[] = [];
    for (let w = Math.floor(s.start / 16); w <= Math.floor((s.end - 1) / 16); w++) ws.push(w);
    return ws;
  };
  const words = new Set(sp.filter((s) => written.has(s.name)).flatMap(wordsOf));
  for (;;) {
    const selected = sp.filter((s) => wordsOf(s).some((w) => words.has(w)));
    const before = words.size;
    for (const s of selected) for (const w of wordsOf(s)) words.add(w);
    if (words.size === before) return selected.map((s) => s.name);
  }
}

/** Every header field some action writes (assignments, TCP flag and window primitives). */
function writtenFields(p: Pipeline, tcpHeader: string): FieldRef[] {
  const out: FieldRef[] = [];
  for (const a of p.actions) {
    for (const prim of walkPrimitives(a.body)) {
      if (prim.op === 'assign') out.push(prim.dst);
      else if (prim.op === 'clearTcpFlag') out.push({ header: tcpHeader, field: 'flags' });
      else if (prim.op === 'setTcpWindow') out.push({ header: tcpHeader, field: 'window' });
    }
  }
  return out;
}

function tcpChecksumPlan(p: Pipeline, states: readonly ParserState[], first: string): TcpChecksumPlan | undefined {
  const cs = p.checksums;
  if (!cs) return undefined;
  const ip = cs.ipv4.header;
  const l4 = cs.tcp.header;
  const written = writtenFields(p, l4);
  const ipWritten = new Set(written.filter((r) => r.header === ip).map((r) => r.field));
  const tcpWritten = new Set(written.filter((r) => r.header === l4).map((r) => r.field));
  for (const f of PSEUDO_HEADER_OTHER) {
    if (ipWritten.has(f)) {
      throw new CodegenError(`pipeline ${p.name}: TNA: an action rewrites ${ip}.${f}, which the incremental TCP checksum does not support`);
    }
  }
  const ipv4Fields = findHeader(p, ip).fields.map((f) => f.name).filter((f) => PSEUDO_HEADER_ADDRS.includes(f) && ipWritten.has(f));
  const tcpHdr = findHeader(p, l4);
  const words = wholeWords(tcpHdr, tcpWritten);
  if (words.includes(cs.tcp.field)) {
    throw new CodegenError(`pipeline ${p.name}: TNA: a rewritten TCP field shares a 16-bit word with ${l4}.${cs.tcp.field}`);
  }
  if (ipv4Fields.length === 0 && words.length === 0) return undefined;
  const tcpFields = tcpHdr.fields.map((f) => f.name).filter((f) => words.includes(f) || f === cs.tcp.field);

  const extracting = (h: string): string => {
    const ss = states.filter((s) => s.extract === h);
    if (ss.length !== 1) throw new CodegenError(`pipeline ${p.name}: TNA: ${h} must be extracted in exactly one parser state (found ${ss.length})`);
    return ss[0]!.name;
  };
  const ipv4State = extracting(ip);
  const tcpState = extracting(l4);
  if (first !== ipv4State && (first === tcpState || reachable(states, first, ipv4State).has(tcpState))) {
    throw new CodegenError(`pipeline ${p.name}: TNA: ${l4} can be reached without extracting ${ip}; the pseudo-header would be wrong`);
  }
  const after = [...reachable(states, tcpState)].map((n) => states.find((s) => s.name === n)).filter((s) => s?.extract !== undefined);
  if (after.length > 0) {
    throw new CodegenError(`pipeline ${p.name}: TNA: headers are extracted after ${l4} (${after.map((s) => s!.extract).join(', ')}); the TCP residual would exclude them`);
  }
  return { ipv4State, ipv4Fields, tcpState, tcpFields };
}

// ---------------------------------------------------------------------------------------------

export function emitTna(p: Pipeline, sharedInclude: string): string {
  const out = new Printer({ comment: '//' });
  out.banner('codegen (P4_16 TNA)', `pipeline "${p.name}"`);
  out.line('#include <core.p4>');
  out.comment('Tofino 2 (bf-p4c --target tofino2 --arch t2na) has the same names in t2na.p4.');
  out.line('#if __TARGET_TOFINO__ == 2').line('#include <t2na.p4>').line('#else').line('#include <tna.p4>').line('#endif').blank();
  out.line(`#include "${sharedInclude}"`).blank();
  out.comment('The CPU PCIe port: 192 on a 2-pipe Tofino 1, 320 on a 4-pipe one (docs/tna.md); -DCPU_PORT=<n> overrides.');
  out.line('#ifndef CPU_PORT').line(`#define CPU_PORT ${TNA_DEFAULT_CPU_PORT}`).line('#endif').blank();

  const cs = p.checksums;
  const { states, first } = renameStart(p);
  const plan = tcpChecksumPlan(p, states, first);

  // Ingress parser.
  out.block(
    `parser IngressParser(packet_in packet, out ${HEADERS_STRUCT} hdr, out ${METADATA_STRUCT} meta, out ingress_intrinsic_metadata_t ig_intr_md) {`,
    () => {
      if (plan) {
        out.comment('Residual of the TCP checksum without the words the actions may rewrite (docs/tna.md).');
        out.line(`Checksum() ${TCP_CHECKSUM};`).blank();
      }
      out.block('state start {', () => {
        out.line('packet.extract(ig_intr_md);');
        out.line('packet.advance(PORT_METADATA_SIZE);');
        out.line('meta.csum_dirty = 0;');
        out.line(`transition ${first};`);
      });
      emitParserStates({ ...p, parser: states }, tna.ingressPort, out, (state) => {
        if (!plan || !cs) return [];
        const lines: string[] = [];
        if (state === plan.ipv4State && plan.ipv4Fields.length > 0) {
          lines.push(`${TCP_CHECKSUM}.subtract({${plan.ipv4Fields.map((f) => `hdr.${cs.ipv4.header}.${f}`).join(', ')}});`);
        }
        if (state === plan.tcpState) {
          lines.push(`${TCP_CHECKSUM}.subtract({${plan.tcpFields.map((f) => `hdr.${cs.tcp.header}.${f}`).join(', ')}});`);
          lines.push(`${TCP_CHECKSUM}.subtract_all_and_deposit(meta.${TCP_CSUM_RESIDUAL_FIELD});`);
        }
        return lines;
      });
    },
  );
  out.blank();

  // Ingress control: the pipeline's tables and statements.
  out.block(
    `control ${p.ingressName}(inout ${HEADERS_STRUCT} hdr, inout ${METADATA_STRUCT} meta, ` +
      'in ingress_intrinsic_metadata_t ig_intr_md, in ingress_intrinsic_metadata_from_parser_t ig_prsr_md, ' +
      'inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md, inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {',
    () => {
      emitCounters(p, tna, out);
      emitActions(p, tna, out);
      emitTables(p, tna, out);
      out.block('apply {', () => emitStatements(p, p.ingress, out, tna));
    },
  );
  out.blank();

  // Ingress deparser: checksums, then every header but packet_out.
  out.block(
    `control IngressDeparser(packet_out packet, inout ${HEADERS_STRUCT} hdr, in ${METADATA_STRUCT} meta, in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {`,
    () => {
      if (cs) out.line(`Checksum() ${IPV4_CHECKSUM};`);
      if (plan) out.line(`Checksum() ${TCP_CHECKSUM};`);
      if (cs) out.blank();
      out.block('apply {', () => {
        if (cs) {
          const ip = cs.ipv4.header;
          out.block('if (meta.csum_dirty == 1) {', () => {
            out.line(`hdr.${ip}.${cs.ipv4.field} = ${IPV4_CHECKSUM}.update({`);
            out.indented(() => out.line(`${fieldsExcept(p, ip, cs.ipv4.field).join(', ')}`));
            out.line('});');
          });
        }
        if (plan && cs) {
          const fields = [
            ...plan.ipv4Fields.map((f) => `hdr.${cs.ipv4.header}.${f}`),
            ...plan.tcpFields.filter((f) => f !== cs.tcp.field).map((f) => `hdr.${cs.tcp.header}.${f}`),
            `meta.${TCP_CSUM_RESIDUAL_FIELD}`,
          ];
          out.comment('Incremental: the rewritable words as they are now, plus the residual of everything else.');
          out.block('if (meta.csum_dirty == 1) {', () => {
            out.line(`hdr.${cs.tcp.header}.${cs.tcp.field} = ${TCP_CHECKSUM}.update({`);
            out.indented(() => out.line(fields.join(', ')));
            out.line('});');
          });
        }
        for (const h of deparsedHeaders(p)) out.line(`packet.emit(hdr.${h});`);
      });
    },
  );
  out.blank();

  // Egress: nothing to do; the parser must still extract the egress intrinsic metadata.
  out.line(`struct ${EGRESS_HEADERS_STRUCT} { }`).blank();
  out.line(`struct ${EGRESS_METADATA_STRUCT} { }`).blank();
  out.block(
    `parser EgressParser(packet_in packet, out ${EGRESS_HEADERS_STRUCT} hdr, out ${EGRESS_METADATA_STRUCT} meta, out egress_intrinsic_metadata_t eg_intr_md) {`,
    () => {
      out.block('state start {', () => {
        out.line('packet.extract(eg_intr_md);');
        out.line('transition accept;');
      });
    },
  );
  out.blank();
  out.block(
    `control Egress(inout ${EGRESS_HEADERS_STRUCT} hdr, inout ${EGRESS_METADATA_STRUCT} meta, ` +
      'in egress_intrinsic_metadata_t eg_intr_md, in egress_intrinsic_metadata_from_parser_t eg_prsr_md, ' +
      'inout egress_intrinsic_metadata_for_deparser_t eg_dprsr_md, inout egress_intrinsic_metadata_for_output_port_t eg_oport_md) {',
    () => {
      out.line('apply { }');
    },
  );
  out.blank();
  out.block(
    `control EgressDeparser(packet_out packet, inout ${EGRESS_HEADERS_STRUCT} hdr, in ${EGRESS_METADATA_STRUCT} meta, in egress_intrinsic_metadata_for_deparser_t eg_dprsr_md) {`,
    () => {
      out.line('apply { }');
    },
  );
  out.blank();
  out.line(`Pipeline(IngressParser(), ${p.ingressName}(), IngressDeparser(), EgressParser(), Egress(), EgressDeparser()) pipe;`);
  out.blank();
  out.line('Switch(pipe) main;');
  return out.toString();
}
