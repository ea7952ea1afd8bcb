/**
 * A timeline of the hot path for measurement: with PRISM_TIMELINE=<dir> set, each process records
 * named points (epoch milliseconds to the microsecond, comparable across the processes of one machine) and writes
 * them to <dir>/timeline-<pid>.tsv when it exits. Unset, `mark` is a function that does nothing.
 *
 *   PRISM_TIMELINE=/tmp/t prism bench --only handoff ...   then   node scripts/timeline-report.mjs /tmp/t
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env['PRISM_TIMELINE'];
const points: string[] = [];

/** Records that `label` happened now (for transaction `id`, when given). */
export const mark: (label: string, id?: bigint | string | number) => void = dir
  ? (label, id) => {
      if (points.length < 2_000_000) points.push(`${(performance.timeOrigin + performance.now()).toFixed(3)}\t${label}\t${id ?? ''}`);
    }
  : () => undefined;



if (dir) {
  process.on('exit', () => {
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `timeline-${process.pid}.tsv`), points.join('\n') + '\n');
    } catch {
      // measurement only
    }
  });
}
