/**
 * Whether this process may create namespaces and veths, and the reason tests must skip if not.
 *
 * Invariant: `skipReason()` returns null only if we are root AND `ip netns` works; tests that need
 * namespaces use `describe.skipIf(skipReason())` and print the reason.
 */
import { spawnSync } from 'node:child_process';
import { NotRootError } from '../core/errors.js';

/** True when running as uid 0. (CAP_NET_ADMIN without root is not supported by the harness.) */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Throws NotRootError naming `what` unless running as root. */
export function requireRoot(what = 'the network-namespace harness'): void {
  if (!isRoot()) throw new NotRootError(what);
}

function commandWorks(argv: readonly [string, ...string[]]): string | null {
  const [cmd, ...args] = argv;
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 5_000 });
  if (r.error) return `\`${argv.join(' ')}\` cannot run: ${r.error.message}`;
  if (r.status !== 0) return `\`${argv.join(' ')}\` exited with ${r.status}: ${(r.stderr ?? '').trim()}`;
  return null;
}

let cached: { reason: string | null } | undefined;

/**
 * Why tests that need namespaces must skip on this machine, or null if they can run.
 * Checks root, then `ip -V` and `ip netns list`. `extraCommands` adds tools the test needs
 * (e.g. `['curl', '--version']`); those are not cached.
 */
export function skipReason(extraCommands: readonly (readonly [string, ...string[]])[] = []): string | null {
  cached ??= {
    reason: !isRoot()
      ? 'needs root (network namespaces and veth need CAP_NET_ADMIN)'
      : (commandWorks(['ip', '-V']) ?? commandWorks(['ip', 'netns', 'list'])),
  };
  if (cached.reason !== null) return cached.reason;
  for (const argv of extraCommands) {
    const r = commandWorks(argv);
    if (r !== null) return r;
  }
  return null;
}
