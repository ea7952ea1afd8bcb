/**
 * The hand-off's steps (controller/handoff/transaction.ts) and speculation (speculation.ts)
 * against a fake agent, a fake rule writer and a fake clock: one test per failure path, each
 * checking the outcome, that no rule is left installed, what the agent was asked, and whether the
 * client was reset or the connection adopted.
 */
import { describe, expect, it } from 'vitest';
import { PrismError } from '../../core/errors.js';
import * as grpc from '@grpc/grpc-js';
import { AgentCallError, type AgentCall } from '../../controller/handoff/agent-client.js';
import type { HandoffClock } from '../../controller/handoff/clock.js';
import type { TransactionRecord } from '../../controller/handoff/history.js';
import { TransactionRules, type RuleWriter } from '../../controller/handoff/rules.js';
import { continueIfSame, keepMsFor, type SpeculationStats } from '../../controller/handoff/speculation.js';
import { DEFAULT_TIMEOUTS, outcomeOf, runTransaction, TransactionEvents, type RunDeps, type RunnableTransaction } from '../../controller/handoff/transaction.js';
import type { EntryUpdate } from '../../controller/p4rt/client.js';
import { FakeClock } from '../../controller/tcp/testing/fake-clock.js';
import type { TcpRepairState } from '../../controller/tcp/repair-state.js';

const STATE: TcpRepairState = {
  localIp: '10.0.0.100',
  localPort: 80,
  remoteIp: '10.0.0.1',
  remotePort: 40000,
  sndUna: 1000,
  sndNxt: 1000,
  rcvNxt: 5000,
  sndWl1: 5000,
  sndWnd: 65535,
  sndWndRaw: 65535,
  maxWindow: 65535,
  rcvWnd: 0,
  rcvWup: 5000,
  wscaleOk: true,
  sndWscale: 7,
  rcvWscale: 7,
  mss: 1460,
  sackPermitted: true,
  timestamps: true,
  tsVal: 123,
  tsOffset: 0,
  tsRecent: 456,
  exportedAtMs: 0,
};

/** The connection state an agent hands back: the response of 300 bytes sent, all acknowledged. */
const RELEASED = {
  transaction_id: '1',
  state: {
    client_ip: Buffer.from([10, 0, 0, 1]),
    client_port: 40000,
    vip_ip: Buffer.from([10, 0, 0, 100]),
    vip_port: 80,
    snd_nxt: 1300,
    rcv_nxt: 5100,
    snd_una: 1300,
    snd_wnd: 65535,
    rcv_wnd: 65535,
    snd_wscale: 7,
    rcv_wscale: 7,
    mss: 1460,
    sack_permitted: true,
    timestamps_enabled: true,
    ts_val: 200,
    ts_recent: 500,
    snd_wl1: 5100,
    max_window: 65535,
    rcv_wup: 5100,
    wscale_ok: true,
  },
  unread: Buffer.alloc(0),
  unacked: Buffer.alloc(0),
  bytes_sent: '300',
};

class Clock extends FakeClock implements HandoffClock {
  epochMs(): number {
    return 1_800_000_000_000 + this.now();
  }
}

/** Records the writes; `fail` makes the next writes throw. */
class FakeWriter implements RuleWriter {
  /** Batches like RuleBatcher (the embedded target's writer) unless a test removes it. */
  deferDelete?: ((updates: readonly EntryUpdate[]) => void) | undefined = (u) => void this.writes.push({ type: 'DEFER', tables: u.map((x) => String(x.entry.table)), zeroWindow: undefined });
  readonly writes: { type: string; tables: string[]; zeroWindow: number | undefined }[] = [];
  fail: PrismError | null = null;
  async writeOrThrow(updates: readonly EntryUpdate[]): Promise<void> {
    if (this.fail) throw this.fail;
    this.writes.push({ type: updates[0]!.type, tables: updates.map((u) => String(u.entry.table)), zeroWindow: updates.find((u) => u.entry.table === 'handoff_out')?.entry.params?.zero_window as number | undefined });
  }
}

type Answer = (req: Record<string, unknown>) => Promise<unknown>;

/** Answers each call with what the test scripted (default: success). */
class FakeAgent {
  readonly calls: { method: AgentCall; req: Record<string, unknown> }[] = [];
  readonly answers: Partial<Record<AgentCall, Answer>> = {};
  call<T>(method: AgentCall, req: object, _timeoutMs: number): Promise<T> {
    this.calls.push({ method, req: req as Record<string, unknown> });
    const a = this.answers[method];
    if (a) return a(req as Record<string, unknown>) as Promise<T>;
    if (method === 'Prepare') return Promise.resolve({ transaction_id: '1', result: 'ready', ready: {} } as T);
    if (method === 'Release') return Promise.resolve(RELEASED as T);
    return Promise.resolve({} as T);
  }
  methods(): AgentCall[] {
    return this.calls.map((c) => c.method);
  }
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function record(): TransactionRecord {
  return { id: '1', connId: 'c', backend: 'b1', state: 'rules', outcome: null, method: 'GET', target: '/', startedAtMs: 0, durationMs: null, bytesSent: null, policy: null, decidedBy: null, cached: false };
}

function setup(opts: { keepMs?: number; cached?: boolean; id?: bigint } = {}) {
  const clock = new Clock();
  const writer = new FakeWriter();
  const agent = new FakeAgent();
  const tx: RunnableTransaction = {
    id: opts.id ?? 1n,
    record: record(),
    exported: STATE,
    keepMs: opts.keepMs ?? 0,
    cached: opts.cached ?? false,
    continueMs: 0,
    rules: new TransactionRules(writer, { state: STATE, backend: { ip: '10.0.0.11', mac: '02:00:00:00:00:11', port: 11 }, link: { port: 1, mac: '02:00:00:00:00:01' }, vipMac: '02:00:00:00:00:fe' }, 2000, clock),
    events: new TransactionEvents(),
  };
  const seen = { adopted: null as TcpRepairState | null, unread: '', unacked: 0, closes: [] as boolean[], resets: 0, kept: 0 };
  const deps: RunDeps = {
    clock,
    timeouts: DEFAULT_TIMEOUTS,
    agent,
    adopt: (s, unread, unacked, close) => {
      seen.adopted = s;
      seen.unread = unread.toString();
      seen.unacked = unacked.length;
      seen.closes.push(close);
    },
    resetClient: () => void seen.resets++,
    keep: async () => {
      seen.kept++;
      return false;
    },
  };
  return { clock, writer, agent, tx, deps, seen };
}

const READ = { bytes: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), bodyLength: 0, isRead: true, closeAfter: false };
const WRITE = { bytes: Buffer.from('PUT /objects/a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc'), bodyLength: 3, isRead: false, closeAfter: false };

describe('a transaction, step by step', () => {
  it('a read: rules (zero window), Prepare with release_on_done, Done carries the state, client→backend rule deleted, adopted, then the other rule deferred; no Release call', async () => {
    const { writer, agent, tx, deps, seen } = setup();
    let writesAtAdopt = -1;
    const adopt = deps.adopt;
    deps.adopt = (...a) => {
      writesAtAdopt = writer.writes.length;
      adopt(...a);
    };
    const run = runTransaction(tx, READ, deps);
    await flush();
    expect(tx.record.state).toBe('transfer');
    const prep = agent.calls.find((c) => c.method === 'Prepare')!.req;
    expect(prep).toMatchObject({ start: false, release_on_done: true, keep_ms: 0 });
    expect(Buffer.from(prep.request as Buffer).toString()).toContain('GET / HTTP/1.1');
    tx.events.resolveDone({ sent: 300n, received: 27n, released: RELEASED, closeRequested: false });
    const r = await run;
    expect(r.outcome).toBe('done');
    expect(r.bytesSent).toBe(300);
    expect(agent.methods()).toEqual(['Prepare', 'Start']);
    expect(writer.writes).toEqual([
      { type: 'INSERT', tables: ['handoff_in', 'handoff_out'], zeroWindow: 1 },
      { type: 'DELETE', tables: ['handoff_in'], zeroWindow: undefined },
      { type: 'DEFER', tables: ['handoff_out'], zeroWindow: undefined },
    ]);
    expect(writesAtAdopt).toBe(2); // handoff_in was gone, handoff_out not yet
    expect(tx.rules.installed).toEqual([]);
    expect(seen.adopted).toMatchObject({ sndNxt: 1300, rcvNxt: 5100, localIp: '10.0.0.100', remotePort: 40000 });
    expect(seen.resets).toBe(0);
  });

  it('a writer that does not batch deletes (BMv2): rules, then Prepare-and-start; both rules go before the connection is adopted', async () => {
    const { writer, agent, tx, deps } = setup();
    writer.deferDelete = undefined;
    let writesAtAdopt = -1;
    const adopt = deps.adopt;
    deps.adopt = (...a) => {
      writesAtAdopt = writer.writes.length;
      adopt(...a);
    };
    const run = runTransaction(tx, READ, deps);
    await flush();
    tx.events.resolveDone({ sent: 300n, received: 27n, released: RELEASED, closeRequested: false });
    expect((await run).outcome).toBe('done');
    expect(writer.writes.map((w) => [w.type, w.tables])).toEqual([
      ['INSERT', ['handoff_in', 'handoff_out']],
      ['DELETE', ['handoff_in', 'handoff_out']],
    ]);
    expect(writesAtAdopt).toBe(2);
    expect(agent.methods()).toEqual(['Prepare']);
    expect(agent.calls[0]!.req).toMatchObject({ start: true });
  });

  it('a write: window open, client→backend rule deleted before Release, the other after', async () => {
    const { writer, agent, tx, deps, seen } = setup();
    const run = runTransaction(tx, WRITE, deps);
    await flush();
    expect(agent.calls[0]!.req).toMatchObject({ release_on_done: false, body_length: '3' });
    tx.events.resolveDone({ sent: 10n, received: 50n, released: undefined, closeRequested: false });
    const r = await run;
    expect(r.outcome).toBe('done');
    expect(agent.methods()).toEqual(['Prepare', 'Start', 'Release']);
    expect(writer.writes.map((w) => [w.type, w.tables])).toEqual([
      ['INSERT', ['handoff_in', 'handoff_out']],
      ['DELETE', ['handoff_in']],
      ['DEFER', ['handoff_out']],
    ]);
    expect(writer.writes[0]!.zeroWindow).toBe(0);
    expect(seen.adopted).not.toBeNull();
  });

  it('rules fail: rules_failed, nothing sent, the prepared socket aborted (never started), nothing installed, no reset', async () => {
    const { writer, agent, tx, deps, seen } = setup();
    writer.fail = new PrismError('PRISM_ERR_P4RT_WRITE', 'table full');
    const r = await runTransaction(tx, READ, deps);
    expect(r.outcome).toBe('rules_failed');
    expect(r.nothingSent).toBe(true);
    expect(r.failure).toMatchObject({ step: 'rules', code: 'PRISM_ERR_P4RT_WRITE' });
    expect(agent.methods()).toEqual(['Prepare', 'Abort']);
    expect(tx.rules.installed).toEqual([]);
    expect(seen.resets).toBe(0);
  });

  it('Prepare refused: refused, nothing sent, both rules deleted', async () => {
    const { writer, agent, tx, deps, seen } = setup();
    agent.answers.Prepare = async () => ({ transaction_id: '1', result: 'refused', refused: { reason: 'REFUSE_REASON_OVERLOADED', detail: 'busy' } });
    const r = await runTransaction(tx, READ, deps);
    expect(r.outcome).toBe('refused');
    expect(r.nothingSent).toBe(true);
    expect(writer.writes.map((w) => w.type)).toEqual(['INSERT', 'DELETE']);
    expect(tx.rules.installed).toEqual([]);
    expect(seen.resets).toBe(0);
  });

  it('the agent is gone before start (the call never left): prepare_failed, nothing sent, rules deleted, no reset', async () => {
    const { agent, tx, deps, seen } = setup();
    agent.answers.Prepare = async () => {
      throw new AgentCallError('Prepare', grpc.status.UNAVAILABLE, 'No connection established to agent b1');
    };
    const r = await runTransaction(tx, READ, deps);
    expect(r.outcome).toBe('prepare_failed');
    expect(r.nothingSent).toBe(true);
    expect(r.failure).toMatchObject({ step: 'prepare', code: 'PRISM_ERR_AGENT_CALL' });
    expect(tx.rules.installed).toEqual([]);
    expect(seen.resets).toBe(0);
  });

  it('the agent dies during Prepare (nothing is started before Start): prepare_failed, nothing sent, no Start, rules deleted, no reset', async () => {
    const { agent, tx, deps, seen } = setup();
    agent.answers.Prepare = async () => {
      throw new AgentCallError('Prepare', grpc.status.UNAVAILABLE, 'Connection dropped: the session stream ended');
    };
    const r = await runTransaction(tx, READ, deps);
    expect(r.outcome).toBe('prepare_failed');
    expect(r.nothingSent).toBe(true);
    expect(agent.methods()).toEqual(['Prepare', 'Abort']);
    expect(seen.resets).toBe(0);
    expect(tx.rules.installed).toEqual([]);
  });

  it('the agent dies during Start (it may have started serving): start_failed, client reset, rules deleted', async () => {
    const { agent, tx, deps, seen } = setup();
    agent.answers.Start = async () => {
      throw new AgentCallError('Start', grpc.status.UNAVAILABLE, 'Connection dropped: the session stream ended');
    };
    const r = await runTransaction(tx, READ, deps);
    expect(r.outcome).toBe('start_failed');
    expect(r.nothingSent).toBe(false);
    expect(r.failure).toMatchObject({ step: 'start', code: 'PRISM_ERR_AGENT_CALL' });
    expect(seen.resets).toBe(1);
    expect(tx.rules.installed).toEqual([]);
  });

  it('Prepare leaves before the rules are written, Start after them', async () => {
    const { writer, agent, tx, deps } = setup();
    const order: string[] = [];
    const write = writer.writeOrThrow.bind(writer);
    writer.writeOrThrow = async (u) => {
      order.push(`write ${u[0]!.type}`);
      return write(u);
    };
    const call = agent.call.bind(agent);
    agent.call = <T,>(m: AgentCall, req: object, ms: number): Promise<T> => {
      order.push(m);
      return call<T>(m, req, ms);
    };
    const run = runTransaction(tx, READ, deps);
    await flush();
    tx.events.resolveDone({ sent: 1n, received: 1n, released: RELEASED, closeRequested: false });
    await run;
    expect(order.slice(0, 3)).toEqual(['Prepare', 'write INSERT', 'Start']);
  });

  it('the agent dies after start: backend_failed, rules deleted, Abort sent, client reset', async () => {
    const { agent, tx, deps, seen } = setup();
    const run = runTransaction(tx, READ, deps);
    await flush();
    tx.events.fail(new PrismError('PRISM_ERR_AGENT_CALL', 'the connection to agent b1 was lost'));
    const r = await run;
    expect(r.outcome).toBe('backend_failed');
    expect(r.failure).toMatchObject({ step: 'transfer', code: 'PRISM_ERR_AGENT_CALL' });
    expect(agent.methods()).toEqual(['Prepare', 'Start', 'Abort']);
    expect(tx.rules.installed).toEqual([]);
    expect(seen.resets).toBe(1);
    expect(seen.adopted).toBeNull();
  });

  it('Done times out: timeout (from the failure code at the transfer step), rules deleted, client reset', async () => {
    const { clock, tx, deps, seen } = setup();
    const run = runTransaction(tx, READ, deps);
    await flush();
    clock.advance(DEFAULT_TIMEOUTS.transactionMs + 1);
    const r = await run;
    expect(r.outcome).toBe('timeout');
    expect(r.failure).toMatchObject({ step: 'transfer', code: 'PRISM_ERR_TIMEOUT' });
    expect(tx.rules.installed).toEqual([]);
    expect(seen.resets).toBe(1);
  });

  it('Release fails: release_failed, the remaining rule deleted, client reset', async () => {
    const { writer, agent, tx, deps, seen } = setup();
    agent.answers.Release = async () => {
      throw new AgentCallError('Release', grpc.status.NOT_FOUND, 'no transaction 1');
    };
    const run = runTransaction(tx, WRITE, deps);
    await flush();
    tx.events.resolveDone({ sent: 10n, received: 50n, released: undefined, closeRequested: false });
    const r = await run;
    expect(r.outcome).toBe('release_failed');
    expect(r.failure).toMatchObject({ step: 'release', code: 'PRISM_ERR_AGENT_CALL' });
    expect(writer.writes.map((w) => [w.type, w.tables])).toEqual([
      ['INSERT', ['handoff_in', 'handoff_out']],
      ['DELETE', ['handoff_in']],
      ['DELETE', ['handoff_out']],
    ]);
    expect(tx.rules.installed).toEqual([]);
    expect(seen.resets).toBe(1);
  });

  it('outcomes come from { step, code }, never from the message', () => {
    expect(outcomeOf({ step: 'release', code: 'PRISM_ERR_TIMEOUT', message: 'the response did not complete' }, false)).toBe('release_failed');
    expect(outcomeOf({ step: 'transfer', code: 'PRISM_ERR_HANDOFF', message: 'Release did not complete' }, false)).toBe('backend_failed');
    expect(outcomeOf({ step: 'transfer', code: 'PRISM_ERR_TIMEOUT', message: '' }, false)).toBe('timeout');
    expect(outcomeOf({ step: 'prepare', code: 'PRISM_ERR_AGENT_CALL', message: '' }, true)).toBe('prepare_failed');
  });

  it('a kept transaction asks the speculation after Done, and hands back when it declines', async () => {
    const { agent, tx, deps, seen } = setup({ keepMs: 200 });
    const run = runTransaction(tx, READ, deps);
    await flush();
    expect(agent.calls[0]!.req).toMatchObject({ keep_ms: 200, release_on_done: false });
    tx.events.resolveDone({ sent: 10n, received: 27n, released: undefined, closeRequested: false });
    const r = await run;
    expect(seen.kept).toBe(1);
    expect(r.outcome).toBe('done');
    expect(agent.methods()).toEqual(['Prepare', 'Start', 'Release']);
    expect(tx.rules.installed).toEqual([]);
  });
});

describe('a transaction that closes its connection (RFC 9112 9.6)', () => {
  /** 300 response bytes sent, the last 100 not acknowledged, and the next request's start unread. */
  const TAIL = { ...RELEASED, state: { ...RELEASED.state, snd_una: 1200 }, unread: Buffer.from('GET /next HTTP/1.1\r\n\r\n'), unacked: Buffer.alloc(100, 0x61) };

  it('the request asked to close: adopted with close, the tail and the unread bytes handed over as they are', async () => {
    const { agent, tx, deps, seen } = setup();
    const run = runTransaction(tx, { ...READ, closeAfter: true }, deps);
    await flush();
    tx.events.resolveDone({ sent: 300n, received: 27n, released: TAIL, closeRequested: false });
    expect((await run).outcome).toBe('done');
    expect(agent.methods()).toEqual(['Prepare', 'Start']);
    expect(seen).toMatchObject({ closes: [true], unacked: 100, unread: 'GET /next HTTP/1.1\r\n\r\n', resets: 0 });
    expect(seen.adopted).toMatchObject({ sndUna: 1200, sndNxt: 1300 });
  });

  it('the response asked to close (Done.close_requested): adopted with close', async () => {
    const { tx, deps, seen } = setup();
    const run = runTransaction(tx, READ, deps);
    await flush();
    tx.events.resolveDone({ sent: 300n, received: 27n, released: RELEASED, closeRequested: true });
    await run;
    expect(seen.closes).toEqual([true]);
  });

  it('neither asked: adopted without close', async () => {
    const { tx, deps, seen } = setup();
    const run = runTransaction(tx, READ, deps);
    await flush();
    tx.events.resolveDone({ sent: 300n, received: 27n, released: RELEASED, closeRequested: false });
    await run;
    expect(seen.closes).toEqual([false]);
  });

  it('a kept transaction whose response asked to close is not kept: handoff_in goes, Release, handoff_out goes, adopted with close', async () => {
    const { agent, writer, tx, deps, seen } = setup({ keepMs: 200 });
    const run = runTransaction(tx, READ, deps);
    await flush();
    tx.events.resolveDone({ sent: 300n, received: 27n, released: undefined, closeRequested: true });
    expect((await run).outcome).toBe('done');
    expect(seen.kept).toBe(0);
    expect(agent.methods()).toEqual(['Prepare', 'Start', 'Release']);
    expect(writer.writes.map((w) => `${w.type} ${w.tables.join('+')}`)).toEqual(['INSERT handoff_in+handoff_out', 'DELETE handoff_in', 'DEFER handoff_out']);
    expect(tx.rules.installed).toEqual([]);
    expect(seen.closes).toEqual([true]);
  });
});

describe('speculation', () => {
  const stats = (): SpeculationStats => ({ kept: 0, hits: 0, misses: 0, idle: 0 });
  const head = Buffer.from('GET /next HTTP/1.1\r\nHost: x\r\n\r\n');

  function kept() {
    const s = setup({ keepMs: 200 });
    // The kept transaction's rules are installed (its run wrote them).
    s.tx.rules.takeOver(['handoff_in', 'handoff_out']);
    const successor = setup({ cached: true, id: 2n }).tx;
    const calls = { run: 0, abandon: 0, fail: 0 };
    const st = stats();
    const deps = (same: boolean) => ({
      clock: s.clock,
      timeouts: DEFAULT_TIMEOUTS,
      agent: s.agent,
      stats: st,
      judge: () => (same ? { same: true as const, successor: () => successor } : { same: false as const }),
      abandon: () => void calls.abandon++,
      run: () => void calls.run++,
      fail: () => void calls.fail++,
    });
    return { ...s, successor, calls, st, deps };
  }

  it('hit: the same backend again → Continue, the successor owns the rules and runs', async () => {
    const k = kept();
    k.tx.events.resolveNext({ head, idle: false });
    expect(await continueIfSame(k.tx, k.deps(true))).toBe(true);
    expect(k.agent.calls).toEqual([{ method: 'Continue', req: expect.objectContaining({ transaction_id: '1', next_transaction_id: '2' }) }]);
    expect(k.successor.rules.installed).toEqual(['handoff_in', 'handoff_out']);
    expect(k.tx.rules.installed).toEqual([]);
    expect(k.calls.run).toBe(1);
    expect(k.st).toEqual({ kept: 1, hits: 1, misses: 0, idle: 0 });
  });

  it('miss: another backend → hand back (no Continue), the rules stay with the kept transaction', async () => {
    const k = kept();
    k.tx.events.resolveNext({ head, idle: false });
    expect(await continueIfSame(k.tx, k.deps(false))).toBe(false);
    expect(k.agent.calls).toEqual([]);
    expect(k.tx.rules.installed).toEqual(['handoff_in', 'handoff_out']);
    expect(k.st).toMatchObject({ kept: 1, misses: 1 });
  });

  it('idle: no next request within keepMs (+ the release margin) → hand back', async () => {
    const k = kept();
    const p = continueIfSame(k.tx, k.deps(true));
    await flush();
    k.clock.advance(200 + DEFAULT_TIMEOUTS.releaseMs);
    expect(await p).toBe(false);
    expect(k.st).toMatchObject({ kept: 1, idle: 1, hits: 0 });
    expect(k.agent.calls).toEqual([]);
  });

  it('a Continue that never left the controller: the successor is taken back, the kept transaction keeps its rules', async () => {
    const k = kept();
    k.agent.answers.Continue = async () => {
      throw new AgentCallError('Continue', grpc.status.UNAVAILABLE, 'No connection established to agent b1');
    };
    k.tx.events.resolveNext({ head, idle: false });
    expect(await continueIfSame(k.tx, k.deps(true))).toBe(false);
    expect(k.calls).toEqual({ run: 0, abandon: 1, fail: 0 });
    expect(k.tx.rules.installed).toEqual(['handoff_in', 'handoff_out']);
  });

  it('a Continue that failed after it may have started: the successor owns the rules and fails', async () => {
    const k = kept();
    k.agent.answers.Continue = async () => {
      throw new AgentCallError('Continue', grpc.status.UNAVAILABLE, 'Connection dropped');
    };
    k.tx.events.resolveNext({ head, idle: false });
    expect(await continueIfSame(k.tx, k.deps(true))).toBe(true);
    expect(k.calls).toEqual({ run: 0, abandon: 0, fail: 1 });
    expect(k.successor.rules.installed).toEqual(['handoff_in', 'handoff_out']);
  });

  it('keepMsFor: off, always, auto after two repeats, and at once when the policy says sticky', () => {
    const rec = (backend: string): TransactionRecord => ({ ...record(), backend, outcome: 'done' });
    expect(keepMsFor({ mode: 'off', keepMs: 200 }, [rec('b1'), rec('b1')], 'b1', true)).toBe(0);
    expect(keepMsFor({ mode: 'always', keepMs: 200 }, [], 'b1', false)).toBe(200);
    expect(keepMsFor({ mode: 'auto', keepMs: 200 }, [rec('b1')], 'b1', false)).toBe(0);
    expect(keepMsFor({ mode: 'auto', keepMs: 200 }, [rec('b1'), rec('b2')], 'b1', false)).toBe(0);
    expect(keepMsFor({ mode: 'auto', keepMs: 200 }, [rec('b1'), rec('b1')], 'b1', false)).toBe(200);
    expect(keepMsFor({ mode: 'auto', keepMs: 200 }, [], 'b1', true)).toBe(200);
  });
});
