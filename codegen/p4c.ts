/**
 * Running p4lang's compilers on the generated programs: `p4c` (the bmv2 back end, for
 * simple_switch_grpc) and `p4test` (the front and mid end alone). Neither ships with prism: the
 * tests use them where they are on PATH (docs/codegen.md says how to build them, docs/bmv2.md
 * what the tests check).
 *
 * Diagnostics come back as records parsed from p4c's error reporter, whose headlines read
 * `file(line): [--Wwarn=<name>] warning: <message>` (the location and the `[--W…]` part are
 * optional), followed by source lines and carets that are not diagnostics. A caller decides which
 * warnings it accepts by `name` and `message`, never by the raw text.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { basename, delimiter, dirname, join } from 'node:path';

export interface P4cDiagnostic {
  readonly severity: 'error' | 'warning' | 'info';
  /** The diagnostic's name as `--Wdisable=<name>` takes it (`uninitialized_out_param`), or null. */
  readonly name: string | null;
  /** `file(line)` when p4c gave one. */
  readonly location: string | null;
  readonly message: string;
}

export interface P4cRun {
  /** Exit status (null when killed by a signal). */
  readonly status: number | null;
  readonly diagnostics: readonly P4cDiagnostic[];
  /** Everything the compiler wrote to stderr (diagnostics with their source excerpts). */
  readonly stderr: string;
}

export interface V1modelBuild extends P4cRun {
  /** The BMv2 JSON (the device config simple_switch_grpc loads). */
  readonly json: string;
  /** The P4Info p4c wrote, binary. */
  readonly p4info: string;
}

const HEADLINE = /^(?:(?<location>\S[^:]*\(\d+\)):\s*)?(?:\[--W(?:warn|error|info)=(?<name>[A-Za-z0-9_.-]+)\]\s*)?(?<severity>warning|error|info):\s*(?<message>.*)$/;
/** Headlines without the reporter's format: the parser's, the preprocessor's, an internal error. */
const OTHER_ERROR = /^(?:(?<location>\S[^:]*\(\d+\)):\s*)?(?<message>(?:syntax error|Compiler Bug|.*fatal error:).*)$/;

/** The diagnostics in a p4c / p4test stderr, in order. */
export function p4cDiagnostics(stderr: string): P4cDiagnostic[] {
  const out: P4cDiagnostic[] = [];
  for (const line of stderr.split('\n')) {
    const h = HEADLINE.exec(line);
    if (h?.groups) {
      out.push({
        severity: h.groups.severity as P4cDiagnostic['severity'],
        name: h.groups.name ?? null,
        location: h.groups.location ?? null,
        message: h.groups.message!.trim(),
      });
      continue;
    }
    const o = OTHER_ERROR.exec(line);
    if (o?.groups) out.push({ severity: 'error', name: null, location: o.groups.location ?? null, message: o.groups.message!.trim() });
  }
  return out;
}

function run(cmd: string, args: readonly string[]): P4cRun {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw r.error;
  const stderr = `${r.stderr}${r.stdout ? `\n${r.stdout}` : ''}`;
  return { status: r.status, diagnostics: p4cDiagnostics(stderr), stderr };
}

/** True when `cmd --version` runs. */
export function hasTool(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * `p4c --target bmv2 --arch v1model` on a generated program: the JSON and the binary P4Info
 * (`<name>.json`, `<name>.p4info.bin`) go to `outDir`. `defines` become `-D` flags
 * (`CPU_PORT=64`). The P4Info is written as `.bin`: p4c 1.2.4.8 warns that `.txt` is deprecated.
 */
export function compileV1model(program: string, outDir: string, defines: Readonly<Record<string, string | number>> = {}): V1modelBuild {
  const name = basename(program, '.p4');
  const p4info = join(outDir, `${name}.p4info.bin`);
  const args = ['--target', 'bmv2', '--arch', 'v1model', ...Object.entries(defines).map(([k, v]) => `-D${k}=${v}`), '-o', outDir, '--p4runtime-files', p4info, program];
  return { ...run('p4c', args), json: join(outDir, `${name}.json`), p4info };
}

/**
 * p4c's own include directory (core.p4, v1model.p4), found next to the p4test binary
 * (`<prefix>/bin/p4test` → `<prefix>/share/p4c/p4include`). p4test looks there only when it
 * runs from the prefix it was built for; an installed copy moved elsewhere needs `-I` with this.
 */
export function p4includeDir(binary = 'p4test'): string | null {
  const path = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((d) => d !== '')
    .map((d) => join(d, binary))
    .find((f) => existsSync(f));
  if (!path) return null;
  const dir = join(dirname(dirname(realpathSync(path))), 'share', 'p4c', 'p4include');
  return existsSync(join(dir, 'core.p4')) ? dir : null;
}

export interface P4testOptions {
  readonly includeDirs?: readonly string[];
  readonly defines?: Readonly<Record<string, string | number>>;
  /** `--arch`, which selects the P4Runtime serializer (p4test's front and mid end are the same for all). */
  readonly arch?: string;
  /** Write the P4Info there (binary). */
  readonly p4info?: string;
}

/** `p4test` (p4c's front and mid end, no back end) on a program. */
export function runP4test(program: string, opts: P4testOptions = {}): P4cRun {
  const args = [
    '--std',
    'p4-16',
    ...(opts.arch ? ['--arch', opts.arch] : []),
    ...(opts.includeDirs ?? []).flatMap((d) => ['-I', d]),
    ...Object.entries(opts.defines ?? {}).map(([k, v]) => `-D${k}=${v}`),
    ...(opts.p4info ? ['--p4runtime-files', opts.p4info] : []),
    program,
  ];
  return run('p4test', args);
}
