/**
 * BMv2 (simple_switch_grpc, with the PI P4Runtime server) running the p4c-compiled v1model program,
 * where p4c and simple_switch_grpc are on PATH (the reference build in ../shared/p4ref installs
 * both; docs/codegen.md says how to build them). Without them, or without root (namespaces), the
 * file prints why it skipped.
 *
 * 1. PI itself, with raw P4Runtime messages (no prism client in the way): the behaviours
 *    docs/bmv2.md lists, each asserted as the real switch shows it: atomicity, per-update errors,
 *    default entries, wildcard reads, PacketIn / PacketOut metadata bytes.
 * 2. The prism P4Runtime client against it: the pipeline push, every packet vector of
 *    test/vectors (the table the eBPF target runs too) for prism and then, after replacing the
 *    pipeline, for l3; default actions, reads, direct counters, per-update errors, reconcile.
 *
 * BMv2 runs in a namespace whose ports 0-3 are veths to a peer namespace, where the test sends
 * and captures frames with AF_PACKET sockets; the CPU port is VECTOR_PORTS.cpu. Everything waits
 * for an event (the gRPC socket appearing, the channel ready, a frame, a PacketIn); a drop is
 * shown by a marker frame sent after it on the same port coming out (BMv2's one ingress thread
 * takes frames in arrival order). The topology (namespaces, BMv2) and the temp dir go in afterAll.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toUint128 } from '../../controller/p4rt/arbitration.js';
import { P4RuntimeClient, type ReconcileReport } from '../../controller/p4rt/client.js';
import { bmv2DeviceConfig } from '../../controller/p4rt/device-config.js';
import { encodeTableEntry, type MatchSpec, type TableEntrySpec } from '../../controller/p4rt/entry-codec.js';
import { P4InfoIndex } from '../../controller/p4rt/p4info-index.js';
import type { ReceivedPacket } from '../../controller/p4rt/packet-metadata.js';
import { STATUS_DETAILS_KEY, decodeStatusDetails, type DecodedStatus } from '../../controller/p4rt/write-status.js';
import { P4RuntimeRpcError } from '../../core/errors.js';
import { buildArpFrame, buildTcpFrame } from '../../core/header/frame.js';
import { ARP_OP_REQUEST } from '../../core/header/arp.js';
import { TCP_ACK } from '../../core/header/tcp.js';
import { decodeMessage, loadGrpcDefinitions } from '../../core/proto.js';
import { PacketSocket, packetAddonUnavailableReason } from '../../native/packet.js';
import { Topology, isRoot, type Host } from '../../netns/index.js';
import type { P4Info__Output } from '../../proto/types/p4/config/v1/P4Info.js';
import type { Entity, Entity__Output } from '../../proto/types/p4/v1/Entity.js';
import type { PacketMetadata } from '../../proto/types/p4/v1/PacketMetadata.js';
import type { P4RuntimeClient as P4RuntimeStub } from '../../proto/types/p4/v1/P4Runtime.js';
import type { ReadResponse__Output } from '../../proto/types/p4/v1/ReadResponse.js';
import type { StreamMessageRequest } from '../../proto/types/p4/v1/StreamMessageRequest.js';
import type { StreamMessageResponse__Output } from '../../proto/types/p4/v1/StreamMessageResponse.js';
import type { TableEntry } from '../../proto/types/p4/v1/TableEntry.js';
import type { Update } from '../../proto/types/p4/v1/Update.js';
import { compileV1model, hasTool } from '../../codegen/p4c.js';
import { REPO } from '../helpers/ebpf.js';
import { VECTOR_PORTS, pipelineVectors, type EntrySpec } from '../vectors/pipeline-vectors.js';

const missing = ['p4c', 'simple_switch_grpc'].filter((c) => !hasTool(c));
const reason =
  missing.length > 0
    ? `${missing.join(' and ')} not on PATH (../shared/p4ref/install.sh installs the reference build; docs/codegen.md says how to build them)`
    : !isRoot()
      ? 'needs root for namespaces'
      : packetAddonUnavailableReason();
if (reason) console.warn(`[skip] BMv2 tests: ${reason}`);

const DEVICE_ID = '1';
const CPU = VECTOR_PORTS.cpu;
/** BMv2 data ports. Port 0 is attached too: BMv2 sends a packet no action forwarded to port 0. */
const PORTS = [0, 1, 2, 3];
const EVENT_TIMEOUT_MS = 10_000;
const SWITCH_MAC = '02:00:00:00:00:aa';

/** The route that forwards the marker frame (198.51.100.0/24 → port 3), in each pipeline's LPM table. */
function markerRoute(pipeline: 'prism' | 'l3'): EntrySpec {
  return {
    table: pipeline === 'prism' ? 'l3' : 'routes',
    match: { 'hdr.ipv4.dst_addr': { lpm: '198.51.100.0', prefixLen: 24 } },
    action: 'route',
    params: { port: VECTOR_PORTS.other, src_mac: SWITCH_MAC, dst_mac: '02:00:00:00:33:33' },
  };
}
const MARKER_ROUTE = markerRoute('prism');
/** A frame only the marker route forwards; `out`: as it leaves the switch. */
function markerFrame(n: number, out: boolean): Buffer {
  return buildTcpFrame({
    srcMac: '02:00:00:00:00:01',
    dstMac: out ? '02:00:00:00:33:33' : SWITCH_MAC,
    ...(out ? { srcMac: SWITCH_MAC } : {}),
    srcIp: '10.0.0.1',
    dstIp: '198.51.100.1',
    srcPort: 50_000 + n,
    dstPort: 9,
    seq: n,
    ack: 0,
    flags: TCP_ACK,
    window: 100,
  });
}

function vectorNamed(prefix: string): ReturnType<typeof pipelineVectors>[number] {
  const v = pipelineVectors().find((x) => x.name.startsWith(prefix));
  if (!v) throw new Error(`no vector named ${prefix}…`);
  return v;
}

/** The vector's entries as the client's name-level specs. */
function entrySpec(e: EntrySpec): TableEntrySpec {
  const match: Record<string, MatchSpec> = {};
  for (const [k, m] of Object.entries(e.match)) {
    match[k] = 'exact' in m ? m.exact : 'lpm' in m ? { value: m.lpm, prefixLen: m.prefixLen } : { value: m.ternary, mask: m.mask };
  }
  return { table: e.table, match, action: e.action, params: e.params, ...(e.priority !== undefined ? { priority: e.priority } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Things that arrive (frames, stream messages, PacketIns), kept in order and awaited as events.

class Arrivals<T> {
  private readonly items: T[] = [];
  private waiters: (() => void)[] = [];

  constructor(private readonly show: (item: T) => string) {}

  push(item: T): void {
    this.items.push(item);
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Position now; since(mark) lists what came after. */
  mark(): number {
    return this.items.length;
  }

  since(mark: number): T[] {
    return this.items.slice(mark);
  }

  /** Resolves with the first item after `mark` that `pred` accepts (default: any). */
  async next(mark: number, what: string, pred: (item: T) => boolean = () => true): Promise<T> {
    const deadline = Date.now() + EVENT_TIMEOUT_MS;
    for (;;) {
      const hit = this.items.slice(mark).find(pred);
      if (hit !== undefined) return hit;
      const left = deadline - Date.now();
      if (left <= 0) {
        const got = this.since(mark).map(this.show);
        throw new Error(`timed out after ${EVENT_TIMEOUT_MS} ms waiting for ${what}; got: ${got.length > 0 ? got.join('; ') : 'nothing'}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

interface Seen {
  readonly port: number;
  readonly frame: Buffer;
}

/** AF_PACKET sockets on the peer side of the switch's ports. */
class PortCapture {
  private readonly sockets = new Map<number, PacketSocket>();
  readonly frames = new Arrivals<Seen>((s) => `port ${s.port}: ${s.frame.toString('hex')}`);

  constructor(netns: string, ports: readonly number[]) {
    for (const p of ports) {
      const s = PacketSocket.open(`h${p}`, { netns });
      s.onFrames((frames) => {
        for (const frame of frames) this.frames.push({ port: p, frame });
      });
      this.sockets.set(p, s);
    }
  }

  send(port: number, frame: Buffer): void {
    const s = this.sockets.get(port);
    if (!s) throw new Error(`no capture on port ${port}`);
    s.send(frame);
  }

  close(): void {
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// Raw P4Runtime: requests as the spec writes them, answers as PI gives them.

interface RawStatus {
  readonly code: number;
  readonly details: DecodedStatus | null;
  readonly message: string;
}

class RawP4Runtime {
  readonly messages = new Arrivals<StreamMessageResponse__Output>((m) => JSON.stringify(m));
  private readonly call: grpc.ClientDuplexStream<StreamMessageRequest, StreamMessageResponse__Output>;

  private constructor(
    private readonly stub: P4RuntimeStub,
    readonly electionId: bigint,
  ) {
    this.call = stub.StreamChannel();
    this.call.on('data', (m: StreamMessageResponse__Output) => this.messages.push(m));
    this.call.on('error', () => {});
  }

  static async open(address: string, electionId: bigint): Promise<RawP4Runtime> {
    const { P4Runtime } = loadGrpcDefinitions().p4.v1;
    const stub = new P4Runtime(address, grpc.credentials.createInsecure()) as unknown as P4RuntimeStub;
    try {
      await new Promise<void>((resolve, reject) => stub.waitForReady(Date.now() + EVENT_TIMEOUT_MS, (err) => (err ? reject(err) : resolve())));
    } catch (err) {
      stub.close();
      throw err;
    }
    return new RawP4Runtime(stub, electionId);
  }

  send(msg: StreamMessageRequest): void {
    this.call.write(msg);
  }

  async arbitrate(): Promise<number> {
    const mark = this.messages.mark();
    this.send({ arbitration: { device_id: DEVICE_ID, election_id: toUint128(this.electionId) } });
    const msg = await this.messages.next(mark, 'the arbitration answer', (m) => m.update === 'arbitration');
    return msg.arbitration?.status?.code ?? -1;
  }

  private status(err: grpc.ServiceError | null): RawStatus {
    if (!err) return { code: grpc.status.OK, details: null, message: '' };
    const raw = err.metadata?.get(STATUS_DETAILS_KEY)[0];
    return { code: err.code, details: raw && typeof raw !== 'string' ? decodeStatusDetails(raw) : null, message: err.details };
  }

  setPipeline(p4info: P4Info__Output, json: Buffer): Promise<RawStatus> {
    const request = {
      device_id: DEVICE_ID,
      election_id: toUint128(this.electionId),
      action: 'VERIFY_AND_COMMIT' as const,
      config: { p4info, p4_device_config: json, cookie: { cookie: '1' } },
    };
    return new Promise((resolve) => this.stub.SetForwardingPipelineConfig(request, (err) => resolve(this.status(err))));
  }

  write(updates: Update[], atomicity: 'CONTINUE_ON_ERROR' | 'ROLLBACK_ON_ERROR' | 'DATAPLANE_ATOMIC' = 'CONTINUE_ON_ERROR'): Promise<RawStatus> {
    const request = { device_id: DEVICE_ID, election_id: toUint128(this.electionId), updates, atomicity };
    return new Promise((resolve) => this.stub.Write(request, (err) => resolve(this.status(err))));
  }

  async read(entities: Entity[]): Promise<{ entities: Entity__Output[]; status: RawStatus }> {
    const out: Entity__Output[] = [];
    const call = this.stub.Read({ device_id: DEVICE_ID, entities });
    try {
      for await (const res of call as AsyncIterable<ReadResponse__Output>) out.push(...res.entities);
      return { entities: out, status: this.status(null) };
    } catch (err) {
      return { entities: out, status: this.status(err as grpc.ServiceError) };
    }
  }

  close(): void {
    this.call.end();
    this.call.cancel();
    this.stub.close();
  }
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(reason)('BMv2: PI and the prism client on simple_switch_grpc', () => {
  let dir = '';
  let topo: Topology | undefined;
  let bmv2: ChildProcess | undefined;
  let sw: Host;
  let capture: PortCapture | undefined;
  let raw: RawP4Runtime | undefined;
  let client: P4RuntimeClient | undefined;
  /** p4c's JSON and the committed P4Info of each pipeline. */
  const builds = new Map<string, { json: Buffer; p4info: P4Info__Output }>();
  let json: Buffer;
  let p4info: P4Info__Output;
  let index: P4InfoIndex;
  let address = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'prism-bmv2-'));
    for (const name of ['prism', 'l3']) {
      const out = join(dir, name);
      mkdirSync(out);
      const compiled = compileV1model(join(REPO, 'p4', 'v1model', `${name}.p4`), out, { CPU_PORT: CPU });
      expect(compiled.status, compiled.stderr).toBe(0);
      expect(compiled.diagnostics, 'p4c warnings or errors').toEqual([]);
      builds.set(name, {
        json: bmv2DeviceConfig(readFileSync(compiled.json)),
        // The controller's P4Info (committed); p4c-bmv2.test.ts shows p4c writes the same.
        p4info: decodeMessage<P4Info__Output>('p4.config.v1.P4Info', readFileSync(join(REPO, 'p4', 'p4info', `${name}.p4info.bin`))),
      });
    }
    ({ json, p4info } = builds.get('prism')!);
    index = P4InfoIndex.from(p4info);

    topo = new Topology();
    sw = await topo.addHost('bmv2');
    const peer = await topo.addHost('peer');
    // No IPv6: the kernels would send router solicitations and MLD reports through the switch.
    for (const h of [sw, peer]) {
      await h.sysctl('net.ipv6.conf.all.disable_ipv6', '1');
      await h.sysctl('net.ipv6.conf.default.disable_ipv6', '1');
    }
    for (const p of PORTS) await topo.link(sw, peer, { ifnameA: `s${p}`, ifnameB: `h${p}` });
    capture = new PortCapture(peer.netns, PORTS);

    // gRPC over a unix socket: BMv2 runs in the switch namespace, and a unix socket (a file) is
    // reachable from this process's namespace where 127.0.0.1 in another namespace is not.
    const sock = join(dir, 'p4runtime.sock');
    address = `unix:${sock}`;
    const appeared = new Promise<void>((resolve, reject) => {
      const watcher = watch(dir, () => {
        if (existsSync(sock)) done();
      });
      const timer = setTimeout(() => fail(new Error(`simple_switch_grpc did not create ${sock} within ${EVENT_TIMEOUT_MS} ms`)), EVENT_TIMEOUT_MS);
      const finish = (): void => {
        watcher.close();
        clearTimeout(timer);
      };
      const done = (): void => {
        finish();
        resolve();
      };
      const fail = (e: Error): void => {
        finish();
        reject(e);
      };
      bmv2 = sw.spawn(
        ['simple_switch_grpc', '--no-p4', '--device-id', DEVICE_ID, ...PORTS.flatMap((p) => ['-i', `${p}@s${p}`]), '--', '--grpc-server-addr', address, '--cpu-port', String(CPU)],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      bmv2.once('exit', (code, signal) => fail(new Error(`simple_switch_grpc exited (${code ?? signal}): ${sw.stderrTail(bmv2!).trim() || '(no stderr)'}`)));
      if (existsSync(sock)) done();
    });
    await appeared;
  });

  afterAll(async () => {
    const steps: (() => unknown)[] = [
      () => raw?.close(),
      () => client?.close(),
      () => capture?.close(),
      () => topo?.teardown(),
      () => dir && rmSync(dir, { recursive: true, force: true }),
    ];
    const errors: unknown[] = [];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  });

  const wire = (spec: TableEntrySpec, requireAction = true): TableEntry => encodeTableEntry(index, spec, { requireAction });
  const tableId = (name: string): number => index.table(name).id;
  const insert = (te: TableEntry): Update => ({ type: 'INSERT', entity: { table_entry: te } });
  const modify = (te: TableEntry): Update => ({ type: 'MODIFY', entity: { table_entry: te } });
  const del = (te: TableEntry): Update => ({ type: 'DELETE', entity: { table_entry: te } });
  const vipEntry = (): TableEntry => wire(entrySpec(vectorNamed('vip:').entries[0]!));
  const updateCodes = (r: RawStatus): string[] => r.details?.errors.map((e) => e.code) ?? [];
  const arp = (senderIp: string): Buffer =>
    buildArpFrame({ op: ARP_OP_REQUEST, senderMac: '02:00:00:00:00:02', senderIp, targetMac: '00:00:00:00:00:00', targetIp: '10.0.1.1', ethDst: 'ff:ff:ff:ff:ff:ff' });

  describe('PI itself, with raw P4Runtime messages', () => {
    it('answers the first arbitration with OK (primary) and accepts the p4c JSON with our P4Info', async () => {
      raw = await RawP4Runtime.open(address, 10n);
      expect(await raw.arbitrate()).toBe(grpc.status.OK);
      expect(await raw.setPipeline(p4info, json)).toEqual({ code: grpc.status.OK, details: null, message: '' });
    });

    it('refuses ROLLBACK_ON_ERROR and DATAPLANE_ATOMIC as a whole (UNIMPLEMENTED); CONTINUE_ON_ERROR works', async () => {
      for (const atomicity of ['ROLLBACK_ON_ERROR', 'DATAPLANE_ATOMIC'] as const) {
        const r = await raw!.write([insert(vipEntry())], atomicity);
        expect(r.code, atomicity).toBe(grpc.status.UNIMPLEMENTED);
        expect(r.message).toMatch(/atomic write modes/);
        expect(updateCodes(r), 'no per-update details').toEqual([]);
      }
      // Nothing was written by the refused requests: the same INSERT now succeeds.
      expect((await raw!.write([insert(vipEntry())])).code).toBe(grpc.status.OK);
      expect((await raw!.write([del(vipEntry())])).code).toBe(grpc.status.OK);
    });

    it('reports a partly failed batch as UNKNOWN with one p4.v1.Error per update, in order', async () => {
      const route = wire(entrySpec(MARKER_ROUTE));
      expect((await raw!.write([insert(vipEntry())])).code).toBe(grpc.status.OK);
      const r = await raw!.write([insert(route), insert(vipEntry())]);
      expect(r.code).toBe(grpc.status.UNKNOWN);
      expect(updateCodes(r)).toEqual(['OK', 'ALREADY_EXISTS']);
      // The OK update of the failed batch was applied (CONTINUE_ON_ERROR).
      const back = await raw!.read([{ table_entry: { table_id: tableId('l3') } }]);
      expect(back.entities.length).toBe(1);
      expect((await raw!.write([del(route), del(vipEntry())])).code).toBe(grpc.status.OK);
    });

    it('sets a default action only with MODIFY + is_default_action, and refuses it for a const default', async () => {
      const toRoute = wire({ table: 'l3', isDefault: true, action: 'route', params: { port: 2, src_mac: SWITCH_MAC, dst_mac: '02:00:00:00:02:02' } });
      const readDefault = async (): Promise<number | undefined> => {
        const r = await raw!.read([{ table_entry: { table_id: tableId('l3'), is_default_action: true } }]);
        expect(r.status.code).toBe(grpc.status.OK);
        expect(r.entities.map((e) => e.table_entry?.is_default_action)).toEqual([true]);
        return r.entities[0]?.table_entry?.action?.action?.action_id;
      };
      expect(await readDefault()).toBe(index.action('drop').id);
      const ins = await raw!.write([insert(toRoute)]);
      expect([ins.code, updateCodes(ins), ins.details?.errors[0]?.message]).toEqual([grpc.status.UNKNOWN, ['INVALID_ARGUMENT'], 'Cannot use INSERT for default entry']);
      expect((await raw!.write([modify(toRoute)])).code).toBe(grpc.status.OK);
      expect(await readDefault()).toBe(index.action('route').id);
      // MODIFY without an action resets the default to the program's (drop); DELETE is refused.
      expect((await raw!.write([modify({ table_id: tableId('l3'), is_default_action: true })])).code).toBe(grpc.status.OK);
      expect(await readDefault()).toBe(index.action('drop').id);
      const delDefault = await raw!.write([del({ table_id: tableId('l3'), is_default_action: true })]);
      expect(updateCodes(delDefault)).toEqual(['INVALID_ARGUMENT']);
      const constDefault = await raw!.write([modify({ table_id: tableId('vip'), is_default_action: true, action: { action: { action_id: index.action('nop').id } } })]);
      expect(updateCodes(constDefault)).toEqual(['PERMISSION_DENIED']);
    });

    it('reads every table for table_id 0 (entries only, not the default entries), values canonical', async () => {
      const route = wire(entrySpec(MARKER_ROUTE));
      // A default set by the controller is not returned either.
      const toRoute = wire({ table: 'l3', isDefault: true, action: 'route', params: { port: 2, src_mac: SWITCH_MAC, dst_mac: '02:00:00:00:02:02' } });
      expect((await raw!.write([insert(route), insert(vipEntry()), modify(toRoute)])).code).toBe(grpc.status.OK);
      try {
        const all = await raw!.read([{ table_entry: { table_id: 0 } }]);
        expect(all.status.code).toBe(grpc.status.OK);
        expect(all.entities.map((e) => [e.table_entry?.table_id, e.table_entry?.is_default_action]).sort()).toEqual(
          [[tableId('vip'), false], [tableId('l3'), false]].sort(),
        );
        const vip = all.entities.find((e) => e.table_entry?.table_id === tableId('vip'))!.table_entry!;
        // The dst port 80 (16 bits) comes back as one byte: canonical bytestrings (spec 8.4).
        expect(vip.match.map((m) => m.exact?.value.toString('hex'))).toEqual(['0a000064', '50']);
        const one = await raw!.read([{ table_entry: { table_id: tableId('l3') } }]);
        expect(one.entities.map((e) => e.table_entry?.table_id)).toEqual([tableId('l3')]);
      } finally {
        expect((await raw!.write([del(route), del(vipEntry()), modify({ table_id: tableId('l3'), is_default_action: true })])).code).toBe(grpc.status.OK);
      }
    });

    it('sends PacketIn metadata as canonical bytestrings, to the primary only', async () => {
      const backup = await RawP4Runtime.open(address, 5n);
      try {
        expect(await backup.arbitrate()).toBe(grpc.status.ALREADY_EXISTS);
        const mark = raw!.messages.mark();
        const backupMark = backup.messages.mark();
        const frames = [arp('10.0.1.2'), arp('10.0.1.3')];
        for (const f of frames) capture!.send(2, f);
        for (const f of frames) {
          const m = await raw!.messages.next(mark, 'a PacketIn', (x) => x.update === 'packet' && x.packet!.payload.equals(f));
          // ingress_port 2 (bit<9>) as one byte, _pad (bit<7>) 0 as one zero byte.
          expect(m.packet!.metadata.map((x) => [x.metadata_id, x.value.toString('hex')])).toEqual([
            [1, '02'],
            [2, '00'],
          ]);
        }
        // Both reached the primary; the backup, on the same server, got neither.
        expect(backup.messages.since(backupMark).filter((x) => x.update === 'packet')).toEqual([]);
      } finally {
        backup.close();
      }
    });

    it('accepts PacketOut metadata canonical, zero-padded, with the padding field empty or left out', async () => {
      const frame = markerFrame(1, true);
      const forms: [string, number, PacketMetadata[]][] = [
        ['canonical', 1, [{ metadata_id: 1, value: Buffer.from([1]) }, { metadata_id: 2, value: Buffer.from([0]) }]],
        ['zero-padded to 2 bytes', 2, [{ metadata_id: 1, value: Buffer.from([0, 2]) }, { metadata_id: 2, value: Buffer.from([0]) }]],
        ['padding field empty', 3, [{ metadata_id: 1, value: Buffer.from([3]) }, { metadata_id: 2, value: Buffer.alloc(0) }]],
        ['padding field left out', 1, [{ metadata_id: 1, value: Buffer.from([1]) }]],
      ];
      for (const [form, port, metadata] of forms) {
        const mark = capture!.frames.mark();
        const streamMark = raw!.messages.mark();
        raw!.send({ packet: { payload: frame, metadata } });
        const got = await capture!.frames.next(mark, `the PacketOut (${form})`, (x) => x.frame.equals(frame));
        expect(got.port, form).toBe(port);
        expect(raw!.messages.since(streamMark).filter((m) => m.update === 'error'), `${form}: no stream error`).toEqual([]);
      }
    });

    it('closes (the primary leaves)', () => {
      raw!.close();
      raw = undefined;
    });
  });

  describe('the prism client', () => {
    const pins = new Arrivals<ReceivedPacket>((p) => `PacketIn ${JSON.stringify(p.metadata, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))} ${p.payload.toString('hex')}`);

    it('connects as primary (election id 1, below the old primary\'s 10) and pushes the pipeline', async () => {
      client = await P4RuntimeClient.connect(address, { deviceId: DEVICE_ID, electionId: 1, reconnect: false });
      expect(client.isPrimary).toBe(true);
      client.on('packetIn', (p) => pins.push(p));
      await client.setPipeline({ p4info, deviceConfig: json });
      const { cookie } = await client.getPipeline('COOKIE_ONLY');
      expect(cookie).not.toBeNull();
      await client.insert(entrySpec(MARKER_ROUTE));
    });

    /** Sends the marker after a frame on `port` and waits for it: BMv2 has then decided the frame. */
    async function markerAfter(port: number, n: number): Promise<void> {
      const mark = capture!.frames.mark();
      capture!.send(port, markerFrame(n, false));
      await capture!.frames.next(mark, 'the marker frame', (x) => x.port === VECTOR_PORTS.other && x.frame.equals(markerFrame(n, true)));
    }
    const isMarker = (s: Seen): boolean => s.port === VECTOR_PORTS.other && s.frame.length === markerFrame(0, true).length && s.frame.readUInt32BE(14 + 16) === 0xc6336401;

    let n = 100;
    function vectorTests(pipeline: 'prism' | 'l3'): void {
      for (const v of pipelineVectors().filter((x) => x.pipeline === pipeline)) {
        it(`${pipeline} vector: ${v.name}`, async () => {
          const c = client!;
          const entries = v.entries.map(entrySpec);
          if (entries.length > 0) await c.insert(...entries);
          try {
            const mark = capture!.frames.mark();
            const pinMark = pins.mark();
            if (v.ingressPort === CPU) c.packetOut(v.input.subarray(2), { egress_port: v.input.readUInt16BE(0) >> 7 });
            else capture!.send(v.ingressPort, v.input);
            if ('drop' in v.expect) {
              await markerAfter(v.ingressPort, n++);
              expect(capture!.frames.since(mark).filter((s) => !isMarker(s)).map((s) => `port ${s.port}: ${s.frame.toString('hex')}`)).toEqual([]);
              expect(pins.since(pinMark)).toEqual([]);
            } else if (v.expect.port === CPU) {
              const pin = await pins.next(pinMark, 'a PacketIn');
              expect(pin.payload.toString('hex')).toBe(v.expect.output.subarray(2).toString('hex'));
              expect(pin.metadata).toEqual({ ingress_port: BigInt(v.expect.output.readUInt16BE(0) >> 7), _pad: 0n });
            } else {
              const first = await capture!.frames.next(mark, `a frame on port ${v.expect.port}`);
              expect({ port: first.port, frame: first.frame.toString('hex') }).toEqual({ port: v.expect.port, frame: v.expect.output.toString('hex') });
            }
          } finally {
            if (entries.length > 0) await c.delete(...entries);
          }
        });
      }
    }
    vectorTests('prism');

    it('counts hand-off hits in the direct counter and reads them back', async () => {
      const v = vectorNamed('handoff_in: client segment');
      const c = client!;
      const entries = v.entries.map(entrySpec);
      await c.insert(...entries);
      try {
        const mark = capture!.frames.mark();
        for (let i = 0; i < 3; i++) capture!.send(v.ingressPort, v.input);
        await capture!.frames.next(mark, 'three forwarded frames', () => capture!.frames.since(mark).length >= 3);
        const [entry] = await c.readAll({ table: 'handoff_in', counters: true });
        expect(entry?.counters).toEqual({ packets: 3n, bytes: BigInt(3 * v.input.length) });
      } finally {
        await c.delete(...entries);
      }
    });

    it('sets, reads and restores the l3 default action (MODIFY + is_default_action)', async () => {
      const c = client!;
      const toRoute = { table: 'l3', isDefault: true, action: 'route', params: { port: 2, src_mac: SWITCH_MAC, dst_mac: '02:00:00:00:02:02' } };
      await c.modify(toRoute);
      try {
        const [d] = await c.readAll({ table: 'l3', isDefault: true });
        expect([d?.isDefault, d?.action]).toEqual([true, 'route']);
        const frame = buildTcpFrame({ srcMac: '02:00:00:00:00:01', dstMac: SWITCH_MAC, srcIp: '10.0.0.1', dstIp: '172.16.0.1', srcPort: 1, dstPort: 2, seq: 1, ack: 0, flags: TCP_ACK, window: 1 });
        const mark = capture!.frames.mark();
        capture!.send(1, frame);
        const got = await capture!.frames.next(mark, 'the default-routed frame');
        expect(got.port).toBe(2);
      } finally {
        await c.modify({ table: 'l3', isDefault: true, action: 'drop' });
      }
      const [d] = await c.readAll({ table: 'l3', isDefault: true });
      expect(d?.action).toBe('drop');
      await expect(c.modify({ table: 'vip', isDefault: true, action: 'nop' })).rejects.toThrow(/const/);
    });

    it('reads all tables with table_id 0 and reports refused updates per update', async () => {
      const c = client!;
      const vip = entrySpec(vectorNamed('vip:').entries[0]!);
      await c.insert(vip);
      try {
        const all = await c.readAll();
        expect(all.map((e) => e.table).sort()).toEqual(['l3', 'vip']);
        const results = await c.write([{ type: 'INSERT', entry: vip }]);
        expect(results.map((r) => (r.ok ? 'OK' : r.code))).toEqual(['ALREADY_EXISTS']);
        const err = await c.write([{ type: 'INSERT', entry: vip }], { atomicity: 'ROLLBACK_ON_ERROR' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(P4RuntimeRpcError);
        expect((err as P4RuntimeRpcError).grpcCodeName).toBe('UNIMPLEMENTED');
      } finally {
        await c.delete(vip);
      }
    });

    it('reconciles: an entry it does not own is deleted, its own are kept', async () => {
      const c = client!;
      const other = await P4RuntimeClient.connect(address, { deviceId: DEVICE_ID, electionId: 2, p4info, reconnect: false });
      try {
        expect(other.isPrimary).toBe(true);
        await other.insert(entrySpec(vectorNamed('vip:').entries[0]!));
      } finally {
        await other.close();
      }
      const reconciled = new Promise<ReconcileReport>((resolve) => c.once('reconciled', resolve));
      expect(await c.claimPrimary(3)).toBe(true);
      const report = await reconciled;
      expect([report.deleted, report.inserted, report.failures]).toEqual([1, 0, []]);
      expect((await c.readAll()).map((e) => e.table)).toEqual(['l3']);
    });

    it('replaces the pipeline with l3 (SetForwardingPipelineConfig on a running switch)', async () => {
      const l3 = builds.get('l3')!;
      await client!.setPipeline({ p4info: l3.p4info, deviceConfig: l3.json });
      expect(client!.p4info.tables().map((t) => t.alias).sort()).toEqual(['acl', 'routes']);
      // The new pipeline starts empty.
      expect(await client!.readAll()).toEqual([]);
      await client!.insert(entrySpec(markerRoute('l3')));
    });

    vectorTests('l3');
  });
});
