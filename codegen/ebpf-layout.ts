/**
 * The byte layout of the eBPF target's tables: BPF map names, key and value structs.
 * The eBPF emitter uses it to write the C structs and the embedded switch uses it to turn
 * P4Runtime entries into map keys and values, so both sides agree by construction.
 * Everything is derived from what P4Info carries (ids, match kinds, bit widths, action params),
 * so the switch can compute it from the P4Info it is given.
 *
 * Values of fields and params are stored big-endian, right-aligned in ceil(bits/8) bytes: the
 * P4Runtime canonical bytestring padded to its full width (P4Runtime spec 8.4).
 *
 * Maps, by table id `XXXXXXXX` (8 hex digits; BPF object names are limited to 15 characters):
 * - exact tables: `t_XXXXXXXX`, BPF_MAP_TYPE_HASH, key = the key fields concatenated.
 * - lpm tables: `t_XXXXXXXX`, BPF_MAP_TYPE_LPM_TRIE, key = u32 prefix length (host order) then
 *   the exact fields and the lpm field last; prefix length counts whole exact fields, the lpm
 *   field's padding bits and its prefix.
 * - ternary tables: `t_XXXXXXXX`, BPF_MAP_TYPE_ARRAY of `size` slots scanned in order, each with
 *   a valid flag, a priority, a value and a mask; the highest priority match wins.
 * - default entries: `d_XXXXXXXX`, BPF_MAP_TYPE_ARRAY with one slot (action 0 = use the
 *   compiled-in default).
 *
 * Entry value: u32 action id (host order), u32 reserved, u64 packets, u64 bytes (direct counter),
 * then the action's params concatenated.
 */

export type LayoutMatchKind = 'exact' | 'lpm' | 'ternary';

/** What the layout needs to know about a table: all of it is in P4Info. */
export interface LayoutTableSpec {
  readonly id: number;
  readonly name: string;
  readonly size: number;
  readonly keys: readonly { readonly name: string; readonly bits: number; readonly match: LayoutMatchKind }[];
  readonly actions: readonly { readonly id: number; readonly name: string; readonly params: readonly { readonly name: string; readonly bits: number }[] }[];
}

export interface KeyFieldLayout {
  readonly name: string;
  readonly bits: number;
  readonly match: LayoutMatchKind;
  /** Offset of the field's bytes in the key data (after the LPM prefix length, if any). */
  readonly offset: number;
  readonly bytes: number;
}

export interface ActionLayout {
  readonly id: number;
  readonly name: string;
  readonly params: readonly { readonly name: string; readonly bits: number; readonly offset: number; readonly bytes: number }[];
  readonly paramsBytes: number;
}

export type TableKind = 'hash' | 'lpm' | 'ternary';

export interface TableLayout {
  readonly id: number;
  readonly name: string;
  readonly kind: TableKind;
  readonly mapName: string;
  readonly defaultMapName: string;
  readonly size: number;
  /** Key field names in declaration order (P4Info match field ids are 1..n in this order). */
  readonly declaredKeyOrder: readonly string[];
  /** Key fields in key-data order (for lpm: exact fields first, then the lpm field). */
  readonly keyFields: readonly KeyFieldLayout[];
  /** Bytes of key data (the fields; for lpm the u32 prefix length comes before it). */
  readonly keyDataBytes: number;
  /** Size of the BPF map key (lpm: 4 + keyDataBytes; ternary: 4, the slot index). */
  readonly mapKeyBytes: number;
  readonly actions: readonly ActionLayout[];
  /** Bytes reserved for params: the largest action's. */
  readonly paramsBytes: number;
  /** Size of the BPF map value. */
  readonly valueBytes: number;
  /** Ternary only: where the key and mask live inside the value. */
  readonly ternary?: { readonly keyOffset: number; readonly maskOffset: number; readonly validOffset: number; readonly priorityOffset: number };
}

/** Offsets inside an entry value (see the module comment). */
export const VALUE_ACTION_OFFSET = 0;
export const VALUE_PRIORITY_OFFSET = 4;
export const VALUE_PACKETS_OFFSET = 8;
export const VALUE_BYTES_OFFSET = 16;
export const VALUE_PARAMS_OFFSET = 24;

export const bytesFor = (bits: number): number => Math.ceil(bits / 8);

export function tableMapName(id: number): string {
  return `t_${id.toString(16).padStart(8, '0')}`;
}

export function defaultMapName(id: number): string {
  return `d_${id.toString(16).padStart(8, '0')}`;
}

export function layoutTable(t: LayoutTableSpec): TableLayout {
  const lpm = t.keys.filter((k) => k.match === 'lpm');
  const ternary = t.keys.some((k) => k.match === 'ternary');
  if (lpm.length > 1) throw new Error(`table ${t.name}: more than one lpm key`);
  const kind: TableKind = ternary ? 'ternary' : lpm.length === 1 ? 'lpm' : 'hash';
  // LPM tries match a prefix of the key data, so the lpm field goes last.
  const ordered = kind === 'lpm' ? [...t.keys.filter((k) => k.match !== 'lpm'), ...lpm] : [...t.keys];
  let off = 0;
  const keyFields = ordered.map((k) => {
    const f: KeyFieldLayout = { name: k.name, bits: k.bits, match: k.match, offset: off, bytes: bytesFor(k.bits) };
    off += f.bytes;
    return f;
  });
  const keyDataBytes = off;
  const actions = t.actions.map((a) => {
    let po = 0;
    const params = a.params.map((p) => {
      const l = { name: p.name, bits: p.bits, offset: po, bytes: bytesFor(p.bits) };
      po += l.bytes;
      return l;
    });
    return { id: a.id, name: a.name, params, paramsBytes: po };
  });
  const paramsBytes = Math.max(1, ...actions.map((a) => a.paramsBytes));
  const base = VALUE_PARAMS_OFFSET + paramsBytes;
  const pad8 = (n: number): number => Math.ceil(n / 8) * 8;
  if (kind === 'ternary') {
    const keyOffset = base;
    const maskOffset = keyOffset + keyDataBytes;
    const validOffset = maskOffset + keyDataBytes;
    return {
      id: t.id,
      name: t.name,
      kind,
      mapName: tableMapName(t.id),
      defaultMapName: defaultMapName(t.id),
      size: t.size,
      declaredKeyOrder: t.keys.map((k) => k.name),
      keyFields,
      keyDataBytes,
      mapKeyBytes: 4,
      actions,
      paramsBytes,
      valueBytes: pad8(validOffset + 1),
      ternary: { keyOffset, maskOffset, validOffset, priorityOffset: VALUE_PRIORITY_OFFSET },
    };
  }
  return {
    id: t.id,
    name: t.name,
    kind,
    mapName: tableMapName(t.id),
    defaultMapName: defaultMapName(t.id),
    size: t.size,
    declaredKeyOrder: t.keys.map((k) => k.name),
    keyFields,
    keyDataBytes,
    mapKeyBytes: kind === 'lpm' ? 4 + keyDataBytes : keyDataBytes,
    actions,
    paramsBytes,
    valueBytes: pad8(base),
  };
}

/** The LPM trie prefix length of an entry whose lpm field has `prefixLen` significant bits. */
export function lpmPrefixLength(layout: TableLayout, prefixLen: number): number {
  const lpmField = layout.keyFields[layout.keyFields.length - 1];
  if (layout.kind !== 'lpm' || !lpmField) throw new Error(`table ${layout.name} is not an lpm table`);
  return lpmField.offset * 8 + (lpmField.bytes * 8 - lpmField.bits) + prefixLen;
}

/** Names of the maps every generated program has besides its tables. */
export const EBPF_MAPS = {
  /** ARRAY [max ports]: P4 port number → ifindex (0 = no port). */
  portToIfindex: 'prism_ports',
  /** ARRAY [EBPF_MAX_IFINDEX]: ifindex → P4 port number + 1 (0 = not a switch port); an array, not a hash, to keep the per-packet lookup cheap. */
  ifindexToPort: 'prism_ifports',
  /** ARRAY [1]: struct prism_config (the CPU port). */
  config: 'prism_config',
  /** PERCPU_ARRAY [max ports]: rx/tx packets and bytes per P4 port. */
  portStats: 'prism_pstats',
  /** PERCPU_ARRAY [drop reasons]: packets dropped, by reason. */
  drops: 'prism_drops',
  /** PERCPU_ARRAY [1]: scratch buffer used to pop the packet_out header. */
  scratch: 'prism_scratch',
} as const;

/** Interfaces with an ifindex below this can be switch ports. */
export const EBPF_MAX_IFINDEX = 65536;

/** Largest P4 port number + 1 that the eBPF target supports (9-bit ports). */
export const EBPF_MAX_PORTS = 512;

/** Per-port statistics record in prism_pstats (all u64, host order). */
export const PORT_STATS_FIELDS = ['rx_packets', 'rx_bytes', 'tx_packets', 'tx_bytes'] as const;

/** Why the eBPF program dropped a packet: index into prism_drops. Keep in sync with the C enum (generated from this). */
export const DROP_REASONS = [
  'unknown_ingress_port', // the ingress interface is not a switch port
  'action_drop', // an action dropped it (drop primitive)
  'no_egress_port', // no action chose an egress port
  'egress_port_unmapped', // the chosen port has no interface
  'packet_out_pop_failed', // the packet_out header could not be removed
  'packet_in_push_failed', // the packet_in header could not be added
  'rewrite_failed', // storing rewritten headers or checksums failed
] as const;

/** Config record in prism_config (u32 fields, host order). */
export const CONFIG_FIELDS = ['cpu_port'] as const;

/** Largest frame the CPU port accepts from the controller (bytes, without the packet_out header). */
export const EBPF_MAX_CPU_FRAME = 2048;
