/**
 * The REST admin API (fastify 5). Every route has a JSON Schema for its input and its output;
 * the OpenAPI document is generated from them (GET /openapi.json). Every error is RFC 9457
 * application/problem+json, including schema errors (400), unknown routes and ids (404), a
 * missing or wrong token (401). Mutating routes (POST, PUT, PATCH, DELETE) need the bearer
 * token; reads are open unless `protectReads`.
 *
 *   const api = await createAdminApi({ target, token });   // token omitted → generated: print api.token once
 *   await api.app.listen({ host: '127.0.0.1', port: 9090 });
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import type { Static } from '@sinclair/typebox';
import { PrismError } from '../../core/errors.js';
import type { AdminTarget, HandoffEvent } from './admin-target.js';
import { generateToken, TokenCheck } from './auth.js';
import { DASHBOARD_HTML } from './dashboard.js';
import { AdminMetrics, RateSampler } from './metrics.js';
import { PROBLEM_CONTENT_TYPE, problem, statusOf } from './problem.js';
import * as S from './schemas.js';

export interface AdminApiOptions {
  readonly target: AdminTarget;
  /** The bearer token. Omitted: one is generated (`generatedToken` is then true: print it once). */
  readonly token?: string;
  /** Require the token on reads too (the dashboard then asks for it). */
  readonly protectReads?: boolean;
  /** fastify logger: false, or pino options (the Authorization header is always redacted). */
  readonly logger?: false | Record<string, unknown>;
  /** Sampling interval of the rate chart and the PacketIn rate (ms). */
  readonly rateIntervalMs?: number;
}

export interface AdminApi {
  readonly app: FastifyInstance;
  readonly token: string;
  readonly generatedToken: boolean;
  readonly rate: RateSampler;
  readonly metrics: AdminMetrics;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const PUBLIC_PATHS = new Set(['/health', '/metrics', '/openapi.json', '/dashboard']);
/** Paths of the pino log object that may hold a credential. */
export const REDACT_PATHS = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'authorization', 'token', '*.token', 'body.token'];

export async function createAdminApi(opts: AdminApiOptions): Promise<AdminApi> {
  const target = opts.target;
  const token = opts.token ?? generateToken();
  const check = new TokenCheck(token);
  const loggerOpts: FastifyServerOptions['logger'] =
    opts.logger === false
      ? false
      : {
          level: process.env.PRISM_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info'),
          ...opts.logger,
          redact: { paths: REDACT_PATHS, censor: '[redacted]' },
          serializers: {
            req: (req: FastifyRequest) => ({ method: req.method, url: req.url, remoteAddress: req.ip, headers: req.headers }),
          },
        };
  const app = Fastify({
    logger: loggerOpts,
    bodyLimit: 1 << 20,
    ajv: { customOptions: { removeAdditional: false, allErrors: true, coerceTypes: 'array', useDefaults: true } },
  });

  const rate = new RateSampler(target, opts.rateIntervalMs ?? 1000);
  const metrics = new AdminMetrics(target, rate);
  const unsubscribe = target.onHandoff((e: HandoffEvent) => {
    rate.record(e);
    metrics.observe(e);
  });
  app.addHook('onClose', async () => {
    unsubscribe();
    rate.close();
  });

  // JSON only: a text/plain body is 415, not a string to validate.
  app.removeContentTypeParser('text/plain');
  app.addSchema(S.Problem);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'prism admin API', version: '1', description: 'Backends, connections, policies, buckets, switch tables, health and metrics of a prism controller.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });

  // ---------------------------------------------------------------- errors as problem+json

  const sendProblem = (reply: FastifyReply, req: FastifyRequest, status: number, code: string, detail: string, extra: Record<string, unknown> = {}): FastifyReply =>
    reply.code(status).type(PROBLEM_CONTENT_TYPE).send(problem(status, code, detail, { instance: req.url, ...extra }));

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation) {
      const errors = err.validation.map((v) => ({ path: `${err.validationContext ?? ''}${v.instancePath || ''}` || '/', message: v.message ?? 'is invalid' }));
      return sendProblem(reply, req, 400, 'validation', err.message, { errors });
    }
    if (err instanceof PrismError) {
      const { status, code } = statusOf(err);
      if (status >= 500) req.log.error({ err }, 'admin request failed');
      return sendProblem(reply, req, status, code, err.message);
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return sendProblem(reply, req, err.statusCode, (err.code ?? 'bad_request').toLowerCase(), err.message);
    }
    req.log.error({ err }, 'admin request failed');
    return sendProblem(reply, req, 500, 'internal', 'internal error (see the controller log)');
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, req, 404, 'no_route', `no route ${req.method} ${req.url.split('?')[0]}`));

  // ---------------------------------------------------------------- auth

  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    const needs = MUTATING.has(req.method) || (opts.protectReads === true && !PUBLIC_PATHS.has(path));
    if (!needs || check.accepts(req.headers.authorization)) return;
    reply.header('WWW-Authenticate', 'Bearer realm="prism-admin"');
    const detail = req.headers.authorization ? 'the bearer token is not valid' : 'this route needs an Authorization: Bearer token';
    await sendProblem(reply, req, 401, 'unauthorized', detail);
  });

  const secured = [{ bearer: [] as string[] }];
  const notFound = (what: string): never => {
    throw new PrismError('PRISM_ERR_NOT_FOUND', what);
  };
  const backendOrThrow = (name: string): ReturnType<AdminTarget['listBackends']>[number] =>
    target.listBackends().find((b) => b.name === name) ?? notFound(`no backend named ${name}`);

  // ---------------------------------------------------------------- meta

  app.get('/health', { schema: { tags: ['meta'], summary: 'Health of the controller, the switch and the backends', response: { 200: S.Health, ...S.errors(500) } } }, async () => target.health());

  app.get(
    '/metrics',
    { schema: { tags: ['meta'], summary: 'Prometheus metrics (text exposition format)', response: { 200: { type: 'string' }, ...S.errors(500) } } },
    async (_req, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );

  app.get('/openapi.json', { schema: { tags: ['meta'], summary: 'This API as an OpenAPI 3.1 document', response: { 200: { type: 'object', additionalProperties: true } } } }, async () =>
    app.swagger(),
  );

  app.get('/dashboard', { schema: { tags: ['meta'], summary: 'Live dashboard (HTML)', response: { 200: { type: 'string' } } } }, async (_req, reply) => {
    reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-store');
    return DASHBOARD_HTML;
  });

  app.get('/', { schema: { hide: true, response: { 302: { type: 'null' } } } }, async (_req, reply) => reply.redirect('/dashboard'));

  app.get('/stats/rate', { schema: { tags: ['meta'], summary: 'Hand-offs per interval (the dashboard chart) and the PacketIn rate', response: { 200: S.Rate } } }, async () => ({
    intervalMs: rate.intervalMs,
    handoffsPerInterval: rate.points(),
    packetInsPerSecond: rate.packetInsPerSecond,
    transactionsInFlight: target.stats().transactionsInFlight,
    connections: target.listConnections().length,
  }));

  app.get<{ Querystring: Static<typeof S.LimitQuery> }>(
    '/handoffs',
    { schema: { tags: ['connections'], summary: 'Recent finished hand-offs, most recent first', querystring: S.LimitQuery, response: { 200: { type: 'array', items: S.Handoff }, ...S.errors(400) } } },
    async (req) => target.recentHandoffs(req.query.limit ?? 50),
  );

  // ---------------------------------------------------------------- backends

  app.get('/backends', { schema: { tags: ['backends'], summary: 'List backends with their load', response: { 200: { type: 'array', items: S.Backend } } } }, async () => target.listBackends());

  app.get<{ Params: Static<typeof S.NameParams> }>(
    '/backends/:name',
    { schema: { tags: ['backends'], summary: 'One backend', params: S.NameParams, response: { 200: S.Backend, ...S.errors(400, 404) } } },
    async (req) => backendOrThrow(req.params.name),
  );

  app.post<{ Body: Static<typeof S.NewBackend> }>(
    '/backends',
    { schema: { tags: ['backends'], summary: 'Add a backend', security: secured, body: S.NewBackend, response: { 201: S.Backend, ...S.errors(400, 401, 409) } } },
    async (req, reply) => {
      const b = await target.addBackend(req.body);
      req.log.info({ backend: b.name }, 'backend added');
      return reply.code(201).header('Location', `/backends/${encodeURIComponent(b.name)}`).send(b);
    },
  );

  app.post<{ Params: Static<typeof S.NameParams> }>(
    '/backends/:name/drain',
    { schema: { tags: ['backends'], summary: 'Drain: no new transaction starts on it; in-flight ones finish', security: secured, params: S.NameParams, response: { 200: S.Backend, ...S.errors(400, 401, 404) } } },
    async (req) => {
      const b = target.setDraining(req.params.name, true);
      req.log.info({ backend: b.name }, 'backend draining');
      return b;
    },
  );

  app.post<{ Params: Static<typeof S.NameParams> }>(
    '/backends/:name/resume',
    { schema: { tags: ['backends'], summary: 'End a drain: the backend takes new transactions again', security: secured, params: S.NameParams, response: { 200: S.Backend, ...S.errors(400, 401, 404) } } },
    async (req) => target.setDraining(req.params.name, false),
  );

  app.put<{ Params: Static<typeof S.NameParams>; Body: Static<typeof S.WeightBody> }>(
    '/backends/:name/weight',
    { schema: { tags: ['backends'], summary: "Set the backend's weight (0 = no new transactions)", security: secured, params: S.NameParams, body: S.WeightBody, response: { 200: S.Backend, ...S.errors(400, 401, 404) } } },
    async (req) => target.setWeight(req.params.name, req.body.weight),
  );

  app.delete<{ Params: Static<typeof S.NameParams> }>(
    '/backends/:name',
    { schema: { tags: ['backends'], summary: 'Remove a backend with no transaction in flight (409 otherwise: drain it first)', security: secured, params: S.NameParams, response: { 204: { type: 'null' }, ...S.errors(400, 401, 404, 409) } } },
    async (req, reply) => {
      await target.removeBackend(req.params.name);
      req.log.info({ backend: req.params.name }, 'backend removed');
      return reply.code(204).send();
    },
  );

  // ---------------------------------------------------------------- connections

  app.get<{ Querystring: Static<typeof S.ConnectionsQuery> }>(
    '/connections',
    { schema: { tags: ['connections'], summary: 'Client connections with state, owner and bytes', querystring: S.ConnectionsQuery, response: { 200: { type: 'array', items: S.Connection }, ...S.errors(400) } } },
    async (req) => target.listConnections().filter((c) => (req.query.state === undefined || c.state === req.query.state) && (req.query.owner === undefined || c.owner === req.query.owner)),
  );

  app.get<{ Params: Static<typeof S.IdParams> }>(
    '/connections/:id',
    { schema: { tags: ['connections'], summary: 'One connection with its transactions', params: S.IdParams, response: { 200: S.ConnectionDetail, ...S.errors(400, 404) } } },
    async (req) => target.connection(req.params.id) ?? notFound(`no connection ${req.params.id}`),
  );

  app.post<{ Params: Static<typeof S.IdParams>; Body: Static<typeof S.ForceBody> }>(
    '/connections/:id/force',
    {
      schema: {
        tags: ['connections'],
        summary: 'Force the next transaction of this connection to a backend',
        security: secured,
        params: S.IdParams,
        body: S.ForceBody,
        response: { 202: { type: 'object', properties: { connId: { type: 'string' }, backend: { type: 'string' } }, required: ['connId', 'backend'] }, ...S.errors(400, 401, 404, 409) },
      },
    },
    async (req, reply) => {
      if (!target.connection(req.params.id)) notFound(`no connection ${req.params.id}`);
      const b = backendOrThrow(req.body.backend);
      if (!b.up || b.draining || b.weight === 0) throw new PrismError('PRISM_ERR_ALREADY_EXISTS', `backend ${b.name} cannot take new transactions (${!b.up ? 'down' : b.draining ? 'draining' : 'weight 0'})`);
      target.forceNext(req.params.id, b.name);
      return reply.code(202).send({ connId: req.params.id, backend: b.name });
    },
  );

  // ---------------------------------------------------------------- policies

  const engine = target.policies;
  app.get('/policies', { schema: { tags: ['policies'], summary: 'Installed policies, the active one, the built-ins and fault counts', response: { 200: S.PolicyList } } }, async () => ({
    active: engine.activeId,
    policies: engine.list(),
    builtins: engine.builtins(),
    stats: engine.stats,
  }));

  app.get<{ Params: Static<typeof S.PolicyParams> }>(
    '/policies/:id',
    { schema: { tags: ['policies'], summary: 'One installed policy', params: S.PolicyParams, response: { 200: S.PolicyInfo, ...S.errors(400, 404) } } },
    async (req) => engine.get(req.params.id),
  );

  app.post<{ Body: S.InstallPolicyBody }>(
    '/policies',
    {
      schema: {
        tags: ['policies'],
        summary: 'Install a policy (a built-in by name, or a module file); refused with the reason when it fails validation',
        security: secured,
        body: S.InstallPolicy,
        response: { 201: S.PolicyInfo, ...S.errors(400, 401, 409, 422) },
      },
    },
    async (req, reply) => {
      const { activate, ...spec } = req.body;
      let info = await engine.install(spec);
      if (activate) info = engine.activate(info.id);
      return reply.code(201).header('Location', `/policies/${info.id}`).send(info);
    },
  );

  app.post<{ Params: Static<typeof S.PolicyParams> }>(
    '/policies/:id/activate',
    { schema: { tags: ['policies'], summary: 'Make a policy active (live connections are replayed into it; none is dropped)', security: secured, params: S.PolicyParams, response: { 200: S.PolicyInfo, ...S.errors(400, 401, 404) } } },
    async (req) => engine.activate(req.params.id),
  );

  app.delete<{ Params: Static<typeof S.PolicyParams> }>(
    '/policies/:id',
    { schema: { tags: ['policies'], summary: 'Uninstall an inactive policy', security: secured, params: S.PolicyParams, response: { 204: { type: 'null' }, ...S.errors(400, 401, 404, 409) } } },
    async (req, reply) => {
      engine.remove(req.params.id);
      return reply.code(204).send();
    },
  );

  // ---------------------------------------------------------------- buckets

  app.get<{ Querystring: Static<typeof S.BucketsQuery> }>(
    '/buckets',
    { schema: { tags: ['buckets'], summary: "The active (or named) policy's bucket map; ?key= shows where a key goes", querystring: S.BucketsQuery, response: { 200: S.Buckets, ...S.errors(400, 404, 409) } } },
    async (req) => {
      const { policy, map } = engine.buckets(req.query.policy);
      const out: Static<typeof S.Buckets> = { policy, key: map.key, count: map.count, buckets: [...map.buckets] };
      if (req.query.key !== undefined) {
        const bucket = engine.keyBucket(req.query.key, policy);
        if (bucket !== null) out.lookup = { key: req.query.key, bucket, backend: map.buckets[bucket] ?? null };
      }
      return out;
    },
  );

  app.post<{ Body: Static<typeof S.MovesBody> }>(
    '/buckets/moves',
    { schema: { tags: ['buckets'], summary: 'Move buckets to backends', security: secured, body: S.MovesBody, response: { 200: S.Moves, ...S.errors(400, 401, 404, 409) } } },
    async (req) => {
      const { policy, map } = engine.buckets(req.body.policy);
      for (const m of req.body.moves) {
        if (m.bucket >= map.count) throw new PrismError('PRISM_ERR_INVALID_ARGUMENT', `bucket ${m.bucket} is outside 0..${map.count - 1}`);
        backendOrThrow(m.to);
      }
      const after = engine.moveBuckets(req.body.moves, policy);
      req.log.info({ policy, moves: req.body.moves.length }, 'buckets moved');
      return { policy, moves: req.body.moves, map: { key: after.map.key, count: after.map.count, buckets: [...after.map.buckets] } };
    },
  );

  app.post<{ Body: Static<typeof S.RebalanceBody> }>(
    '/buckets/rebalance',
    {
      schema: {
        tags: ['buckets'],
        summary: 'Spread the buckets evenly over the named backends (default: every eligible one) with the fewest moves',
        security: secured,
        body: S.RebalanceBody,
        response: { 200: S.Moves, ...S.errors(400, 401, 404, 409) },
      },
    },
    async (req) => {
      const names = req.body.backends ?? target.listBackends().filter((b) => b.up && !b.draining && b.weight > 0).map((b) => b.name);
      for (const n of names) backendOrThrow(n);
      if (names.length === 0) throw new PrismError('PRISM_ERR_ALREADY_EXISTS', 'no eligible backend to rebalance onto');
      const r = engine.rebalance(names, req.body.policy);
      return { policy: r.policy, moves: r.moves, map: { key: r.map.key, count: r.map.count, buckets: [...r.map.buckets] } };
    },
  );

  // ---------------------------------------------------------------- switch tables

  app.get<{ Querystring: Static<typeof S.TablesQuery> }>(
    '/tables',
    { schema: { tags: ['switch'], summary: 'Table entries read back from the switch through P4Runtime', querystring: S.TablesQuery, response: { 200: { type: 'array', items: S.TableEntry }, ...S.errors(400, 404, 503) } } },
    async (req) => target.readTables(req.query.table),
  );

  return { app, token, generatedToken: opts.token === undefined, rate, metrics };
}
