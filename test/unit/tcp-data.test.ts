/** Receive side (reassembly, delayed ACK, window) and send side (MSS, peer window, SACK) of a connection. */
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_FIN, TCP_PSH } from '../../core/header/tcp.js';
import { TestContext, connectedClient } from '../../controller/tcp/testing/context.js';

const setup = connectedClient;

describe('in-order data and delayed ACK', () => {
  it('delivers bytes, ACKs after 40 ms (delayed), with the timestamp echoed', () => {
    const { t, c, conn } = setup();
    c.tsVal = 7000;
    c.send({ payload: 'hello' });
    expect(conn.peek().toString()).toBe('hello');
    expect(t.take()).toEqual([]);
    t.clock.advance(39);
    expect(t.take()).toEqual([]);
    t.clock.advance(1);
    const a = t.takeOne();
    expect(a.flags).toBe(TCP_ACK);
    expect(a.ack).toBe(c.seq);
    expect(a.options.tsEcr).toBe(7000);
    expect(a.tcpChecksumOk && a.ipChecksumOk).toBe(true);
    expect(t.ep.stats.delayedAcks).toBe(1);
  });

  it('ACKs at once every second full-sized segment', () => {
    const { t, c } = setup();
    const full = Buffer.alloc(1448, 0x61);
    c.send({ payload: full });
    expect(t.take()).toEqual([]);
    c.send({ payload: full });
    expect(t.takeOne().ack).toBe(c.seq);
  });

  it('ackNow() sends the ACK at once (the HTTP layer calls it on a complete head)', () => {
    const { t, c, conn } = setup();
    t.hooks.data = (k) => k.ackNow();
    c.send({ payload: 'x' });
    expect(t.takeOne().ack).toBe(c.seq);
    expect(conn.readable).toBe(1);
  });
});

describe('reassembly', () => {
  it('holds out-of-order segments, SACKs them, and delivers when the hole fills', () => {
    const { t, c, conn } = setup();
    const base = c.seq;
    c.send({ seq: base + 10, payload: 'KLMNO' });
    const dup = t.takeOne();
    expect(dup.ack).toBe(base);
    expect(dup.options.sack).toEqual([base + 10, base + 15]);
    c.send({ seq: base + 20, payload: 'UVW' });
    const dup2 = t.takeOne();
    expect(dup2.options.sack).toEqual([base + 20, base + 23, base + 10, base + 15]); // most recent first
    expect(conn.readable).toBe(0);
    c.send({ seq: base, payload: 'ABCDEFGHIJ' });
    expect(conn.peek().toString()).toBe('ABCDEFGHIJKLMNO');
    const a = t.takeOne(); // hole filled: ACK at once
    expect(a.ack).toBe(base + 15);
    expect(a.options.sack).toEqual([base + 20, base + 23]);
    c.send({ seq: base + 15, payload: 'PQRST' });
    expect(conn.peek().toString()).toBe('ABCDEFGHIJKLMNOPQRSTUVW');
  });

  it('overlapping and duplicate segments keep the first bytes and never duplicate', () => {
    const { c, conn } = setup();
    const base = c.seq;
    c.send({ seq: base + 4, payload: 'efgh' });
    c.send({ seq: base + 2, payload: 'cdXXij' }); // overlaps the held range on both sides
    c.send({ seq: base + 6, payload: 'ghij' }); // entirely held already
    c.send({ seq: base, payload: 'abc' }); // overlaps the start of what is held
    expect(conn.peek().toString()).toBe('abcdefghij');
    c.send({ seq: base + 5, payload: 'fghijkl' }); // old bytes + new ones
    expect(conn.peek().toString()).toBe('abcdefghijkl');
  });

  it('drops bytes beyond the offered window and bounds the queue by segment count', () => {
    const { t, c, conn } = setup({ rcvBuffer: 1000, maxOooSegments: 2 });
    const base = c.seq;
    c.send({ seq: base + 990, payload: Buffer.alloc(50, 1) }); // only 10 bytes fit
    c.send({ seq: base + 100, payload: 'a' });
    c.send({ seq: base + 200, payload: 'b' });
    expect(t.ep.stats.drops.oooQueueFull).toBe(1);
    c.send({ seq: base, payload: Buffer.alloc(100, 2) });
    expect(conn.readable).toBe(101);
  });
});

describe('receive window', () => {
  it('closes as unread bytes fill the buffer, answers zero-window probes, and announces the reopening', () => {
    const { t, c, conn } = setup({ rcvBuffer: 4096, rcvWscale: 0 });
    c.send({ payload: Buffer.alloc(4096, 0x41) });
    t.clock.advance(40);
    const a = t.takeOne();
    expect(a.window).toBe(0);
    // Zero-window probe: one byte at rcv_nxt is not accepted; the answer is an ACK with window 0.
    c.send({ payload: 'Z' });
    const p = t.takeOne();
    expect(p.window).toBe(0);
    expect(p.ack).toBe(a.ack);
    expect(t.ep.stats.zeroWindowProbes).toBe(1);
    c.seq = a.ack;
    conn.consume(100); // too little to matter (SWS avoidance)
    expect(t.take()).toEqual([]);
    conn.consume(3996);
    const u = t.takeOne();
    expect(u.window).toBe(4096);
    expect(t.ep.stats.windowUpdates).toBe(1);
  });

  it("setReceiveWindow('zero') advertises 0 at once, 'open' sends a window update", () => {
    const { t, conn } = setup();
    conn.setReceiveWindow('zero');
    expect(t.takeOne().window).toBe(0);
    conn.setReceiveWindow('open');
    expect(t.takeOne().window).toBe(65536 >> 7);
  });

  it('a zero window set during the request callback rides on the immediate ACK', () => {
    const { t, c } = setup();
    t.hooks.data = (k) => {
      k.ackNow();
      k.setReceiveWindow('zero');
    };
    c.send({ payload: 'GET / HTTP/1.1\r\n\r\n' });
    const a = t.takeOne();
    expect(a.window).toBe(0);
    expect(a.ack).toBe(c.seq);
  });
});

describe('sending', () => {
  it('segments by the client MSS minus the timestamp option and respects the client window (scaled)', () => {
    const t = new TestContext();
    const c = t.client({ mss: 1460, wscale: 2 });
    c.window = 1000; // 4000 bytes with shift 2
    const conn = c.connect();
    t.take();
    conn.send(Buffer.alloc(10000, 0x42));
    const segs = t.take();
    expect(segs.map((s) => s.payload.length)).toEqual([1448, 1448, 1104]);
    expect(segs.every((s) => s.flags === (TCP_ACK | TCP_PSH))).toBe(true);
    expect(segs[0]!.seq).toBe(c.ack);
    expect(conn.unacknowledged).toBe(10000);
    c.observe(segs);
    c.send({ ack: c.ack }); // window 4000 again from the new edge
    const more = t.take();
    expect(more.reduce((n, s) => n + s.payload.length, 0)).toBe(4000);
    c.observe(more);
    c.send({ ack: c.ack });
    c.observe(t.take());
    c.send({ ack: c.ack });
    expect(conn.unacknowledged).toBe(0);
  });

  it('accepts SACK blocks from the client without breaking', () => {
    const { t, c, conn } = setup();
    conn.send(Buffer.alloc(3000, 1));
    const segs = t.take();
    const first = segs[0]!;
    c.send({ ack: first.seq, sack: [[first.seq + 1448, first.seq + 3000]] });
    expect(conn.state).toBe('ESTABLISHED');
    c.send({ ack: first.seq + 3000 });
    expect(conn.unacknowledged).toBe(0);
  });

  it('end() sends FIN after the data', () => {
    const { t, conn } = setup();
    conn.send(Buffer.from('bye'));
    conn.end();
    const segs = t.take();
    expect(segs).toHaveLength(2);
    expect(segs[1]!.flags & TCP_FIN).toBe(TCP_FIN);
    expect(segs[1]!.seq).toBe(segs[0]!.seq + 3);
    expect(() => conn.send(Buffer.from('more'))).toThrow(/closing/);
  });
});
