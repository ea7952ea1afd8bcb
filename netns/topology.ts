/**
 * A Topology: the namespaces, veth links and processes of one run, removed together.
 *
 * Invariants:
 * - Every namespace is `prism-<runid>-<host>`; every veth is created with a run-unique kernel name
 *   `pr-…` (see names.ts) directly inside its namespaces, then renamed to its ifname there
 *   (default `eth0`, `eth1`, … per host). Nothing is ever created in the root namespace.
 * - A name is recorded as owned BEFORE the command that creates it runs, so a failure or a crash
 *   half-way through never leaves something teardown does not know about. A namespace that
 *   already existed (not created by us) is never recorded, hence never deleted.
 * - From the first creation until a successful `teardown`, the Topology is registered with the
 *   exit guard: process exit, SIGINT/SIGTERM/SIGHUP and a fatal uncaught exception remove its
 *   namespaces synchronously.
 * - `teardown` is idempotent and does not throw for things already gone: it stops tracked
 *   processes (SIGTERM, then SIGKILL after `graceMs`), SIGKILLs whatever else runs in its
 *   namespaces, deletes the namespaces (which deletes the veths in them) and any of its veths left
 *   in the root namespace. After teardown the Topology cannot be extended.
 */
import { InvalidArgumentError, NetnsError } from '../core/errors.js';
import { logger } from '../core/log.js';
import { cleanupSync, deleteNamespace, deleteRootInterface, emptyReport, listInterfaces, type CleanupReport } from './cleanup.js';
import { registerExitCleanup, unregisterExitCleanup, type Guarded } from './exit-guard.js';
import { Host } from './host.js';
import {
  defaultMac,
  netnsName,
  netnsPrefixFor,
  newRunId,
  normalizeMac,
  validateHostName,
  validateIfName,
  validateRunId,
  vethNames,
  vethPrefixFor,
} from './names.js';
import { ProcessTracker, run } from './run.js';

const log = logger('netns');

export interface TopologyOptions {
  /** 1-12 chars of [a-z0-9]; default: 8 random hex digits. */
  runId?: string;
  /** How long teardown waits after SIGTERM before SIGKILL (default 2000 ms). */
  graceMs?: number;
}

export interface LinkOptions {
  /** Interface name in host A (default `eth<n>`, n = interfaces A already has). */
  ifnameA?: string;
  ifnameB?: string;
  /** MAC in host A (default: deterministic from host name and ifname). */
  macA?: string;
  macB?: string;
  /** MTU of both ends (68..65535; default: kernel default, 1500). */
  mtu?: number;
}

export interface LinkEnd {
  host: Host;
  ifname: string;
  mac: string;
}

export interface Link {
  index: number;
  a: LinkEnd;
  b: LinkEnd;
  /** Kernel names the two ends were created with (before the rename to ifname). */
  vethNames: readonly [string, string];
  mtu: number | undefined;
}

export class Topology implements Guarded {
  readonly runId: string;
  /** `prism-<runid>-`: selects this run's namespaces. */
  readonly netnsPrefix: string;
  /** `pr-<runtag>`: selects this run's veths. */
  readonly vethPrefix: string;
  readonly #graceMs: number;
  readonly #tracker = new ProcessTracker();
  readonly #hosts = new Map<string, Host>();
  /** Namespaces we created (or are creating): these, and only these, teardown deletes. */
  readonly #namespaces = new Set<string>();
  readonly #veths = new Set<string>();
  readonly #links: Link[] = [];
  #closed = false;
  #teardown: Promise<CleanupReport> | undefined;

  constructor(opts: TopologyOptions | string = {}) {
    const o = typeof opts === 'string' ? { runId: opts } : opts;
    this.runId = validateRunId(o.runId ?? newRunId());
    this.netnsPrefix = netnsPrefixFor(this.runId);
    this.vethPrefix = vethPrefixFor(this.runId);
    this.#graceMs = o.graceMs ?? 2_000;
  }

  hosts(): Host[] {
    return [...this.#hosts.values()];
  }

  host(name: string): Host {
    const h = this.#hosts.get(name);
    if (h === undefined) throw new InvalidArgumentError(`no host ${JSON.stringify(name)} in topology ${this.runId}`);
    return h;
  }

  links(): Link[] {
    return [...this.#links];
  }

  /** Namespaces this topology owns. */
  namespaces(): string[] {
    return [...this.#namespaces];
  }

  /** Kernel names of every veth end this topology created. */
  vethNames(): string[] {
    return [...this.#veths];
  }

  /** Pids of tracked processes still running. */
  pids(): number[] {
    return this.#tracker.pids();
  }

  #checkOpen(): void {
    if (this.#closed) throw new NetnsError(`topology ${this.runId} has been torn down`);
  }

  /** Creates namespace `prism-<runid>-<name>` with `lo` up. */
  async addHost(name: string): Promise<Host> {
    this.#checkOpen();
    validateHostName(name);
    if (this.#hosts.has(name)) throw new InvalidArgumentError(`host ${JSON.stringify(name)} already exists in topology ${this.runId}`);
    const ns = netnsName(this.runId, name);
    registerExitCleanup(this);
    this.#namespaces.add(ns);
    try {
      await run(['ip', 'netns', 'add', ns]);
    } catch (e) {
      // Not ours (it existed before) or not created: either way teardown must not touch it.
      this.#namespaces.delete(ns);
      throw new NetnsError(
        `cannot create namespace ${ns}${/exists/i.test(String((e as Error).message)) ? ' (it already exists: a leftover? `prism topo down --all` removes leftovers)' : ''}`,
        { cause: e },
      );
    }
    await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    const host = new Host(name, ns, this.#tracker);
    this.#hosts.set(name, host);
    log.debug({ netns: ns }, 'host added');
    return host;
  }

  /** Creates a veth pair with one end in each host (a and b may be the same host), both ends up. */
  async link(a: Host, b: Host, opts: LinkOptions = {}): Promise<Link> {
    this.#checkOpen();
    for (const h of [a, b]) {
      if (this.#hosts.get(h.name) !== h) throw new InvalidArgumentError(`host ${h.name} does not belong to topology ${this.runId}`);
    }
    const ifnameA = validateIfName(opts.ifnameA ?? `eth${a.interfaces().length}`);
    const ifnameB = validateIfName(opts.ifnameB ?? `eth${b.interfaces().length + (a === b ? 1 : 0)}`);
    if (a === b && ifnameA === ifnameB) throw new InvalidArgumentError(`both ends of a link in ${a.name} are named ${ifnameA}`);
    for (const [h, ifn] of [[a, ifnameA], [b, ifnameB]] as const) {
      if (ifn === 'lo' || h.interface(ifn) !== undefined) throw new InvalidArgumentError(`host ${h.name} already has an interface ${ifn}`);
    }
    const macA = opts.macA !== undefined ? normalizeMac(opts.macA) : defaultMac(a.name, ifnameA);
    const macB = opts.macB !== undefined ? normalizeMac(opts.macB) : defaultMac(b.name, ifnameB);
    const mtu = opts.mtu;
    if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65_535)) throw new InvalidArgumentError(`invalid MTU ${mtu}: 68..65535`);

    const index = this.#links.length;
    let names = vethNames(this.runId, index);
    for (let salt = 1; this.#veths.has(names[0]) || this.#veths.has(names[1]); salt++) names = vethNames(this.runId, index, salt);
    const [va, vb] = names;
    this.#veths.add(va);
    this.#veths.add(vb);

    const mtuArgs = mtu === undefined ? [] : ['mtu', String(mtu)];
    await run(['ip', 'link', 'add', 'name', va, 'address', macA, ...mtuArgs, 'netns', a.netns,
      'type', 'veth', 'peer', 'name', vb, 'address', macB, ...mtuArgs, 'netns', b.netns]);
    await a.ip(['link', 'set', 'dev', va, 'name', ifnameA]);
    await b.ip(['link', 'set', 'dev', vb, 'name', ifnameB]);
    await a.ip(['link', 'set', 'dev', ifnameA, 'up']);
    await b.ip(['link', 'set', 'dev', ifnameB, 'up']);

    a.recordInterface({ ifname: ifnameA, mac: macA, mtu, peer: { host: b.name, ifname: ifnameB } });
    b.recordInterface({ ifname: ifnameB, mac: macB, mtu, peer: { host: a.name, ifname: ifnameA } });
    const link: Link = { index, a: { host: a, ifname: ifnameA, mac: macA }, b: { host: b, ifname: ifnameB, mac: macB }, vethNames: names, mtu };
    this.#links.push(link);
    log.debug({ a: `${a.name}:${ifnameA}`, b: `${b.name}:${ifnameB}`, veth: names }, 'link added');
    return link;
  }

  /**
   * Removes everything this topology created; see the class invariants. Returns what was actually
   * removed (empty on a second call). Throws NetnsError only if something of ours still exists
   * after trying everything; the Topology then stays registered with the exit guard.
   */
  teardown(): Promise<CleanupReport> {
    this.#teardown ??= this.#doTeardown().finally(() => {
      this.#teardown = undefined;
    });
    return this.#teardown;
  }

  async #doTeardown(): Promise<CleanupReport> {
    this.#closed = true;
    const report = emptyReport();
    const failures: string[] = [];
    report.pids.push(...(await this.#tracker.terminateAll(this.#graceMs)));
    for (const ns of this.#namespaces) {
      try {
        const r = await deleteNamespace(ns);
        if (r.removed) report.namespaces.push(ns);
        report.pids.push(...r.pids);
      } catch (e) {
        failures.push(`${ns}: ${(e as Error).message}`);
      }
    }
    if (this.#veths.size > 0) {
      try {
        const rootLinks = new Set(await listInterfaces());
        for (const v of this.#veths) {
          if (rootLinks.has(v) && (await deleteRootInterface(v))) report.interfaces.push(v);
        }
      } catch (e) {
        failures.push(`root veths: ${(e as Error).message}`);
      }
    }
    report.pids = [...new Set(report.pids)].sort((x, y) => x - y);
    if (failures.length > 0) throw new NetnsError(`teardown of topology ${this.runId} incomplete: ${failures.join('; ')}`);
    unregisterExitCleanup(this);
    if (report.namespaces.length + report.interfaces.length + report.pids.length > 0) log.debug({ runId: this.runId, ...report }, 'topology torn down');
    return report;
  }

  /** Exit-guard path: SIGKILL tracked processes and remove namespaces and veths synchronously. Never throws. */
  cleanupSync(reason: string): void {
    this.#closed = true;
    const pids = this.#tracker.killAllSync();
    const r = cleanupSync([...this.#namespaces], [...this.#veths]);
    if (r.namespaces.length + r.interfaces.length + pids.length > 0) {
      log.warn({ runId: this.runId, reason, ...r, pids: [...pids, ...r.pids] }, 'topology removed on process exit');
    }
  }
}
