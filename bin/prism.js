#!/usr/bin/env node
// Entry point: the CLI is compiled TypeScript in dist/ (`npm run build` makes it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('prism: not built yet. Run `npm run build` (or `npm run demo`, which builds first).\n');
  process.exit(1);
}
await import(main.href);
