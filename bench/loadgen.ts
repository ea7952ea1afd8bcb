/**
 * A small HTTP load generator (Node's http, keep-alive): N connections, each running GETs of
 * /bytes/<n>?seed=<s> back to back, every body checked against its X-Content-SHA256 header.
 * Prints one JSON line per second ({t, requests, errors, bytes, ttfbMs: [...], backends: {...}})
 * and a final line with "final": true. Run inside a client's namespace by the demo and benchmarks:
 *
 *   node dist/bench/loadgen.js --url http://10.0.0.100 --connections 4 --duration 10 --min 1024 --max 1048576
 */
import { mark } from '../core/timeline.js';
import { createHash } from 'node:crypto';
import { Agent, get } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://10.0.0.100' },
    connections: { type: 'string', default: '4' },
    duration: { type: 'string', default: '10' },
    min: { type: 'string', default: '1024' },
    max: { type: 'string', default: '1048576' },
    sizes: { type: 'string' },
    'fixed-seed': { type: 'boolean', default: false },
  },
});

const url = new URL(values.url!);
const connections = Number(values.connections);
const durationMs = Number(values.duration) * 1000;
const min = Number(values.min);
const max = Number(values.max);
const fixedSizes = values.sizes ? values.sizes.split(',').map(Number) : null;
// A fixed seed lets the server reuse its body hash (benchmarks measure transport, not hashing).
const fixedSeed = values['fixed-seed'] === true;

interface Window {
  requests: number;
  errors: number;
  bytes: number;
  ttfbMs: number[];
  backends: Record<string, number>;
}
const fresh = (): Window => ({ requests: 0, errors: 0, bytes: 0, ttfbMs: [], backends: {} });
let win = fresh();
const total = fresh();
const t0 = Date.now();
let seed = 1;

function one(agent: Agent): Promise<void> {
  const n = fixedSizes ? fixedSizes[seed % fixedSizes.length]! : Math.floor(min + Math.random() * (max - min));
  const s = fixedSeed ? 1 : seed++;
  if (fixedSeed) seed++;
  const start = performance.now();
  mark('c-send');
  return new Promise((resolve) => {
    const req = get({ host: url.hostname, port: url.port || 80, path: `/bytes/${n}?seed=${s}`, agent }, (res) => {
      const ttfb = performance.now() - start;
      mark('c-head');
      const h = createHash('sha256');
      let got = 0;
      res.on('data', (c: Buffer) => {
        h.update(c);
        got += c.length;
      });
      res.on('end', () => {
        mark('c-end');
        const ok = res.statusCode === 200 && got === n && h.digest('hex') === res.headers['x-content-sha256'];
        for (const w of [win, total]) {
          w.requests++;
          w.bytes += got;
          w.ttfbMs.push(ttfb);
          if (!ok) w.errors++;
          const b = String(res.headers['x-backend'] ?? '?');
          w.backends[b] = (w.backends[b] ?? 0) + 1;
        }
        resolve();
      });
      res.on('error', () => {
        win.errors++;
        total.errors++;
        resolve();
      });
    });
    req.on('error', () => {
      win.errors++;
      total.errors++;
      setTimeout(resolve, 100);
    });
  });
}

async function worker(): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  while (Date.now() - t0 < durationMs) await one(agent);
  agent.destroy();
}

const tick = setInterval(() => {
  process.stdout.write(`${JSON.stringify({ t: (Date.now() - t0) / 1000, ...win })}\n`);
  win = fresh();
}, 1000);

await Promise.all(Array.from({ length: connections }, () => worker()));
clearInterval(tick);
process.stdout.write(`${JSON.stringify({ final: true, t: (Date.now() - t0) / 1000, ...total })}\n`);
