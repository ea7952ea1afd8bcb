/**
 * Finding and removing namespaces, their processes and root-namespace interfaces.
 *
 * Invariants:
 * - Removal is idempotent: something already gone is not an error and is not reported as removed.
 * - A namespace's processes are SIGKILLed before the namespace is deleted (a namespace that still
 *   has processes outlives its name, and so do the veths inside it).
 * - `cleanupAll` only ever touches names that start with the project prefixes (`prism-`, `pr-`):
 *   it refuses a prefix that does not, so it cannot delete someone else's interfaces.
 */
import { InvalidArgumentError, CommandFailedError } from '../core/errors.js';
import { logger } from '../core/log.js';
import { NETNS_PREFIX, VETH_PREFIX, netnsPrefixFor, vethPrefixFor } from './names.js';
import { isAlive, run, runSync, sleep } from './run.js';

const log = logger('netns');

/** What a cleanup removed. Lists are sorted; empty lists mean nothing was there. */
export interface CleanupReport {
  namespaces: string[];
  interfaces: string[];
  pids: number[];
}

export function emptyReport(): CleanupReport {
  return { namespaces: [], interfaces: [], pids: [] };
}

function parseNetnsList(stdout: string): string[] {
  // Lines look like `prism-ab12-h1 (id: 3)` or just `prism-ab12-h1`.
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

function parseLinkNames(stdout: string): string[] {
  // `ip -o link show`: `12: pr-ab12cd34efa@pr-ab12cd34efb: <BROADCAST,…` (the @peer part is
  // `@if7` when the peer is in another namespace).
  const names: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)(?:@[^:\s]+)?:/.exec(line);
    if (m?.[1] !== undefined) names.push(m[1]);
  }
  return names;
}

function parsePids(stdout: string): number[] {
  return stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/** Names of all named network namespaces (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  return parseNetnsList((await run(['ip', 'netns', 'list'])).stdout);
}

/** Names of all interfaces in the root namespace, or in namespace `netns` if given. */
export async function listInterfaces(netns?: string): Promise<string[]> {
  const argv = netns === undefined ? ['ip', '-o', 'link', 'show'] : ['ip', '-n', netns, '-o', 'link', 'show'];
  return parseLinkNames((await run(argv)).stdout);
}

/** Pids of processes whose network namespace is `netns`; [] if the namespace does not exist. */
export async function namespacePids(netns: string): Promise<number[]> {
  try {
    return parsePids((await run(['ip', 'netns', 'pids', netns])).stdout);
  } catch (e) {
    if (e instanceof CommandFailedError) return [];
    throw e;
  }
}

/**
 * SIGKILLs every process in `netns` and waits (up to `timeoutMs`) until none is left alive.
 * Returns the pids it killed.
 */
export async function killNamespaceProcesses(netns: string, timeoutMs = 3_000): Promise<number[]> {
  const killed = new Set<number>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = (await namespacePids(netns)).filter((p) => p !== process.pid && isAlive(p));
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {
        // exited meanwhile
      }
    }
    if (Date.now() > deadline) {
      log.warn({ netns, pids }, 'processes still in namespace after SIGKILL');
      break;
    }
    await sleep(20);
  }
  return [...killed].sort((a, b) => a - b);
}

/** Deletes namespace `netns` (killing its processes first). True if it existed. */
export async function deleteNamespace(netns: string): Promise<{ removed: boolean; pids: number[] }> {
  if (!(await listNamespaces()).includes(netns)) return { removed: false, pids: [] };
  const pids = await killNamespaceProcesses(netns);
  try {
    await run(['ip', 'netns', 'del', netns]);
  } catch (e) {
    if (!(await listNamespaces()).includes(netns)) return { removed: false, pids };
    throw e;
  }
  return { removed: true, pids };
}

/** Deletes root-namespace interface `ifname` (a veth takes its peer with it). True if it existed. */
export async function deleteRootInterface(ifname: string): Promise<boolean> {
  try {
    await run(['ip', 'link', 'del', 'dev', ifname]);
    return true;
  } catch (e) {
    if (e instanceof CommandFailedError && !(await listInterfaces()).includes(ifname)) return false;
    throw e;
  }
}

function checkPrefix(prefix: string, reserved: string, what: string): void {
  if (typeof prefix !== 'string' || !prefix.startsWith(reserved)) {
    throw new InvalidArgumentError(`${what} prefix ${JSON.stringify(prefix)} must start with the project prefix ${JSON.stringify(reserved)}`);
  }
}

/**
 * Removes every namespace whose name starts with `netnsPrefix` (and the processes in it), and every
 * root-namespace interface whose name starts with `ifPrefix`. Used by `prism topo down --all`.
 */
export async function cleanupAll(netnsPrefix: string = NETNS_PREFIX, ifPrefix: string = VETH_PREFIX): Promise<CleanupReport> {
  checkPrefix(netnsPrefix, NETNS_PREFIX, 'namespace');
  checkPrefix(ifPrefix, VETH_PREFIX, 'interface');
  const report = emptyReport();
  for (const ns of (await listNamespaces()).filter((n) => n.startsWith(netnsPrefix))) {
    const r = await deleteNamespace(ns);
    if (r.removed) report.namespaces.push(ns);
    report.pids.push(...r.pids);
  }
  // Deleting one end of a veth deletes its peer too: report every matching name that disappeared.
  const before = (await listInterfaces()).filter((n) => n.startsWith(ifPrefix));
  for (const ifname of before) await deleteRootInterface(ifname);
  const after = new Set(await listInterfaces());
  report.interfaces.push(...before.filter((n) => !after.has(n)));
  report.namespaces.sort();
  report.interfaces.sort();
  report.pids.sort((a, b) => a - b);
  if (report.namespaces.length + report.interfaces.length > 0) log.debug(report, 'cleanup removed leftovers');
  return report;
}

/** `cleanupAll` restricted to one run's namespaces and veths. */
export function cleanupRun(runId: string): Promise<CleanupReport> {
  return cleanupAll(netnsPrefixFor(runId), vethPrefixFor(runId));
}

/**
 * Synchronous best-effort removal for process-exit paths: SIGKILL the processes of each namespace,
 * delete the namespaces, delete the root-namespace interfaces. Never throws.
 */
export function cleanupSync(namespaces: readonly string[], rootInterfaces: readonly string[]): CleanupReport {
  const report = emptyReport();
  const existing = new Set(parseNetnsList(runSync(['ip', 'netns', 'list']).stdout));
  for (const ns of namespaces) {
    if (!existing.has(ns)) continue;
    for (const pid of parsePids(runSync(['ip', 'netns', 'pids', ns]).stdout)) {
      if (pid === process.pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
        report.pids.push(pid);
      } catch {
        // gone
      }
    }
    if (runSync(['ip', 'netns', 'del', ns]).status === 0) report.namespaces.push(ns);
  }
  if (rootInterfaces.length > 0) {
    const links = new Set(parseLinkNames(runSync(['ip', '-o', 'link', 'show']).stdout));
    for (const ifname of rootInterfaces) {
      if (links.has(ifname) && runSync(['ip', 'link', 'del', 'dev', ifname]).status === 0) report.interfaces.push(ifname);
    }
  }
  return report;
}
