/** FIN handshakes in both directions, every RFC 9293 state transition, TIME-WAIT and FIN-WAIT-2 timers. */
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../../core/header/tcp.js';
import { connectedClient } from '../../controller/tcp/testing/context.js';

const setup = (config = {}) => connectedClient({ timeWaitMs: 1000, finWait2Ms: 5000, ...config });

describe('passive close: ESTABLISHED → CLOSE_WAIT → LAST_ACK → CLOSED', () => {
  it('ACKs the client FIN at once, reports peerFinished, then closes after our FIN is acknowledged', () => {
    const { t, c, conn } = setup();
    c.send({ flags: TCP_FIN | TCP_ACK });
    expect(conn.state).toBe('CLOSE_WAIT');
    const a = t.takeOne();
    expect(a.ack).toBe(c.seq);
    expect(t.events.map((e) => e.type)).toEqual(['opened', 'peerFinished']);
    conn.send(Buffer.from('last words'));
    conn.end();
    expect(conn.state).toBe('LAST_ACK');
    const out = t.take();
    c.observe(out);
    expect(out.at(-1)!.flags & TCP_FIN).toBe(TCP_FIN);
    c.send({ ack: c.ack });
    expect(conn.state).toBe('CLOSED');
    expect(t.events.at(-1)).toMatchObject({ type: 'closed', reason: 'normal' });
    expect(t.ep.stats.connections).toBe(0);
    expect(t.clock.pending).toBe(0);
  });

  it('a FIN carried with data delivers the data first, then the FIN', () => {
    const { t, c, conn } = setup();
    c.send({ flags: TCP_FIN | TCP_ACK, payload: 'tail' });
    expect(conn.peek().toString()).toBe('tail');
    expect(conn.state).toBe('CLOSE_WAIT');
    expect(t.events.map((e) => e.type)).toEqual(['opened', 'data', 'peerFinished']);
  });

  it('an out-of-order FIN waits for the missing bytes', () => {
    const { c, conn } = setup();
    const base = c.seq;
    c.send({ seq: base + 3, flags: TCP_FIN | TCP_ACK, payload: 'def' });
    expect(conn.state).toBe('ESTABLISHED');
    c.send({ seq: base, payload: 'abc' });
    expect(conn.peek().toString()).toBe('abcdef');
    expect(conn.state).toBe('CLOSE_WAIT');
  });
});

describe('active close', () => {
  it('ESTABLISHED → FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT → CLOSED', () => {
    const { t, c, conn } = setup();
    conn.end();
    expect(conn.state).toBe('FIN_WAIT_1');
    const fin = t.takeOne();
    expect(fin.flags).toBe(TCP_FIN | TCP_ACK);
    c.observe([fin]);
    c.send({ ack: c.ack });
    expect(conn.state).toBe('FIN_WAIT_2');
    c.send({ flags: TCP_FIN | TCP_ACK, payload: 'late data is still delivered' });
    expect(conn.state).toBe('TIME_WAIT');
    expect(t.takeOne().ack).toBe(c.seq);
    expect(t.events.at(-1)).toMatchObject({ type: 'closed', reason: 'normal' });
    expect(t.ep.stats.connections).toBe(1); // TIME-WAIT holds the 4-tuple
    // A retransmitted FIN is ACKed again and restarts the timer.
    t.clock.advance(800);
    c.send({ seq: c.seq - 1, flags: TCP_FIN | TCP_ACK });
    expect(t.takeOne().ack).toBe(c.seq);
    t.clock.advance(800);
    expect(conn.state).toBe('TIME_WAIT');
    t.clock.advance(200);
    expect(conn.state).toBe('CLOSED');
    expect(t.ep.stats.connections).toBe(0);
  });

  it('simultaneous close: FIN_WAIT_1 → CLOSING → TIME_WAIT', () => {
    const { t, c, conn } = setup();
    conn.end();
    const fin = t.takeOne();
    c.send({ flags: TCP_FIN | TCP_ACK }); // does not ACK our FIN
    expect(conn.state).toBe('CLOSING');
    t.take();
    c.observe([fin]);
    c.send({ ack: c.ack });
    expect(conn.state).toBe('TIME_WAIT');
  });

  it('FIN+ACK of our FIN in one segment: FIN_WAIT_1 → TIME_WAIT', () => {
    const { t, c, conn } = setup();
    conn.end();
    c.observe(t.take());
    c.send({ flags: TCP_FIN | TCP_ACK, ack: c.ack });
    expect(conn.state).toBe('TIME_WAIT');
  });

  it('FIN_WAIT_2 gives up after finWait2Ms', () => {
    const { t, c, conn } = setup();
    conn.end();
    c.observe(t.take());
    c.send({ ack: c.ack });
    t.clock.advance(5000);
    expect(conn.state).toBe('CLOSED');
    expect(t.events.at(-1)).toMatchObject({ type: 'closed', reason: 'finWait2Timeout' });
  });

  it('a new SYN with a higher sequence number reuses a TIME-WAIT 4-tuple', () => {
    const { t, c, conn } = setup();
    conn.end();
    c.observe(t.take());
    c.send({ flags: TCP_FIN | TCP_ACK, ack: c.ack });
    t.take();
    expect(conn.state).toBe('TIME_WAIT');
    c.tsVal += 10;
    c.send({ flags: TCP_SYN, seq: c.seq + 100000, ack: 0, options: c.synOptions() });
    const sa = t.takeOne();
    expect(sa.flags).toBe(TCP_SYN | TCP_ACK);
    expect(t.ep.stats.connections).toBe(0);
  });
});

describe('abort', () => {
  it('abort() sends RST at snd_nxt and forgets the connection', () => {
    const { t, c, conn } = setup();
    conn.abort();
    const r = t.takeOne();
    expect(r.flags & 0x04).toBe(0x04);
    expect(r.seq).toBe(c.ack);
    expect(conn.state).toBe('CLOSED');
    expect(t.events.at(-1)).toMatchObject({ type: 'closed', reason: 'aborted' });
    expect(() => conn.send(Buffer.from('x'))).toThrow();
  });
});
