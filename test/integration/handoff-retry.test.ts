/**
 * A backend that refuses Prepare (its agent runs with --max-active 0: OVERLOADED): idempotent
 * requests sent its way are retried on another backend; nothing reaches the client from the
 * refusing one, every response is complete, and no hand-off entry is left.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deterministicSha256 } from '../../agent/bytes.js';
import { startStack, type RunningStack } from '../../stack/stack.js';
import { ebpfSkipReason, REPO } from '../helpers/ebpf.js';
import { handoffsSettled, testTopology } from '../helpers/stack.js';

const skip = ebpfSkipReason();
if (skip) console.warn(`[skip] hand-off retry test: ${skip}`);

describe.skipIf(skip)('hand-off retry on another backend', () => {
  let stack: RunningStack;
  beforeAll(async () => {
    stack = await startStack(
      testTopology('retry', 2),
      { root: REPO, agentArgs: { b1: ['--max-active', '0'] } },
    );
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
  });

  it('GETs decided for the refusing backend are served by the other one, complete', async () => {
    const script = `
      const http = require('http'); const crypto = require('crypto');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = (n) => new Promise((res, rej) => http.get({ host: '10.0.0.100', path: '/bytes/' + n + '?seed=' + n, agent }, (r) => {
        const h = crypto.createHash('sha256'); r.on('data', (c) => h.update(c)); r.on('end', () => res([r.statusCode, h.digest('hex'), r.headers['x-backend']])); }).on('error', rej));
      (async () => { const out = []; for (const n of [100, 2000, 30000, 400000, 5, 6000]) out.push(await get(n)); console.log(JSON.stringify(out)); agent.destroy(); })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = await stack.hosts.get('client')!.host.exec([process.execPath, '-e', script], { timeoutMs: 60_000 });
    const out = JSON.parse(r.stdout) as [number, string, string][];
    expect(out.map((o) => o[0])).toEqual([200, 200, 200, 200, 200, 200]);
    expect(out.map((o) => o[1])).toEqual([100, 2000, 30000, 400000, 5, 6000].map((n) => deterministicSha256(n, n)));
    expect(new Set(out.map((o) => o[2]))).toEqual(new Set(['b2']));
    // The client has the last response before the controller has released it.
    await handoffsSettled(stack);
    expect(stack.handoff.stats.outcomes.refused ?? 0).toBeGreaterThan(0);
    expect(stack.handoff.stats.outcomes.retried).toBe(stack.handoff.stats.outcomes.refused);
    expect(stack.sw.dataplane!.entryCount('handoff_in') + stack.sw.dataplane!.entryCount('handoff_out')).toBe(0);
  }, 90_000);
});
