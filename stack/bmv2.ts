/**
 * The BMv2 switch of a stack (`switch.target: bmv2`): p4lang's `simple_switch_grpc` (BMv2 with the
 * PI P4Runtime server) started in the switch namespace on the hosts' veth ports, and the program it
 * runs, compiled from the committed v1model source with p4c. Neither tool ships with prism: users
 * build them (docs/codegen.md, docs/bmv2.md name the versions); a missing one is a NotFound error
 * that says what to install.
 *
 * BMv2 starts with no program (`--no-p4`); the controller pushes p4c's JSON and the committed
 * P4Info with SetForwardingPipelineConfig. gRPC listens on a unix socket, so the controller, which
 * runs in the root namespace, reaches the server in the switch namespace. `--cpu-port` is always
 * given: without it PI does no packet I/O at all (no PacketIn, PacketOut ignored).
 *
 * Invariant: the process is tracked by the switch host's Topology, whose teardown ends it even when
 * `stop()` was never called; `start()` that fails has ended it already.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, watch } from 'node:fs';
import { dirname, join } from 'node:path';
import { compileV1model, hasTool } from '../codegen/p4c.js';
import { PrismError } from '../core/errors.js';
import type { Host } from '../netns/index.js';

/** What to install when a tool is missing (the message of the NotFound error). */
const INSTALL_HINT = 'build BMv2 (p4lang/behavioral-model --with-pi) and p4c as docs/bmv2.md says, or run ../shared/p4ref/install.sh where the reference build is';

export interface Bmv2Port {
  /** The P4 port number (the topology's `port`). */
  readonly port: number;
  /** The interface in the switch namespace. */
  readonly ifname: string;
}

export interface Bmv2StartOptions {
  /** The switch namespace's host: the process runs there and belongs to its Topology. */
  readonly host: Host;
  readonly ports: readonly Bmv2Port[];
  readonly cpuPort: number;
  readonly deviceId: number;
  /** Where the gRPC unix socket goes (`<dir>/p4runtime.sock`); must exist. */
  readonly dir: string;
  readonly startTimeoutMs?: number;
}

/** Throws PRISM_ERR_NOT_FOUND naming the missing tools and how to get them. */
export function requireBmv2Tools(tools: readonly string[] = ['simple_switch_grpc', 'p4c']): void {
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length > 0) throw new PrismError('PRISM_ERR_NOT_FOUND', `switch target bmv2 needs ${missing.join(' and ')} on PATH: ${INSTALL_HINT}`);
}

/** The stack turns TX checksum offload off on the hosts' veths with ethtool (BMv2 reads frames with libpcap). */
export function requireEthtool(): void {
  if (!hasTool('ethtool')) throw new PrismError('PRISM_ERR_NOT_FOUND', 'switch target bmv2 needs ethtool on PATH (Debian: apt-get install ethtool) to turn TX checksum offload off on the hosts\' veths');
}

/**
 * The BMv2 JSON of p4/v1model/prism.p4 for a CPU port: compiled with p4c once per (source, CPU
 * port) into `build/bmv2/prism-<hash>.json`, then reused. The hash covers the program and the
 * headers it includes, so an edited program is compiled again. The P4Info p4c writes is not
 * used: the committed one is the controller's (p4c-bmv2.test.ts checks that they are equal).
 */
export function bmv2Program(root: string, cpuPort: number): string {
  const program = join(root, 'p4', 'v1model', 'prism.p4');
  const hash = createHash('sha256').update(`cpu_port=${cpuPort}\n`);
  for (const f of [program, join(root, 'p4', 'shared', 'prism_headers.p4')]) hash.update(readFileSync(f));
  const outDir = join(root, 'build', 'bmv2');
  const target = join(outDir, `prism-${hash.digest('hex').slice(0, 16)}.json`);
  if (existsSync(target)) return target;
  requireBmv2Tools(['p4c']);
  const work = join(outDir, `tmp-${process.pid}-${Date.now()}`);
  mkdirSync(work, { recursive: true });
  try {
    const built = compileV1model(program, work, { CPU_PORT: cpuPort });
    if (built.status !== 0 || !existsSync(built.json)) {
      throw new PrismError('PRISM_ERR_CODEGEN', `p4c could not compile ${program} for BMv2 (exit ${built.status}): ${built.stderr.trim().slice(-2000)}`);
    }
    renameSync(built.json, target); // atomic: a concurrent start sees the whole file or none
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return target;
}

export class Bmv2Switch {
  readonly address: string;
  readonly namespace: string;
  readonly #proc: ChildProcess;
  readonly #host: Host;

  private constructor(proc: ChildProcess, host: Host, address: string) {
    this.#proc = proc;
    this.#host = host;
    this.address = address;
    this.namespace = host.netns;
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  /** Starts simple_switch_grpc and resolves once its gRPC socket exists (an fs.watch event). */
  static async start(opts: Bmv2StartOptions): Promise<Bmv2Switch> {
    requireBmv2Tools(['simple_switch_grpc']);
    const sock = join(opts.dir, 'p4runtime.sock');
    rmSync(sock, { force: true });
    const address = `unix:${sock}`;
    const argv = [
      'simple_switch_grpc',
      '--no-p4',
      '--device-id',
      String(opts.deviceId),
      ...opts.ports.flatMap((p) => ['-i', `${p.port}@${p.ifname}`]),
      '--',
      '--grpc-server-addr',
      address,
      '--cpu-port',
      String(opts.cpuPort),
    ];
    const timeoutMs = opts.startTimeoutMs ?? 20_000;
    let proc: ChildProcess | undefined;
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err?: Error): void => {
        if (done) return;
        done = true;
        watcher.close();
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const watcher = watch(dirname(sock), () => {
        if (existsSync(sock)) finish();
      });
      const timer = setTimeout(() => finish(new PrismError('PRISM_ERR_TIMEOUT', `simple_switch_grpc did not create ${sock} within ${timeoutMs} ms: ${proc ? opts.host.stderrTail(proc).trim() || '(no stderr)' : ''}`)), timeoutMs);
      proc = opts.host.spawn(argv);
      proc.stdout?.resume();
      proc.once('exit', (code, signal) => finish(new PrismError('PRISM_ERR_COMMAND_FAILED', `simple_switch_grpc exited (${code ?? signal}) while starting: ${opts.host.stderrTail(proc!).trim() || '(no stderr)'}`)));
      if (existsSync(sock)) finish();
    }).catch(async (err: unknown) => {
      if (proc) await stopProcess(proc);
      throw err;
    });
    return new Bmv2Switch(proc!, opts.host, address);
  }

  /** The last few KiB simple_switch_grpc wrote to stderr. */
  stderrTail(): string {
    return this.#host.stderrTail(this.#proc);
  }

  /** SIGTERM, and SIGKILL if it has not exited within 3 s; resolves when it has exited. */
  stop(): Promise<void> {
    return stopProcess(this.#proc);
  }
}

function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}
