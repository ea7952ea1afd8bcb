/**
 * P4_16 for the v1model architecture (p4c's BMv2 backend, simple_switch_grpc).
 * Checksums are recomputed with update_checksum / update_checksum_with_payload when an action set
 * `csum_dirty`; the CPU port carries packet_in / packet_out (@controller_header). A drop under an
 * `if` in an action sets `drop_pending`, and the control calls mark_to_drop after the table. The
 * ingress control starts with mark_to_drop, so a packet that no action forwards is dropped (BMv2
 * would otherwise send it to port 0), as on the other targets.
 */
import type { Pipeline } from './ir.js';
import {
  DROP_PENDING_FIELD,
  HEADERS_STRUCT,
  METADATA_STRUCT,
  deparsedHeaders,
  emitActions,
  emitCounters,
  emitParserStates,
  emitStatements,
  emitTables,
  fieldsExcept,
  stateExtracting,
  type P4Target,
} from './emit-p4-common.js';
import { Printer } from './printer.js';

/** simple_switch_grpc's conventional CPU port; override with -DCPU_PORT=<n> to match --cpu-port. */
export const V1MODEL_DEFAULT_CPU_PORT = 255;

const v1model: P4Target = {
  ingressPort: 'standard_metadata.ingress_port',
  forward: (port) => [`standard_metadata.egress_spec = ${port};`],
  drop: () => ['mark_to_drop(standard_metadata);'],
  portType: 'bit<9>',
  directCounter: (name) => `direct_counter(CounterType.packets_and_bytes) ${name};`,
  counterProperty: (name) => `counters = ${name};`,
  countInAction: () => null,
  // mark_to_drop is an extern call: p4c refuses it under an `if` in an action (emit-p4-common.ts).
  deferredDrop: () => [`if (meta.${DROP_PENDING_FIELD} == 1) {`, '    mark_to_drop(standard_metadata);', '}'],
};

export function emitV1model(p: Pipeline, sharedInclude: string): string {
  const out = new Printer({ comment: '//' });
  out.banner('codegen (P4_16 v1model)', `pipeline "${p.name}"`);
  out.line('#include <core.p4>').line('#include <v1model.p4>').blank();
  out.line(`#include "${sharedInclude}"`).blank();
  out.line('#ifndef CPU_PORT').line(`#define CPU_PORT ${V1MODEL_DEFAULT_CPU_PORT}`).line('#endif').blank();

  const cs = p.checksums;
  const tcpState = cs ? stateExtracting(p, cs.tcp.header) : undefined;
  out.block(
    `parser MyParser(packet_in packet, out ${HEADERS_STRUCT} hdr, inout ${METADATA_STRUCT} meta, inout standard_metadata_t standard_metadata) {`,
    () => {
      emitParserStates(p, 'standard_metadata.ingress_port', out, (state) =>
        // TCP length for the pseudo-header: the parser only reaches TCP for option-less IPv4 (20 bytes).
        cs && state === tcpState ? [`meta.l4_len = hdr.${cs.ipv4.header}.total_len - 16w20;`] : [],
      );
    },
  );
  out.blank();

  out.block(`control MyVerifyChecksum(inout ${HEADERS_STRUCT} hdr, inout ${METADATA_STRUCT} meta) {`, () => {
    out.line('apply { }');
  });
  out.blank();

  out.block(
    `control ${p.ingressName}(inout ${HEADERS_STRUCT} hdr, inout ${METADATA_STRUCT} meta, inout standard_metadata_t standard_metadata) {`,
    () => {
      emitCounters(p, v1model, out);
      emitActions(p, v1model, out);
      emitTables(p, v1model, out);
      out.block('apply {', () => {
        // egress_spec starts at 0, a real port on BMv2: without this, a packet no action forwards
        // would leave on port 0 instead of being dropped as on the eBPF and TNA targets.
        out.comment('No egress port until an action forwards: what nothing forwards is dropped.');
        out.lines_(v1model.drop());
        emitStatements(p, p.ingress, out, v1model);
      });
    },
  );
  out.blank();

  out.block(
    `control MyEgress(inout ${HEADERS_STRUCT} hdr, inout ${METADATA_STRUCT} meta, inout standard_metadata_t standard_metadata) {`,
    () => {
      out.line('apply { }');
    },
  );
  out.blank();

  out.block(`control MyComputeChecksum(inout ${HEADERS_STRUCT} hdr, inout ${METADATA_STRUCT} meta) {`, () => {
    out.block('apply {', () => {
      if (!cs) return;
      const ip = cs.ipv4.header;
      const l4 = cs.tcp.header;
      out.line('update_checksum(');
      out.indented(() => {
        out.line(`hdr.${ip}.isValid() && meta.csum_dirty == 1,`);
        out.line(`{ ${fieldsExcept(p, ip, cs.ipv4.field).join(', ')} },`);
        out.line(`hdr.${ip}.${cs.ipv4.field},`);
        out.line('HashAlgorithm.csum16);');
      });
      // RFC 9293 section 3.1: pseudo-header (src, dst, zero, protocol, TCP length), then the segment.
      out.line('update_checksum_with_payload(');
      out.indented(() => {
        out.line(`hdr.${l4}.isValid() && meta.csum_dirty == 1,`);
        out.line(
          `{ hdr.${ip}.src_addr, hdr.${ip}.dst_addr, 8w0, hdr.${ip}.protocol, meta.l4_len, ${fieldsExcept(p, l4, cs.tcp.field).join(', ')} },`,
        );
        out.line(`hdr.${l4}.${cs.tcp.field},`);
        out.line('HashAlgorithm.csum16);');
      });
    });
  });
  out.blank();

  out.block(`control MyDeparser(packet_out packet, in ${HEADERS_STRUCT} hdr) {`, () => {
    out.block('apply {', () => {
      for (const h of deparsedHeaders(p)) out.line(`packet.emit(hdr.${h});`);
    });
  });
  out.blank();
  out.line(`V1Switch(MyParser(), MyVerifyChecksum(), ${p.ingressName}(), MyEgress(), MyComputeChecksum(), MyDeparser()) main;`);
  return out.toString();
}
