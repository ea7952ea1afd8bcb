/** Schema parts shared by topology files (topology-file.ts) and controller files (controller-config.ts). */
import { z } from 'zod';

/** The policy to activate at start: a built-in name (or module) and its configuration. */
export const PolicySchema = z.object({ name: z.string().min(1), config: z.record(z.string(), z.unknown()).optional() }).strict().default({ name: 'round-robin' });

/** Speculative rule caching (Prism 3.3): keep a transaction's rules and socket for the connection's next request. */
export const SpeculationSchema = z
  .object({ mode: z.enum(['off', 'auto', 'always']).default('auto'), keepMs: z.number().int().min(0).max(10_000).default(200) })
  .strict()
  .default({ mode: 'auto', keepMs: 200 });
