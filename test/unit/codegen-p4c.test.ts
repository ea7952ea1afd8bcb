/** Parsing p4c / p4test diagnostics (codegen/p4c.ts), on stderr as p4c 1.2.4.8 writes it. */
import { describe, expect, it } from 'vitest';
import { p4cDiagnostics } from '../../codegen/p4c.js';

describe('p4cDiagnostics', () => {
  it('reads a located error and skips its source excerpt', () => {
    const stderr = [
      'p4/v1model/prism.p4(122): [--Werror=target-error] error: mark_to_drop: Conditional execution in actions unsupported on this target',
      '                mark_to_drop(standard_metadata);',
      '                ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^',
    ].join('\n');
    expect(p4cDiagnostics(stderr)).toEqual([
      { severity: 'error', name: 'target-error', location: 'p4/v1model/prism.p4(122)', message: 'mark_to_drop: Conditional execution in actions unsupported on this target' },
    ]);
  });

  it('reads a warning without a location, and one whose excerpt names a second location', () => {
    const stderr = [
      '[--Wwarn=deprecated] warning: .txt format is being deprecated; use .txtpb instead',
      "p4/tna/prism.p4(17): [--Wwarn=uninitialized_out_param] warning: out parameter 'meta' may be uninitialized when 'IngressParser' terminates",
      'parser IngressParser(packet_in packet, out headers_t hdr, out local_metadata_t meta, out ingress_intrinsic_metadata_t ig_intr_md) {',
      '                                                                               ^^^^',
      'p4/tna/prism.p4(17)',
      'parser IngressParser(packet_in packet, out headers_t hdr, out local_metadata_t meta, out ingress_intrinsic_metadata_t ig_intr_md) {',
      '       ^^^^^^^^^^^^^',
      '',
    ].join('\n');
    expect(p4cDiagnostics(stderr)).toEqual([
      { severity: 'warning', name: 'deprecated', location: null, message: '.txt format is being deprecated; use .txtpb instead' },
      { severity: 'warning', name: 'uninitialized_out_param', location: 'p4/tna/prism.p4(17)', message: "out parameter 'meta' may be uninitialized when 'IngressParser' terminates" },
    ]);
  });

  it('reads parser, preprocessor and internal errors that lack the reporter format', () => {
    const stderr = [
      'p4/tna/prism.p4(17):syntax error, unexpected IDENTIFIER "ingress_intrinsic_metadata_t"',
      '[--Werror=overlimit] error: 1 errors encountered, aborting compilation',
      'p4/tna/prism.p4:2:10: fatal error: core.p4: No such file or directory',
      '    2 | #include <core.p4>',
      'compilation terminated.',
      'In file: /root/p4build/p4c/frontends/p4/methodInstance.cpp:32',
      'Compiler Bug: p4/tna/prism.p4(89): handoff_in_counter_0/handoff_in_counter.count;: unknown type',
    ].join('\n');
    expect(p4cDiagnostics(stderr).map((d) => [d.severity, d.name, d.location, d.message])).toEqual([
      ['error', null, 'p4/tna/prism.p4(17)', 'syntax error, unexpected IDENTIFIER "ingress_intrinsic_metadata_t"'],
      ['error', 'overlimit', null, '1 errors encountered, aborting compilation'],
      ['error', null, null, 'p4/tna/prism.p4:2:10: fatal error: core.p4: No such file or directory'],
      ['error', null, null, 'Compiler Bug: p4/tna/prism.p4(89): handoff_in_counter_0/handoff_in_counter.count;: unknown type'],
    ]);
  });

  it('finds nothing in a clean run', () => {
    expect(p4cDiagnostics('')).toEqual([]);
  });
});
