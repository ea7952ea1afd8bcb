/**
 * Prometheus metrics (prom-client, one Registry per API instance) and the rate sampler that
 * feeds both the PacketIn-rate gauge and the dashboard's hand-off chart.
 *
 * Hand-off counters and histograms are fed by the target's hand-off events; everything else is
 * read from the target and the policy engine at scrape time (collect callbacks), so a scrape
 * always shows the current value.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { FAULT_KINDS } from '../policy/errors.js';
import type { AdminTarget, HandoffEvent, StepTimes } from './admin-target.js';

const STEPS: readonly (keyof StepTimes)[] = ['prepare', 'rules', 'start', 'transfer', 'deleteRules', 'release'];
/** Seconds: 100 µs … 30 s. */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface RatePoint {
  atMs: number;
  done: number;
  failed: number;
}

/** Hand-offs per interval (ring of `keep` points) and the PacketIn rate. */
export class RateSampler {
  readonly intervalMs: number;
  readonly #keep: number;
  readonly #points: RatePoint[] = [];
  readonly #target: AdminTarget;
  #current: RatePoint;
  #lastPacketIns: number;
  #lastAt: number;
  #packetInRate = 0;
  #timer: NodeJS.Timeout | null;

  constructor(target: AdminTarget, intervalMs = 1000, keep = 120) {
    this.#target = target;
    this.intervalMs = intervalMs;
    this.#keep = keep;
    this.#lastAt = Date.now();
    this.#current = { atMs: this.#lastAt, done: 0, failed: 0 };
    this.#lastPacketIns = target.stats().packetIns;
    this.#timer = setInterval(() => this.tick(), intervalMs);
    this.#timer.unref();
  }

  record(e: HandoffEvent): void {
    if (e.outcome === 'done') this.#current.done++;
    else this.#current.failed++;
  }

  /** Closes the current interval (called by the timer; tests may call it). */
  tick(): void {
    const now = Date.now();
    this.#points.push(this.#current);
    if (this.#points.length > this.#keep) this.#points.shift();
    this.#current = { atMs: now, done: 0, failed: 0 };
    const p = this.#target.stats().packetIns;
    const dt = (now - this.#lastAt) / 1000;
    if (dt > 0) this.#packetInRate = Math.max(0, p - this.#lastPacketIns) / dt;
    this.#lastPacketIns = p;
    this.#lastAt = now;
  }

  /** Closed intervals, oldest first, then the current one. */
  points(): RatePoint[] {
    return [...this.#points, { ...this.#current }];
  }

  get packetInsPerSecond(): number {
    return this.#packetInRate;
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

export class AdminMetrics {
  readonly registry = new Registry();
  readonly #handoffs: Counter<'backend' | 'outcome'>;
  readonly #steps: Histogram<'step'>;
  readonly #duration: Histogram<'outcome'>;

  constructor(target: AdminTarget, rate: RateSampler) {
    const registers = [this.registry];
    const engine = target.policies;
    this.#handoffs = new Counter({ name: 'prism_handoffs_total', help: 'Finished hand-offs by backend and outcome', labelNames: ['backend', 'outcome'], registers });
    this.#steps = new Histogram({ name: 'prism_handoff_step_seconds', help: 'Duration of each hand-off step', labelNames: ['step'], buckets: BUCKETS, registers });
    this.#duration = new Histogram({ name: 'prism_handoff_duration_seconds', help: 'Whole hand-off duration (decision to adopt) by outcome', labelNames: ['outcome'], buckets: BUCKETS, registers });

    new Gauge({
      name: 'prism_rules_installed',
      help: 'Rules the controller has installed in the switch now, by table',
      labelNames: ['table'],
      registers,
      collect() {
        this.reset();
        for (const [t, n] of Object.entries(target.stats().rulesInstalled)) this.set({ table: t }, n);
      },
    });
    new Gauge({
      name: 'prism_connections',
      help: "Client connections by TCP state and owner kind ('controller' or 'backend')",
      labelNames: ['state', 'owner'],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, { state: string; owner: string; n: number }>();
        for (const c of target.listConnections()) {
          const owner = c.owner === 'controller' ? 'controller' : 'backend';
          const k = `${c.state}/${owner}`;
          const e = counts.get(k) ?? { state: c.state, owner, n: 0 };
          e.n++;
          counts.set(k, e);
        }
        for (const e of counts.values()) this.set({ state: e.state, owner: e.owner }, e.n);
      },
    });
    new Gauge({
      name: 'prism_transactions_in_flight',
      help: 'Transactions handed to a backend and not finished',
      registers,
      collect() {
        this.set(target.stats().transactionsInFlight);
      },
    });
    new Counter({
      name: 'prism_speculation_total',
      help: "Kept transactions (speculative rule caching) by how they ended: 'hit' (Continue on the same socket), 'miss' (another backend), 'idle' (no request within keepMs)",
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        const s = target.stats().speculation;
        this.inc({ result: 'hit' }, s.hits);
        this.inc({ result: 'miss' }, s.misses);
        this.inc({ result: 'idle' }, s.idle);
      },
    });
    cumulative('prism_packet_ins_total', 'PacketIn messages received from the switch', () => target.stats().packetIns, registers);
    cumulative('prism_packet_outs_total', 'PacketOut messages sent to the switch', () => target.stats().packetOuts, registers);
    cumulative('prism_packets_malformed_total', 'PacketIns dropped as malformed', () => target.stats().malformedPackets, registers);
    new Gauge({
      name: 'prism_packet_in_rate',
      help: 'PacketIns per second over the last sampling interval',
      registers,
      collect() {
        this.set(rate.packetInsPerSecond);
      },
    });

    const backendGauge = (name: string, help: string, value: (b: ReturnType<AdminTarget['listBackends']>[number]) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['backend'],
        registers,
        collect() {
          this.reset();
          for (const b of target.listBackends()) this.set({ backend: b.name }, value(b));
        },
      });
    };
    backendGauge('prism_backend_up', "1 when the backend's agent is connected", (b) => (b.up ? 1 : 0));
    backendGauge('prism_backend_draining', '1 while the backend drains', (b) => (b.draining ? 1 : 0));
    backendGauge('prism_backend_weight', "The backend's weight", (b) => b.weight);
    backendGauge('prism_backend_active_transactions', 'Transactions on the backend now', (b) => b.activeTransactions);
    backendGauge('prism_backend_throughput_bytes_per_second', "The agent's recent throughput report", (b) => b.load.recentThroughputBps);
    backendGauge('prism_backend_queue_length', "The agent's queue length report", (b) => b.load.queueLength);

    new Counter({
      name: 'prism_policy_decisions_total',
      help: "Policy decisions by source ('policy', 'forced', 'default' = fallback)",
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        for (const [s, n] of Object.entries(engine.stats.bySource)) this.inc({ source: s }, n);
      },
    });
    new Counter({
      name: 'prism_policy_faults_total',
      help: 'Policy upcalls set aside (the default policy decided), by kind',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        for (const k of FAULT_KINDS) this.inc({ kind: k }, engine.stats.faults[k]);
      },
    });
    cumulative('prism_policy_swaps_total', 'Active-policy swaps', () => engine.stats.swaps, registers);
    cumulative('prism_policy_suspensions_total', 'Policies suspended (too many faults, or state over budget)', () => engine.stats.suspensions, registers);
    cumulative('prism_policy_rejects_total', 'Requests a policy refused (the controller answered them)', () => engine.stats.rejects, registers);
    new Gauge({
      name: 'prism_policy_active',
      help: '1 for the active policy',
      labelNames: ['policy'],
      registers,
      collect() {
        this.reset();
        this.set({ policy: engine.activeId }, 1);
      },
    });
  }

  observe(e: HandoffEvent): void {
    this.#handoffs.inc({ backend: e.backend, outcome: e.outcome });
    this.#duration.observe({ outcome: e.outcome }, e.durationMs / 1000);
    if (e.steps) for (const s of STEPS) this.#steps.observe({ step: s }, e.steps[s] / 1000);
  }
}

/** A counter whose value is a cumulative number read at scrape time. */
function cumulative(name: string, help: string, read: () => number, registers: Registry[]): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
