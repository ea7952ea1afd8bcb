/**
 * Plots of a `prism bench` result file as SVG, written by hand (no dependencies):
 *   throughput-<n>conn.svg  throughput against object size (log x axis), direct / nginx / prism,
 *                           one chart per connection count in the results (1 and 4);
 *   handoff-latency.svg     horizontal bars: the hand-off steps' medians (Prepare, rule write,
 *                           Start, Done, rule delete, Release) and the first-byte p50 of
 *                           direct / nginx / prism.
 * The output depends only on the input (no clock, no randomness): same JSON, same bytes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SERIES = ['direct', 'nginx', 'prism', 'prism-cached'] as const;
export type Series = (typeof SERIES)[number];

const COLORS: Record<Series, string> = { direct: '#1f77b4', nginx: '#ff7f0e', prism: '#2ca02c', 'prism-cached': '#d62728' };
const MARKERS: Record<Series, 'circle' | 'square' | 'diamond'> = { direct: 'circle', nginx: 'square', prism: 'diamond', 'prism-cached': 'diamond' };
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

interface ThroughputRow {
  mode: string;
  size: number;
  connections: number;
  gbps: number;
}

interface HandoffResults {
  throughput: ThroughputRow[];
  latency: Partial<Record<Series, { p50: number; p99?: number }>>;
  breakdown: Partial<Record<'prepare' | 'rules' | 'start' | 'transfer' | 'deleteRules' | 'release', number>>;
}

export interface Plot {
  /** File name, e.g. throughput-1conn.svg. */
  readonly name: string;
  readonly svg: string;
}

// ---------------------------------------------------------------- a tiny SVG builder

type Attrs = Record<string, string | number | undefined>;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Numbers in attributes: at most two decimals, no trailing zeros, no "-0". */
function num(n: number): string {
  const r = Math.round(n * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}

class SvgBuilder {
  private readonly parts: string[] = [];

  constructor(
    readonly width: number,
    readonly height: number,
  ) {}

  private attrs(a: Attrs): string {
    return Object.entries(a)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}="${typeof v === 'number' ? num(v) : esc(v!)}"`)
      .join('');
  }

  el(tag: string, a: Attrs): this {
    this.parts.push(`<${tag}${this.attrs(a)}/>`);
    return this;
  }

  text(x: number, y: number, s: string, a: Attrs = {}): this {
    this.parts.push(`<text${this.attrs({ x, y, 'font-size': 12, ...a })}>${esc(s)}</text>`);
    return this;
  }

  line(x1: number, y1: number, x2: number, y2: number, a: Attrs = {}): this {
    return this.el('line', { x1, y1, x2, y2, stroke: '#000', ...a });
  }

  open(tag: string, a: Attrs = {}): this {
    this.parts.push(`<${tag}${this.attrs(a)}>`);
    return this;
  }

  close(tag: string): this {
    this.parts.push(`</${tag}>`);
    return this;
  }

  marker(kind: 'circle' | 'square' | 'diamond', x: number, y: number, color: string): this {
    if (kind === 'circle') return this.el('circle', { cx: x, cy: y, r: 4, fill: color });
    if (kind === 'square') return this.el('rect', { x: x - 3.5, y: y - 3.5, width: 7, height: 7, fill: color });
    return this.el('polygon', { points: `${num(x)},${num(y - 5)} ${num(x + 5)},${num(y)} ${num(x)},${num(y + 5)} ${num(x - 5)},${num(y)}`, fill: color });
  }

  toString(): string {
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${this.width}" height="${this.height}" viewBox="0 0 ${this.width} ${this.height}" ${FONT}>`,
      `<rect x="0" y="0" width="${this.width}" height="${this.height}" fill="#fff"/>`,
      ...this.parts,
      '</svg>',
      '',
    ].join('\n');
  }
}

// ---------------------------------------------------------------- scales and labels

/** Tick values from 0 to a round number at or above max (about five steps). */
function niceTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let i = 0; ticks.length === 0 || ticks[ticks.length - 1]! < max - 1e-12; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return String(Number(v.toPrecision(3)));
}

export function fmtSize(n: number): string {
  if (n >= 1 << 30) return `${num(n / (1 << 30))} GiB`;
  if (n >= 1 << 20) return `${num(n / (1 << 20))} MiB`;
  if (n >= 1 << 10) return `${num(n / (1 << 10))} KiB`;
  return `${n} B`;
}

function fmtMs(v: number): string {
  if (v === 0) return '0 ms';
  if (v >= 100) return `${v.toFixed(0)} ms`;
  if (v >= 1) return `${v.toFixed(2)} ms`;
  return `${(v * 1000).toFixed(v >= 0.01 ? 0 : 1)} us`;
}

function machineLine(machine: Record<string, unknown> | undefined): string {
  if (!machine) return '';
  const parts = [
    machine.cpus !== undefined ? `${String(machine.cpus)} x ${String(machine.cpuModel ?? 'CPU')}` : undefined,
    machine.kernel !== undefined ? `Linux ${String(machine.kernel)}` : undefined,
    machine.node !== undefined ? `Node ${String(machine.node)}` : undefined,
    machine.date !== undefined ? String(machine.date) : undefined,
  ];
  return parts.filter((p) => p !== undefined).join(', ');
}

// ---------------------------------------------------------------- charts

function throughputChart(rows: ThroughputRow[], connections: number, machine: string): string {
  const W = 760;
  const H = 460;
  const m = { left: 78, right: 24, top: 58, bottom: 66 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const mine = rows.filter((r) => r.connections === connections && Number.isFinite(r.gbps) && r.size > 0);
  const sizes = [...new Set(mine.map((r) => r.size))].sort((a, b) => a - b);
  const lo = Math.log2(sizes[0] ?? 1);
  const hi = Math.log2(sizes[sizes.length - 1] ?? 2);
  const span = hi - lo || 1;
  const x = (size: number): number => m.left + (sizes.length === 1 ? pw / 2 : ((Math.log2(size) - lo) / span) * pw);
  const yTicks = niceTicks(Math.max(0, ...mine.map((r) => r.gbps)));
  const yMax = yTicks[yTicks.length - 1]!;
  const y = (g: number): number => m.top + ph - (g / yMax) * ph;

  const s = new SvgBuilder(W, H);
  s.text(W / 2, 24, `Throughput against object size, ${connections} connection${connections === 1 ? '' : 's'}`, { 'text-anchor': 'middle', 'font-size': 16, 'font-weight': 'bold' });
  if (machine) s.text(W / 2, 42, machine, { 'text-anchor': 'middle', 'font-size': 11, fill: '#555' });
  // Grid and y ticks.
  s.open('g', { class: 'y-axis' });
  for (const t of yTicks) {
    s.line(m.left, y(t), m.left + pw, y(t), { stroke: '#ddd' });
    s.text(m.left - 8, y(t) + 4, fmtTick(t), { 'text-anchor': 'end' });
  }
  s.close('g');
  // x ticks: one per measured size.
  s.open('g', { class: 'x-axis' });
  for (const size of sizes) {
    s.line(x(size), m.top + ph, x(size), m.top + ph + 5);
    s.text(x(size), m.top + ph + 20, fmtSize(size), { 'text-anchor': 'middle' });
  }
  s.close('g');
  s.line(m.left, m.top + ph, m.left + pw, m.top + ph).line(m.left, m.top, m.left, m.top + ph);
  s.text(m.left + pw / 2, H - 18, 'object size (log scale)', { 'text-anchor': 'middle', 'font-size': 13 });
  s.text(20, m.top + ph / 2, 'throughput (Gbit/s)', { 'text-anchor': 'middle', 'font-size': 13, transform: `rotate(-90 20 ${num(m.top + ph / 2)})` });
  // Series.
  for (const name of SERIES) {
    const pts = mine.filter((r) => r.mode === name).sort((a, b) => a.size - b.size);
    if (pts.length === 0) continue;
    s.open('g', { class: `series series-${name}` });
    s.el('polyline', { points: pts.map((p) => `${num(x(p.size))},${num(y(p.gbps))}`).join(' '), fill: 'none', stroke: COLORS[name], 'stroke-width': 2 });
    for (const p of pts) s.marker(MARKERS[name], x(p.size), y(p.gbps), COLORS[name]);
    s.close('g');
  }
  // Legend, top left inside the plot area.
  s.open('g', { class: 'legend' });
  const shown = SERIES.filter((name) => mine.some((r) => r.mode === name));
  s.el('rect', { x: m.left + 10, y: m.top + 8, width: 130, height: 20 * shown.length + 8, fill: '#fff', stroke: '#999' });
  shown.forEach((name, i) => {
    const ly = m.top + 24 + i * 20;
    s.line(m.left + 18, ly - 4, m.left + 42, ly - 4, { stroke: COLORS[name], 'stroke-width': 2 });
    s.marker(MARKERS[name], m.left + 30, ly - 4, COLORS[name]);
    s.text(m.left + 50, ly, name);
  });
  s.close('g');
  return s.toString();
}

const STEPS: { key: keyof HandoffResults['breakdown']; label: string }[] = [
  { key: 'prepare', label: 'Prepare' },
  { key: 'rules', label: 'rule write' },
  { key: 'start', label: 'Start' },
  { key: 'transfer', label: 'Done (after Start)' },
  { key: 'deleteRules', label: 'rule delete' },
  { key: 'release', label: 'Release' },
];

function latencyChart(h: HandoffResults, machine: string): string {
  const bars: { label: string; value: number; color: string; group: 'step' | 'ttfb' }[] = [];
  for (const st of STEPS) {
    const v = h.breakdown[st.key];
    if (typeof v === 'number' && Number.isFinite(v)) bars.push({ label: st.label, value: v, color: '#9467bd', group: 'step' });
  }
  for (const name of SERIES) {
    const v = h.latency[name]?.p50;
    if (typeof v === 'number' && Number.isFinite(v)) bars.push({ label: `${name} first byte p50`, value: v, color: COLORS[name], group: 'ttfb' });
  }
  const W = 760;
  const rowH = 28;
  const gap = bars.some((b) => b.group === 'step') && bars.some((b) => b.group === 'ttfb') ? 22 : 0;
  const m = { left: 170, right: 90, top: 58, bottom: 56 };
  const ph = bars.length * rowH + gap;
  const H = m.top + ph + m.bottom;
  const pw = W - m.left - m.right;
  const ticks = niceTicks(Math.max(0, ...bars.map((b) => b.value)));
  const xMax = ticks[ticks.length - 1]!;
  const x = (v: number): number => m.left + (v / xMax) * pw;

  const s = new SvgBuilder(W, H);
  s.text(W / 2, 24, 'Hand-off latency: step medians and first-byte p50 (4 KiB, 1 connection)', { 'text-anchor': 'middle', 'font-size': 16, 'font-weight': 'bold' });
  if (machine) s.text(W / 2, 42, machine, { 'text-anchor': 'middle', 'font-size': 11, fill: '#555' });
  s.open('g', { class: 'x-axis' });
  for (const t of ticks) {
    s.line(x(t), m.top, x(t), m.top + ph, { stroke: '#ddd' });
    s.text(x(t), m.top + ph + 18, fmtTick(t), { 'text-anchor': 'middle' });
  }
  s.close('g');
  s.line(m.left, m.top + ph, m.left + pw, m.top + ph).line(m.left, m.top, m.left, m.top + ph);
  s.text(m.left + pw / 2, H - 14, 'milliseconds', { 'text-anchor': 'middle', 'font-size': 13 });
  s.open('g', { class: 'bars' });
  let yy = m.top;
  bars.forEach((b, i) => {
    if (i > 0 && b.group !== bars[i - 1]!.group) yy += gap;
    const w = Math.max(1, x(b.value) - m.left);
    s.el('rect', { x: m.left, y: yy + 5, width: w, height: rowH - 10, fill: b.color });
    s.text(m.left - 8, yy + rowH / 2 + 4, b.label, { 'text-anchor': 'end' });
    s.text(m.left + w + 6, yy + rowH / 2 + 4, fmtMs(b.value), { 'font-size': 11 });
    yy += rowH;
  });
  s.close('g');
  return s.toString();
}

// ---------------------------------------------------------------- entry points

function findHandoff(results: unknown): { handoff?: HandoffResults; machine?: Record<string, unknown> } {
  const root = (typeof results === 'string' ? JSON.parse(results) : results) as { machine?: Record<string, unknown>; benchmarks?: { name: string; results: unknown }[] } | null;
  const b = root?.benchmarks?.find((x) => x.name === 'handoff');
  const r = b?.results as Partial<HandoffResults> | undefined;
  if (!r || !Array.isArray(r.throughput)) return root?.machine ? { machine: root.machine } : {};
  return { handoff: { throughput: r.throughput, latency: r.latency ?? {}, breakdown: r.breakdown ?? {} }, ...(root?.machine ? { machine: root.machine } : {}) };
}

/** The plots of a result file (the object `prism bench` saves, or its JSON text); none without a hand-off benchmark. */
export function renderPlots(results: unknown): Plot[] {
  const { handoff, machine } = findHandoff(results);
  if (!handoff) return [];
  const m = machineLine(machine);
  const plots: Plot[] = [];
  const conns = [...new Set(handoff.throughput.map((r) => r.connections))].sort((a, b) => a - b);
  for (const c of conns) plots.push({ name: `throughput-${c}conn.svg`, svg: throughputChart(handoff.throughput, c, m) });
  plots.push({ name: 'handoff-latency.svg', svg: latencyChart(handoff, m) });
  return plots;
}

/** Writes the plots into outDir; returns the paths written. */
export function writePlots(results: unknown, outDir: string): string[] {
  const plots = renderPlots(results);
  if (plots.length === 0) return [];
  mkdirSync(outDir, { recursive: true });
  return plots.map((p) => {
    const path = join(outDir, p.name);
    writeFileSync(path, p.svg);
    return path;
  });
}
