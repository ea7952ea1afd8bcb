#!/usr/bin/env node
// Entry point: the CLI is compiled TypeScript in dist/ (`npm run build` makes it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('prism: not built yet. Run `npm run build` (or `npm run demo`, which builds first).\n');
  process.exit(1);
}
// Commands that print their own human-readable progress log warnings and errors only, unless
// PRISM_LOG_LEVEL says otherwise; daemons (switch, controller, agent) log at info.
const QUIET_COMMANDS = new Set(['demo', 'bench', 'codegen', 'topo', 'serve']);
if (!process.env.PRISM_LOG_LEVEL && QUIET_COMMANDS.has(process.argv[2] ?? '')) process.env.PRISM_LOG_LEVEL = 'warn';
await import(main.href);
