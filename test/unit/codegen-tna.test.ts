/**
 * The TNA emitter: golden lines of the generated Tofino program for both pipelines, determinism,
 * the incremental TCP checksum checked numerically against a full recomputation, and (when the
 * Intel SDE is installed) a bf-p4c compile. bf-p4c is not part of this project's toolchain, so the
 * golden lines are the regression net; docs/tna.md tells how to compile by hand.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CodegenError } from '../../core/errors.js';
import { emitSharedInclude } from '../../codegen/emit-p4-common.js';
import { TNA_DEFAULT_CPU_PORT, emitTna } from '../../codegen/emit-tna.js';
import { emitV1model } from '../../codegen/emit-v1model.js';
import { generate, sharedIncludePath } from '../../codegen/generate.js';
import { directCounterName, findHeader, type HeaderDef, type Pipeline } from '../../codegen/ir.js';
import { l3Pipeline, prismPipeline } from '../../codegen/pipelines/index.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const include = (p: Pipeline): string => `../${sharedIncludePath(p)}`;
const tnaOf = (p: Pipeline): string => emitTna(p, include(p));
/** The program's lines with indentation removed. */
const linesOf = (text: string): string[] => text.split('\n').map((l) => l.trim());

/** The lines of the block that starts with the line `open` (exact, trimmed), up to its closing brace. */
function block(text: string, open: string): string[] {
  const ls = text.split('\n');
  const start = ls.findIndex((l) => l.trim() === open);
  if (start < 0) throw new Error(`no line ${open}`);
  const indent = ls[start]!.length - ls[start]!.trimStart().length;
  const out: string[] = [];
  for (let i = start + 1; i < ls.length; i++) {
    const l = ls[i]!;
    if (l.trim() === '}' && l.length - l.trimStart().length === indent) return out;
    out.push(l.trim());
  }
  throw new Error(`block ${open} is not closed`);
}

function actionBlock(text: string, p: Pipeline, name: string): string[] {
  const a = p.actions.find((x) => x.name === name)!;
  const params = a.params.map((x) => `bit<${x.bits}> ${x.name}`).join(', ');
  return block(text, `action ${name}(${params}) {`);
}

describe('emitTna: prism pipeline', () => {
  const text = tnaOf(prismPipeline);
  const lines = linesOf(text);

  it('includes the architecture, the shared include and a CPU port that -D overrides', () => {
    expect(lines).toContain('#include <core.p4>');
    expect(lines).toContain('#include <tna.p4>');
    expect(lines).toContain('#include "../shared/prism_headers.p4"');
    const at = lines.indexOf('#ifndef CPU_PORT');
    expect(lines.slice(at, at + 3)).toEqual(['#ifndef CPU_PORT', `#define CPU_PORT ${TNA_DEFAULT_CPU_PORT}`, '#endif']);
    expect(TNA_DEFAULT_CPU_PORT).toBe(192);
  });

  it('extracts the intrinsic metadata, skips the port metadata, then runs the pipeline parser', () => {
    expect(lines).toContain(
      'parser IngressParser(packet_in packet, out headers_t hdr, out local_metadata_t meta, out ingress_intrinsic_metadata_t ig_intr_md) {',
    );
    expect(block(text, 'state start {')).toEqual([
      'packet.extract(ig_intr_md);',
      'packet.advance(PORT_METADATA_SIZE);',
      'meta.csum_dirty = 0;',
      'transition parse_start;',
    ]);
    // The pipeline's own start state, renamed, tests the CPU port on the TNA intrinsic field.
    expect(block(text, 'state parse_start {')).toEqual([
      'transition select(ig_intr_md.ingress_port) {',
      'CPU_PORT: parse_packet_out;',
      'default: parse_ethernet;',
      '}',
    ]);
    // One `start` in the ingress parser, one in the egress parser.
    expect(lines.filter((l) => l === 'state start {')).toHaveLength(2);
  });

  it('forwards with ucast_egress_port and drops with drop_ctl', () => {
    expect(actionBlock(text, prismPipeline, 'drop')).toEqual(['ig_dprsr_md.drop_ctl = 1;']);
    expect(actionBlock(text, prismPipeline, 'route')).toContain('ig_tm_md.ucast_egress_port = (PortId_t)port;');
    expect(actionBlock(text, prismPipeline, 'to_controller')).toEqual([
      'hdr.packet_in.setValid();',
      'hdr.packet_in.ingress_port = (bit<9>)ig_intr_md.ingress_port;',
      'hdr.packet_in._pad = 0;',
      'ig_tm_md.ucast_egress_port = CPU_PORT;',
    ]);
    expect(actionBlock(text, prismPipeline, 'send_packet_out')).toEqual(['ig_tm_md.ucast_egress_port = (PortId_t)hdr.packet_out.egress_port;']);
    expect(text).not.toMatch(/standard_metadata|mark_to_drop|direct_counter|egress_spec/);
  });

  it('declares DirectCounters, binds them and counts inside every action of a counted table, and only there', () => {
    expect(lines).toContain(
      'control MyIngress(inout headers_t hdr, inout local_metadata_t meta, in ingress_intrinsic_metadata_t ig_intr_md, ' +
        'in ingress_intrinsic_metadata_from_parser_t ig_prsr_md, inout ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md, ' +
        'inout ingress_intrinsic_metadata_for_tm_t ig_tm_md) {',
    );
    for (const t of prismPipeline.tables) {
      const tb = block(text, `table ${t.name} {`);
      if (t.directCounterId === undefined) {
        expect(tb.some((l) => l.startsWith('counters ='))).toBe(false);
        continue;
      }
      const name = directCounterName(t);
      expect(lines).toContain(`DirectCounter<bit<32>>(CounterType_t.PACKETS_AND_BYTES) ${name};`);
      expect(tb).toContain(`counters = ${name};`);
      for (const a of t.actions) {
        const body = actionBlock(text, prismPipeline, a);
        expect(body[body.length - 1], `${a} counts last`).toBe(`${name}.count();`);
      }
    }
    const counted = new Set(prismPipeline.tables.filter((t) => t.directCounterId !== undefined).flatMap((t) => t.actions));
    for (const a of prismPipeline.actions.filter((x) => !counted.has(x.name))) {
      expect(actionBlock(text, prismPipeline, a.name).some((l) => l.endsWith('.count();')), a.name).toBe(false);
    }
  });

  it('keeps the control flow, exit included', () => {
    const apply = block(text, 'apply {');
    expect(apply.slice(0, 4)).toEqual(['if (hdr.packet_out.isValid()) {', 'send_packet_out();', 'exit;', '}']);
    expect(apply).toContain('if (handoff_in.apply().hit) {');
  });

  it('subtracts the rewritable TCP words and the old checksum in the parser and deposits the residual', () => {
    expect(lines).toContain('Checksum() tcp_checksum;');
    expect(block(text, 'state parse_ipv4 {').slice(0, 2)).toEqual([
      'packet.extract(hdr.ipv4);',
      'tcp_checksum.subtract({hdr.ipv4.src_addr, hdr.ipv4.dst_addr});',
    ]);
    expect(block(text, 'state parse_tcp {')).toEqual([
      'packet.extract(hdr.tcp);',
      'tcp_checksum.subtract({hdr.tcp.data_offset, hdr.tcp.res, hdr.tcp.flags, hdr.tcp.window, hdr.tcp.checksum});',
      'tcp_checksum.subtract_all_and_deposit(meta.tcp_csum_residual);',
      'transition accept;',
    ]);
  });

  it('recomputes both checksums in the ingress deparser, guarded by csum_dirty', () => {
    const dep = block(
      text,
      'control IngressDeparser(packet_out packet, inout headers_t hdr, in local_metadata_t meta, in ingress_intrinsic_metadata_for_deparser_t ig_dprsr_md) {',
    );
    expect(dep.slice(0, 2)).toEqual(['Checksum() ipv4_checksum;', 'Checksum() tcp_checksum;']);
    const ip = dep.indexOf('hdr.ipv4.hdr_checksum = ipv4_checksum.update({');
    expect(dep[ip - 1]).toBe('if (meta.csum_dirty == 1) {');
    expect(dep[ip + 1]).toBe(
      'hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.total_len, hdr.ipv4.identification, hdr.ipv4.flags, ' +
        'hdr.ipv4.frag_offset, hdr.ipv4.ttl, hdr.ipv4.protocol, hdr.ipv4.src_addr, hdr.ipv4.dst_addr',
    );
    const tcp = dep.indexOf('hdr.tcp.checksum = tcp_checksum.update({');
    expect(dep[tcp - 1]).toBe('if (meta.csum_dirty == 1) {');
    expect(dep[tcp + 1]).toBe(
      'hdr.ipv4.src_addr, hdr.ipv4.dst_addr, hdr.tcp.data_offset, hdr.tcp.res, hdr.tcp.flags, hdr.tcp.window, meta.tcp_csum_residual',
    );
    // Everything but packet_out, in header order, after the checksums.
    expect(dep.filter((l) => l.startsWith('packet.emit('))).toEqual([
      'packet.emit(hdr.packet_in);',
      'packet.emit(hdr.ethernet);',
      'packet.emit(hdr.arp);',
      'packet.emit(hdr.ipv4);',
      'packet.emit(hdr.tcp);',
    ]);
    expect(dep.findIndex((l) => l.startsWith('packet.emit('))).toBeGreaterThan(tcp);
  });

  it('has a minimal egress and instantiates Pipeline and Switch with the ingress named as in P4Info', () => {
    expect(block(text, 'parser EgressParser(packet_in packet, out egress_headers_t hdr, out egress_metadata_t meta, out egress_intrinsic_metadata_t eg_intr_md) {')).toEqual([
      'state start {',
      'packet.extract(eg_intr_md);',
      'transition accept;',
      '}',
    ]);
    expect(lines).toContain('struct egress_headers_t { }');
    expect(lines).toContain('struct egress_metadata_t { }');
    expect(lines).toContain('Pipeline(IngressParser(), MyIngress(), IngressDeparser(), EgressParser(), Egress(), EgressDeparser()) pipe;');
    expect(lines[lines.length - 2]).toBe('Switch(pipe) main;');
  });

  it('has balanced braces and parentheses', () => {
    const code = text.replace(/\/\/.*$/gm, '');
    for (const [o, c] of [['{', '}'], ['(', ')']] as const) expect(code.split(o).length, o).toBe(code.split(c).length);
  });

  it('is deterministic', () => {
    expect(tnaOf(prismPipeline)).toBe(text);
    expect(generate(prismPipeline, ['tna']).get('tna/prism.p4')).toBe(text);
  });
});

describe('emitTna: l3 pipeline (no checksums, ternary table)', () => {
  const text = tnaOf(l3Pipeline);
  const lines = linesOf(text);

  it('emits without checksum externs', () => {
    expect(text).not.toContain('Checksum');
    expect(text).not.toContain('csum_dirty == 1');
    expect(text).not.toContain('tcp_csum_residual');
  });

  it('renames the pipeline start state and keeps the ternary and lpm keys', () => {
    expect(block(text, 'state start {')).toContain('transition parse_start;');
    expect(block(text, 'state parse_start {')[0]).toBe('packet.extract(hdr.ethernet);');
    expect(block(text, 'table acl {')).toContain('hdr.ipv4.src_addr : ternary @name("hdr.ipv4.src_addr");  // 32 bits');
    expect(block(text, 'table routes {')).toContain('counters = routes_counter;');
    expect(actionBlock(text, l3Pipeline, 'no_route')).toEqual(['ig_dprsr_md.drop_ctl = 1;', 'routes_counter.count();']);
    expect(actionBlock(text, l3Pipeline, 'deny')).toEqual(['ig_dprsr_md.drop_ctl = 1;']);
    expect(lines).toContain('Pipeline(IngressParser(), RouterIngress(), IngressDeparser(), EgressParser(), Egress(), EgressDeparser()) pipe;');
    expect(lines).toContain('Switch(pipe) main;');
  });

  it('is deterministic', () => {
    expect(tnaOf(l3Pipeline)).toBe(text);
  });
});

describe('shared include and generate()', () => {
  it('adds the TCP residual to local metadata only for a pipeline with checksums; v1model never uses it', () => {
    expect(linesOf(emitSharedInclude(prismPipeline))).toContain('bit<16> tcp_csum_residual;');
    expect(emitSharedInclude(l3Pipeline)).not.toContain('tcp_csum_residual');
    expect(emitV1model(prismPipeline, include(prismPipeline))).not.toContain('tcp_csum_residual');
  });

  it('writes tna/<name>.p4 and the shared include when only tna is asked for', () => {
    const files = generate(l3Pipeline, ['tna']);
    expect([...files.keys()].sort()).toEqual(['shared/l3_headers.p4', 'tna/l3.p4']);
  });

  it('the committed p4/tna files are up to date (run `prism codegen`)', () => {
    for (const p of [prismPipeline, l3Pipeline]) {
      const path = join(REPO, 'p4', 'tna', `${p.name}.p4`);
      expect(existsSync(path), path).toBe(true);
      expect(readFileSync(path, 'utf8'), path).toBe(tnaOf(p));
    }
  });
});

describe('emitTna: unsupported checksum layouts fail loudly', () => {
  const withParser = (parser: Pipeline['parser']): Pipeline => ({ ...prismPipeline, parser });

  it('rejects a rewrite of an IPv4 field the pseudo-header depends on', () => {
    const p: Pipeline = {
      ...prismPipeline,
      actions: prismPipeline.actions.map((a) =>
        a.name === 'route' ? { ...a, body: [...a.body, { op: 'assign', dst: { header: 'ipv4', field: 'total_len' }, src: { kind: 'const', value: 40n } }] } : a,
      ),
    };
    expect(() => tnaOf(p)).toThrow(CodegenError);
  });

  it('rejects a header extracted after TCP', () => {
    const parser = prismPipeline.parser.map((s) => (s.name === 'parse_tcp' ? { ...s, next: 'parse_more' } : s));
    expect(() => tnaOf(withParser([...parser, { name: 'parse_more', extract: 'arp' }]))).toThrow(/after tcp/);
  });

  it('rejects a path to TCP that skips IPv4', () => {
    const parser = prismPipeline.parser.map((s) =>
      s.name === 'parse_arp' ? { name: 'parse_arp', extract: 'arp', next: 'parse_tcp' } : s,
    );
    expect(() => tnaOf(withParser(parser))).toThrow(/without extracting ipv4/);
  });
});

// ---------------------------------------------------------------------------------------------
// The incremental TCP checksum, checked numerically: a model of the parser and deparser checksum
// engines runs the field lists the emitter wrote, and the result must verify like a checksum
// recomputed over the whole rewritten segment (RFC 1071 ones' complement sums).

const add16 = (a: number, b: number): number => {
  const s = a + b;
  return (s & 0xffff) + (s >>> 16);
};
const not16 = (a: number): number => ~a & 0xffff;
function sumBytes(b: Uint8Array): number {
  let acc = 0;
  for (let i = 0; i < b.length; i += 2) acc = add16(acc, (b[i]! << 8) | (b[i + 1] ?? 0));
  return acc;
}
function getBits(buf: Uint8Array, off: number, width: number): bigint {
  let v = 0n;
  for (let i = 0; i < width; i++) v = (v << 1n) | BigInt((buf[(off + i) >> 3]! >> (7 - ((off + i) & 7))) & 1);
  return v;
}
function setBits(buf: Uint8Array, off: number, width: number, v: bigint): void {
  for (let i = 0; i < width; i++) {
    const bit = Number((v >> BigInt(width - 1 - i)) & 1n);
    const byte = (off + i) >> 3;
    const mask = 1 << (7 - ((off + i) & 7));
    buf[byte] = bit ? buf[byte]! | mask : buf[byte]! & ~mask;
  }
}
function fieldAt(h: HeaderDef, name: string): { off: number; bits: number } {
  let off = 0;
  for (const f of h.fields) {
    if (f.name === name) return { off, bits: f.bits };
    off += f.bits;
  }
  throw new Error(`no field ${h.name}.${name}`);
}

/** A deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('incremental TCP checksum (numerical model of the emitted field lists)', () => {
  const text = tnaOf(prismPipeline);
  const listOf = (re: RegExp): string[] => {
    const m = re.exec(text.replace(/\n\s*/g, ' '));
    if (!m) throw new Error(`no match for ${re}`);
    return m[1]!.split(',').map((s) => s.trim());
  };
  const ipv4Sub = listOf(/state parse_ipv4 \{ packet\.extract\(hdr\.ipv4\); tcp_checksum\.subtract\(\{([^}]*)\}\);/);
  const tcpSub = listOf(/state parse_tcp \{ packet\.extract\(hdr\.tcp\); tcp_checksum\.subtract\(\{([^}]*)\}\);/);
  const update = listOf(/hdr\.tcp\.checksum = tcp_checksum\.update\(\{ ([^}]*) \}\);/);
  const ipH = findHeader(prismPipeline, 'ipv4');
  const tcpH = findHeader(prismPipeline, 'tcp');

  function segment(ip: Uint8Array, tcp: Uint8Array, payload: Uint8Array): Uint8Array {
    const pseudo = new Uint8Array(12);
    pseudo.set(ip.subarray(12, 20), 0);
    pseudo[9] = ip[9]!;
    const len = tcp.length + payload.length;
    pseudo[10] = len >> 8;
    pseudo[11] = len & 0xff;
    const all = new Uint8Array(12 + len + (len % 2));
    all.set(pseudo, 0);
    all.set(tcp, 12);
    all.set(payload, 12 + tcp.length);
    return all;
  }
  /** Parser engine: a field contributes at its bit position in its header (headers start 16-bit aligned). */
  function contribution(h: HeaderDef, hdr: Uint8Array, name: string): number {
    const { off, bits } = fieldAt(h, name);
    const z = new Uint8Array(hdr.length);
    setBits(z, off, bits, getBits(hdr, off, bits));
    return sumBytes(z);
  }

  it('matches a full recomputation for random segments and rewrites', () => {
    const rand = rng(0x5eed);
    const byte = (): number => Math.floor(rand() * 256);
    for (let trial = 0; trial < 300; trial++) {
      const ip = Uint8Array.from({ length: 20 }, byte);
      ip[0] = 0x45;
      ip[9] = 6;
      const tcp = Uint8Array.from({ length: 20 }, byte);
      tcp[12] = 0x50 | (tcp[12]! & 0x0f);
      const payload = Uint8Array.from({ length: Math.floor(rand() * 40) }, byte);
      // A valid segment to start from.
      tcp[16] = 0;
      tcp[17] = 0;
      const c0 = not16(sumBytes(segment(ip, tcp, payload)));
      tcp[16] = c0 >> 8;
      tcp[17] = c0 & 0xff;
      expect(sumBytes(segment(ip, tcp, payload))).toBe(0xffff);

      // Parser: subtract the listed fields (old values) and deposit.
      let residual = 0;
      for (const f of ipv4Sub) residual = add16(residual, not16(contribution(ipH, ip, f.replace('hdr.ipv4.', ''))));
      for (const f of tcpSub) residual = add16(residual, not16(contribution(tcpH, tcp, f.replace('hdr.tcp.', ''))));

      // The actions' rewrites: addresses, FIN cleared, window zeroed (some of them, at random).
      if (rand() < 0.7) ip.set(Uint8Array.from({ length: 4 }, byte), 12);
      if (rand() < 0.7) ip.set(Uint8Array.from({ length: 4 }, byte), 16);
      if (rand() < 0.5) tcp[13] = tcp[13]! & 0xfe;
      if (rand() < 0.5) {
        tcp[14] = 0;
        tcp[15] = 0;
      }

      // Deparser: the update list, concatenated in list order (the residual is 16 bits of metadata).
      let bits = 0;
      const parts: { v: bigint; w: number }[] = [];
      for (const f of update) {
        if (f === 'meta.tcp_csum_residual') parts.push({ v: BigInt(residual), w: 16 });
        else {
          const [, h, name] = f.split('.') as [string, string, string];
          const def = h === 'ipv4' ? ipH : tcpH;
          const { off, bits: w } = fieldAt(def, name);
          parts.push({ v: getBits(h === 'ipv4' ? ip : tcp, off, w), w });
        }
      }
      const buf = new Uint8Array(Math.ceil(parts.reduce((n, x) => n + x.w, 0) / 16) * 2);
      for (const x of parts) {
        setBits(buf, bits, x.w, x.v);
        bits += x.w;
      }
      const c1 = not16(sumBytes(buf));
      tcp[16] = c1 >> 8;
      tcp[17] = c1 & 0xff;
      expect(sumBytes(segment(ip, tcp, payload)), `trial ${trial}`).toBe(0xffff);
    }
  });
});

// ---------------------------------------------------------------------------------------------

function onPath(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const full = join(dir, cmd);
    if (dir && existsSync(full)) return full;
  }
  return undefined;
}

const BF_P4C = onPath('bf-p4c');
if (!BF_P4C) {
  console.warn(
    'codegen-tna: bf-p4c is not installed (it comes with the Intel Tofino SDE), so the TNA compile test is skipped; ' +
      'the golden-line tests still run. To compile by hand, see docs/tna.md.',
  );
}

describe('bf-p4c', () => {
  (BF_P4C ? it : it.skip)('compiles the generated TNA programs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prism-tna-'));
    try {
      for (const p of [prismPipeline, l3Pipeline]) {
        for (const [rel, content] of generate(p, ['tna'])) {
          mkdirSync(dirname(join(dir, rel)), { recursive: true });
          writeFileSync(join(dir, rel), content);
        }
        execFileSync(
          BF_P4C!,
          [
            '--target', 'tofino', '--arch', 'tna', '--std', 'p4-16',
            '--p4runtime-files', join(dir, 'out', p.name, 'p4info.txt'), '--p4runtime-force-std-externs',
            '-o', join(dir, 'out', p.name), join(dir, 'tna', `${p.name}.p4`),
          ],
          { stdio: 'pipe', timeout: 600_000 },
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 1_200_000);
});
