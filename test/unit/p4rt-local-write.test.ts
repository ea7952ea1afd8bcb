/**
 * The embedded switch's in-process Write (dataplane/p4rt-server.ts tableEntryWrite): for the
 * requests P4RuntimeClient builds, the fast path gives the handler the same objects as the full
 * protobufjs conversion on every field the handler reads; anything unusual takes the full way.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ruleEntry, type RuleTarget } from '../../controller/handoff/rules.js';
import { encodeTableEntry } from '../../controller/p4rt/entry-codec.js';
import { P4InfoIndex } from '../../controller/p4rt/p4info-index.js';
import { CONVERSION_OPTIONS, decodeMessage, lookupMessageType } from '../../core/proto.js';
import { tableEntryWrite } from '../../dataplane/p4rt-server.js';

const root = join(import.meta.dirname, '..', '..');
const index = new P4InfoIndex(decodeMessage('p4.config.v1.P4Info', readFileSync(join(root, 'p4', 'p4info', 'prism.p4info.bin'))));
const W = lookupMessageType('p4.v1.WriteRequest');
const full = (req: object): Record<string, any> => W.toObject(W.fromObject(req), CONVERSION_OPTIONS);

const target: RuleTarget = {
  state: { localIp: '10.0.0.100', localPort: 80, remoteIp: '10.0.0.1', remotePort: 40000 } as RuleTarget['state'],
  backend: { ip: '10.0.0.11', mac: '02:00:00:00:00:11', port: 11 },
  link: { mac: '02:00:00:00:00:01', port: 1 } as RuleTarget['link'],
  vipMac: '02:00:00:00:00:fe',
};
const request = (updates: { type: 'INSERT' | 'MODIFY' | 'DELETE'; entry: object }[]) => ({
  device_id: '1',
  election_id: { high: '0', low: '1' },
  updates: updates.map((u) => ({ type: u.type, entity: { table_entry: u.entry } })),
  atomicity: 'CONTINUE_ON_ERROR',
});

/** What the handler reads of an update. */
function readView(u: Record<string, any>) {
  const te = u.entity.table_entry;
  return {
    type: u.type,
    entity: u.entity.entity,
    table_id: te.table_id,
    priority: te.priority ?? 0,
    is_default_action: te.is_default_action ?? false,
    match: (te.match ?? []).map((m: Record<string, any>) => ({ field_id: m.field_id, kind: m.field_match_type, value: m[m.field_match_type] })),
    action: te.action ? { type: te.action.type, action_id: te.action.action.action_id, params: (te.action.action.params ?? []).map((p: Record<string, any>) => [p.param_id, Buffer.from(p.value)]) } : null,
  };
}

describe('the in-process Write', () => {
  it('hand-off rules, an LPM route and deletes: the fast path reads like the full conversion', () => {
    const req = request([
      { type: 'INSERT', entry: encodeTableEntry(index, ruleEntry('handoff_in', 'INSERT', target, true)) },
      { type: 'INSERT', entry: encodeTableEntry(index, ruleEntry('handoff_out', 'INSERT', target, true)) },
      { type: 'DELETE', entry: encodeTableEntry(index, ruleEntry('handoff_out', 'DELETE', target, false), { requireAction: false }) },
      { type: 'INSERT', entry: encodeTableEntry(index, { table: 'l3', match: { 'hdr.ipv4.dst_addr': { value: '10.0.0.0', prefixLen: 24 } }, action: 'route', params: { port: 3, src_mac: '02:00:00:00:00:aa', dst_mac: '02:00:00:00:00:bb' } }) },
    ]);
    const fast = tableEntryWrite(req);
    expect(fast).not.toBeNull();
    const slow = full(req);
    expect(fast!.updates.map(readView)).toEqual(slow.updates.map(readView));
    expect(BigInt(fast!.device_id)).toBe(BigInt(slow.device_id));
    expect(fast!.election_id).toEqual(slow.election_id);
  });

  it('anything else takes the full conversion: other entities, values that are not bytes, unknown fields, numeric update types', () => {
    const entry = encodeTableEntry(index, ruleEntry('handoff_in', 'INSERT', target, true)) as Record<string, any>;
    expect(tableEntryWrite({ updates: [{ type: 'INSERT', entity: { counter_entry: {} } }] })).toBeNull();
    expect(tableEntryWrite({ updates: [{ type: 1, entity: { table_entry: entry } }] })).toBeNull();
    expect(tableEntryWrite({ updates: [{ type: 'INSERT', entity: { table_entry: { ...entry, meter_config: {} } } }] })).toBeNull();
    const b64 = { ...entry, match: [{ field_id: 1, exact: { value: 'CgAAAQ==' } }] };
    expect(tableEntryWrite({ updates: [{ type: 'INSERT', entity: { table_entry: b64 } }] })).toBeNull();
    expect(tableEntryWrite({ updates: [{ type: 'INSERT', entity: { table_entry: { ...entry, action: { action_profile_member_id: 3 } } } }] })).toBeNull();
    expect(tableEntryWrite({})).toBeNull();
  });
});
