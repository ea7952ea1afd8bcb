/**
 * HTTP/1.1 request intake on top of the TCP endpoint: one HttpSession per connection (kept in
 * `conn.user`), an incremental head parser, the header cap (431), the header timeout against
 * slowloris (408), protocol errors (400, 505), and the controller-served responses that keep the
 * connection usable (respond / respond503).
 *
 * A session has one request outstanding at a time. Bytes after it stay in the connection's unread
 * buffer (pipelining) and are parsed once the request is answered here or the connection comes
 * back from a backend (TcpHandler.adopted). A connection that comes back to be closed (the request
 * or the backend's response asked for it, RFC 9112 9.6) gets our FIN after the response, and
 * whatever the client sent after its request is discarded: no request after a close is served.
 *
 * Session phases:
 *   WAITING      no byte of the next request yet (header timer for the first request, idle timer after)
 *   HEAD         part of a head received (header timer running)
 *   OUTSTANDING  request delivered to the controller; nothing more is parsed
 *   CLOSING      an error response or a closing response was sent (here or by a backend); input is discarded
 *   CLOSED       the TCP connection is finished
 */
import type { Clock } from '../tcp/clock.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { Adoption, TcpHandler } from '../tcp/host.js';
import type { CloseReason } from '../tcp/states.js';
import { DEFAULT_HTTP_LIMITS, RequestHeadParser, headerValue, type HttpLimits, type RequestHead } from './request-parser.js';
import { buildResponse, plainBody } from './response.js';

export const SessionPhase = {
  WAITING: 0,
  HEAD: 1,
  OUTSTANDING: 2,
  CLOSING: 3,
  CLOSED: 4,
} as const;
export type SessionPhase = (typeof SessionPhase)[keyof typeof SessionPhase];

export interface HttpIntakeConfig extends HttpLimits {
  /** From the connection's start, or the first byte of a later request, to a complete head. Then 408 and close. */
  readonly headerTimeoutMs: number;
  /** A kept-alive connection with no byte of a next request is closed (FIN, no response) after this long. */
  readonly idleTimeoutMs: number;
}

export const DEFAULT_HTTP_INTAKE_CONFIG: HttpIntakeConfig = {
  ...DEFAULT_HTTP_LIMITS,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
};

export interface HttpRequest {
  readonly head: RequestHead;
  /** The raw head (request line through the empty line). */
  readonly headBytes: Buffer;
  /** Body bytes received so far: at most Content-Length; for chunked, every byte after the head. */
  readonly body: Buffer;
}

export interface HttpIntakeEvents<L> {
  opened?(session: HttpSession<L>): void;
  /** A request head is complete. Answer with session.respond(), or hand the connection off. */
  request(req: HttpRequest, session: HttpSession<L>): void;
  /** The connection came back from a backend (endpoint.adopt); unread bytes are parsed next, unless it is closing. */
  adopted?(session: HttpSession<L>): void;
  closed?(session: HttpSession<L>, reason: CloseReason): void;
  /** The intake answered an error itself (400, 408, 431, 505) and is closing the connection. */
  rejected?(session: HttpSession<L>, status: number, reason: string): void;
}

export interface HttpIntakeStats {
  requests: number;
  responses: number;
  /** Error responses by status. */
  errors: Record<400 | 408 | 431 | 505, number>;
  idleCloses: number;
}

export class HttpIntake<L = unknown> implements TcpHandler<TcpConnection<L>> {
  readonly config: HttpIntakeConfig;
  readonly stats: HttpIntakeStats = { requests: 0, responses: 0, errors: { 400: 0, 408: 0, 431: 0, 505: 0 }, idleCloses: 0 };

  constructor(
    readonly clock: Clock,
    readonly events: HttpIntakeEvents<L>,
    config: Partial<HttpIntakeConfig> = {},
  ) {
    this.config = { ...DEFAULT_HTTP_INTAKE_CONFIG, ...config };
  }

  /** The session of a connection (undefined before opened/adopted). */
  session(conn: TcpConnection<L>): HttpSession<L> | undefined {
    return conn.user instanceof HttpSession ? (conn.user as HttpSession<L>) : undefined;
  }

  opened(conn: TcpConnection<L>): void {
    const s = new HttpSession<L>(this, conn);
    conn.user = s;
    this.events.opened?.(s);
    s.startTimer(this.config.headerTimeoutMs);
    s.pump();
  }

  adopted(conn: TcpConnection<L>, how: Adoption): void {
    let s = this.session(conn);
    if (!s) {
      s = new HttpSession<L>(this, conn);
      conn.user = s;
    }
    s.backFromBackend(how.close);
    this.events.adopted?.(s);
    s.pump();
  }

  data(conn: TcpConnection<L>): void {
    this.session(conn)?.pump();
  }

  peerFinished(conn: TcpConnection<L>): void {
    this.session(conn)?.peerFinished();
  }

  closed(conn: TcpConnection<L>, reason: CloseReason): void {
    const s = this.session(conn);
    if (!s) return;
    s.onClosed();
    this.events.closed?.(s, reason);
  }
}

export class HttpSession<L = unknown> {
  private phaseValue: SessionPhase = SessionPhase.WAITING;
  private readonly parser: RequestHeadParser;
  private timer: unknown = null;
  /** The outstanding request. */
  private current: HttpRequest | null = null;
  /** Body bytes of an answered request still to be discarded. */
  private skip = 0;
  private pumping = false;
  /** Requests completed on this connection (answered here or by a backend). */
  served = 0;

  constructor(
    private readonly intake: HttpIntake<L>,
    readonly conn: TcpConnection<L>,
  ) {
    this.parser = new RequestHeadParser(intake.config);
  }

  get phase(): SessionPhase {
    return this.phaseValue;
  }

  /** The request delivered to the controller and not answered yet. */
  get request(): HttpRequest | null {
    return this.current;
  }

  /** Body bytes of the outstanding request received so far (grows while the client sends). */
  bodySoFar(): Buffer {
    const req = this.current;
    if (!req) return Buffer.alloc(0);
    const after = this.conn.peek().subarray(req.head.headLength);
    return req.head.contentLength !== null ? after.subarray(0, req.head.contentLength) : req.head.chunked ? after : Buffer.alloc(0);
  }

  /**
   * Answers the outstanding request from the controller. The request's head and body bytes are
   * consumed (body bytes not yet received are discarded when they come); then the connection is
   * kept alive when the request allows it (a chunked request body cannot be skipped here: that
   * connection is closed after the response), and the next pipelined request is parsed.
   */
  respond(status: number, headers: Readonly<Record<string, string>> = {}, body: string | Uint8Array = '', opts: { close?: boolean } = {}): void {
    const req = this.current;
    if (!req || this.phaseValue !== SessionPhase.OUTSTANDING) throw new Error('respond: no request is outstanding on this connection');
    const keepAlive = req.head.keepAlive && !req.head.chunked && !opts.close && !this.conn.peerFinished;
    this.conn.withBusy(() => {
      const cl = req.head.contentLength ?? 0;
      const available = Math.max(this.conn.readable - req.head.headLength, 0);
      this.conn.consume(req.head.headLength + Math.min(cl, available));
      this.skip = req.head.chunked ? 0 : Math.max(cl - available, 0);
      this.current = null;
      this.intake.stats.responses++;
      this.conn.send(
        buildResponse({ status, headers, body, keepAlive, http10: req.head.versionMinor === 0, headRequest: req.head.method === 'HEAD' }),
      );
      this.served++;
      if (!keepAlive) {
        this.close();
        return;
      }
      this.phaseValue = SessionPhase.WAITING;
      this.parser.reset();
      this.startTimer(this.intake.config.idleTimeoutMs);
      this.pump();
    });
  }

  /** The fallback when no backend can serve: 503 with a short body; the connection stays usable. */
  respond503(detail = 'no backend available'): void {
    this.respond(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '1' }, plainBody(503, detail));
  }

  // ------------------------------------------------------------ called by HttpIntake

  /**
   * @internal The connection came back from a backend: the outstanding request is done. `close`:
   * the request or the response asked to close, so the connection ends after the response (FIN
   * after the tail the connection retransmits if needed) and the unread bytes are discarded.
   */
  backFromBackend(close: boolean): void {
    if (this.current) this.served++;
    this.current = null;
    this.skip = 0;
    this.parser.reset();
    if (close) {
      this.close();
      return;
    }
    this.phaseValue = SessionPhase.WAITING;
    this.startTimer(this.intake.config.idleTimeoutMs);
  }

  /** @internal Parses what is unread, delivering at most one request at a time. */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      this.pumpLoop();
    } finally {
      this.pumping = false;
    }
  }

  private pumpLoop(): void {
    const conn = this.conn;
    const cfg = this.intake.config;
    for (;;) {
      if (conn.closed || conn.frozen) return;
      if (this.phaseValue === SessionPhase.CLOSING) {
        conn.consume(conn.readable);
        return;
      }
      if (this.phaseValue === SessionPhase.OUTSTANDING || this.phaseValue === SessionPhase.CLOSED) return;
      if (this.skip > 0) {
        const n = Math.min(this.skip, conn.readable);
        conn.consume(n);
        this.skip -= n;
        if (this.skip > 0) return;
      }
      const buf = conn.peek();
      if (buf.length === 0) {
        if (conn.peerFinished) this.close();
        return;
      }
      if (this.phaseValue === SessionPhase.WAITING) {
        this.phaseValue = SessionPhase.HEAD;
        // The first request's timer runs from the connection's start; a later one from its first byte.
        if (this.served > 0) this.startTimer(cfg.headerTimeoutMs);
      }
      const r = this.parser.feed(buf);
      if (r.kind === 'incomplete') {
        // A client that half-closes in the middle of a head will never complete it.
        if (conn.peerFinished) this.reject(400, 'connection closed in the middle of a request head');
        return;
      }
      if (r.kind === 'error') {
        this.reject(r.status, r.reason);
        return;
      }
      const head = r.head;
      this.stopTimer();
      this.phaseValue = SessionPhase.OUTSTANDING;
      const after = buf.subarray(head.headLength);
      const body = head.contentLength !== null ? after.subarray(0, head.contentLength) : head.chunked ? after : Buffer.alloc(0);
      this.current = { head, headBytes: Buffer.from(buf.subarray(0, head.headLength)), body: Buffer.from(body) };
      this.intake.stats.requests++;
      // ACK the complete head at once (the controller may zero the window before it leaves).
      conn.ackNow();
      this.intake.events.request(this.current, this);
    }
  }

  /** @internal */
  peerFinished(): void {
    if (this.phaseValue === SessionPhase.WAITING && this.conn.readable === 0) this.close();
    else this.pump();
  }

  /** @internal */
  onClosed(): void {
    this.stopTimer();
    this.phaseValue = SessionPhase.CLOSED;
    this.current = null;
  }

  /** @internal The header or idle timer fired. */
  private onTimer(): void {
    this.timer = null;
    if (this.conn.closed || this.conn.frozen) return;
    if (this.phaseValue === SessionPhase.HEAD || (this.phaseValue === SessionPhase.WAITING && this.served === 0)) {
      this.reject(408, 'request header not received in time');
    } else if (this.phaseValue === SessionPhase.WAITING) {
      this.intake.stats.idleCloses++;
      this.close();
    }
  }

  /** @internal */
  startTimer(ms: number): void {
    this.stopTimer();
    this.timer = this.intake.clock.setTimeout(() => this.onTimer(), ms);
  }

  private stopTimer(): void {
    if (this.timer !== null) this.intake.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Answers an intake error and closes (RFC 9112: after a framing error the connection cannot be reused). */
  private reject(status: 400 | 408 | 431 | 505, reason: string): void {
    this.intake.stats.errors[status]++;
    this.intake.events.rejected?.(this, status, reason);
    if (this.conn.closed || this.conn.frozen) return;
    this.conn.withBusy(() => {
      this.conn.send(buildResponse({ status, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: plainBody(status, reason), keepAlive: false }));
      this.close();
    });
  }

  private close(): void {
    this.stopTimer();
    this.phaseValue = SessionPhase.CLOSING;
    this.current = null;
    if (!this.conn.closed && !this.conn.frozen) {
      this.conn.consume(this.conn.readable);
      this.conn.end();
    }
  }
}

export { headerValue };
