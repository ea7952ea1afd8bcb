/**
 * The agent's side of the control protocol (proto/prism/control/v1/control.proto): a gRPC server
 * on each backend. Every call must carry `authorization: Bearer <token>` (the shared token the
 * controller is configured with); anything else is refused with UNAUTHENTICATED and nothing runs.
 * The transactions themselves (TCP_REPAIR, the application) live behind `TransactionHost`.
 */
import { mark } from '../core/timeline.js';
import { timingSafeEqual } from 'node:crypto';
import { rmSync } from 'node:fs';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { agentMessages, controllerMessages, MAX_CHANNEL_FRAME, MAX_HELLO_FRAME, readMessages } from '../core/control-channel.js';
import { logger } from '../core/log.js';
import { loadGrpcDefinitions } from '../core/proto.js';
import { fromConnectionState, toConnectionState } from '../native/repair.js';
import type { ConnectionStateRecord, LoadReport, ReleaseResult, TransactionHost } from './transaction-host.js';

const log = logger('agent');
type Obj = Record<string, any>;
export const CONTROL_PROTOCOL_VERSION = 'PROTOCOL_VERSION_1';

/** Why Prepare refused a transaction; the name is the RefuseReason enum's. */
export class RefusedError extends Error {
  readonly reason: string;
  constructor(reason: 'REFUSE_REASON_OVERLOADED' | 'REFUSE_REASON_DUPLICATE_TRANSACTION' | 'REFUSE_REASON_INVALID_STATE' | 'REFUSE_REASON_REPAIR_FAILED' | 'REFUSE_REASON_DEADLINE_EXCEEDED' | 'REFUSE_REASON_SHUTTING_DOWN', detail: string) {
    super(detail);
    this.reason = reason;
  }
}

export interface AgentServerOptions {
  readonly name: string;
  /** host:port to listen on. */
  readonly listen: string;
  /** The shared secret controllers present as a bearer token. */
  readonly token: string;
  /** The backend's address as clients' segments arrive to it (after the switch rewrite). */
  readonly backendAddress: string;
  readonly host: TransactionHost;
  /** Period of LoadReport events on the Events stream (ms). */
  readonly loadReportMs?: number;
  /**
   * TCP port of the framed control channel, on the gRPC listen address's host: 0 or unset = an
   * ephemeral port (Health names it), null = not served (controllers use the Session stream).
   */
  readonly channelPort?: number | null;
}

export class AgentServer {
  readonly #server = new grpc.Server();
  readonly #opts: AgentServerOptions;
  /** Where events go: every Events stream and every Session stream. */
  readonly #sinks = new Set<EventSink>();
  #address = '';
  #loadTimer: NodeJS.Timeout | undefined;
  readonly #calls: Record<SessionCall, (req: Obj) => Promise<Obj>>;
  /** The framed channel (control-channel.ts), when served. */
  #channel: net.Server | undefined;
  #channelPort = 0;
  #channelPath = '';
  readonly #channelSockets = new Set<net.Socket>();

  private constructor(opts: AgentServerOptions) {
    this.#opts = opts;
    const svc = loadGrpcDefinitions().prism.control.v1.Agent.service;
    const calls: Record<SessionCall, (req: Obj) => Promise<Obj>> = {
      prepare: async (req) => {
        mark('a-prep', req.transaction_id);
        try {
          await opts.host.prepare({
            id: BigInt(req.transaction_id),
            state: fromProto(req.connection),
            request: Buffer.from(req.request ?? []),
            body: Buffer.from(req.body ?? []),
            bodyLength: BigInt(req.body_length ?? 0),
            deadlineMs: Number(req.deadline_unix_ms ?? 0),
            keepMs: Number(req.keep_ms ?? 0),
            releaseOnDone: Boolean(req.release_on_done),
          });
          mark('a-restored', req.transaction_id);
          if (req.start) await opts.host.start(BigInt(req.transaction_id));
          mark('a-started', req.transaction_id);
          return { transaction_id: req.transaction_id, ready: { load: opts.host.load() } };
        } catch (err) {
          if (err instanceof RefusedError) return { transaction_id: req.transaction_id, refused: { reason: err.reason, detail: err.message } };
          throw err;
        }
      },
      start: async (req) => {
        await opts.host.start(BigInt(req.transaction_id));
        mark('a-started', req.transaction_id);
        return {};
      },
      continue: async (req) => {
        await opts.host.continue(BigInt(req.transaction_id), BigInt(req.next_transaction_id), Number(req.deadline_unix_ms ?? 0), Number(req.keep_ms ?? 0));
        return {};
      },
      release: async (req) => releaseResponse(req.transaction_id, await opts.host.release(BigInt(req.transaction_id))),
      abort: async (req) => ({ found: await opts.host.abort(BigInt(req.transaction_id), String(req.reason ?? '')) }),
    };
    this.#server.addService(svc, {
      Prepare: this.#unary(calls.prepare),
      Continue: this.#unary(calls.continue),
      Start: this.#unary(calls.start),
      Release: this.#unary(calls.release),
      Abort: this.#unary(calls.abort),
      Health: this.#unary(() => ({ agent: opts.name, version: '0.1.0', backend_address: opts.backendAddress, protocol_version: CONTROL_PROTOCOL_VERSION, channel_port: this.#channelPort, channel_path: this.#channelPath })),
      Events: (call: grpc.ServerWritableStream<Obj, Obj>) => {
        this.#subscribe(call, (event) => call.write(event));
      },
      Session: (call: grpc.ServerDuplexStream<Obj, Obj>) => {
        let open = true;
        const write = (m: Obj): void => {
          if (open) call.write(m);
        };
        if (!this.#subscribe(call, (event) => write({ call_id: '0', event }), () => (open = false))) return;
        call.on('data', (m: Obj) => this.#dispatch(m, write));
        call.on('end', () => call.end());
      },
    } as unknown as grpc.UntypedServiceImplementation);
    this.#calls = calls;
    opts.host.onNextRequest((r) => this.#broadcast({ next_request: { transaction_id: String(r.id), head: r.head, idle: r.idle } }));
    opts.host.onDone((d) =>
      this.#broadcast({
        done: {
          transaction_id: String(d.id),
          bytes_sent: String(d.bytesSent),
          bytes_received: String(d.bytesReceived),
          load: opts.host.load(),
          close_requested: d.closeRequested,
          ...(d.released ? { released: releaseResponse(String(d.id), d.released) } : {}),
        },
      }),
    );
    opts.host.onAborted((id, reason) => this.#broadcast({ aborted: { transaction_id: String(id), reason } }));
  }

  static async start(opts: AgentServerOptions): Promise<AgentServer> {
    if (opts.token.length < 16) throw new RefusedError('REFUSE_REASON_INVALID_STATE', 'the agent token must be at least 16 characters');
    const s = new AgentServer(opts);
    const port = await new Promise<number>((resolve, reject) =>
      s.#server.bindAsync(opts.listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    s.#address = opts.listen.replace(/:\d+$/, `:${port}`);
    if (opts.channelPort !== null) {
      try {
        if (opts.listen.startsWith('unix:')) await s.#listenChannel({ path: `${opts.listen.slice(5)}.channel` });
        else await s.#listenChannel({ host: opts.listen.replace(/:\d+$/, ''), port: opts.channelPort ?? 0 });
      } catch (err) {
        s.#server.forceShutdown();
        throw err;
      }
    }
    s.#loadTimer = setInterval(() => s.#broadcast({ load: opts.host.load() }), opts.loadReportMs ?? 1000);
    s.#loadTimer.unref();
    log.info({ name: opts.name, address: s.#address }, 'agent listening');
    return s;
  }

  get address(): string {
    return this.#address;
  }

  /** The framed channel's TCP port (0 when it is not served on TCP). */
  get channelPort(): number {
    return this.#channelPort;
  }

  /** The framed channel's unix socket path ('' when it is not served on one). */
  get channelPath(): string {
    return this.#channelPath;
  }

  async stop(): Promise<void> {
    if (this.#loadTimer) clearInterval(this.#loadTimer);
    for (const s of this.#sinks) s.end();
    if (this.#channel) {
      const closed = new Promise<void>((resolve) => this.#channel!.close(() => resolve()));
      for (const sock of this.#channelSockets) sock.end();
      const t = setTimeout(() => {
        for (const sock of this.#channelSockets) sock.destroy();
      }, 1000);
      await closed;
      clearTimeout(t);
    }
    await new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
    this.#server.forceShutdown();
  }

  /**
   * A stream that receives the agent's events (Events, Session): authorized, or destroyed with
   * UNAUTHENTICATED (false); sent the current load at once; dropped from the broadcast when it
   * ends, is cancelled or fails (`gone` runs then too).
   */
  #subscribe(call: grpc.ServerWritableStream<Obj, Obj> | grpc.ServerDuplexStream<Obj, Obj>, write: (event: Obj) => void, gone?: () => void): boolean {
    if (!this.#authorized(call.metadata)) {
      // grpc-js ends a server stream with the status of an 'error' it emits; destroy() would drop
      // the stream without one, and the caller would wait on it forever.
      call.emit('error', Object.assign(new Error('missing or wrong bearer token'), { code: grpc.status.UNAUTHENTICATED }));
      return false;
    }
    const sink: EventSink = { write, end: () => call.end() };
    this.#sinks.add(sink);
    write({ load: this.#opts.host.load() });
    const drop = (): void => {
      this.#sinks.delete(sink);
      gone?.();
    };
    for (const ev of ['end', 'cancelled', 'close', 'error']) call.on(ev, drop);
    return true;
  }

  /** One call of a Session stream or framed channel; its answer (or error) goes to `write`. */
  #dispatch(m: Obj, write: (m: Obj) => void): void {
    const kind = m.call as SessionCall | undefined;
    const fn = kind ? this.#calls[kind] : undefined;
    if (!fn) return write({ call_id: m.call_id, error: { code: grpc.status.UNIMPLEMENTED, message: `unknown call ${String(kind)}` } });
    fn(m[kind!] ?? {}).then(
      (res) => write({ call_id: m.call_id, [kind!]: res }),
      (err: unknown) => {
        log.warn({ err, call: kind }, 'control call failed');
        write({ call_id: m.call_id, error: { code: (err as { grpcCode?: number }).grpcCode ?? grpc.status.INTERNAL, message: (err as Error).message } });
      },
    );
  }

  /**
   * The framed channel: a TCP server whose connections carry the Session stream's messages
   * (core/control-channel.ts). The first frame must be a hello with the token; anything else
   * is answered with UNAUTHENTICATED and the connection closed.
   */
  async #listenChannel(where: { readonly host: string; readonly port: number } | { readonly path: string }): Promise<void> {
    const codec = agentMessages();
    const server = net.createServer((sock) => {
      sock.setNoDelay(true);
      this.#channelSockets.add(sock);
      let sink: EventSink | undefined;
      let refused = false;
      const write = (m: Obj): void => {
        if (!sock.destroyed && sock.writable) sock.write(codec.frame(m));
      };
      const gone = (): void => {
        this.#channelSockets.delete(sock);
        if (sink) this.#sinks.delete(sink);
        sink = undefined;
      };
      sock.on('close', gone);
      sock.on('error', (err) => log.debug({ err: err.message }, 'control channel connection failed'));
      const reader = readMessages(
        sock,
        controllerMessages(),
        (m) => {
          if (sink) return this.#dispatch(m, write);
          if (refused) return;
          const token = m.call === 'hello' ? String(m.hello?.token ?? '') : '';
          if (!this.#tokenMatches(`Bearer ${token}`)) {
            refused = true;
            write({ call_id: '0', error: { code: grpc.status.UNAUTHENTICATED, message: 'missing or wrong bearer token' } });
            sock.end();
            return;
          }
          reader.limit = MAX_CHANNEL_FRAME;
          sink = { write: (event) => write({ call_id: '0', event }), end: () => sock.end() };
          this.#sinks.add(sink);
          write({ call_id: '0', event: { load: this.#opts.host.load() } });
        },
        (err) => log.warn({ err: err.message }, 'malformed frame on the control channel; connection closed'),
      );
      reader.limit = MAX_HELLO_FRAME;
    });
    if ('path' in where) rmSync(where.path, { force: true }); // a socket left by an agent that died
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const ready = (): void => {
        server.off('error', reject);
        resolve();
      };
      if ('path' in where) server.listen(where.path, ready);
      else server.listen(where.port, where.host.replace(/^\[|\]$/g, ''), ready);
    });
    this.#channel = server;
    if ('path' in where) this.#channelPath = where.path;
    else this.#channelPort = (server.address() as net.AddressInfo).port;
    log.info({ port: this.#channelPort, path: this.#channelPath }, 'control channel listening');
  }

  #broadcast(event: Obj): void {
    for (const s of this.#sinks) s.write(event);
  }

  #authorized(md: grpc.Metadata): boolean {
    return this.#tokenMatches(String(md.get('authorization')[0] ?? ''));
  }

  #tokenMatches(got: string): boolean {
    const want = `Bearer ${this.#opts.token}`;
    return got.length === want.length && timingSafeEqual(Buffer.from(got), Buffer.from(want));
  }

  #unary(fn: (req: Obj) => Obj | Promise<Obj>) {
    return (call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>): void => {
      if (!this.#authorized(call.metadata)) {
        cb({ code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong bearer token' } as grpc.ServiceError);
        return;
      }
      Promise.resolve()
        .then(() => fn(call.request))
        .then((r) => cb(null, r))
        .catch((err: unknown) => {
          const code = (err as { grpcCode?: number }).grpcCode ?? grpc.status.INTERNAL;
          log.warn({ err }, 'control call failed');
          cb({ code, details: (err as Error).message } as grpc.ServiceError);
        });
    };
  }
}

/** The calls a Session stream carries (ControllerMessage.call). */
type SessionCall = 'prepare' | 'start' | 'continue' | 'release' | 'abort';

interface EventSink {
  write(event: Obj): void;
  end(): void;
}

/** A ReleaseResponse: for the Release call and for Done.released. */
function releaseResponse(transactionId: string, r: ReleaseResult): Obj {
  return { transaction_id: transactionId, state: toConnectionState(r.state), unread: r.unread, unacked: r.unacked, bytes_sent: String(r.bytesSent) };
}

function fromProto(c: Obj | null | undefined): ConnectionStateRecord {
  if (!c) throw new RefusedError('REFUSE_REASON_INVALID_STATE', 'Prepare without a connection state');
  const { recvQueue: _unused, ...state } = fromConnectionState(c);
  return state;
}

export type { LoadReport };
