/** Shared pieces of the integration tests that run whole deployments (stack/stack.ts). */
import type { Host } from '../../netns/index.js';
import type { RunningStack } from '../../stack/stack.js';
import { parseTopology, type TopologyFile } from '../../stack/topology-file.js';
import { waitFor } from './wait.js';

export const VIP = { ip: '10.0.0.100', port: 80, mac: '02:00:00:00:00:fe' };
/**
 * A topology for tests: the client on port 1 and `backends` backends b1.. on ports 11.., one VIP;
 * `extra` lines of YAML add top-level keys (policy, speculation).
 */
export function testTopology(name: string, backends: number, extra: readonly string[] = []): TopologyFile {
  const hosts = Array.from({ length: backends }, (_, i) => `  - { name: b${i + 1}, ip: 10.0.0.${11 + i}, port: ${11 + i}, role: backend }`);
  return parseTopology(
    [`name: ${name}`, `vips: [{ ip: ${VIP.ip}, port: ${VIP.port}, mac: "${VIP.mac}" }]`, ...extra, 'hosts:', '  - { name: client, ip: 10.0.0.1, port: 1, role: client }', ...hosts].join('\n'),
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

/**
 * Waits until no hand-off is in flight: a client has the last byte of a response before the
 * controller has seen Done, released the socket and deleted the rules.
 */
export async function handoffsSettled(stack: RunningStack, timeoutMs = 15_000): Promise<void> {
  await waitFor(() => stack.handoff.settled, `no hand-off in flight and no rule delete deferred (${stack.handoff.inFlight} in flight, ${stack.handoff.ruleBatching.pending} deletes)`, timeoutMs, 20);
}

/**
 * Node's http in `host`: one keep-alive connection per entry of `plan`, all at once, each fetching
 * its `/bytes/<n>?seed=<s>` in order. Returns, per request, n, seed, the SHA-256 of the body
 * received and the X-Backend that served it.
 */
export async function concurrentGets(host: Host, plan: readonly (readonly [number, number])[][], timeoutMs = 240_000): Promise<[number, number, string, string][]> {
  const script = `
    const http = require('http'); const crypto = require('crypto');
    const plan = ${JSON.stringify(plan)};
    const one = async (gets) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const out = [];
      for (const [n, seed] of gets) {
        out.push(await new Promise((ok, ko) => http.get({ host: '${VIP.ip}', path: '/bytes/' + n + '?seed=' + seed, agent }, (r) => {
          const h = crypto.createHash('sha256'); r.on('data', (d) => h.update(d)); r.on('end', () => ok([n, seed, h.digest('hex'), r.headers['x-backend']]));
        }).on('error', ko)));
      }
      agent.destroy();
      return out;
    };
    Promise.all(plan.map(one)).then((all) => console.log(JSON.stringify(all.flat())), (e) => { console.error(e); process.exit(1); });`;
  const r = await host.exec([process.execPath, '-e', script], { timeoutMs });
  return JSON.parse(r.stdout) as [number, number, string, string][];
}
