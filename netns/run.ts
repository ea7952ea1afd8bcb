/**
 * Running external commands (ip, ss, curl, node …) without a shell.
 *
 * Invariants:
 * - argv goes to the kernel as is: no shell, no word splitting, no globbing.
 * - `run` settles when the command exits (output that background grandchildren write to the inherited
 *   pipes more than PIPE_DRAIN_MS later is dropped). It resolves only on exit status 0 (or a status listed in `okStatuses`); otherwise it throws
 *   CommandFailedError carrying argv, status and stderr. A timeout kills the command (SIGKILL) and
 *   throws TimeoutError.
 * - `runSync` never throws: it is for exit handlers, which must not fail.
 * - Every process started by `ProcessTracker.spawn` is its own process-group leader, so
 *   `terminateAll` / `killAllSync` reach the whole group (its children too).
 */
import { spawn as cpSpawn, spawnSync, type ChildProcess, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CommandFailedError, InvalidArgumentError, TimeoutError } from '../core/errors.js';

export interface RunOptions {
  /** Kill the command and throw TimeoutError after this many ms (default 30 000). */
  timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Exit statuses that count as success besides 0. */
  okStatuses?: readonly number[];
}

/** How long `run` keeps reading stdout/stderr after the command exited. */
const PIPE_DRAIN_MS = 200;

export interface RunResult {
  stdout: string;
  stderr: string;
  status: number;
}

function checkArgv(argv: readonly string[]): asserts argv is readonly [string, ...string[]] {
  if (argv.length === 0 || argv.some((a) => typeof a !== 'string')) {
    throw new InvalidArgumentError(`argv must be a non-empty array of strings, got ${JSON.stringify(argv)}`);
  }
}

/** Runs `argv` to completion and returns its output; see the module invariants. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  checkArgv(argv);
  const [cmd, ...args] = argv;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise<RunResult>((resolve, reject) => {
    const spawnOpts: SpawnOptions = { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] };
    if (opts.env !== undefined) spawnOpts.env = opts.env;
    if (opts.cwd !== undefined) spawnOpts.cwd = opts.cwd;
    const child = cpSpawn(cmd, args, spawnOpts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CommandFailedError(argv, null, `cannot start ${cmd}: ${e.message}`));
    });
    if (opts.input !== undefined) {
      child.stdin?.on('error', () => {}); // EPIPE if the command does not read its input
      child.stdin?.end(opts.input);
    }
    // 'close' waits for stdout/stderr to reach EOF, which never happens while a background
    // grandchild (e.g. `setsid -f …`) holds the pipes: after 'exit', give the pipes a moment, then stop reading.
    let finished = false;
    let drainTimer: NodeJS.Timeout | undefined;
    child.on('exit', () => {
      drainTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(child.exitCode);
      }, PIPE_DRAIN_MS);
    });
    child.on('close', (status) => finish(status));
    const finish = (status: number | null): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(drainTimer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) reject(new TimeoutError(`\`${argv.join(' ')}\``, timeoutMs));
      else if (status === 0 || (status !== null && (opts.okStatuses ?? []).includes(status))) resolve({ stdout, stderr, status });
      else reject(new CommandFailedError(argv, status, stderr));
    };
  });
}

export interface RunSyncResult {
  /** null when the command could not start or died by a signal. */
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Synchronous, never throws. For process-exit paths only (it blocks the event loop). */
export function runSync(argv: readonly string[], timeoutMs = 5_000): RunSyncResult {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return { status: null, stdout: '', stderr: 'empty argv' };
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? r.error.message : '') };
}

/**
 * True if `pid` exists and is not a zombie. (`kill(pid, 0)` alone also succeeds for zombies,
 * which an init that does not reap leaves behind.)
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state …: comm may contain spaces and parentheses, so split after the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Sends `signal` to the process group led by `pid`, falling back to the pid alone. Never throws. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
    return;
  } catch {
    // not a group leader any more (or gone): try the pid itself
  }
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export interface SpawnTrackedOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default ['ignore', 'pipe', 'pipe']: read stdout/stderr (or pass 'ignore'/'inherit'), or the child may block on a full pipe. */
  stdio?: StdioOptions;
}

const STDERR_TAIL_BYTES = 4096;

/**
 * A set of long-running child processes that are stopped together.
 * A process leaves the set when it exits.
 */
export class ProcessTracker {
  readonly #children = new Set<ChildProcess>();
  readonly #stderrTail = new WeakMap<ChildProcess, string>();

  /** Starts `argv` as a new process-group leader and tracks it until it exits. */
  spawn(argv: readonly string[], opts: SpawnTrackedOptions = {}): ChildProcess {
    checkArgv(argv);
    const [cmd, ...args] = argv;
    const spawnOpts: SpawnOptions = { stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'], detached: true };
    if (opts.env !== undefined) spawnOpts.env = opts.env;
    if (opts.cwd !== undefined) spawnOpts.cwd = opts.cwd;
    const child = cpSpawn(cmd, args, spawnOpts);
    // A spawn failure (ENOENT …) is reported by 'error'; keep it from becoming an uncaught exception
    // when the caller did not listen: the caller sees exitCode/pid instead.
    child.on('error', () => {});
    if (child.pid !== undefined) {
      this.#children.add(child);
      child.once('exit', () => this.#children.delete(child));
    }
    child.stderr?.on('data', (b: Buffer) => {
      const prev = this.#stderrTail.get(child) ?? '';
      this.#stderrTail.set(child, (prev + b.toString('utf8')).slice(-STDERR_TAIL_BYTES));
    });
    return child;
  }

  /** The last few KiB the child wrote to stderr (when stderr is a pipe). */
  stderrTail(child: ChildProcess): string {
    return this.#stderrTail.get(child) ?? '';
  }

  /** Pids of tracked processes that have not exited. */
  pids(): number[] {
    return [...this.#children].flatMap((c) => (c.pid !== undefined && c.exitCode === null && c.signalCode === null ? [c.pid] : []));
  }

  /**
   * SIGTERM to every tracked process group, then SIGKILL to those still running after `graceMs`.
   * Resolves when all have exited (or after a further second); returns the pids it signalled.
   */
  async terminateAll(graceMs = 2_000): Promise<number[]> {
    const live = [...this.#children].filter((c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null);
    const pids = live.map((c) => c.pid as number);
    if (live.length === 0) return [];
    const exited = live.map((c) => waitExit(c));
    for (const pid of pids) signalGroup(pid, 'SIGTERM');
    const graceful = await Promise.race([Promise.all(exited).then(() => true), sleep(graceMs).then(() => false)]);
    if (!graceful) {
      for (const c of live) if (c.exitCode === null && c.signalCode === null) signalGroup(c.pid as number, 'SIGKILL');
      await Promise.race([Promise.all(exited), sleep(1_000)]);
    }
    // Group members other than the leader may outlive it; SIGKILL the groups (never a bare pid here:
    // a reaped leader's pid may already belong to someone else).
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // group empty
      }
    }
    return pids;
  }

  /** SIGKILL to every tracked process group, synchronously. For exit handlers. */
  killAllSync(): number[] {
    const pids = this.pids();
    for (const pid of pids) signalGroup(pid, 'SIGKILL');
    return pids;
  }
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
