/** docs/setup.md lists every Debian package scripts/setup.mjs installs (the two must not drift). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..', '..');

function setupPackages(): string[] {
  const src = readFileSync(join(REPO, 'scripts', 'setup.mjs'), 'utf8');
  const list = /const DEBIAN_PACKAGES = \[([\s\S]*?)\];/.exec(src);
  if (!list) throw new Error('DEBIAN_PACKAGES not found in scripts/setup.mjs');
  return [...list[1]!.matchAll(/^\s*'([a-z0-9.+-]+)'/gm)].map((m) => m[1]!);
}

describe('setup packages', () => {
  it('every package setup installs is documented in docs/setup.md', () => {
    const pkgs = setupPackages();
    expect(pkgs.length).toBeGreaterThan(10);
    const doc = readFileSync(join(REPO, 'docs', 'setup.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/`([a-z0-9.+-]+)`/g)].map((m) => m[1]!));
    expect(pkgs.filter((p) => !documented.has(p))).toEqual([]);
  });
});
