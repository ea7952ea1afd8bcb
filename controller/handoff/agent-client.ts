/**
 * The controller's client of one agent's control protocol: unary calls with deadlines, and the
 * Events stream (Done, Aborted, LoadReport) kept open with reconnects. Every call carries the
 * bearer token.
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
    this.neverSent = grpcCode === grpc.status.UNAVAILABLE && message.includes('No connection established');
  }
}

export interface AgentLoad {
  readonly activeTransactions: number;
  readonly queueLength: number;
  readonly cpuUtilization: number;
  readonly recentThroughputBps: number;
  readonly at: number;
}

/**
 * Events: 'done' (id, bytesSent, bytesReceived), 'aborted' (id, reason), 'next' (id, head, idle: a kept
 * transaction's next request), 'load' (AgentLoad), 'up', 'down'.
 */
export class AgentClient extends EventEmitter {
  readonly name: string;
  readonly address: string;
  readonly #stub: any;
  readonly #md = new grpc.Metadata();
  #events: grpc.ClientReadableStream<Obj> | undefined;
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
    this.#openEvents();
  }

  get up(): boolean {
    return this.#up;
  }

  call<T = Obj>(method: 'Prepare' | 'Start' | 'Continue' | 'Release' | 'Abort' | 'Health', req: Obj, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      this.#stub[method](req, this.#md, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: T) => {
        if (err) reject(new AgentCallError(method, err.code, err.details || err.message));
        else resolve(res);
      });
    });
  }

  #openEvents(): void {
    if (this.#closed) return;
    const s = this.#stub.Events({ controller_id: 'prism' }, this.#md) as grpc.ClientReadableStream<Obj>;
    this.#events = s;
    s.on('data', (ev: Obj) => {
      if (!this.#up) {
        this.#up = true;
        this.emit('up');
      }
      if (ev.event === 'done') this.emit('done', BigInt(ev.done.transaction_id), BigInt(ev.done.bytes_sent), BigInt(ev.done.bytes_received ?? 0));
      else if (ev.event === 'aborted') this.emit('aborted', BigInt(ev.aborted.transaction_id), String(ev.aborted.reason));
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
    });
    const lost = (err?: grpc.ServiceError): void => {
      if (this.#events !== s) return;
      this.#events = undefined;
      if (this.#up) {
        this.#up = false;
        this.emit('down', err?.details ?? 'stream ended');
      }
      if (err?.code === grpc.status.UNAUTHENTICATED) log.error({ agent: this.name }, 'the agent refused our token');
      if (!this.#closed) setTimeout(() => this.#openEvents(), 500).unref();
    };
    s.on('error', lost);
    s.on('end', () => lost());
  }

  close(): void {
    this.#closed = true;
    this.#events?.cancel();
    this.#stub.close();
  }
}
