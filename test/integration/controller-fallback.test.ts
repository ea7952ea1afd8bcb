/**
 * The controller's own TCP endpoint through the embedded switch, with no backend: real Linux
 * clients (curl, Node's http with keep-alive, Python's http.client) resolve the VIP by ARP,
 * connect with SYN cookies and get the controller's 503 on a connection that stays usable.
 * Their kernels count no retransmission and send no RST. Then a SYN flood from random sources.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTcpFrame } from '../../core/header/frame.js';
import { TCP_SYN } from '../../core/header/tcp.js';
import { PacketSocket } from '../../native/packet.js';
import { ebpfSkipReason, REPO } from '../helpers/ebpf.js';
import { startStack, type RunningStack } from '../../stack/stack.js';
import { VIP, tcpCounters, testTopology } from '../helpers/stack.js';

const skip = ebpfSkipReason();
if (skip) console.warn(`[skip] controller fallback tests: ${skip}`);

describe.skipIf(skip)('controller TCP endpoint: 503 fallback through the switch', () => {
  let stack: RunningStack;

  beforeAll(async () => {
    // No backends: every request is the controller's to answer.
    stack = await startStack(testTopology('fallback', 0), { root: REPO, agents: false });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const client = () => stack.hosts.get('client')!.host;

  it('curl resolves the VIP by ARP, connects and gets 503 with a body', async () => {
    const r = await client().exec(['curl', '-sS', '--max-time', '10', '-w', '\\n%{http_code}', `http://${VIP.ip}/anything`], { timeoutMs: 15_000 });
    const lines = r.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('503');
    expect(r.stdout).toMatch(/no backend/i);
    const neigh = await client().exec(['ip', 'neigh', 'show', VIP.ip]);
    expect(neigh.stdout).toContain(VIP.mac);
  });

  it("Node's http with keep-alive: 50 requests on one connection", async () => {
    const script = `
      const http = require('http');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const ports = new Set();
      const get = () => new Promise((res, rej) => http.get({ host: '${VIP.ip}', path: '/x', agent }, (r) => {
        ports.add(r.socket.localPort); let n = 0; r.on('data', (c) => n += c.length); r.on('end', () => res([r.statusCode, n])); r.on('error', rej);
      }).on('error', rej));
      (async () => { const out = []; for (let i = 0; i < 50; i++) out.push(await get()); console.log(JSON.stringify({ out, sockets: ports.size })); agent.destroy(); })();`;
    const r = await client().exec([process.execPath, '-e', script], { timeoutMs: 30_000 });
    const { out, sockets } = JSON.parse(r.stdout) as { out: [number, number][]; sockets: number };
    expect(out).toHaveLength(50);
    expect(out.every(([status, n]) => status === 503 && n > 0)).toBe(true);
    expect(sockets).toBe(1);
  });

  it("Python's http.client: 20 requests on one connection", async () => {
    const py = `
import http.client
c = http.client.HTTPConnection('${VIP.ip}', 80, timeout=10)
codes = []
for i in range(20):
    c.request('GET', '/p%d' % i)
    r = c.getresponse(); r.read(); codes.append(r.status)
print(','.join(map(str, codes)))
c.close()`;
    const r = await client().exec(['python3', '-c', py], { timeoutMs: 30_000 });
    expect(r.stdout.trim().split(',')).toEqual(Array(20).fill('503'));
  });

  it("the clients' kernels retransmitted nothing and sent no RST", async () => {
    const c = await tcpCounters(client());
    expect(c.TcpRetransSegs).toBe(0);
    expect(c.TcpOutRsts ?? 0).toBe(0);
    expect(c.TcpExtTCPSynRetrans ?? 0).toBe(0);
  });

  it('a SYN flood of 100,000 SYNs from random sources keeps no state, and a real client still connects', async () => {
    const ctl = stack.controller;
    const c = stack.hosts.get('client')!;
    const before = ctl.endpoint.connectionCount;
    const raw = PacketSocket.open('eth0', { netns: c.host.netns });
    try {
      const TOTAL = 100_000;
      let sent = 0;
      const flood = (async () => {
        while (sent < TOTAL) {
          for (let i = 0; i < 500 && sent < TOTAL; i++, sent++) {
            const src = `172.${16 + (sent % 16)}.${(sent >> 8) & 255}.${sent & 255}`;
            raw.send(buildTcpFrame({ srcMac: c.mac, dstMac: c.switchMac, srcIp: src, dstIp: VIP.ip, srcPort: 1024 + (sent % 60000), dstPort: VIP.port, seq: sent * 7919, ack: 0, flags: TCP_SYN, window: 64240 }));
          }
          await new Promise((r) => setImmediate(r));
        }
      })();
      // A real client during the flood.
      const during = c.host.exec(['curl', '-sS', '--max-time', '20', '-o', '/dev/null', '-w', '%{http_code}', `http://${VIP.ip}/during-flood`], { timeoutMs: 30_000 });
      await flood;
      expect((await during).stdout).toBe('503');
      await new Promise((r) => setTimeout(r, 500));
      expect(ctl.endpoint.connectionCount - before).toBeLessThanOrEqual(1);
      // Under the flood the CPU port's socket buffer overflows and the kernel drops SYNs: fine for a
      // flood. Every SYN that did reach the controller was answered statelessly.
      expect(ctl.stats.packetIns).toBeGreaterThan(1000);
      expect(ctl.endpoint.stats.synCookiesSent).toBeGreaterThan(1000);
    } finally {
      raw.close();
    }
  });
});
