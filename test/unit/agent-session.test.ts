/**
 * The agent's Session stream and framed channel (agent/agent-server.ts, core/control-channel.ts)
 * with the controller's AgentClient, over real gRPC and TCP on loopback: a controller without the agent's token never gets a stream (its calls fail as
 * never sent, nothing reaches the host), one with it gets answers, errors with their gRPC codes,
 * and the host's events.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AgentServer } from '../../agent/agent-server.js';
import type { LoadReport, TransactionDone, TransactionHost } from '../../agent/transaction-host.js';
import { AgentCallError, AgentClient } from '../../controller/handoff/agent-client.js';
import { agentMessages, controllerMessages, readMessages } from '../../core/control-channel.js';
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

describe('the agent Session stream and framed channel', () => {
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

  it.each([
    ['the framed channel', true, 'channel'],
    ['the gRPC Session stream', false, 'grpc'],
  ] as const)('with the token, over %s: answers, errors with their codes, and events on the same link', async (_name, channel, link) => {
    const f = fakeHost();
    server = await AgentServer.start({ name: 'b1', listen: '127.0.0.1:0', token: TOKEN, backendAddress: '10.0.0.11', host: f.host });
    expect(server.channelPort).toBeGreaterThan(0);
    client = new AgentClient('b1', server.address, TOKEN, { channel });
    await waitFor(() => client!.up, 'the session to come up');
    expect(client.link).toBe(link);
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

  it('the framed channel refuses a wrong token: an UNAUTHENTICATED frame, the connection closed, the host untouched', async () => {
    const f = fakeHost();
    server = await AgentServer.start({ name: 'b1', listen: '127.0.0.1:0', token: TOKEN, backendAddress: '10.0.0.11', host: f.host });
    const sock = net.connect({ host: '127.0.0.1', port: server.channelPort });
    const got: Record<string, any>[] = [];
    readMessages(sock, agentMessages(), (m) => got.push(m), () => undefined);
    const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    sock.write(controllerMessages().frame({ call_id: '0', hello: { token: 'not-the-token-at-all' } }));
    sock.write(controllerMessages().frame({ call_id: '1', abort: { transaction_id: '1', reason: 'x' } }));
    await closed;
    expect(got).toHaveLength(1);
    expect(got[0]!.message).toBe('error');
    expect(got[0]!.error.code).toBe(grpc.status.UNAUTHENTICATED);
    // An AgentClient with the wrong token never comes up, and sends nothing.
    client = new AgentClient('b1', server.address, 'not-the-token-at-all');
    const err = await client.call('Abort', { transaction_id: '1', reason: 'x' }, 1000).catch((e: unknown) => e);
    expect((err as AgentCallError).neverSent).toBe(true);
    expect(client.up).toBe(false);
    expect(f.calls).toEqual([]);
  });

  it('a frame over the size limit or a message that does not decode closes that connection only', async () => {
    const f = fakeHost();
    server = await AgentServer.start({ name: 'b1', listen: '127.0.0.1:0', token: TOKEN, backendAddress: '10.0.0.11', host: f.host });
    client = new AgentClient('b1', server.address, TOKEN);
    await waitFor(() => client!.up, 'the session to come up');
    // Over 64 MiB; over 64 KiB before the hello; bytes that are no ControllerMessage.
    const bigHello = Buffer.alloc(4);
    bigHello.writeUInt32BE(100_000);
    for (const bad of [Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), bigHello, Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from([0xff, 0xff, 0xff])])]) {
      const sock = net.connect({ host: '127.0.0.1', port: server.channelPort });
      const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
      sock.on('error', () => undefined);
      sock.write(bad);
      await closed;
    }
    expect(await client.call('Abort', { transaction_id: '9', reason: 'x' }, 1000)).toEqual({ found: false });
    expect(f.calls).toEqual(['abort']);
  });

  it('on a unix socket the channel is <path>.channel; without a channel the client uses the Session stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prism-agent-'));
    try {
      const f = fakeHost();
      server = await AgentServer.start({ name: 'b1', listen: `unix:${join(dir, 'b1.sock')}`, token: TOKEN, backendAddress: '10.0.0.11', host: f.host });
      expect(server.channelPath).toBe(join(dir, 'b1.sock.channel'));
      client = new AgentClient('b1', server.address, TOKEN);
      await waitFor(() => client!.up, 'the session to come up');
      expect(client.link).toBe('channel');
      expect(await client.call('Abort', { transaction_id: '3', reason: 'x' }, 1000)).toEqual({ found: false });
      client.close();
      await server.stop();
      server = await AgentServer.start({ name: 'b1', listen: '127.0.0.1:0', token: TOKEN, backendAddress: '10.0.0.11', host: f.host, channelPort: null });
      expect(server.channelPort).toBe(0);
      client = new AgentClient('b1', server.address, TOKEN);
      await waitFor(() => client!.up, 'the session to come up');
      expect(client.link).toBe('grpc');
      expect(await client.call('Abort', { transaction_id: '4', reason: 'x' }, 1000)).toEqual({ found: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
