/**
 * `prism switch`: the embedded switch target — a P4Runtime server whose data plane is the
 * generated eBPF program at tc ingress of the given interfaces. Flags follow simple_switch_grpc.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../core/errors.js';
import { logger } from '../core/log.js';
import { CpuPort } from '../dataplane/cpu-port.js';
import { EmbeddedSwitch, type SwitchPort } from '../dataplane/p4rt-server.js';
import { requireRoot } from '../netns/index.js';

const log = logger('switch');

function parseInterface(spec: string, prev: SwitchPort[]): SwitchPort[] {
  const m = /^(\d+)@([A-Za-z0-9_.:-]{1,15})$/.exec(spec);
  if (!m) throw new InvalidArgumentError(`-i takes <port>@<interface> (for example 1@veth1), got ${JSON.stringify(spec)}`);
  const port = Number(m[1]);
  if (port < 0 || port > 510) throw new InvalidArgumentError(`port ${port} is outside 0..510`);
  if (prev.some((p) => p.port === port)) throw new InvalidArgumentError(`port ${port} is given twice`);
  return [...prev, { port, ifname: m[2]! }];
}

export function registerSwitch(program: Command): void {
  program
    .command('switch')
    .description('run the embedded switch: a P4Runtime server over the generated eBPF program (needs root)')
    .option('-i, --interface <port@ifname>', 'a switch port: P4 port number @ interface name (repeat for each port)', parseInterface, [] as SwitchPort[])
    .option('--cpu-port <n>', 'P4 port number of the CPU port (PacketIn/PacketOut)', '64')
    .option('--grpc-addr <host:port>', 'where to serve P4Runtime', '127.0.0.1:9559')
    .option('--device-id <n>', 'P4Runtime device id', '1')
    .option('--netns <name>', 'network namespace holding the interfaces (default: this process\'s own)')
    .option('--no-cpu-port-interface', 'do not create the CPU port veth pair (no PacketIn/PacketOut)')
    .addHelpText(
      'after',
      '\nThe pipeline arrives with SetForwardingPipelineConfig: P4Info plus, as the device config,\n' +
        'the eBPF object built from p4/ebpf/<pipeline>.c (npm run build puts it in build/ebpf/).\n' +
        'The CPU port is a veth pair cpu0/cpu1 created in --netns: the program runs on cpu1, the\n' +
        'switch reads and writes cpu0 with AF_PACKET.\n\n' +
        'Example:\n  prism switch -i 1@veth1 -i 2@veth2 --cpu-port 64 --grpc-addr 127.0.0.1:9559 --device-id 1',
    )
    .action(async (opts: { interface: SwitchPort[]; cpuPort: string; grpcAddr: string; deviceId: string; netns?: string; cpuPortInterface: boolean }) => {
      requireRoot('prism switch');
      if (opts.interface.length === 0) throw new InvalidArgumentError('give at least one port with -i <port>@<interface>');
      const cpuPort = Number(opts.cpuPort);
      if (!Number.isInteger(cpuPort) || cpuPort < 0 || cpuPort > 510 || opts.interface.some((p) => p.port === cpuPort)) {
        throw new InvalidArgumentError(`--cpu-port must be a port number in 0..510 not used by -i, got ${opts.cpuPort}`);
      }
      if (!/^\d+$/.test(opts.deviceId)) throw new InvalidArgumentError(`--device-id must be a number, got ${opts.deviceId}`);
      const packetIo = opts.cpuPortInterface ? await CpuPort.create(opts.netns ? { netns: opts.netns } : {}) : undefined;
      const sw = await EmbeddedSwitch.start({
        grpcAddr: opts.grpcAddr,
        deviceId: BigInt(opts.deviceId),
        cpuPort,
        ports: opts.interface,
        ...(opts.netns ? { netns: opts.netns } : {}),
        ...(packetIo ? { packetIo } : {}),
      });
      process.stdout.write(`prism switch: P4Runtime on ${sw.address}, device ${opts.deviceId}, ports ${opts.interface.map((p) => `${p.port}@${p.ifname}`).join(' ')}, CPU port ${cpuPort}${packetIo ? ` (${packetIo.dataplaneIfname})` : ' (none)'}\n`);
      process.stdout.write('waiting for a controller to push the pipeline (SetForwardingPipelineConfig)\n');
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, 'stopping');
        void sw.stop().then(() => process.exit(0));
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}
