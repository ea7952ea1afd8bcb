/**
 * The committed TypeScript types in proto/types/ must equal what scripts/gen-proto-types.mjs
 * generates from proto/ now. When this fails, run `node scripts/gen-proto-types.mjs` and commit.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROTO_DIR } from '../../core/proto.js';

const repoRoot = join(PROTO_DIR, '..');
const committedDir = join(PROTO_DIR, 'types');
const tmp = mkdtempSync(join(tmpdir(), 'prism-proto-types-'));
const freshDir = join(tmp, 'types');

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('proto/types is up to date', () => {
  it('regenerates to identical files', () => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'gen-proto-types.mjs'), '--out', freshDir], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);

    const fresh = listFiles(freshDir);
    const committed = listFiles(committedDir);
    const hint = 'proto/types is stale: run `node scripts/gen-proto-types.mjs`';
    expect(committed, hint).toEqual(fresh);
    const differing = fresh.filter((f) => !readFileSync(join(freshDir, f)).equals(readFileSync(join(committedDir, f))));
    expect(differing, hint).toEqual([]);
    expect(fresh.length).toBeGreaterThan(100);
  });
});
