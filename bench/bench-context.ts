/** What every benchmark gets: where the repository is, how long to measure, and how to report. */
import { cpus, release } from 'node:os';

export interface BenchContext {
  readonly root: string;
  /** Seconds per throughput measurement. */
  readonly seconds: number;
  /** Object sizes for the hand-off benchmark (default: 4 KiB .. 64 MiB). */
  readonly sizes?: readonly number[];
  progress(msg: string): void;
  line(msg: string): void;
}

export interface BenchResult {
  readonly name: string;
  readonly results: Record<string, unknown>;
}

export function machineInfo(): Record<string, string | number> {
  return {
    date: new Date().toISOString(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: process.version,
  };
}
