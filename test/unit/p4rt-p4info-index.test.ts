/** P4InfoIndex against the generated P4Info of the prism pipeline (p4/p4info/prism.p4info.bin). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { P4InfoLookupError } from '../../core/errors.js';
import { decodeMessage } from '../../core/proto.js';
import { P4InfoIndex } from '../../controller/p4rt/p4info-index.js';
import type { P4Info__Output } from '../../proto/types/p4/config/v1/P4Info.js';

const P4INFO_BIN = join(import.meta.dirname, '../../p4/p4info/prism.p4info.bin');
const p4info = decodeMessage<P4Info__Output>('p4.config.v1.P4Info', readFileSync(P4INFO_BIN));
const index = new P4InfoIndex(p4info);

function lookupError(fn: () => unknown): P4InfoLookupError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(P4InfoLookupError);
    return err as P4InfoLookupError;
  }
  throw new Error('expected a P4InfoLookupError');
}

describe('P4InfoIndex', () => {
  it('resolves tables by full name, alias, suffix and id', () => {
    const t = index.table('MyIngress.handoff_in');
    expect(t.id).toBe(33554433);
    expect(index.table('handoff_in')).toBe(t);
    expect(index.table(33554433)).toBe(t);
    expect(index.tableById(33554433)).toBe(t);
    expect(t.matchFields.map((f) => [f.name, f.bitwidth, f.matchType])).toEqual([
      ['hdr.ipv4.src_addr', 32, 'EXACT'],
      ['hdr.ipv4.dst_addr', 32, 'EXACT'],
      ['hdr.tcp.src_port', 16, 'EXACT'],
      ['hdr.tcp.dst_port', 16, 'EXACT'],
    ]);
    expect(t.needsPriority).toBe(false);
    expect(t.size).toBe(65536);
    expect(index.table('l3').matchFields[0]!.matchType).toBe('LPM');
    expect(index.tables().map((x) => x.alias)).toEqual(['handoff_in', 'handoff_out', 'vip', 'l3']);
  });

  it('resolves match fields by full name, unique suffix and id', () => {
    expect(index.matchField('handoff_in', 'hdr.ipv4.dst_addr').id).toBe(2);
    expect(index.matchField('handoff_in', 'ipv4.dst_addr').id).toBe(2);
    expect(index.matchField('handoff_in', 'dst_port').id).toBe(4);
    expect(index.matchField('handoff_in', 3).name).toBe('hdr.tcp.src_port');
  });

  it('resolves actions and params', () => {
    const a = index.action('to_backend');
    expect(a.name).toBe('MyIngress.to_backend');
    expect(a.params.map((p) => [p.name, p.bitwidth])).toEqual([
      ['backend_ip', 32],
      ['backend_mac', 48],
      ['port', 9],
      ['clear_fin', 1],
    ]);
    expect(index.param('to_backend', 'port').id).toBe(3);
    expect(index.action(16777223).alias).toBe('route');
    expect(index.tableAction('handoff_in', 'to_backend').scope).toBe('TABLE_AND_DEFAULT');
  });

  it('indexes controller packet metadata and direct counters', () => {
    expect(index.packetMetadata('packet_out').fields.map((f) => [f.name, f.bitwidth])).toEqual([
      ['egress_port', 9],
      ['_pad', 7],
    ]);
    expect(index.packetMetadataField('packet_in', 'ingress_port').id).toBe(1);
    expect(index.directCounterOf('handoff_in')?.alias).toBe('handoff_in_counter');
    expect(index.directCounterOf('vip')).toBeUndefined();
    expect(index.directCounter('handoff_out_counter').tableId).toBe(33554434);
  });

  it('reads the binary P4Info directly', () => {
    expect(P4InfoIndex.from(readFileSync(P4INFO_BIN)).table('vip').id).toBe(33554435);
  });

  it('names unknown tables with near names and the known ones', () => {
    const err = lookupError(() => index.table('handof_in'));
    expect(err.code).toBe('PRISM_ERR_P4INFO_LOOKUP');
    expect(err.kind).toBe('table');
    expect(err.suggestions[0]).toBe('handoff_in');
    expect(err.message).toContain('no table "handof_in" in the P4Info; did you mean "handoff_in"');
    expect(err.message).toContain('known: handoff_in, handoff_out, vip, l3');
  });

  it('names unknown match fields, params and actions within their scope', () => {
    const f = lookupError(() => index.matchField('handoff_in', 'dst_adr'));
    expect(f.scope).toBe('table handoff_in');
    expect(f.suggestions).toContain('hdr.ipv4.dst_addr');
    const p = lookupError(() => index.param('to_backend', 'backend_ipv4'));
    expect(p.message).toContain('of action to_backend');
    expect(p.suggestions).toContain('backend_ip');
    const id = lookupError(() => index.table(99));
    expect(id.message).toContain('no table "id 99"');
  });

  it('refuses an action of another table, listing the allowed ones', () => {
    const err = lookupError(() => index.tableAction('handoff_in', 'route'));
    expect(err.message).toContain('no action "route" of table handoff_in');
    expect(err.message).toContain('known: to_backend, no_handoff_in');
  });

  it('reports ambiguous short names', () => {
    // "src_addr" is unique in handoff_in; a P4Info with two fields ending in "addr" is ambiguous on "addr".
    const err = lookupError(() => index.matchField('handoff_in', 'addr'));
    expect(err.ambiguous).toEqual([]);
    const synthetic = new P4InfoIndex({
      ...p4info,
      tables: [
        {
          ...p4info.tables[0]!,
          match_fields: [
            { ...p4info.tables[0]!.match_fields[0]!, name: 'hdr.ipv4.src_addr' },
            { ...p4info.tables[0]!.match_fields[1]!, name: 'hdr.inner.src_addr' },
          ],
        },
      ],
    });
    const amb = lookupError(() => synthetic.matchField('handoff_in', 'src_addr'));
    expect(amb.ambiguous).toEqual(['hdr.ipv4.src_addr', 'hdr.inner.src_addr']);
    expect(amb.message).toContain('ambiguous');
    expect(synthetic.matchField('handoff_in', 'ipv4.src_addr').id).toBe(1);
  });
});
