/** The desired table state and the reconciliation plan (ARCHITECTURE invariant 4). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DesiredState, planReconcile } from '../../controller/p4rt/desired-state.js';
import { encodeTableEntry, tableEntryKey, type TableEntrySpec } from '../../controller/p4rt/entry-codec.js';
import { P4InfoIndex } from '../../controller/p4rt/p4info-index.js';
import { WriteGate } from '../../controller/p4rt/write-gate.js';

const prism = P4InfoIndex.from(readFileSync(join(import.meta.dirname, '../../p4/p4info/prism.p4info.bin')));

function vip(port: number, action = 'to_controller'): TableEntrySpec {
  return { table: 'vip', match: { dst_addr: '10.0.0.100', dst_port: port }, action };
}
const e = (spec: TableEntrySpec) => encodeTableEntry(prism, spec);

describe('DesiredState', () => {
  it('records outcomes so that no lost write leaves an unknown entry', () => {
    const d = new DesiredState();
    d.record('INSERT', e(vip(80)), 'applied');
    d.record('INSERT', e(vip(81)), 'refused');
    d.record('INSERT', e(vip(82)), 'unknown');
    expect(d.list().map(tableEntryKey)).toEqual([tableEntryKey(e(vip(80)))]);
    d.record('MODIFY', e(vip(80, 'nop')), 'refused');
    expect(d.list()[0]!.action!.action!.action_id).toBe(prism.action('to_controller').id);
    d.record('MODIFY', e(vip(80, 'nop')), 'applied');
    expect(d.list()[0]!.action!.action!.action_id).toBe(prism.action('nop').id);
    d.record('DELETE', e(vip(80)), 'unknown');
    expect(d.size).toBe(0);
  });

  it('keeps default entries apart', () => {
    const d = new DesiredState();
    d.record('MODIFY', encodeTableEntry(prism, { table: 'l3', isDefault: true, action: 'drop' }), 'applied');
    expect(d.list()).toEqual([]);
    expect(d.listDefaults()).toHaveLength(1);
  });
});

describe('planReconcile', () => {
  it('deletes what is not owned, modifies what differs, inserts what is missing', () => {
    const desired = [e(vip(80)), e(vip(81)), e(vip(82, 'nop'))];
    const actual = [e(vip(81)), e(vip(82)), e(vip(9999))];
    const plan = planReconcile(desired, actual);
    expect(plan.inserts.map(tableEntryKey)).toEqual([tableEntryKey(e(vip(80)))]);
    expect(plan.modifies.map(tableEntryKey)).toEqual([tableEntryKey(e(vip(82)))]);
    expect(plan.modifies[0]!.action!.action!.action_id).toBe(prism.action('nop').id);
    expect(plan.deletes).toEqual([{ table_id: prism.table('vip').id, match: e(vip(9999)).match }]);
  });

  it('leaves default and const entries alone and is a no-op when in sync', () => {
    const desired = [e(vip(80))];
    const actual = [e(vip(80)), { ...e(vip(1)), is_const: true }, encodeTableEntry(prism, { table: 'l3', isDefault: true, action: 'drop' })];
    expect(planReconcile(desired, actual)).toEqual({ deletes: [], modifies: [], inserts: [] });
  });
});

describe('WriteGate', () => {
  it('runs writes together and reconciliation alone', async () => {
    const gate = new WriteGate();
    const log: string[] = [];
    let releaseWrite: () => void = () => {};
    const w1 = gate.runShared(async () => {
      log.push('w1 start');
      await new Promise<void>((r) => (releaseWrite = r));
      log.push('w1 end');
    });
    const w2 = gate.runShared(async () => log.push('w2'));
    const rec = gate.runExclusive(async () => log.push('reconcile'));
    const w3 = gate.runShared(async () => log.push('w3'));
    await new Promise((r) => setTimeout(r, 5));
    expect(log).toEqual(['w1 start', 'w2']);
    releaseWrite();
    await Promise.all([w1, w2, rec, w3]);
    expect(log).toEqual(['w1 start', 'w2', 'w1 end', 'reconcile', 'w3']);
  });
});
