/**
 * Loads a policy module: a .js or .mjs file whose default export is a factory (a function
 * returning a Policy) or a Policy object. A named export `configSchema` is used when the policy
 * object has none. Each load imports a fresh module instance (a query string busts the ESM cache),
 * so installing the same file twice gives two independent policies, and an edited file is picked
 * up by a new install.
 *
 * The module's top-level code runs at import, in the controller's realm, without a time bound:
 * module policies are installed through the privileged admin API only (see docs/policies.md).
 */
import { stat } from 'node:fs/promises';
import { extname, isAbsolute, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PolicyError } from './errors.js';

export interface LoadedModule {
  /** Absolute path. */
  readonly path: string;
  /** Produces the policy object (called by the engine under its guard). */
  readonly create: () => unknown;
  readonly configSchema: object | undefined;
}

let generation = 0;

export async function loadPolicyModule(path: string, allowedDirs: readonly string[] | undefined): Promise<LoadedModule> {
  const abs = resolve(path);
  if (!['.js', '.mjs'].includes(extname(abs))) throw new PolicyError('load_failed', `a policy module must be a .js or .mjs file: ${path}`);
  if (allowedDirs && !allowedDirs.some((d) => isInside(abs, resolve(d)))) {
    throw new PolicyError('load_failed', `${path} is outside the directories policy modules may be loaded from (${allowedDirs.join(', ')})`);
  }
  try {
    if (!(await stat(abs)).isFile()) throw new Error('not a file');
  } catch (err) {
    throw new PolicyError('load_failed', `cannot read policy module ${path}: ${(err as Error).message}`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(`${pathToFileURL(abs).href}?prism-policy=${++generation}`)) as Record<string, unknown>;
  } catch (err) {
    throw new PolicyError('load_failed', `importing ${path} failed: ${(err as Error).message}`, { cause: err });
  }
  const def = mod.default;
  const schema = typeof mod.configSchema === 'object' && mod.configSchema !== null ? (mod.configSchema as object) : undefined;
  if (typeof def === 'function') return { path: abs, create: () => (def as () => unknown)(), configSchema: schema };
  if (typeof def === 'object' && def !== null) return { path: abs, create: () => def, configSchema: schema };
  throw new PolicyError('load_failed', `${path} has no default export (a factory function or a policy object)`);
}

function isInside(file: string, dir: string): boolean {
  const rel = relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}
