/**
 * Round robin, weighted (nginx's smooth weighted round robin: each pick adds every eligible
 * backend's weight to its credit, takes the backend with the most credit, and subtracts the total
 * from it). With equal weights it is plain round robin. This is also the engine's default policy.
 */
import { eligible, type Policy } from '../alrm.js';

/** Bound on remembered backends (names), so the state stays bounded under churn. */
const MAX_TRACKED = 1024;

export function roundRobin(): Policy {
  let credit = new Map<string, number>();
  return {
    description: 'Weighted round robin over the eligible backends (up, not draining, weight > 0).',
    configSchema: { type: 'object', additionalProperties: false, properties: {} },
    init() {
      credit = new Map();
    },
    uninit() {
      credit.clear();
    },
    addConn() {},
    rmConn() {},
    redirect(_req, _conn, view) {
      const bs = eligible(view);
      if (bs.length === 0) return { reject: 503, reason: 'no backend is available' };
      let total = 0;
      let best: string | null = null;
      let bestCredit = -Infinity;
      for (const b of bs) {
        const c = (credit.get(b.name) ?? 0) + b.weight;
        credit.set(b.name, c);
        total += b.weight;
        if (c > bestCredit) {
          bestCredit = c;
          best = b.name;
        }
      }
      credit.set(best!, bestCredit - total);
      if (credit.size > MAX_TRACKED) {
        const live = new Set(bs.map((b) => b.name));
        for (const k of credit.keys()) if (!live.has(k)) credit.delete(k);
      }
      return best!;
    },
    retire() {},
    state() {
      return Object.fromEntries(credit);
    },
  };
}
