/**
 * One virtual server: what a client writes through the VIP it reads back through the VIP, whichever
 * backend each request is handed to. Three backends with agents share one object store
 * (stack/stack.ts gives them the same --store-dir); round robin hands every request of a curl
 * connection to the next backend. Uploads with Content-Length, chunked and with Expect:
 * 100-continue; every read back hash-checked.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_SOCKET_DIR, startStack, type RunningStack } from '../../stack/stack.js';
import { ebpfSkipReason, REPO } from '../helpers/ebpf.js';
import { handoffsSettled, tcpCounters, testTopology, VIP } from '../helpers/stack.js';

const skip = ebpfSkipReason();
if (skip) console.warn(`[skip] object store through the VIP: ${skip}`);

// No speculation: every transaction is a fresh round-robin pick, also on one connection.
const TOPOLOGY = testTopology('objstore', 3, ['speculation: { mode: off }']);
const URL_OF = (name: string): string => `http://${VIP.ip}/objects/${name}`;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe.skipIf(skip)('object store through the VIP: written on one backend, read on every other', () => {
  let stack: RunningStack | undefined;
  let dir: string | undefined; // bodies and downloads; the namespaces share the filesystem
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'prism-object-vip-'));
    stack = await startStack(TOPOLOGY, { root: REPO });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const client = () => stack!.hosts.get('client')!.host;
  const curl = (args: readonly string[], timeoutMs = 60_000) => client().exec(['curl', '-sS', '--fail', '--max-time', '50', ...args], { timeoutMs });

  /** Writes `size` random bytes to a file for curl to send; returns the path and the bytes' hash. */
  const bodyFile = (name: string, size: number): { path: string; sha256: string } => {
    const body = randomBytes(size);
    const path = join(dir!, name);
    writeFileSync(path, body);
    return { path, sha256: sha(body) };
  };

  /**
   * GETs `name` `times` times on one curl connection (round robin: one backend after another);
   * returns per GET the backend that served it, the X-Content-SHA256 it sent and the hash of the
   * bytes received.
   */
  const getBack = async (name: string, times: number): Promise<{ backend: string; header: string; received: string }[]> => {
    const out = join(dir!, `${name}.get`);
    const args = Array.from({ length: times }, (_, i) => ['-o', `${out}.${i}`, '-w', '%{http_code} %{num_connects} %header{x-backend} %header{x-content-sha256}\\n', URL_OF(name)]).flat();
    const r = await curl(args);
    const lines = r.stdout.trim().split('\n').map((l) => l.split(' '));
    expect(lines.map((l) => l[0])).toEqual(lines.map(() => '200'));
    expect(lines.reduce((n, l) => n + Number(l[1]), 0)).toBe(1); // one connection for all of them
    const sums = await client().exec(['sha256sum', ...lines.map((_, i) => `${out}.${i}`)]);
    const received = sums.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]!);
    return lines.map((l, i) => ({ backend: l[2]!, header: l[3]!, received: received[i]! }));
  };

  it('PUT with Content-Length, then 6 GETs handed to every backend: each the same bytes', async () => {
    const { path, sha256 } = bodyFile('plain', 300 * 1024 + 11);
    // `-H Expect:`: no 100-continue here (curl would ask for one only above 1 MiB anyway).
    const put = await curl(['-T', path, '-H', 'Expect:', '-o', '/dev/null', '-w', '%{http_code} %header{x-backend} %header{x-content-sha256}', URL_OF('x')]);
    const [status, putBackend, putSha] = put.stdout.trim().split(' ');
    expect(status).toBe('201');
    expect(putSha).toBe(sha256);
    // Stored once, as a file in the store the stack gave every agent.
    expect(existsSync(join(AGENT_SOCKET_DIR, stack!.describe().runId, 'objects', 'x'))).toBe(true);

    const gets = await getBack('x', 6);
    for (const g of gets) expect([g.header, g.received]).toEqual([sha256, sha256]);
    // Round robin on one connection: every backend served, and so did ones that did not take the PUT.
    expect(new Set(gets.map((g) => g.backend))).toEqual(new Set(['b1', 'b2', 'b3']));
    expect(gets.filter((g) => g.backend !== putBackend).length).toBeGreaterThanOrEqual(4);
  }, 90_000);

  it('a chunked upload (Transfer-Encoding: chunked), read back through the VIP', async () => {
    const { path, sha256 } = bodyFile('chunked', 700 * 1024 + 3);
    const put = await curl(['-X', 'PUT', '-H', 'Transfer-Encoding: chunked', '-H', 'Expect:', '--data-binary', `@${path}`, '-o', '/dev/null', '-w', '%{http_code} %header{x-content-sha256}', '-v', URL_OF('chunked')]);
    expect(put.stdout.trim()).toBe(`201 ${sha256}`);
    expect(put.stderr).toMatch(/> Transfer-Encoding: chunked/i); // curl did send it chunked
    const gets = await getBack('chunked', 3);
    expect(gets.map((g) => g.received)).toEqual([sha256, sha256, sha256]);
    expect(new Set(gets.map((g) => g.backend)).size).toBe(3);
  }, 90_000);

  it('an Expect: 100-continue upload: the backend it is handed to sends 100 Continue, the body follows, read back through the VIP', async () => {
    const { path, sha256 } = bodyFile('continued', 3 * 1024 * 1024 + 5);
    // A long --expect100-timeout: the body goes only after a real 100 Continue, not after curl gave up waiting.
    const put = await curl(['-T', path, '-H', 'Expect: 100-continue', '--expect100-timeout', '30', '-o', '/dev/null', '-w', '%{http_code} %header{x-content-sha256} %{time_total}', '-v', URL_OF('continued')]);
    const [status, putSha, seconds] = put.stdout.trim().split(' ');
    expect(status).toBe('201');
    expect(putSha).toBe(sha256);
    expect(put.stderr).toMatch(/> Expect: 100-continue/i);
    expect(put.stderr).toMatch(/< HTTP\/1\.1 100 Continue/);
    expect(Number(seconds)).toBeLessThan(30);
    const gets = await getBack('continued', 3);
    expect(gets.map((g) => g.received)).toEqual([sha256, sha256, sha256]);
    expect(new Set(gets.map((g) => g.backend)).size).toBe(3);
  }, 90_000);

  it('DELETE through the VIP: gone for every backend', async () => {
    const { path } = bodyFile('doomed', 1000);
    await curl(['-T', path, '-H', 'Expect:', '-o', '/dev/null', URL_OF('doomed')]);
    const del = await curl(['-X', 'DELETE', '-o', '/dev/null', '-w', '%{http_code}', URL_OF('doomed')]);
    expect(del.stdout).toBe('204');
    const r = await client().exec(['curl', '-sS', '--max-time', '30', ...[0, 1, 2].flatMap(() => ['-o', '/dev/null', '-w', '%{http_code} %header{x-backend}\\n', URL_OF('doomed')])], { timeoutMs: 40_000 });
    const lines = r.stdout.trim().split('\n').map((l) => l.split(' '));
    expect(lines.map((l) => l[0])).toEqual(['404', '404', '404']);
    expect(new Set(lines.map((l) => l[1])).size).toBe(3);
  }, 60_000);

  it('the client saw no reset, and no hand-off entry is left', async () => {
    await handoffsSettled(stack!);
    const c = await tcpCounters(client());
    expect(c.TcpOutRsts ?? 0).toBe(0);
    expect(stack!.sw.dataplane!.entryCount('handoff_in')).toBe(0);
    expect(stack!.sw.dataplane!.entryCount('handoff_out')).toBe(0);
  });
});
