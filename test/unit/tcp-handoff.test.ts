/** freeze / exportState / adopt: the state that crosses a hand-off, and TSval monotonicity. */
import { describe, expect, it } from 'vitest';
import { TCP_ACK } from '../../core/header/tcp.js';
import type { TcpRepairState } from '../../controller/tcp/repair-state.js';
import { TestContext, VIP, VPORT, connectedClient } from '../../controller/tcp/testing/context.js';

// Sequence numbers wrap during the test.
const setup = () => connectedClient({}, { isn: 0xfffffff0 });

describe('freeze', () => {
  it('sends the pending ACK, then emits nothing and drops-and-counts client segments', () => {
    const { t, c, conn } = setup();
    c.send({ payload: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' });
    conn.setReceiveWindow('zero');
    conn.freeze();
    const a = t.takeOne();
    expect(a.window).toBe(0);
    expect(a.ack).toBe(c.seq);
    c.send({ payload: 'more' });
    t.clock.advance(60_000);
    expect(t.take()).toEqual([]);
    expect(t.ep.stats.drops.frozen).toBe(1);
    expect(t.clock.pending).toBe(0);
    expect(() => conn.send(Buffer.from('x'))).toThrow(/frozen/);
  });

  it('thaw() resumes a connection whose hand-off did not happen', () => {
    const { t, c, conn } = setup();
    conn.freeze();
    conn.thaw();
    expect(t.takeOne().ack).toBe(c.seq);
    c.send({ payload: 'x' });
    expect(conn.readable).toBe(1);
  });

  it('exportState needs a frozen ESTABLISHED connection with nothing unacknowledged', () => {
    const { t, c, conn } = setup();
    expect(() => conn.exportState()).toThrow(/freeze/);
    conn.send(Buffer.from('unacked'));
    conn.freeze();
    expect(() => conn.exportState()).toThrow(/not acknowledged/);
    void t;
    void c;
  });
});

describe('export → adopt round trip', () => {
  it('keeps sequence numbers, windows, options and the unread bytes; TSval never goes backwards', () => {
    const { t, c, conn } = setup();
    c.send({ payload: 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b' });
    conn.setReceiveWindow('zero');
    conn.freeze();
    const lastAck = t.takeOne();
    const { state, unread } = conn.exportState();
    expect(unread.toString()).toBe('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b');
    expect(state).toMatchObject({
      localIp: VIP,
      localPort: VPORT,
      remoteIp: c.ip,
      remotePort: c.port,
      sndUna: c.ack,
      sndNxt: c.ack,
      rcvNxt: c.seq,
      rcvWnd: 0,
      rcvWup: c.seq,
      sndWscale: 7,
      rcvWscale: 7,
      mss: 1460,
      sackPermitted: true,
      timestamps: true,
      tsRecent: c.tsVal,
    });
    expect(state.tsVal).toBe(lastAck.options.tsVal);

    // The backend served: the client's 25-byte rest of request, 5000 bytes of response, 3 s later;
    // its timestamp clock ran ahead of ours.
    t.clock.advance(3000);
    const back: TcpRepairState = {
      ...state,
      sndUna: (state.sndNxt + 5000) >>> 0,
      sndNxt: (state.sndNxt + 5000) >>> 0,
      rcvNxt: (state.rcvNxt + 25) >>> 0,
      sndWl1: (state.rcvNxt + 25) >>> 0,
      rcvWnd: 0,
      tsVal: (state.tsVal + 10_000) >>> 0,
      tsRecent: (c.tsVal + 3000) >>> 0,
    };
    const leftover = Buffer.from('GET /c HTTP/1.1\r\n');
    const adopted = t.ep.adopt(back, leftover, c.link);
    expect(adopted).toBe(conn); // thawed in place
    expect(t.events.at(-1)!.type).toBe('adopted');
    const open = t.takeOne();
    expect(open.flags).toBe(TCP_ACK);
    expect(open.seq).toBe(back.sndNxt);
    expect(open.ack).toBe(back.rcvNxt);
    expect(open.window).toBe(65536 - leftover.length >> 7);
    expect(open.options.tsVal).toBe(back.tsVal); // the larger clock wins
    expect(open.options.tsEcr).toBe(back.tsRecent);
    expect(adopted.peek().toString()).toBe('GET /c HTTP/1.1\r\n');

    // Export again at once: TSval still monotonic, sequence numbers as left.
    t.clock.advance(10);
    adopted.freeze();
    const again = adopted.exportState().state;
    expect(((again.tsVal - back.tsVal) | 0) >= 10).toBe(true);
    expect(again.sndNxt).toBe(back.sndNxt);
    expect(again.rcvNxt).toBe(back.rcvNxt);
  });

  it('adopts an unacknowledged tail: retransmits it on RTO, forgets it when the client ACKs it', () => {
    const { t, c, conn } = setup();
    conn.freeze();
    const { state } = conn.exportState();
    // The backend sent 3000 bytes; the client has ACKed 1800 of them.
    const tail = Buffer.alloc(1200, 0x7a);
    const back: TcpRepairState = { ...state, sndUna: (state.sndNxt + 1800) >>> 0, sndNxt: (state.sndNxt + 3000) >>> 0 };
    const adopted = t.ep.adopt(back, Buffer.alloc(0), c.link, tail);
    t.take(); // the window-opening ACK
    expect(adopted.unacknowledged).toBe(1200);
    // Nobody ACKs: the tail goes out again from snd_una after the RTO.
    t.clock.advance(1500);
    const re = t.take().find((o) => o.payload.length > 0)!;
    expect(re.seq).toBe(back.sndUna);
    expect(re.payload.equals(tail)).toBe(true);
    // The client's ACK of it empties the queue; a new hand-off may export again.
    c.send({ ack: back.sndNxt });
    expect(adopted.unacknowledged).toBe(0);
    adopted.freeze();
    expect(adopted.exportState().state.sndUna).toBe(back.sndNxt);
  });

  it('refuses a hand-back whose unacknowledged bytes are missing', () => {
    const { t, c, conn } = setup();
    conn.freeze();
    const { state } = conn.exportState();
    expect(() => t.ep.adopt({ ...state, sndNxt: (state.sndNxt + 10) >>> 0 }, Buffer.alloc(0), c.link)).toThrow(/10 bytes unacknowledged but handed back 0/);
  });

  it('when our clock is ahead of the backend, our clock is kept', () => {
    const { t, c, conn } = setup();
    conn.freeze();
    const { state } = conn.exportState();
    t.clock.advance(5000);
    const adopted = t.ep.adopt({ ...state, tsVal: (state.tsVal + 10) >>> 0 }, Buffer.alloc(0), c.link);
    expect(t.takeOne().options.tsVal).toBe((state.tsVal + 5000) >>> 0);
    expect(adopted.state).toBe('ESTABLISHED');
  });

  it('adopts into a fresh endpoint (after detach), the data path continues', () => {
    const { t, c, conn } = setup();
    conn.freeze();
    const { state } = conn.exportState();
    conn.detach();
    expect(t.events.at(-1)).toMatchObject({ type: 'closed', reason: 'detached' });
    expect(t.ep.stats.connections).toBe(0);
    const t2 = new TestContext();
    const k = t2.ep.adopt(state, Buffer.alloc(0), c.link);
    expect(t2.ep.stats.connections).toBe(1);
    const open = t2.takeOne();
    expect(open.seq).toBe(state.sndNxt);
    c.tsVal += 5;
    // The client's next request reaches the new endpoint and is accepted in order.
    const pkt = c.packet({ payload: 'next' });
    t2.ep.input(pkt, { link: c.link });
    expect(k.peek().toString()).toBe('next');
    // A FIN from the client is answered by the adopting endpoint.
    const fin = c.packet({ seq: c.seq + 4, flags: 0x11 });
    t2.ep.input(fin, { link: c.link });
    expect(k.state).toBe('CLOSE_WAIT');
  });

  it('refuses a state with unacknowledged backend data, and a live 4-tuple', () => {
    const { t, c, conn } = setup();
    conn.freeze();
    const { state } = conn.exportState();
    expect(() => t.ep.adopt({ ...state, sndNxt: state.sndNxt + 1 }, Buffer.alloc(0), c.link)).toThrow(/unacknowledged/);
    conn.thaw();
    expect(() => t.ep.adopt(state, Buffer.alloc(0), c.link)).toThrow(/live/);
  });
});
