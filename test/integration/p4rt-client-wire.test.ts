/**
 * The wire behaviour of the controller's P4Runtime client (controller/p4rt/) against the
 * P4Runtime v1.5 specification, over real gRPC on 127.0.0.1.
 *
 * The server here is a SMALL in-test P4Runtime server written from the specification: client
 * arbitration (5.3-5.5: highest election id is primary, OK / ALREADY_EXISTS / NOT_FOUND
 * notifications, INVALID_ARGUMENT for a duplicate election id), Write with per-update errors in
 * grpc-status-details-bin (12.3), Read with table / match / counter filters (11), Set/Get
 * ForwardingPipelineConfig (14), and PacketOut echoed back as PacketIn. It checks what the client
 * sends and how it handles answers; it is not a switch. The embedded switch tests cover the real
 * server: test/integration/p4rt-client-embedded.test.ts runs this client against EmbeddedSwitch
 * (dataplane/p4rt-server.ts), and p4rt-switch.test.ts tests that server on its own.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { NotPrimaryError, P4RuntimeRpcError, P4RuntimeWriteError } from '../../core/errors.js';
import { decodeMessage, encodeMessage, loadGrpcDefinitions } from '../../core/proto.js';
import { P4RuntimeClient, type P4RuntimeClientOptions, type ReconcileReport } from '../../controller/p4rt/client.js';
import { embeddedDeviceConfig } from '../../controller/p4rt/device-config.js';
import { encodeTableEntry, tableEntryKey, type TableEntrySpec } from '../../controller/p4rt/entry-codec.js';
import { P4InfoIndex } from '../../controller/p4rt/p4info-index.js';
import { STATUS_DETAILS_KEY, encodeStatusDetails } from '../../controller/p4rt/write-status.js';
import { fromUint128 } from '../../controller/p4rt/arbitration.js';
import type { CanonicalCodeName } from '../../controller/p4rt/canonical-code.js';
import type { P4RuntimeHandlers } from '../../proto/types/p4/v1/P4Runtime.js';
import type { ForwardingPipelineConfig__Output } from '../../proto/types/p4/v1/ForwardingPipelineConfig.js';
import type { PacketOut__Output } from '../../proto/types/p4/v1/PacketOut.js';
import type { StreamMessageRequest__Output } from '../../proto/types/p4/v1/StreamMessageRequest.js';
import type { StreamMessageResponse } from '../../proto/types/p4/v1/StreamMessageResponse.js';
import type { TableEntry__Output } from '../../proto/types/p4/v1/TableEntry.js';
import type { Entity } from '../../proto/types/p4/v1/Entity.js';
import { handoffEntry as handoff } from '../helpers/fixtures.js';

const P4INFO_BIN = readFileSync(join(import.meta.dirname, '../../p4/p4info/prism.p4info.bin'));
const index = P4InfoIndex.from(P4INFO_BIN);
const DEVICE_ID = 1n;

/** A stand-in eBPF object: an ELF header with e_machine EM_BPF. */
function fakeBpfObject(): Buffer {
  const b = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(b);
  b.writeUInt16LE(247, 18);
  return b;
}

type Stream = grpc.ServerDuplexStream<StreamMessageRequest__Output, StreamMessageResponse>;

/** The in-test P4Runtime server (see the file comment). One device, the default role. */
class SpecServer {
  readonly server = new grpc.Server();
  port = 0;
  pipeline: ForwardingPipelineConfig__Output | null = null;
  readonly entries = new Map<string, TableEntry__Output>();
  readonly packetOuts: PacketOut__Output[] = [];
  writes = 0;
  private readonly controllers = new Map<Stream, bigint>();
  private primary: Stream | null = null;
  private highest: bigint | null = null;

  constructor() {
    const handlers: P4RuntimeHandlers = {
      StreamChannel: (call) => this.stream(call),
      Write: (call, cb) => this.write(call.request, cb),
      Read: (call) => this.read(call),
      SetForwardingPipelineConfig: (call, cb) => {
        const r = call.request;
        if (!this.isPrimary(fromUint128(r.election_id))) return cb({ code: grpc.status.PERMISSION_DENIED, details: 'not primary' });
        if (r.action === 'VERIFY_AND_COMMIT' && r.config) {
          this.pipeline = r.config;
          this.entries.clear();
        }
        cb(null, {});
      },
      GetForwardingPipelineConfig: (call, cb) => {
        if (!this.pipeline) return cb({ code: grpc.status.FAILED_PRECONDITION, details: 'no forwarding pipeline' });
        const cookieOnly = call.request.response_type === 'COOKIE_ONLY';
        cb(null, { config: cookieOnly ? { cookie: this.pipeline.cookie } : this.pipeline });
      },
      Capabilities: (_call, cb) => cb(null, { p4runtime_api_version: '1.5.0' }),
    };
    this.server.addService(loadGrpcDefinitions().p4.v1.P4Runtime.service, handlers);
  }

  async start(port = 0): Promise<this> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return this;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  stop(): void {
    this.server.forceShutdown();
  }

  /** Puts an entry straight into the table, as another controller would have. */
  plant(spec: TableEntrySpec): void {
    const te = encodeForServer(index, spec);
    this.entries.set(tableEntryKey(te), te);
  }

  private isPrimary(electionId: bigint | null): boolean {
    return this.primary !== null && electionId !== null && this.controllers.get(this.primary) === electionId;
  }

  private notify(): void {
    for (const [s] of this.controllers) {
      const code = this.primary === s ? 0 : this.primary ? 6 : 5; // OK, ALREADY_EXISTS, NOT_FOUND
      s.write({
        arbitration: {
          device_id: DEVICE_ID.toString(),
          ...(this.highest !== null ? { election_id: { high: (this.highest >> 64n).toString(), low: (this.highest & ((1n << 64n) - 1n)).toString() } } : {}),
          status: { code, message: code === 0 ? 'primary' : code === 6 ? 'backup' : 'no primary' },
        },
      });
    }
  }

  private stream(call: Stream): void {
    const gone = (): void => {
      if (!this.controllers.delete(call)) return;
      if (this.primary === call) {
        this.primary = null;
        this.notify();
      }
    };
    call.on('data', (msg: StreamMessageRequest__Output) => {
      if (msg.arbitration) {
        const a = msg.arbitration;
        if (BigInt(a.device_id) !== DEVICE_ID) {
          call.emit('error', { code: grpc.status.NOT_FOUND, details: `no device ${a.device_id}` });
          return;
        }
        const id = fromUint128(a.election_id) ?? 0n;
        for (const [other, otherId] of this.controllers) {
          if (other !== call && otherId === id) {
            call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `election id ${id} is in use` });
            return;
          }
        }
        this.controllers.set(call, id);
        if (this.highest === null || id >= this.highest) {
          this.highest = id;
          this.primary = call;
          this.notify();
        } else {
          if (this.primary === call) this.primary = null;
          this.notify();
        }
      } else if (msg.packet) {
        this.packetOuts.push(msg.packet);
        const egress = msg.packet.metadata.find((m) => m.metadata_id === 1)?.value ?? Buffer.from([0]);
        call.write({ packet: { payload: msg.packet.payload, metadata: [{ metadata_id: 1, value: egress }, { metadata_id: 2, value: Buffer.from([0]) }] } });
      }
    });
    call.on('end', () => {
      gone();
      call.end();
    });
    call.on('cancelled', gone);
    call.on('error', gone);
  }

  private write(r: Parameters<P4RuntimeHandlers['Write']>[0]['request'], cb: grpc.sendUnaryData<object>): void {
    this.writes++;
    if (!this.isPrimary(fromUint128(r.election_id))) return cb({ code: grpc.status.PERMISSION_DENIED, details: 'not the primary' });
    if (!this.pipeline) return cb({ code: grpc.status.FAILED_PRECONDITION, details: 'no forwarding pipeline' });
    const outcomes: { code: CanonicalCodeName; message?: string }[] = r.updates.map((u) => {
      const te = u.entity?.table_entry;
      if (!te) return { code: 'UNIMPLEMENTED', message: 'only table entries' };
      if (!index.tableById(te.table_id)) return { code: 'NOT_FOUND', message: `no table ${te.table_id}` };
      const key = tableEntryKey(te);
      const exists = this.entries.has(key);
      switch (u.type) {
        case 'INSERT':
          if (exists) return { code: 'ALREADY_EXISTS', message: 'Entity already exists.' };
          this.entries.set(key, te);
          return { code: 'OK' };
        case 'MODIFY':
          if (!exists) return { code: 'NOT_FOUND', message: 'Entity not found.' };
          this.entries.set(key, te);
          return { code: 'OK' };
        case 'DELETE':
          if (!exists) return { code: 'NOT_FOUND', message: 'Entity not found.' };
          this.entries.delete(key);
          return { code: 'OK' };
        default:
          return { code: 'INVALID_ARGUMENT', message: 'update type unspecified' };
      }
    });
    if (outcomes.every((o) => o.code === 'OK')) return cb(null, {});
    const metadata = new grpc.Metadata();
    metadata.set(STATUS_DETAILS_KEY, encodeStatusDetails('UNKNOWN', 'Write failure.', outcomes));
    cb({ code: grpc.status.UNKNOWN, details: 'Write failure.', metadata });
  }

  private read(call: Parameters<P4RuntimeHandlers['Read']>[0]): void {
    const out: Entity[] = [];
    for (const e of call.request.entities) {
      const f = e.table_entry;
      if (!f) continue;
      for (const te of this.entries.values()) {
        if (f.table_id !== 0 && te.table_id !== f.table_id) continue;
        if (f.match.length > 0 && tableEntryKey({ ...f, priority: te.priority }) !== tableEntryKey(te)) continue;
        if (f.action?.action && te.action?.action?.action_id !== f.action.action.action_id) continue;
        const withCounters = f.counter_data && index.directCounterOf(te.table_id) ? { ...te, counter_data: { byte_count: '1234', packet_count: '5' } } : { ...te, counter_data: null };
        out.push({ table_entry: withCounters });
      }
    }
    // Two chunks, to exercise streaming.
    const half = Math.ceil(out.length / 2);
    if (out.length > 0) call.write({ entities: out.slice(0, half) });
    if (out.length > half) call.write({ entities: out.slice(half) });
    call.end();
  }
}

/** A name-level entry as the server holds it (decoded from the wire form). */
function encodeForServer(ix: P4InfoIndex, spec: TableEntrySpec): TableEntry__Output {
  return decodeMessage<TableEntry__Output>('p4.v1.TableEntry', encodeMessage('p4.v1.TableEntry', encodeTableEntry(ix, spec)));
}


function waitFor<T>(client: P4RuntimeClient, event: 'primary' | 'backup' | 'disconnected' | 'reconnected' | 'reconciled', ms = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
    client.once(event, ((arg: T) => {
      clearTimeout(t);
      resolve(arg);
    }) as never);
  });
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startServer(port = 0): Promise<SpecServer> {
  const s = await new SpecServer().start(port);
  cleanups.push(() => s.stop());
  return s;
}

async function connect(server: SpecServer, electionId: bigint | number, withP4Info = true): Promise<P4RuntimeClient> {
  const options: P4RuntimeClientOptions = {
    deviceId: DEVICE_ID,
    electionId,
    reconnect: { initialMs: 20, maxMs: 200 },
    connectTimeoutMs: 3000,
    ...(withP4Info ? { p4info: P4INFO_BIN } : {}),
  };
  const client = await P4RuntimeClient.connect(server.address, options);
  cleanups.push(() => client.close());
  return client;
}

async function pushPipeline(client: P4RuntimeClient): Promise<void> {
  await client.setPipeline({ p4info: P4INFO_BIN, deviceConfig: embeddedDeviceConfig(fakeBpfObject()) });
}

describe('P4RuntimeClient over gRPC', () => {
  it('arbitrates, pushes the pipeline and reads it back', async () => {
    const server = await startServer();
    const client = await connect(server, 10);
    expect(client.isPrimary).toBe(true);
    expect(client.state).toBe('connected');
    await pushPipeline(client);
    expect(server.pipeline?.p4_device_config).toEqual(fakeBpfObject());
    expect(server.pipeline?.p4info?.tables.map((t) => t.preamble?.alias)).toEqual(['handoff_in', 'handoff_out', 'vip', 'l3']);
    const got = await client.getPipeline();
    expect(got.cookie).toBe(server.pipeline?.cookie?.cookie);
    expect(got.cookie).toMatch(/^\d+$/);
    expect(got.p4info?.table('vip').id).toBe(index.table('vip').id);
    expect((await client.getPipeline('COOKIE_ONLY')).p4info).toBeNull();
  });

  it('fetches the P4Info from the switch when none is given', async () => {
    const server = await startServer();
    const first = await connect(server, 10);
    await pushPipeline(first);
    const second = await connect(server, 5, false);
    expect(second.isPrimary).toBe(false);
    expect(second.p4info.table('l3').alias).toBe('l3');
  });

  it('writes batches and reports each refused update by entry and canonical code', async () => {
    const server = await startServer();
    const client = await connect(server, 10);
    await pushPipeline(client);
    await client.insert(handoff(40000), handoff(40001));
    expect(server.entries.size).toBe(2);

    const results = await client.write([
      { type: 'INSERT', entry: handoff(40000) },
      { type: 'INSERT', entry: handoff(40002) },
      { type: 'DELETE', entry: { table: 'handoff_in', match: handoff(49999).match! } },
      { type: 'MODIFY', entry: handoff(40001, 7) },
    ]);
    expect(results.map((r) => (r.ok ? 'OK' : r.code))).toEqual(['ALREADY_EXISTS', 'OK', 'NOT_FOUND', 'OK']);
    const dup = results[0]!;
    expect(dup.entry).toBe('handoff_in(src_addr=10.0.0.1, dst_addr=10.0.0.100, src_port=40000, dst_port=80)');
    expect(!dup.ok && dup.message).toBe('Entity already exists.');
    expect(server.entries.size).toBe(3);

    const err = await client.insert(handoff(40002), handoff(40003)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(P4RuntimeWriteError);
    const we = err as P4RuntimeWriteError;
    expect(we.failures).toHaveLength(1);
    expect(we.failures[0]).toMatchObject({ index: 0, type: 'INSERT', code: 'ALREADY_EXISTS' });
    expect(we.message).toContain('src_port=40002');
    // Owned: 40000, 40001 (modified), 40002, 40003.
    expect(client.desiredEntries().map((e) => e.match['hdr.tcp.src_port']!.toString('hex')).sort()).toEqual(['9c40', '9c41', '9c42', '9c43']);
  });

  it('reads with table, match, action and counter filters', async () => {
    const server = await startServer();
    const client = await connect(server, 10);
    await pushPipeline(client);
    await client.insert(handoff(40000), handoff(40001), { table: 'vip', match: { dst_addr: '10.0.0.100', dst_port: 80 }, action: 'to_controller' });

    const all = await client.readAll();
    expect(all.map((e) => e.table).sort()).toEqual(['handoff_in', 'handoff_in', 'vip']);

    const withCounters = await client.readAll({ table: 'handoff_in', counters: true });
    expect(withCounters).toHaveLength(2);
    expect(withCounters[0]!.counters).toEqual({ bytes: 1234n, packets: 5n });
    expect(withCounters[0]!.action).toBe('to_backend');
    expect(withCounters[0]!.params.backend_mac).toEqual(Buffer.from('020000000102', 'hex'));

    const one = await client.readAll({ table: 'handoff_in', match: handoff(40001).match! });
    expect(one).toHaveLength(1);
    expect(one[0]!.match['hdr.tcp.src_port']).toEqual(Buffer.from('9c41', 'hex'));

    const partial = await client.readAll({ table: 'handoff_in', match: { src_port: 40000 } });
    expect(partial.map((e) => e.match['hdr.tcp.src_port']!.toString('hex'))).toEqual(['9c40']);

    expect(await client.readAll({ table: 'vip', action: 'nop' })).toEqual([]);
    expect((await client.readAll({ table: 'vip' }))[0]!.counters).toBeUndefined();

    // Breaking out of the iteration early cancels the call cleanly.
    for await (const e of client.read()) {
      expect(e.tableId).toBeGreaterThan(0);
      break;
    }
  });

  it('notices losing primary, refuses writes as a backup, and takes over when claimed', async () => {
    const server = await startServer();
    const a = await connect(server, 10);
    await pushPipeline(a);
    await a.insert(handoff(40000));

    const lost = waitFor<{ code: string }>(a, 'backup');
    const b = await connect(server, 20);
    expect(b.isPrimary).toBe(true);
    expect((await lost).code).toBe('ALREADY_EXISTS');
    expect(a.isPrimary).toBe(false);
    expect(a.primaryElectionId).toBe(20n);
    await expect(a.insert(handoff(40001))).rejects.toBeInstanceOf(NotPrimaryError);
    await b.insert(handoff(40005));

    const vacant = waitFor<{ code: string }>(a, 'backup');
    await b.close();
    expect((await vacant).code).toBe('NOT_FOUND');

    // The switch remembers election id 20: a claims with 21, becomes primary and re-syncs,
    // deleting the entry b left behind (a does not own it).
    const reconciled = waitFor<ReconcileReport>(a, 'reconciled');
    expect(await a.claimPrimary()).toBe(true);
    expect(a.electionId).toBe(21n);
    const report = await reconciled;
    expect(report).toMatchObject({ deleted: 1, inserted: 0, modified: 0, failures: [] });
    expect([...server.entries.values()].map((e) => e.match[2]!.exact!.value.toString('hex'))).toEqual(['9c40']);
  });

  it('refuses an election id another live client uses', async () => {
    const server = await startServer();
    await connect(server, 10);
    const err = await connect(server, 10).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(P4RuntimeRpcError);
    expect((err as P4RuntimeRpcError).grpcCodeName).toBe('INVALID_ARGUMENT');
  });

  it('carries PacketOut and PacketIn with metadata by name', async () => {
    const server = await startServer();
    const client = await connect(server, 10);
    const packets = client.packetIns();
    client.packetOut(Buffer.from('hello'), { egress_port: 5 });
    const it = packets[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    expect(first.value!.payload.toString()).toBe('hello');
    expect(first.value!.metadata).toEqual({ ingress_port: 5n, _pad: 0n });
    expect(server.packetOuts[0]!.metadata.map((m) => [m.metadata_id, m.value.toString('hex')])).toEqual([
      [1, '05'],
      [2, '00'],
    ]);
    await client.close();
    expect((await it.next()).done).toBe(true);
  });

  it('reconciles on request: deletes what it does not own, restores what is missing or changed', async () => {
    const server = await startServer();
    const client = await connect(server, 10);
    await pushPipeline(client);
    await client.insert(handoff(40000), handoff(40001), handoff(40002));
    server.plant(handoff(41000)); // not owned
    server.entries.delete(tableEntryKey(encodeForServer(index, handoff(40001)))); // lost
    server.entries.set(tableEntryKey(encodeForServer(index, handoff(40002))), encodeForServer(index, handoff(40002, 9))); // changed
    const writesBefore = server.writes;
    const report = await client.reconcile();
    expect(report).toMatchObject({ deleted: 1, inserted: 1, modified: 1, defaultsApplied: 0, failures: [] });
    expect(report.tables).toEqual(['handoff_in', 'handoff_out', 'vip', 'l3']);
    expect(server.writes - writesBefore).toBe(3);
    const on = (await client.readAll({ table: 'handoff_in' })).map((e) => [e.match['hdr.tcp.src_port']!.toString('hex'), e.params.port!.toString('hex')]);
    expect(on.sort()).toEqual([
      ['9c40', '02'],
      ['9c41', '02'],
      ['9c42', '02'],
    ]);
    expect(await client.reconcile()).toMatchObject({ deleted: 0, inserted: 0, modified: 0 });
  });

  it('reconnects with backoff after the switch restarts, re-pushes the pipeline and re-syncs the tables', async () => {
    const first = await startServer();
    const port = first.port;
    const client = await connect(first, 10);
    await pushPipeline(client);
    await client.insert(handoff(40000), handoff(40001));
    const cookie = first.pipeline!.cookie!.cookie;

    const disconnected = waitFor<{ error: Error }>(client, 'disconnected');
    first.stop();
    await disconnected;
    expect(client.isPrimary).toBe(false);
    expect(client.state).toBe('reconnecting');
    await expect(client.insert(handoff(40009))).rejects.toThrow(/no P4Runtime stream/);

    // Down for a while: several attempts fail, then the switch is back, empty.
    await new Promise((r) => setTimeout(r, 300));
    const reconciled = waitFor<ReconcileReport>(client, 'reconciled');
    const second = await startServer(port);
    const report = await reconciled;
    expect(client.isPrimary).toBe(true);
    expect(second.pipeline?.cookie?.cookie).toBe(cookie);
    expect(report).toMatchObject({ inserted: 2, deleted: 0, failures: [] });
    expect(second.entries.size).toBe(2);

    // A second restart that keeps the pipeline but holds a stray entry and lost one of ours.
    const again = waitFor(client, 'disconnected');
    second.stop();
    await again;
    const third = new SpecServer();
    third.pipeline = second.pipeline;
    third.plant(handoff(41000));
    third.plant(handoff(40000));
    await third.start(port);
    cleanups.push(() => third.stop());
    const report2 = await waitFor<ReconcileReport>(client, 'reconciled');
    expect(report2).toMatchObject({ inserted: 1, deleted: 1, failures: [] });
    expect([...third.entries.keys()].sort()).toEqual([...second.entries.keys()].sort());
    await client.insert(handoff(40003));
    expect(third.entries.size).toBe(3);
  });
});
