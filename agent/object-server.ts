/**
 * The built-in object server a backend runs behind prism (and a plain HTTP server on its own):
 *   GET /bytes/<n>?seed=<s>   n deterministic bytes (agent/bytes.ts documents the generator);
 *                             `&close=1` answers with `Connection: close` (the server ends the
 *                             connection after the response, whatever the request asked)
 *   PUT/GET/HEAD/DELETE /objects/<name>   store, fetch, delete an object (agent/object-store.ts:
 *                             files in a directory every backend of a deployment shares)
 *   GET /health
 * Every response carries `X-Backend: <name>`; bodies carry `X-Content-SHA256` (hex) so a client
 * can check what it received.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { finished, pipeline } from 'node:stream/promises';
import { ByteStream, DEFAULT_SEED, deterministicSha256 } from './bytes.js';
import { errnoCode, ObjectStore, objectNameProblem } from './object-store.js';

export const MAX_BYTES = 4 * 1024 ** 3; // 4 GiB
const CHUNK = 256 * 1024;

export interface ObjectServerOptions {
  /** Name reported in X-Backend. */
  readonly name: string;
  /**
   * Directory of the objects, shared by every backend of a deployment (created, mode 0700, when
   * missing). Default: a private temporary directory, removed when the server closes or the
   * process exits.
   */
  readonly storeDir?: string;
  /** Largest object PUT accepts (bytes). */
  readonly maxObjectBytes?: number;
}

export function createObjectServer(opts: ObjectServerOptions): Server {
  const store = opts.storeDir === undefined ? ObjectStore.private() : ObjectStore.shared(opts.storeDir);
  const maxObject = opts.maxObjectBytes ?? 1024 ** 3;
  const shaCache = new Map<string, string>();

  const problem = (res: ServerResponse, status: number, title: string, detail: string): void => {
    if (res.headersSent) return void res.destroy();
    const body = JSON.stringify({ type: 'about:blank', title, status, detail });
    res.writeHead(status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body), 'x-backend': opts.name });
    res.end(body);
  };

  /** /objects/<name>: the store (agent/object-store.ts) over HTTP. */
  const objectRoute = async (req: IncomingMessage, res: ServerResponse, rawName: string): Promise<void> => {
    const method = req.method ?? '';
    if (!['PUT', 'GET', 'HEAD', 'DELETE'].includes(method)) {
      await drain(req);
      return problem(res, 405, 'Method Not Allowed', 'use PUT, GET, HEAD or DELETE on /objects/<name>');
    }
    let name: string;
    try {
      name = decodeURIComponent(rawName);
    } catch {
      name = rawName; // not valid percent-encoding: refused below as a bad name
    }
    const bad = objectNameProblem(name);
    if (bad) {
      await drain(req);
      return problem(res, 400, 'Bad Request', `${JSON.stringify(name)}: ${bad}`);
    }
    if (method === 'PUT') {
      const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
      // Read the body to its end before answering, whatever the answer: behind prism the agent hands
      // the connection back after the response, and body bytes left unread would be taken for the
      // next request.
      if (declared !== null && declared > maxObject) {
        await drain(req);
        return problem(res, 413, 'Content Too Large', `objects are limited to ${maxObject} bytes, this one has ${declared}`);
      }
      const out = await store.put(name, req, maxObject);
      if (out.kind === 'aborted') return void res.destroy(); // the client is gone: nobody to answer
      if (out.kind === 'too-large') return problem(res, 413, 'Content Too Large', `objects are limited to ${out.limit} bytes`);
      res.writeHead(201, { 'x-backend': opts.name, 'x-content-sha256': out.sha256, 'content-length': 0 });
      return void res.end();
    }
    await drain(req); // GET, HEAD and DELETE take no body; one sent anyway is read and dropped
    if (method === 'DELETE') {
      if (!(await store.delete(name))) return problem(res, 404, 'Not Found', `no object ${name}`);
      res.writeHead(204, { 'x-backend': opts.name });
      return void res.end();
    }
    const o = await store.get(name);
    if (!o) return problem(res, 404, 'Not Found', `no object ${name}`);
    const head = { 'content-type': 'application/octet-stream', 'content-length': o.size, 'x-backend': opts.name, 'x-content-sha256': o.sha256 };
    if (method === 'HEAD' || o.size === 0) {
      await o.close();
      res.writeHead(200, head);
      return void res.end();
    }
    // As for /bytes: a body that fits one chunk goes out with the head in one write.
    if (o.size <= CHUNK) {
      const body = await o.readAll();
      res.writeHead(200, head);
      return void res.end(body);
    }
    res.writeHead(200, head);
    // A client that goes away mid-body ends the pipeline with an error; the file is closed either way.
    await pipeline(o.stream(CHUNK), res).catch(() => undefined);
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
      const close = url.searchParams.get('close') === '1' ? { connection: 'close' } : {};
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n, 'x-backend': opts.name, 'x-content-sha256': sha, ...close });
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
    // Matched on the path as sent: URL parsing would resolve '/objects/..' to '/' before the name
    // check could refuse it.
    const obj = /^\/objects\/([^/?#]*)(?:[?#]|$)/.exec(req.url?.startsWith('/') ? req.url : url.pathname);
    if (obj) {
      objectRoute(req, res, obj[1]!).catch((err: unknown) => {
        // A storage failure (EIO, EACCES, a foreign file in the store): answered when nothing was
        // sent yet, else the response is cut short (problem() destroys it).
        const code = errnoCode(err);
        if (code === 'ENOSPC' || code === 'EDQUOT') return problem(res, 507, 'Insufficient Storage', `the object store ${store.dir} is full`);
        problem(res, 500, 'Internal Server Error', `object store ${store.dir}: ${err instanceof Error ? err.message : String(err)}`);
      });
      return;
    }
    if (url.pathname === '/health') {
      const body = JSON.stringify({ status: 'ok', backend: opts.name });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-backend': opts.name });
      return void res.end(body);
    }
    problem(res, 404, 'Not Found', `no route for ${req.method} ${url.pathname}`);
  };

  const server = createServer({ keepAliveTimeout: 60_000 }, handle);
  server.once('close', () => store.dispose());
  return server;
}

/** Reads a request body to its end and drops it (resolves also when the client goes away). */
async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded) return;
  req.resume();
  await finished(req).catch(() => undefined); // a client that went away gets no answer anyway
}
