/** Memory per idle established connection stays well under 2 KB (state only; no buffered bytes). */
import { describe, expect, it } from 'vitest';
import { TCP_SYN } from '../../core/header/tcp.js';
import { HttpIntake } from '../../controller/http/intake.js';
import { TcpEndpoint } from '../../controller/tcp/endpoint.js';
import { FakeClock, SeededRandom } from '../../controller/tcp/testing/fake-clock.js';
import { Client, TestContext, parseOut, type Link } from '../../controller/tcp/testing/context.js';
import { settledHeap } from '../../bench/heap.js';

describe('memory per connection', () => {
  it('an idle ESTABLISHED connection with its HTTP session costs < 2 KB of heap', () => {
    const N = 10_000;
    const t = new TestContext();
    const clock = new FakeClock();
    const intake = new HttpIntake<Link>(clock, { request: () => {} }, { idleTimeoutMs: 1e9, headerTimeoutMs: 1e9 });
    const ep = new TcpEndpoint<Link>({
      listeners: [{ ip: '10.0.0.100', port: 80 }],
      clock,
      random: new SeededRandom(),
      output: () => {},
      handler: intake,
    });
    // Prebuild the packets so that only the endpoint's allocations are measured.
    const link = { port: 1, mac: '02:00:00:00:00:01' };
    const syns: Buffer[] = [];
    const clients: Client[] = [];
    for (let i = 0; i < N; i++) {
      const c = t.client({ ip: `172.16.${i >> 8}.${(i & 0xff) || 1}`, port: 1024 + i });
      clients.push(c);
      syns.push(Buffer.from(c.packet({ flags: TCP_SYN, ack: 0, options: c.synOptions() })));
    }
    // SYN-ACKs are needed for the cookie; capture them through a second endpoint with the same secret.
    const acks: Buffer[] = [];
    const sink: Buffer[] = [];
    const ep2 = new TcpEndpoint<Link>({ listeners: [{ ip: '10.0.0.100', port: 80 }], clock, random: new SeededRandom(), output: (p) => sink.push(p), handler: intake });
    for (let i = 0; i < N; i++) {
      ep2.input(syns[i]!, { link });
      const sa = sink.pop()!;
      const c = clients[i]!;
      const o = parseOut(sa, link);
      c.ack = (o.seq + 1) >>> 0;
      c.seq = (c.opts.isn + 1) >>> 0;
      c.tsRecent = o.options.tsVal;
      acks.push(Buffer.from(c.packet({})));
    }
    const before = settledHeap();
    for (const a of acks) ep.input(a, { link });
    const after = settledHeap();
    expect(ep.stats.connections).toBe(N);
    const perConn = (after - before) / N;
    // Reported for the benchmark notes; the bound is the 2 KB.
    console.log(`heap per idle connection (TCP + HTTP session + timer): ${perConn.toFixed(0)} bytes`);
    expect(perConn).toBeLessThan(2048);
  }, 60_000);
});
