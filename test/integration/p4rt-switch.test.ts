/**
 * The embedded switch's P4Runtime server over real gRPC, spoken to with raw grpc-js calls (the
 * controller's client has its own tests): pipeline push, arbitration, L3 forwarding of real TCP,
 * every error case of the issue, reads with counters.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deterministicSha256 } from '../../agent/bytes.js';
import { toFieldBytes } from '../../core/p4-values.js';
import { decodeMessage, loadGrpcDefinitions } from '../../core/proto.js';
import { buildStarHosts, type StarHost } from '../../dataplane/ebpf-topology.js';
import { EmbeddedSwitch } from '../../dataplane/p4rt-server.js';
import { CpuPort } from '../../dataplane/cpu-port.js';
import { PacketSocket } from '../../native/packet.js';
import { buildTcpFrame } from '../../core/header/frame.js';
import { TCP_SYN } from '../../core/header/tcp.js';
import { Topology } from '../../netns/index.js';
import { compileGenerated, ebpfSkipReason, REPO } from '../helpers/ebpf.js';
import { waitFor } from '../helpers/wait.js';

const skip = ebpfSkipReason();
if (skip) console.warn(`[skip] embedded switch tests: ${skip}`);

type Obj = Record<string, any>;
const DEVICE = '1';
const P4INFO = decodeMessage<Obj>('p4.config.v1.P4Info', readFileSync(join(REPO, 'p4', 'p4info', 'prism.p4info.bin')));
const tableId = (n: string): number => P4INFO.tables.find((t: Obj) => t.preamble.alias === n).preamble.id;
const action = (n: string): Obj => P4INFO.actions.find((a: Obj) => a.preamble.alias === n);

describe.skipIf(skip)('embedded switch: P4Runtime over gRPC', () => {
  let topo: Topology;
  let hosts: Map<string, StarHost>;
  let sw: EmbeddedSwitch;
  let client: any;
  let obj: { path: string; cleanup: () => void };
  let cpu: CpuPort;
  let primaryMessages: Obj[] = [];
  const streams: grpc.ClientDuplexStream<Obj, Obj>[] = [];

  const call = <T = Obj>(method: string, req: Obj): Promise<T> =>
    new Promise((resolve, reject) => client[method](req, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res))));
  const election = (low: number): Obj => ({ high: '0', low: String(low) });

  /** Opens a stream, sends arbitration, resolves with the first arbitration answer. */
  const arbitrate = (low: number): Promise<{ stream: grpc.ClientDuplexStream<Obj, Obj>; first: Obj; messages: Obj[] }> =>
    new Promise((resolve, reject) => {
      const stream = client.StreamChannel() as grpc.ClientDuplexStream<Obj, Obj>;
      streams.push(stream);
      const messages: Obj[] = [];
      stream.on('data', (m: Obj) => {
        messages.push(m);
        if (messages.length === 1) resolve({ stream, first: m, messages });
      });
      stream.on('error', (e) => (messages.length === 0 ? reject(e) : undefined));
      stream.write({ arbitration: { device_id: DEVICE, election_id: election(low) } });
    });

  const exact = (id: number, value: Buffer): Obj => ({ field_id: id, exact: { value } });
  const vipEntry = (ip: number, port = 80): Obj => ({
    table_id: tableId('vip'),
    match: [exact(1, toFieldBytes(ip, 32)), exact(2, toFieldBytes(port, 16))],
    action: { action: { action_id: action('to_controller').preamble.id, params: [] } },
  });
  const routeEntry = (h: StarHost): Obj => ({
    table_id: tableId('l3'),
    match: [{ field_id: 1, lpm: { value: toFieldBytes(h.spec.ip, 32), prefix_len: 32 } }],
    action: {
      action: {
        action_id: action('route').preamble.id,
        params: [
          { param_id: 1, value: toFieldBytes(h.spec.port, 9) },
          { param_id: 2, value: toFieldBytes(h.switchMac, 48) },
          { param_id: 3, value: toFieldBytes(h.mac, 48) },
        ],
      },
    },
  });
  let currentElection = 10;
  const write = (updates: Obj[], low = currentElection): Promise<Obj> => call('Write', { device_id: DEVICE, election_id: election(low), updates });
  const perUpdate = (err: grpc.ServiceError): { code: number; message: string }[] => {
    const bin = err.metadata.get('grpc-status-details-bin')[0] as Buffer;
    const status = decodeMessage<Obj>('google.rpc.Status', bin);
    return status.details.map((d: Obj) => {
      const e = decodeMessage<Obj>('p4.v1.Error', d.value);
      return { code: e.canonical_code, message: e.message };
    });
  };
  const read = (entity: Obj): Promise<Obj[]> =>
    new Promise((resolve, reject) => {
      const out: Obj[] = [];
      const s = client.Read({ device_id: DEVICE, entities: [entity] });
      s.on('data', (r: Obj) => out.push(...r.entities));
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });

  beforeAll(async () => {
    obj = compileGenerated('prism');
    topo = new Topology();
    const built = await buildStarHosts(topo, [
      { name: 'client', ip: '10.0.0.1', port: 1 },
      { name: 'backend', ip: '10.0.0.2', port: 2 },
    ]);
    hosts = built.hosts;
    cpu = await CpuPort.create({ netns: built.sw.netns });
    sw = await EmbeddedSwitch.start({
      packetIo: cpu,
      grpcAddr: '127.0.0.1:0',
      deviceId: 1n,
      cpuPort: 64,
      netns: built.sw.netns,
      ports: [
        { port: 1, ifname: 'p1' },
        { port: 2, ifname: 'p2' },
      ],
    });
    const P4Runtime = loadGrpcDefinitions().p4.v1.P4Runtime;
    client = new P4Runtime(sw.address, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    for (const s of streams) s.cancel();
    client?.close();
    await sw?.stop(); // closes the CPU port too
    await topo?.teardown();
    obj?.cleanup();
  });

  it('reports its API version', async () => {
    const caps = await call('Capabilities', {});
    expect(caps.p4runtime_api_version).toBe('1.5.0');
  });

  it('arbitration: the first controller becomes primary', async () => {
    const { first, messages } = await arbitrate(10);
    primaryMessages = messages;
    expect(first.arbitration.status.code).toBe(grpc.status.OK);
    expect(first.arbitration.election_id.low).toBe('10');
  });

  it('refuses writes before a pipeline and pipeline pushes from a non-primary', async () => {
    await expect(write([{ type: 'INSERT', entity: { table_entry: vipEntry(0x0a000064) } }])).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    const cfg = { p4info: P4INFO, p4_device_config: readFileSync(obj.path), cookie: { cookie: '7' } };
    await expect(call('SetForwardingPipelineConfig', { device_id: DEVICE, election_id: election(3), action: 'VERIFY_AND_COMMIT', config: cfg })).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
    });
    await expect(
      call('SetForwardingPipelineConfig', { device_id: DEVICE, election_id: election(10), action: 'VERIFY_AND_COMMIT', config: { ...cfg, p4_device_config: Buffer.from('not an ELF') } }),
    ).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it('pushes the pipeline (eBPF object + P4Info) and reads it back', async () => {
    const cfg = { p4info: P4INFO, p4_device_config: readFileSync(obj.path), cookie: { cookie: '7' } };
    await call('SetForwardingPipelineConfig', { device_id: DEVICE, election_id: election(10), action: 'VERIFY_AND_COMMIT', config: cfg });
    const got = await call('GetForwardingPipelineConfig', { device_id: DEVICE, response_type: 'COOKIE_ONLY' });
    expect(got.config.cookie.cookie).toBe('7');
    expect(sw.dataplane?.attachments.map((a) => a.ifname)).toEqual(['p1', 'p2', 'cpu1']);
  });

  it('forwards real TCP between two hosts after l3 routes are written (hash-checked)', async () => {
    await write([...hosts.values()].map((h) => ({ type: 'INSERT', entity: { table_entry: routeEntry(h) } })));
    const backend = hosts.get('backend')!;
    const server = backend.host.spawn([process.execPath, join(REPO, 'bin', 'prism.js'), 'serve', '--listen', '0.0.0.0:80', '--name', 'b1']);
    await backend.host.waitForTcpPort(80, { timeoutMs: 10_000, process: server });
    const dir = mkdtempSync(join(tmpdir(), 'prism-p4rt-'));
    try {
      await hosts.get('client')!.host.exec(['curl', '-sS', '--fail', '--max-time', '30', '-o', join(dir, 'body'), 'http://10.0.0.2/bytes/8388608?seed=4'], { timeoutMs: 40_000 });
      expect(createHash('sha256').update(readFileSync(join(dir, 'body'))).digest('hex')).toBe(deterministicSha256(8388608, 4));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads entries back with canonical values', async () => {
    const routes = await read({ table_entry: { table_id: tableId('l3') } });
    expect(routes).toHaveLength(2);
    const r = routes.find((e) => Buffer.from(e.table_entry.match[0].lpm.value).equals(Buffer.from([10, 0, 0, 2])))!;
    expect(r.table_entry.match[0].lpm.prefix_len).toBe(32);
    expect(Buffer.from(r.table_entry.action.action.params[0].value)).toEqual(Buffer.from([2])); // canonical: no leading zero byte
  });

  it('a batch reports one status per update: ALREADY_EXISTS, NOT_FOUND, INVALID_ARGUMENT', async () => {
    const ok = vipEntry(0x0a000064);
    await write([{ type: 'INSERT', entity: { table_entry: ok } }]);
    const err = await write([
      { type: 'INSERT', entity: { table_entry: ok } }, // exists
      { type: 'MODIFY', entity: { table_entry: vipEntry(0x0a000065) } }, // missing
      { type: 'DELETE', entity: { table_entry: vipEntry(0x0a000066) } }, // missing
      { type: 'INSERT', entity: { table_entry: { ...ok, table_id: 0x02ffffff } } }, // unknown table
      { type: 'INSERT', entity: { table_entry: { ...ok, match: [exact(1, Buffer.from([1, 2, 3, 4, 5])), exact(2, Buffer.from([0, 80]))] } } }, // too wide
      { type: 'INSERT', entity: { table_entry: vipEntry(0x0a000067) } }, // fine
    ]).then(
      () => null,
      (e: grpc.ServiceError) => e,
    );
    expect(err?.code).toBe(grpc.status.UNKNOWN);
    expect(perUpdate(err!).map((x) => x.code)).toEqual([
      grpc.status.ALREADY_EXISTS,
      grpc.status.NOT_FOUND,
      grpc.status.NOT_FOUND,
      grpc.status.INVALID_ARGUMENT,
      grpc.status.INVALID_ARGUMENT,
      grpc.status.OK,
    ]);
    expect(perUpdate(err!)[4]!.message).toMatch(/do not fit 32 bits/);
    const vip = await read({ table_entry: { table_id: tableId('vip') } });
    expect(vip).toHaveLength(2);
  });

  it('PacketIn: a SYN to a VIP reaches the primary controller with its ingress port; PacketOut: a frame leaves on the named port', async () => {
    const c = hosts.get('client')!;
    const raw = PacketSocket.open('eth0', { netns: c.host.netns });
    const seen: Buffer[] = [];
    raw.onFrames((frames) => seen.push(...frames.filter((f) => f.readUInt16BE(12) === 0x0800)));
    try {
      const syn = buildTcpFrame({ srcMac: c.mac, dstMac: c.switchMac, srcIp: '10.0.0.1', dstIp: '10.0.0.100', srcPort: 43210, dstPort: 80, seq: 1000, ack: 0, flags: TCP_SYN, window: 64240 });
      const before = primaryMessages.length;
      raw.send(syn);
      await waitFor(() => primaryMessages.slice(before).some((m) => m.packet), 'a PacketIn', 5000);
      const pin = primaryMessages.slice(before).find((m) => m.packet)!.packet;
      expect(Buffer.from(pin.payload).equals(syn)).toBe(true);
      const portMd = pin.metadata.find((m: Obj) => m.metadata_id === 1);
      expect(Buffer.from(portMd.value)).toEqual(Buffer.from([1]));

      const reply = buildTcpFrame({ srcMac: c.switchMac, dstMac: c.mac, srcIp: '10.0.0.100', dstIp: '10.0.0.1', srcPort: 80, dstPort: 43210, seq: 5000, ack: 1001, flags: 0x12, window: 64240 });
      streams[0]!.write({ packet: { payload: reply, metadata: [{ metadata_id: 1, value: Buffer.from([1]) }, { metadata_id: 2, value: Buffer.from([0]) }] } });
      await waitFor(() => seen.some((f) => f.equals(reply)), 'the reply frame', 5000);
    } finally {
      raw.close();
    }
  });

  it('the same key twice in one batch: the first goes in, the second is ALREADY_EXISTS', async () => {
    const e = vipEntry(0x0a0000c8);
    const err = await write([
      { type: 'INSERT', entity: { table_entry: e } },
      { type: 'INSERT', entity: { table_entry: e } },
    ]).then(
      () => null,
      (x: grpc.ServiceError) => x,
    );
    expect(perUpdate(err!).map((x) => x.code)).toEqual([grpc.status.OK, grpc.status.ALREADY_EXISTS]);
    await write([{ type: 'DELETE', entity: { table_entry: e } }]);
  });

  it('a full table answers RESOURCE_EXHAUSTED', async () => {
    const updates = Array.from({ length: 260 }, (_, i) => ({ type: 'INSERT', entity: { table_entry: vipEntry(0x0b000000 + i) } }));
    const err = await write(updates).then(
      () => null,
      (e: grpc.ServiceError) => e,
    );
    const codes = perUpdate(err!).map((x) => x.code);
    expect(codes.filter((c) => c === grpc.status.OK)).toHaveLength(256 - 2);
    expect(codes.slice(256 - 2).every((c) => c === grpc.status.RESOURCE_EXHAUSTED)).toBe(true);
    await write(updates.slice(0, 254).map((u) => ({ ...u, type: 'DELETE' })));
  });

  it('the const default of a hand-off table cannot be changed', async () => {
    const err = await write([{ type: 'MODIFY', entity: { table_entry: { table_id: tableId('handoff_in'), is_default_action: true, action: { action: { action_id: action('no_handoff_in').preamble.id } } } } }]).then(
      () => null,
      (e: grpc.ServiceError) => e,
    );
    expect(perUpdate(err!)[0]!.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('a higher election id takes over; the old primary is told and its writes are refused', async () => {
    const { first, stream } = await arbitrate(20);
    expect(first.arbitration.status.code).toBe(grpc.status.OK);
    const err = await write([{ type: 'DELETE', entity: { table_entry: vipEntry(0x0a000064) } }], 10).then(
      () => null,
      (e: grpc.ServiceError) => e,
    );
    expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
    await write([{ type: 'DELETE', entity: { table_entry: vipEntry(0x0a000064) } }], 20);
    stream.cancel();
    await waitFor(() => primaryMessages.some((m) => m.arbitration?.status?.code === grpc.status.NOT_FOUND), 'loss of mastership announced', 5000);
    // Nobody is primary until a controller claims an election id at least as high as the highest seen.
    await expect(write([{ type: 'DELETE', entity: { table_entry: vipEntry(0x0a000067) } }], 10)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    streams[0]!.write({ arbitration: { device_id: DEVICE, election_id: election(21) } });
    await waitFor(() => primaryMessages.at(-1)?.arbitration?.status?.code === grpc.status.OK, 'mastership back', 5000);
    await write([{ type: 'DELETE', entity: { table_entry: vipEntry(0x0a000067) } }], 21);
    currentElection = 21;
  });

  it('direct counters count the packets and bytes of hand-off entries (real traffic to a VIP)', async () => {
    const c = hosts.get('client')!;
    const b = hosts.get('backend')!;
    await c.host.addNeighbor('10.0.0.100', c.switchMac, 'eth0');
    const four = (src: string, dst: string, sp: number, dp: number): Obj[] => [
      exact(1, toFieldBytes(src, 32)),
      exact(2, toFieldBytes(dst, 32)),
      exact(3, toFieldBytes(sp, 16)),
      exact(4, toFieldBytes(dp, 16)),
    ];
    const params = (a: string, v: (string | number)[]): Obj => ({
      action: { action_id: action(a).preamble.id, params: action(a).params.map((p: Obj, i: number) => ({ param_id: p.id, value: toFieldBytes(v[i]!, p.bitwidth) })) },
    });
    await write([
      { type: 'INSERT', entity: { table_entry: { table_id: tableId('handoff_in'), match: four('10.0.0.1', '10.0.0.100', 42000, 80), action: params('to_backend', ['10.0.0.2', b.mac, 2, 0]) } } },
      { type: 'INSERT', entity: { table_entry: { table_id: tableId('handoff_out'), match: four('10.0.0.2', '10.0.0.1', 80, 42000), action: params('from_backend', ['10.0.0.100', c.switchMac, c.mac, 1, 0, 0]) } } },
    ]);
    await c.host.exec(['curl', '-sS', '--fail', '--max-time', '20', '--local-port', '42000', '-o', '/dev/null', 'http://10.0.0.100/bytes/1000000'], { timeoutMs: 30_000 });
    const [out] = await read({ table_entry: { table_id: tableId('handoff_out'), counter_data: {} } });
    expect(Number(out!.table_entry.counter_data.packet_count)).toBeGreaterThan(10);
    expect(Number(out!.table_entry.counter_data.byte_count)).toBeGreaterThan(1_000_000);
    const dc = await read({ direct_counter_entry: { table_entry: { table_id: tableId('handoff_in') } } });
    expect(Number(dc[0]!.direct_counter_entry.data.packet_count)).toBeGreaterThan(3);
  });
});
