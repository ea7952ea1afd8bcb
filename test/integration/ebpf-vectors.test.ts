/**
 * The generated eBPF programs, loaded under the kernel verifier and run with BPF_PROG_TEST_RUN
 * on the packet vectors: output bytes, egress port and drops as the P4 program specifies them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIPELINES } from '../../codegen/pipelines/index.js';
import { parseTcpFrame } from '../../core/header/frame.js';
import type { EbpfDataplane } from '../../dataplane/ebpf-dataplane.js';
import { TcAction } from '../../native/index.js';
import { compileGenerated, ebpfSkipReason, installEntry, loadPipeline } from '../helpers/ebpf.js';
import { VECTOR_PORTS, pipelineVectors } from '../vectors/pipeline-vectors.js';

const skip = ebpfSkipReason();
if (skip) console.warn(`[skip] eBPF vector tests: ${skip}`);

describe.skipIf(skip)('eBPF target: packet vectors through BPF_PROG_TEST_RUN', () => {
  const objects = new Map<string, { path: string; cleanup: () => void }>();

  beforeAll(() => {
    for (const name of Object.keys(PIPELINES)) objects.set(name, compileGenerated(name));
  });
  afterAll(() => {
    for (const o of objects.values()) o.cleanup();
  });

  function fresh(pipeline: string): EbpfDataplane {
    const dp = loadPipeline(PIPELINES[pipeline]!, objects.get(pipeline)!.path);
    dp.setCpuPort(VECTOR_PORTS.cpu);
    // Test runs do not perform the redirect; any non-zero ifindex marks a port as present.
    for (const port of [1, 2, 3, VECTOR_PORTS.cpu]) dp.mapPort(port, 1000 + port);
    return dp;
  }

  it('both pipelines load and pass the verifier', () => {
    for (const name of Object.keys(PIPELINES)) {
      const dp = fresh(name);
      expect(dp.programFd).toBeGreaterThan(0);
      dp.close();
    }
  });

  for (const v of pipelineVectors()) {
    it(v.name, () => {
      const dp = fresh(v.pipeline);
      try {
        for (const e of v.entries) installEntry(dp, e);
        const r = dp.testRun(v.input, v.ingressPort);
        if ('drop' in v.expect) {
          expect(r.verdict).toBe(TcAction.SHOT);
          expect(r.egressPort).toBeNull();
          expect(r.dropReasons.length).toBe(1);
        } else {
          expect(r.verdict).toBe(TcAction.REDIRECT);
          expect(r.egressPort).toBe(v.expect.port);
          expect(r.output.toString('hex')).toBe(v.expect.output.toString('hex'));
          // Checksums verified independently of the expected bytes.
          const frame = v.expect.port === VECTOR_PORTS.cpu ? r.output.subarray(2) : r.output;
          const parsed = parseTcpFrame(frame);
          if (parsed && frame.length === v.input.length - (v.ingressPort === VECTOR_PORTS.cpu ? 2 : 0) && parsed.payload.length + 54 <= frame.length) {
            expect(parsed.ipChecksumOk).toBe(true);
            expect(parsed.tcpChecksumOk).toBe(true);
          }
        }
      } finally {
        dp.close();
      }
    });
  }

  it('direct counters count hits on hand-off entries, and ports count rx/tx', () => {
    const dp = fresh('prism');
    try {
      const v = pipelineVectors().find((x) => x.name.startsWith('handoff_in: client segment'))!;
      for (const e of v.entries) installEntry(dp, e);
      for (let i = 0; i < 5; i++) dp.testRun(v.input, v.ingressPort);
      const l = dp.layout('handoff_in');
      const entry = dp.layout('handoff_in').keyFields;
      expect(entry.length).toBe(4);
      const stats = dp.portStats(VECTOR_PORTS.backend);
      expect(stats.tx_packets).toBe(5n);
      expect(dp.portStats(VECTOR_PORTS.client).rx_packets).toBe(5n);
      expect(l.kind).toBe('hash');
    } finally {
      dp.close();
    }
  });
});
