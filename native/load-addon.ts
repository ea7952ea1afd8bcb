/**
 * Finding and loading a native addon built by node-gyp (native/build/Release/<name>.node), from
 * source (vitest) or compiled (dist/native/) files alike; one loader per addon, loaded once.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismError } from '../core/errors.js';

export interface AddonLoader<T> {
  /** Where the built addon is, or null when it is not built. */
  path(): string | null;
  /** The addon (loaded on first use); throws PRISM_ERR_NOT_FOUND with what to run when it is not built. */
  load(): T;
  /** Whether the addon is built and loadable; the reason when not (for test skips). */
  unavailableReason(): string | null;
  /** Calls into the addon; its errno-carrying Errors come out through the loader's `mapError`. */
  call<R>(fn: (addon: T) => R): R;
}

/**
 * `envOverride` names an environment variable that may point at another build of the addon;
 * `mapError` turns what the addon throws into the project's error type.
 */
export function addonLoader<T>(name: string, envOverride: string, mapError: (e: unknown) => unknown, buildHint = ''): AddonLoader<T> {
  const file = join('native', 'build', 'Release', `${name}.node`);
  let loaded: T | undefined;
  const path = (): string | null => {
    const override = process.env[envOverride];
    if (override) return existsSync(override) ? override : null;
    let dir = dirname(fileURLToPath(import.meta.url));
    for (;;) {
      const candidate = join(dir, file);
      if (existsSync(candidate)) return candidate;
      const parent = dirname(dir);
      if (parent === dir) return null;
      dir = parent;
    }
  };
  const load = (): T => {
    if (loaded) return loaded;
    const p = path();
    if (!p) throw new PrismError('PRISM_ERR_NOT_FOUND', `the native addon ${file} is not built: run \`node scripts/setup.mjs --build-only\` (node-gyp${buildHint})`);
    loaded = createRequire(import.meta.url)(p) as T;
    return loaded;
  };
  const unavailableReason = (): string | null => {
    try {
      load();
      return null;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  };
  const call = <R>(fn: (addon: T) => R): R => {
    const a = load();
    try {
      return fn(a);
    } catch (e) {
      throw mapError(e);
    }
  };
  return { path, load, unavailableReason, call };
}

/** An Error the addons throw for a failed system call: `code` is the errno name. */
export interface NativeErrnoError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export function isNativeErrnoError(e: unknown): e is NativeErrnoError {
  if (!(e instanceof Error) || e instanceof PrismError) return false;
  const r = e as Partial<NativeErrnoError>;
  return typeof r.code === 'string' && /^E[A-Z0-9]+$/.test(r.code) && typeof r.errno === 'number' && typeof r.syscall === 'string';
}
