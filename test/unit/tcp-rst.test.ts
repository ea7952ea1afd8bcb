/** RFC 5961 (RST and SYN checks, ACK range), PAWS (RFC 7323 5), keepalive probes. */
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_RST, TCP_SYN } from '../../core/header/tcp.js';
import { TestContext, connectedClient } from '../../controller/tcp/testing/context.js';

const setup = connectedClient;

describe('RST (RFC 5961 3.2)', () => {
  it('exact sequence number: the connection is reset', () => {
    const { t, c, conn } = setup();
    c.send({ flags: TCP_RST });
    expect(conn.state).toBe('CLOSED');
    expect(t.events.at(-1)).toMatchObject({ type: 'closed', reason: 'reset' });
    expect(t.take()).toEqual([]);
  });

  it('RST|ACK with the exact sequence number resets too', () => {
    const { c, conn } = setup();
    c.send({ flags: TCP_RST | TCP_ACK });
    expect(conn.state).toBe('CLOSED');
  });

  it('in the window but not exact: challenge ACK, connection kept', () => {
    const { t, c, conn } = setup();
    c.send({ flags: TCP_RST, seq: c.seq + 100 });
    expect(conn.state).toBe('ESTABLISHED');
    const a = t.takeOne();
    expect(a.flags).toBe(TCP_ACK);
    expect(a.ack).toBe(c.seq);
    expect(t.ep.stats.drops.rstNotExact).toBe(1);
    expect(t.ep.stats.challengeAcks).toBe(1);
  });

  it('outside the window: dropped silently', () => {
    const { t, c, conn } = setup();
    c.send({ flags: TCP_RST, seq: c.seq + 1_000_000 });
    c.send({ flags: TCP_RST, seq: c.seq - 1 });
    expect(conn.state).toBe('ESTABLISHED');
    expect(t.take()).toEqual([]);
    expect(t.ep.stats.drops.rstOutOfWindow).toBe(2);
  });

  it('challenge ACKs are rate limited per second', () => {
    const { t, c } = setup({ challengeAckPerSecond: 3 });
    for (let i = 0; i < 5; i++) c.send({ flags: TCP_RST, seq: c.seq + 10 });
    expect(t.take()).toHaveLength(3);
    expect(t.ep.stats.challengeAcksRateLimited).toBe(2);
    t.clock.advance(1000);
    c.send({ flags: TCP_RST, seq: c.seq + 10 });
    expect(t.take()).toHaveLength(1);
  });
});

describe('SYN on an established connection (RFC 5961 4)', () => {
  it('in or out of the window: challenge ACK, no reset', () => {
    const { t, c, conn } = setup();
    c.send({ flags: TCP_SYN, seq: c.seq + 5, options: c.synOptions() });
    c.send({ flags: TCP_SYN, seq: c.seq - 1000, options: c.synOptions() });
    expect(conn.state).toBe('ESTABLISHED');
    const out = t.take();
    expect(out).toHaveLength(2);
    expect(out.every((o) => o.flags === TCP_ACK && o.ack === c.seq)).toBe(true);
    expect(t.ep.stats.drops.synInSynchronized).toBe(2);
  });
});

describe('ACK range (RFC 5961 5.2, RFC 9293)', () => {
  it('an ACK for data never sent is answered with an ACK and dropped', () => {
    const { t, c, conn } = setup();
    c.send({ ack: c.ack + 10, payload: 'data' });
    expect(conn.readable).toBe(0);
    expect(t.takeOne().flags).toBe(TCP_ACK);
    expect(t.ep.stats.drops.ackTooNew).toBe(1);
  });

  it('an ACK far below snd_una gets a challenge ACK', () => {
    const { t, c, conn } = setup();
    c.send({ ack: c.ack - 5_000_000, payload: 'data' });
    expect(conn.readable).toBe(0);
    expect(t.takeOne().flags).toBe(TCP_ACK);
    expect(t.ep.stats.drops.ackTooOld).toBe(1);
  });
});

describe('sequence check', () => {
  it('data entirely before rcv_nxt or beyond the window is answered with an ACK', () => {
    const { t, c, conn } = setup();
    c.send({ seq: c.seq - 100, payload: 'old' });
    c.send({ seq: c.seq + 70000, payload: 'far' });
    expect(conn.readable).toBe(0);
    expect(t.take()).toHaveLength(2);
    expect(t.ep.stats.drops.outOfWindow).toBe(2);
  });

  it('answers a keepalive probe (seq = rcv_nxt - 1, 0 or 1 byte) with an ACK', () => {
    const { t, c, conn } = setup();
    c.send({ seq: c.seq - 1 });
    c.send({ seq: c.seq - 1, payload: '\0' });
    const out = t.take();
    expect(out).toHaveLength(2);
    expect(out.every((o) => o.ack === c.seq && o.flags === TCP_ACK)).toBe(true);
    expect(t.ep.stats.keepalivesAnswered).toBe(2);
    expect(conn.readable).toBe(0);
  });
});

describe('PAWS and timestamp echo (RFC 7323)', () => {
  it('drops a segment whose TSval is older than ts_recent and answers with an ACK', () => {
    const { t, c, conn } = setup();
    c.tsVal = 9000;
    c.send({ payload: 'a' });
    t.clock.advance(40);
    expect(t.takeOne().options.tsEcr).toBe(9000);
    c.send({ payload: 'b', ts: { tsVal: 8000, tsEcr: c.tsRecent } });
    expect(conn.peek().toString()).toBe('a');
    expect(t.ep.stats.drops.paws).toBe(1);
    expect(t.takeOne().options.tsEcr).toBe(9000);
  });

  it('TSval of our segments grows with the clock from the cookie TSval', () => {
    const t = new TestContext();
    const c = t.client();
    const sa = c.syn()!;
    t.clock.advance(5);
    c.send();
    const conn = c.conn!;
    t.clock.advance(100);
    conn.send(Buffer.from('x'));
    const d = t.takeOne();
    expect(((d.options.tsVal - sa.options.tsVal) | 0) >= 105).toBe(true);
    expect(((d.options.tsVal - sa.options.tsVal) | 0) < 105 + 64).toBe(true);
  });
});
