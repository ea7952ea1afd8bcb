/** Retransmission of our data and FIN (RFC 6298 timers and backoff), give-up, persist probes, fast retransmit. */
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST } from '../../core/header/tcp.js';
import { connectedClient } from '../../controller/tcp/testing/context.js';

const setup = connectedClient;

describe('retransmission timer', () => {
  it('retransmits after the initial 1 s RTO, backing off 2 s, 4 s, ...', () => {
    const { t, conn } = setup();
    conn.send(Buffer.from('response'));
    const first = t.takeOne();
    t.clock.advance(999);
    expect(t.take()).toEqual([]);
    t.clock.advance(1);
    const r1 = t.takeOne();
    expect(r1.seq).toBe(first.seq);
    expect(r1.payload.toString()).toBe('response');
    t.clock.advance(1999);
    expect(t.take()).toEqual([]);
    t.clock.advance(1);
    expect(t.takeOne().seq).toBe(first.seq);
    t.clock.advance(4000);
    expect(t.take()).toHaveLength(1);
    expect(t.ep.stats.rtoTimeouts).toBe(3);
  });

  it('stops when everything is acknowledged, and measures RTT from the timestamp echo', () => {
    const { t, c, conn } = setup();
    conn.send(Buffer.from('abc'));
    const d = t.takeOne();
    t.clock.advance(30);
    c.observe([d]);
    c.send({ ack: c.ack, ts: { tsVal: c.tsVal, tsEcr: d.options.tsVal } });
    expect(conn.unacknowledged).toBe(0);
    expect(t.clock.pending).toBe(0);
    // rto = srtt + 4 * rttvar = 30 + 60, clamped to the 200 ms minimum.
    conn.send(Buffer.from('def'));
    t.take();
    t.clock.advance(199);
    expect(t.take()).toEqual([]);
    t.clock.advance(1);
    expect(t.take()).toHaveLength(1);
  });

  it('caps the backoff at rtoMaxMs and gives up after maxRetries with a RST', () => {
    const { t, conn } = setup({ maxRetries: 3, rtoMaxMs: 3000 });
    conn.send(Buffer.from('x'));
    t.take();
    t.clock.advance(1000);
    t.clock.advance(2000);
    t.clock.advance(3000); // capped
    expect(t.take()).toHaveLength(3);
    t.clock.advance(3000);
    const out = t.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.flags & TCP_RST).toBe(TCP_RST);
    expect(conn.state).toBe('CLOSED');
    expect(t.events.at(-1)).toMatchObject({ type: 'closed', reason: 'timeout' });
    expect(t.ep.stats.giveUps).toBe(1);
  });

  it('retransmits a lone FIN, and data with FIN together', () => {
    const { t, c, conn } = setup();
    conn.end();
    const fin = t.takeOne();
    t.clock.advance(1000);
    const r = t.takeOne();
    expect(r.flags).toBe(TCP_FIN | TCP_ACK);
    expect(r.seq).toBe(fin.seq);
    c.observe([r]);
    c.send({ ack: c.ack });
    expect(conn.state).toBe('FIN_WAIT_2');

    const s2 = setup();
    s2.conn.send(Buffer.from('tail'));
    s2.conn.end();
    s2.t.take();
    s2.t.clock.advance(1000);
    const r2 = s2.t.takeOne();
    expect(r2.flags).toBe(TCP_FIN | TCP_ACK | TCP_PSH);
    expect(r2.payload.toString()).toBe('tail');
  });

  it('go-back after a timeout: the rest follows as ACKs arrive', () => {
    const { t, c, conn } = setup();
    conn.send(Buffer.alloc(4000, 7));
    const segs = t.take();
    expect(segs).toHaveLength(3);
    t.clock.advance(1000);
    const r = t.takeOne();
    expect(r.seq).toBe(segs[0]!.seq);
    c.send({ ack: segs[0]!.seq + 1448 });
    const next = t.take();
    expect(next[0]!.seq).toBe(segs[1]!.seq);
    c.send({ ack: segs[0]!.seq + 4000 });
    expect(conn.unacknowledged).toBe(0);
  });

  it('fast retransmit on the third duplicate ACK', () => {
    const { t, c, conn } = setup();
    conn.send(Buffer.alloc(4000, 7));
    const segs = t.take();
    for (let i = 0; i < 3; i++) c.send({ ack: segs[0]!.seq });
    const r = t.takeOne();
    expect(r.seq).toBe(segs[0]!.seq);
    expect(t.ep.stats.retransmits).toBe(1);
  });
});

describe('persist timer', () => {
  it('probes a zero window with snd_una - 1 and sends once it opens', () => {
    const { t, c, conn } = setup({}, { wscale: 0 });
    c.send({ window: 0 });
    conn.send(Buffer.from('waiting'));
    expect(t.take()).toEqual([]);
    t.clock.advance(1000);
    const p = t.takeOne();
    expect(p.flags).toBe(TCP_ACK);
    expect(p.seq).toBe(c.ack - 1);
    expect(t.ep.stats.zeroWindowProbes).toBe(1);
    c.send({ window: 1000 });
    expect(t.takeOne().payload.toString()).toBe('waiting');
  });
});
