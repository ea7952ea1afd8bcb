/**
 * Typed wrapper over the prism_bpf native addon (native/src/bpf.c, libbpf 1.x, N-API 8).
 *
 * All calls are synchronous. Kernel/libbpf failures become `BpfError` (code 'PRISM_ERR_BPF',
 * with `errno`, `errnoName` and `op`) at this edge; argument mistakes stay TypeError
 * ('ERR_INVALID_ARG_TYPE') or RangeError ('ERR_OUT_OF_RANGE').
 *
 * The addon is loaded lazily on first use from native/build/Release/prism_bpf.node, found by
 * walking up from this module (works from source under vitest and from dist/native/index.js);
 * PRISM_BPF_ADDON overrides the path. See docs/native.md.
 */
import { BpfError, PrismError } from '../core/errors.js';
import { addonLoader, isNativeErrnoError } from './load-addon.js';

// ---------------------------------------------------------------------------------------------
// records

export interface BpfProgramInfo {
  readonly name: string;
  /** ELF section, e.g. 'tc'. */
  readonly section: string;
  /** Owned by the BpfObject: valid until it is closed. */
  readonly fd: number;
  /** enum bpf_prog_type (3 = BPF_PROG_TYPE_SCHED_CLS). */
  readonly type: number;
  /** libbpf's name for the type, e.g. 'sched_cls'. */
  readonly typeName: string;
}

export interface BpfMapInfo {
  readonly name: string;
  /** Owned by the BpfObject: valid until it is closed. */
  readonly fd: number;
  /** enum bpf_map_type (1 = hash, 2 = array, 6 = percpu_array, ...). */
  readonly type: number;
  readonly typeName: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
}

/** What the kernel reports for a map fd (bpf_obj_get_info_by_fd). */
export interface MapFdInfo extends Omit<BpfMapInfo, 'fd'> {
  readonly id: number;
  /** Bytes a value Buffer must have: valueSize, or roundup(valueSize, 8) × possible CPUs for per-CPU maps. */
  readonly valueBufferSize: number;
}

export interface TestRunOptions {
  /** Run the program this many times (the result is the last run; durationNs is the average). */
  readonly repeat?: number;
  /** A `struct __sk_buff` (tc programs) passed as context; its fields are returned in ctxOut. */
  readonly ctxIn?: Uint8Array;
}

export interface TestRunResult {
  readonly retval: number;
  /** The packet after the program ran (may be longer or shorter than the input; up to +512 bytes). */
  readonly dataOut: Buffer;
  /** Average duration of one run in ns. */
  readonly durationNs: number;
  /** Present only when ctxIn was given. */
  readonly ctxOut?: Buffer;
}

export type TcDirection = 'ingress' | 'egress';

export interface TcOptions {
  readonly direction: TcDirection;
  /** tc filter priority (1..65535); default 1. */
  readonly priority?: number;
  /** tc filter handle; default 1. */
  readonly handle?: number;
  /** Network namespace to operate in: a name under /var/run/netns or a path to a netns file. */
  readonly netns?: string;
}

export interface TcAttachOptions extends TcOptions {
  /** Replace an existing filter with the same handle/priority (BPF_TC_F_REPLACE). */
  readonly replace?: boolean;
}

export interface TcFilter {
  readonly handle: number;
  readonly priority: number;
  readonly progId: number;
}

export interface ProgStats {
  /** Runs counted while run-time stats were enabled (enableStats or sysctl kernel.bpf_stats_enabled). */
  readonly runCnt: bigint;
  readonly runTimeNs: bigint;
  readonly name: string;
  readonly id: number;
  readonly type: number;
  readonly typeName: string;
  /** Program tag, 16 hex digits. */
  readonly tag: string;
}

/** What BPF_MAP_UPDATE_BATCH did: `updated` elements went in; `code` names why the next one did not (null: all did). */
export interface BatchUpdateResult {
  readonly updated: number;
  readonly errno: number;
  readonly code: string | null;
}

/** Flags for mapUpdate (BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK). */
export const MapUpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2, LOCK: 4 } as const;

/** tc program return codes (TC_ACT_*). */
export const TcAction = { UNSPEC: -1, OK: 0, RECLASSIFY: 1, SHOT: 2, PIPE: 3, STOLEN: 4, REDIRECT: 7 } as const;

/** Size of `struct __sk_buff` for progTestRun ctxIn on this kernel's UAPI (192 bytes on 6.x). */
export const SK_BUFF_CTX_SIZE = 192;

// ---------------------------------------------------------------------------------------------
// the raw addon

/** An opaque object handle returned by the addon (a napi external). */
export type RawObjectHandle = { readonly __brand: 'prism_bpf.object' };

interface RawAddon {
  openObject(path: string): RawObjectHandle;
  closeObject(handle: RawObjectHandle): void;
  listPrograms(handle: RawObjectHandle): BpfProgramInfo[];
  listMaps(handle: RawObjectHandle): BpfMapInfo[];
  mapInfo(fd: number): MapFdInfo;
  mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: number, keySize?: number, valueLength?: number): void;
  mapUpdateBatch(fd: number, keys: Uint8Array, values: Uint8Array, count: number, elemFlags: number, keySize: number, valueLength: number): BatchUpdateResult;
  mapLookup(fd: number, key: Uint8Array, keySize?: number, valueLength?: number): Buffer | null;
  mapDelete(fd: number, key: Uint8Array, keySize?: number): boolean;
  mapKeys(fd: number): Buffer[];
  numPossibleCpus(): number;
  progTestRun(progFd: number, data: Uint8Array, opts?: TestRunOptions): TestRunResult;
  progStats(progFd: number): ProgStats;
  enableStats(): number;
  closeFd(fd: number): void;
  tcAttach(ifindex: number, progFd: number, opts: TcAttachOptions): TcFilter;
  tcDetach(ifindex: number, opts: TcOptions): void;
  tcQuery(ifindex: number, opts: TcOptions): TcFilter | null;
  tcHookDestroy(ifindex: number, opts?: { readonly netns?: string }): boolean;
  ifNameToIndex(name: string, opts?: { readonly netns?: string }): number;
}

const loader = addonLoader<RawAddon>('prism_bpf', 'PRISM_BPF_ADDON', toBpfError, ', needs libbpf-dev libelf-dev zlib1g-dev');

/** Where the built addon is, or null when it is not built. */
export function addonPath(): string | null {
  return loader.path();
}


/** Whether the addon is built and loadable; the reason when not (for test skips). */
export function addonUnavailableReason(): string | null {
  return loader.unavailableReason();
}

/** Turn the addon's errno-carrying Errors into BpfError; everything else passes through. */
export function toBpfError(e: unknown): unknown {
  if (!isNativeErrnoError(e)) return e;
  return new BpfError(e.syscall, e.errno, e.code, e.message, { cause: e });
}

const call = loader.call;

// ---------------------------------------------------------------------------------------------
// functions (thin, typed)

export function openObject(path: string): RawObjectHandle {
  return call((a) => a.openObject(path));
}
/** Idempotent. Closes the object's program and map fds. */
export function closeObject(handle: RawObjectHandle): void {
  call((a) => a.closeObject(handle));
}
export function listPrograms(handle: RawObjectHandle): BpfProgramInfo[] {
  return call((a) => a.listPrograms(handle));
}
export function listMaps(handle: RawObjectHandle): BpfMapInfo[] {
  return call((a) => a.listMaps(handle));
}
export function mapInfo(fd: number): MapFdInfo {
  return call((a) => a.mapInfo(fd));
}
export function mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: number = MapUpdateFlags.ANY): void {
  call((a) => a.mapUpdate(fd, key, value, flags));
}
/** null when the key is absent. */
export function mapLookup(fd: number, key: Uint8Array): Buffer | null {
  return call((a) => a.mapLookup(fd, key));
}
/** false when the key was absent. */
export function mapDelete(fd: number, key: Uint8Array): boolean {
  return call((a) => a.mapDelete(fd, key));
}
export function mapKeys(fd: number): Buffer[] {
  return call((a) => a.mapKeys(fd));
}
export function numPossibleCpus(): number {
  return call((a) => a.numPossibleCpus());
}
export function progTestRun(progFd: number, data: Uint8Array, opts?: TestRunOptions): TestRunResult {
  return call((a) => a.progTestRun(progFd, data, opts));
}
export function progStats(progFd: number): ProgStats {
  return call((a) => a.progStats(progFd));
}
/** Turns on run-time stats (BPF_STATS_RUN_TIME) while the returned fd stays open; closeFd() it. */
export function enableStats(): number {
  return call((a) => a.enableStats());
}
export function closeFd(fd: number): void {
  call((a) => a.closeFd(fd));
}
/** Creates the clsact qdisc if needed and attaches the program as a direct-action filter. */
export function tcAttach(ifindex: number, progFd: number, opts: TcAttachOptions): TcFilter {
  return call((a) => a.tcAttach(ifindex, progFd, opts));
}
export function tcDetach(ifindex: number, opts: TcOptions): void {
  call((a) => a.tcDetach(ifindex, opts));
}
/** The filter at (direction, handle, priority), or null when there is none (or no clsact qdisc). */
export function tcQuery(ifindex: number, opts: TcOptions): TcFilter | null {
  return call((a) => a.tcQuery(ifindex, opts));
}
/** Removes the clsact qdisc (and with it all tc filters on both hooks); false if there was none. */
export function tcHookDestroy(ifindex: number, opts?: { readonly netns?: string }): boolean {
  return call((a) => a.tcHookDestroy(ifindex, opts));
}
/** Throws BpfError ENODEV for an unknown interface. */
export function ifNameToIndex(name: string, opts?: { readonly netns?: string }): number {
  return call((a) => a.ifNameToIndex(name, opts));
}

// ---------------------------------------------------------------------------------------------
// classes

function closedError(op: string): BpfError {
  return new BpfError(op, 9, 'EBADF', `${op}: the BPF object is closed`);
}

/** A BPF map addressed by fd; Buffers in, Buffers out. */
export class BpfMap {
  readonly fd: number;
  readonly name: string;
  readonly type: number;
  readonly typeName: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** Bytes per value Buffer (valueSize, or the per-CPU array size for per-CPU maps). */
  readonly valueBufferSize: number;
  readonly #owner: BpfObject | undefined;

  constructor(fd: number, info: MapFdInfo, owner?: BpfObject) {
    this.fd = fd;
    this.name = info.name;
    this.type = info.type;
    this.typeName = info.typeName;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.flags = info.flags;
    this.valueBufferSize = info.valueBufferSize;
    this.#owner = owner;
  }

  /** Wrap a map fd this process already holds (the caller keeps ownership of the fd). */
  static fromFd(fd: number): BpfMap {
    return new BpfMap(fd, mapInfo(fd));
  }

  #check(op: string): void {
    // The fd number may be reused after the owner closed: never touch it then.
    if (this.#owner?.closed) throw closedError(`BpfMap(${this.name}).${op}`);
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = MapUpdateFlags.ANY): void {
    this.#check('update');
    // Known sizes spare the addon a bpf_obj_get_info_by_fd per call (it still checks the buffers against them).
    call((a) => a.mapUpdate(this.fd, key, value, flags, this.keySize, this.valueBufferSize));
  }
  /**
   * Many elements in one syscall (BPF_MAP_UPDATE_BATCH). Stops at the first element that fails:
   * the result says how many went in and why the next did not.
   */
  updateBatch(keys: readonly Uint8Array[], values: readonly Uint8Array[], flags: number = MapUpdateFlags.ANY): BatchUpdateResult {
    this.#check('updateBatch');
    if (keys.length !== values.length) throw new RangeError('updateBatch: as many keys as values are needed');
    for (const k of keys) if (k.length !== this.keySize) throw new RangeError(`updateBatch: keys must be ${this.keySize} bytes`);
    for (const v of values) if (v.length !== this.valueBufferSize) throw new RangeError(`updateBatch: values must be ${this.valueBufferSize} bytes`);
    return call((a) => a.mapUpdateBatch(this.fd, Buffer.concat(keys), Buffer.concat(values), keys.length, flags, this.keySize, this.valueBufferSize));
  }
  lookup(key: Uint8Array): Buffer | null {
    this.#check('lookup');
    return call((a) => a.mapLookup(this.fd, key, this.keySize, this.valueBufferSize));
  }
  delete(key: Uint8Array): boolean {
    this.#check('delete');
    return call((a) => a.mapDelete(this.fd, key, this.keySize));
  }
  keys(): Buffer[] {
    this.#check('keys');
    return mapKeys(this.fd);
  }
  /** keys() then a lookup per key; entries deleted in between are skipped. */
  entries(): [Buffer, Buffer][] {
    const out: [Buffer, Buffer][] = [];
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) out.push([k, v]);
    }
    return out;
  }
}

/** A loaded BPF ELF object: its programs and maps, closed together. */
export class BpfObject {
  readonly path: string;
  readonly programs: readonly BpfProgramInfo[];
  readonly #handle: RawObjectHandle;
  readonly #maps: ReadonlyMap<string, BpfMap>;
  #closed = false;

  private constructor(path: string, handle: RawObjectHandle) {
    this.path = path;
    this.#handle = handle;
    try {
      this.programs = Object.freeze(listPrograms(handle));
      const maps = new Map<string, BpfMap>();
      for (const m of listMaps(handle)) maps.set(m.name, new BpfMap(m.fd, mapInfo(m.fd), this));
      this.#maps = maps;
    } catch (e) {
      closeObject(handle);
      throw e;
    }
  }

  /** Open and load (verify) an object; a verifier rejection is a BpfError whose message holds the log tail. */
  static open(path: string): BpfObject {
    return new BpfObject(path, openObject(path));
  }

  get closed(): boolean {
    return this.#closed;
  }

  get maps(): readonly BpfMap[] {
    return [...this.#maps.values()];
  }

  /** The program named `name` (its C function name). */
  program(name: string): BpfProgramInfo {
    if (this.#closed) throw closedError('BpfObject.program');
    const p = this.programs.find((x) => x.name === name);
    if (!p) throw new PrismError('PRISM_ERR_NOT_FOUND', `no program named '${name}' in ${this.path} (have: ${this.programs.map((x) => x.name).join(', ')})`);
    return p;
  }

  /** The map named `name`. */
  map(name: string): BpfMap {
    if (this.#closed) throw closedError('BpfObject.map');
    const m = this.#maps.get(name);
    if (!m) throw new PrismError('PRISM_ERR_NOT_FOUND', `no map named '${name}' in ${this.path} (have: ${[...this.#maps.keys()].join(', ')})`);
    return m;
  }

  /** Idempotent: closes every program and map fd of the object. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeObject(this.#handle);
  }
}

// `using obj = BpfObject.open(...)` where the runtime has Symbol.dispose (Node >= 20.4 does);
// defined at run time because this project's TypeScript lib does not declare Symbol.dispose.
const disposeSymbol = (Symbol as unknown as { dispose?: symbol }).dispose;
if (typeof disposeSymbol === 'symbol') {
  Object.defineProperty(BpfObject.prototype, disposeSymbol, {
    value(this: BpfObject) {
      this.close();
    },
    configurable: true,
  });
}
