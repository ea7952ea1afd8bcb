/** Per-update Write outcomes from a google.rpc.Status with p4.v1.Error details (P4Runtime spec 12.3). */
import { describe, expect, it } from 'vitest';
import { P4RuntimeWriteError, ProtoError } from '../../core/errors.js';
import { encodeMessage } from '../../core/proto.js';
import {
  decodeStatusDetails,
  encodeStatusDetails,
  writeErrorOf,
  writeResultsFromStatus,
  type SentUpdate,
} from '../../controller/p4rt/write-status.js';

const updates: SentUpdate[] = [
  { type: 'INSERT', entry: 'handoff_in(src_addr=10.0.0.1, dst_addr=10.0.0.100, src_port=40000, dst_port=80)' },
  { type: 'INSERT', entry: 'handoff_out(src_addr=10.0.1.2, dst_addr=10.0.0.1, src_port=80, dst_port=40000)' },
  { type: 'DELETE', entry: 'vip(dst_addr=10.0.0.100, dst_port=80)' },
];

/** The example of spec 12.3, built by hand (not with encodeStatusDetails). */
function handBuiltStatus(): Buffer {
  const any = (err: Record<string, unknown>) => ({ type_url: 'type.googleapis.com/p4.v1.Error', value: encodeMessage('p4.v1.Error', err) });
  return encodeMessage('google.rpc.Status', {
    code: 2,
    message: 'Write failure.',
    details: [
      any({ canonical_code: 8, message: 'Table is full.', space: 'targetX-psa-vendorY', code: 500 }),
      any({ canonical_code: 0 }),
      any({ canonical_code: 5, message: 'Entry not found.', space: 'targetX-psa-vendorY', code: 600 }),
    ],
  });
}

describe('write status details', () => {
  it('decodes a hand-built google.rpc.Status into per-update records', () => {
    const status = decodeStatusDetails(handBuiltStatus());
    expect(status.code).toBe('UNKNOWN');
    expect(status.message).toBe('Write failure.');
    expect(status.errors).toEqual([
      { code: 'RESOURCE_EXHAUSTED', message: 'Table is full.', space: 'targetX-psa-vendorY', spaceCode: 500 },
      { code: 'OK', message: '', space: '', spaceCode: 0 },
      { code: 'NOT_FOUND', message: 'Entry not found.', space: 'targetX-psa-vendorY', spaceCode: 600 },
    ]);
    const results = writeResultsFromStatus(status, updates)!;
    expect(results.map((r) => [r.index, r.ok, r.ok ? 'OK' : r.code])).toEqual([
      [0, false, 'RESOURCE_EXHAUSTED'],
      [1, true, 'OK'],
      [2, false, 'NOT_FOUND'],
    ]);
    expect(results[0]).toMatchObject({ type: 'INSERT', entry: updates[0]!.entry, message: 'Table is full.', space: 'targetX-psa-vendorY', spaceCode: 500 });
  });

  it('turns failures into a P4RuntimeWriteError naming each failed entry', () => {
    const results = writeResultsFromStatus(decodeStatusDetails(handBuiltStatus()), updates)!;
    const err = writeErrorOf(results)!;
    expect(err).toBeInstanceOf(P4RuntimeWriteError);
    expect(err.code).toBe('PRISM_ERR_P4RT_WRITE');
    expect(err.batchSize).toBe(3);
    expect(err.failures.map((f) => f.index)).toEqual([0, 2]);
    expect(err.withCode('NOT_FOUND')[0]!.entry).toBe('vip(dst_addr=10.0.0.100, dst_port=80)');
    expect(err.message).toContain('2 of 3 P4Runtime updates failed');
    expect(err.message).toContain('#0 INSERT handoff_in(src_addr=10.0.0.1, dst_addr=10.0.0.100, src_port=40000, dst_port=80): RESOURCE_EXHAUSTED (Table is full.)');
    expect(err.message).toContain('#2 DELETE vip(dst_addr=10.0.0.100, dst_port=80): NOT_FOUND');
    expect(writeErrorOf(results.filter((r) => r.ok))).toBeNull();
  });

  it('encodes what it decodes', () => {
    const bytes = encodeStatusDetails('UNKNOWN', 'Write failure.', [
      { code: 'RESOURCE_EXHAUSTED', message: 'Table is full.', space: 'targetX-psa-vendorY', spaceCode: 500 },
      { code: 'OK' },
      { code: 'NOT_FOUND', message: 'Entry not found.', space: 'targetX-psa-vendorY', spaceCode: 600 },
    ]);
    expect(bytes).toEqual(handBuiltStatus());
  });

  it('treats missing or mismatched details as an RPC-wide failure', () => {
    expect(writeResultsFromStatus(null, updates)).toBeNull();
    expect(writeResultsFromStatus(decodeStatusDetails(encodeStatusDetails('PERMISSION_DENIED', 'not primary', [])), updates)).toBeNull();
    expect(writeResultsFromStatus(decodeStatusDetails(encodeStatusDetails('UNKNOWN', 'x', [{ code: 'OK' }])), updates)).toBeNull();
  });

  it('reports details of another type as UNKNOWN and malformed bytes as ProtoError', () => {
    const other = encodeMessage('google.rpc.Status', { code: 2, details: [{ type_url: 'type.googleapis.com/google.rpc.DebugInfo', value: Buffer.alloc(0) }] });
    expect(decodeStatusDetails(other).errors[0]).toMatchObject({ code: 'UNKNOWN', message: expect.stringContaining('google.rpc.DebugInfo') });
    expect(() => decodeStatusDetails(Buffer.from([0xff, 0xff, 0xff]))).toThrow(ProtoError);
  });
});
