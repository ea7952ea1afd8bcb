/**
 * The PolicyEngine holds the installed policies and the active one, and is the only caller of
 * their upcalls. What it guarantees:
 *
 * - Install validates before anything runs against traffic: the six ALRM functions exist (and
 *   state() for a module policy), the config matches the policy's JSON Schema, init() returns
 *   within its budget without throwing, the state after init fits the state budget. A refusal
 *   is a PolicyError whose `reason` says which check failed.
 * - Swap (activate) never drops a connection: the new policy first gets addConn for every live
 *   connection, then becomes active in one assignment (JavaScript runs one decision at a time,
 *   so every decision sees exactly one policy); the old one gets rmConn for each and stays
 *   installed, ready to be activated again. Transactions the old policy decided are retired
 *   into it.
 * - decide() never throws and always answers: a forced backend (admin API), else the active
 *   policy's choice, else — when the policy throws, overruns its call budget, is cut off by the
 *   VM timeout, returns an invalid decision, or is suspended — the default policy (round robin).
 *   Every such fault is logged, counted (per kind, per policy) and emitted as a 'fault' event.
 * - Bounded state: the policy's state() is measured as JSON size after init and every
 *   `stateCheckEvery` decisions; over budget, the policy is suspended (decisions go to the
 *   default) until it is activated again.
 * - A policy with `faultLimit` consecutive faults is suspended the same way.
 *
 * Invariant: `#active` is always an installed policy; the entry 'default' (round robin) is
 * installed at construction and cannot be removed.
 */
import { EventEmitter } from 'node:events';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Logger } from 'pino';
import { logger } from '../../core/log.js';
import {
  ALRM_FUNCTIONS,
  eligible,
  isBackend,
  isReject,
  type BucketMap,
  type BucketMove,
  type Policy,
  type PolicyConn,
  type PolicyFactory,
  type PolicyRequest,
  type PolicyTransaction,
  type PolicyView,
} from './alrm.js';
import { BUILTIN_POLICIES, DEFAULT_POLICY, rebalanceMoves } from './builtins/index.js';
import { FAULT_KINDS, PolicyError, type FaultKind } from './errors.js';
import { CallGuard, type GuardResult } from './guard.js';
import { loadPolicyModule } from './module-loader.js';

export interface PolicyLimits {
  /** Budget of one upcall (ms). Over it: overrun (result discarded); module policies are cut off at it. */
  readonly callMs: number;
  /** Budget of the factory and init() (ms). */
  readonly initMs: number;
  /** Largest JSON size of state() (bytes, as UTF-16 code units of the JSON text). */
  readonly stateBytes: number;
  /** Decisions between two state measurements. */
  readonly stateCheckEvery: number;
  /** Consecutive faults after which a policy is suspended. */
  readonly faultLimit: number;
}

export const DEFAULT_LIMITS: PolicyLimits = { callMs: 20, initMs: 200, stateBytes: 1 << 20, stateCheckEvery: 1000, faultLimit: 20 };

export interface PolicyEngineOptions {
  readonly limits?: Partial<PolicyLimits>;
  /** Extra trusted policies compiled into the controller, by name (measured, not sandboxed). */
  readonly builtins?: Readonly<Record<string, PolicyFactory>>;
  /** When set, module paths must resolve inside one of these directories. */
  readonly moduleDirs?: readonly string[];
  readonly log?: Logger;
}

export type InstallSpec =
  | { readonly id?: string; readonly builtin: string; readonly config?: unknown }
  | { readonly id?: string; readonly module: string; readonly config?: unknown };

export type DecisionSource = 'policy' | 'forced' | 'default';

export type EngineDecision =
  | { readonly backend: string; readonly policy: string; readonly source: DecisionSource; readonly fault?: FaultKind; readonly sticky?: boolean }
  | { readonly reject: number; readonly reason: string; readonly policy: string; readonly source: DecisionSource; readonly fault?: FaultKind };

export interface PolicyCallStats {
  calls: number;
  decisions: number;
  faults: Record<FaultKind, number>;
  consecutiveFaults: number;
  lastFault: { kind: FaultKind; message: string; atMs: number } | null;
  /** Longest upcall seen (ms). */
  maxCallMs: number;
}

export interface PolicyInfo {
  readonly id: string;
  readonly kind: 'builtin' | 'module';
  /** Built-in name, or the module's absolute path. */
  readonly source: string;
  readonly config: unknown;
  readonly description: string;
  readonly active: boolean;
  readonly suspended: string | null;
  readonly sandboxed: boolean;
  readonly hasBuckets: boolean;
  readonly stateBytes: number | null;
  readonly installedAtMs: number;
  readonly stats: Readonly<PolicyCallStats>;
}

export interface FaultEvent {
  readonly policy: string;
  readonly call: string;
  readonly kind: FaultKind;
  readonly message: string;
}

export interface EngineStats {
  decisions: number;
  bySource: Record<DecisionSource, number>;
  faults: Record<FaultKind, number>;
  swaps: number;
  suspensions: number;
  rejects: number;
}

interface Installed {
  readonly id: string;
  readonly kind: 'builtin' | 'module';
  readonly source: string;
  readonly config: unknown;
  readonly policy: Policy;
  readonly guard: CallGuard;
  readonly installedAtMs: number;
  readonly stats: PolicyCallStats;
  stateBytes: number | null;
  suspended: string | null;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const zeroFaults = (): Record<FaultKind, number> => Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;

export class PolicyEngine extends EventEmitter {
  readonly limits: PolicyLimits;
  readonly stats: EngineStats = { decisions: 0, bySource: { policy: 0, forced: 0, default: 0 }, faults: zeroFaults(), swaps: 0, suspensions: 0, rejects: 0 };
  readonly #log: Logger;
  readonly #moduleDirs: readonly string[] | undefined;
  readonly #builtins: Readonly<Record<string, PolicyFactory>>;
  readonly #installed = new Map<string, Installed>();
  readonly #conns = new Map<string, PolicyConn>();
  readonly #forced = new Map<string, string>();
  /** The default policy's own instance: never swapped, used for every fallback decision. */
  readonly #fallback: Policy;
  readonly #ajv = new Ajv({ allErrors: true, strict: false });
  #active: Installed;
  #seq = 0;

  constructor(opts: PolicyEngineOptions = {}) {
    super();
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.#log = opts.log ?? logger('policy');
    this.#moduleDirs = opts.moduleDirs;
    this.#builtins = { ...opts.builtins, ...BUILTIN_POLICIES };
    this.#fallback = BUILTIN_POLICIES[DEFAULT_POLICY]!();
    this.#fallback.init({});
    const def = this.#build('default', 'builtin', DEFAULT_POLICY, {}, BUILTIN_POLICIES[DEFAULT_POLICY]!, undefined);
    this.#installed.set(def.id, def);
    this.#active = def;
  }

  // ------------------------------------------------------------------ install / swap

  /** Validates and initialises a policy; it is installed inactive (see activate). */
  async install(spec: InstallSpec): Promise<PolicyInfo> {
    const id = spec.id ?? this.#freshId('builtin' in spec ? spec.builtin : 'module');
    if (!ID.test(id)) throw new PolicyError('bad_config', `policy id ${JSON.stringify(id)} must match ${ID.source}`);
    if (this.#installed.has(id)) throw new PolicyError('conflict', `a policy with id ${id} is already installed`);
    let p: Installed;
    if ('builtin' in spec) {
      const factory = Object.hasOwn(this.#builtins, spec.builtin) ? this.#builtins[spec.builtin] : undefined;
      if (!factory) throw new PolicyError('unknown_builtin', `no built-in policy is named ${spec.builtin} (there are: ${Object.keys(this.#builtins).join(', ')})`);
      p = this.#build(id, 'builtin', spec.builtin, spec.config ?? {}, factory, undefined);
    } else {
      const mod = await loadPolicyModule(spec.module, this.#moduleDirs);
      // The module may have been installed under the same id while we awaited the import.
      if (this.#installed.has(id)) throw new PolicyError('conflict', `a policy with id ${id} is already installed`);
      p = this.#build(id, 'module', mod.path, spec.config ?? {}, mod.create, mod.configSchema);
    }
    this.#installed.set(id, p);
    this.#log.info({ policy: id, kind: p.kind, source: p.source, stateBytes: p.stateBytes }, 'policy installed');
    return this.#info(p);
  }

  /** Makes an installed policy the active one, without dropping a connection. */
  activate(id: string): PolicyInfo {
    const next = this.#get(id);
    const prev = this.#active;
    if (next === prev && next.suspended === null) return this.#info(next);
    if (next !== prev) {
      for (const c of this.#conns.values()) this.#call(next, 'addConn', () => next.policy.addConn(c));
    }
    next.suspended = null;
    next.stats.consecutiveFaults = 0;
    this.#active = next;
    if (next !== prev) {
      for (const c of this.#conns.values()) this.#call(prev, 'rmConn', () => prev.policy.rmConn(c));
      this.stats.swaps++;
      this.emit('swap', { from: prev.id, to: next.id });
    }
    this.#log.info({ from: prev.id, to: next.id, connections: this.#conns.size }, 'policy activated');
    return this.#info(next);
  }

  /** Uninstalls an inactive policy (uninit is called). */
  remove(id: string): void {
    const p = this.#get(id);
    if (p.id === 'default') throw new PolicyError('conflict', 'the default policy cannot be removed');
    if (p === this.#active) throw new PolicyError('conflict', `${id} is the active policy: activate another one first`);
    this.#call(p, 'uninit', () => p.policy.uninit());
    this.#installed.delete(id);
    this.#log.info({ policy: id }, 'policy removed');
  }

  list(): PolicyInfo[] {
    return [...this.#installed.values()].map((p) => this.#info(p));
  }

  get(id: string): PolicyInfo {
    return this.#info(this.#get(id));
  }

  get activeId(): string {
    return this.#active.id;
  }

  builtins(): { name: string; description: string; configSchema: object }[] {
    return Object.entries(this.#builtins).map(([name, f]) => {
      const p = f();
      return { name, description: p.description ?? '', configSchema: p.configSchema ?? {} };
    });
  }

  // ------------------------------------------------------------------ connections and decisions

  /** Idempotent by id: a connection coming back from a backend (adopt) is not added twice. */
  addConn(conn: PolicyConn): void {
    if (this.#conns.has(conn.id)) return;
    const c = Object.freeze({ ...conn });
    this.#conns.set(c.id, c);
    const p = this.#active;
    this.#call(p, 'addConn', () => p.policy.addConn(c));
  }

  rmConn(connId: string): void {
    const c = this.#conns.get(connId);
    if (!c) return;
    this.#conns.delete(connId);
    this.#forced.delete(connId);
    const p = this.#active;
    this.#call(p, 'rmConn', () => p.policy.rmConn(c));
  }

  get connections(): number {
    return this.#conns.size;
  }

  /** The next transaction of this connection goes to `backend` (once), if it is eligible then. */
  forceNext(connId: string, backend: string): void {
    if (!this.#conns.has(connId)) throw new PolicyError('not_found', `no connection ${connId}`);
    this.#forced.set(connId, backend);
  }

  forcedFor(connId: string): string | undefined {
    return this.#forced.get(connId);
  }

  /** Chooses the backend for a transaction. Never throws. */
  decide(request: PolicyRequest, conn: PolicyConn, view: PolicyView): EngineDecision {
    this.stats.decisions++;
    const v = freezeView(view);
    const req = Object.freeze({ ...request, headers: Object.freeze({ ...request.headers }) });
    const c = this.#conns.get(conn.id) ?? Object.freeze({ ...conn });
    const ok = new Set(eligible(v).map((b) => b.name));

    const forced = this.#forced.get(conn.id);
    if (forced !== undefined) {
      this.#forced.delete(conn.id);
      if (ok.has(forced)) return this.#count({ backend: forced, policy: this.#active.id, source: 'forced' });
      this.#log.warn({ conn: conn.id, backend: forced }, 'forced backend is not eligible now; the policy decides');
    }

    const p = this.#active;
    let fault: FaultKind | undefined;
    if (p.suspended === null) {
      const r = this.#call(p, 'redirect', () => p.policy.redirect(req, c, v));
      if (r.ok) {
        const d = r.value;
        const named = typeof d === 'string' ? d : isBackend(d) ? d.backend : null;
        if (named !== null && ok.has(named)) {
          p.stats.decisions++;
          p.stats.consecutiveFaults = 0;
          this.#maybeCheckState(p);
          const sticky = typeof d === 'object' && isBackend(d) && d.sticky === true;
          return this.#count({ backend: named, policy: p.id, source: 'policy', ...(sticky ? { sticky } : {}) });
        }
        if (isReject(d) && Number.isInteger(d.reject) && d.reject >= 400 && d.reject <= 599 && typeof d.reason === 'string') {
          p.stats.decisions++;
          p.stats.consecutiveFaults = 0;
          this.#maybeCheckState(p);
          return this.#count({ reject: d.reject, reason: d.reason.slice(0, 200), policy: p.id, source: 'policy' });
        }
        fault = 'invalid';
        this.#fault(p, 'redirect', 'invalid', `redirect returned ${describe(d)}, which is not an eligible backend or a reject`);
      } else {
        fault = r.fault;
      }
    }
    // The default policy: our own code, measured like any other.
    const d = this.#fallback.redirect(req, c, v);
    const base = { policy: p.id, source: 'default' as const, ...(fault ? { fault } : {}) };
    if (typeof d === 'string') return this.#count({ backend: d, ...base });
    if (isBackend(d)) return this.#count({ backend: d.backend, ...base });
    return this.#count({ reject: d.reject, reason: d.reason, ...base });
  }

  /** The transaction decided by `policyId` has ended: the policy may recycle what it kept for it. */
  retire(tx: PolicyTransaction, policyId: string): void {
    const p = this.#installed.get(policyId);
    if (!p) return;
    const t = Object.freeze({ ...tx });
    this.#call(p, 'retire', () => p.policy.retire(t));
  }

  // ------------------------------------------------------------------ buckets

  buckets(policyId?: string): { policy: string; map: BucketMap } {
    const p = this.#bucketed(policyId);
    const r = this.#call(p, 'buckets', () => p.policy.buckets!());
    if (!r.ok) throw new PolicyError('conflict', `${p.id}: buckets() failed: ${r.message}`);
    return { policy: p.id, map: r.value };
  }

  keyBucket(key: string, policyId?: string): number | null {
    const p = this.#bucketed(policyId);
    if (!p.policy.keyBucket) return null;
    const r = this.#call(p, 'keyBucket', () => p.policy.keyBucket!(key));
    return r.ok && Number.isInteger(r.value) ? r.value : null;
  }

  moveBuckets(moves: readonly BucketMove[], policyId?: string): { policy: string; map: BucketMap } {
    const p = this.#bucketed(policyId);
    if (!p.policy.moveBuckets) throw new PolicyError('conflict', `policy ${p.id} has a bucket map but cannot move buckets`);
    const frozen = Object.freeze(moves.map((m) => Object.freeze({ ...m })));
    const r = this.#call(p, 'moveBuckets', () => p.policy.moveBuckets!(frozen));
    if (!r.ok) throw new PolicyError('bad_config', `${p.id}: moving buckets failed: ${r.message}`);
    this.#log.info({ policy: p.id, moves: moves.length }, 'buckets moved');
    return this.buckets(p.id);
  }

  /** Spreads the buckets evenly over `backends` with the fewest moves; returns the moves made. */
  rebalance(backends: readonly string[], policyId?: string): { policy: string; moves: BucketMove[]; map: BucketMap } {
    const { policy, map } = this.buckets(policyId);
    const moves = rebalanceMoves(map.buckets, backends);
    const after = moves.length > 0 ? this.moveBuckets(moves, policy).map : map;
    return { policy, moves, map: after };
  }

  // ------------------------------------------------------------------ internals

  #build(id: string, kind: 'builtin' | 'module', source: string, config: unknown, create: () => unknown, moduleSchema: object | undefined): Installed {
    const guard = new CallGuard(kind === 'module' ? 'sandboxed' : 'measured');
    const lim = this.limits;
    const made = guard.run(create, lim.initMs);
    if (!made.ok) throw new PolicyError('load_failed', `${source}: creating the policy ${made.kind === 'timeout' ? 'timed out' : `threw: ${made.error.message}`}`);
    const policy = made.value as Policy | null;
    if (typeof policy !== 'object' || policy === null) throw new PolicyError('load_failed', `${source}: the factory returned ${describe(policy)}, not a policy object`);
    const required: string[] = [...ALRM_FUNCTIONS, ...(kind === 'module' ? ['state'] : [])];
    const missing = required.filter((f) => typeof (policy as unknown as Record<string, unknown>)[f] !== 'function');
    if (missing.length > 0) throw new PolicyError('missing_function', `${source}: missing function${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
    const schema = policy.configSchema ?? moduleSchema;
    if (schema !== undefined) {
      let validate: ValidateFunction;
      try {
        validate = this.#ajv.compile(schema);
      } catch (err) {
        throw new PolicyError('bad_config', `${source}: its configSchema is not a valid JSON Schema: ${(err as Error).message}`);
      }
      if (!validate(config)) {
        const why = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`).join('; ');
        throw new PolicyError('bad_config', `${source}: config does not match its schema: ${why}`);
      }
    }
    let frozenConfig: unknown;
    try {
      frozenConfig = deepFreeze(structuredClone(config));
    } catch (err) {
      throw new PolicyError('bad_config', `${source}: config is not plain data: ${(err as Error).message}`);
    }
    const init = guard.run(() => policy.init(frozenConfig), lim.initMs);
    if (!init.ok) throw new PolicyError('init_failed', `${source}: init ${init.kind === 'timeout' ? `did not return within ${lim.initMs} ms` : `threw: ${init.error.message}`}`);
    if (init.ms > lim.initMs) throw new PolicyError('init_failed', `${source}: init took ${init.ms.toFixed(1)} ms (budget ${lim.initMs} ms)`);
    const p: Installed = {
      id,
      kind,
      source,
      config: frozenConfig,
      policy,
      guard,
      installedAtMs: Date.now(),
      stats: { calls: 0, decisions: 0, faults: zeroFaults(), consecutiveFaults: 0, lastFault: null, maxCallMs: 0 },
      stateBytes: null,
      suspended: null,
    };
    const size = this.#stateSize(p, lim.initMs);
    if (size !== null && size > lim.stateBytes) {
      guard.run(() => policy.uninit(), lim.initMs);
      throw new PolicyError('state_too_large', `${source}: its state after init is ${size} bytes (budget ${lim.stateBytes})`);
    }
    return p;
  }

  /** Runs one upcall under the policy's guard; counts and logs any fault. */
  #call<T>(p: Installed, call: string, fn: () => T): { ok: true; value: T } | { ok: false; fault: FaultKind; message: string } {
    p.stats.calls++;
    const r: GuardResult<T> = p.guard.run(fn, this.limits.callMs);
    if (r.ms > p.stats.maxCallMs) p.stats.maxCallMs = r.ms;
    if (!r.ok) {
      const msg = r.kind === 'timeout' ? `cut off after ${this.limits.callMs} ms` : r.error.message;
      this.#fault(p, call, r.kind, msg);
      return { ok: false, fault: r.kind, message: msg };
    }
    if (r.ms > this.limits.callMs) {
      const msg = `took ${r.ms.toFixed(2)} ms (budget ${this.limits.callMs} ms); result discarded`;
      this.#fault(p, call, 'overrun', msg);
      return { ok: false, fault: 'overrun', message: msg };
    }
    return { ok: true, value: r.value };
  }

  #fault(p: Installed, call: string, kind: FaultKind, message: string): void {
    p.stats.faults[kind]++;
    p.stats.consecutiveFaults++;
    p.stats.lastFault = { kind, message, atMs: Date.now() };
    this.stats.faults[kind]++;
    this.#log.warn({ policy: p.id, call, kind, err: message }, 'policy fault; the default policy decides');
    const ev: FaultEvent = { policy: p.id, call, kind, message };
    this.emit('fault', ev);
    if (kind === 'state') this.#suspend(p, `state over budget: ${message}`);
    else if (p.stats.consecutiveFaults >= this.limits.faultLimit && p.id !== 'default') this.#suspend(p, `${p.stats.consecutiveFaults} consecutive faults (last: ${kind}: ${message})`);
  }

  #suspend(p: Installed, why: string): void {
    if (p.suspended !== null) return;
    p.suspended = why;
    this.stats.suspensions++;
    this.#log.error({ policy: p.id, why }, 'policy suspended; the default policy decides until it is activated again');
    this.emit('suspended', { policy: p.id, why });
  }

  #maybeCheckState(p: Installed): void {
    if (p.stats.decisions % this.limits.stateCheckEvery !== 0) return;
    const size = this.#stateSize(p, this.limits.callMs * 10);
    if (size !== null && size > this.limits.stateBytes) this.#fault(p, 'state', 'state', `${size} bytes (budget ${this.limits.stateBytes})`);
  }

  /** JSON size of state(), or null when the policy has no state() or it failed. */
  #stateSize(p: Installed, budgetMs: number): number | null {
    const state = p.policy.state;
    if (typeof state !== 'function') return null;
    const r = p.guard.run(() => JSON.stringify(state.call(p.policy)) ?? 'null', budgetMs);
    p.stateBytes = r.ok ? r.value.length : null;
    return p.stateBytes;
  }

  #bucketed(policyId: string | undefined): Installed {
    const p = policyId === undefined ? this.#active : this.#get(policyId);
    if (typeof p.policy.buckets !== 'function') throw new PolicyError('conflict', `policy ${p.id} has no bucket map (content-hash has one)`);
    return p;
  }

  #get(id: string): Installed {
    const p = this.#installed.get(id);
    if (!p) throw new PolicyError('not_found', `no policy is installed with id ${id}`);
    return p;
  }

  #freshId(base: string): string {
    const stem = base.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 50) || 'policy';
    let id: string;
    do id = `${stem}-${++this.#seq}`;
    while (this.#installed.has(id));
    return id;
  }

  #count(d: EngineDecision): EngineDecision {
    this.stats.bySource[d.source]++;
    if ('reject' in d) this.stats.rejects++;
    return d;
  }

  #info(p: Installed): PolicyInfo {
    return {
      id: p.id,
      kind: p.kind,
      source: p.source,
      config: p.config,
      description: p.policy.description ?? '',
      active: p === this.#active,
      suspended: p.suspended,
      sandboxed: p.guard.mode === 'sandboxed',
      hasBuckets: typeof p.policy.buckets === 'function',
      stateBytes: p.stateBytes,
      installedAtMs: p.installedAtMs,
      stats: { ...p.stats, faults: { ...p.stats.faults }, lastFault: p.stats.lastFault ? { ...p.stats.lastFault } : null },
    };
  }
}

function freezeView(view: PolicyView): PolicyView {
  return Object.freeze({
    nowMs: view.nowMs,
    connections: view.connections,
    backends: Object.freeze(view.backends.map((b) => Object.freeze({ name: b.name, up: b.up, draining: b.draining, weight: b.weight, load: Object.freeze({ ...b.load }) }))),
  });
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

function describe(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return typeof v;
  }
}
