/** Where the repository (package root) is, from compiled (dist/cli) or source (cli/) files. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'prism') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the prism package root');
    dir = parent;
  }
}
