/**
 * The built-in object server a backend runs behind prism (and a plain HTTP server on its own):
 *   GET /bytes/<n>?seed=<s>   n deterministic bytes (agent/bytes.ts documents the generator)
 *   PUT/GET/DELETE /objects/<name>   store, fetch, delete an object (kept in memory)
 *   GET /health
 * Every response carries `X-Backend: <name>`; bodies carry `X-Content-SHA256` (hex) so a client
 * can check what it received.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ByteStream, DEFAULT_SEED, deterministicSha256 } from './bytes.js';

export const MAX_BYTES = 4 * 1024 ** 3; // 4 GiB
const CHUNK = 256 * 1024;

export interface ObjectServerOptions {
  /** Name reported in X-Backend. */
  readonly name: string;
  /** Largest object PUT accepts (bytes). */
  readonly maxObjectBytes?: number;
}

export function createObjectServer(opts: ObjectServerOptions): Server {
  const objects = new Map<string, { body: Buffer; sha256: string }>();
  const maxObject = opts.maxObjectBytes ?? 1024 ** 3;
  const shaCache = new Map<string, string>();

  const problem = (res: ServerResponse, status: number, title: string, detail: string): void => {
    const body = JSON.stringify({ type: 'about:blank', title, status, detail });
    res.writeHead(status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body), 'x-backend': opts.name });
    res.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://backend');
    const bytes = /^\/bytes\/(\d+)$/.exec(url.pathname);
    if (bytes) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return problem(res, 405, 'Method Not Allowed', 'use GET or HEAD on /bytes/<n>');
      const n = Number(bytes[1]);
      const seedText = url.searchParams.get('seed');
      const seed = seedText === null ? DEFAULT_SEED : Number(seedText);
      if (!Number.isSafeInteger(n) || n > MAX_BYTES) return problem(res, 400, 'Bad Request', `size must be at most ${MAX_BYTES}`);
      if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) return problem(res, 400, 'Bad Request', 'seed must be an integer in 0..4294967295');
      const key = `${n}:${seed}`;
      let sha = shaCache.get(key);
      if (!sha) {
        sha = deterministicSha256(n, seed);
        if (shaCache.size > 1024) shaCache.clear();
        shaCache.set(key, sha);
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n, 'x-backend': opts.name, 'x-content-sha256': sha });
      if (req.method === 'HEAD') return void res.end();
      const stream = new ByteStream(seed);
      // A body that fits one chunk goes out with the head in one write (no small head segment
      // for Nagle to hold behind a delayed ACK).
      if (n <= CHUNK) return void res.end(stream.next(n));
      let left = n;
      const pump = (): void => {
        while (left > 0) {
          const len = Math.min(CHUNK, left);
          left -= len;
          if (!res.write(stream.next(len))) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    const obj = /^\/objects\/([A-Za-z0-9._-]{1,128})$/.exec(url.pathname);
    if (obj) {
      const name = obj[1]!;
      if (req.method === 'PUT') {
        const h = createHash('sha256');
        const parts: Buffer[] = [];
        let size = 0;
        let tooBig = false;
        req.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxObject) tooBig = true;
          if (!tooBig) {
            parts.push(c);
            h.update(c);
          }
        });
        req.on('end', () => {
          if (tooBig) return problem(res, 413, 'Content Too Large', `objects are limited to ${maxObject} bytes`);
          const sha256 = h.digest('hex');
          objects.set(name, { body: Buffer.concat(parts), sha256 });
          res.writeHead(201, { 'x-backend': opts.name, 'x-content-sha256': sha256, 'content-length': 0 });
          res.end();
        });
        return;
      }
      const o = objects.get(name);
      if (!o) return problem(res, 404, 'Not Found', `no object ${name}`);
      if (req.method === 'GET' || req.method === 'HEAD') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': o.body.length, 'x-backend': opts.name, 'x-content-sha256': o.sha256 });
        return void res.end(req.method === 'HEAD' ? undefined : o.body);
      }
      if (req.method === 'DELETE') {
        objects.delete(name);
        res.writeHead(204, { 'x-backend': opts.name });
        return void res.end();
      }
      return problem(res, 405, 'Method Not Allowed', 'use PUT, GET, HEAD or DELETE on /objects/<name>');
    }
    if (url.pathname === '/health') {
      const body = JSON.stringify({ status: 'ok', backend: opts.name });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-backend': opts.name });
      return void res.end(body);
    }
    problem(res, 404, 'Not Found', `no route for ${req.method} ${url.pathname}`);
  };

  const server = createServer({ keepAliveTimeout: 60_000 }, handle);
  return server;
}
