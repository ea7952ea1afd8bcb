/**
 * Against the real p4c, where it is installed: the generated v1model program compiles, and the
 * P4Info p4c writes equals ours (ids, names, bit widths, match kinds, params, controller headers).
 * Skips with the reason where p4c is absent (it is not packaged for Debian or npm: see docs/codegen.md).
 * Running the packet vectors through simple_switch_grpc uses the P4Runtime client (see
 * test/integration/p4rt-bmv2.test.ts once it exists).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emitP4Info } from '../../codegen/emit-p4info.js';
import { PIPELINES } from '../../codegen/pipelines/index.js';
import { decodeMessage } from '../../core/proto.js';
import { REPO } from '../helpers/ebpf.js';

const hasP4c = spawnSync('p4c', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasP4c) console.warn('[skip] p4c comparison: p4c is not on PATH (build p4c v1.2.4.8 against Debian 12 protobuf; see docs/codegen.md)');

type Obj = Record<string, any>;

function summary(info: Obj): Obj {
  return {
    tables: (info.tables ?? []).map((t: Obj) => ({
      id: t.preamble.id,
      name: t.preamble.name,
      match: t.match_fields.map((m: Obj) => [m.id, m.name, m.bitwidth, m.match_type]),
      actions: t.action_refs.map((a: Obj) => a.id).sort(),
      size: String(t.size),
    })).sort((a: Obj, b: Obj) => a.id - b.id),
    actions: (info.actions ?? []).map((a: Obj) => ({ id: a.preamble.id, name: a.preamble.name, params: a.params.map((p: Obj) => [p.id, p.name, p.bitwidth]) })).sort((a: Obj, b: Obj) => a.id - b.id),
    controller: (info.controller_packet_metadata ?? []).map((c: Obj) => ({ id: c.preamble.id, name: c.preamble.name, md: c.metadata.map((m: Obj) => [m.id, m.name, m.bitwidth]) })),
    directCounters: (info.direct_counters ?? []).map((d: Obj) => ({ id: d.preamble.id, name: d.preamble.name, table: d.direct_table_id })),
  };
}

describe.skipIf(!hasP4c)('p4c compiles the v1model programs and agrees on P4Info', () => {
  for (const name of Object.keys(PIPELINES)) {
    it(`${name}: p4c's P4Info equals ours`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'prism-p4c-'));
      try {
        execFileSync('p4c', ['--target', 'bmv2', '--arch', 'v1model', '-o', dir, '--p4runtime-files', join(dir, 'p4info.bin'), join(REPO, 'p4', 'v1model', `${name}.p4`)], { stdio: 'pipe' });
        const theirs = decodeMessage<Obj>('p4.config.v1.P4Info', readFileSync(join(dir, 'p4info.bin')));
        const ours = decodeMessage<Obj>('p4.config.v1.P4Info', emitP4Info(PIPELINES[name]!).binary);
        expect(summary(theirs)).toEqual(summary(ours));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
