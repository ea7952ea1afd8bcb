/**
 * A host: one network namespace of a Topology, with helpers to configure it and run things in it.
 *
 * Invariants:
 * - `netns` is `prism-<runid>-<name>` and exists from `Topology.addHost` until `Topology.teardown`.
 * - Every process started with `spawn` is tracked by the owning Topology and stopped by its teardown.
 * - Hosts are created only by `Topology.addHost`.
 */
import type { ChildProcess } from 'node:child_process';
import { InvalidArgumentError, NetnsError, TimeoutError } from '../core/errors.js';
import { normalizeMac, validateCidr, validateIfName, validateIp } from './names.js';
import { namespacePids } from './cleanup.js';
import { run, sleep, type ProcessTracker, type RunOptions, type RunResult, type SpawnTrackedOptions } from './run.js';

/** One end of a link, as seen from its host. */
export interface HostInterface {
  ifname: string;
  mac: string;
  mtu: number | undefined;
  /** The host at the other end and its interface name there. */
  peer: { host: string; ifname: string };
}

export interface RouteOptions {
  via?: string;
  dev?: string;
  /** Preferred source address. */
  src?: string;
}

export interface WaitForPortOptions {
  /** Default 10 000 ms. */
  timeoutMs?: number;
  /** Fail early, with its stderr, if this process exits before the port is listening. */
  process?: ChildProcess;
}

export class Host {
  readonly name: string;
  readonly netns: string;
  readonly #tracker: ProcessTracker;
  readonly #ifaces = new Map<string, HostInterface>();

  /** @internal Use Topology.addHost. */
  constructor(name: string, netns: string, tracker: ProcessTracker) {
    this.name = name;
    this.netns = netns;
    this.#tracker = tracker;
  }

  /** Interfaces created by Topology.link, in creation order (lo not included). */
  interfaces(): HostInterface[] {
    return [...this.#ifaces.values()];
  }

  interface(ifname: string): HostInterface | undefined {
    return this.#ifaces.get(ifname);
  }

  /** @internal Called by Topology.link. */
  recordInterface(iface: HostInterface): void {
    this.#ifaces.set(iface.ifname, iface);
  }

  /** Runs `ip -n <netns> <args…>`. */
  ip(args: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return run(['ip', '-n', this.netns, ...args], opts);
  }

  /** Adds `cidr` (e.g. `10.0.0.1/24`) to `ifname`. */
  async addAddress(ifname: string, cidr: string): Promise<void> {
    await this.ip(['addr', 'add', validateCidr(cidr), 'dev', validateIfName(ifname)]);
  }

  /** Adds a route to `dst` (`10.1.0.0/16`, `10.1.0.7` or `default`) via a gateway and/or out of a device. */
  async addRoute(dst: string, opts: RouteOptions): Promise<void> {
    if (dst !== 'default' && !dst.includes('/')) validateIp(dst);
    else if (dst !== 'default') validateCidr(dst);
    if (opts.via === undefined && opts.dev === undefined) {
      throw new InvalidArgumentError(`route to ${dst} on ${this.name}: give a gateway (via) or a device (dev)`);
    }
    const args = ['route', 'add', dst];
    if (opts.via !== undefined) args.push('via', validateIp(opts.via));
    if (opts.dev !== undefined) args.push('dev', validateIfName(opts.dev));
    if (opts.src !== undefined) args.push('src', validateIp(opts.src));
    await this.ip(args);
  }

  /** Adds (or replaces) a permanent neighbour entry: static ARP (IPv4) or NDP (IPv6). */
  async addNeighbor(ip: string, mac: string, dev: string): Promise<void> {
    await this.ip(['neigh', 'replace', validateIp(ip), 'lladdr', normalizeMac(mac), 'dev', validateIfName(dev), 'nud', 'permanent']);
  }

  /** Sets a sysctl inside the namespace (net.* keys are per namespace), e.g. `net.ipv4.ip_forward`, `1`. */
  async sysctl(key: string, value: string): Promise<void> {
    if (!/^[a-z0-9_.\/-]+$/i.test(key)) throw new InvalidArgumentError(`invalid sysctl key ${JSON.stringify(key)}`);
    await this.exec(['sysctl', '-q', '-w', `${key}=${value}`]);
  }

  /** Runs `argv` to completion inside the namespace (`ip netns exec`); throws CommandFailedError on failure. */
  exec(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    if (argv.length === 0) throw new InvalidArgumentError('exec: empty argv');
    return run(['ip', 'netns', 'exec', this.netns, ...argv], opts);
  }

  /**
   * Starts a long-running `argv` inside the namespace. The returned ChildProcess is the program
   * itself (`ip netns exec` execs it, so its pid is the program's pid); it is tracked by the
   * Topology and stopped by teardown. stdout/stderr are pipes unless `opts.stdio` says otherwise:
   * read them, or the program may block on a full pipe.
   */
  spawn(argv: readonly string[], opts?: SpawnTrackedOptions): ChildProcess {
    if (argv.length === 0) throw new InvalidArgumentError('spawn: empty argv');
    return this.#tracker.spawn(['ip', 'netns', 'exec', this.netns, ...argv], opts);
  }

  /** The last few KiB a process started by `spawn` wrote to stderr. */
  stderrTail(child: ChildProcess): string {
    return this.#tracker.stderrTail(child);
  }

  /** Pids of every process currently in the namespace (`ip netns pids`). */
  pids(): Promise<number[]> {
    return namespacePids(this.netns);
  }

  /** True if some socket in the namespace listens on TCP `port` (any address). */
  async isListening(port: number): Promise<boolean> {
    const { stdout } = await this.exec(['ss', '-Hltn']);
    return stdout.split('\n').some((line) => {
      const local = line.trim().split(/\s+/)[3];
      return local !== undefined && local.endsWith(`:${port}`);
    });
  }

  /**
   * Polls `ss -ltn` in the namespace until something listens on TCP `port`.
   * Throws TimeoutError after `timeoutMs`, or NetnsError if `opts.process` exits first.
   */
  async waitForTcpPort(port: number, opts: WaitForPortOptions = {}): Promise<void> {
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new InvalidArgumentError(`invalid TCP port ${port}`);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      if (await this.isListening(port)) return;
      const p = opts.process;
      if (p !== undefined && (p.exitCode !== null || p.signalCode !== null)) {
        throw new NetnsError(
          `process ${p.pid ?? '?'} in ${this.netns} exited (${p.exitCode ?? p.signalCode}) before listening on TCP port ${port}: ${this.stderrTail(p).trim() || '(no stderr)'}`,
        );
      }
      if (Date.now() >= deadline) throw new TimeoutError(`waiting for TCP port ${port} to listen in ${this.netns}`, timeoutMs);
      await sleep(delay);
    }
  }
}
