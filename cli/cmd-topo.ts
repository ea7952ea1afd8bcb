/**
 * `prism topo up FILE` starts a topology (namespaces, the switch of its `switch.target`: embedded or
 * BMv2, the controller, agents)
 * and runs until Ctrl-C, SIGTERM or `prism topo down`; `--json` prints a machine-readable
 * description (namespaces, addresses, the VIP). Running topologies are listed in
 * /run/prism/topologies/<name>.json. `prism topo down [NAME]` stops them; `--all` also removes
 * leftovers of any run (namespaces `prism-*`, their processes, root-namespace veths `pr-*`).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { PrismError } from '../core/errors.js';
import { cleanupAll, NETNS_PREFIX, requireRoot, VETH_PREFIX, type CleanupReport } from '../netns/index.js';
import { startStack } from '../stack/stack.js';
import { loadTopology } from '../stack/topology-file.js';
import { repoRoot } from './paths.js';

const STATE_DIR = '/run/prism/topologies';

interface RunningRecord {
  readonly pid: number;
  readonly description: unknown;
}

function running(): { name: string; record: RunningRecord }[] {
  if (!existsSync(STATE_DIR)) return [];
  return readdirSync(STATE_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ name: f.slice(0, -5), record: JSON.parse(readFileSync(join(STATE_DIR, f), 'utf8')) as RunningRecord }))
    .filter(({ name, record }) => {
      try {
        process.kill(record.pid, 0);
        return true;
      } catch {
        rmSync(join(STATE_DIR, `${name}.json`), { force: true }); // its process is gone
        return false;
      }
    });
}

async function stopRunning(name: string, record: RunningRecord): Promise<void> {
  process.kill(record.pid, 'SIGTERM');
  const t0 = Date.now();
  while (existsSync(join(STATE_DIR, `${name}.json`))) {
    if (Date.now() - t0 > 30_000) throw new PrismError('PRISM_ERR_TIMEOUT', `topology ${name} (pid ${record.pid}) did not stop within 30 s; try \`prism topo down --all\``);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function describeReport(r: CleanupReport): string {
  if (r.namespaces.length + r.interfaces.length + r.pids.length === 0) return 'nothing to remove\n';
  const lines: string[] = [];
  for (const ns of r.namespaces) lines.push(`removed namespace ${ns}`);
  for (const ifname of r.interfaces) lines.push(`removed interface ${ifname}`);
  if (r.pids.length > 0) lines.push(`killed ${r.pids.length} process${r.pids.length === 1 ? '' : 'es'}: ${r.pids.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

export function registerTopo(program: Command): void {
  const topo = program
    .command('topo')
    .description('Network-namespace topologies (Linux, root): hosts are namespaces named prism-<runid>-<host>, linked by veths.');

  topo
    .command('up')
    .argument('<file>', 'topology file (YAML or JSON), e.g. topologies/demo.yaml')
    .description('start a topology: namespaces, the switch (switch.target: embedded, or bmv2 with simple_switch_grpc and p4c on PATH), the controller and the agents; runs until Ctrl-C, SIGTERM or `prism topo down` (needs root)')
    .option('--json', 'print a machine-readable description (namespaces, addresses, VIP) when it is up')
    .action(async (file: string, opts: { json?: boolean }) => {
      requireRoot('prism topo up');
      const topology = loadTopology(resolve(file));
      if (running().some((r) => r.name === topology.name)) throw new PrismError('PRISM_ERR_ALREADY_EXISTS', `topology ${topology.name} is already running; stop it with \`prism topo down ${topology.name}\``);
      const stack = await startStack(topology, { root: repoRoot(), progress: opts.json ? () => undefined : (m) => process.stdout.write(`[topo] ${m}\n`) });
      const description = stack.describe();
      mkdirSync(STATE_DIR, { recursive: true });
      const stateFile = join(STATE_DIR, `${topology.name}.json`);
      writeFileSync(stateFile, JSON.stringify({ pid: process.pid, description }));
      if (opts.json) process.stdout.write(`${JSON.stringify(description)}\n`);
      else {
        process.stdout.write(`[topo] ${topology.name} is up on the ${description.switch.target} switch (P4Runtime ${description.switch.p4runtime}). Hosts:\n`);
        for (const h of description.hosts) process.stdout.write(`  ${h.name.padEnd(8)} ${h.role.padEnd(8)} ${h.ip.padEnd(12)} ip netns exec ${h.namespace} ...\n`);
        process.stdout.write(`[topo] try: ip netns exec ${description.hosts.find((h) => h.role === 'client')?.namespace ?? '<client ns>'} curl http://${description.vip.ip}:${description.vip.port}/bytes/1048576 | sha256sum\n`);
        process.stdout.write(`[topo] admin API ${description.admin.url}, dashboard ${description.admin.dashboard}, token ${description.admin.token}\n`);
        process.stdout.write('[topo] Ctrl-C or `prism topo down` stops it\n');
      }
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        void stack.close().finally(() => {
          rmSync(stateFile, { force: true });
          process.exit(0);
        });
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });

  topo
    .command('down')
    .argument('[name]', 'the running topology to stop (default: all running ones)')
    .summary('stop running topologies (--all: also remove every prism namespace and veth on this machine)')
    .description(
      `Stop topologies started by \`prism topo up\`. With --all, also SIGKILL the processes in every network namespace whose name starts with ` +
        `"${NETNS_PREFIX}", delete those namespaces (and the veths in them), and delete every root-namespace interface ` +
        `whose name starts with "${VETH_PREFIX}". Use --all after a crash, a SIGKILLed test run or an interrupted demo. Needs root.`,
    )
    .option('--all', 'also remove every prism namespace and veth left on this machine')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  sudo prism topo down            stop every topology started with `prism topo up`\n' +
        '  sudo prism topo down demo       stop the topology named demo\n' +
        '  sudo prism topo down --all      also remove all leftovers; prints what it removed\n' +
        '\nThe prefixes are reserved for prism: do not name your own namespaces "prism-*" or interfaces "pr-*".',
    )
    .action(async (name: string | undefined, opts: { all?: boolean }) => {
      requireRoot('prism topo down');
      const targets = running().filter((r) => !name || r.name === name);
      if (name && targets.length === 0 && !opts.all) throw new PrismError('PRISM_ERR_NOT_FOUND', `no running topology named ${name} (running: ${running().map((r) => r.name).join(', ') || 'none'})`);
      for (const t of targets) {
        await stopRunning(t.name, t.record);
        process.stdout.write(`stopped topology ${t.name} (pid ${t.record.pid})\n`);
      }
      if (opts.all) process.stdout.write(describeReport(await cleanupAll(NETNS_PREFIX, VETH_PREFIX)));
      else if (targets.length === 0) process.stdout.write('no running topology\n');
    });
}
