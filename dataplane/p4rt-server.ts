/**
 * The embedded switch's P4Runtime server (P4Runtime spec v1.5): the data plane is the generated
 * eBPF program, loaded from the device config of SetForwardingPipelineConfig and attached at tc
 * ingress of every port; table writes and reads become BPF map operations (ebpf-dataplane.ts);
 * PacketIn / PacketOut travel through the CPU port (packet-io.ts).
 *
 * Arbitration: per role, the stream holding the highest election id seen is primary; Write and
 * SetForwardingPipelineConfig from anyone else fail with PERMISSION_DENIED; every change of
 * primary is announced to the role's streams (OK to the primary, ALREADY_EXISTS to the others,
 * NOT_FOUND to all while nobody holds the highest id).
 * Batches report one p4.v1.Error per update in the google.rpc.Status details (spec 12.3).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { PrismError } from '../core/errors.js';
import { logger } from '../core/log.js';
import { canonicalBytes } from '../core/p4-values.js';
import { CONVERSION_OPTIONS, encodeMessage, loadGrpcDefinitions, lookupMessageType } from '../core/proto.js';
import type { TableLayout } from '../codegen/ebpf-layout.js';
import { EbpfDataplane } from './ebpf-dataplane.js';
import { fitBytes, type FieldMatchValue } from './ebpf-entries.js';
import { layoutsFromP4Info } from './p4info-layout.js';
import type { PacketIo } from './packet-io.js';

const log = logger('p4rt-server');
export const P4RUNTIME_API_VERSION = '1.5.0';

type Obj = Record<string, any>;
const Code = grpc.status;

/** A failure of one update or call, with its canonical code (google.rpc.Code). */
export class P4rtStatusError extends Error {
  readonly grpcCode: grpc.status;
  constructor(code: grpc.status, message: string) {
    super(message);
    this.grpcCode = code;
  }
}
const fail = (code: grpc.status, message: string): never => {
  throw new P4rtStatusError(code, message);
};

export interface SwitchPort {
  readonly port: number;
  readonly ifname: string;
}

export interface EmbeddedSwitchOptions {
  /** host:port to serve P4Runtime on (port 0 picks a free one). */
  readonly grpcAddr: string;
  readonly deviceId: bigint;
  readonly cpuPort: number;
  readonly ports: readonly SwitchPort[];
  /** Network namespace that holds the port interfaces (default: the process's own). */
  readonly netns?: string;
  /** PacketIn/PacketOut transport; without it the CPU port is not attached. */
  readonly packetIo?: PacketIo;
  /**
   * Who reads the CPU port: 'p4runtime' (default) relays its frames to the primary as PacketIn
   * and takes PacketOut from it; 'local' leaves the port to a controller on this host that reads
   * and writes it directly (ControllerOptions.packetPort), so PacketOut is refused.
   */
  readonly cpuPortOwner?: 'p4runtime' | 'local';
}

interface StreamClient {
  readonly call: grpc.ServerDuplexStream<Obj, Obj>;
  role: string;
  electionId: bigint | null;
}

interface Pipeline {
  readonly p4info: Obj;
  readonly deviceConfig: Buffer;
  readonly cookie: string;
  readonly layouts: readonly TableLayout[];
  readonly byId: ReadonlyMap<number, TableLayout>;
  readonly constDefault: ReadonlySet<number>;
  readonly packetOutPortId?: number;
  readonly packetInIds?: { port: number; others: number[] };
}

const u128 = (v: Obj | null | undefined): bigint | null => (v ? (BigInt(v.high ?? 0) << 64n) | BigInt(v.low ?? 0) : null);
const toU128 = (v: bigint): Obj => ({ high: String(v >> 64n), low: String(v & 0xffffffffffffffffn) });

const WRITE_REQUEST = lookupMessageType('p4.v1.WriteRequest');

const MATCH_KINDS = new Set(['exact', 'lpm', 'ternary', 'range', 'optional']);

/**
 * A WriteRequest of table entries as P4RuntimeClient builds it (Buffers for every value, direct
 * actions), in the decoded shape the handler reads, without protobufjs's round trip (which costs
 * more than the write itself on the hand-off path): only the oneof names the decoder adds are
 * added (Entity.entity, FieldMatch.field_match_type, TableAction.type). Anything else (another
 * entity, a value that is not bytes, an unknown field) returns null, and localWrite converts the
 * request the full way.
 */
export function tableEntryWrite(req: Obj): Obj | null {
  const updates = req.updates;
  if (!Array.isArray(updates)) return null;
  const out: Obj[] = new Array(updates.length);
  for (let i = 0; i < updates.length; i++) {
    const u = updates[i] as Obj;
    if (typeof u?.type !== 'string') return null;
    const e = u.entity as Obj | undefined;
    const te = e?.table_entry as Obj | undefined;
    if (!te || typeof te !== 'object') return null;
    for (const k in e) if (k !== 'table_entry') return null;
    for (const k in te) if (!TABLE_ENTRY_KEYS.has(k)) return null;
    const given = (te.match ?? []) as Obj[];
    const match: Obj[] = new Array(given.length);
    for (let j = 0; j < given.length; j++) {
      const fm = given[j]!;
      let kind: string | undefined;
      for (const k in fm) {
        if (k === 'field_id') continue;
        if (kind !== undefined || !MATCH_KINDS.has(k)) return null;
        kind = k;
      }
      if (kind === undefined || typeof fm.field_id !== 'number') return null;
      const v = fm[kind] as Obj;
      for (const k in v) if (k !== 'prefix_len' && !(v[k] instanceof Uint8Array)) return null;
      match[j] = { field_id: fm.field_id, [kind]: v, field_match_type: kind };
    }
    let action: Obj | null = null;
    if (te.action != null) {
      const a = te.action as Obj;
      for (const k in a) if (k !== 'action') return null;
      const params = (a.action?.params ?? []) as Obj[];
      if (typeof a.action?.action_id !== 'number') return null;
      for (const p of params) if (typeof p.param_id !== 'number' || !(p.value instanceof Uint8Array)) return null;
      action = { type: 'action', action: { action_id: a.action.action_id, params } };
    }
    out[i] = { type: u.type, entity: { entity: 'table_entry', table_entry: { table_id: te.table_id, match, action, priority: te.priority ?? 0, is_default_action: te.is_default_action ?? false } } };
  }
  return { device_id: req.device_id, election_id: req.election_id, role: req.role ?? '', atomicity: req.atomicity ?? 'CONTINUE_ON_ERROR', updates: out };
}

/** Fields of a TableEntry the fast path passes on as they are. */
const TABLE_ENTRY_KEYS = new Set(['table_id', 'match', 'action', 'priority', 'is_default_action']);

export class EmbeddedSwitch {
  readonly options: EmbeddedSwitchOptions;
  readonly #server: grpc.Server;
  #address = '';
  #pipeline: Pipeline | undefined;
  #saved: Pipeline | undefined;
  #dataplane: EbpfDataplane | undefined;
  readonly #streams = new Set<StreamClient>();
  readonly #primary = new Map<string, StreamClient>();
  /** Highest election id seen per role, kept after its stream leaves. */
  readonly #highest = new Map<string, bigint>();

  private constructor(options: EmbeddedSwitchOptions) {
    this.options = options;
    this.#server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
    const svc = loadGrpcDefinitions().p4.v1.P4Runtime.service;
    this.#server.addService(svc, {
      Write: this.#unary((req) => this.#write(req)),
      Read: (call: grpc.ServerWritableStream<Obj, Obj>) => this.#read(call),
      SetForwardingPipelineConfig: this.#unary((req) => this.#setPipeline(req)),
      GetForwardingPipelineConfig: this.#unary((req) => this.#getPipeline(req)),
      StreamChannel: (call: grpc.ServerDuplexStream<Obj, Obj>) => this.#stream(call),
      Capabilities: this.#unary(() => ({ p4runtime_api_version: P4RUNTIME_API_VERSION })),
    } as unknown as grpc.UntypedServiceImplementation);
    if (options.cpuPortOwner !== 'local') options.packetIo?.onPacketIn((pi) => this.#packetIn(pi.ingressPort, pi.payload));
  }

  static async start(options: EmbeddedSwitchOptions): Promise<EmbeddedSwitch> {
    const sw = new EmbeddedSwitch(options);
    const port = await new Promise<number>((resolve, reject) =>
      sw.#server.bindAsync(options.grpcAddr, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    sw.#address = options.grpcAddr.replace(/:\d+$/, `:${port}`);
    log.info({ address: sw.#address, deviceId: String(options.deviceId), ports: options.ports, cpuPort: options.cpuPort }, 'P4Runtime server listening');
    return sw;
  }

  get address(): string {
    return this.#address;
  }

  /**
   * The Write RPC for a controller in this same process (P4RuntimeClient's `localWrite`): the
   * WriteRequest is converted as grpc-js's serializer and the server's deserializer would
   * (protobufjs fromObject, then toObject with the loader's conversion options: the same
   * objects, without the bytes in between) and goes through the same handler, checks (device,
   * primary, pipeline) and per-update error details. Rejects with the gRPC ServiceError the RPC
   * would return.
   */
  localWrite = async (request: object): Promise<void> => {
    const t0 = performance.now();
    try {
      this.#write(tableEntryWrite(request as Obj) ?? (WRITE_REQUEST.toObject(WRITE_REQUEST.fromObject(request), CONVERSION_OPTIONS) as Obj));
    } catch (err) {
      throw toServiceError(err);
    } finally {
      this.localWrites.calls++;
      this.localWrites.ms += performance.now() - t0;
    }
  };
  /** In-process Writes and the time spent in them (ms): the switch's share of a co-located controller's process. */
  readonly localWrites = { calls: 0, ms: 0 };

  get dataplane(): EbpfDataplane | undefined {
    return this.#dataplane;
  }

  async stop(): Promise<void> {
    for (const s of this.#streams) s.call.end();
    await new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
    this.#server.forceShutdown();
    this.#dataplane?.close();
    this.#dataplane = undefined;
    await this.options.packetIo?.close();
  }

  // --- plumbing -------------------------------------------------------------------------------

  #unary(fn: (req: Obj) => Obj | Promise<Obj>) {
    return (call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>): void => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then((res) => cb(null, res))
        .catch((err: unknown) => cb(toServiceError(err)));
    };
  }

  #checkDevice(deviceId: unknown): void {
    if (BigInt(String(deviceId ?? 0)) !== this.options.deviceId) {
      fail(Code.NOT_FOUND, `device id ${String(deviceId)} is not this switch (${this.options.deviceId})`);
    }
  }

  #checkPrimary(role: string, electionId: bigint | null): void {
    const p = this.#primary.get(role);
    if (!p || electionId === null || p.electionId !== electionId) {
      fail(Code.PERMISSION_DENIED, `not the primary controller for role "${role}" (election id ${electionId ?? 'unset'})`);
    }
  }

  // --- pipeline -------------------------------------------------------------------------------

  #setPipeline(req: Obj): Obj {
    this.#checkDevice(req.device_id);
    this.#checkPrimary(req.role ?? '', u128(req.election_id));
    const action = String(req.action);
    if (action === 'COMMIT') {
      if (!this.#saved) fail(Code.FAILED_PRECONDITION, 'COMMIT without a saved pipeline (use VERIFY_AND_SAVE first)');
      this.#commit(this.#saved!);
      this.#saved = undefined;
      return {};
    }
    if (action === 'RECONCILE_AND_COMMIT') fail(Code.UNIMPLEMENTED, 'RECONCILE_AND_COMMIT is not supported; use VERIFY_AND_COMMIT');
    const cfg = req.config as Obj | null;
    if (!cfg?.p4info) fail(Code.INVALID_ARGUMENT, 'config.p4info is missing');
    const pipeline = this.#verify(cfg!);
    if (action === 'VERIFY') return {};
    if (action === 'VERIFY_AND_SAVE') {
      this.#saved = pipeline;
      return {};
    }
    if (action !== 'VERIFY_AND_COMMIT') fail(Code.INVALID_ARGUMENT, `unknown action ${action}`);
    this.#commit(pipeline);
    return {};
  }

  /** Loads the object under the verifier and checks it against the P4Info, then unloads it. */
  #verify(cfg: Obj): Pipeline {
    const deviceConfig = Buffer.from(cfg.p4_device_config ?? []);
    if (deviceConfig.length < 4 || deviceConfig.readUInt32BE(0) !== 0x7f454c46) {
      fail(Code.INVALID_ARGUMENT, 'p4_device_config must be the eBPF object (an ELF file) built from the generated C');
    }
    let layouts: TableLayout[];
    try {
      layouts = layoutsFromP4Info(cfg.p4info);
    } catch (err) {
      return fail(Code.INVALID_ARGUMENT, `P4Info: ${(err as Error).message}`);
    }
    const dp = this.#loadObject(deviceConfig, layouts);
    dp.close();
    const p4info = cfg.p4info as Obj;
    const cpm = (name: string) => (p4info.controller_packet_metadata ?? []).find((c: Obj) => c.preamble?.name === name) as Obj | undefined;
    const pout = cpm('packet_out');
    const pin = cpm('packet_in');
    const portOf = (c: Obj | undefined) => (c?.metadata ?? []).find((m: Obj) => /port/.test(m.name)) as Obj | undefined;
    return {
      p4info,
      deviceConfig,
      cookie: String(cfg.cookie?.cookie ?? '0'),
      layouts,
      byId: new Map(layouts.map((l) => [l.id, l])),
      constDefault: new Set((p4info.tables ?? []).filter((t: Obj) => t.const_default_action_id).map((t: Obj) => t.preamble.id as number)),
      ...(portOf(pout) ? { packetOutPortId: portOf(pout)!.id as number } : {}),
      ...(portOf(pin) ? { packetInIds: { port: portOf(pin)!.id as number, others: pin!.metadata.filter((m: Obj) => m !== portOf(pin)).map((m: Obj) => m.id as number) } } : {}),
    };
  }

  #loadObject(deviceConfig: Buffer, layouts: readonly TableLayout[]): EbpfDataplane {
    const dir = mkdtempSync(join(tmpdir(), 'prism-switch-'));
    try {
      const path = join(dir, 'pipeline.bpf.o');
      writeFileSync(path, deviceConfig);
      return EbpfDataplane.load(path, layouts);
    } catch (err) {
      if (err instanceof PrismError) fail(Code.INVALID_ARGUMENT, `the device config does not load: ${err.message}`);
      throw err;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Replaces the running pipeline: forwarding state starts empty (spec 13.4, VERIFY_AND_COMMIT). */
  #commit(p: Pipeline): void {
    const next = this.#loadObject(p.deviceConfig, p.layouts);
    try {
      this.#dataplane?.close();
      this.#dataplane = undefined;
      next.setCpuPort(this.options.cpuPort);
      for (const port of this.options.ports) next.attach(port.port, port.ifname, this.options.netns);
      const io = this.options.packetIo;
      if (io) next.attach(this.options.cpuPort, io.dataplaneIfname, this.options.netns);
    } catch (err) {
      next.close();
      throw err;
    }
    this.#dataplane = next;
    this.#pipeline = p;
    log.info({ tables: p.layouts.map((l) => l.name), cookie: p.cookie }, 'pipeline committed');
  }

  #getPipeline(req: Obj): Obj {
    this.#checkDevice(req.device_id);
    const p = this.#pipeline;
    if (!p) return { config: null };
    const type = String(req.response_type ?? 'ALL');
    const cookie = { cookie: p.cookie };
    if (type === 'COOKIE_ONLY') return { config: { cookie } };
    if (type === 'P4INFO_AND_COOKIE') return { config: { p4info: p.p4info, cookie } };
    if (type === 'DEVICE_CONFIG_AND_COOKIE') return { config: { p4_device_config: p.deviceConfig, cookie } };
    return { config: { p4info: p.p4info, p4_device_config: p.deviceConfig, cookie } };
  }

  #requirePipeline(): { p: Pipeline; dp: EbpfDataplane } {
    if (!this.#pipeline || !this.#dataplane) return fail(Code.FAILED_PRECONDITION, 'no forwarding pipeline: call SetForwardingPipelineConfig first');
    return { p: this.#pipeline, dp: this.#dataplane };
  }

  // --- write ----------------------------------------------------------------------------------

  #write(req: Obj): Obj {
    this.#checkDevice(req.device_id);
    this.#checkPrimary(req.role ?? '', u128(req.election_id));
    if (req.atomicity && req.atomicity !== 'CONTINUE_ON_ERROR') fail(Code.UNIMPLEMENTED, `atomicity ${req.atomicity} is not supported`);
    const { p, dp } = this.#requirePipeline();
    const updates = (req.updates ?? []) as Obj[];
    type Result = { canonical_code: number; message: string };
    const OK: Result = { canonical_code: Code.OK, message: '' };
    const failure = (err: unknown): Result => {
      const e = toServiceError(err);
      return { canonical_code: e.code ?? Code.UNKNOWN, message: e.details ?? String(err) };
    };
    const results: Result[] = new Array(updates.length);
    // Runs of INSERTs into one exact-match table go to the kernel in one batch (BPF_MAP_UPDATE_BATCH);
    // anything else is applied one by one, in order, after the pending run.
    let run: { layout: TableLayout; items: { i: number; match: Map<string, FieldMatchValue>; action: { actionId: number; params: Buffer[] } }[] } | null = null;
    const flush = (): void => {
      if (!run) return;
      const r = run;
      run = null;
      dp.insertBatch(r.layout.name, r.items).forEach((err, k) => {
        const item = r.items[k]!;
        if (!err) results[item.i] = OK;
        else if (err.code === 'PRISM_ERR_ALREADY_EXISTS') results[item.i] = failure(new P4rtStatusError(Code.ALREADY_EXISTS, `table ${r.layout.name} entry ${describeMatch(item.match)} already exists`));
        else if (err.code === 'PRISM_ERR_TABLE_FULL') results[item.i] = failure(new P4rtStatusError(Code.RESOURCE_EXHAUSTED, `table ${r.layout.name} is full (${r.layout.size} entries)`));
        else results[item.i] = failure(new P4rtStatusError(Code.INVALID_ARGUMENT, err.message));
      });
    };
    updates.forEach((u, i) => {
      try {
        const te = u.type === 'INSERT' && u.entity?.entity === 'table_entry' ? (u.entity.table_entry as Obj) : null;
        const layout = te && !te.is_default_action && !te.priority ? p.byId.get(te.table_id) : undefined;
        if (te && layout?.kind === 'hash') {
          const item = { i, match: decodeMatch(layout, te.match ?? []), action: this.#decodeAction(layout, te) };
          if (run && run.layout !== layout) flush();
          run ??= { layout, items: [] };
          run.items.push(item);
          return;
        }
        flush();
        this.#applyUpdate(p, dp, u);
        results[i] = OK;
      } catch (err) {
        results[i] = failure(err);
      }
    });
    flush();
    const failed = results.filter((r) => r.canonical_code !== Code.OK).length;
    if (failed === 0) return {};
    const status = {
      code: Code.UNKNOWN,
      message: `${failed} of ${updates.length} updates failed`,
      details: results.map((r) => ({ type_url: 'type.googleapis.com/p4.v1.Error', value: encodeMessage('p4.v1.Error', r) })),
    };
    const md = new grpc.Metadata();
    md.set('grpc-status-details-bin', encodeMessage('google.rpc.Status', status));
    throw Object.assign(new Error(status.message), { code: Code.UNKNOWN, details: status.message, metadata: md });
  }

  #applyUpdate(p: Pipeline, dp: EbpfDataplane, u: Obj): void {
    const type = String(u.type);
    const entity = u.entity as Obj | null;
    if (!entity || entity.entity !== 'table_entry') fail(Code.UNIMPLEMENTED, `entity ${entity?.entity ?? '(none)'} is not supported by the embedded switch`);
    const te = entity!.table_entry as Obj;
    const l = p.byId.get(te.table_id);
    if (!l) return fail(Code.INVALID_ARGUMENT, `unknown table id ${te.table_id}`);
    if (te.is_default_action) {
      if (type !== 'MODIFY') fail(Code.INVALID_ARGUMENT, `table ${l.name}: the default entry can only be modified`);
      if ((te.match ?? []).length > 0) fail(Code.INVALID_ARGUMENT, `table ${l.name}: the default entry has no match`);
      if (p.constDefault.has(l.id)) fail(Code.PERMISSION_DENIED, `table ${l.name} has a const default action`);
      dp.setDefault(l.name, this.#decodeAction(l, te));
      return;
    }
    const match = decodeMatch(l, te.match ?? []);
    const priority = Number(te.priority ?? 0);
    if (l.kind === 'ternary' && priority <= 0) fail(Code.INVALID_ARGUMENT, `table ${l.name}: entries of a ternary table need a priority > 0`);
    if (l.kind !== 'ternary' && priority !== 0) fail(Code.INVALID_ARGUMENT, `table ${l.name}: priority must be 0 for a table without ternary keys`);
    const opts = l.kind === 'ternary' ? { priority } : {};
    // Only failures name the entry: building the description for every update costs throughput.
    const describe = (): string => `table ${l.name} entry ${describeMatch(match)}`;
    try {
      if (type === 'INSERT') dp.writeEntry(l.name, match, this.#decodeAction(l, te), { ...opts, mode: 'insert' });
      else if (type === 'MODIFY') dp.writeEntry(l.name, match, this.#decodeAction(l, te), { ...opts, mode: 'modify' });
      else if (type === 'DELETE') {
        if (!dp.deleteEntry(l.name, match, opts)) fail(Code.NOT_FOUND, `${describe()} does not exist`);
      } else fail(Code.INVALID_ARGUMENT, `update type ${type} is not INSERT, MODIFY or DELETE`);
    } catch (err) {
      if (err instanceof P4rtStatusError) throw err;
      const code = (err as { code?: string }).code;
      if (code === 'PRISM_ERR_ALREADY_EXISTS') fail(Code.ALREADY_EXISTS, `${describe()} already exists`);
      if (code === 'PRISM_ERR_NOT_FOUND') fail(Code.NOT_FOUND, `${describe()} does not exist`);
      if (code === 'PRISM_ERR_TABLE_FULL') fail(Code.RESOURCE_EXHAUSTED, `table ${l.name} is full (${l.size} entries)`);
      if (code === 'PRISM_ERR_INVALID_ARGUMENT') fail(Code.INVALID_ARGUMENT, (err as Error).message);
      throw err;
    }
  }

  #decodeAction(l: TableLayout, te: Obj): { actionId: number; params: Buffer[] } {
    const ta = te.action as Obj | null;
    if (!ta || ta.type !== 'action') fail(Code.INVALID_ARGUMENT, `table ${l.name}: entries need a direct action (action profiles are not supported)`);
    const a = ta!.action as Obj;
    const al = l.actions.find((x) => x.id === a.action_id);
    if (!al) return fail(Code.INVALID_ARGUMENT, `table ${l.name} cannot use action id ${a.action_id}`);
    const given = new Map<number, Uint8Array>();
    for (const prm of (a.params ?? []) as Obj[]) {
      if (given.has(prm.param_id)) fail(Code.INVALID_ARGUMENT, `action ${al.name}: param id ${prm.param_id} given twice`);
      given.set(prm.param_id, (prm.value as Uint8Array | undefined) ?? EMPTY_BYTES);
    }
    const params = al.params.map((x, i) => {
      const v = given.get(i + 1);
      if (!v) return fail(Code.INVALID_ARGUMENT, `action ${al.name}: param ${x.name} (id ${i + 1}) is missing`);
      given.delete(i + 1);
      return checked(() => fitBytes(v, x.bits, x.bytes, () => `action ${al.name} param ${x.name}`));
    });
    if (given.size > 0) fail(Code.INVALID_ARGUMENT, `action ${al.name}: unknown param ids ${[...given.keys()].join(', ')}`);
    return { actionId: al.id, params };
  }

  // --- read -----------------------------------------------------------------------------------

  #read(call: grpc.ServerWritableStream<Obj, Obj>): void {
    try {
      const req = call.request;
      this.#checkDevice(req.device_id);
      const { p, dp } = this.#requirePipeline();
      const entities: Obj[] = [];
      for (const e of (req.entities ?? []) as Obj[]) {
        if (e.entity === 'table_entry') entities.push(...this.#readTable(p, dp, e.table_entry, false));
        else if (e.entity === 'direct_counter_entry') entities.push(...this.#readTable(p, dp, e.direct_counter_entry?.table_entry ?? {}, true));
        else fail(Code.UNIMPLEMENTED, `reading ${e.entity} is not supported by the embedded switch`);
      }
      const BATCH = 1000;
      for (let i = 0; i < entities.length; i += BATCH) call.write({ entities: entities.slice(i, i + BATCH) });
      call.end();
    } catch (err) {
      call.destroy(toServiceError(err) as unknown as Error);
    }
  }

  #readTable(p: Pipeline, dp: EbpfDataplane, filter: Obj, asDirectCounter: boolean): Obj[] {
    const tables = filter.table_id ? [p.byId.get(filter.table_id) ?? fail(Code.NOT_FOUND, `unknown table id ${filter.table_id}`)] : p.layouts;
    const wantCounters = asDirectCounter || Boolean(filter.counter_data);
    const filterMatch = (filter.match ?? []).length > 0 ? describeMatch(decodeMatch(tables[0]!, filter.match)) : null;
    const out: Obj[] = [];
    for (const l of tables) {
      if (filter.is_default_action) {
        const d = dp.readDefault(l.name);
        if (d && d.actionId !== 0) out.push(wrap(l, { table_id: l.id, is_default_action: true, action: actionOut(l, d.actionId, d.params), ...(wantCounters ? { counter_data: counters(d) } : {}) }));
        continue;
      }
      for (const { key, value } of dp.listEntries(l.name)) {
        const match = new Map(key.fields.map((f) => [f.name, f.match]));
        if (filterMatch !== null && describeMatch(match) !== filterMatch) continue;
        if (filter.priority && l.kind === 'ternary' && value.priority !== filter.priority) continue;
        out.push(
          wrap(l, {
            table_id: l.id,
            match: encodeMatch(l, key.fields),
            action: actionOut(l, value.actionId, value.params),
            priority: l.kind === 'ternary' ? value.priority : 0,
            ...(wantCounters ? { counter_data: counters(value) } : {}),
          }),
        );
      }
    }
    return out;

    function wrap(_l: TableLayout, te: Obj): Obj {
      return asDirectCounter ? { direct_counter_entry: { table_entry: { ...te, counter_data: null }, data: te.counter_data } } : { table_entry: te };
    }
  }

  // --- stream channel -------------------------------------------------------------------------

  #stream(call: grpc.ServerDuplexStream<Obj, Obj>): void {
    const client: StreamClient = { call, role: '', electionId: null };
    let arbitrated = false;
    this.#streams.add(client);
    const gone = (): void => {
      if (!this.#streams.delete(client)) return;
      if (this.#primary.get(client.role) === client) this.#electPrimary(client.role);
    };
    call.on('data', (msg: Obj) => {
      try {
        if (msg.update === 'arbitration') {
          const a = msg.arbitration as Obj;
          this.#checkDevice(a.device_id);
          const role = String(a.role?.name ?? '');
          const electionId = u128(a.election_id);
          if (arbitrated && role !== client.role) fail(Code.FAILED_PRECONDITION, 'a stream cannot change its role');
          for (const other of this.#streams) {
            if (other !== client && other.role === role && other.electionId !== null && other.electionId === electionId) {
              fail(Code.INVALID_ARGUMENT, `election id ${electionId} is already used by another controller for role "${role}"`);
            }
          }
          arbitrated = true;
          client.role = role;
          client.electionId = electionId;
          this.#electPrimary(role, client);
          return;
        }
        if (!arbitrated) fail(Code.FAILED_PRECONDITION, 'the first message on the stream must be a MasterArbitrationUpdate');
        if (msg.update === 'packet') this.#packetOut(client, msg.packet as Obj);
        else if (msg.update === 'digest_ack') return;
        else fail(Code.UNIMPLEMENTED, `stream message ${msg.update} is not supported`);
      } catch (err) {
        const e = toServiceError(err);
        if (!arbitrated || msg.update === 'arbitration') {
          call.destroy(e as unknown as Error);
          gone();
        } else {
          call.write({ error: { canonical_code: e.code, message: e.details, ...(msg.update === 'packet' ? { packet_out: { packet_out: msg.packet } } : {}) } });
        }
      }
    });
    call.on('end', () => {
      gone();
      call.end();
    });
    call.on('error', gone);
    call.on('cancelled', gone);
  }

  /**
   * P4Runtime spec 5 (client arbitration): the primary of a role is the stream whose election id
   * is the highest the switch has seen for the role. When it leaves, nobody is primary (the others
   * hear NOT_FOUND) until a stream arrives with an election id at least that high.
   */
  #electPrimary(role: string, changed?: StreamClient): void {
    const before = this.#primary.get(role);
    if (changed?.electionId !== undefined && changed.electionId !== null) {
      const highest = this.#highest.get(role);
      if (highest === undefined || changed.electionId >= highest) this.#highest.set(role, changed.electionId);
    }
    const highest = this.#highest.get(role);
    let primary: StreamClient | undefined;
    for (const s of this.#streams) if (s.role === role && s.electionId !== null && s.electionId === highest) primary = s;
    if (primary) this.#primary.set(role, primary);
    else this.#primary.delete(role);
    for (const s of this.#streams) {
      if (s.role !== role) continue;
      if (primary !== before || s === changed) this.#sendArbitration(s, primary, highest);
    }
    if (primary !== before) log.info({ role, electionId: primary?.electionId?.toString() ?? null }, primary ? 'primary changed' : 'no primary');
  }

  #sendArbitration(s: StreamClient, primary: StreamClient | undefined, highest: bigint | undefined): void {
    const isPrimary = s === primary;
    s.call.write({
      arbitration: {
        device_id: String(this.options.deviceId),
        role: { name: s.role },
        ...(highest !== undefined ? { election_id: toU128(highest) } : {}),
        status: isPrimary
          ? { code: Code.OK, message: 'you are the primary' }
          : primary
            ? { code: Code.ALREADY_EXISTS, message: 'another controller is primary' }
            : { code: Code.NOT_FOUND, message: 'no primary' },
      },
    });
  }

  #packetOut(client: StreamClient, pkt: Obj): void {
    if (this.#primary.get(client.role) !== client) fail(Code.PERMISSION_DENIED, 'only the primary may send packets');
    const { p } = this.#requirePipeline();
    const io = this.options.packetIo ?? fail(Code.FAILED_PRECONDITION, 'this switch has no CPU port');
    if (this.options.cpuPortOwner === 'local') fail(Code.FAILED_PRECONDITION, 'the CPU port belongs to a controller on the switch host (cpuPortOwner: local)');
    const md = ((pkt.metadata ?? []) as Obj[]).find((m) => m.metadata_id === p.packetOutPortId);
    if (!md) return fail(Code.INVALID_ARGUMENT, 'packet_out needs its egress port metadata');
    const port = Number(BigInt(`0x${Buffer.from(md.value).toString('hex') || '0'}`));
    io.sendPacketOut(port, Buffer.from(pkt.payload ?? []));
  }

  #packetIn(ingressPort: number, payload: Buffer): void {
    const p = this.#pipeline;
    const ids = p?.packetInIds;
    if (!ids) return;
    const msg = {
      packet: {
        payload,
        metadata: [{ metadata_id: ids.port, value: canonicalBytes(Buffer.from([ingressPort >> 8, ingressPort & 0xff])) }, ...ids.others.map((id) => ({ metadata_id: id, value: Buffer.from([0]) }))],
      },
    };
    for (const primary of this.#primary.values()) primary.call.write(msg);
  }
}

// --- helpers ----------------------------------------------------------------------------------

function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if ((err as { code?: string }).code === 'PRISM_ERR_INVALID_ARGUMENT') return fail(Code.INVALID_ARGUMENT, (err as Error).message);
    throw err;
  }
}

const EMPTY_BYTES = new Uint8Array(0);

function decodeMatch(l: TableLayout, fms: readonly Obj[]): Map<string, FieldMatchValue> {
  const out = new Map<string, FieldMatchValue>();
  const seen = new Set<number>();
  for (const fm of fms) {
    // P4Info numbers match fields 1..n in declaration order.
    const declared = l.declaredKeyOrder[fm.field_id - 1];
    const kf = declared === undefined ? undefined : l.keyFields.find((k) => k.name === declared);
    if (!kf) return fail(Code.INVALID_ARGUMENT, `table ${l.name}: unknown match field id ${fm.field_id}`);
    if (seen.has(fm.field_id)) fail(Code.INVALID_ARGUMENT, `table ${l.name}: match field ${kf.name} given twice`);
    seen.add(fm.field_id);
    const kind = fm.field_match_type as string;
    if (kind !== kf.match) fail(Code.INVALID_ARGUMENT, `table ${l.name}: field ${kf.name} is ${kf.match}, got a ${kind} match`);
    const what = (): string => `table ${l.name} field ${kf.name}`;
    if (kind === 'exact') out.set(kf.name, { kind, value: checked(() => fitBytes(fm.exact.value, kf.bits, kf.bytes, what)) });
    else if (kind === 'lpm') {
      if (!fm.lpm.prefix_len) fail(Code.INVALID_ARGUMENT, `${what()}: a prefix length of 0 is a wildcard and must be omitted`);
      out.set(kf.name, { kind, value: checked(() => fitBytes(fm.lpm.value, kf.bits, kf.bytes, what)), prefixLen: fm.lpm.prefix_len });
    } else {
      const mask = checked(() => fitBytes(fm.ternary.mask, kf.bits, kf.bytes, () => `${what()} mask`));
      if (mask.every((x) => x === 0)) fail(Code.INVALID_ARGUMENT, `${what()}: an all-zero mask is a wildcard and must be omitted`);
      out.set(kf.name, { kind: 'ternary', value: checked(() => fitBytes(fm.ternary.value, kf.bits, kf.bytes, what)), mask });
    }
  }
  for (const kf of l.keyFields) {
    if (kf.match === 'exact' && !out.has(kf.name)) fail(Code.INVALID_ARGUMENT, `table ${l.name}: exact field ${kf.name} is missing`);
  }
  // Layout-level errors (bits outside the mask or prefix) are INVALID_ARGUMENT too.
  return out;
}

/** P4Info numbers match fields 1..n in declaration order; the layout may reorder them (lpm last). */
function keyFieldId(l: TableLayout, name: string): number {
  return l.declaredKeyOrder.indexOf(name) + 1;
}

function encodeMatch(l: TableLayout, fields: readonly { name: string; match: FieldMatchValue }[]): Obj[] {
  return fields.map(({ name, match }) => {
    const field_id = keyFieldId(l, name);
    if (match.kind === 'exact') return { field_id, exact: { value: canonicalBytes(match.value) } };
    if (match.kind === 'lpm') return { field_id, lpm: { value: canonicalBytes(match.value), prefix_len: match.prefixLen } };
    return { field_id, ternary: { value: canonicalBytes(match.value), mask: canonicalBytes(match.mask) } };
  });
}

function actionOut(l: TableLayout, actionId: number, params: readonly Buffer[]): Obj {
  const al = l.actions.find((a) => a.id === actionId);
  return { action: { action_id: actionId, params: (al?.params ?? []).map((_, i) => ({ param_id: i + 1, value: canonicalBytes(params[i] ?? Buffer.from([0])) })) } };
}

function counters(v: { packets: bigint; bytes: bigint }): Obj {
  return { byte_count: String(v.bytes), packet_count: String(v.packets) };
}

function describeMatch(m: ReadonlyMap<string, FieldMatchValue>): string {
  return [...m]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([n, v]) => `${n}=${Buffer.from(v.value).toString('hex')}${v.kind === 'lpm' ? `/${v.prefixLen}` : v.kind === 'ternary' ? `&${Buffer.from(v.mask).toString('hex')}` : ''}`)
    .join(',');
}

function toServiceError(err: unknown): grpc.ServiceError {
  if (err instanceof P4rtStatusError) return Object.assign(new Error(err.message), { code: err.grpcCode, details: err.message, metadata: new grpc.Metadata() });
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e?.code === 'number') return err as grpc.ServiceError;
  log.error({ err }, 'internal error');
  return Object.assign(new Error(String((err as Error)?.message ?? err)), { code: Code.INTERNAL, details: String((err as Error)?.message ?? err), metadata: new grpc.Metadata() });
}
