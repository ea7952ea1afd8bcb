/** The backends a hand-off can go to: their specs, agents, counters and drain state. */
import { PrismError } from '../../core/errors.js';
import type { BackendLoad } from '../policy/alrm.js';
import { AgentClient } from './agent-client.js';

export interface BackendSpec {
  readonly name: string;
  /** The backend's address (what the switch rewrites the VIP to). */
  readonly ip: string;
  readonly mac: string;
  /** Switch port the backend is on. */
  readonly port: number;
  /** host:port of the agent's control protocol. */
  readonly agentAddress: string;
  readonly token: string;
}

export interface Backend {
  readonly spec: BackendSpec;
  readonly agent: AgentClient;
  active: number;
  served: number;
  draining: boolean;
  weight: number;
  load: BackendLoad;
}

export class BackendRegistry {
  readonly #list: Backend[] = [];
  readonly #connect: (spec: BackendSpec) => AgentClient;
  readonly #wire: (b: Backend) => void;

  /** `connect` makes a backend's agent client; `wire` subscribes to its events. */
  constructor(connect: (spec: BackendSpec) => AgentClient, wire: (b: Backend) => void) {
    this.#connect = connect;
    this.#wire = wire;
  }

  add(spec: BackendSpec, weight = 1): Backend {
    if (this.#list.some((b) => b.spec.name === spec.name)) throw new PrismError('PRISM_ERR_ALREADY_EXISTS', `backend ${spec.name} exists`);
    const b: Backend = { spec, agent: this.#connect(spec), active: 0, served: 0, draining: false, weight, load: { activeTransactions: 0, recentThroughputBps: 0, queueLength: 0 } };
    this.#wire(b);
    this.#list.push(b);
    return b;
  }

  /** Removes a backend with no transaction in flight. */
  remove(name: string): void {
    const b = this.get(name);
    if (b.active > 0) throw new PrismError('PRISM_ERR_ALREADY_EXISTS', `backend ${name} has ${b.active} transactions in flight: drain it first`);
    b.agent.close();
    this.#list.splice(this.#list.indexOf(b), 1);
  }

  get(name: string): Backend {
    const b = this.#list.find((x) => x.spec.name === name);
    if (!b) throw new PrismError('PRISM_ERR_NOT_FOUND', `no backend named ${name}`);
    return b;
  }

  all(): readonly Backend[] {
    return this.#list;
  }

  /** Backends that can take a transaction now. */
  available(): Backend[] {
    return this.#list.filter((b) => b.agent.up && !b.draining);
  }

  close(): void {
    for (const b of this.#list) b.agent.close();
  }
}
