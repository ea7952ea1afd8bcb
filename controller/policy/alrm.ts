/**
 * The ALRM interface (Anypoint's Application Layer Routing Module, Table 1), adapted to
 * transactions (ARCHITECTURE section 7):
 *
 *   init(config) · uninit() · addConn(conn) · rmConn(conn) · redirect(request, conn, view) → backend | reject · retire(transaction)
 *
 * A policy is deterministic and non-blocking: every upcall is synchronous, sees only plain data
 * (the request, the connection, a read-only view of the backends) and its own bounded private
 * state. The PolicyEngine (engine.ts) calls it under a time budget and measures its state.
 *
 * Everything crossing this interface is plain, frozen, JSON-serialisable data: no live objects of
 * the controller ever reach a policy.
 */

/** The request a transaction starts with. Header names are lower-case; repeated fields are joined with ", ". */
export interface PolicyRequest {
  readonly method: string;
  /** The request target as sent (e.g. /a/b?x=1). */
  readonly target: string;
  /** The target without its query string. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Content-Length, or null (no body, or chunked). */
  readonly contentLength: number | null;
  /** For binary protocols: a routing key read at a known offset by the protocol's parser. */
  readonly key?: string;
}

/** A client connection to a VIP. `id` is stable for the connection's life. */
export interface PolicyConn {
  readonly id: string;
  /** client ip:port */
  readonly client: string;
  /** VIP ip:port */
  readonly vip: string;
  readonly openedAtMs: number;
}

/** Load figures an agent reports for its backend (ARCHITECTURE section 6). */
export interface BackendLoad {
  readonly activeTransactions: number;
  /** Bytes per second sent to clients recently (agent's moving average). */
  readonly recentThroughputBps: number;
  /** Requests waiting in the application's accept/work queue. */
  readonly queueLength: number;
}

export interface BackendView {
  readonly name: string;
  /** The agent's control connection is up. */
  readonly up: boolean;
  /** Draining: current transactions finish, no new one may start here. */
  readonly draining: boolean;
  /** Relative share (0 = no new transactions). */
  readonly weight: number;
  readonly load: BackendLoad;
}

/** The read-only world a policy decides from. */
export interface PolicyView {
  readonly backends: readonly BackendView[];
  /** Live client connections. */
  readonly connections: number;
  readonly nowMs: number;
}

/**
 * What redirect() returns: a backend name, or a refusal the controller answers itself. The object
 * form `{ backend, sticky: true }` also says that the connection's next requests will most likely
 * go to the same backend: the controller then keeps the transaction's socket and rules for the
 * next request at once (speculative rule caching) instead of waiting for two repeats.
 */
export type Decision = string | { readonly backend: string; readonly sticky?: boolean } | { readonly reject: number; readonly reason: string };

/** A finished transaction (retire upcall): the policy may recycle state it kept for it. */
export interface PolicyTransaction {
  readonly id: string;
  readonly connId: string;
  readonly backend: string;
  /** 'done', or the failure outcome (see HandoffManager Outcome). */
  readonly outcome: string;
  readonly durationMs: number;
  readonly bytesSent: number;
}

/** Content-aware policies: request key → bucket → backend. */
export interface BucketMap {
  /** What the key is: 'path', or 'header:<name>'. */
  readonly key: string;
  readonly count: number;
  /** buckets[i] is the backend of bucket i, or null while unassigned. */
  readonly buckets: readonly (string | null)[];
}

export interface BucketMove {
  readonly bucket: number;
  readonly to: string;
}

/**
 * A policy instance. The six upcalls are the ALRM interface; the optional members are
 * extensions the engine and the admin API use when present.
 */
export interface Policy {
  init(config: unknown): void;
  uninit(): void;
  addConn(conn: PolicyConn): void;
  rmConn(conn: PolicyConn): void;
  redirect(request: PolicyRequest, conn: PolicyConn, view: PolicyView): Decision;
  retire(transaction: PolicyTransaction): void;
  /**
   * The policy's private state, JSON-serialisable; the engine measures its size against the
   * state budget. Required for module policies (their memory cannot be bounded otherwise).
   */
  state?(): unknown;
  /** JSON Schema of init's config; the engine validates the config against it before init. */
  readonly configSchema?: object;
  readonly description?: string;
  buckets?(): BucketMap;
  keyBucket?(key: string): number;
  moveBuckets?(moves: readonly BucketMove[]): void;
}

/** How a module's default export (or a built-in) produces instances. */
export type PolicyFactory = () => Policy;

/** The six ALRM upcalls, in the order a validator checks them. */
export const ALRM_FUNCTIONS = ['init', 'uninit', 'addConn', 'rmConn', 'redirect', 'retire'] as const;

export function isReject(d: Decision): d is { readonly reject: number; readonly reason: string } {
  return typeof d === 'object' && d !== null && 'reject' in d;
}

/** The object form of a backend decision ({ backend, sticky }). */
export function isBackend(d: Decision): d is { readonly backend: string; readonly sticky?: boolean } {
  return typeof d === 'object' && d !== null && typeof (d as { backend?: unknown }).backend === 'string';
}

/** Backends a new transaction may start on: up, not draining, weight > 0. */
export function eligible(view: PolicyView): BackendView[] {
  return view.backends.filter((b) => b.up && !b.draining && b.weight > 0);
}
