/** SYN cookies and the stateless passive open (RFC 4987 3.6; options RFC 7323, RFC 2018). */
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_SYN } from '../../core/header/tcp.js';
import { SynCookies, COOKIE_MSS_TABLE, cookieTsVal, decodeTsOptions, encodeTsOptions } from '../../controller/tcp/syn-cookie.js';
import { seq } from '../../controller/tcp/seqnum.js';
import { TestContext, VIP, VPORT } from '../../controller/tcp/testing/context.js';
import { settledHeap } from '../../bench/heap.js';

describe('SYN-ACK', () => {
  it('answers a SYN with a SYN-ACK carrying MSS, SACK-permitted, timestamps and window scale, and keeps no state', () => {
    const t = new TestContext();
    const c = t.client();
    const sa = c.syn()!;
    expect(sa).not.toBeNull();
    expect(sa.ipChecksumOk).toBe(true);
    expect(sa.tcpChecksumOk).toBe(true);
    expect(sa.srcIp).toBe(VIP);
    expect(sa.srcPort).toBe(VPORT);
    expect(sa.dstIp).toBe(c.ip);
    expect(sa.ack).toBe((c.iss + 1) >>> 0);
    expect(sa.options.mss).toBe(1460);
    expect(sa.options.sackPermitted).toBe(true);
    expect(sa.options.hasTimestamp).toBe(true);
    expect(sa.options.tsEcr).toBe(c.opts.tsStart);
    expect(sa.options.wscale).toBe(7);
    expect(sa.window).toBe(65535);
    expect(t.ep.stats.connections).toBe(0);
    expect(t.ep.stats.synCookiesSent).toBe(1);
    expect(t.clock.pending).toBe(0);
  });

  it('without timestamps offers only MSS (window scale and SACK cannot travel in the cookie)', () => {
    const t = new TestContext();
    const c = t.client({ ts: false });
    const sa = c.syn()!;
    expect(sa.options.mss).toBe(1460);
    expect(sa.options.wscale).toBe(-1);
    expect(sa.options.sackPermitted).toBe(false);
    expect(sa.options.hasTimestamp).toBe(false);
    const conn = c.connect();
    const { state } = (conn.freeze(), conn.exportState());
    expect(state).toMatchObject({ timestamps: false, sackPermitted: false, wscaleOk: false, sndWscale: 0, rcvWscale: 0 });
  });

  it('does not offer window scale when the client does not', () => {
    const t = new TestContext();
    const sa = t.client({ wscale: -1 }).syn()!;
    expect(sa.options.wscale).toBe(-1);
    expect(sa.options.hasTimestamp).toBe(true);
  });
});

describe('final ACK', () => {
  it('a valid cookie creates an ESTABLISHED connection with the negotiated options recovered', () => {
    const t = new TestContext();
    const c = t.client({ mss: 1400, wscale: 9, sack: true });
    const conn = c.connect();
    expect(conn.state).toBe('ESTABLISHED');
    expect(t.events.map((e) => e.type)).toEqual(['opened']);
    expect(t.ep.stats.connections).toBe(1);
    expect(t.ep.stats.cookiesAccepted).toBe(1);
    conn.freeze();
    const { state } = conn.exportState();
    expect(state.mss).toBe(1300); // the largest table MSS not above 1400
    expect(state.sndWscale).toBe(9);
    expect(state.rcvWscale).toBe(7);
    expect(state.wscaleOk).toBe(true);
    expect(state.sackPermitted).toBe(true);
    expect(state.timestamps).toBe(true);
    expect(state.sndWnd).toBe(502 << 9);
    expect(state.rcvNxt).toBe((c.iss + 1) >>> 0);
    expect(state.tsRecent).toBe(c.tsVal);
    expect(t.take()).toEqual([]); // the bare final ACK needs no answer
  });

  it('recovers each MSS of the table and SACK off', () => {
    for (const [mss, want] of [[536, 536], [1299, 536], [1300, 1300], [1459, 1440], [1460, 1460], [9000, 1460], [-1, 536]] as const) {
      const t = new TestContext();
      const conn = t.client({ mss, sack: false, wscale: 0 }).connect();
      conn.freeze();
      const s = conn.exportState().state;
      expect(s.mss).toBe(want);
      expect(s.sackPermitted).toBe(false);
      expect(s.wscaleOk).toBe(true);
      expect(s.sndWscale).toBe(0);
    }
  });

  it('data in the final ACK (the SYN-ACK ACK was lost) is accepted', () => {
    const t = new TestContext();
    const c = t.client();
    c.syn();
    c.send({ payload: 'GET / HTTP/1.1\r\n' });
    expect(c.conn?.readable).toBe(16);
  });

  it('rejects a forged cookie and counts it, without a RST', () => {
    const t = new TestContext();
    const c = t.client();
    c.syn();
    c.send({ ack: (c.ack + 12345) >>> 0 });
    expect(t.ep.stats.connections).toBe(0);
    expect(t.ep.stats.drops.badCookie).toBe(1);
    expect(t.take()).toEqual([]);
    // A different client ISN breaks the MAC too.
    c.send({ seq: (c.seq + 1) >>> 0 });
    expect(t.ep.stats.drops.badCookie).toBe(2);
  });

  it('rejects a cookie older than maxAge periods and accepts one within', () => {
    const t = new TestContext({ cookiePeriodMs: 1000, cookieMaxAge: 2 });
    const a = t.client();
    a.syn();
    t.clock.advance(2500);
    a.send();
    expect(t.ep.stats.connections).toBe(1);
    const b = t.client();
    b.syn();
    t.clock.advance(3100);
    b.send();
    expect(t.ep.stats.drops.expiredCookie).toBe(1);
    expect(t.ep.stats.connections).toBe(1);
  });

  it('rejects timestamp option bits that no SYN-ACK of ours carries', () => {
    const t = new TestContext();
    const c = t.client();
    c.syn();
    c.send({ ts: { tsVal: c.tsVal, tsEcr: c.tsRecent | 0x20 } }); // ECN bit
    expect(t.ep.stats.drops.badCookie).toBe(1);
    c.send({ ts: { tsVal: c.tsVal, tsEcr: (c.tsRecent + 100000) >>> 0 } }); // echo from the future
    expect(t.ep.stats.drops.badCookie).toBe(2);
    expect(t.ep.stats.connections).toBe(0);
  });

  it('a SYN-ACK sent to the listener, and a RST for nothing, are dropped silently', () => {
    const t = new TestContext();
    const c = t.client();
    c.send({ flags: TCP_SYN | TCP_ACK, ack: 1 });
    c.send({ flags: 0x04 });
    expect(t.ep.stats.drops.unexpectedSynAck).toBe(1);
    expect(t.ep.stats.drops.noConnection).toBe(1);
    expect(t.take()).toEqual([]);
  });
});

describe('SYN flood', () => {
  it('allocates nothing per SYN: 100,000 SYNs from random sources, 0 connections, no heap growth', () => {
    const t = new TestContext();
    const client = t.client();
    let answered = 0;
    const before = settledHeap();
    for (let i = 0; i < 100_000; i++) {
      const ip = `172.${16 + (i >>> 16)}.${(i >>> 8) & 0xff}.${i & 0xff || 1}`;
      const c = t.client({ ip, port: 1024 + (i % 60000), isn: (i * 2654435761) >>> 0 });
      c.send({ flags: TCP_SYN, ack: 0, options: c.synOptions() });
      answered += t.out.length;
      t.out.length = 0;
    }
    const after = settledHeap();
    expect(answered).toBe(100_000);
    expect(t.ep.stats.connections).toBe(0);
    expect(t.ep.stats.connectionsCreated).toBe(0);
    expect(t.clock.pending).toBe(0);
    // Less than 5 bytes retained per SYN (a per-SYN record would be far larger).
    expect(after - before).toBeLessThan(100_000 * 5);
    // A real client still connects during the flood.
    expect(client.connect().state).toBe('ESTABLISHED');
  }, 60_000);

  it('the connection cap turns SYNs and cookie ACKs away without answering', () => {
    const t = new TestContext({ maxConnections: 2 });
    t.client().connect();
    const b = t.client();
    b.syn();
    t.client().connect();
    expect(t.ep.stats.connections).toBe(2);
    expect(t.client().syn()).toBeNull();
    expect(t.ep.stats.drops.connCapSyn).toBe(1);
    b.send();
    expect(t.ep.stats.drops.connCapAck).toBe(1);
    expect(t.take()).toEqual([]);
  });
});

describe('cookie codec', () => {
  const tuple = { srcIp: 0xc0a8010a, srcPort: 40000, dstIp: 0x0a000064, dstPort: 80 };
  it('round-trips each MSS index and rejects any single-bit change', () => {
    const c = new SynCookies(Buffer.alloc(32, 7), { periodMs: 64000, maxAge: 2 });
    for (let idx = 0; idx < COOKIE_MSS_TABLE.length; idx++) {
      const cookie = c.encode(tuple, seq(1234), idx, 1e6);
      expect(c.check(tuple, seq(1234), cookie, 1e6)).toEqual({ ok: true, mssIndex: idx });
      for (let bit = 0; bit < 32; bit++) {
        const r = c.check(tuple, seq(1234), seq(cookie ^ (1 << bit)), 1e6);
        expect(r.ok).toBe(false);
      }
    }
  });
  it('keeps TSval option bits and never rounds the clock up', () => {
    for (const clock of [0, 5, 63, 64, 1000, 0xffffffff, 0x80000000]) {
      for (const ws of [-1, 0, 7, 14]) {
        for (const sack of [false, true]) {
          const ts = cookieTsVal(clock, encodeTsOptions(ws, sack));
          expect(((clock - ts) | 0) >= 0 && ((clock - ts) | 0) < 64).toBe(true);
          expect(decodeTsOptions(ts)).toEqual({ clientWscale: ws, sackPermitted: sack });
        }
      }
    }
  });
});

