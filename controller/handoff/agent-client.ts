/**
 * The controller's client of one agent's control protocol. The hand-off calls (Prepare, Start,
 * Continue, Release, Abort) and the agent's events (Done, Aborted, NextRequest, LoadReport) share
 * one persistent link, kept open with reconnects: a call is one message each way. The link is the
 * framed channel (core/control-channel.ts) when the agent names one in Health, else the gRPC
 * Session stream. Health stays a unary call. Both links carry the bearer token.
 */
import { mark } from '../../core/timeline.js';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { agentMessages, controllerMessages, readMessages } from '../../core/control-channel.js';
import { PrismError } from '../../core/errors.js';
import { logger } from '../../core/log.js';
import { loadGrpcDefinitions } from '../../core/proto.js';

const log = logger('agent-client');
type Obj = Record<string, any>;

export class AgentCallError extends PrismError {
  readonly grpcCode: number;
  readonly call: string;
  /**
   * True only when the call never left this process: the channel had no connection to the agent
   * (grpc-js fails such a call with UNAVAILABLE "No connection established"). Any other
   * UNAVAILABLE ("Connection dropped", ECONNRESET) may come after the agent acted on the call.
   */
  readonly neverSent: boolean;
  constructor(call: string, grpcCode: number, message: string) {
    super('PRISM_ERR_AGENT_CALL', `agent ${call} failed (${grpc.status[grpcCode] ?? grpcCode}): ${message}`);
    this.grpcCode = grpcCode;
    this.call = call;
    this.neverSent = grpcCode === grpc.status.UNAVAILABLE && message.includes(NOT_CONNECTED);
  }
}

/** The message of a call that was never sent (no Session stream): grpc-js's wording for the same case. */
const NOT_CONNECTED = 'No connection established';

export type AgentCall = 'Prepare' | 'Start' | 'Continue' | 'Release' | 'Abort';
const SESSION_FIELD: Record<AgentCall, string> = { Prepare: 'prepare', Start: 'start', Continue: 'continue', Release: 'release', Abort: 'abort' };

/** What the hand-off calls travel on. */
interface SessionLink {
  readonly kind: 'channel' | 'grpc';
  write(m: Obj): void;
  close(): void;
}

/** Where an agent's framed channel listens, from its gRPC address and its Health answer; null = not served. */
function channelOf(address: string, health: Obj): net.NetConnectOpts | null {
  if (address.startsWith('unix:')) return health.channel_path ? { path: String(health.channel_path) } : null;
  const port = Number(health.channel_port ?? 0);
  const m = /^(?:dns:\/\/\/)?(\[[^\]]+\]|[^:]+):\d+$/.exec(address);
  return port > 0 && m ? { host: m[1]!.replace(/^\[|\]$/g, ''), port } : null;
}

interface PendingCall {
  readonly method: AgentCall;
  readonly resolve: (res: Obj) => void;
  readonly reject: (err: AgentCallError) => void;
  readonly timer: NodeJS.Timeout;
}

export interface AgentLoad {
  readonly activeTransactions: number;
  readonly queueLength: number;
  readonly cpuUtilization: number;
  readonly recentThroughputBps: number;
  readonly at: number;
}

/**
 * Events: 'done' (id, bytesSent, bytesReceived, released: the ReleaseResponse when prepared with
 * release_on_done, closeRequested: the application ended the connection), 'aborted' (id,
 * reason), 'next' (id, head, idle: a kept transaction's next request), 'load' (AgentLoad), 'up',
 * 'down'.
 */
export class AgentClient extends EventEmitter {
  readonly name: string;
  readonly address: string;
  readonly #stub: any;
  readonly #md = new grpc.Metadata();
  #session: SessionLink | undefined;
  readonly #token: string;
  readonly #useChannel: boolean;
  readonly #pending = new Map<string, PendingCall>();
  #nextCall = 1n;
  #closed = false;
  #up = false;
  load: AgentLoad | undefined;

  /** `channel: false`: use the gRPC Session stream even when the agent serves the framed channel. */
  constructor(name: string, address: string, token: string, opts: { readonly channel?: boolean } = {}) {
    super();
    this.name = name;
    this.address = address;
    this.#token = token;
    this.#useChannel = opts.channel !== false;
    const Agent = loadGrpcDefinitions().prism.control.v1.Agent;
    this.#stub = new Agent(address, grpc.credentials.createInsecure());
    this.#md.set('authorization', `Bearer ${token}`);
    this.#openSession();
  }

  get up(): boolean {
    return this.#up;
  }

  /** A hand-off call on the Session stream; fails with AgentCallError (neverSent when there is no stream). */
  call<T = Obj>(method: AgentCall, req: Obj, timeoutMs: number): Promise<T> {
    const s = this.#session;
    if (!s || !this.#up) return Promise.reject(new AgentCallError(method, grpc.status.UNAVAILABLE, `${NOT_CONNECTED} to agent ${this.name}`));
    const id = String(this.#nextCall++);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new AgentCallError(method, grpc.status.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { method, resolve: resolve as (r: Obj) => void, reject, timer });
      s.write({ call_id: id, [SESSION_FIELD[method]]: req });
    });
  }

  /** Health, a unary call of its own. */
  health(timeoutMs: number): Promise<Obj> {
    return new Promise((resolve, reject) => {
      this.#stub.Health({}, this.#md, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: Obj) => {
        if (err) reject(new AgentCallError('Health', err.code, err.details || err.message));
        else resolve(res);
      });
    });
  }

  /**
   * Opens the link the hand-off calls travel on: the framed channel when the agent names one in
   * Health (and this client may use it), else the gRPC Session stream. Reopened 500 ms after it
   * is lost, until close().
   */
  #openSession(): void {
    if (this.#closed) return;
    if (this.#useChannel) {
      this.health(2000).then(
        (h) => {
          if (this.#closed) return;
          const where = channelOf(this.address, h);
          if (where) this.#openChannel(where);
          else this.#openGrpcSession();
        },
        (err: AgentCallError) => {
          if (err.grpcCode === grpc.status.UNAUTHENTICATED) log.error({ agent: this.name }, 'the agent refused our token');
          this.#retrySoon();
        },
      );
    } else this.#openGrpcSession();
  }

  #retrySoon(): void {
    if (!this.#closed) setTimeout(() => this.#openSession(), 500).unref();
  }

  #onMessage(m: Obj): void {
    mark('ag-msg', m.call_id);
    if (m.call_id && m.call_id !== '0') return this.#answer(m);
    if (m.event) this.#event(m.event);
  }

  /** The link is gone: calls in flight fail (they may have reached the agent: not neverSent), 'down', reopen later. */
  #lost(link: SessionLink, detail: string, unauthenticated: boolean): void {
    if (this.#session !== link) return;
    this.#session = undefined;
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(new AgentCallError(p.method, grpc.status.UNAVAILABLE, `Connection dropped: ${detail}`));
    }
    if (this.#up) {
      this.#up = false;
      this.emit('down', detail);
    }
    if (unauthenticated) log.error({ agent: this.name }, 'the agent refused our token');
    this.#retrySoon();
  }

  #openGrpcSession(): void {
    const s = this.#stub.Session(this.#md) as grpc.ClientDuplexStream<Obj, Obj>;
    const link: SessionLink = { kind: 'grpc', write: (m) => s.write(m), close: () => s.cancel() };
    this.#session = link;
    s.on('data', (m: Obj) => this.#onMessage(m));
    s.on('error', (err: grpc.ServiceError) => this.#lost(link, err.details ?? err.message, err.code === grpc.status.UNAUTHENTICATED));
    s.on('end', () => this.#lost(link, 'the session stream ended', false));
  }

  /** The framed channel (core/control-channel.ts): hello with the token, then the Session's messages. */
  #openChannel(where: net.NetConnectOpts): void {
    const sock = net.connect(where);
    sock.setNoDelay(true);
    const codec = controllerMessages();
    const link: SessionLink = { kind: 'channel', write: (m) => void sock.write(codec.frame(m)), close: () => sock.destroy() };
    this.#session = link;
    let refused = false;
    sock.once('connect', () => sock.write(codec.frame({ call_id: '0', hello: { token: this.#token } })));
    readMessages(
      sock,
      agentMessages(),
      (m) => {
        if ((!m.call_id || m.call_id === '0') && m.message === 'error') {
          refused = Number(m.error?.code) === grpc.status.UNAUTHENTICATED;
          sock.destroy();
          return this.#lost(link, String(m.error?.message ?? 'the agent closed the channel'), refused);
        }
        this.#onMessage(m);
      },
      (err) => log.warn({ agent: this.name, err: err.message }, 'malformed frame from the agent; channel closed'),
    );
    sock.on('error', (err) => this.#lost(link, err.message, false));
    sock.on('close', () => this.#lost(link, 'the control channel closed', refused));
  }

  /** Which link the hand-off calls use now ('channel': framed TCP; 'grpc': the Session stream). */
  get link(): 'channel' | 'grpc' | null {
    return this.#session?.kind ?? null;
  }

  #answer(m: Obj): void {
    const p = this.#pending.get(m.call_id);
    if (!p) return; // timed out already
    this.#pending.delete(m.call_id);
    clearTimeout(p.timer);
    if (m.message === 'error') p.reject(new AgentCallError(p.method, Number(m.error.code), String(m.error.message)));
    else p.resolve(m[m.message] ?? {});
  }

  #event(ev: Obj): void {
    if (!this.#up) {
      this.#up = true;
      this.emit('up');
    }
    if (ev.event === 'done') {
      const d = ev.done;
      this.emit('done', BigInt(d.transaction_id), BigInt(d.bytes_sent), BigInt(d.bytes_received ?? 0), d.released ?? undefined, d.close_requested === true);
    } else if (ev.event === 'aborted') this.emit('aborted', BigInt(ev.aborted.transaction_id), String(ev.aborted.reason));
    else if (ev.event === 'next_request') this.emit('next', BigInt(ev.next_request.transaction_id), Buffer.from(ev.next_request.head ?? []), Boolean(ev.next_request.idle));
    const l = ev.load ?? ev.done?.load;
    if (l) {
      this.load = {
        activeTransactions: l.active_transactions,
        queueLength: l.queue_length,
        cpuUtilization: l.cpu_utilization,
        recentThroughputBps: Number(l.recent_throughput_bps),
        at: Date.now(),
      };
      this.emit('load', this.load);
    }
  }

  close(): void {
    this.#closed = true;
    this.#session?.close();
    this.#stub.close();
  }
}
