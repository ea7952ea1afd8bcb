/**
 * topologies/mininet/prism_mininet.py --test as a user runs it: Mininet builds the client, three
 * backends and the P4 switch node, the switch serves P4Runtime, the controller and the agents run
 * on Mininet hosts, and curl on the client fetches /bytes/1048576 through the VIP with its sha256
 * checked against X-Content-SHA256, one request per backend, and no hand-off entry left on the
 * switch afterwards. Once with the embedded target, once with BMv2, with the same checks.
 *
 * Skips, with the reason printed, where Mininet (Debian's `mininet` package, for the interpreter
 * that can `import mininet`) is not installed or this is not root; the BMv2 variant also skips
 * where simple_switch_grpc or p4c is not on PATH.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../../netns/index.js';
import { ebpfSkipReason, REPO } from '../helpers/ebpf.js';
import { onPath } from '../helpers/tools.js';

const SCRIPT = join(REPO, 'topologies', 'mininet', 'prism_mininet.py');

/** The Python 3 that has Debian's mininet package (/usr/bin/python3 first: a pyenv python3 on PATH does not see it). */
function mininetPython(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(py, ['-c', 'import mininet.net'], { stdio: 'ignore' }).status === 0) return py;
  }
  return null;
}


const python = mininetPython();
const built = [join(REPO, 'dist', 'cli', 'main.js'), join(REPO, 'build', 'ebpf', 'prism.bpf.o')].find((f) => !existsSync(f));
const reason = !isRoot()
  ? 'needs root (Mininet creates network namespaces and veth pairs)'
  : !python
    ? "Mininet is not installed (python3 -c 'import mininet' fails; apt-get install mininet)"
    : !onPath('mnexec')
      ? 'mnexec (from the mininet package) is not on PATH'
      : built
        ? `${built} is missing (npm run build)`
        : ebpfSkipReason();
if (reason) console.warn(`[skip] Mininet tests: ${reason}`);

const bmv2Missing = ['simple_switch_grpc', 'p4c'].filter((c) => !onPath(c));
const bmv2Reason = reason ?? (bmv2Missing.length > 0 ? `${bmv2Missing.join(' and ')} not on PATH (see docs/mininet.md)` : null);
if (!reason && bmv2Reason) console.warn(`[skip] Mininet BMv2 variant: ${bmv2Reason}`);

interface RunResult {
  code: number | null;
  out: string;
  err: string;
}

function runScript(args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(python!, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // SIGTERM makes the script clean up (net.stop(), its processes) before it exits.
    const timer = setTimeout(() => p.kill('SIGTERM'), timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

interface MininetResult {
  ok: boolean;
  target: string;
  backends: Record<string, number>;
  /** handoff_in / handoff_out entries read back from the switch after the requests. */
  handoffEntries: unknown[];
  requests: { ok: boolean; bytes: number; sha256: string; expected: string; backend: string | null; seconds: number | null }[];
}

function parseResult(r: RunResult): MininetResult {
  const line = r.out.split('\n').find((l) => l.startsWith('PRISM_MININET_RESULT '));
  if (!line) throw new Error(`no result line (exit ${String(r.code)}):\n${r.out}\n${r.err}`);
  return JSON.parse(line.slice('PRISM_MININET_RESULT '.length)) as MininetResult;
}

/**
 * Nothing of the run is left: no switch interfaces or CPU port in the root namespace, no run
 * directory, no process of the run (switch, controller, agents, p4c: their arguments name the run
 * directory) and no Mininet host shell (`bash ... mininet:<host>`).
 */
function expectNothingLeft(): void {
  const links = readdirSync('/sys/class/net').filter((n) => /^s1-eth\d+$/.test(n) || n === 'cpu0' || n === 'cpu1');
  expect(links).toEqual([]);
  expect(existsSync('/run/prism/mininet')).toBe(false);
  const procs = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.includes('/run/prism/mininet/') || /\bmininet:(client|ctl|s1|b\d+)\b/.test(l));
  expect(procs).toEqual([]);
}

/** The same checks on both switches: the embedded eBPF target and BMv2 (parametrised, not copied). */
const variants = [
  { target: 'embedded', title: 'embedded target (prism switch: the generated eBPF program)', args: ['--test'], skip: null, timeoutMs: 120_000 },
  {
    target: 'bmv2',
    title: 'BMv2 target (simple_switch_grpc with the p4c-compiled v1model program)',
    args: ['--test', '--bmv2', '--require-bmv2'],
    skip: bmv2Reason,
    timeoutMs: 150_000,
  },
] as const;

describe.skipIf(reason)('Mininet: prism_mininet.py --test', () => {
  for (const v of variants) {
    it.skipIf(v.skip)(`${v.title}: curl through the VIP reaches every backend with the right sha256, then everything is gone`, async () => {
      const started = Date.now();
      const r = await runScript(v.args, v.timeoutMs);
      console.log(`[mininet] ${v.target}: exit ${String(r.code)} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const res = parseResult(r);
      expect(res.target).toBe(v.target);
      expect(res.ok, `${r.out}\n${r.err}`).toBe(true);
      expect(r.code).toBe(0);
      expect(res.requests).toHaveLength(3);
      for (const q of res.requests) {
        expect(q.bytes).toBe(1048576);
        expect(q.sha256).toBe(q.expected);
      }
      // Round robin over three backends, one request each: every backend served one hand-off.
      expect(res.backends).toEqual({ b1: 1, b2: 1, b3: 1 });
      // No hand-off rule outlives its transaction (read back over P4Runtime through the admin API).
      expect(res.handoffEntries).toEqual([]);
      expectNothingLeft();
    }, v.timeoutMs + 30_000);
  }
});
