/**
 * The object store of the built-in object server (agent/object-store.ts) shared by two servers:
 * what one stored the other serves, uploads of every framing, concurrent PUTs of one name, and
 * nothing left behind by uploads that fail. Real servers on 127.0.0.1 and a real directory.
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObjectServer } from '../../agent/object-server.js';
import { TEMP_PREFIX } from '../../agent/object-store.js';
import { waitFor } from '../helpers/wait.js';

const MAX = 4 * 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request; a body given as several buffers is written piece by piece (chunked unless a length is set). */
function call(port: number, method: string, path: string, opts: { body?: Buffer | readonly Buffer[]; headers?: OutgoingHttpHeaders; agent?: Agent } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const q = request({ host: '127.0.0.1', port, method, path, headers: opts.headers ?? {}, agent: opts.agent ?? false }, (r) => {
      const parts: Buffer[] = [];
      r.on('data', (c: Buffer) => parts.push(c));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(parts) }));
      r.on('error', reject);
    });
    q.on('error', reject);
    const body = opts.body;
    if (body === undefined) q.end();
    else if (Buffer.isBuffer(body)) q.end(body);
    else {
      for (const b of body) q.write(b);
      q.end();
    }
  });
}

const listen = async (s: Server): Promise<number> => {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  return (s.address() as AddressInfo).port;
};
const close = (s: Server): Promise<void> =>
  new Promise((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });

describe('object store shared by two object servers', () => {
  let root: string;
  let dir: string; // root/store, made by the servers
  let a: Server;
  let b: Server;
  let pa: number;
  let pb: number;
  const temps = (): string[] => readdirSync(dir).filter((f) => f.startsWith(TEMP_PREFIX));

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'prism-object-store-test-'));
    dir = join(root, 'store');
    a = createObjectServer({ name: 'a', storeDir: dir, maxObjectBytes: MAX });
    b = createObjectServer({ name: 'b', storeDir: dir, maxObjectBytes: MAX });
    pa = await listen(a);
    pb = await listen(b);
  });
  afterAll(async () => {
    await Promise.all([a && close(a), b && close(b)]);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('the store directory is created with mode 0700', () => {
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it.each([
    ['empty', 0],
    ['small (one write)', 1000],
    ['large (streamed)', 1536 * 1024 + 7],
  ])('PUT on one server, GET and HEAD on the other: the same bytes (%s)', async (_what, size) => {
    const body = randomBytes(size);
    const put = await call(pa, 'PUT', `/objects/shared-${size}`, { body, headers: { 'content-length': size } });
    expect(put.status).toBe(201);
    expect(put.headers['x-content-sha256']).toBe(sha(body));
    expect(put.headers['x-backend']).toBe('a');

    const get = await call(pb, 'GET', `/objects/shared-${size}`);
    expect(get.status).toBe(200);
    expect(get.headers['x-backend']).toBe('b');
    expect(get.headers['content-length']).toBe(String(size));
    expect(get.headers['x-content-sha256']).toBe(sha(body));
    expect(sha(get.body)).toBe(sha(body));

    const head = await call(pb, 'HEAD', `/objects/shared-${size}`);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(size));
    expect(head.headers['x-content-sha256']).toBe(sha(body));
    expect(head.body.length).toBe(0);
  });

  it('a chunked PUT (Transfer-Encoding: chunked, no length) is stored whole', async () => {
    const pieces = Array.from({ length: 40 }, (_, i) => randomBytes(1000 + i * 997));
    const whole = Buffer.concat(pieces);
    const put = await call(pb, 'PUT', '/objects/chunked', { body: pieces, headers: { 'transfer-encoding': 'chunked' } });
    expect(put.status).toBe(201);
    expect(put.headers['x-content-sha256']).toBe(sha(whole));
    const get = await call(pa, 'GET', '/objects/chunked');
    expect(get.status).toBe(200);
    expect(get.body.length).toBe(whole.length);
    expect(sha(get.body)).toBe(sha(whole));
  });

  it('an Expect: 100-continue PUT gets 100 Continue, then sends its body, which is stored', async () => {
    const body = randomBytes(2 * 1024 * 1024);
    const reply = await new Promise<Reply & { continued: boolean }>((resolve, reject) => {
      let continued = false;
      const q = request({ host: '127.0.0.1', port: pa, method: 'PUT', path: '/objects/continued', agent: false, headers: { expect: '100-continue', 'content-length': body.length } }, (r) => {
        const parts: Buffer[] = [];
        r.on('data', (c: Buffer) => parts.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(parts), continued }));
      });
      q.on('continue', () => {
        continued = true;
        q.end(body);
      });
      q.on('error', reject);
      q.flushHeaders(); // the head alone; the body waits for 100 Continue
    });
    expect(reply.continued).toBe(true);
    expect(reply.status).toBe(201);
    expect(reply.headers['x-content-sha256']).toBe(sha(body));
    const get = await call(pb, 'GET', '/objects/continued');
    expect(sha(get.body)).toBe(sha(body));
  });

  it('20 concurrent PUTs of one name: one of the bodies, whole; every GET meanwhile returns a whole one', async () => {
    const bodies = Array.from({ length: 20 }, () => randomBytes(512 * 1024));
    const hashes = new Set(bodies.map(sha));
    let putting = true;
    const seen: string[] = [];
    // Readers on both servers while the PUTs race: each answer is 404 (nothing stored yet) or an
    // object whose bytes match its own X-Content-SHA256 and one of the bodies.
    const reader = async (port: number): Promise<void> => {
      while (putting) {
        const g = await call(port, 'GET', '/objects/contended');
        if (g.status === 404) continue;
        expect(g.status).toBe(200);
        expect(sha(g.body)).toBe(g.headers['x-content-sha256']);
        expect(hashes.has(sha(g.body))).toBe(true);
        seen.push(sha(g.body));
      }
    };
    const readers = [reader(pa), reader(pb)];
    // Each body in 16 KiB pieces, so that the writes of the 20 interleave.
    const puts = await Promise.all(
      bodies.map((body, i) => {
        const pieces = Array.from({ length: body.length / 16384 }, (_, k) => body.subarray(k * 16384, (k + 1) * 16384));
        return call(i % 2 ? pb : pa, 'PUT', '/objects/contended', { body: pieces, headers: { 'content-length': body.length } });
      }),
    );
    putting = false;
    await Promise.all(readers);
    puts.forEach((p, i) => {
      expect(p.status).toBe(201);
      expect(p.headers['x-content-sha256']).toBe(sha(bodies[i]!));
    });
    const final = await call(pb, 'GET', '/objects/contended');
    expect(final.status).toBe(200);
    expect(final.body.length).toBe(512 * 1024);
    expect(hashes.has(sha(final.body))).toBe(true);
    expect(final.headers['x-content-sha256']).toBe(sha(final.body));
    expect(temps()).toEqual([]);
    expect(seen.length).toBeGreaterThan(0);
  });

  it('too large, chunked (found out while writing): 413, no temporary file, nothing stored; the connection stays usable', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const pieces = Array.from({ length: 5 }, () => randomBytes(1024 * 1024)); // 5 MiB > 4 MiB
      const put = await call(pa, 'PUT', '/objects/huge', { body: pieces, headers: { 'transfer-encoding': 'chunked' }, agent });
      expect(put.status).toBe(413);
      expect(put.headers['content-type']).toBe('application/problem+json');
      expect(JSON.parse(put.body.toString())).toMatchObject({ status: 413, title: 'Content Too Large' });
      expect(temps()).toEqual([]);
      // The body was read to its end: the next request on the same connection is answered.
      const next = await call(pa, 'GET', '/objects/huge', { agent });
      expect(next.status).toBe(404);
    } finally {
      agent.destroy();
    }
  });

  it('too large by its Content-Length: 413 before anything is written', async () => {
    const body = randomBytes(MAX + 1);
    const put = await call(pb, 'PUT', '/objects/huge2', { body, headers: { 'content-length': body.length } });
    expect(put.status).toBe(413);
    expect(JSON.parse(put.body.toString()).detail).toMatch(/limited to 4194304 bytes/);
    expect(temps()).toEqual([]);
    expect((await call(pa, 'GET', '/objects/huge2')).status).toBe(404);
  });

  it('an upload aborted by the client: the temporary file is removed, nothing is stored', async () => {
    const q = request({ host: '127.0.0.1', port: pa, method: 'PUT', path: '/objects/aborted', agent: false, headers: { 'content-length': 2 * 1024 * 1024 } });
    q.on('error', () => undefined);
    q.write(randomBytes(256 * 1024));
    await waitFor(() => temps().length === 1, 'the upload to reach its temporary file');
    q.destroy();
    await waitFor(() => temps().length === 0, 'the temporary file to be removed');
    expect((await call(pb, 'GET', '/objects/aborted')).status).toBe(404);
    expect(readdirSync(dir)).not.toContain('aborted');
  });

  it.each(['..', '.', '%2e%2e', '.tmp-x', '.hidden', 'a%2Fb', 'sp%20ace', 'x'.repeat(129)])('the name %s is refused with 400, for every method', async (name) => {
    writeFileSync(join(dir, '.tmp-x'), 'a PUT in progress'); // a name that would collide with a temporary file
    for (const method of ['PUT', 'GET', 'HEAD', 'DELETE']) {
      const r = await call(pa, method, `/objects/${name}`, method === 'PUT' ? { body: Buffer.from('escape'), headers: { 'content-length': 6 } } : {});
      expect(r.status, `${method} ${name}`).toBe(400);
      if (method !== 'HEAD') expect(JSON.parse(r.body.toString())).toMatchObject({ status: 400, title: 'Bad Request' });
    }
    rmSync(join(dir, '.tmp-x'));
    expect(readdirSync(root)).toEqual(['store']); // nothing written beside the store
  });

  it('DELETE on one server, then GET on the other: 404; DELETE again: 404', async () => {
    const body = randomBytes(5000);
    expect((await call(pa, 'PUT', '/objects/doomed', { body, headers: { 'content-length': body.length } })).status).toBe(201);
    const del = await call(pa, 'DELETE', '/objects/doomed');
    expect(del.status).toBe(204);
    const get = await call(pb, 'GET', '/objects/doomed');
    expect(get.status).toBe(404);
    expect(get.headers['content-type']).toBe('application/problem+json');
    expect((await call(pb, 'DELETE', '/objects/doomed')).status).toBe(404);
  });

  it('a PUT replaces the object; other methods are 405', async () => {
    for (const [port, text] of [[pa, 'first'], [pb, 'second']] as const) {
      expect((await call(port, 'PUT', '/objects/replaced', { body: Buffer.from(text), headers: { 'content-length': text.length } })).status).toBe(201);
    }
    expect((await call(pa, 'GET', '/objects/replaced')).body.toString()).toBe('second');
    const post = await call(pa, 'POST', '/objects/replaced', { body: Buffer.from('x'), headers: { 'content-length': 1 } });
    expect(post.status).toBe(405);
  });

  it('a file in the store that is not an object: 500 with a problem saying so', async () => {
    writeFileSync(join(dir, 'foreign'), 'not written by a PUT');
    const r = await call(pb, 'GET', '/objects/foreign');
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body.toString()).detail).toMatch(/is not a prism object file/);
  });
});

describe('object server without a store directory', () => {
  const mine = (): string[] => readdirSync(tmpdir()).filter((f) => f.startsWith('prism-objects-'));

  it('keeps objects in a private temporary directory, removed when the server closes', async () => {
    const before = new Set(mine());
    const s = createObjectServer({ name: 'alone' });
    const created = mine().filter((f) => !before.has(f));
    expect(created).toHaveLength(1);
    try {
      const port = await listen(s);
      const body = randomBytes(300_000);
      expect((await call(port, 'PUT', '/objects/x', { body, headers: { 'content-length': body.length } })).status).toBe(201);
      expect(sha((await call(port, 'GET', '/objects/x')).body)).toBe(sha(body));
    } finally {
      await close(s);
    }
    expect(mine()).not.toContain(created[0]);
  });

  it('a private directory left by a process that is gone is removed by the next private store', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // exited: its pid names no process
    const orphan = join(tmpdir(), `prism-objects-${dead}-AbC123`);
    mkdirSync(join(orphan, 'sub'), { recursive: true });
    writeFileSync(join(orphan, 'left'), 'by a killed server');
    const s = createObjectServer({ name: 'next' });
    try {
      expect(existsSync(orphan)).toBe(false);
      expect(mine().some((f) => f.startsWith(`prism-objects-${process.pid}-`))).toBe(true); // its own stays
    } finally {
      await close(s);
    }
  });
});
