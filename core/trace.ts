/**
 * A timeline of the hot path for measurement: with PRISM_TRACE=<dir> set, each process records
 * named points (epoch milliseconds to the microsecond, comparable across the processes of one machine) and writes
 * them to <dir>/trace-<pid>.tsv when it exits. Unset, `trace` is one boolean test.
 *
 *   PRISM_TRACE=/tmp/t prism bench --only handoff ...   then   node scripts/trace-report.mjs /tmp/t
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env['PRISM_TRACE'];
const points: string[] = [];

/** Records that `label` happened now (for transaction `id`, when given). */
export const trace: (label: string, id?: bigint | string | number) => void = dir
  ? (label, id) => {
      if (points.length < 2_000_000) points.push(`${(performance.timeOrigin + performance.now()).toFixed(3)}\t${label}\t${id ?? ''}`);
    }
  : () => undefined;

export const tracing = dir !== undefined;

if (dir) {
  process.on('exit', () => {
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `trace-${process.pid}.tsv`), points.join('\n') + '\n');
    } catch {
      // measurement only
    }
  });
}
