/** HTTP intake over the TCP endpoint: requests, pipelining, the 503 fallback, 400/408/431/505, hand-off. */
import { describe, expect, it } from 'vitest';
import { TCP_ACK, TCP_FIN } from '../../core/header/tcp.js';
import { HttpIntake, SessionPhase, type HttpRequest, type HttpSession } from '../../controller/http/intake.js';
import { TcpEndpoint } from '../../controller/tcp/endpoint.js';
import type { TcpConfig } from '../../controller/tcp/config.js';
import { Client, TestContext, parseOut, type Link, type OutSegment, VIP, VPORT } from '../../controller/tcp/testing/context.js';

interface Harness {
  t: TestContext;
  intake: HttpIntake<Link>;
  requests: Array<{ req: HttpRequest; s: HttpSession<Link> }>;
  rejected: number[];
  closed: string[];
  ep: TcpEndpoint<Link>;
  out: OutSegment[];
}

/** A TestContext whose endpoint is driven by an HttpIntake; onRequest decides what the controller does. */
function harness(onRequest: (req: HttpRequest, s: HttpSession<Link>) => void = (_r, s) => s.respond503(), http = {}, tcp: Partial<TcpConfig> = {}): Harness & { client(): Client } {
  const t = new TestContext();
  const requests: Harness['requests'] = [];
  const rejected: number[] = [];
  const closed: string[] = [];
  const intake = new HttpIntake<Link>(
    t.clock,
    {
      request: (req, s) => {
        requests.push({ req, s });
        onRequest(req, s);
      },
      rejected: (_s, status) => rejected.push(status),
      closed: (_s, reason) => closed.push(reason),
    },
    http,
  );
  const out: OutSegment[] = [];
  const ep = new TcpEndpoint<Link>({ listeners: [{ ip: VIP, port: VPORT }], clock: t.clock, random: t.random, output: (p, l) => out.push(parseOut(p, l)), handler: intake, config: tcp });
  // Route the test client through this endpoint.
  (t as unknown as { ep: TcpEndpoint<Link> }).ep = ep;
  (t as unknown as { out: OutSegment[] }).out = out;
  return { t, intake, requests, rejected, closed, ep, out, client: () => t.client() };
}

/** The response bytes the client has received (payloads in order). */
function received(segs: readonly OutSegment[]): string {
  return segs.map((s) => s.payload.toString('latin1')).join('');
}

describe('request intake', () => {
  it('delivers a request with head and body so far, ACKs at once, and answers 503 keeping the connection', () => {
    const h = harness();
    const c = h.client();
    c.connect();
    h.t.take();
    c.send({ payload: 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab' });
    expect(h.requests).toHaveLength(1);
    const { req } = h.requests[0]!;
    expect(req.head.method).toBe('POST');
    expect(req.body.toString()).toBe('ab');
    const out = h.t.take();
    expect(out).toHaveLength(1); // the response carries the ACK
    expect(out[0]!.ack).toBe(c.seq);
    const text = received(out);
    expect(text).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(text).not.toMatch(/Connection: close/);
    const body = text.split('\r\n\r\n')[1]!;
    expect(text).toContain(`Content-Length: ${Buffer.byteLength(body)}`);
    // The remaining body bytes are discarded when they come; the next request is served on the same connection.
    c.observe(out);
    c.send({ payload: 'cdGET /y HTTP/1.1\r\nHost: a\r\n\r\n' });
    expect(h.requests).toHaveLength(2);
    expect(h.requests[1]!.req.head.target).toBe('/y');
    expect(h.intake.stats.responses).toBe(2);
    expect(c.conn!.state).toBe('ESTABLISHED');
    expect(c.conn!.readable).toBe(0);
  });

  it('pipelined requests are served one at a time, in order, from one segment', () => {
    const h = harness();
    const c = h.client();
    c.connect();
    c.send({ payload: 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n' });
    expect(h.requests.map((r) => r.req.head.target)).toEqual(['/1', '/2', '/3']);
    expect(received(h.t.take()).match(/HTTP\/1\.1 503/g)).toHaveLength(3);
  });

  it('a pipelined request waits in the buffer while one is outstanding, and is parsed after respond()', () => {
    let hold = true;
    const h = harness((_r, s) => {
      if (!hold) s.respond(200, { 'Content-Type': 'text/plain' }, 'ok');
    });
    const c = h.client();
    c.connect();
    c.send({ payload: 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n' });
    expect(h.requests).toHaveLength(1);
    const s = h.requests[0]!.s;
    expect(s.phase).toBe(SessionPhase.OUTSTANDING);
    expect(c.conn!.readable).toBeGreaterThan(30); // both requests still unread
    hold = false;
    s.respond(200, {}, 'first');
    expect(h.requests.map((r) => r.req.head.target)).toEqual(['/1', '/2']);
    const text = received(h.t.take());
    expect(text.indexOf('first')).toBeLessThan(text.lastIndexOf('ok'));
  });

  it('Connection: close → response with Connection: close, then FIN', () => {
    const h = harness();
    const c = h.client();
    c.connect();
    c.send({ payload: 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' });
    const out = h.t.take();
    expect(received(out)).toContain('Connection: close');
    expect(out.at(-1)!.flags & TCP_FIN).toBe(TCP_FIN);
    expect(c.conn!.state).toBe('FIN_WAIT_1');
  });

  it('HEAD gets headers only; HTTP/1.0 keep-alive gets Connection: keep-alive', () => {
    const h = harness();
    const c = h.client();
    c.connect();
    c.send({ payload: 'HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' });
    const text = received(h.t.take());
    expect(text).toContain('Connection: keep-alive');
    expect(text.endsWith('\r\n\r\n')).toBe(true);
  });

  it('client FIN while idle: the controller closes its side too', () => {
    const h = harness();
    const c = h.client();
    const conn = c.connect();
    c.send({ flags: TCP_FIN | TCP_ACK });
    expect(conn.state).toBe('LAST_ACK');
    const out = h.t.take();
    c.observe(out);
    c.send({ ack: c.ack });
    expect(conn.state).toBe('CLOSED');
    expect(h.closed).toEqual(['normal']);
  });
});

describe('limits and errors', () => {
  it('a head beyond the cap gets 431 and the connection closes', () => {
    const h = harness(undefined, { maxHeaderBytes: 1024 });
    const c = h.client();
    const conn = c.connect();
    c.send({ payload: `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(1100)}` });
    const text = received(h.t.take());
    expect(text).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(text).toContain('Connection: close');
    expect(conn.state).toBe('FIN_WAIT_1');
    expect(h.rejected).toEqual([431]);
  });

  it('16 KiB default cap: a head arriving in many segments is refused once it passes the cap', () => {
    const h = harness();
    const c = h.client();
    c.connect();
    c.send({ payload: 'GET / HTTP/1.1\r\nHost: a\r\n' });
    for (let i = 0; i < 20 && h.rejected.length === 0; i++) c.send({ payload: `X-${i}: ${'b'.repeat(1000)}\r\n` });
    expect(h.rejected).toEqual([431]);
    expect(h.requests).toHaveLength(0);
  });

  it('slowloris: a head not complete within the header timeout gets 408 and close', () => {
    const h = harness(undefined, { headerTimeoutMs: 10_000 });
    const c = h.client();
    const conn = c.connect();
    for (let i = 0; i < 9; i++) {
      c.send({ payload: 'X' });
      h.t.clock.advance(1000);
    }
    h.t.take();
    h.t.clock.advance(1000);
    const text = received(h.t.take());
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(conn.state).toBe('FIN_WAIT_1');
    expect(h.rejected).toEqual([408]);
  });

  it('a connection that never sends a byte gets 408 after the header timeout', () => {
    const h = harness(undefined, { headerTimeoutMs: 10_000 });
    const c = h.client();
    c.connect();
    h.t.clock.advance(10_000);
    expect(h.rejected).toEqual([408]);
  });

  it('an idle kept-alive connection is closed with FIN (no response) after the idle timeout', () => {
    const h = harness(undefined, { idleTimeoutMs: 5000 });
    const c = h.client();
    const conn = c.connect();
    c.send({ payload: 'GET / HTTP/1.1\r\nHost: a\r\n\r\n' });
    c.observe(h.t.take());
    c.send({ ack: c.ack });
    h.t.clock.advance(5000);
    const out = h.t.take();
    expect(out.filter((o) => o.payload.length > 0)).toHaveLength(0);
    expect(out.some((o) => o.flags & TCP_FIN)).toBe(true);
    expect(conn.state).toBe('FIN_WAIT_1');
    expect(h.intake.stats.idleCloses).toBe(1);
  });

  it('a client FIN in the middle of a head gets 400 and our FIN', () => {
    const h = harness();
    const c = h.client();
    const conn = c.connect();
    c.send({ payload: 'GET / HTTP/1.1\r\nHo', flags: TCP_FIN | TCP_ACK });
    const out = h.t.take();
    expect(received(out)).toMatch(/^HTTP\/1\.1 400 /);
    expect(out.at(-1)!.flags & TCP_FIN).toBe(TCP_FIN);
    expect(conn.state).toBe('LAST_ACK');
  });

  it('malformed requests get 400, unsupported versions 505, and close', () => {
    for (const [payload, status] of [['BROKEN\r\n\r\n', 400], ['GET / HTTP/2.0\r\n\r\n', 505]] as const) {
      const h = harness();
      const c = h.client();
      c.connect();
      c.send({ payload });
      expect(received(h.t.take())).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(h.rejected).toEqual([status]);
    }
  });
});

describe('hand-off through the intake', () => {
  it('zero window on the head ACK, freeze, export, adopt: the leftover next request is parsed at once', () => {
    let handOff = true;
    const h = harness((_req, s) => {
      if (!handOff) return s.respond503();
      s.conn.setReceiveWindow('zero');
      s.conn.freeze();
    });
    const c = h.client();
    const conn = c.connect();
    c.send({ payload: 'GET /big HTTP/1.1\r\nHost: a\r\n\r\n' });
    const ack = h.t.takeOne();
    expect(ack.window).toBe(0);
    expect(ack.ack).toBe(c.seq);
    expect(ack.flags).toBe(TCP_ACK);
    const { state, unread } = conn.exportState();
    expect(unread.toString()).toBe('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
    // The backend consumed the request, sent 1000 bytes, and the client sent the next request, unread at Release.
    handOff = false;
    const next = 'GET /next HTTP/1.1\r\nHost: a\r\n\r\n';
    h.ep.adopt(
      { ...state, sndUna: state.sndNxt + 1000, sndNxt: state.sndNxt + 1000, rcvNxt: state.rcvNxt + next.length, tsVal: state.tsVal + 50 },
      Buffer.from(next),
      c.link,
    );
    expect(h.requests.map((r) => r.req.head.target)).toEqual(['/big', '/next']);
    const out = h.t.take();
    expect(received(out)).toMatch(/^HTTP\/1\.1 503/);
    expect(out[0]!.seq).toBe(state.sndNxt + 1000);
    expect(out[0]!.window).toBeGreaterThan(0);
  });
});
