/**
 * Name-level table entries ↔ p4.v1.TableEntry, against the real prism P4Info and a small synthetic
 * P4Info with TERNARY, RANGE and OPTIONAL fields (the prism pipeline has only EXACT and LPM).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, P4InfoLookupError } from '../../core/errors.js';
import { decodeMessage, encodeMessage } from '../../core/proto.js';
import { P4InfoIndex } from '../../controller/p4rt/p4info-index.js';
import {
  decodeTableEntry,
  describeTableEntry,
  encodeTableEntry,
  formatValue,
  tableEntryKey,
  type TableEntrySpec,
} from '../../controller/p4rt/entry-codec.js';
import { decodePacketIn, encodePacketOut } from '../../controller/p4rt/packet-metadata.js';
import type { P4Info__Output } from '../../proto/types/p4/config/v1/P4Info.js';
import type { TableEntry__Output } from '../../proto/types/p4/v1/TableEntry.js';

const prism = P4InfoIndex.from(readFileSync(join(import.meta.dirname, '../../p4/p4info/prism.p4info.bin')));

/** A P4Info with one table of every other match kind, through the real encoder. */
const acl = P4InfoIndex.from(
  encodeMessage('p4.config.v1.P4Info', {
    tables: [
      {
        preamble: { id: 33555000, name: 'MyIngress.acl', alias: 'acl' },
        match_fields: [
          { id: 1, name: 'hdr.ipv4.src_addr', bitwidth: 32, match_type: 'TERNARY' },
          { id: 2, name: 'hdr.tcp.dst_port', bitwidth: 16, match_type: 'RANGE' },
          { id: 3, name: 'hdr.ipv4.protocol', bitwidth: 8, match_type: 'OPTIONAL' },
        ],
        action_refs: [{ id: 16777300 }, { id: 16777301, scope: 'DEFAULT_ONLY' }],
        size: 128,
      },
    ],
    actions: [
      { preamble: { id: 16777300, name: 'MyIngress.deny', alias: 'deny' } },
      { preamble: { id: 16777301, name: 'MyIngress.allow', alias: 'allow' } },
    ],
  }),
);

const handoff: TableEntrySpec = {
  table: 'handoff_in',
  match: { src_addr: '10.0.0.1', dst_addr: '10.0.0.100', src_port: 40000, dst_port: 80 },
  action: 'to_backend',
  params: { backend_ip: '10.0.1.2', backend_mac: '02:00:00:00:01:02', port: 2, clear_fin: 0 },
};

/** Through the wire encoding and back, as a server would see it. */
function viaWire(te: ReturnType<typeof encodeTableEntry>): TableEntry__Output {
  return decodeMessage<TableEntry__Output>('p4.v1.TableEntry', encodeMessage('p4.v1.TableEntry', te));
}

function hex(b: unknown): string {
  return Buffer.from(b as Uint8Array).toString('hex');
}

describe('encodeTableEntry', () => {
  it('encodes names to ids and values to canonical bytes', () => {
    const te = encodeTableEntry(prism, handoff);
    expect(te.table_id).toBe(33554433);
    expect(te.match!.map((m) => [m.field_id, hex(m.exact!.value)])).toEqual([
      [1, '0a000001'],
      [2, '0a000064'],
      [3, '9c40'],
      [4, '50'], // 80: one byte, the leading zero byte stripped
    ]);
    expect(te.priority).toBeUndefined();
    const action = te.action!.action!;
    expect(action.action_id).toBe(16777221);
    expect(action.params!.map((p) => [p.param_id, hex(p.value)])).toEqual([
      [1, '0a000102'],
      [2, '020000000102'],
      [3, '02'],
      [4, '00'], // zero is one zero byte, never empty
    ]);
  });

  it('takes numbers, bigints, hex and decimal strings, IPv4, MAC and bytes alike', () => {
    const forms = [167772161, 167772161n, '0x0a000001', '167772161', '10.0.0.1', Buffer.from([0, 0, 0, 0, 0x0a, 0, 0, 1])];
    for (const v of forms) {
      const te = encodeTableEntry(prism, { ...handoff, match: { ...handoff.match, src_addr: v } });
      expect(hex(te.match![0]!.exact!.value)).toBe('0a000001');
    }
    const mac = encodeTableEntry(prism, { ...handoff, params: { ...handoff.params, backend_mac: 0x0000000000ffn } });
    expect(hex(mac.action!.action!.params![1]!.value)).toBe('ff');
    const small = encodeTableEntry(prism, { ...handoff, match: { ...handoff.match, src_addr: '0.0.0.5' } });
    expect(hex(small.match![0]!.exact!.value)).toBe('05');
  });

  it('checks widths', () => {
    expect(() => encodeTableEntry(prism, { ...handoff, params: { ...handoff.params, port: 512 } })).toThrow(/does not fit 9 bits/);
    expect(() => encodeTableEntry(prism, { ...handoff, params: { ...handoff.params, clear_fin: 2 } })).toThrow(InvalidArgumentError);
    expect(() => encodeTableEntry(prism, { ...handoff, match: { ...handoff.match, dst_port: 65536 } })).toThrow(/dst_port.*16 bits/);
    expect(() => encodeTableEntry(prism, { ...handoff, match: { ...handoff.match, src_addr: '10.0.0.256' } })).toThrow(InvalidArgumentError);
    expect(() => encodeTableEntry(prism, { ...handoff, match: { ...handoff.match, src_port: -1 } })).toThrow(InvalidArgumentError);
  });

  it('names unknown fields, actions and params', () => {
    expect(() => encodeTableEntry(prism, { ...handoff, table: 'handoff' })).toThrow(P4InfoLookupError);
    expect(() => encodeTableEntry(prism, { ...handoff, match: { ...handoff.match, dst_prt: 80 } })).toThrow(/did you mean "hdr.tcp.dst_port"/);
    expect(() => encodeTableEntry(prism, { ...handoff, action: 'route' })).toThrow(/no action "route" of table handoff_in/);
    expect(() => encodeTableEntry(prism, { ...handoff, params: { ...handoff.params, vlan: 1 } })).toThrow(/no parameter "vlan" of action to_backend/);
  });

  it('requires every exact field and every param', () => {
    const { dst_port: _omit, ...partial } = handoff.match!;
    expect(() => encodeTableEntry(prism, { ...handoff, match: partial })).toThrow(/missing EXACT match field hdr.tcp.dst_port/);
    expect(() => encodeTableEntry(prism, { ...handoff, params: { backend_ip: 1 } })).toThrow(/missing parameters backend_mac, port, clear_fin/);
    expect(() => encodeTableEntry(prism, { table: 'handoff_in', match: handoff.match! })).toThrow(/needs an action/);
    // A DELETE needs only the key.
    expect(encodeTableEntry(prism, { table: 'handoff_in', match: handoff.match! }, { requireAction: false }).action).toBeUndefined();
  });

  it('encodes LPM with the prefix and refuses host bits', () => {
    const spec = (dst: unknown): TableEntrySpec => ({
      table: 'l3',
      match: { dst_addr: dst as never },
      action: 'route',
      params: { port: 1, src_mac: '02:00:00:00:00:01', dst_mac: '02:00:00:00:00:02' },
    });
    const te = encodeTableEntry(prism, spec({ value: '10.1.0.0', prefixLen: 16 }));
    expect(te.match).toEqual([{ field_id: 1, lpm: { value: Buffer.from('0a010000', 'hex'), prefix_len: 16 } }]);
    expect(encodeTableEntry(prism, spec('10.1.0.0/16')).match).toEqual(te.match);
    expect(encodeTableEntry(prism, spec('10.1.2.3')).match![0]!.lpm!.prefix_len).toBe(32);
    expect(() => encodeTableEntry(prism, spec('10.1.2.3/16'))).toThrow(/bits past the \/16 prefix must be zero.*use 10\.1\.0\.0\/16/);
    expect(() => encodeTableEntry(prism, spec({ value: 0, prefixLen: 33 }))).toThrow(/prefix length 33/);
    // prefix 0 is "don't care": the field is left out (spec 9.1.1).
    expect(encodeTableEntry(prism, spec('0.0.0.0/0')).match).toEqual([]);
  });

  it('encodes TERNARY, RANGE and OPTIONAL with their don\'t-care forms and priorities', () => {
    const te = encodeTableEntry(acl, {
      table: 'acl',
      match: { src_addr: { value: '10.0.0.0', mask: '255.0.0.0' }, dst_port: { low: 80, high: 443 }, protocol: 6 },
      action: 'deny',
      priority: 10,
    });
    expect(te.priority).toBe(10);
    expect(te.match).toEqual([
      { field_id: 1, ternary: { value: Buffer.from('0a000000', 'hex'), mask: Buffer.from('ff000000', 'hex') } },
      { field_id: 2, range: { low: Buffer.from('50', 'hex'), high: Buffer.from('01bb', 'hex') } },
      { field_id: 3, optional: { value: Buffer.from('06', 'hex') } },
    ]);
    const wild = encodeTableEntry(acl, {
      table: 'acl',
      match: { src_addr: { value: 0, mask: 0 }, dst_port: { low: 0, high: 65535 }, protocol: null },
      action: 'deny',
      priority: 1,
    });
    expect(wild.match).toEqual([]);
    expect(() => encodeTableEntry(acl, { table: 'acl', match: { src_addr: { value: '10.0.0.1', mask: '255.0.0.0' } }, action: 'deny', priority: 1 })).toThrow(
      /outside the mask must be zero/,
    );
    expect(() => encodeTableEntry(acl, { table: 'acl', match: { dst_port: { low: 9, high: 8 } }, action: 'deny', priority: 1 })).toThrow(/low 9 is above high 8/);
    expect(() => encodeTableEntry(acl, { table: 'acl', action: 'deny' })).toThrow(/need a priority/);
    expect(() => encodeTableEntry(prism, { ...handoff, priority: 5 })).toThrow(/take no priority/);
    expect(() => encodeTableEntry(acl, { table: 'acl', action: 'allow', priority: 1 })).toThrow(/@defaultonly/);
  });

  it('encodes default entries and refuses a const default action', () => {
    const te = encodeTableEntry(acl, { table: 'acl', isDefault: true, action: 'allow' });
    expect(te).toEqual({ table_id: 33555000, match: [], is_default_action: true, action: { action: { action_id: 16777301, params: [] } } });
    expect(() => encodeTableEntry(prism, { table: 'handoff_in', isDefault: true, action: 'no_handoff_in' })).toThrow(/default action is const \(no_handoff_in\)/);
    expect(() => encodeTableEntry(acl, { table: 'acl', isDefault: true, action: 'allow', match: { protocol: 6 } })).toThrow(/no match key/);
  });
});

describe('decodeTableEntry', () => {
  it('round-trips through the wire to names and back to the same message', () => {
    for (const [index, spec] of [
      [prism, handoff],
      [prism, { table: 'l3', match: { dst_addr: '10.1.0.0/16' }, action: 'route', params: { port: 3, src_mac: '02:00:00:00:00:01', dst_mac: '02:00:00:00:00:02' } }],
      [acl, { table: 'acl', match: { src_addr: { value: '10.0.0.0', mask: '255.0.0.0' }, dst_port: { low: 80, high: 443 }, protocol: 17 }, action: 'deny', priority: 7 }],
      [acl, { table: 'acl', isDefault: true, action: 'allow' }],
    ] as [P4InfoIndex, TableEntrySpec][]) {
      const te = encodeTableEntry(index, spec);
      const decoded = decodeTableEntry(index, viaWire(te));
      const again = encodeTableEntry(index, decoded);
      expect(encodeMessage('p4.v1.TableEntry', again)).toEqual(encodeMessage('p4.v1.TableEntry', te));
      expect(tableEntryKey(again)).toBe(tableEntryKey(viaWire(te)));
    }
  });

  it('gives names and canonical values', () => {
    const d = decodeTableEntry(prism, viaWire(encodeTableEntry(prism, handoff)));
    expect(d.table).toBe('handoff_in');
    expect(d.action).toBe('to_backend');
    expect(Object.keys(d.match)).toEqual(['hdr.ipv4.src_addr', 'hdr.ipv4.dst_addr', 'hdr.tcp.src_port', 'hdr.tcp.dst_port']);
    expect(hex(d.match['hdr.tcp.dst_port'])).toBe('50');
    expect(hex(d.params.clear_fin)).toBe('00');
    expect(d.priority).toBe(0);
    expect(d.isDefault).toBe(false);
    expect(d.counters).toBeUndefined();
  });

  it('canonicalizes padded values from the switch and reads counters', () => {
    const padded = viaWire({
      table_id: 33554436,
      match: [{ field_id: 1, lpm: { value: Buffer.from('0a010000', 'hex'), prefix_len: 16 } }],
      action: { action: { action_id: 16777223, params: [{ param_id: 1, value: Buffer.from('0003', 'hex') }, { param_id: 2, value: Buffer.from('000000000001', 'hex') }, { param_id: 3, value: Buffer.from('02', 'hex') }] } },
      counter_data: { byte_count: '1500', packet_count: '3' },
    });
    const d = decodeTableEntry(prism, padded);
    expect(hex(d.params.port)).toBe('03');
    expect(hex(d.params.src_mac)).toBe('01');
    expect(d.counters).toEqual({ bytes: 1500n, packets: 3n });
    expect(tableEntryKey(padded)).toBe(tableEntryKey(encodeTableEntry(prism, { table: 'l3', match: { dst_addr: '10.1.0.0/16' } }, { requireAction: false })));
  });

  it('describes entries for people', () => {
    const te = encodeTableEntry(prism, handoff);
    expect(describeTableEntry(prism, te)).toBe('handoff_in(src_addr=10.0.0.1, dst_addr=10.0.0.100, src_port=40000, dst_port=80)');
    expect(describeTableEntry(prism, te, true)).toContain('-> to_backend(backend_ip=10.0.1.2, backend_mac=02:00:00:00:01:02, port=2, clear_fin=0)');
    expect(formatValue(Buffer.from([1, 0]), 9)).toBe('256');
  });
});

describe('packet metadata', () => {
  it('encodes PacketOut metadata by name, padding defaulted', () => {
    const out = encodePacketOut(prism, Buffer.from('frame'), { egress_port: 3 });
    expect(out.metadata).toEqual([
      { metadata_id: 1, value: Buffer.from([3]) },
      { metadata_id: 2, value: Buffer.from([0]) },
    ]);
    expect(() => encodePacketOut(prism, Buffer.alloc(1), {})).toThrow(/missing metadata egress_port/);
    expect(() => encodePacketOut(prism, Buffer.alloc(1), { egress_port: 512 })).toThrow(/9 bits/);
    expect(() => encodePacketOut(prism, Buffer.alloc(1), { egress: 1 })).toThrow(P4InfoLookupError);
  });

  it('decodes PacketIn metadata by name', () => {
    const p = decodePacketIn(prism, { payload: Buffer.from('x'), metadata: [{ metadata_id: 1, value: Buffer.from('0101', 'hex') }, { metadata_id: 9, value: Buffer.from([1]) }] });
    expect(p.metadata).toEqual({ ingress_port: 257n, '#9': 1n });
    expect(hex(p.rawMetadata.ingress_port)).toBe('0101');
  });
});
