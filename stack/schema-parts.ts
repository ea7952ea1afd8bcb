/** Schema parts shared by topology files (topology-file.ts) and controller files (controller-config.ts). */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InvalidArgumentError } from '../core/errors.js';

export const Ipv4Schema = z.string().regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, 'an IPv4 address');
export const MacSchema = z.string().regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'a MAC address like 02:00:00:00:00:fe');

/** The policy to activate at start: a built-in name (or module) and its configuration. */
export const PolicySchema = z.object({ name: z.string().min(1), config: z.record(z.string(), z.unknown()).optional() }).strict().default({ name: 'round-robin' });

/** Speculative rule caching (Prism 3.3): keep a transaction's rules and socket for the connection's next request. */
export const SpeculationSchema = z
  .object({ mode: z.enum(['off', 'auto', 'always']).default('auto'), keepMs: z.number().int().min(0).max(10_000).default(200) })
  .strict()
  .default({ mode: 'auto', keepMs: 200 });

/**
 * Parses a configuration text (JSON when `source` ends in .json, else YAML) against `schema`.
 * Errors say which file, and every field that is wrong with its path: `<source> is not a valid
 * <what>:` then one `  path.to.field: message` line each.
 */
export function parseConfigText<S extends z.ZodType>(schema: S, text: string, source: string, what: string): z.infer<S> {
  const json = source.endsWith('.json');
  let raw: unknown;
  try {
    raw = json ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new InvalidArgumentError(`${source}: not valid ${json ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new InvalidArgumentError(`${source} is not a valid ${what}:\n${lines.join('\n')}`);
  }
  return r.data;
}
