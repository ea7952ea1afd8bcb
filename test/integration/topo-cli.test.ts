/**
 * `prism topo up FILE --json` as a user runs it: the printed description names the client's
 * namespace and the VIP; a client there fetches /bytes/1048576 through the VIP (hash-checked);
 * `prism topo down` stops it and nothing is left behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deterministicSha256 } from '../../agent/bytes.js';
import { listNamespaces } from '../../netns/index.js';
import { ebpfSkipReason, REPO } from '../helpers/ebpf.js';

const skip = ebpfSkipReason();
if (skip) console.warn(`[skip] topo CLI test: ${skip}`);

describe.skipIf(skip)('prism topo up / down', () => {
  it('brings the demo topology up, serves through the VIP, and takes it down', async () => {
    const bin = join(REPO, 'bin', 'prism.js');
    const up = spawn(process.execPath, [bin, 'topo', 'up', join(REPO, 'topologies', 'demo.yaml'), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    up.stdout.on('data', (d: Buffer) => (out += d.toString()));
    up.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const t0 = Date.now();
      while (!out.includes('\n')) {
        if (Date.now() - t0 > 60_000 || up.exitCode !== null) throw new Error(`topo up did not print its description: ${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const d = JSON.parse(out.split('\n')[0]!) as { vip: { ip: string; port: number }; hosts: { name: string; role: string; namespace: string }[]; runId: string };
      const client = d.hosts.find((h) => h.role === 'client')!;
      const body = execFileSync('ip', ['netns', 'exec', client.namespace, 'curl', '-sS', '--fail', '--max-time', '20', `http://${d.vip.ip}:${d.vip.port}/bytes/1048576`], { maxBuffer: 4 << 20 });
      const { createHash } = await import('node:crypto');
      expect(createHash('sha256').update(body).digest('hex')).toBe(deterministicSha256(1048576));
      const down = execFileSync(process.execPath, [bin, 'topo', 'down', 'demo'], { encoding: 'utf8' });
      expect(down).toMatch(/stopped topology demo/);
      await new Promise<void>((r) => (up.exitCode !== null ? r() : up.once('exit', () => r())));
      expect((await listNamespaces()).filter((n) => n.includes(d.runId))).toEqual([]);
    } finally {
      if (up.exitCode === null) up.kill('SIGTERM');
    }
  }, 120_000);
});
