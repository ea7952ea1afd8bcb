#!/usr/bin/env node
// Reads the timeline files PRISM_TIMELINE=<dir> left (core/timeline.ts), merges them into one timeline, and
// prints, for each point, its median time after the cycle's start point (default `c-send`, the
// load generator's request) — the first occurrence of each label within each cycle, so it is
// meant for one connection at a time. Usage: node scripts/timeline-report.mjs <dir> [start-label]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const startLabel = process.argv[3] ?? 'c-send';
if (!dir) {
  console.error('usage: timeline-report.mjs <dir> [start-label]');
  process.exit(2);
}
const points = [];
for (const f of readdirSync(dir).filter((n) => n.startsWith('timeline-') && n.endsWith('.tsv'))) {
  const pid = f.slice(9, -4);
  for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
    if (!line) continue;
    const [t, label] = line.split('\t');
    points.push({ t: Number(t), label, pid });
  }
}
points.sort((a, b) => a.t - b.t);
const offsets = new Map();
let start = null;
let seen = new Set();
let cycles = 0;
for (const p of points) {
  if (p.label === startLabel) {
    start = p.t;
    seen = new Set();
    cycles++;
    continue;
  }
  if (start === null || seen.has(p.label)) continue;
  seen.add(p.label);
  if (!offsets.has(p.label)) offsets.set(p.label, []);
  offsets.get(p.label).push(p.t - start);
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const rows = [...offsets].map(([label, a]) => ({ label, n: a.length, p50: median(a) })).sort((x, y) => x.p50 - y.p50);
console.log(`${cycles} cycles from ${startLabel}; median ms after it (first of each label per cycle):`);
let prev = 0;
for (const r of rows) {
  console.log(`${r.p50.toFixed(3).padStart(9)}  +${(r.p50 - prev).toFixed(3).padStart(7)}  ${r.label.padEnd(12)} n=${r.n}`);
  prev = r.p50;
}
