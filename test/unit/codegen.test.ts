/** The pipeline IR, its validator and the emitters: committed output fresh, deterministic, golden lines. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TARGETS, generate, parseTargets, pipelineByName } from '../../codegen/generate.js';
import { emitP4Info } from '../../codegen/emit-p4info.js';
import { emitEbpf, pipelineLayouts } from '../../codegen/emit-ebpf.js';
import { PIPELINES, prismPipeline } from '../../codegen/pipelines/index.js';
import { validatePipeline } from '../../codegen/validate.js';
import type { Pipeline } from '../../codegen/ir.js';
import { decodeMessage, lookupMessageType } from '../../core/proto.js';
import { toTextProto } from '../../codegen/textproto.js';
import { lpmPrefixLength } from '../../codegen/ebpf-layout.js';

const REPO = join(import.meta.dirname, '..', '..');

describe('pipelines', () => {
  for (const [name, p] of Object.entries(PIPELINES)) {
    it(`${name} is valid`, () => {
      expect(validatePipeline(p)).toEqual([]);
    });
  }

  const broken: [string, (p: Pipeline) => Pipeline, RegExp][] = [
    ['unknown table in the control', (p) => ({ ...p, ingress: [...p.ingress, { kind: 'apply', table: 'nope' }] }), /unknown table nope/],
    ['duplicate table id', (p) => ({ ...p, tables: p.tables.map((t) => ({ ...t, id: p.tables[0]!.id })) }), /share id/],
    ['table id without the table prefix', (p) => ({ ...p, tables: p.tables.map((t, i) => (i === 0 ? { ...t, id: 0x01000099 } : t)) }), /lacks prefix 0x02/],
    [
      'param width does not match the field',
      (p) => ({
        ...p,
        actions: p.actions.map((a) => (a.name === 'to_backend' ? { ...a, params: a.params.map((x) => (x.name === 'backend_ip' ? { ...x, bits: 16 } : x)) } : a)),
      }),
      /ipv4\.dst_addr is 32 bits, its value 16/,
    ],
    ['default action not in the action list', (p) => ({ ...p, tables: p.tables.map((t) => (t.name === 'vip' ? { ...t, defaultAction: { action: 'drop', args: [] } } : t)) }), /default action drop is not in its action list/],
    ['header not a whole number of bytes', (p) => ({ ...p, headers: p.headers.map((h) => (h.name === 'tcp' ? { ...h, fields: h.fields.filter((x) => x.name !== 'res') } : h)) }), /not a whole number of bytes/],
    ['parser goes to an unknown state', (p) => ({ ...p, parser: p.parser.map((s) => (s.name === 'parse_arp' ? { ...s, next: 'nowhere' } : s)) }), /unknown state nowhere/],
    [
      'a counted table shares an action with another table',
      (p) => ({ ...p, tables: p.tables.map((t) => (t.name === 'vip' ? { ...t, actions: [...t.actions, 'no_handoff_in'] } : t)) }),
      /also used by vip/,
    ],
  ];
  for (const [what, mutate, re] of broken) {
    it(`rejects a pipeline with ${what}`, () => {
      const problems = validatePipeline(mutate(prismPipeline));
      expect(problems.join('\n')).toMatch(re);
      expect(() => generate(mutate(prismPipeline))).toThrow(/is invalid/);
    });
  }
});

describe('generated files', () => {
  for (const [name, p] of Object.entries(PIPELINES)) {
    it(`p4/ holds the current output for ${name} (run \`prism codegen\` if this fails)`, () => {
      for (const [rel, content] of generate(p)) {
        const committed = readFileSync(join(REPO, 'p4', rel));
        expect(committed.equals(Buffer.from(content)), `p4/${rel} is stale`).toBe(true);
      }
    });
    it(`${name}: every run gives byte-identical output`, () => {
      const a = generate(p);
      const b = generate(p);
      expect([...a.keys()]).toEqual([...b.keys()]);
      for (const [k, v] of a) expect(Buffer.from(v).equals(Buffer.from(b.get(k)!))).toBe(true);
    });
  }

  it('targets parse and reject unknown names', () => {
    expect(parseTargets('all')).toEqual([...TARGETS]);
    expect(parseTargets('ebpf,p4info')).toEqual(['ebpf', 'p4info']);
    expect(() => parseTargets('bmv3')).toThrow(/unknown target "bmv3"/);
    expect(() => pipelineByName('nope')).toThrow(/unknown pipeline "nope"/);
  });
});

describe('v1model emitter', () => {
  const out = String(generate(prismPipeline, ['v1model']).get('v1model/prism.p4'));
  it('pins ids and names as p4c will write them into P4Info', () => {
    expect(out).toContain('@id(0x02000001)\n    table handoff_in {');
    expect(out).toContain('@id(0x01000005)\n    action to_backend(bit<32> backend_ip, bit<48> backend_mac, bit<9> port, bit<1> clear_fin) {');
    expect(out).toContain('hdr.ipv4.src_addr : exact @name("hdr.ipv4.src_addr");  // 32 bits');
  });
  it('sends to the CPU port with packet_in and takes packet_out from it', () => {
    expect(out).toContain('            CPU_PORT: parse_packet_out;');
    expect(out).toContain('        hdr.packet_in.ingress_port = (bit<9>)standard_metadata.ingress_port;');
    expect(out).toContain('        standard_metadata.egress_spec = (bit<9>)hdr.packet_out.egress_port;');
    expect(out).not.toContain('packet.emit(hdr.packet_out)');
  });
  it('recomputes checksums only after a rewrite', () => {
    expect(out).toContain('            hdr.ipv4.isValid() && meta.csum_dirty == 1,');
    expect(out).toContain('update_checksum_with_payload(');
    expect(out).toContain('{ hdr.ipv4.src_addr, hdr.ipv4.dst_addr, 8w0, hdr.ipv4.protocol, meta.l4_len,');
  });
  it('binds direct counters and a const default', () => {
    expect(out).toContain('direct_counter(CounterType.packets_and_bytes) handoff_in_counter;');
    expect(out).toContain('        counters = handoff_in_counter;');
    expect(out).toContain('        const default_action = no_handoff_in();');
  });
  it('drops what no action forwards (egress_spec 0 is a real port on BMv2)', () => {
    expect(out).toContain('    apply {\n        // No egress port until an action forwards: what nothing forwards is dropped.\n        mark_to_drop(standard_metadata);\n        if (hdr.packet_out.isValid()) {');
  });
  it('defers a drop under an if in an action to the control: p4c refuses mark_to_drop there', () => {
    const body = out.slice(out.indexOf('action from_backend('), out.indexOf('action route('));
    expect(body).toContain('            if ((hdr.tcp.flags & 8w0x04) != 0) {\n                meta.drop_pending = 1;\n            }');
    expect(body).not.toContain('mark_to_drop');
    // Checked where a hit may have run from_backend, before the exit; the const default cannot.
    expect(out).toContain(
      [
        '                if (handoff_out.apply().hit) {',
        '                    if (meta.drop_pending == 1) {',
        '                        mark_to_drop(standard_metadata);',
        '                    }',
        '                    exit;',
        '                } else {',
        '                    if (vip.apply().hit) {',
      ].join('\n'),
    );
    expect(out.match(/meta\.drop_pending == 1/g)).toHaveLength(1);
    expect(String(generate(prismPipeline, ['v1model']).get('shared/prism_headers.p4'))).toContain('    bit<1> drop_pending;\n');
    expect(String(generate(PIPELINES.l3!, ['v1model']).get('shared/l3_headers.p4'))).not.toContain('drop_pending');
  });
  it('checks a deferred drop on both outcomes of a table whose default the controller may change', () => {
    const p: Pipeline = {
      ...prismPipeline,
      actions: prismPipeline.actions.map((a) => (a.name === 'route' ? { ...a, body: [...a.body, { op: 'if', cond: { kind: 'tcpFlagSet', flag: 'rst' }, then: [{ op: 'drop' }] }] } : a)),
    };
    const text = String(generate(p, ['v1model']).get('v1model/prism.p4'));
    // l3 has no branches: one check after it; its default (drop) is not const.
    expect(text).toContain('            l3.apply();\n            if (meta.drop_pending == 1) {\n                mark_to_drop(standard_metadata);\n            }\n');
    // TNA drops in place (an assignment), with no flag.
    const tna = String(generate(p, ['tna']).get('tna/prism.p4'));
    expect(tna).not.toContain('drop_pending');
  });
});

describe('P4Info emitter', () => {
  const info = emitP4Info(prismPipeline);
  const decoded = decodeMessage<Record<string, any>>('p4.config.v1.P4Info', info.binary);
  it('names tables and actions as p4c does, with the pinned ids', () => {
    const t = decoded.tables.find((x: any) => x.preamble.name === 'MyIngress.handoff_in');
    expect(t.preamble.id).toBe(0x02000001);
    expect(t.preamble.alias).toBe('handoff_in');
    expect(t.match_fields.map((m: any) => [m.id, m.name, m.bitwidth, m.match_type])).toEqual([
      [1, 'hdr.ipv4.src_addr', 32, 'EXACT'],
      [2, 'hdr.ipv4.dst_addr', 32, 'EXACT'],
      [3, 'hdr.tcp.src_port', 16, 'EXACT'],
      [4, 'hdr.tcp.dst_port', 16, 'EXACT'],
    ]);
    expect(t.direct_resource_ids).toEqual([0x13000001]);
    expect(String(t.size)).toBe('65536');
    const a = decoded.actions.find((x: any) => x.preamble.name === 'MyIngress.from_backend');
    expect(a.params.map((x: any) => [x.id, x.name, x.bitwidth])).toEqual([
      [1, 'vip', 32],
      [2, 'vip_mac', 48],
      [3, 'client_mac', 48],
      [4, 'port', 9],
      [5, 'zero_window', 1],
      [6, 'drop_rst', 1],
    ]);
  });
  it('describes the controller headers', () => {
    const pin = decoded.controller_packet_metadata.find((x: any) => x.preamble.name === 'packet_in');
    expect(pin.preamble.id).toBe(0x04000001);
    expect(pin.preamble.annotations).toEqual(['@controller_header("packet_in")']);
    expect(pin.metadata.map((m: any) => [m.id, m.name, m.bitwidth])).toEqual([
      [1, 'ingress_port', 9],
      [2, '_pad', 7],
    ]);
  });
  it('writes the optional fields p4c 1.2.4.8 writes: no initial_default_action, an empty type_info', () => {
    expect(decoded.tables.map((t: any) => t.initial_default_action)).toEqual(decoded.tables.map(() => null));
    expect(decoded.tables.find((t: any) => t.preamble.alias === 'vip').const_default_action_id).toBe(0x01000001);
    expect(decoded.type_info).toEqual({ structs: {}, headers: {}, header_unions: {}, enums: {}, error: null, serializable_enums: {}, new_types: {} });
    expect(info.text.endsWith('\ntype_info {\n}\n')).toBe(true);
  });
  it('prints map fields as protoc does: one entry per key, keys sorted, empty maps left out', () => {
    const type = lookupMessageType('p4.config.v1.P4TypeInfo');
    const msg = type.fromObject({ new_types: { b_t: { original_type: { bitstring: { bit: { bitwidth: 9 } } } }, a_t: { translated_type: { uri: 'u', sdn_bitwidth: 32 } } } });
    expect(toTextProto(type, msg)).toBe(
      [
        'new_types {',
        '  key: "a_t"',
        '  value {',
        '    translated_type {',
        '      uri: "u"',
        '      sdn_bitwidth: 32',
        '    }',
        '  }',
        '}',
        'new_types {',
        '  key: "b_t"',
        '  value {',
        '    original_type {',
        '      bitstring {',
        '        bit {',
        '          bitwidth: 9',
        '        }',
        '      }',
        '    }',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  });
  it('writes a text format that protoc would write', () => {
    expect(info.text).toContain('tables {\n  preamble {\n    id: 33554433\n    name: "MyIngress.handoff_in"\n    alias: "handoff_in"\n  }\n');
    expect(info.text).toContain('  match_fields {\n    id: 1\n    name: "hdr.ipv4.dst_addr"\n    bitwidth: 32\n    match_type: LPM\n  }\n');
    expect(info.text).toContain('    annotations: "@controller_header(\\"packet_in\\")"\n');
  });
});

describe('eBPF emitter', () => {
  const c = emitEbpf(prismPipeline);
  it('declares one BPF map per table with the layout the switch computes', () => {
    for (const l of pipelineLayouts(prismPipeline)) {
      expect(c).toContain(`} ${l.mapName} SEC(".maps");`);
      expect(c).toContain(`_Static_assert(sizeof(struct ${l.mapName}_value) == ${l.valueBytes},`);
    }
    expect(c).toContain('__uint(type, BPF_MAP_TYPE_LPM_TRIE);');
  });
  it('fixes checksums incrementally, pseudo-header changes flagged', () => {
    expect(c).toContain('BPF_F_PSEUDO_HDR');
    expect(c).toContain('if (bpf_l3_csum_replace(skb, meta.off_ipv4 + 10, was, now, 4) < 0)');
    expect(c).toContain('bpf_l4_csum_replace(skb, meta.off_tcp + 16, was, now, BPF_F_PSEUDO_HDR | 4)');
  });
  it('pushes packet_in and pops packet_out', () => {
    expect(c).toContain('bpf_skb_change_head(skb, 2, 0)');
    expect(c).toContain('if (pop_front(skb, 2) < 0)');
  });
  it('computes LPM trie prefix lengths over padded key bytes', () => {
    const l = pipelineLayouts(prismPipeline).find((x) => x.name === 'l3')!;
    expect(l.mapKeyBytes).toBe(8);
    expect(lpmPrefixLength(l, 24)).toBe(24);
  });
});
