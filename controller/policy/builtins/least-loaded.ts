/**
 * Least loaded / speed-sensitive: the eligible backend with the most capacity now, from the
 * agents' load reports. Score (lower is better):
 *
 *   (activeTransactions + queueLength + 1) / weight × (1 + recentThroughputBps / capacityBps)
 *
 * A backend that is already pushing bytes near its capacity counts as more loaded than its
 * transaction count says. Ties go to the name that sorts first (deterministic).
 */
import { eligible, type Policy } from '../alrm.js';

export interface LeastLoadedConfig {
  /** Throughput (bytes/s) at which a backend counts as twice as loaded; 0 ignores throughput. */
  readonly capacityBps?: number;
}

export function leastLoaded(): Policy {
  let capacityBps = 125_000_000; // 1 Gbit/s
  return {
    description: 'The eligible backend with the most capacity now: fewest active + queued transactions per unit of weight, penalised by recent throughput.',
    configSchema: {
      type: 'object',
      additionalProperties: false,
      properties: { capacityBps: { type: 'number', minimum: 0 } },
    },
    init(config) {
      const c = (config ?? {}) as LeastLoadedConfig;
      if (c.capacityBps !== undefined) capacityBps = c.capacityBps;
    },
    uninit() {},
    addConn() {},
    rmConn() {},
    redirect(_req, _conn, view) {
      let best: string | null = null;
      let bestScore = Infinity;
      for (const b of eligible(view)) {
        const busy = b.load.activeTransactions + b.load.queueLength + 1;
        const speed = capacityBps > 0 ? 1 + b.load.recentThroughputBps / capacityBps : 1;
        const score = (busy / b.weight) * speed;
        if (score < bestScore || (score === bestScore && best !== null && b.name < best)) {
          bestScore = score;
          best = b.name;
        }
      }
      return best ?? { reject: 503, reason: 'no backend is available' };
    },
    retire() {},
    state() {
      return { capacityBps };
    },
  };
}
