/**
 * Real Linux TCP through the generated eBPF program at tc ingress: hosts in namespaces, real
 * clients (curl, Node's http, Python's http.client), bodies hash-checked, a connection to a VIP
 * carried by hand-off rewrite rules, counters, and nothing left behind.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deterministicSha256 } from '../../agent/bytes.js';
import { prismPipeline } from '../../codegen/pipelines/index.js';
import { startStarTopology, type StarTopology } from '../../dataplane/ebpf-topology.js';
import { listNamespaces } from '../../netns/index.js';
import { compileGenerated, ebpfSkipReason, installEntry, REPO } from '../helpers/ebpf.js';

const skip = ebpfSkipReason();
if (skip) console.warn(`[skip] eBPF forwarding tests: ${skip}`);

const VIP = '10.0.0.100';

describe.skipIf(skip)('eBPF switch: real TCP between namespaces', () => {
  let obj: { path: string; cleanup: () => void };
  let star: StarTopology;
  let serverPid = 0;

  beforeAll(async () => {
    obj = compileGenerated('prism');
    star = await startStarTopology({
      pipeline: prismPipeline,
      objectPath: obj.path,
      hosts: [
        { name: 'client', ip: '10.0.0.1', port: 1 },
        { name: 'backend', ip: '10.0.0.2', port: 2 },
      ],
      cpuPort: 64,
    });
    const backend = star.hosts.get('backend')!;
    const server = backend.host.spawn([process.execPath, join(REPO, 'bin', 'prism.js'), 'serve', '--listen', '0.0.0.0:80', '--name', 'b1']);
    serverPid = server.pid!;
    await backend.host.waitForTcpPort(80, { timeoutMs: 10_000, process: server });
  });

  afterAll(async () => {
    const runId = star?.topo.runId;
    await star?.close();
    obj?.cleanup();
    if (runId) {
      const left = (await listNamespaces()).filter((n) => n.includes(runId));
      expect(left).toEqual([]);
      expect(() => process.kill(serverPid, 0)).toThrow();
    }
  });

  const curl = async (url: string, extra: string[] = []): Promise<{ sha: string; head: string }> => {
    const client = star.hosts.get('client')!;
    const dir = mkdtempSync(join(tmpdir(), 'prism-curl-'));
    try {
      await client.host.exec(['curl', '-sS', '--fail', '--max-time', '30', ...extra, '-D', join(dir, 'head'), '-o', join(dir, 'body'), url], { timeoutMs: 40_000 });
      return { sha: createHash('sha256').update(readFileSync(join(dir, 'body'))).digest('hex'), head: readFileSync(join(dir, 'head'), 'latin1') };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('curl fetches 8 MiB through the l3 table, byte for byte', async () => {
    const r = await curl('http://10.0.0.2/bytes/8388608?seed=3');
    expect(r.sha).toBe(deterministicSha256(8388608, 3));
    expect(r.head).toMatch(/x-backend: b1/i);
  });

  it("Node's http fetches through the switch with keep-alive", async () => {
    const client = star.hosts.get('client')!;
    const script = `
      const http = require('http'); const crypto = require('crypto');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = (n) => new Promise((res, rej) => http.get({ host: '10.0.0.2', path: '/bytes/' + n + '?seed=5', agent }, (r) => {
        const h = crypto.createHash('sha256'); r.on('data', (c) => h.update(c)); r.on('end', () => res(h.digest('hex'))); r.on('error', rej);
      }).on('error', rej));
      (async () => { const out = []; for (const n of [0, 1, 1500, 65536, 1048576]) out.push(await get(n)); console.log(JSON.stringify(out)); agent.destroy(); })();`;
    const r = await client.host.exec([process.execPath, '-e', script], { timeoutMs: 30_000 });
    expect(JSON.parse(r.stdout)).toEqual([0, 1, 1500, 65536, 1048576].map((n) => deterministicSha256(n, 5)));
  });

  it('a connection to the VIP is carried end to end by hand-off rules (curl and Python)', async () => {
    const client = star.hosts.get('client')!;
    const backend = star.hosts.get('backend')!;
    await client.host.addNeighbor(VIP, client.switchMac, 'eth0');
    const rules = (cport: number) => [
      {
        table: 'handoff_in',
        match: { 'hdr.ipv4.src_addr': { exact: '10.0.0.1' }, 'hdr.ipv4.dst_addr': { exact: VIP }, 'hdr.tcp.src_port': { exact: cport }, 'hdr.tcp.dst_port': { exact: 80 } },
        action: 'to_backend',
        params: { backend_ip: '10.0.0.2', backend_mac: backend.mac, port: 2, clear_fin: 0 },
      },
      {
        table: 'handoff_out',
        match: { 'hdr.ipv4.src_addr': { exact: '10.0.0.2' }, 'hdr.ipv4.dst_addr': { exact: '10.0.0.1' }, 'hdr.tcp.src_port': { exact: 80 }, 'hdr.tcp.dst_port': { exact: cport } },
        action: 'from_backend',
        params: { vip: VIP, vip_mac: client.switchMac, client_mac: client.mac, port: 1, zero_window: 0, drop_rst: 0 },
      },
    ];
    for (const e of [...rules(41000), ...rules(41001)]) installEntry(star.dataplane, e);
    const r = await curl(`http://${VIP}/bytes/4194304?seed=11`, ['--local-port', '41000']);
    expect(r.sha).toBe(deterministicSha256(4194304, 11));

    const py = `
import http.client, hashlib, socket
c = http.client.HTTPConnection('${VIP}', 80, timeout=20, source_address=('10.0.0.1', 41001))
out = []
for n in (10, 100000, 2000000):
    c.request('GET', '/bytes/%d?seed=2' % n)
    r = c.getresponse()
    out.append(hashlib.sha256(r.read()).hexdigest())
print(' '.join(out))`;
    const p = await client.host.exec(['python3', '-c', py], { timeoutMs: 30_000 });
    expect(p.stdout.trim().split(' ')).toEqual([10, 100000, 2000000].map((n) => deterministicSha256(n, 2)));
    const hits = star.dataplane.readEntry('handoff_in', new Map([
      ['hdr.ipv4.src_addr', { kind: 'exact', value: Buffer.from([10, 0, 0, 1]) }],
      ['hdr.ipv4.dst_addr', { kind: 'exact', value: Buffer.from([10, 0, 0, 100]) }],
      ['hdr.tcp.src_port', { kind: 'exact', value: Buffer.from([0xa0, 0x28]) }],
      ['hdr.tcp.dst_port', { kind: 'exact', value: Buffer.from([0, 80]) }],
    ]));
    expect(hits?.packets).toBeGreaterThan(10n);
  });

  it('the client saw no reset and no retransmission', async () => {
    const client = star.hosts.get('client')!;
    const r = await client.host.exec(['nstat', '-az', 'TcpOutRsts', 'TcpRetransSegs', 'TcpExtTCPAbortOnData']);
    const count = (name: string) => Number(new RegExp(`${name}\\s+(\\d+)`).exec(r.stdout)?.[1] ?? 'NaN');
    expect(count('TcpOutRsts')).toBe(0);
    expect(count('TcpRetransSegs')).toBe(0);
  });
});
