/**
 * Production never loads test code (issue 17, part 1): the built CLI, run as a user runs it,
 * loads no module under a `testing/` folder and no benchmark (benchmarks load only when
 * `prism bench` runs), and leaves V8 without --expose-gc. Every module the process loads is
 * recorded by a loader hook (node:module register); at exit the process records whether `gc`
 * exists in its global scope and in a new context (--expose-gc set at run time by
 * v8.setFlagsFromString shows only in contexts created after it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, 'bin', 'prism.js');

const HOOKS = `
import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function load(url, context, next) {
  appendFileSync(log, 'load ' + url + '\\n');
  return next(url, context);
}
`;

const TRACE = `
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { runInNewContext } from 'node:vm';
const log = process.env.PRISM_TRACE_LOG;
register(new URL('./hooks.mjs', import.meta.url), { data: { log } });
process.on('exit', () => appendFileSync(log, 'gc ' + typeof globalThis.gc + ' ' + runInNewContext('typeof gc') + '\\n'));
`;

interface Trace {
  readonly status: number | null;
  readonly stderr: string;
  /** Paths of the files loaded from this repository, relative to it. */
  readonly loaded: readonly string[];
  /** `typeof gc` in the main context and in a context created at exit. */
  readonly gc: readonly [string, string] | undefined;
}

let dir: string;
let runs = 0;

function traced(args: readonly string[]): Trace {
  const log = join(dir, `trace-${++runs}.log`);
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(dir, 'trace.mjs')).href, ...args], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, PRISM_TRACE_LOG: log },
    timeout: 30_000,
  });
  const lines = readFileSync(log, 'utf8').split('\n');
  const root = pathToFileURL(REPO).href;
  const loaded = lines
    .filter((l) => l.startsWith('load file:'))
    .map((l) => l.slice('load '.length))
    .filter((u) => u.startsWith(root) && !u.includes('/node_modules/'))
    .map((u) => fileURLToPath(u).slice(REPO.length));
  const gc = lines.find((l) => l.startsWith('gc '))?.split(' ');
  return { status: r.status, stderr: r.stderr, loaded, gc: gc ? [gc[1]!, gc[2]!] : undefined };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'prism-cli-trace-'));
  writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
  writeFileSync(join(dir, 'trace.mjs'), TRACE);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the CLI loads no test or benchmark code', () => {
  it('the CLI is built', () => {
    expect(existsSync(join(REPO, 'dist', 'cli', 'main.js')), 'dist/cli/main.js is missing: run `npm run build`').toBe(true);
  });

  it.each([[['--help']], [['codegen', '--help']], [['controller', '--help']], [['agent', '--help']], [['bench', '--help']]])('prism %j', (args) => {
    const t = traced([BIN, ...args]);
    expect(t.status, t.stderr).toBe(0);
    // The trace saw the CLI itself and every command's registration.
    expect(t.loaded).toContain('dist/cli/main.js');
    expect(t.loaded).toContain('dist/cli/cmd-bench.js');
    expect(t.loaded).toContain('dist/cli/cmd-controller.js');
    expect(t.loaded.filter((p) => p.split('/').includes('testing'))).toEqual([]);
    expect(t.loaded.filter((p) => p.startsWith('dist/bench/'))).toEqual([]);
    expect(t.gc).toEqual(['undefined', 'undefined']);
  });

  it('the trace does see a module that switches on --expose-gc (the check can fail)', () => {
    const t = traced(['--input-type=module', '-e', "const { settledHeap } = await import('./dist/bench/heap.js'); settledHeap();"]);
    expect(t.status, t.stderr).toBe(0);
    expect(t.loaded).toContain('dist/bench/heap.js');
    expect(t.gc).toEqual(['undefined', 'function']);
  });
});
