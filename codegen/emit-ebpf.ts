/**
 * C for Linux eBPF at tc ingress (clsact), built with `clang -O2 -target bpf`.
 *
 * One program, attached to the ingress of every switch port (and of the switch side of the CPU
 * port). It behaves as the P4 program does on v1model:
 * - parser: headers are copied from the packet into a stack struct with bpf_skb_load_bytes; a
 *   failed extract ends parsing (as v1model, the packet still goes through the control);
 * - packet_out is "extracted" on frames from the CPU port and removed from the frame at once,
 *   since the deparser never emits it;
 * - tables are BPF maps (codegen/ebpf-layout.ts gives their layout); direct counters live in
 *   the entry value and are bumped atomically;
 * - deparser: rewritten headers are stored back, then IPv4 and TCP checksums are fixed
 *   incrementally, one bpf_l3_csum_replace / bpf_l4_csum_replace per rewritten 32-bit word (pseudo-header
 *   changes with BPF_F_PSEUDO_HDR so CHECKSUM_PARTIAL packets stay right);
 * - to the controller: the packet_in header is pushed in front (bpf_skb_change_head) and the frame
 *   redirected to the CPU port's interface; otherwise it is redirected to the egress port's one.
 * Every drop is counted by reason (prism_drops) and every port counts rx/tx (prism_pstats).
 */
import {
  DROP_REASONS,
  EBPF_MAPS,
  EBPF_MAX_CPU_FRAME,
  EBPF_MAX_IFINDEX,
  EBPF_MAX_PORTS,
  VALUE_BYTES_OFFSET,
  VALUE_PACKETS_OFFSET,
  VALUE_PARAMS_OFFSET,
  layoutTable,
  type TableLayout,
} from './ebpf-layout.js';
import {
  TCP_FLAG_BITS,
  fieldBitOffset,
  findAction,
  findField,
  findHeader,
  findTable,
  headerBits,
  keyFieldName,
  type ActionDef,
  type HeaderDef,
  type Operand,
  type Pipeline,
  type Primitive,
  type Statement,
  type TableDef,
  walkStatements,
} from './ir.js';
import { Printer, hex } from './printer.js';

/** The ELF section and function name of the program (libbpf finds it by name). */
export const EBPF_PROGRAM_NAME = 'prism_ingress';

/** Layout of every table of a pipeline, from the IR (the switch computes the same from P4Info). */
export function pipelineLayouts(p: Pipeline): TableLayout[] {
  return p.tables.map((t) =>
    layoutTable({
      id: t.id,
      name: t.name,
      size: t.size,
      keys: t.keys.map((k) => ({ name: keyFieldName(k), bits: findField(p, k.field).bits, match: k.match })),
      actions: t.actions.map((an) => {
        const a = findAction(p, an);
        return { id: a.id, name: a.name, params: a.params.map((x) => ({ name: x.name, bits: x.bits })) };
      }),
    }),
  );
}

const cIdent = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_');
const validBit = (p: Pipeline, h: string): string => `(1u << ${p.headers.findIndex((x) => x.name === h)})`;
const getter = (h: string, f: string): string => `get_${h}_${f}`;
const setter = (h: string, f: string): string => `set_${h}_${f}`;

function emitIncludes(out: Printer): void {
  out.line('#include <linux/bpf.h>');
  out.line('#include <linux/pkt_cls.h>');
  out.line('#include <bpf/bpf_helpers.h>');
  out.line('#include <bpf/bpf_endian.h>');
  out.blank();
}

/** Big-endian load and store of 1..8 bytes (straight-line code: n is known at every call site). */
function emitByteHelpers(out: Printer): void {
  for (let n = 1; n <= 8; n++) {
    const terms = Array.from({ length: n }, (_, i) => `((__u64)b[${i}] << ${8 * (n - 1 - i)})`);
    out.line(`static __always_inline __attribute__((unused)) __u64 load_be${n}(const __u8 *b) { return ${terms.join(' | ')}; }`);
    const stores = Array.from({ length: n }, (_, i) => `b[${i}] = (__u8)(v >> ${8 * (n - 1 - i)});`);
    out.line(`static __always_inline __attribute__((unused)) void store_be${n}(__u8 *b, __u64 v) { ${stores.join(' ')} }`);
  }
  out.line('#define load_be(b, n) load_be##n(b)');
  out.line('#define store_be(b, n, v) store_be##n(b, v)');
  out.blank();
}

function emitHeaders(p: Pipeline, out: Printer): void {
  for (const h of p.headers) {
    out.line(`struct hdr_${h.name} { __u8 b[${headerBits(h) / 8}]; };`);
  }
  out.blank();
  out.comment('Parsed headers, 4-byte aligned so checksummed headers can be compared word by word.');
  const ordered = [...p.headers].sort((a, b) => (headerBits(a) % 32 === 0 ? 0 : 1) - (headerBits(b) % 32 === 0 ? 0 : 1));
  out.block('struct headers {', () => {
    for (const h of ordered) out.line(`struct hdr_${h.name} ${h.name} __attribute__((aligned(4)));`);
  });
  out.line(';');
  out.blank();
  out.block('struct metadata {', () => {
    out.line('__u32 ingress_port;');
    out.line('__u32 egress_port;  /* PRISM_NO_PORT until an action forwards */');
    out.line('__u32 valid;        /* bit i: header i is valid */');
    out.line('__u32 dirty;        /* bit i: header i was rewritten */');
    out.line('__u32 dropped;');
    out.line('__u32 csum_dirty;');
    for (const h of p.headers) out.line(`__u32 off_${h.name};`);
  });
  out.line(';');
  out.blank();
  for (const [i, h] of p.headers.entries()) out.line(`#define HDR_${h.name.toUpperCase()} (1u << ${i})`);
  out.blank();
}

/** A getter and a setter per header field: bit extraction from the big-endian header bytes. */
function emitFieldAccessors(p: Pipeline, out: Printer): void {
  for (const h of p.headers) {
    for (const f of h.fields) {
      const off = fieldBitOffset(h, f.name);
      const first = Math.floor(off / 8);
      const last = Math.floor((off + f.bits - 1) / 8);
      const n = last - first + 1;
      if (n > 8) throw new Error(`field ${h.name}.${f.name} spans ${n} bytes; the eBPF emitter handles at most 8`);
      const shift = n * 8 - (off % 8) - f.bits;
      const mask = f.bits === 64 ? '0xffffffffffffffffULL' : `${hex((1n << BigInt(f.bits)) - 1n)}ULL`;
      out.block(`static __always_inline __attribute__((unused)) __u64 ${getter(h.name, f.name)}(const struct headers *hdr) {`, () => {
        out.line(`return (load_be(&hdr->${h.name}.b[${first}], ${n}) >> ${shift}) & ${mask};`);
      });
      out.block(`static __always_inline __attribute__((unused)) void ${setter(h.name, f.name)}(struct headers *hdr, struct metadata *meta, __u64 v) {`, () => {
        if (shift === 0 && off % 8 === 0 && f.bits % 8 === 0) {
          out.line(`store_be(&hdr->${h.name}.b[${first}], ${n}, v);`);
        } else {
          out.line(`__u64 w = load_be(&hdr->${h.name}.b[${first}], ${n});`);
          out.line(`w = (w & ~((__u64)${mask} << ${shift})) | ((v & ${mask}) << ${shift});`);
          out.line(`store_be(&hdr->${h.name}.b[${first}], ${n}, w);`);
        }
        out.line(`meta->dirty |= HDR_${h.name.toUpperCase()};`);
      });
    }
  }
  out.blank();
}

function emitMaps(p: Pipeline, layouts: readonly TableLayout[], out: Printer): void {
  out.comment('Switch configuration, written by the embedded switch (dataplane/).');
  out.line(`#define PRISM_MAX_PORTS ${EBPF_MAX_PORTS}`);
  out.line(`#define PRISM_MAX_IFINDEX ${EBPF_MAX_IFINDEX}`);
  out.line('#define PRISM_NO_PORT 0xffffffffu');
  out.line('#define PRISM_NO_SLOT 0xffffffffu');
  out.line(`#define PRISM_MAX_CPU_FRAME ${EBPF_MAX_CPU_FRAME}`);
  out.line('struct prism_config { __u32 cpu_port; };');
  out.line('struct prism_port_stats { __u64 rx_packets; __u64 rx_bytes; __u64 tx_packets; __u64 tx_bytes; };');
  out.comment('Twice the largest frame, so a length masked with (2 * max - 1) is provably in bounds.');
  out.line('struct prism_scratch_buf { __u8 b[PRISM_MAX_CPU_FRAME * 2]; };');
  out.blank();
  const map = (name: string, type: string, key: string, value: string, max: number | string, flags?: string): void => {
    out.block('struct {', () => {
      out.line(`__uint(type, ${type});`);
      out.line(`__uint(max_entries, ${max});`);
      out.line(`__type(key, ${key});`);
      out.line(`__type(value, ${value});`);
      if (flags) out.line(`__uint(map_flags, ${flags});`);
    }, `} ${name} SEC(".maps");`);
  };
  map(EBPF_MAPS.portToIfindex, 'BPF_MAP_TYPE_ARRAY', '__u32', '__u32', 'PRISM_MAX_PORTS');
  map(EBPF_MAPS.ifindexToPort, 'BPF_MAP_TYPE_ARRAY', '__u32', '__u32', 'PRISM_MAX_IFINDEX');
  map(EBPF_MAPS.config, 'BPF_MAP_TYPE_ARRAY', '__u32', 'struct prism_config', 1);
  map(EBPF_MAPS.portStats, 'BPF_MAP_TYPE_PERCPU_ARRAY', '__u32', 'struct prism_port_stats', 'PRISM_MAX_PORTS');
  map(EBPF_MAPS.drops, 'BPF_MAP_TYPE_PERCPU_ARRAY', '__u32', '__u64', DROP_REASONS.length);
  map(EBPF_MAPS.scratch, 'BPF_MAP_TYPE_PERCPU_ARRAY', '__u32', 'struct prism_scratch_buf', 1);
  out.blank();
  out.block('enum prism_drop_reason {', () => {
    for (const [i, r] of DROP_REASONS.entries()) out.line(`DROP_${r.toUpperCase()} = ${i},`);
  }, '};');
  out.blank();

  for (const l of layouts) {
    const t = findTable(p, l.name);
    out.comment(`Table ${p.ingressName}.${t.name} (${l.kind}); key: ${l.keyFields.map((k) => `${k.name}/${k.bits}`).join(', ')}`);
    const vs = `struct ${l.mapName}_value`;
    if (l.kind === 'ternary') {
      const tern = l.ternary!;
      out.block(`${vs} {`, () => {
        out.line('__u32 action;');
        out.line('__u32 priority;');
        out.line('__u64 packets;');
        out.line('__u64 bytes;');
        out.line(`__u8 params[${l.paramsBytes}];`);
        out.line(`__u8 key[${l.keyDataBytes}];`);
        out.line(`__u8 mask[${l.keyDataBytes}];`);
        out.line('__u8 valid;');
        const pad = l.valueBytes - (tern.validOffset + 1);
        if (pad > 0) out.line(`__u8 _pad[${pad}];`);
      }, '} __attribute__((packed, aligned(8)));');
      map(l.mapName, 'BPF_MAP_TYPE_ARRAY', '__u32', vs, t.size);
    } else {
      out.block(`${vs} {`, () => {
        out.line('__u32 action;');
        out.line('__u32 _reserved;');
        out.line('__u64 packets;');
        out.line('__u64 bytes;');
        out.line(`__u8 params[${l.paramsBytes}];`);
        const pad = l.valueBytes - (VALUE_PARAMS_OFFSET + l.paramsBytes);
        if (pad > 0) out.line(`__u8 _pad[${pad}];`);
      }, '} __attribute__((packed, aligned(8)));');
      const ks = `struct ${l.mapName}_key`;
      if (l.kind === 'lpm') {
        out.line(`${ks} { __u32 prefixlen; __u8 data[${l.keyDataBytes}]; } __attribute__((packed));`);
        map(l.mapName, 'BPF_MAP_TYPE_LPM_TRIE', ks, vs, t.size, 'BPF_F_NO_PREALLOC');
      } else {
        out.line(`${ks} { __u8 data[${l.keyDataBytes}]; } __attribute__((packed));`);
        map(l.mapName, 'BPF_MAP_TYPE_HASH', ks, vs, t.size);
      }
    }
    map(l.defaultMapName, 'BPF_MAP_TYPE_ARRAY', '__u32', vs, 1);
    out.line(`_Static_assert(sizeof(${vs}) == ${l.valueBytes}, "value layout must match codegen/ebpf-layout.ts");`);
    out.line(`_Static_assert(__builtin_offsetof(${vs}, packets) == ${VALUE_PACKETS_OFFSET}, "packets offset");`);
    out.line(`_Static_assert(__builtin_offsetof(${vs}, bytes) == ${VALUE_BYTES_OFFSET}, "bytes offset");`);
    out.line(`_Static_assert(__builtin_offsetof(${vs}, params) == ${VALUE_PARAMS_OFFSET}, "params offset");`);
    out.blank();
  }
}

function emitCommonFunctions(p: Pipeline, out: Printer): void {
  out.block('static __always_inline void count_drop(__u32 reason) {', () => {
    out.line(`__u64 *n = bpf_map_lookup_elem(&${EBPF_MAPS.drops}, &reason);`);
    out.line('if (n) *n += 1;');
  });
  out.blank();
  out.comment('Removes the first n bytes of the frame (the packet_out header): shift the rest to the front, trim the tail.');
  out.block('static __always_inline __attribute__((unused)) int pop_front(struct __sk_buff *skb, __u32 n) {', () => {
    out.line('__u32 zero = 0;');
    out.line(`struct prism_scratch_buf *buf = bpf_map_lookup_elem(&${EBPF_MAPS.scratch}, &zero);`);
    out.line('if (!buf) return -1;');
    out.line('__u32 rest = skb->len - n;');
    out.line('if (skb->len <= n || rest > PRISM_MAX_CPU_FRAME) return -1;');
    out.line('rest &= (PRISM_MAX_CPU_FRAME * 2 - 1);  /* no-op after the test above; gives the verifier the bound */');
    out.line('if (rest == 0) return -1;');
    out.line('if (bpf_skb_load_bytes(skb, n, buf->b, rest) < 0) return -1;');
    out.line('if (bpf_skb_store_bytes(skb, 0, buf->b, rest, 0) < 0) return -1;');
    out.line('return bpf_skb_change_tail(skb, rest, 0);');
  });
  out.blank();
  out.block('static __always_inline void port_stats(__u32 port, int tx, __u64 len) {', () => {
    out.line(`struct prism_port_stats *s = bpf_map_lookup_elem(&${EBPF_MAPS.portStats}, &port);`);
    out.line('if (!s) return;');
    out.line('if (tx) { s->tx_packets += 1; s->tx_bytes += len; } else { s->rx_packets += 1; s->rx_bytes += len; }');
  });
  out.blank();
  void p;
}

function operand(o: Operand): string {
  switch (o.kind) {
    case 'param':
      return `a_${o.name}`;
    case 'const':
      return `${hex(o.value)}ULL`;
    case 'field':
      return `${getter(o.ref.header, o.ref.field)}(hdr)`;
  }
}

function emitPrimitive(p: Pipeline, prim: Primitive, out: Printer): void {
  switch (prim.op) {
    case 'assign':
      out.line(`${setter(prim.dst.header, prim.dst.field)}(hdr, meta, ${operand(prim.src)});`);
      break;
    case 'forward':
      out.line(`meta->egress_port = (__u32)${operand(prim.port)};`);
      break;
    case 'toController': {
      const pin = p.headers.find((h) => h.controller === 'packet_in');
      if (!pin) throw new Error('toController without packet_in');
      const [portField, ...rest] = pin.fields;
      out.line(`meta->valid |= HDR_${pin.name.toUpperCase()};`);
      if (portField) out.line(`${setter(pin.name, portField.name)}(hdr, meta, meta->ingress_port);`);
      for (const f of rest) out.line(`${setter(pin.name, f.name)}(hdr, meta, 0);`);
      out.line('meta->egress_port = cfg_cpu_port;');
      break;
    }
    case 'drop':
      out.line('meta->dropped = 1;');
      break;
    case 'clearTcpFlag':
      out.line(`${setter('tcp', 'flags')}(hdr, meta, ${getter('tcp', 'flags')}(hdr) & ${hex(0xff & ~TCP_FLAG_BITS[prim.flag])});`);
      break;
    case 'setTcpWindow':
      out.line(`${setter('tcp', 'window')}(hdr, meta, ${operand(prim.value)});`);
      break;
    case 'markChecksum':
      out.line('meta->csum_dirty = 1;');
      break;
    case 'if': {
      const cond = prim.cond.kind === 'paramSet' ? `a_${prim.cond.param} == 1` : `(${getter('tcp', 'flags')}(hdr) & ${hex(TCP_FLAG_BITS[prim.cond.flag])}) != 0`;
      out.block(`if (${cond}) {`, () => {
        for (const inner of prim.then) emitPrimitive(p, inner, out);
      });
      break;
    }
  }
}

function emitActions(p: Pipeline, out: Printer): void {
  for (const a of p.actions) {
    const params = a.params.map((x) => `, __u64 a_${x.name}`).join('');
    out.block(`static __always_inline void action_${a.name}(struct headers *hdr, struct metadata *meta, __u32 cfg_cpu_port${params}) {`, () => {
      for (const prim of a.body) emitPrimitive(p, prim, out);
      out.line('(void)hdr; (void)meta; (void)cfg_cpu_port;');
    });
    out.blank();
  }
  for (const a of p.actions) out.line(`#define ACTION_${a.name.toUpperCase()} ${hex(a.id, 8)}u`);
  out.blank();
}

/** Call of action `a` with args read from a params byte array `src` (table entries). */
function callFromParams(a: ActionDef, l: TableLayout, src: string): string {
  const al = l.actions.find((x) => x.id === a.id);
  if (!al) throw new Error(`table ${l.name} has no action ${a.name}`);
  const args = al.params.map((x) => `, load_be(&${src}[${x.offset}], ${x.bytes})`).join('');
  return `action_${a.name}(hdr, meta, cfg_cpu_port${args});`;
}

function emitTernaryScans(layouts: readonly TableLayout[], out: Printer): void {
  for (const l of layouts) {
    if (l.kind !== 'ternary') continue;
    const vs = `struct ${l.mapName}_value`;
    out.line(`struct ${l.mapName}_scan { __u8 kd[${l.keyDataBytes}]; __u32 best; __u32 best_prio; };`);
    out.block(`static long scan_${l.mapName}(__u32 i, void *ctx) {`, () => {
      out.line(`struct ${l.mapName}_scan *sc = ctx;`);
      out.line(`${vs} *e = bpf_map_lookup_elem(&${l.mapName}, &i);`);
      out.line('if (!e || !e->valid) return 0;');
      out.line('#pragma unroll');
      out.line(`for (int j = 0; j < ${l.keyDataBytes}; j++)`);
      out.line('    if ((sc->kd[j] & e->mask[j]) != e->key[j]) return 0;');
      out.line('if (sc->best == PRISM_NO_SLOT || e->priority > sc->best_prio) { sc->best = i; sc->best_prio = e->priority; }');
      out.line('return 0;');
    });
    out.blank();
  }
}

function emitApplyFunctions(p: Pipeline, layouts: readonly TableLayout[], out: Printer): void {
  emitTernaryScans(layouts, out);
  for (const l of layouts) {
    const t = findTable(p, l.name);
    const vs = `struct ${l.mapName}_value`;
    out.comment(`Applies ${t.name}; returns 1 on a hit.`);
    out.block(`static __always_inline int apply_${t.name}(struct __sk_buff *skb, struct headers *hdr, struct metadata *meta, __u32 cfg_cpu_port) {`, () => {
      // Key data from the packet, in layout order.
      out.line(`__u8 kd[${l.keyDataBytes}] = {};`);
      for (const kf of l.keyFields) {
        const key = t.keys.find((k) => keyFieldName(k) === kf.name)!;
        out.line(`store_be(&kd[${kf.offset}], ${kf.bytes}, ${getter(key.field.header, key.field.field)}(hdr));`);
      }
      out.line(`${vs} *v = 0;`);
      if (l.kind === 'hash') {
        out.line(`v = bpf_map_lookup_elem(&${l.mapName}, kd);`);
      } else if (l.kind === 'lpm') {
        out.line(`struct ${l.mapName}_key k = { .prefixlen = ${l.keyDataBytes * 8} };`);
        out.line('__builtin_memcpy(k.data, kd, sizeof(kd));');
        out.line(`v = bpf_map_lookup_elem(&${l.mapName}, &k);`);
      } else {
        out.comment('Ternary: bpf_loop scans the slots (scan_ below), keeping the highest-priority match.');
        out.line(`struct ${l.mapName}_scan sc = { .best = PRISM_NO_SLOT };`);
        out.line('__builtin_memcpy(sc.kd, kd, sizeof(kd));');
        out.line(`bpf_loop(${t.size}, scan_${l.mapName}, &sc, 0);`);
        out.line(`if (sc.best != PRISM_NO_SLOT) v = bpf_map_lookup_elem(&${l.mapName}, &sc.best);`);
      }
      out.line('int hit = v != 0;');
      out.block('if (!v) {', () => {
        out.line('__u32 zero = 0;');
        out.line(`v = bpf_map_lookup_elem(&${l.defaultMapName}, &zero);`);
      });
      const da = findAction(p, t.defaultAction.action);
      const defaultArgs = t.defaultAction.args.map((x) => `, ${hex(x)}ULL`).join('');
      out.block('if (!v) {', () => {
        out.line(`action_${da.name}(hdr, meta, cfg_cpu_port${defaultArgs});`);
        out.line('return hit;');
      });
      if (t.directCounterId !== undefined) {
        out.line('__sync_fetch_and_add(&v->packets, 1);');
        out.line('__sync_fetch_and_add(&v->bytes, skb->len);');
      }
      out.block('switch (v->action) {', () => {
        for (const an of t.actions) {
          const a = findAction(p, an);
          out.line(`case ACTION_${a.name.toUpperCase()}: ${callFromParams(a, l, 'v->params')} break;`);
        }
        out.comment('0: the default entry was never written; run the compiled-in default.');
        out.line(`default: action_${da.name}(hdr, meta, cfg_cpu_port${defaultArgs}); break;`);
      }, '}');
      out.line('(void)skb;');
      out.line('return hit;');
    });
    out.blank();
  }
}

function emitStatements(p: Pipeline, body: readonly Statement[], out: Printer): void {
  for (const s of body) {
    switch (s.kind) {
      case 'apply': {
        const hit = s.hit ?? [];
        const miss = s.miss ?? [];
        const call = `apply_${s.table}(skb, &hdr, &meta, cfg_cpu_port)`;
        if (hit.length === 0 && miss.length === 0) {
          out.line(`${call};`);
        } else {
          out.block(`if (${call}) {`, () => emitStatements(p, hit, out), '} else {');
          out.indented(() => emitStatements(p, miss, out));
          out.line('}');
        }
        break;
      }
      case 'ifValid':
        out.block(`if (meta.valid & HDR_${s.header.toUpperCase()}) {`, () => emitStatements(p, s.then, out), '} else {');
        out.indented(() => emitStatements(p, s.else ?? [], out));
        out.line('}');
        break;
      case 'call':
        out.line(`action_${s.action}(&hdr, &meta, cfg_cpu_port${s.args.map((x) => `, ${hex(x)}ULL`).join('')});`);
        break;
      case 'exit':
        out.line('goto deparse;');
        break;
    }
  }
}

function emitParser(p: Pipeline, out: Printer): void {
  const targets = new Set<string>();
  for (const s of p.parser) {
    if (s.select) {
      for (const c of s.select.cases) targets.add(c.next);
      targets.add(s.select.default);
    } else targets.add(s.next ?? 'accept');
  }
  p.parser.forEach((s, i) => {
    if (i > 0 || targets.has(s.name)) out.line(`state_${s.name}:`);
    out.indented(() => {
      if (s.extract) {
        const h = findHeader(p, s.extract);
        const n = headerBits(h) / 8;
        // Direct packet access when the bytes are in the linear part; the helper otherwise.
        out.block('{', () => {
          out.line('void *d = (void *)(long)skb->data, *de = (void *)(long)skb->data_end;');
          out.line(`if (off <= 256 && d + off + ${n} <= de) __builtin_memcpy(&hdr.${h.name}, d + off, ${n});`);
          out.line(`else if (bpf_skb_load_bytes(skb, off, &hdr.${h.name}, ${n}) < 0) goto parsed;`);
        });
        out.line(`meta.valid |= HDR_${h.name.toUpperCase()};`);
        if (h.controller === 'packet_out') {
          out.comment('Never deparsed: remove it from the frame now, so later offsets start at 0.');
          out.line(`if (pop_front(skb, ${n}) < 0) { count_drop(DROP_PACKET_OUT_POP_FAILED); return TC_ACT_SHOT; }`);
        } else {
          out.line(`meta.off_${h.name} = off;`);
          out.line(`off += ${n};`);
        }
      }
      const sel = s.select;
      if (sel && sel.on.kind === 'ingressPortIsCpu') {
        const toCpu = sel.cases.find((c) => c.value === 1n);
        if (toCpu) out.line(`if (meta.ingress_port == cfg_cpu_port) goto state_${toCpu.next};`);
        out.line(`goto state_${sel.default};`);
      } else if (sel && sel.on.kind === 'field') {
        out.block(`switch (${getter(sel.on.ref.header, sel.on.ref.field)}(&hdr)) {`, () => {
          for (const c of sel.cases) out.line(`case ${hex(c.value)}: goto state_${c.next};`);
          out.line(`default: goto state_${sel.default};`);
        }, '}');
      } else {
        out.line(`goto state_${s.next ?? 'accept'};`);
      }
    });
  });
  if (targets.has('reject')) out.line('state_reject:');
  out.line('state_accept:');
  out.line('parsed: ;');
}

function emitDeparser(p: Pipeline, out: Printer): void {
  const deparsed = p.headers.filter((h) => !h.controller);
  if ([...walkStatements(p.ingress)].some((s) => s.kind === 'exit')) out.line('deparse:');
  out.line('if (meta.dropped) { count_drop(DROP_ACTION_DROP); return TC_ACT_SHOT; }');
  out.line('if (meta.egress_port == PRISM_NO_PORT) { count_drop(DROP_NO_EGRESS_PORT); return TC_ACT_SHOT; }');
  const cs = p.checksums;
  for (const h of deparsed) {
    const n = headerBits(h) / 8;
    const H = h.name.toUpperCase();
    out.block(`if ((meta.dirty & HDR_${H}) && (meta.valid & HDR_${H})) {`, () => {
      out.line('void *d = (void *)(long)skb->data, *de = (void *)(long)skb->data_end;');
      out.line(`__u32 o = meta.off_${h.name};`);
      out.line(`if (o <= 256 && d + o + ${n} <= de) __builtin_memcpy(d + o, &hdr.${h.name}, ${n});`);
      out.line(`else if (bpf_skb_store_bytes(skb, o, &hdr.${h.name}, ${n}, 0) < 0) { count_drop(DROP_REWRITE_FAILED); return TC_ACT_SHOT; }`);
    });
  }
  if (cs) {
    const ipOff = fieldBitOffset(findHeader(p, cs.ipv4.header), cs.ipv4.field) / 8;
    const tcpOff = fieldBitOffset(findHeader(p, cs.tcp.header), cs.tcp.field) / 8;
    const IP = cs.ipv4.header.toUpperCase();
    const TCP = cs.tcp.header.toUpperCase();
    const ipWords = headerBits(findHeader(p, cs.ipv4.header)) / 32;
    const tcpWords = headerBits(findHeader(p, cs.tcp.header)) / 32;
    out.comment('Checksums, incrementally: one csum_replace per rewritten 32-bit word (headers as parsed in orig_*).');
    out.comment('Words 3 and 4 of the IPv4 header are the addresses, which the TCP pseudo-header covers too (RFC 9293 3.1).');
    out.block(`if (meta.csum_dirty && (meta.valid & HDR_${IP}) && (meta.dirty & HDR_${IP})) {`, () => {
      out.line('#pragma unroll');
      out.block(`for (int i = 0; i < ${ipWords}; i++) {`, () => {
        out.line(`__u32 was = ((__u32 *)orig_${cs.ipv4.header}.b)[i], now = ((__u32 *)hdr.${cs.ipv4.header}.b)[i];`);
        out.line('if (was == now) continue;');
        out.line(`if (bpf_l3_csum_replace(skb, meta.off_${cs.ipv4.header} + ${ipOff}, was, now, 4) < 0) { count_drop(DROP_REWRITE_FAILED); return TC_ACT_SHOT; }`);
        out.line(`if (i >= 3 && (meta.valid & HDR_${TCP}) && bpf_l4_csum_replace(skb, meta.off_${cs.tcp.header} + ${tcpOff}, was, now, BPF_F_PSEUDO_HDR | 4) < 0) { count_drop(DROP_REWRITE_FAILED); return TC_ACT_SHOT; }`);
      });
    });
    out.block(`if (meta.csum_dirty && (meta.valid & HDR_${TCP}) && (meta.dirty & HDR_${TCP})) {`, () => {
      out.line('#pragma unroll');
      out.block(`for (int i = 0; i < ${tcpWords}; i++) {`, () => {
        out.line(`__u32 was = ((__u32 *)orig_${cs.tcp.header}.b)[i], now = ((__u32 *)hdr.${cs.tcp.header}.b)[i];`);
        out.line(`if (was != now && bpf_l4_csum_replace(skb, meta.off_${cs.tcp.header} + ${tcpOff}, was, now, 4) < 0) { count_drop(DROP_REWRITE_FAILED); return TC_ACT_SHOT; }`);
      });
    });
  }
  const pin = p.headers.find((h) => h.controller === 'packet_in');
  if (pin) {
    const n = headerBits(pin) / 8;
    out.block(`if (meta.valid & HDR_${pin.name.toUpperCase()}) {`, () => {
      out.line(`if (bpf_skb_change_head(skb, ${n}, 0) < 0 || bpf_skb_store_bytes(skb, 0, &hdr.${pin.name}, ${n}, 0) < 0) { count_drop(DROP_PACKET_IN_PUSH_FAILED); return TC_ACT_SHOT; }`);
    });
  }
  out.line('__u32 eport = meta.egress_port;');
  out.line(`__u32 *eif = eport < PRISM_MAX_PORTS ? bpf_map_lookup_elem(&${EBPF_MAPS.portToIfindex}, &eport) : 0;`);
  out.line('if (!eif || *eif == 0) { count_drop(DROP_EGRESS_PORT_UNMAPPED); return TC_ACT_SHOT; }');
  out.line('port_stats(eport, 1, skb->len);');
  out.line('return bpf_redirect(*eif, 0);');
}

export function emitEbpf(p: Pipeline): string {
  const layouts = pipelineLayouts(p);
  const out = new Printer({ comment: '//' });
  out.banner('codegen (eBPF C for tc clsact ingress)', `pipeline "${p.name}"`);
  out.comment('Build: clang -O2 -g -target bpf -c <this file> -o <name>.bpf.o');
  out.blank();
  emitIncludes(out);
  emitByteHelpers(out);
  emitHeaders(p, out);
  emitFieldAccessors(p, out);
  emitMaps(p, layouts, out);
  emitCommonFunctions(p, out);
  emitActions(p, out);
  emitApplyFunctions(p, layouts, out);

  out.block(`SEC("tc")\nint ${EBPF_PROGRAM_NAME}(struct __sk_buff *skb) {`, () => {
    out.line('struct headers hdr = {};');
    out.line('struct metadata meta = { .egress_port = PRISM_NO_PORT };');
    out.line('__u32 off = 0;');
    out.line('__u32 ifindex = skb->ifindex;');
    out.line(`__u32 *in_port = bpf_map_lookup_elem(&${EBPF_MAPS.ifindexToPort}, &ifindex);`);
    out.line('if (!in_port || *in_port == 0) { count_drop(DROP_UNKNOWN_INGRESS_PORT); return TC_ACT_SHOT; }');
    out.line('meta.ingress_port = *in_port - 1;  /* stored as port + 1: 0 means not a port */');
    out.line('__u32 zero = 0;');
    out.line(`struct prism_config *cfg = bpf_map_lookup_elem(&${EBPF_MAPS.config}, &zero);`);
    out.line('__u32 cfg_cpu_port = cfg ? cfg->cpu_port : PRISM_NO_PORT;');
    out.line('port_stats(meta.ingress_port, 0, skb->len);');
    out.blank();
    emitParser(p, out);
    if (p.checksums) {
      out.line(`struct hdr_${p.checksums.ipv4.header} orig_${p.checksums.ipv4.header} __attribute__((aligned(4))) = hdr.${p.checksums.ipv4.header};`);
      out.line(`struct hdr_${p.checksums.tcp.header} orig_${p.checksums.tcp.header} __attribute__((aligned(4))) = hdr.${p.checksums.tcp.header};`);
    }
    out.blank();
    out.comment(`${p.ingressName}.apply`);
    emitStatements(p, p.ingress, out);
    out.blank();
    emitDeparser(p, out);
  });
  out.blank();
  out.line('char LICENSE[] SEC("license") = "Dual MIT/GPL";');
  return out.toString();
}

export type { HeaderDef, TableDef };
