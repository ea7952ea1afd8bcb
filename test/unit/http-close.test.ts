/**
 * `Connection: close` and HTTP/1.0 after a hand-off (issue 11): the backend's FIN never reaches
 * the client, so a connection that comes back to be closed (endpoint.adopt with `close`) gets the
 * controller's FIN right after the response's last byte, then the normal close handshake, no RST;
 * and nothing the client sent after its request starts another one.
 */
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_FIN, TCP_RST } from '../../core/header/tcp.js';
import { HttpIntake, SessionPhase, type HttpRequest, type HttpSession } from '../../controller/http/intake.js';
import { TcpEndpoint } from '../../controller/tcp/endpoint.js';
import type { TcpRepairState } from '../../controller/tcp/repair-state.js';
import { TestContext, parseOut, type Link, type OutSegment, VIP, VPORT } from '../../controller/tcp/testing/context.js';

/** An endpoint driven by an HttpIntake whose requests are handed off (zero window, freeze). */
function handoffHarness() {
  const t = new TestContext();
  const requests: { req: HttpRequest; s: HttpSession<Link> }[] = [];
  const closed: string[] = [];
  let handOff = true;
  const intake = new HttpIntake<Link>(t.clock, {
    request: (req, s) => {
      requests.push({ req, s });
      if (!handOff) return s.respond503();
      s.conn.setReceiveWindow('zero');
      s.conn.freeze();
    },
    closed: (_s, reason) => closed.push(reason),
  });
  const out: OutSegment[] = [];
  const ep = new TcpEndpoint<Link>({ listeners: [{ ip: VIP, port: VPORT }], clock: t.clock, random: t.random, output: (p, l) => out.push(parseOut(p, l)), handler: intake });
  Object.assign(t, { ep, out });
  return { t, ep, intake, requests, closed, answerHere: () => (handOff = false) };
}

/** The state a backend hands back after sending `sent` response bytes, the last `tail` of them unacknowledged. */
function served(state: TcpRepairState, sent: number, tail: number): TcpRepairState {
  return { ...state, sndUna: (state.sndNxt + sent - tail) >>> 0, sndNxt: (state.sndNxt + sent) >>> 0, rcvWnd: 0, tsVal: (state.tsVal + 20) >>> 0 };
}

const hasRst = (segs: readonly OutSegment[]): boolean => segs.some((s) => (s.flags & TCP_RST) !== 0);

describe('a connection handed back to be closed', () => {
  it('FIN right after the unacknowledged tail, with the window open; the close handshake ends it normally, no RST', () => {
    const h = handoffHarness();
    const c = h.t.client();
    const conn = c.connect();
    c.send({ payload: 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' });
    h.t.take(); // the zero-window ACK of the head
    const { state } = conn.exportState();
    // The backend sent 5000 bytes; the last 1200 are not acknowledged yet.
    const back = served(state, 5000, 1200);
    const tail = Buffer.alloc(1200, 0x61);
    h.ep.adopt(back, Buffer.alloc(0), c.link, tail, { close: true });
    const out = h.t.take();
    expect(out).toHaveLength(1);
    const fin = out[0]!;
    expect(fin.flags).toBe(TCP_FIN | TCP_ACK);
    expect(fin.seq).toBe(back.sndNxt); // after the last response byte, which is not sent again
    expect(fin.payload.length).toBe(0);
    expect(fin.window).toBeGreaterThan(0); // the client's own FIN can come
    expect(conn.state).toBe('FIN_WAIT_1');
    expect(h.intake.session(conn)!.phase).toBe(SessionPhase.CLOSING);
    expect(h.intake.session(conn)!.served).toBe(1);
    // The client ACKs the tail and our FIN, then closes too.
    c.observe(out);
    c.send({ ack: c.ack });
    expect(conn.state).toBe('FIN_WAIT_2');
    c.send({ flags: TCP_FIN | TCP_ACK });
    const last = h.t.take();
    expect(last.map((s) => s.flags)).toEqual([TCP_ACK]);
    expect(last[0]!.ack).toBe(c.seq);
    expect(conn.state).toBe('TIME_WAIT');
    expect(h.closed).toEqual(['normal']);
    expect(hasRst(out) || hasRst(last)).toBe(false);
  });

  it('a lost tail is retransmitted with the FIN on it: nothing of the response is lost', () => {
    const h = handoffHarness();
    const c = h.t.client();
    const conn = c.connect();
    c.send({ payload: 'GET /x HTTP/1.0\r\n\r\n' });
    h.t.take();
    const { state } = conn.exportState();
    const tail = Buffer.alloc(300, 0x62);
    const back = served(state, 300, 300);
    h.ep.adopt(back, Buffer.alloc(0), c.link, tail, { close: true });
    h.t.take(); // the FIN
    h.t.clock.advance(1500);
    const re = h.t.take();
    expect(re).toHaveLength(1);
    expect(re[0]!.seq).toBe(back.sndUna);
    expect(re[0]!.payload.equals(tail)).toBe(true);
    expect(re[0]!.flags & TCP_FIN).toBe(TCP_FIN);
    c.observe(re);
    c.send({ ack: c.ack });
    expect(conn.state).toBe('FIN_WAIT_2');
    expect(conn.unacknowledged).toBe(0);
  });

  it('a pipelined request after the closing one is discarded, never delivered; later client bytes too', () => {
    const h = handoffHarness();
    const c = h.t.client();
    const conn = c.connect();
    const first = 'GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n';
    const second = 'GET /2 HTTP/1.1\r\nHost: a\r\n\r\n';
    c.send({ payload: first + second });
    h.t.take();
    expect(h.requests.map((r) => r.req.head.target)).toEqual(['/1']);
    const { state, unread } = conn.exportState();
    expect(unread.toString()).toBe(first + second);
    // The backend read the first request; the second comes back unread.
    h.answerHere();
    // Every byte was ACKed by the controller before the hand-off: the backend's rcv_nxt is the same.
    h.ep.adopt(served(state, 1000, 0), Buffer.from(second), c.link, Buffer.alloc(0), { close: true });
    const out = h.t.take();
    expect(h.requests.map((r) => r.req.head.target)).toEqual(['/1']);
    expect(out.filter((s) => s.payload.length > 0)).toHaveLength(0); // no 503, no response at all
    expect(out.at(-1)!.flags & TCP_FIN).toBe(TCP_FIN);
    expect(conn.readable).toBe(0);
    // The client writes another request before it sees the FIN: ACKed and dropped.
    c.observe(out);
    c.send({ payload: 'GET /3 HTTP/1.1\r\nHost: a\r\n\r\n', ack: c.ack });
    h.t.clock.advance(500); // the delayed ACK
    const after = h.t.take();
    expect(h.requests).toHaveLength(1);
    expect(conn.readable).toBe(0);
    expect(after.every((s) => s.payload.length === 0 && !(s.flags & TCP_RST))).toBe(true);
    expect(after.at(-1)!.ack).toBe(c.seq);
  });

  it('without close the connection stays open and the pipelined request is parsed at once', () => {
    const h = handoffHarness();
    const c = h.t.client();
    const conn = c.connect();
    const second = 'GET /2 HTTP/1.1\r\nHost: a\r\n\r\n';
    c.send({ payload: 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n' + second });
    h.t.take();
    const { state } = conn.exportState();
    h.answerHere();
    h.ep.adopt(served(state, 1000, 0), Buffer.from(second), c.link, Buffer.alloc(0), { close: false });
    expect(h.requests.map((r) => r.req.head.target)).toEqual(['/1', '/2']);
    expect(conn.state).toBe('ESTABLISHED');
    expect(h.t.take().some((s) => s.flags & TCP_FIN)).toBe(false);
  });
});

describe("the controller's own answers to a request that asked to close", () => {
  it('HTTP/1.0 without keep-alive and 1.1 with Connection: close: the 503 says close and FIN follows it', () => {
    for (const head of ['GET / HTTP/1.0\r\n\r\n', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n']) {
      const h = handoffHarness();
      h.answerHere();
      const c = h.t.client();
      const conn = c.connect();
      c.send({ payload: head + 'GET /next HTTP/1.1\r\nHost: a\r\n\r\n' });
      const out = h.t.take();
      const text = out.map((s) => s.payload.toString('latin1')).join('');
      expect(text).toMatch(/^HTTP\/1\.1 503 /);
      expect(text).toContain('Connection: close');
      expect(out.at(-1)!.flags & TCP_FIN).toBe(TCP_FIN);
      expect(h.requests).toHaveLength(1); // the pipelined one is discarded
      expect(conn.state).toBe('FIN_WAIT_1');
    }
  });
});
