/**
 * Bounding an upcall in time. JavaScript cannot pre-empt a synchronous function from the same
 * thread, so two modes:
 *
 * - measured (built-in policies, trusted code): the call runs directly and its duration is
 *   measured; a call over budget is an overrun and its result is discarded by the engine.
 *   Cost: a performance.now() pair (< 1 µs).
 * - sandboxed (module policies): the call runs inside vm.Script#runInContext with the `timeout`
 *   option. Node's watchdog thread terminates the isolate's execution when the timeout fires —
 *   whichever realm the running function belongs to — so an endless loop is cut off and surfaces
 *   as ERR_SCRIPT_EXECUTION_TIMEOUT. The module itself is imported normally (ESM, its own
 *   imports work); only its upcalls run under the watchdog. Cost: about 50 µs per call (a watchdog
 *   thread per call), measured on this project's machines.
 */
import vm from 'node:vm';

export type GuardMode = 'measured' | 'sandboxed';

export type GuardResult<T> =
  | { readonly ok: true; readonly value: T; readonly ms: number }
  | { readonly ok: false; readonly kind: 'threw' | 'timeout'; readonly error: Error; readonly ms: number };

export class CallGuard {
  readonly #mode: GuardMode;
  readonly #ctx: vm.Context | null;
  readonly #script: vm.Script | null;
  #pending: (() => unknown) | null = null;

  constructor(mode: GuardMode) {
    this.#mode = mode;
    if (mode === 'sandboxed') {
      // The context holds one function: the trampoline to the pending call.
      this.#ctx = vm.createContext({ __prismCall: () => this.#pending?.() });
      this.#script = new vm.Script('__prismCall()', { filename: 'prism-policy-guard' });
    } else {
      this.#ctx = null;
      this.#script = null;
    }
  }

  get mode(): GuardMode {
    return this.#mode;
  }

  /** Runs fn bounded by timeoutMs (hard cut in sandboxed mode, measured otherwise). Never throws. */
  run<T>(fn: () => T, timeoutMs: number): GuardResult<T> {
    const t0 = performance.now();
    try {
      let value: T;
      if (this.#script && this.#ctx) {
        this.#pending = fn;
        try {
          value = this.#script.runInContext(this.#ctx, { timeout: Math.max(1, Math.ceil(timeoutMs)) }) as T;
        } finally {
          this.#pending = null;
        }
      } else {
        value = fn();
      }
      return { ok: true, value, ms: performance.now() - t0 };
    } catch (err) {
      const ms = performance.now() - t0;
      // Errors may come from another realm (instanceof Error is false there): read them by shape.
      const shaped = typeof err === 'object' && err !== null && typeof (err as Error).message === 'string';
      const e = err instanceof Error ? err : new Error(shaped ? (err as Error).message : String(err));
      const timedOut = shaped && (err as { code?: unknown }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT';
      return { ok: false, kind: timedOut ? 'timeout' : 'threw', error: e, ms };
    }
  }
}
