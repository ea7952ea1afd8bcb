/**
 * Read/write split (the Hyrise-R case of Prism section 6): reads (GET, HEAD by default) go to the
 * replicas, round robin; every other method goes to the primary. A write never goes to a replica:
 * without an eligible primary it is refused (503). Reads fall back to the primary when no replica
 * is eligible, unless readFromPrimary is false.
 */
import { eligible, type Policy } from '../alrm.js';

export interface ReadWriteSplitConfig {
  readonly primary: string;
  readonly replicas: readonly string[];
  readonly readMethods?: readonly string[];
  readonly readFromPrimary?: boolean;
}

export function readWriteSplit(): Policy {
  let cfg: Required<ReadWriteSplitConfig> = { primary: '', replicas: [], readMethods: ['GET', 'HEAD'], readFromPrimary: true };
  let next = 0;
  return {
    description: 'Reads (GET/HEAD) to the replicas round robin, other methods to the primary.',
    configSchema: {
      type: 'object',
      additionalProperties: false,
      required: ['primary', 'replicas'],
      properties: {
        primary: { type: 'string', minLength: 1 },
        replicas: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 1024 },
        readMethods: { type: 'array', items: { type: 'string', pattern: '^[A-Z]+$' }, minItems: 1, maxItems: 16 },
        readFromPrimary: { type: 'boolean' },
      },
    },
    init(config) {
      const c = config as ReadWriteSplitConfig;
      if (c.replicas.includes(c.primary)) throw new Error(`the primary ${c.primary} is also listed as a replica`);
      cfg = { readMethods: ['GET', 'HEAD'], readFromPrimary: true, ...c };
      next = 0;
    },
    uninit() {},
    addConn() {},
    rmConn() {},
    redirect(req, _conn, view) {
      const ok = new Set(eligible(view).map((b) => b.name));
      if (cfg.readMethods.includes(req.method)) {
        const replicas = cfg.replicas.filter((r) => ok.has(r));
        if (replicas.length > 0) {
          next = (next + 1) % replicas.length;
          return replicas[next]!;
        }
        if (cfg.readFromPrimary && ok.has(cfg.primary)) return cfg.primary;
        return { reject: 503, reason: 'no replica is available' };
      }
      return ok.has(cfg.primary) ? cfg.primary : { reject: 503, reason: `the primary ${cfg.primary} is not available` };
    },
    retire() {},
    state() {
      return { ...cfg, next };
    },
  };
}
