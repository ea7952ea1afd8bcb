/**
 * The generated programs against p4lang's compilers, where they are on PATH (the reference build in
 * ../shared/p4ref installs both; docs/codegen.md says how to build them). Each part prints why it
 * skipped when its tool is missing.
 *
 * - p4c (`--target bmv2 --arch v1model`) compiles both v1model programs with no error and no
 *   warning beyond ACCEPTED_P4C (empty), and the P4Info it writes equals the committed one in
 *   every table, action, match field, param, controller packet metadata, direct counter and digest:
 *   compared decoded (protobufjs), entities keyed by id, not as bytes.
 * - p4test (p4c's front and mid end) accepts both TNA programs against TNA_STUB, a declaration-only
 *   stand-in for Tofino's tna.p4 (which is not public in p4c 1.2.4.8), with no warning beyond
 *   ACCEPTED_P4TEST; and p4c's generic P4Runtime serializer (PSA's), run on the TNA program, names
 *   tables, actions and controller headers with the ids and names of the committed P4Info.
 *   docs/tna.md says what that does and does not prove.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitP4Info } from '../../codegen/emit-p4info.js';
import { compileV1model, hasTool, p4includeDir, runP4test, type P4cDiagnostic, type P4cRun } from '../../codegen/p4c.js';
import { PIPELINES } from '../../codegen/pipelines/index.js';
import { decodeMessage } from '../../core/proto.js';
import { REPO } from '../helpers/ebpf.js';

const HOW = '../shared/p4ref/install.sh installs the reference build; docs/codegen.md says how to build p4c';
const p4cSkip = hasTool('p4c') ? null : `p4c is not on PATH (${HOW})`;
const p4include = hasTool('p4test') ? p4includeDir('p4test') : null;
const p4testSkip = !hasTool('p4test') ? `p4test is not on PATH (${HOW})` : !p4include ? "p4test is on PATH but p4c's p4include (core.p4) is not next to it" : null;
if (p4cSkip) console.warn(`[skip] p4c v1model compile and P4Info comparison: ${p4cSkip}`);
if (p4testSkip) console.warn(`[skip] p4test on the TNA programs: ${p4testSkip}`);

/** A warning the test accepts: matched by diagnostic name and message, with the reason it is harmless. */
interface Accepted {
  readonly name: string;
  readonly message: RegExp;
  readonly reason: string;
}

/** p4c bmv2 warnings accepted on the v1model programs: none. */
const ACCEPTED_P4C: readonly Accepted[] = [];

/** p4test warnings accepted on the TNA programs. */
const ACCEPTED_P4TEST: readonly Accepted[] = [
  {
    name: 'uninitialized_out_param',
    message: /^out parameter 'meta' may be uninitialized when 'IngressParser' terminates$/,
    reason:
      "TNA's ingress parser takes local metadata as `out`, so fields it does not write are undefined. " +
      'The parser clears csum_dirty; tcp_csum_residual is deposited where TCP is extracted and read only ' +
      'when csum_dirty is 1, which only actions of tables applied to valid TCP set; l4_len, drop_pending ' +
      'and _pad are never read on TNA (docs/tna.md).',
  },
];

const matches = (a: Accepted, d: P4cDiagnostic): boolean => d.severity === 'warning' && a.name === d.name && a.message.test(d.message);

/** Diagnostics that are not accepted warnings. */
function unexpected(run: P4cRun, accepted: readonly Accepted[]): P4cDiagnostic[] {
  return run.diagnostics.filter((d) => !accepted.some((a) => matches(a, d)));
}

/** Accepted warnings this run did not give: stale acceptances to remove. */
function unused(run: P4cRun, accepted: readonly Accepted[]): string[] {
  return accepted.filter((a) => !run.diagnostics.some((d) => matches(a, d))).map((a) => `${a.name}: ${a.message.source}`);
}

type Obj = Record<string, any>;

/** Repeated P4Info entities with a preamble; compared as sets keyed by id. */
const ENTITY_LISTS = [
  'tables',
  'actions',
  'action_profiles',
  'counters',
  'direct_counters',
  'meters',
  'direct_meters',
  'controller_packet_metadata',
  'value_sets',
  'registers',
  'digests',
  'externs',
] as const;

/**
 * A decoded P4Info with its order-free lists sorted: top-level entities by id, a table's action
 * refs by id. Everything else (match field order = key order, params, annotations, pkg_info,
 * type_info) is compared as decoded. Legitimately different fields would be removed here, each with
 * its reason: with p4c 1.2.4.8 there are none (docs/codegen.md).
 */
function normalized(info: Obj): Obj {
  const out: Obj = { ...info };
  for (const key of ENTITY_LISTS) out[key] = [...(info[key] ?? [])].sort((a: Obj, b: Obj) => a.preamble.id - b.preamble.id);
  out.tables = out.tables.map((t: Obj) => ({ ...t, action_refs: [...t.action_refs].sort((a: Obj, b: Obj) => a.id - b.id) }));
  return out;
}

/** What a reader checks first: names, ids, widths, match kinds, action refs, params, controller headers. */
function summary(info: Obj, opts: { directCounters?: boolean } = {}): Obj {
  const n = normalized(info);
  const withCounters = opts.directCounters ?? true;
  return {
    tables: n.tables.map((t: Obj) => ({
      id: t.preamble.id,
      name: t.preamble.name,
      alias: t.preamble.alias,
      match: t.match_fields.map((m: Obj) => [m.id, m.name, m.bitwidth, m.match_type]),
      actions: t.action_refs.map((a: Obj) => [a.id, a.scope]),
      constDefault: t.const_default_action_id,
      ...(withCounters ? { directResources: t.direct_resource_ids } : {}),
      size: String(t.size),
    })),
    actions: n.actions.map((a: Obj) => ({ id: a.preamble.id, name: a.preamble.name, params: a.params.map((p: Obj) => [p.id, p.name, p.bitwidth]) })),
    controller: n.controller_packet_metadata.map((c: Obj) => ({ id: c.preamble.id, name: c.preamble.name, metadata: c.metadata.map((m: Obj) => [m.id, m.name, m.bitwidth]) })),
    digests: n.digests.map((d: Obj) => ({ id: d.preamble.id, name: d.preamble.name, type: d.type_spec })),
    ...(withCounters ? { directCounters: n.direct_counters.map((d: Obj) => ({ id: d.preamble.id, name: d.preamble.name, unit: d.spec?.unit, table: d.direct_table_id })) } : {}),
  };
}

const decode = (bytes: Uint8Array): Obj => decodeMessage<Obj>('p4.config.v1.P4Info', bytes);

describe.skipIf(p4cSkip)('p4c (bmv2, v1model) compiles the v1model programs and writes our P4Info', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'prism-p4c-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const name of Object.keys(PIPELINES)) {
    describe(name, () => {
      let build: ReturnType<typeof compileV1model>;
      beforeAll(() => {
        build = compileV1model(join(REPO, 'p4', 'v1model', `${name}.p4`), mkdtempSync(join(dir, `${name}-`)));
      });

      it('compiles with no error and no warning that is not accepted', () => {
        expect(build.status, build.stderr).toBe(0);
        expect(unexpected(build, ACCEPTED_P4C), build.stderr).toEqual([]);
        expect(unused(build, ACCEPTED_P4C), 'accepted warnings p4c no longer gives').toEqual([]);
        expect(JSON.parse(readFileSync(build.json, 'utf8')).pipelines.map((p: Obj) => p.name)).toEqual(['ingress', 'egress']);
      });

      it("p4c's P4Info equals the committed one: names, ids, widths, match kinds, refs, params", () => {
        const theirs = decode(readFileSync(build.p4info));
        const ours = decode(readFileSync(join(REPO, 'p4', 'p4info', `${name}.p4info.bin`)));
        expect(summary(theirs)).toEqual(summary(ours));
        expect(normalized(theirs)).toEqual(normalized(ours));
        // The committed file is the emitter's current output (codegen.test.ts checks it too).
        expect(normalized(decode(emitP4Info(PIPELINES[name]!).binary))).toEqual(normalized(ours));
      });
    });
  }
});

/**
 * The part of Tofino's tna.p4 (TNA 2.0.1, as p4c's backends/tofino p4include declares it) that the
 * generated TNA programs use: types, intrinsic metadata, the Checksum and DirectCounter externs and
 * the Pipeline / Switch packages. Declarations only, written for this test; metadata structs list
 * the fields the programs touch and a few neighbours.
 */
const TNA_STUB = `// Test stand-in for tna.p4 (declarations only): see test/integration/p4c-bmv2.test.ts.
#ifndef PRISM_TNA_STUB
#define PRISM_TNA_STUB
#include <core.p4>

typedef bit<9> PortId_t;
typedef bit<5> QueueId_t;
typedef bit<16> MulticastGroupId_t;
typedef bit<3> MirrorType_t;
typedef bit<3> DigestType_t;
typedef bit<3> ResubmitType_t;
const bit<32> PORT_METADATA_SIZE = 32w64;

enum CounterType_t { PACKETS, BYTES, PACKETS_AND_BYTES }

header ingress_intrinsic_metadata_t {
    bit<1> resubmit_flag;
    bit<1> _pad1;
    bit<2> packet_version;
    bit<3> _pad2;
    PortId_t ingress_port;
    bit<48> ingress_mac_tstamp;
}
struct ingress_intrinsic_metadata_for_tm_t {
    PortId_t ucast_egress_port;
    bit<1> bypass_egress;
    bit<1> deflect_on_drop;
    bit<3> ingress_cos;
    QueueId_t qid;
    bit<1> copy_to_cpu;
    MulticastGroupId_t mcast_grp_a;
    MulticastGroupId_t mcast_grp_b;
    bit<16> rid;
}
struct ingress_intrinsic_metadata_from_parser_t {
    bit<48> global_tstamp;
    bit<32> global_ver;
    bit<16> parser_err;
}
struct ingress_intrinsic_metadata_for_deparser_t {
    bit<3> drop_ctl;
    DigestType_t digest_type;
    ResubmitType_t resubmit_type;
    MirrorType_t mirror_type;
}
header egress_intrinsic_metadata_t {
    bit<7> _pad0;
    PortId_t egress_port;
    bit<5> _pad1;
    bit<19> enq_qdepth;
    bit<16> pkt_length;
}
struct egress_intrinsic_metadata_from_parser_t {
    bit<48> global_tstamp;
    bit<32> global_ver;
    bit<16> parser_err;
}
struct egress_intrinsic_metadata_for_deparser_t {
    bit<3> drop_ctl;
    MirrorType_t mirror_type;
    bit<1> coalesce_flush;
    bit<7> coalesce_length;
}
struct egress_intrinsic_metadata_for_output_port_t {
    bit<1> capture_tstamp_on_tx;
    bit<1> update_delay_on_tx;
}

extern Checksum {
    Checksum();
    void add<T>(in T data);
    void subtract<T>(in T data);
    bool verify();
    void subtract_all_and_deposit<T>(out T residual);
    bit<16> get();
    bit<16> update<T>(in T data, @optional in bool zeros_as_ones);
}

@noWarn("unused")
extern DirectCounter<W> {
    DirectCounter(CounterType_t type);
    void count(@optional in bit<32> adjust_byte_count);
}

parser IngressParserT<H, M>(packet_in pkt, out H hdr, out M ig_md,
    @optional out ingress_intrinsic_metadata_t ig_intr_md,
    @optional out ingress_intrinsic_metadata_for_tm_t ig_intr_md_for_tm,
    @optional out ingress_intrinsic_metadata_from_parser_t ig_intr_md_from_prsr);
parser EgressParserT<H, M>(packet_in pkt, out H hdr, out M eg_md,
    @optional out egress_intrinsic_metadata_t eg_intr_md,
    @optional out egress_intrinsic_metadata_from_parser_t eg_intr_md_from_prsr,
    @optional out egress_intrinsic_metadata_for_deparser_t eg_intr_md_for_dprsr);
control IngressT<H, M>(inout H hdr, inout M ig_md,
    @optional in ingress_intrinsic_metadata_t ig_intr_md,
    @optional in ingress_intrinsic_metadata_from_parser_t ig_intr_md_from_prsr,
    @optional inout ingress_intrinsic_metadata_for_deparser_t ig_intr_md_for_dprsr,
    @optional inout ingress_intrinsic_metadata_for_tm_t ig_intr_md_for_tm);
control EgressT<H, M>(inout H hdr, inout M eg_md,
    @optional in egress_intrinsic_metadata_t eg_intr_md,
    @optional in egress_intrinsic_metadata_from_parser_t eg_intr_md_from_prsr,
    @optional inout egress_intrinsic_metadata_for_deparser_t eg_intr_md_for_dprsr,
    @optional inout egress_intrinsic_metadata_for_output_port_t eg_intr_md_for_oport);
control IngressDeparserT<H, M>(packet_out pkt, inout H hdr, in M metadata,
    @optional in ingress_intrinsic_metadata_for_deparser_t ig_intr_md_for_dprsr,
    @optional in ingress_intrinsic_metadata_t ig_intr_md);
control EgressDeparserT<H, M>(packet_out pkt, inout H hdr, in M metadata,
    @optional in egress_intrinsic_metadata_for_deparser_t eg_intr_md_for_dprsr,
    @optional in egress_intrinsic_metadata_t eg_intr_md,
    @optional in egress_intrinsic_metadata_from_parser_t eg_intr_md_from_prsr);

package Pipeline<IH, IM, EH, EM>(
    IngressParserT<IH, IM> ingress_parser,
    IngressT<IH, IM> ingress,
    IngressDeparserT<IH, IM> ingress_deparser,
    EgressParserT<EH, EM> egress_parser,
    EgressT<EH, EM> egress,
    EgressDeparserT<EH, EM> egress_deparser);

package Switch<IH0, IM0, EH0, EM0, IH1, IM1, EH1, EM1, IH2, IM2, EH2, EM2, IH3, IM3, EH3, EM3>(
    Pipeline<IH0, IM0, EH0, EM0> pipe0,
    @optional Pipeline<IH1, IM1, EH1, EM1> pipe1,
    @optional Pipeline<IH2, IM2, EH2, EM2> pipe2,
    @optional Pipeline<IH3, IM3, EH3, EM3> pipe3);
#endif
`;

describe.skipIf(p4testSkip)('p4test (front and mid end) accepts the TNA programs against a tna.p4 stub', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'prism-p4test-'));
    writeFileSync(join(dir, 'tna.p4'), TNA_STUB);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // bf-p4c defines __TARGET_TOFINO__ (1 for Tofino 1); the programs include t2na.p4 when it is 2.
  const options = (): { includeDirs: string[]; defines: Record<string, number> } => ({ includeDirs: [p4include!, dir], defines: { __TARGET_TOFINO__: 1 } });

  for (const name of Object.keys(PIPELINES)) {
    const program = join(REPO, 'p4', 'tna', `${name}.p4`);

    it(`${name}: the front and mid end accept it, with only the accepted warnings`, () => {
      const run = runP4test(program, options());
      expect(run.status, run.stderr).toBe(0);
      expect(unexpected(run, ACCEPTED_P4TEST), run.stderr).toEqual([]);
      expect(unused(run, ACCEPTED_P4TEST), 'accepted warnings p4test no longer gives').toEqual([]);
    });

    it(`${name}: p4c's P4Runtime serializer names its tables, actions and controller headers as our P4Info does`, () => {
      const p4info = join(dir, `${name}.p4info.bin`);
      // PSA's serializer: p4test has none for TNA (bf-p4c has). It does not know TNA's DirectCounter
      // (PSA's takes a PSA_CounterType_t), so direct counters are left out of the comparison.
      const run = runP4test(program, { ...options(), arch: 'psa', p4info });
      expect(run.status, run.stderr).toBe(0);
      expect(unexpected(run, ACCEPTED_P4TEST), run.stderr).toEqual([]);
      const theirs = decode(readFileSync(p4info));
      const ours = decode(readFileSync(join(REPO, 'p4', 'p4info', `${name}.p4info.bin`)));
      expect(theirs.direct_counters).toEqual([]);
      expect(summary(theirs, { directCounters: false })).toEqual(summary(ours, { directCounters: false }));
    });
  }
});
