/**
 * `prism topo`: network-namespace topologies. For now only `topo down --all`, which removes
 * leftovers of any run (namespaces named `prism-*`, their processes, root-namespace veths `pr-*`).
 * `topo up <file>` comes with the topology-file runner.
 */
import type { Command } from 'commander';
import { cleanupAll, NETNS_PREFIX, requireRoot, VETH_PREFIX, type CleanupReport } from '../netns/index.js';

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
    .command('down')
    .summary('remove topologies (--all: every prism namespace and veth on this machine)')
    .description(
      `Remove topologies. With --all: SIGKILL the processes in every network namespace whose name starts with ` +
        `"${NETNS_PREFIX}", delete those namespaces (and the veths in them), and delete every root-namespace interface ` +
        `whose name starts with "${VETH_PREFIX}". Use it after a crash, a SIGKILLed test run or an interrupted demo. Needs root.`,
    )
    .requiredOption('--all', `remove every prism topology on this machine (required: removing a single run comes with \`topo up\`)`)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  sudo prism topo down --all     remove all leftovers; prints what it removed, or "nothing to remove"\n' +
        '\nThe prefixes are reserved for prism: do not name your own namespaces "prism-*" or interfaces "pr-*".',
    )
    .action(async () => {
      requireRoot('prism topo down');
      const report = await cleanupAll(NETNS_PREFIX, VETH_PREFIX);
      process.stdout.write(describeReport(report));
    });
}
