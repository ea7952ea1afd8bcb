/**
 * The controller's P4Runtime client (P4Runtime spec v1.5): one device, one role.
 *
 * - connect(): opens the StreamChannel and sends a MasterArbitrationUpdate; resolves when the
 *   switch answers (primary or backup: see isPrimary). Events 'primary' and 'backup' follow every
 *   change the switch announces afterwards; 'disconnected' when the stream breaks.
 * - setPipeline() / getPipeline(): SetForwardingPipelineConfig / GetForwardingPipelineConfig with
 *   the device config of the target (device-config.ts).
 * - write(): a batch of name-level updates; per-update failures come back as WriteResult records
 *   (writeOrThrow / insert / modify / delete turn them into a P4RuntimeWriteError).
 * - read(): table entries by name, with counters on request, as an async iterable.
 * - packetOut() and packetIns(): PacketOut / PacketIn with metadata by name.
 * - Reconnect: when the stream breaks the client retries with exponential backoff (backoff.ts),
 *   re-arbitrates with the same election id and, once primary again, re-syncs: re-pushes the
 *   pipeline it set if the switch lost it (cookie check), then reconcile(). Regaining primary
 *   on a live stream re-syncs too. reconcile() can also be called at any time (ARCHITECTURE
 *   invariant 4): see desired-state.ts for what the client records of each write.
 *
 * Invariants: `isPrimary` is true only while a stream is up and the switch's last arbitration
 * message on it said OK. At most one stream is current; messages from an older stream are ignored.
 * Table writes and reconciliation are ordered by a WriteGate (write-gate.ts).
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import {
  InvalidArgumentError,
  NoPipelineError,
  NotPrimaryError,
  P4RuntimeRpcError,
  P4RuntimeUnavailableError,
  TimeoutError,
} from '../../core/errors.js';
import { logger } from '../../core/log.js';
import type { P4Value } from '../../core/p4-values.js';
import { encodeMessage, loadGrpcDefinitions } from '../../core/proto.js';
import type { P4Info__Output } from '../../proto/types/p4/config/v1/P4Info.js';
import type { Entity } from '../../proto/types/p4/v1/Entity.js';
import type { GetForwardingPipelineConfigResponse__Output } from '../../proto/types/p4/v1/GetForwardingPipelineConfigResponse.js';
import type { P4Data__Output } from '../../proto/types/p4/v1/P4Data.js';
import type { P4RuntimeClient as P4RuntimeStub } from '../../proto/types/p4/v1/P4Runtime.js';
import type { ReadResponse__Output } from '../../proto/types/p4/v1/ReadResponse.js';
import type { StreamMessageRequest } from '../../proto/types/p4/v1/StreamMessageRequest.js';
import type { StreamMessageResponse__Output } from '../../proto/types/p4/v1/StreamMessageResponse.js';
import type { TableEntry, TableEntry__Output } from '../../proto/types/p4/v1/TableEntry.js';
import type { Update } from '../../proto/types/p4/v1/Update.js';
import { arbitrationOutcome, toElectionId, toUint128, type ArbitrationOutcome, type ElectionIdInput } from './arbitration.js';
import { AsyncQueue } from './async-queue.js';
import { Backoff, RetryLoop, systemClock, type BackoffOptions, type Clock } from './backoff.js';
import { canonicalCodeName, type CanonicalCodeName } from './canonical-code.js';
import { DesiredState, planReconcile } from './desired-state.js';
import {
  decodeTableEntry,
  describeTableEntry,
  encodeMatchFields,
  encodeTableEntry,
  fieldMatchKey,
  type DecodedTableEntry,
  type MatchSpec,
  type TableEntrySpec,
} from './entry-codec.js';
import { decodePacketIn, encodePacketOut, type ReceivedPacket } from './packet-metadata.js';
import { P4InfoIndex } from './p4info-index.js';
import {
  STATUS_DETAILS_KEY,
  allSucceeded,
  decodeStatusDetails,
  failuresOf,
  writeErrorOf,
  writeResultsFromStatus,
  type DecodedStatus,
  type SentUpdate,
  type UpdateType,
  type WriteFailed,
  type WriteResult,
} from './write-status.js';
import { WriteGate } from './write-gate.js';

const log = logger('p4rt');

export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'closed';
export type Atomicity = 'CONTINUE_ON_ERROR' | 'ROLLBACK_ON_ERROR' | 'DATAPLANE_ATOMIC';
export type PipelineAction = 'VERIFY' | 'VERIFY_AND_SAVE' | 'VERIFY_AND_COMMIT' | 'COMMIT' | 'RECONCILE_AND_COMMIT';
export type P4InfoInput = P4Info__Output | Uint8Array | P4InfoIndex;

export interface P4RuntimeClientOptions {
  /** The switch's device id (non-zero, spec 5.5). */
  readonly deviceId: bigint | number | string;
  /** This client's election id (1..2^128-1). The highest connected election id is primary. */
  readonly electionId: ElectionIdInput;
  /** Role name; omitted means the default role (full pipeline access). */
  readonly role?: string;
  /** The P4Info to name things with. Without it the client asks the switch after connecting. */
  readonly p4info?: P4InfoInput;
  readonly credentials?: grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
  /** How long to wait for the switch's arbitration answer (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Deadline of unary RPCs and reads (default 30 s). */
  readonly rpcTimeoutMs?: number;
  /** Reconnect backoff, or false to stay disconnected when the stream breaks (default: reconnect). */
  readonly reconnect?: BackoffOptions | false;
  /** Re-sync (pipeline check + reconcile) after reconnecting or regaining primary (default true). */
  readonly autoResync?: boolean;
  /** Tables whose entries the client owns (reconcile reads and repairs these). Default: every non-const table. */
  readonly ownedTables?: readonly (string | number)[];
  /** Updates per Write when reconciling (default 500). */
  readonly reconcileBatchSize?: number;
  /**
   * Acknowledge every DigestList as it arrives (default true). PI (BMv2) sends no further list
   * for a digest until the last one is acknowledged or its ack timeout passes.
   */
  readonly autoAckDigests?: boolean;
  /** PacketIns kept per packetIns() consumer before the oldest is dropped (default 4096). */
  readonly packetInQueue?: number;
  readonly clock?: Clock;
  /**
   * An in-process Write channel to a switch in this same process (the embedded switch's
   * `localWrite`): the WriteRequest goes to the switch's own Write handler without HTTP/2 or the
   * wire encoding, and a failure comes back as the same gRPC status (with its per-update details)
   * the RPC would carry. Arbitration, pipeline, reads and packets still use the gRPC channel.
   */
  readonly localWrite?: LocalWrite;
}

/**
 * Applies one p4.v1.WriteRequest, given as the client builds it for grpc-js (the switch converts
 * it to the shape the RPC would deliver); rejects with a gRPC ServiceError as the RPC would.
 */
export type LocalWrite = (request: object) => Promise<void>;

export interface EntryUpdate {
  readonly type: UpdateType;
  readonly entry: TableEntrySpec;
}

export interface WriteOptions {
  readonly atomicity?: Atomicity;
}

export interface ReadFilter {
  /** A table name or id; all tables when absent. */
  readonly table?: string | number;
  /** Match fields to filter on (needs `table`). A complete key reads one entry. */
  readonly match?: Readonly<Record<string, MatchSpec | null | undefined>>;
  readonly priority?: number;
  /** Only entries with this action (needs `table`). */
  readonly action?: string | number;
  /** Read the table's default entry instead of its entries (needs `table`). */
  readonly isDefault?: boolean;
  /** Ask for the direct counter values (entries of tables with a direct counter). */
  readonly counters?: boolean;
}

export interface SetPipelineOptions {
  readonly p4info: P4InfoInput;
  /** The target's device config (device-config.ts); may be empty for VERIFY. */
  readonly deviceConfig: Uint8Array;
  readonly action?: PipelineAction;
  /** ForwardingPipelineConfig.cookie; default: 64 bits of SHA-256 over the P4Info and the device config. */
  readonly cookie?: bigint | number | string;
}

export interface PipelineConfig {
  readonly p4info: P4InfoIndex | null;
  readonly deviceConfig: Buffer;
  /** Decimal string; null when the switch has none. */
  readonly cookie: string | null;
}

export interface ReconcileReport {
  readonly tables: readonly string[];
  readonly inserted: number;
  readonly modified: number;
  readonly deleted: number;
  readonly defaultsApplied: number;
  /** Updates the switch refused while reconciling (the rest were applied). */
  readonly failures: readonly WriteFailed[];
  readonly durationMs: number;
}

export interface StreamErrorRecord {
  readonly code: CanonicalCodeName;
  readonly message: string;
  readonly space: string;
  readonly spaceCode: number;
  readonly about: 'packet_out' | 'digest_list_ack' | 'other' | 'unknown';
}

export interface P4RuntimeClientEvents {
  primary: [{ electionId: bigint }];
  /** Another client is primary (code ALREADY_EXISTS), or nobody is (code NOT_FOUND). */
  backup: [{ primaryElectionId: bigint | null; code: CanonicalCodeName }];
  disconnected: [{ error: Error }];
  reconnected: [{ primary: boolean }];
  reconciled: [ReconcileReport];
  /** A background re-sync (pipeline re-push or reconcile) failed; the client keeps running. */
  syncError: [Error];
  packetIn: [ReceivedPacket];
  /** A DigestList from the switch (already acknowledged unless autoAckDigests is false). */
  digest: [ReceivedDigestList];
  streamError: [StreamErrorRecord];
}

/** A DigestList as received: the digest's P4Info id, the switch's list id, the P4Data entries. */
export interface ReceivedDigestList {
  readonly digestId: number;
  readonly listId: string;
  readonly data: readonly P4Data__Output[];
}

/** DigestEntry.Config (P4Runtime spec 9.8): how the switch batches a digest's messages. */
export interface DigestConfig {
  /** Longest a message waits before its list is sent (ns; 0 = at once). */
  readonly maxTimeoutNs: bigint | number;
  /** Messages per list at most (0 = no limit). */
  readonly maxListSize: number;
  /** How long the switch waits for an ack before sending the next list with those messages (ns). */
  readonly ackTimeoutNs: bigint | number;
}

interface Session {
  readonly gen: number;
  readonly call: grpc.ClientDuplexStream<StreamMessageRequest, StreamMessageResponse__Output>;
  arbitrated: boolean;
  closed: boolean;
}

interface Waiter {
  resolve: (o: ArbitrationOutcome) => void;
  reject: (e: Error) => void;
}

interface PushedPipeline {
  readonly p4info: P4Info__Output;
  readonly deviceConfig: Buffer;
  readonly cookie: string;
}

interface EncodedUpdate extends SentUpdate {
  readonly wire: TableEntry;
}

function serviceError(err: unknown): { code: number; details: string; metadata: grpc.Metadata | undefined } {
  const e = err as Partial<grpc.ServiceError>;
  return { code: typeof e.code === 'number' ? e.code : grpc.status.UNKNOWN, details: e.details ?? (err as Error).message ?? String(err), metadata: e.metadata };
}

function rpcError(rpc: string, err: unknown): P4RuntimeRpcError {
  const { code, details } = serviceError(err);
  return new P4RuntimeRpcError(rpc, code, canonicalCodeName(code), details, { cause: err });
}

function statusDetailsOf(err: unknown): DecodedStatus | null {
  const md = serviceError(err).metadata;
  const raw = md?.get(STATUS_DETAILS_KEY)[0];
  if (!raw || typeof raw === 'string') return null;
  try {
    return decodeStatusDetails(raw);
  } catch (e) {
    log.warn({ err: e }, 'cannot decode grpc-status-details-bin');
    return null;
  }
}

function toIndex(p4info: P4InfoInput): P4InfoIndex {
  return p4info instanceof P4InfoIndex ? p4info : P4InfoIndex.from(p4info);
}

function pipelineCookie(p4info: P4Info__Output, deviceConfig: Uint8Array): string {
  const h = createHash('sha256').update(encodeMessage('p4.config.v1.P4Info', p4info)).update(deviceConfig).digest();
  return h.readBigUInt64BE(0).toString();
}

export class P4RuntimeClient extends EventEmitter<P4RuntimeClientEvents> {
  readonly address: string;
  readonly deviceId: string;
  readonly role: string;
  private electionIdValue: bigint;
  private readonly options: P4RuntimeClientOptions;
  private readonly clock: Clock;
  private readonly rpcTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly stub: P4RuntimeStub;
  private index: P4InfoIndex | null;
  private readonly desired = new DesiredState();
  private readonly gate = new WriteGate();
  private readonly retry: RetryLoop | null;
  private readonly packetQueues = new Set<AsyncQueue<ReceivedPacket>>();
  private stateValue: ClientState = 'idle';
  private session: Session | null = null;
  private generation = 0;
  private primary = false;
  private primaryElectionIdValue: bigint | null = null;
  private lastOutcome: ArbitrationOutcome | null = null;
  private waiters: Waiter[] = [];
  /** Set once connect() has finished: from then on, becoming primary triggers a re-sync. */
  private initialized = false;
  private pushed: PushedPipeline | null = null;
  private resyncRunning: Promise<void> | null = null;
  private resyncAgain = false;

  /** Creates a client and connects it (see connect()). */
  static async connect(address: string, options: P4RuntimeClientOptions): Promise<P4RuntimeClient> {
    const client = new P4RuntimeClient(address, options);
    await client.connect();
    return client;
  }

  constructor(address: string, options: P4RuntimeClientOptions) {
    super();
    this.address = address;
    this.options = options;
    let device: bigint;
    try {
      device = BigInt(options.deviceId);
    } catch {
      throw new InvalidArgumentError(`device id ${String(options.deviceId)} is not an integer`);
    }
    if (device <= 0n || device >= 1n << 64n) throw new InvalidArgumentError(`device id ${device} is outside 1..2^64-1 (spec 5.5: 0 is not valid)`);
    this.deviceId = device.toString();
    this.electionIdValue = toElectionId(options.electionId);
    this.role = options.role ?? '';
    this.clock = options.clock ?? systemClock;
    this.rpcTimeoutMs = options.rpcTimeoutMs ?? 30_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.index = options.p4info ? toIndex(options.p4info) : null;
    const { P4Runtime } = loadGrpcDefinitions().p4.v1;
    // The channel's own reconnect backoff (grpc-js: 1 s initial, 120 s max) would hide a restarted
    // switch from our retry loop for that long: align it with ours unless the caller says otherwise.
    const backoff = options.reconnect === false ? {} : (options.reconnect ?? {});
    const channelOptions: grpc.ChannelOptions = {
      'grpc.initial_reconnect_backoff_ms': backoff.initialMs ?? 100,
      'grpc.max_reconnect_backoff_ms': backoff.maxMs ?? 10_000,
      ...options.channelOptions,
    };
    this.stub = new P4Runtime(address, options.credentials ?? grpc.credentials.createInsecure(), channelOptions);
    this.retry =
      options.reconnect === false
        ? null
        : new RetryLoop(() => this.reconnectOnce(), new Backoff(options.reconnect ?? {}), this.clock, {
            onScheduled: (n, ms) => log.debug({ attempt: n, delayMs: ms, address }, 'P4Runtime reconnect scheduled'),
            onFailure: (n, err) => log.info({ attempt: n, err: (err as Error).message, address }, 'P4Runtime reconnect failed'),
          });
  }

  get state(): ClientState {
    return this.stateValue;
  }

  /** True while the switch says this client is the primary of its (device, role). */
  get isPrimary(): boolean {
    return this.primary && this.stateValue === 'connected';
  }

  get electionId(): bigint {
    return this.electionIdValue;
  }

  /** The highest election id the switch has announced (the primary's, when there is one). */
  get primaryElectionId(): bigint | null {
    return this.primaryElectionIdValue;
  }

  /** The P4Info in use; throws NoPipelineError when there is none. */
  get p4info(): P4InfoIndex {
    if (!this.index) throw new NoPipelineError('naming P4 objects');
    return this.index;
  }

  /** True when the client has a P4Info. */
  get hasP4Info(): boolean {
    return this.index !== null;
  }

  /**
   * Opens the stream and arbitrates. Resolves once the switch has answered (check isPrimary).
   * Without a P4Info in the options, fetches the switch's (none is fine: setPipeline gives one).
   * Rejects with P4RuntimeRpcError (e.g. INVALID_ARGUMENT for an election id another client
   * uses, NOT_FOUND for an unknown device id), P4RuntimeUnavailableError or TimeoutError.
   */
  async connect(): Promise<void> {
    if (this.stateValue === 'closed') throw new P4RuntimeUnavailableError('the P4Runtime client is closed');
    if (this.stateValue !== 'idle' && this.stateValue !== 'disconnected') throw new InvalidArgumentError(`connect() while ${this.stateValue}`);
    this.stateValue = 'connecting';
    try {
      await this.openSession();
      if (!this.index) await this.fetchP4Info();
    } catch (err) {
      if (this.stateValue === 'connecting') this.stateValue = 'disconnected';
      this.dropSession();
      throw err;
    }
    this.initialized = true;
    log.info({ address: this.address, deviceId: this.deviceId, electionId: this.electionIdValue.toString(), primary: this.primary }, 'P4Runtime connected');
  }

  /**
   * Sends a new arbitration request with `electionId` (default: one above the highest the switch
   * has announced) and resolves with the switch's answer. Use it to take over after the primary
   * went away (the switch then announces NOT_FOUND to the backups and waits for one to claim).
   */
  async claimPrimary(electionId?: ElectionIdInput): Promise<boolean> {
    const s = this.requireSession('claimPrimary');
    this.electionIdValue = electionId !== undefined ? toElectionId(electionId) : (this.primaryElectionIdValue ?? this.electionIdValue) + 1n;
    const mine = this.electionIdValue;
    const answer = this.nextArbitration();
    this.sendArbitration(s);
    // A notification sent before the switch saw our claim (say, "no primary" after the old one
    // left) can arrive first: wait for the answer that reflects our election id.
    let outcome = await answer;
    while (!this.isPrimary && (outcome.primaryElectionId === null || outcome.primaryElectionId === undefined || outcome.primaryElectionId < mine)) {
      outcome = await this.nextArbitration();
    }
    return this.isPrimary;
  }

  // ------------------------------------------------------------------------------------------
  // Pipeline

  /**
   * SetForwardingPipelineConfig. On success with a *_COMMIT action, the client names things with
   * the new P4Info; VERIFY_AND_COMMIT and COMMIT clear the switch's tables, so the desired state
   * is cleared too (RECONCILE_AND_COMMIT keeps it). The pipeline is remembered and re-pushed after
   * a reconnect if the switch lost it.
   */
  async setPipeline(opts: SetPipelineOptions): Promise<void> {
    const action = opts.action ?? 'VERIFY_AND_COMMIT';
    if (action !== 'VERIFY') this.requirePrimary('SetForwardingPipelineConfig');
    const index = toIndex(opts.p4info);
    const deviceConfig = Buffer.from(opts.deviceConfig);
    const cookie = opts.cookie !== undefined ? BigInt(opts.cookie).toString() : pipelineCookie(index.p4info, deviceConfig);
    await this.sendSetPipeline(index.p4info, deviceConfig, cookie, action);
    if (action === 'VERIFY_AND_COMMIT' || action === 'COMMIT' || action === 'RECONCILE_AND_COMMIT') {
      this.index = index;
      if (action !== 'RECONCILE_AND_COMMIT') this.desired.clear();
      this.pushed = { p4info: index.p4info, deviceConfig, cookie };
    }
  }

  private async sendSetPipeline(p4info: P4Info__Output, deviceConfig: Buffer, cookie: string, action: PipelineAction): Promise<void> {
    const request = {
      device_id: this.deviceId,
      election_id: toUint128(this.electionIdValue),
      action,
      config: action === 'COMMIT' ? null : { p4info, p4_device_config: deviceConfig, cookie: { cookie } },
      ...(this.role ? { role: this.role } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      this.stub.SetForwardingPipelineConfig(request, this.callOptions(), (err) => {
        if (!err) return resolve();
        if (err.code === grpc.status.PERMISSION_DENIED) return reject(this.notPrimary('SetForwardingPipelineConfig', err));
        reject(rpcError('SetForwardingPipelineConfig', err));
      });
    });
    log.info({ action, cookie, bytes: deviceConfig.length }, 'P4Runtime pipeline set');
  }

  /** GetForwardingPipelineConfig. */
  async getPipeline(responseType: 'ALL' | 'COOKIE_ONLY' | 'P4INFO_AND_COOKIE' | 'DEVICE_CONFIG_AND_COOKIE' = 'ALL'): Promise<PipelineConfig> {
    const res = await new Promise<GetForwardingPipelineConfigResponse__Output>((resolve, reject) => {
      this.stub.GetForwardingPipelineConfig({ device_id: this.deviceId, response_type: responseType }, this.callOptions(), (err, value) => {
        if (err || !value) return reject(rpcError('GetForwardingPipelineConfig', err ?? new Error('empty response')));
        resolve(value);
      });
    });
    const config = res.config;
    const p4info = config?.p4info && (config.p4info.tables.length > 0 || config.p4info.actions.length > 0) ? new P4InfoIndex(config.p4info) : null;
    return { p4info, deviceConfig: config?.p4_device_config ?? Buffer.alloc(0), cookie: config?.cookie ? config.cookie.cookie : null };
  }

  private async fetchP4Info(): Promise<void> {
    try {
      const { p4info } = await this.getPipeline('P4INFO_AND_COOKIE');
      if (p4info) this.index = p4info;
    } catch (err) {
      // A switch without a pipeline answers FAILED_PRECONDITION (or similar): not an error here.
      log.debug({ err: (err as Error).message }, 'no P4Info from the switch');
    }
  }

  // ------------------------------------------------------------------------------------------
  // Writes

  /**
   * Writes a batch. Resolves with one WriteResult per update, in order, whether or not the switch
   * refused some of them; throws only when the batch cannot be encoded (InvalidArgumentError,
   * P4InfoLookupError: nothing is sent), when this client is not primary (NotPrimaryError), or when
   * the RPC failed as a whole (P4RuntimeRpcError, P4RuntimeUnavailableError).
   */
  async write(updates: readonly EntryUpdate[], options: WriteOptions = {}): Promise<WriteResult[]> {
    const index = this.requireIndex('write');
    const encoded = updates.map((u): EncodedUpdate => {
      const wire = encodeTableEntry(index, u.entry, { requireAction: u.type !== 'DELETE' });
      // Described only when read (an error, a log): it costs more than an in-process write.
      return { type: u.type, wire, get entry() { return describeTableEntry(index, wire); } };
    });
    if (encoded.length === 0) return [];
    this.requirePrimary('Write');
    return this.gate.runShared(async () => {
      let results: WriteResult[];
      try {
        results = await this.sendWrite(encoded, options.atomicity ?? 'CONTINUE_ON_ERROR');
      } catch (err) {
        for (const u of encoded) this.desired.record(u.type, u.wire, 'unknown');
        throw err;
      }
      for (const r of results) this.desired.record(r.type, encoded[r.index]!.wire, r.ok ? 'applied' : 'refused');
      return results;
    });
  }

  /** write(), then a P4RuntimeWriteError naming every refused update if there is one. */
  async writeOrThrow(updates: readonly EntryUpdate[], options: WriteOptions = {}): Promise<void> {
    const error = writeErrorOf(await this.write(updates, options));
    if (error) throw error;
  }

  insert(...entries: TableEntrySpec[]): Promise<void> {
    return this.writeOrThrow(entries.map((entry) => ({ type: 'INSERT' as const, entry })));
  }

  modify(...entries: TableEntrySpec[]): Promise<void> {
    return this.writeOrThrow(entries.map((entry) => ({ type: 'MODIFY' as const, entry })));
  }

  delete(...entries: TableEntrySpec[]): Promise<void> {
    return this.writeOrThrow(entries.map((entry) => ({ type: 'DELETE' as const, entry })));
  }

  /** The entries this client owns (written through it and not deleted), decoded. */
  desiredEntries(): DecodedTableEntry[] {
    const index = this.requireIndex('desiredEntries');
    return [...this.desired.list(), ...this.desired.listDefaults()].map((e) => decodeTableEntry(index, e));
  }

  /** Sends one Write; RPC-wide failures throw, per-update failures come back as records. */
  private async sendWrite(encoded: readonly EncodedUpdate[], atomicity: Atomicity): Promise<WriteResult[]> {
    const request = {
      device_id: this.deviceId,
      election_id: toUint128(this.electionIdValue),
      updates: encoded.map((u): Update => ({ type: u.type, entity: { table_entry: u.wire } })),
      atomicity,
      ...(this.role ? { role: this.role } : {}),
    };
    try {
      const local = this.options.localWrite;
      if (local) await local(request);
      else {
        await new Promise<void>((resolve, reject) => {
          this.stub.Write(request, this.callOptions(), (err) => (err ? reject(err) : resolve()));
        });
      }
      return allSucceeded(encoded);
    } catch (err) {
      const results = writeResultsFromStatus(statusDetailsOf(err), encoded);
      if (!results) {
        if (serviceError(err).code === grpc.status.PERMISSION_DENIED) throw this.notPrimary('Write', err);
        throw rpcError('Write', err);
      }
      if (atomicity !== 'CONTINUE_ON_ERROR' && results.some((r) => !r.ok)) {
        // The switch rolled the whole batch back: the updates it reports OK were not kept either.
        return results.map((r): WriteResult =>
          r.ok ? { ok: false, index: r.index, type: r.type, entry: r.entry, code: 'ABORTED', message: 'rolled back: another update of the batch failed', space: '', spaceCode: 0 } : r,
        );
      }
      return results;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Reads

  /**
   * Table entries matching `filter`, decoded by name, as an async iterable (backups may read).
   * A complete key of an exact-match table reads one entry; other match filters are applied to
   * the table's entries here. Errors: P4RuntimeRpcError, P4InfoLookupError, NoPipelineError.
   */
  async *read(filter: ReadFilter = {}): AsyncGenerator<DecodedTableEntry, void, undefined> {
    const index = this.requireIndex('read');
    if (filter.table === undefined && (filter.match || filter.action !== undefined || filter.isDefault || filter.priority)) {
      throw new InvalidArgumentError('read: match, action, priority and isDefault filters need a table');
    }
    const entry: TableEntry = { table_id: 0 };
    let clientMatch: string[] | null = null;
    if (filter.table !== undefined) {
      const table = index.table(filter.table);
      entry.table_id = table.id;
      if (filter.priority) entry.priority = filter.priority;
      if (filter.isDefault) entry.is_default_action = true;
      if (filter.action !== undefined) entry.action = { action: { action_id: index.tableAction(table, filter.action).action.id } };
      if (filter.match) {
        const fields = encodeMatchFields(index, table, filter.match);
        const complete = table.matchFields.every((f) => f.matchType === 'EXACT') && fields.length === table.matchFields.length;
        if (complete) entry.match = fields;
        else clientMatch = fields.map(fieldMatchKey);
      }
    }
    if (filter.counters) entry.counter_data = {};
    for await (const te of this.readTableEntries([{ table_entry: entry }])) {
      if (clientMatch) {
        const have = new Set(te.match.map(fieldMatchKey));
        if (!clientMatch.every((k) => have.has(k))) continue;
      }
      yield decodeTableEntry(index, te);
    }
  }

  /** read() collected into an array. */
  async readAll(filter: ReadFilter = {}): Promise<DecodedTableEntry[]> {
    const out: DecodedTableEntry[] = [];
    for await (const e of this.read(filter)) out.push(e);
    return out;
  }

  private async *readTableEntries(entities: Entity[]): AsyncGenerator<TableEntry__Output, void, undefined> {
    const call = this.stub.Read({ device_id: this.deviceId, entities, ...(this.role ? { role: this.role } : {}) }, this.callOptions());
    let finished = false;
    try {
      for await (const res of call as AsyncIterable<ReadResponse__Output>) {
        for (const e of res.entities) if (e.table_entry) yield e.table_entry;
      }
      finished = true;
    } catch (err) {
      finished = true;
      throw rpcError('Read', err);
    } finally {
      if (!finished) call.cancel();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Digests

  /**
   * Enables a digest (by P4Info id): without a DigestEntry, PI generates no DigestList for it at
   * all. INSERT the first time, MODIFY to change it (`modify`). CONTINUE_ON_ERROR, as PI requires.
   */
  async configureDigest(digestId: number, config: DigestConfig, opts: { modify?: boolean } = {}): Promise<void> {
    this.requirePrimary('configureDigest');
    const request = {
      device_id: this.deviceId,
      election_id: toUint128(this.electionIdValue),
      updates: [
        {
          type: opts.modify ? 'MODIFY' : 'INSERT',
          entity: { digest_entry: { digest_id: digestId, config: { max_timeout_ns: String(config.maxTimeoutNs), max_list_size: config.maxListSize, ack_timeout_ns: String(config.ackTimeoutNs) } } },
        },
      ],
      atomicity: 'CONTINUE_ON_ERROR',
      ...(this.role ? { role: this.role } : {}),
    } as const;
    try {
      await new Promise<void>((resolve, reject) => {
        this.stub.Write(request as never, this.callOptions(), (err) => (err ? reject(err) : resolve()));
      });
    } catch (err) {
      if (serviceError(err).code === grpc.status.PERMISSION_DENIED) throw this.notPrimary('Write', err);
      throw rpcError('Write', err);
    }
  }

  /** Acknowledges a DigestList (needed only with autoAckDigests false). */
  ackDigest(digestId: number, listId: string): void {
    this.requireSession('ackDigest').call.write({ digest_ack: { digest_id: digestId, list_id: listId } });
  }

  // ------------------------------------------------------------------------------------------
  // Packets

  /** Sends a PacketOut with metadata by name ("egress_port"). Needs a live stream. */
  packetOut(payload: Uint8Array, metadata: Readonly<Record<string, P4Value>>): void {
    const msg = encodePacketOut(this.requireIndex('packetOut'), payload, metadata);
    const s = this.requireSession('packetOut');
    s.call.write({ packet: msg });
  }

  /**
   * PacketIns as an async iterable (one queue per call; every consumer sees every packet). It
   * survives reconnects and ends when the client closes. A consumer slower than the switch loses
   * the oldest packets beyond the queue size (`dropped` on the iterable counts them).
   */
  packetIns(): AsyncQueue<ReceivedPacket> {
    const q: AsyncQueue<ReceivedPacket> = new AsyncQueue(this.options.packetInQueue ?? 4096, () => this.packetQueues.delete(q));
    if (this.stateValue === 'closed') q.end();
    else this.packetQueues.add(q);
    return q;
  }

  // ------------------------------------------------------------------------------------------
  // Reconciliation

  /**
   * Makes the switch's owned tables match the entries this client owns: reads them back, deletes
   * entries it does not own, modifies entries whose action differs, inserts missing ones and
   * re-applies recorded default actions. Writes wait while it runs. Needs primary.
   */
  async reconcile(options: { tables?: readonly (string | number)[] } = {}): Promise<ReconcileReport> {
    const index = this.requireIndex('reconcile');
    this.requirePrimary('reconcile');
    const tables = (options.tables ?? this.options.ownedTables)?.map((t) => index.table(t)) ?? index.tables().filter((t) => !t.isConst);
    return this.gate.runExclusive(async () => {
      const started = this.clock.now();
      const ids = new Set(tables.map((t) => t.id));
      const actual: TableEntry__Output[] = [];
      for (const t of tables) {
        for await (const te of this.readTableEntries([{ table_entry: { table_id: t.id } }])) actual.push(te);
      }
      const plan = planReconcile(
        this.desired.list().filter((e) => ids.has(e.table_id ?? 0)),
        actual,
      );
      const defaults = this.desired.listDefaults().filter((e) => ids.has(e.table_id ?? 0));
      const failures: WriteFailed[] = [];
      const run = async (type: UpdateType, entries: TableEntry[]): Promise<number> => {
        let applied = 0;
        const size = this.options.reconcileBatchSize ?? 500;
        for (let i = 0; i < entries.length; i += size) {
          const batch = entries.slice(i, i + size).map((wire): EncodedUpdate => ({ type, wire, entry: describeTableEntry(index, wire) }));
          const results = await this.sendWrite(batch, 'CONTINUE_ON_ERROR');
          const failed = failuresOf(results);
          failures.push(...failed);
          applied += results.length - failed.length;
        }
        return applied;
      };
      const deleted = await run('DELETE', plan.deletes);
      const modified = await run('MODIFY', plan.modifies);
      const inserted = await run('INSERT', plan.inserts);
      const defaultsApplied = await run('MODIFY', defaults);
      const report: ReconcileReport = {
        tables: tables.map((t) => t.alias || t.name),
        inserted,
        modified,
        deleted,
        defaultsApplied,
        failures,
        durationMs: this.clock.now() - started,
      };
      log.info({ ...report, failures: failures.length }, 'P4Runtime tables reconciled');
      return report;
    });
  }

  // ------------------------------------------------------------------------------------------
  // Closing

  /** Stops reconnecting, closes the stream and the channel, ends every packetIns() iterable. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.retry?.stop();
    this.primary = false;
    const s = this.session;
    this.session = null;
    if (s) {
      s.closed = true;
      s.call.end();
      s.call.cancel();
    }
    this.rejectWaiters(new P4RuntimeUnavailableError('the P4Runtime client was closed'));
    for (const q of this.packetQueues) q.end();
    this.packetQueues.clear();
    this.stub.close();
    if (this.resyncRunning) await this.resyncRunning.catch(() => {});
  }

  // ------------------------------------------------------------------------------------------
  // Stream internals

  private callOptions(): grpc.CallOptions {
    return { deadline: new Date(this.clock.now() + this.rpcTimeoutMs) };
  }

  private requireIndex(what: string): P4InfoIndex {
    if (!this.index) throw new NoPipelineError(what);
    return this.index;
  }

  private requireSession(what: string): Session {
    if (this.stateValue === 'closed') throw new P4RuntimeUnavailableError(`${what}: the P4Runtime client is closed`);
    if (!this.session || this.stateValue !== 'connected') {
      throw new P4RuntimeUnavailableError(`${what}: no P4Runtime stream to ${this.address} (state ${this.stateValue})`);
    }
    return this.session;
  }

  private requirePrimary(what: string): void {
    this.requireSession(what);
    if (!this.primary) throw this.notPrimary(what);
  }

  private notPrimary(what: string, cause?: unknown): NotPrimaryError {
    const primary = this.primaryElectionIdValue !== null && this.primaryElectionIdValue !== this.electionIdValue ? this.primaryElectionIdValue.toString() : '';
    return new NotPrimaryError(what, this.deviceId, this.electionIdValue.toString(), primary, cause === undefined ? undefined : { cause });
  }

  private sendArbitration(s: Session): void {
    s.call.write({
      arbitration: {
        device_id: this.deviceId,
        election_id: toUint128(this.electionIdValue),
        ...(this.role ? { role: { name: this.role } } : {}),
      },
    });
  }

  private nextArbitration(): Promise<ArbitrationOutcome> {
    return new Promise<ArbitrationOutcome>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      const timer = this.clock.setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new TimeoutError(`P4Runtime arbitration with ${this.address}`, this.connectTimeoutMs));
      }, this.connectTimeoutMs);
      waiter.resolve = (o) => {
        this.clock.clearTimeout(timer);
        resolve(o);
      };
      waiter.reject = (e) => {
        this.clock.clearTimeout(timer);
        reject(e);
      };
      this.waiters.push(waiter);
    });
  }

  private rejectWaiters(err: Error): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.reject(err);
  }

  /** Opens a new stream, arbitrates, and resolves with the switch's first answer. */
  private async openSession(): Promise<ArbitrationOutcome> {
    this.dropSession();
    const gen = ++this.generation;
    const call = this.stub.StreamChannel();
    const s: Session = { gen, call, arbitrated: false, closed: false };
    this.session = s;
    call.on('data', (msg: StreamMessageResponse__Output) => this.onMessage(s, msg));
    call.on('error', (err: Error) => this.onStreamClosed(s, err));
    call.on('end', () => this.onStreamClosed(s, new P4RuntimeUnavailableError(`the switch at ${this.address} closed the P4Runtime stream`)));
    const answer = this.nextArbitration();
    this.sendArbitration(s);
    try {
      return await answer;
    } catch (err) {
      if (this.session === s) this.dropSession();
      throw err;
    }
  }

  private dropSession(): void {
    const s = this.session;
    if (!s) return;
    this.session = null;
    s.closed = true;
    s.call.cancel();
  }

  private onMessage(s: Session, msg: StreamMessageResponse__Output): void {
    if (s !== this.session || s.closed) return;
    switch (msg.update) {
      case 'arbitration':
        if (msg.arbitration) this.onArbitration(s, arbitrationOutcome(msg.arbitration, this.electionIdValue));
        break;
      case 'packet':
        if (msg.packet) {
          const packet = decodePacketIn(this.index, msg.packet);
          for (const q of this.packetQueues) q.push(packet);
          this.emit('packetIn', packet);
        }
        break;
      case 'digest':
        if (msg.digest) {
          const d: ReceivedDigestList = { digestId: msg.digest.digest_id, listId: msg.digest.list_id, data: msg.digest.data };
          if (this.options.autoAckDigests ?? true) s.call.write({ digest_ack: { digest_id: d.digestId, list_id: d.listId } });
          this.emit('digest', d);
        }
        break;
      case 'error':
        if (msg.error) {
          const e = msg.error;
          const record: StreamErrorRecord = {
            code: canonicalCodeName(e.canonical_code),
            message: e.message,
            space: e.space,
            spaceCode: e.code,
            about: e.details ?? 'unknown',
          };
          log.warn(record, 'P4Runtime stream error');
          this.emit('streamError', record);
        }
        break;
      default:
        log.debug({ update: msg.update }, 'P4Runtime stream message ignored');
    }
  }

  private onArbitration(s: Session, outcome: ArbitrationOutcome): void {
    const first = !s.arbitrated;
    s.arbitrated = true;
    const was = this.primary;
    const before = this.lastOutcome;
    this.lastOutcome = outcome;
    this.primary = outcome.role === 'primary';
    this.primaryElectionIdValue = outcome.primaryElectionId;
    if (first && this.stateValue !== 'closed') this.stateValue = 'connected';
    log.debug({ role: outcome.role, code: outcome.code, primaryElectionId: outcome.primaryElectionId?.toString() }, 'P4Runtime arbitration');
    if (this.primary && (first || !was)) this.emit('primary', { electionId: this.electionIdValue });
    // A backup hears about every change: another primary, or none (NOT_FOUND).
    const changed = !before || before.code !== outcome.code || before.primaryElectionId !== outcome.primaryElectionId;
    if (!this.primary && (first || was || changed)) this.emit('backup', { primaryElectionId: outcome.primaryElectionId, code: outcome.code });
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.resolve(outcome);
    if (this.primary && !was && this.initialized && (this.options.autoResync ?? true)) this.scheduleResync();
  }

  private onStreamClosed(s: Session, err: Error): void {
    if (s.closed) return;
    s.closed = true;
    if (s !== this.session) return;
    this.session = null;
    const { code, details } = serviceError(err);
    const error = err instanceof P4RuntimeUnavailableError ? err : rpcError('StreamChannel', err);
    this.rejectWaiters(error);
    if (this.stateValue === 'closed') return;
    const wasConnected = this.stateValue === 'connected';
    this.primary = false;
    if (!wasConnected) return; // connect() / a reconnect attempt reports it
    log.warn({ code: canonicalCodeName(code), details }, 'P4Runtime stream lost');
    this.stateValue = this.retry ? 'reconnecting' : 'disconnected';
    this.emit('disconnected', { error });
    // stop() first: a loop whose last attempt just succeeded may not have marked itself idle yet.
    this.retry?.stop();
    this.retry?.start();
  }

  private async reconnectOnce(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'reconnecting';
    await this.openSession();
    if (!this.index) await this.fetchP4Info();
    log.info({ address: this.address, primary: this.primary }, 'P4Runtime reconnected');
    this.emit('reconnected', { primary: this.primary });
  }

  private scheduleResync(): void {
    if (this.resyncRunning) {
      this.resyncAgain = true;
      return;
    }
    this.resyncRunning = (async () => {
      do {
        this.resyncAgain = false;
        try {
          const report = await this.resync();
          if (report) this.emit('reconciled', report);
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'P4Runtime re-sync failed');
          if (this.stateValue !== 'closed') this.emit('syncError', err as Error);
        }
      } while (this.resyncAgain && this.isPrimary);
    })().finally(() => {
      this.resyncRunning = null;
    });
  }

  /** Re-push the pipeline if the switch lost it, then reconcile. */
  private async resync(): Promise<ReconcileReport | null> {
    if (!this.isPrimary) return null;
    if (this.pushed) {
      let cookie: string | null = null;
      try {
        cookie = (await this.getPipeline('COOKIE_ONLY')).cookie;
      } catch (err) {
        log.debug({ err: (err as Error).message }, 'no pipeline cookie from the switch');
      }
      if (cookie !== this.pushed.cookie) {
        log.info({ switchCookie: cookie, ours: this.pushed.cookie }, 'P4Runtime switch lost the pipeline: pushing it again');
        await this.sendSetPipeline(this.pushed.p4info, this.pushed.deviceConfig, this.pushed.cookie, 'VERIFY_AND_COMMIT');
      }
    }
    if (!this.index) await this.fetchP4Info();
    if (!this.index) return null;
    return this.reconcile();
  }
}
