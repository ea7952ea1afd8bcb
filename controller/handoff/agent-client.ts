/**
 * The controller's client of one agent's control protocol. The hand-off calls (Prepare, Continue,
 * Release, Abort) and the agent's events (Done, Aborted, NextRequest, LoadReport) share one
 * persistent Session stream, kept open with reconnects: a call is one message each way, with no
 * HTTP/2 stream of its own. Health stays a unary call. The stream carries the bearer token.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
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

export type AgentCall = 'Prepare' | 'Continue' | 'Release' | 'Abort';
const SESSION_FIELD: Record<AgentCall, string> = { Prepare: 'prepare', Continue: 'continue', Release: 'release', Abort: 'abort' };

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
  #session: grpc.ClientDuplexStream<Obj, Obj> | undefined;
  readonly #pending = new Map<string, PendingCall>();
  #nextCall = 1n;
  #closed = false;
  #up = false;
  load: AgentLoad | undefined;

  constructor(name: string, address: string, token: string) {
    super();
    this.name = name;
    this.address = address;
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

  #openSession(): void {
    if (this.#closed) return;
    const s = this.#stub.Session(this.#md) as grpc.ClientDuplexStream<Obj, Obj>;
    this.#session = s;
    s.on('data', (m: Obj) => {
      if (m.call_id && m.call_id !== '0') return this.#answer(m);
      if (m.event) this.#event(m.event);
    });
    const lost = (err?: grpc.ServiceError): void => {
      if (this.#session !== s) return;
      this.#session = undefined;
      // Calls in flight may have reached the agent: not neverSent.
      for (const [id, p] of this.#pending) {
        clearTimeout(p.timer);
        this.#pending.delete(id);
        p.reject(new AgentCallError(p.method, grpc.status.UNAVAILABLE, `Connection dropped: ${err?.details ?? 'the session stream ended'}`));
      }
      if (this.#up) {
        this.#up = false;
        this.emit('down', err?.details ?? 'stream ended');
      }
      if (err?.code === grpc.status.UNAUTHENTICATED) log.error({ agent: this.name }, 'the agent refused our token');
      if (!this.#closed) setTimeout(() => this.#openSession(), 500).unref();
    };
    s.on('error', lost);
    s.on('end', () => lost());
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
    this.#session?.cancel();
    this.#stub.close();
  }
}
