#!/usr/bin/env node
// Fails when the TypeScript sources import each other in a cycle (madge over the source tree).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dirs = ['core', 'cli', 'controller', 'codegen', 'agent', 'dataplane', 'netns', 'stack', 'native', 'bench'];
const r = spawnSync(
  join(root, 'node_modules', '.bin', 'madge'),
  // proto/types is generated from recursive protobuf messages (type-only cycles); it is excluded.
  ['--circular', '--extensions', 'ts', '--ts-config', 'tsconfig.json', '--no-spinner', '--exclude', '^proto/types/', ...dirs.filter((d) => {
    try { return spawnSync('test', ['-d', join(root, d)]).status === 0; } catch { return false; }
  })],
  { cwd: root, encoding: 'utf8' },
);
process.stdout.write(r.stdout ?? '');
process.stderr.write(r.stderr ?? '');
if (r.status !== 0) {
  process.stderr.write('import cycle check failed: see the cycles above\n');
  process.exit(1);
}
