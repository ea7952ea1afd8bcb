/**
 * `prism agent`: runs on a backend. Serves the control protocol to the controller (authenticated
 * with a shared token) and takes over client connections with TCP_REPAIR for the built-in object
 * server.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { AgentServer } from '../agent/agent-server.js';
import { createObjectServer } from '../agent/object-server.js';
import { ServerTransactions } from '../agent/transactions.js';
import { InvalidArgumentError } from '../core/errors.js';
import { requireRoot } from '../netns/index.js';

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('run the backend agent: control protocol for the controller, TCP_REPAIR takeover, built-in object server (needs root)')
    .requiredOption('--name <name>', 'backend name (reported in X-Backend and load reports)')
    .requiredOption('--backend-ip <ip>', 'this backend\'s address, as the switch rewrites the VIP to')
    .option('--listen <addr>', 'control protocol address: host:port or unix:/path', '0.0.0.0:9600')
    .option('--channel-port <port|off>', 'TCP port of the framed control channel on the --listen host (0: any free port, named in Health; with unix:/path the channel is /path.channel; off: only gRPC)', '0')
    .option('--token-file <path>', 'file holding the shared token (default: $PRISM_AGENT_TOKEN)')
    .option('--vip <ip:port...>', 'VIPs this backend serves (informational)')
    .option('--store-dir <dir>', 'directory of the /objects store, shared by every backend of the deployment (created, mode 0700, when missing; default: a private temporary directory)')
    .option('--max-active <n>', 'transactions at once; Prepare beyond it is refused as OVERLOADED (the controller retries elsewhere)', '1024')
    .addHelpText(
      'after',
      '\nThe controller must present the same token (at least 16 characters) as a bearer token;\n' +
        'calls without it are refused with UNAUTHENTICATED. Give it in PRISM_AGENT_TOKEN or --token-file.\n' +
        'Give every backend of a deployment the same --store-dir (on several machines: a shared filesystem\n' +
        'such as NFS), so that an object PUT through the VIP can be read through it (docs/object-server.md).',
    )
    .action(async (opts: { name: string; backendIp: string; listen: string; channelPort: string; tokenFile?: string; storeDir?: string; maxActive: string }) => {
      requireRoot('prism agent (TCP_REPAIR needs CAP_NET_ADMIN)');
      const token = opts.tokenFile ? readFileSync(opts.tokenFile, 'utf8').trim() : (process.env.PRISM_AGENT_TOKEN ?? '');
      if (token.length < 16) throw new InvalidArgumentError('set a token of at least 16 characters in PRISM_AGENT_TOKEN or --token-file');
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(opts.backendIp)) throw new InvalidArgumentError(`--backend-ip must be an IPv4 address, got ${opts.backendIp}`);
      const storeDir = opts.storeDir === undefined ? undefined : resolve(opts.storeDir);
      const app = createObjectServer({ name: opts.name, ...(storeDir !== undefined ? { storeDir } : {}) });
      const maxActive = Number(opts.maxActive);
      if (!Number.isInteger(maxActive) || maxActive < 0) throw new InvalidArgumentError(`--max-active must be a whole number, got ${opts.maxActive}`);
      const channelPort = opts.channelPort === 'off' ? null : Number(opts.channelPort);
      if (channelPort !== null && (!Number.isInteger(channelPort) || channelPort < 0 || channelPort > 65535)) throw new InvalidArgumentError(`--channel-port must be 0..65535 or off, got ${opts.channelPort}`);
      const host = new ServerTransactions({ name: opts.name, backendIp: opts.backendIp, server: app, maxActive });
      const server = await AgentServer.start({ name: opts.name, listen: opts.listen, token, backendAddress: opts.backendIp, host, channelPort });
      process.stdout.write(`prism agent ${opts.name}: control protocol on ${server.address}${server.channelPort ? ` (framed channel on port ${server.channelPort})` : ''}, serving as ${opts.backendIp}${storeDir !== undefined ? `, objects in ${storeDir}` : ''}\n`);
      const stop = (): void => void server.stop().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
