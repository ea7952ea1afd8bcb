/** Shared pieces of the integration tests that run whole deployments (stack/stack.ts). */
import type { Host } from '../../netns/index.js';
import { parseTopology, type TopologyFile } from '../../stack/topology-file.js';

export const VIP = { ip: '10.0.0.100', port: 80, mac: '02:00:00:00:00:fe' };
/** A topology for tests: the client on port 1 and `backends` backends b1.. on ports 11.., one VIP. */
export function testTopology(name: string, backends: number): TopologyFile {
  const hosts = Array.from({ length: backends }, (_, i) => `  - { name: b${i + 1}, ip: 10.0.0.${11 + i}, port: ${11 + i}, role: backend }`);
  return parseTopology(
    [`name: ${name}`, `vips: [{ ip: ${VIP.ip}, port: ${VIP.port}, mac: "${VIP.mac}" }]`, 'hosts:', '  - { name: client, ip: 10.0.0.1, port: 1, role: client }', ...hosts].join('\n'),
  );
}

/** TCP counters of a host's kernel (nstat -az), by name. */
export async function tcpCounters(host: Host): Promise<Record<string, number>> {
  const r = await host.exec(['nstat', '-az']);
  const out: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+)\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}
