/**
 * The agent's Session stream (agent/agent-server.ts) with the controller's AgentClient, over real
 * gRPC on loopback: a controller without the agent's token never gets a stream (its calls fail as
 * never sent, nothing reaches the host), one with it gets answers, errors with their gRPC codes,
 * and the host's events.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { AgentServer } from '../../agent/agent-server.js';
import type { LoadReport, TransactionDone, TransactionHost } from '../../agent/transaction-host.js';
import { AgentCallError, AgentClient } from '../../controller/handoff/agent-client.js';
import { loadGrpcDefinitions } from '../../core/proto.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'a-token-of-sixteen-or-more';

/** A host that records what it is asked and lets the test emit Done. */
function fakeHost() {
  const calls: string[] = [];
  const done: ((d: TransactionDone) => void)[] = [];
  const load = (): LoadReport => ({ agent: 'b1', active_transactions: 0, queue_length: 0, cpu_utilization: 0, recent_throughput_bps: '0', timestamp_ms: '0' });
  const host: TransactionHost = {
    prepare: async () => void calls.push('prepare'),
    start: async () => void calls.push('start'),
    release: async (id) => {
      calls.push('release');
      throw Object.assign(new Error(`no transaction ${id}`), { grpcCode: grpc.status.NOT_FOUND });
    },
    continue: async () => void calls.push('continue'),
    abort: async () => {
      calls.push('abort');
      return false;
    },
    onDone: (l) => void done.push(l),
    onAborted: () => undefined,
    onNextRequest: () => undefined,
    load,
  };
  return { host, calls, emitDone: (d: TransactionDone) => done.forEach((l) => l(d)) };
}

describe('the agent Session stream', () => {
  let server: AgentServer | undefined;
  let client: AgentClient | undefined;
  afterEach(async () => {
    client?.close();
    await server?.stop();
  });

  it('refuses a controller without the token: no stream, calls never sent, the host untouched', async () => {
    const f = fakeHost();
    server = await AgentServer.start({ name: 'b1', listen: '127.0.0.1:0', token: TOKEN, backendAddress: '10.0.0.11', host: f.host });
    // The stream itself is refused with UNAUTHENTICATED.
    const Agent = loadGrpcDefinitions().prism.control.v1.Agent;
    const stub = new Agent(server.address, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer not-the-token-at-all');
    const refused = await new Promise<number>((resolve, reject) => {
      const s = stub.Session(md);
      const t = setTimeout(() => reject(new Error('the stream was neither refused nor ended within 5 s')), 5000);
      s.on('error', (e: grpc.ServiceError) => {
        clearTimeout(t);
        resolve(e.code);
      });
      s.write({ call_id: '1', abort: { transaction_id: '1', reason: 'x' } });
    });
    stub.close();
    expect(refused).toBe(grpc.status.UNAUTHENTICATED);
    // So an AgentClient with that token has no session, and its calls are never sent.
    client = new AgentClient('b1', server.address, 'not-the-token-at-all');
    expect(client.up).toBe(false);
    const err = await client.call('Abort', { transaction_id: '1', reason: 'x' }, 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentCallError);
    expect((err as AgentCallError).neverSent).toBe(true);
    expect(f.calls).toEqual([]);
  });

  it('with the token: answers, errors with their codes, and events on the same stream', async () => {
    const f = fakeHost();
    server = await AgentServer.start({ name: 'b1', listen: '127.0.0.1:0', token: TOKEN, backendAddress: '10.0.0.11', host: f.host });
    client = new AgentClient('b1', server.address, TOKEN);
    await waitFor(() => client!.up, 'the session to come up');
    expect(await client.call('Abort', { transaction_id: '7', reason: 'x' }, 1000)).toEqual({ found: false });
    const err = await client.call('Release', { transaction_id: '7' }, 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentCallError);
    expect((err as AgentCallError).grpcCode).toBe(grpc.status.NOT_FOUND);
    expect((err as AgentCallError).neverSent).toBe(false);
    const seen = new Promise<unknown[]>((resolve) => client!.once('done', (...args: unknown[]) => resolve(args)));
    f.emitDone({ id: 7n, bytesSent: 300n, bytesReceived: 27n, closeRequested: true });
    expect(await seen).toEqual([7n, 300n, 27n, undefined, true]);
    expect(f.calls).toEqual(['abort', 'release']);
  });
});
