/** Malformed segments are dropped and counted, one counter per reason; nothing is answered. */
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../core/header/tcp.js';
import { buildTcpFrame } from '../../core/header/frame.js';
import { DROP_REASONS } from '../../controller/tcp/stats.js';
import { TestContext } from '../../controller/tcp/testing/context.js';

describe('malformed input', () => {
  const cases: Array<[string, (p: Buffer) => Buffer, string]> = [
    ['bad TCP checksum', (p) => (p[36] = p[36]! ^ 0xff, p), 'badChecksum'],
    ['bad IPv4 checksum', (p) => (p[10] = p[10]! ^ 0xff, p), 'badIpChecksum'],
    ['data offset below 5', (p) => (p[32] = 0x40, p), 'badDataOffset'],
    ['data offset past the segment', (p) => (p[32] = 0xf0, p), 'badDataOffset'],
    ['IPv6 version nibble', (p) => (p[0] = 0x65, p), 'badIpHeader'],
    ['IHL past the packet', (p) => (p[0] = 0x4f, p.subarray(0, 40)), 'badIpHeader'],
    ['truncated', (p) => p.subarray(0, p.length - 4), 'truncated'],
    ['fragment', (p) => (p[6] = 0x20, p), 'fragment'],
    ['UDP', (p) => (p[9] = 17, p), 'notTcp'],
    ['multicast source', (p) => (p[12] = 224, p), 'badAddress'],
    ['empty', () => Buffer.alloc(0), 'badIpHeader'],
  ];
  for (const [name, mutate, reason] of cases) {
    it(`${name} → drops.${reason}`, () => {
      const t = new TestContext();
      const c = t.client();
      t.ep.input(mutate(Buffer.from(c.packet({ flags: TCP_SYN, ack: 0, options: c.synOptions() }))), { link: c.link });
      expect(t.ep.stats.drops[reason as (typeof DROP_REASONS)[number]]).toBe(1);
      expect(t.take()).toEqual([]);
    });
  }

  for (const [name, flags] of [['SYN+FIN', TCP_SYN | TCP_FIN], ['SYN+RST', TCP_SYN | TCP_RST], ['no flags', 0], ['FIN without ACK', TCP_FIN], ['data without ACK', 0x08]] as const) {
    it(`impossible flags ${name} → drops.badFlags, also on an established connection`, () => {
      const t = new TestContext();
      const c = t.client();
      const conn = c.connect();
      t.take();
      c.send({ flags, payload: 'x', seq: c.seq });
      expect(t.ep.stats.drops.badFlags).toBe(1);
      expect(conn.state).toBe('ESTABLISHED');
      expect(conn.readable).toBe(0);
      expect(t.take()).toEqual([]);
    });
  }

  it('an option whose length runs past the header → drops.badOptions', () => {
    const t = new TestContext();
    const c = t.client();
    c.send({ flags: TCP_SYN, ack: 0, options: Uint8Array.from([2, 4, 5, 0xb4, 8, 12, 0, 0]) });
    expect(t.ep.stats.drops.badOptions).toBe(1);
  });

  it('a segment for another address or port → drops.notListening', () => {
    const t = new TestContext();
    const c = t.client();
    const other = buildTcpFrame({ srcMac: '02:00:00:00:aa:01', dstMac: '02:00:00:00:00:64', srcIp: c.ip, dstIp: '10.0.0.100', srcPort: c.port, dstPort: 8080, seq: 1, ack: 0, flags: TCP_SYN, window: 1000 });
    t.ep.input(other.subarray(14), { link: c.link });
    expect(t.ep.stats.drops.notListening).toBe(1);
    t.ep.removeListener('10.0.0.100', 80);
    t.ep.input(c.packet({ flags: TCP_SYN, ack: 0, options: c.synOptions() }), { link: c.link });
    expect(t.ep.stats.drops.notListening).toBe(2);
    expect(t.take()).toEqual([]);
  });

  it('a stray ACK for no connection is dropped without a RST', () => {
    const t = new TestContext();
    const c = t.client();
    c.send({ flags: TCP_ACK, seq: 1, ack: 2, payload: 'x' });
    expect(t.take()).toEqual([]);
    expect(t.ep.stats.drops.badCookie).toBe(1);
  });

  it('every drop reason has a counter starting at 0', () => {
    const t = new TestContext();
    expect(Object.keys(t.ep.stats.drops).sort()).toEqual([...DROP_REASONS].sort());
    expect(Object.values(t.ep.stats.drops).every((v) => v === 0)).toBe(true);
  });
});
