/**
 * `prism demo`: runs the end-to-end path that exists today and says what it did.
 * It grows with each part of prism that lands; today: codegen, the eBPF data plane loaded under
 * the verifier, a client and a backend in network namespaces around the switch, a real HTTP
 * transfer through the l3 table, and a connection to a VIP carried by hand-off rewrite rules.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { deterministicSha256 } from '../agent/bytes.js';
import { generate } from '../codegen/generate.js';
import { prismPipeline } from '../codegen/pipelines/index.js';
import { PrismError } from '../core/errors.js';
import { ipv4ToBytes } from '../core/header/addr.js';
import { toFieldBytes } from '../core/p4-values.js';
import { startStarTopology, type StarTopology } from '../dataplane/ebpf-topology.js';
import type { FieldMatchValue } from '../dataplane/ebpf-entries.js';
import { requireRoot } from '../netns/index.js';
import { repoRoot } from './paths.js';

const VIP = { ip: '10.0.0.100', port: 80 };
const CLIENT_PORT = 40123;

function say(step: string, text: string): void {
  process.stdout.write(`[demo] ${step.padEnd(5)} ${text}\n`);
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the end-to-end demo in network namespaces and print what happened (needs root)')
    .option('--size <bytes>', 'size of the objects fetched', '8388608')
    .action(async (opts: { size: string }) => {
      requireRoot('prism demo');
      const size = Number(opts.size);
      if (!Number.isSafeInteger(size) || size < 0) throw new PrismError('PRISM_ERR_INVALID_ARGUMENT', `--size must be a byte count, got ${opts.size}`);
      await runDemo(size);
    });
}

async function runDemo(size: number): Promise<void> {
  const root = repoRoot();
  const t0 = Date.now();

  // 1. The committed generated files are what the pipeline description produces.
  const files = generate(prismPipeline);
  const stale = [...files].filter(([rel, c]) => !existsSync(join(root, 'p4', rel)) || !readFileSync(join(root, 'p4', rel)).equals(Buffer.from(c)));
  say('1/5', `codegen: pipeline "prism" -> ${files.size} files (v1model, TNA, eBPF C, P4Info); p4/ is ${stale.length === 0 ? 'current' : `STALE (${stale.map(([r]) => r).join(', ')})`}`);

  const objectPath = join(root, 'build', 'ebpf', 'prism.bpf.o');
  if (!existsSync(objectPath)) throw new PrismError('PRISM_ERR_NOT_FOUND', `${objectPath} is missing: run \`npm run build\``);

  let star: StarTopology | undefined;
  const stop = async (): Promise<void> => {
    const s = star;
    star = undefined;
    if (s) {
      await s.close();
      say('', 'torn down: namespaces, interfaces, processes and BPF programs removed');
    }
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    star = await startStarTopology({
      pipeline: prismPipeline,
      objectPath,
      hosts: [
        { name: 'client', ip: '10.0.0.1', port: 1 },
        { name: 'backend', ip: '10.0.0.2', port: 2 },
      ],
      cpuPort: 64,
    });
    const dp = star.dataplane;
    say('2/5', `eBPF: ${objectPath.replace(`${root}/`, '')} passed the verifier; attached at tc ingress of ${dp.attachments.map((a) => `p${a.port}`).join(', ')} in ${star.switchHost.netns}`);
    const client = star.hosts.get('client')!;
    const backend = star.hosts.get('backend')!;
    say('3/5', `topology: client ${client.spec.ip} (port 1) and backend ${backend.spec.ip} (port 2) in their own namespaces`);

    const bin = join(root, 'bin', 'prism.js');
    const server = backend.host.spawn([process.execPath, bin, 'serve', '--listen', '0.0.0.0:80', '--name', 'backend-1']);
    await backend.host.waitForTcpPort(80, { timeoutMs: 10_000, process: server });

    // 4. Plain forwarding through the l3 table.
    const expected = deterministicSha256(size, 7);
    const direct = await fetchWithCurl(star, `http://${backend.spec.ip}/bytes/${size}?seed=7`);
    check(direct.sha256 === expected, `l3 transfer corrupted: got ${direct.sha256}, expected ${expected}`);
    say('4/5', `l3: curl fetched ${size} bytes from the backend through the switch in ${direct.seconds.toFixed(3)} s (${((size * 8) / direct.seconds / 1e6).toFixed(0)} Mbit/s), SHA-256 matches`);

    // 5. A connection to the VIP carried by hand-off rules (what the controller installs per transaction).
    await client.host.addNeighbor(VIP.ip, client.switchMac, 'eth0');
    installHandoff(star);
    const viaVip = await fetchWithCurl(star, `http://${VIP.ip}/bytes/${size}?seed=9`, CLIENT_PORT);
    check(viaVip.sha256 === deterministicSha256(size, 9), 'VIP transfer corrupted');
    check(viaVip.backend === 'backend-1', `expected X-Backend backend-1, got ${viaVip.backend}`);
    const inHits = dp.readEntry('handoff_in', handoffKeyIn())?.packets ?? 0n;
    const outHits = dp.readEntry('handoff_out', handoffKeyOut())?.packets ?? 0n;
    say('5/5', `hand-off rules: client ${client.spec.ip}:${CLIENT_PORT} -> VIP ${VIP.ip}:${VIP.port} served by ${viaVip.backend}; ${size} bytes intact; rule hits: client->backend ${inHits} packets, backend->client ${outHits} packets`);

    const s1 = dp.portStats(1);
    const s2 = dp.portStats(2);
    const drops = Object.entries(dp.drops()).filter(([, n]) => n > 0n);
    say('', `switch counters: port 1 rx ${s1.rx_packets} / tx ${s1.tx_packets} packets, port 2 rx ${s2.rx_packets} / tx ${s2.tx_packets} packets; drops: ${drops.length === 0 ? 'none' : drops.map(([r, n]) => `${r} ${n}`).join(', ')}`);
    say('', 'not yet in the demo: the P4Runtime switch server, the controller\'s TCP endpoint and per-transaction hand-off (issues 4-6)');
  } finally {
    await stop();
  }
  say('', `done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function check(ok: boolean, msg: string): void {
  if (!ok) throw new PrismError('PRISM_ERR_COMMAND_FAILED', `demo check failed: ${msg}`);
}

async function fetchWithCurl(star: StarTopology, url: string, localPort?: number): Promise<{ sha256: string; seconds: number; backend: string }> {
  const client = star.hosts.get('client')!;
  const dir = mkdtempSync(join(tmpdir(), 'prism-demo-'));
  try {
    const bodyFile = join(dir, 'body');
    const headFile = join(dir, 'head');
    const t = process.hrtime.bigint();
    const args = ['curl', '-sS', '--fail', '--max-time', '60', '-D', headFile, '-o', bodyFile, ...(localPort ? ['--local-port', String(localPort)] : []), url];
    await client.host.exec(args, { timeoutMs: 70_000 });
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    const backend = /x-backend: *(\S+)/i.exec(readFileSync(headFile, 'latin1'))?.[1] ?? '?';
    return { sha256: createHash('sha256').update(readFileSync(bodyFile)).digest('hex'), seconds, backend };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function handoffKeyIn(): Map<string, FieldMatchValue> {
  return new Map<string, FieldMatchValue>([
    ['hdr.ipv4.src_addr', { kind: 'exact', value: ipv4ToBytes('10.0.0.1') }],
    ['hdr.ipv4.dst_addr', { kind: 'exact', value: ipv4ToBytes(VIP.ip) }],
    ['hdr.tcp.src_port', { kind: 'exact', value: toFieldBytes(CLIENT_PORT, 16) }],
    ['hdr.tcp.dst_port', { kind: 'exact', value: toFieldBytes(VIP.port, 16) }],
  ]);
}

function handoffKeyOut(): Map<string, FieldMatchValue> {
  return new Map<string, FieldMatchValue>([
    ['hdr.ipv4.src_addr', { kind: 'exact', value: ipv4ToBytes('10.0.0.2') }],
    ['hdr.ipv4.dst_addr', { kind: 'exact', value: ipv4ToBytes('10.0.0.1') }],
    ['hdr.tcp.src_port', { kind: 'exact', value: toFieldBytes(VIP.port, 16) }],
    ['hdr.tcp.dst_port', { kind: 'exact', value: toFieldBytes(CLIENT_PORT, 16) }],
  ]);
}

function installHandoff(star: StarTopology): void {
  const dp = star.dataplane;
  const client = star.hosts.get('client')!;
  const backend = star.hosts.get('backend')!;
  const param = (table: string, action: string, values: Record<string, string | number>) => {
    const a = dp.layout(table).actions.find((x) => x.name === action)!;
    return { actionId: a.id, params: a.params.map((p) => toFieldBytes(values[p.name] ?? 0, p.bits, p.name)) };
  };
  dp.writeEntry('handoff_in', handoffKeyIn(), param('handoff_in', 'to_backend', { backend_ip: backend.spec.ip, backend_mac: backend.mac, port: 2, clear_fin: 0 }), { mode: 'insert' });
  dp.writeEntry('handoff_out', handoffKeyOut(), param('handoff_out', 'from_backend', { vip: VIP.ip, vip_mac: client.switchMac, client_mac: client.mac, port: 1, zero_window: 0, drop_rst: 0 }), { mode: 'insert' });
}
