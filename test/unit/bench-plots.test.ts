/**
 * bench/plots.ts: SVG plots from a small `prism bench` result fixture — well-formed (balanced
 * tags), with the three series, the axis labels and the latency bars, and byte-for-byte the same
 * on every render.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderPlots, writePlots } from '../../bench/plots.js';

const SIZES = [4096, 65536, 1048576, 8388608, 67108864];
const SPEED: Record<string, number> = { direct: 9, nginx: 3, prism: 6 };

const FIXTURE = {
  machine: { date: '2026-01-02T03:04:05.000Z', cpus: 4, cpuModel: 'Test CPU <fast> & "quoted"', kernel: '6.1.0', node: 'v20.19.0' },
  benchmarks: [
    { name: 'switch', results: { perPacket: {} } },
    {
      name: 'handoff',
      results: {
        throughput: [1, 4].flatMap((connections) =>
          SIZES.flatMap((size, i) =>
            ['direct', 'nginx', 'prism'].map((mode) => ({ mode, size, connections, gbps: (SPEED[mode]! * (i + 1) * connections) / 10, requestsPerSecond: 1, errors: 0 })),
          ),
        ),
        latency: { direct: { p50: 0.06, p99: 1.4 }, nginx: { p50: 0.17, p99: 3.9 }, prism: { p50: 7.77, p99: 63.4 } },
        breakdown: { prepare: 1.59, rules: 1.23, start: 1.45, transfer: 0.003, deleteRules: 1.01, release: 1.02 },
        startupOverheadMs: 7.7,
      },
    },
  ],
};

/** A simple well-formedness check: one root <svg>, every tag closed in order, no stray '<' or '&'. */
function checkWellFormed(svg: string): void {
  expect(svg.startsWith('<svg ')).toBe(true);
  const stack: string[] = [];
  let roots = 0;
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
    const between = svg.slice(last, m.index);
    expect(between, `text before ${m[0]}`).not.toMatch(/[<>]/);
    expect(between).not.toMatch(/&(?!(amp|lt|gt|quot|apos);)/);
    last = tag.lastIndex;
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      expect(stack.pop(), `closing </${name}>`).toBe(name);
    } else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    } else if (stack.length === 0) {
      roots++;
    }
  }
  expect(svg.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
}

describe('bench plots', () => {
  const plots = renderPlots(FIXTURE);
  const dir = mkdtempSync(join(tmpdir(), 'prism-plots-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('renders one throughput chart per connection count and the latency chart', () => {
    expect(plots.map((p) => p.name)).toEqual(['throughput-1conn.svg', 'throughput-4conn.svg', 'handoff-latency.svg']);
  });

  it('writes well-formed SVG', () => {
    for (const p of plots) checkWellFormed(p.svg);
  });

  it('throughput charts: the three series, a legend, the axis labels, log-spaced size ticks', () => {
    for (const p of plots.filter((x) => x.name.startsWith('throughput'))) {
      for (const s of ['direct', 'nginx', 'prism']) {
        expect(p.svg).toContain(`class="series series-${s}"`);
        expect(p.svg).toMatch(new RegExp(`<text[^>]*>${s}</text>`));
      }
      expect(p.svg).toContain('class="legend"');
      expect(p.svg).toContain('object size (log scale)');
      expect(p.svg).toContain('throughput (Gbit/s)');
      for (const l of ['4 KiB', '64 KiB', '1 MiB', '8 MiB', '64 MiB']) expect(p.svg).toContain(`>${l}</text>`);
      // Log x axis: the sizes grow by x16, x16, x8, x8, so the tick gaps are 4:4:3:3.
      const xs = [...p.svg.matchAll(/<text x="([\d.]+)" y="[\d.]+" font-size="12" text-anchor="middle">\d+ [KM]iB<\/text>/g)].map((m) => Number(m[1]));
      expect(xs).toHaveLength(5);
      const gaps = xs.slice(1).map((v, i) => v - xs[i]!);
      expect(gaps[0]! / gaps[2]!).toBeCloseTo(4 / 3, 1);
    }
    expect(plots[0]!.svg).toContain('1 connection<');
    expect(plots[1]!.svg).toContain('4 connections<');
    // The machine line is escaped.
    expect(plots[0]!.svg).toContain('Test CPU &lt;fast&gt; &amp; &quot;quoted&quot;');
  });

  it('latency chart: every hand-off step and the first-byte p50 of direct, nginx and prism', () => {
    const svg = plots[2]!.svg;
    for (const l of ['Prepare', 'rule write', 'Start', 'Done (after Start)', 'rule delete', 'Release', 'direct first byte p50', 'nginx first byte p50', 'prism first byte p50']) {
      expect(svg).toContain(`>${l}</text>`);
    }
    expect(svg).toContain('milliseconds');
    expect(svg).toContain('>7.77 ms</text>');
    expect(svg).toContain('>60 us</text>');
    expect((svg.match(/<rect /g) ?? []).length).toBe(1 + 9); // background + nine bars
  });

  it('is deterministic: same input, same bytes; the JSON text gives the same as the object', () => {
    expect(renderPlots(JSON.parse(JSON.stringify(FIXTURE)))).toEqual(plots);
    expect(renderPlots(JSON.stringify(FIXTURE))).toEqual(plots);
  });

  it('writePlots writes the files; without a hand-off benchmark it writes nothing', () => {
    const paths = writePlots(FIXTURE, dir);
    expect(paths.map((p) => p.slice(dir.length + 1)).sort()).toEqual(['handoff-latency.svg', 'throughput-1conn.svg', 'throughput-4conn.svg']);
    for (const p of plots) expect(readFileSync(join(dir, p.name), 'utf8')).toBe(p.svg);
    const empty = join(dir, 'empty');
    expect(writePlots({ machine: FIXTURE.machine, benchmarks: [{ name: 'switch', results: {} }] }, empty)).toEqual([]);
    expect(() => readdirSync(empty)).toThrow();
  });
});
