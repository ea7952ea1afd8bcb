/**
 * JSON Schemas of the admin API (TypeBox builds plain JSON Schema objects; fastify validates
 * requests with them and serialises responses with them; @fastify/swagger turns them into the
 * OpenAPI document). Every object is closed (additionalProperties: false) on input.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'A backend or policy name' });
export const ConnId = Type.String({ pattern: '^[A-Za-z0-9.:_~-]{1,128}$', description: 'Connection id: clientIp:port-vipIp:port' });
const Ipv4 = Type.String({ format: 'ipv4' });
const Mac = Type.String({ pattern: '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$' });
const HostPort = Type.String({ pattern: '^[A-Za-z0-9.-]+:[0-9]{1,5}$', description: 'host:port' });
const Weight = Type.Integer({ minimum: 0, maximum: 1000 });

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    code: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', additionalProperties: true, description: 'RFC 9457 problem details (application/problem+json)' },
);
export const ProblemRef = Type.Unsafe<Static<typeof Problem>>(Type.Ref('Problem'));

export const Load = Type.Object({
  activeTransactions: Type.Number(),
  recentThroughputBps: Type.Number(),
  queueLength: Type.Number(),
});

export const Backend = Type.Object({
  name: Type.String(),
  ip: Type.String(),
  mac: Type.String(),
  port: Type.Integer(),
  agentAddress: Type.String(),
  up: Type.Boolean(),
  draining: Type.Boolean(),
  weight: Type.Integer(),
  load: Load,
  activeTransactions: Type.Integer(),
  served: Type.Integer(),
});

export const NewBackend = Type.Object(
  {
    name: Name,
    ip: Ipv4,
    mac: Mac,
    port: Type.Integer({ minimum: 0, maximum: 511, description: 'Switch port' }),
    agentAddress: HostPort,
    token: Type.Optional(Type.String({ minLength: 16, maxLength: 256, description: "The agent's shared token (write-only)" })),
    weight: Type.Optional(Weight),
  },
  { additionalProperties: false },
);

export const WeightBody = Type.Object({ weight: Weight }, { additionalProperties: false });

export const Transaction = Type.Object({
  id: Type.String(),
  connId: Type.String(),
  backend: Type.String(),
  state: Type.String(),
  outcome: Type.Union([Type.String(), Type.Null()]),
  method: Type.String(),
  target: Type.String(),
  startedAtMs: Type.Number(),
  durationMs: Type.Union([Type.Number(), Type.Null()]),
  bytesSent: Type.Union([Type.Number(), Type.Null()]),
  policy: Type.Union([Type.String(), Type.Null()]),
  decidedBy: Type.Union([Type.String(), Type.Null()]),
  /** Served on the previous transaction's socket and rules (speculative rule caching). */
  cached: Type.Boolean(),
});

const connectionFields = {
  id: Type.String(),
  client: Type.String(),
  vip: Type.String(),
  state: Type.String(),
  owner: Type.String({ description: "'controller' or the backend serving it now" }),
  bytesIn: Type.Number(),
  bytesOut: Type.Number(),
  transactions: Type.Integer(),
  openedAtMs: Type.Number(),
  forcedNext: Type.Union([Type.String(), Type.Null()]),
};
export const Connection = Type.Object(connectionFields);
export const ConnectionDetail = Type.Object({ ...connectionFields, transactionList: Type.Array(Transaction) });

export const ConnectionsQuery = Type.Object(
  { state: Type.Optional(Type.String({ maxLength: 32 })), owner: Type.Optional(Type.String({ maxLength: 64 })) },
  { additionalProperties: false },
);

export const ForceBody = Type.Object({ backend: Name }, { additionalProperties: false });

const Json = Type.Unknown();
export const PolicyInfo = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('builtin'), Type.Literal('module')]),
  source: Type.String(),
  config: Json,
  description: Type.String(),
  active: Type.Boolean(),
  suspended: Type.Union([Type.String(), Type.Null()]),
  sandboxed: Type.Boolean(),
  hasBuckets: Type.Boolean(),
  stateBytes: Type.Union([Type.Integer(), Type.Null()]),
  installedAtMs: Type.Number(),
  stats: Type.Object({
    calls: Type.Integer(),
    decisions: Type.Integer(),
    faults: Type.Record(Type.String(), Type.Integer()),
    consecutiveFaults: Type.Integer(),
    lastFault: Type.Union([Type.Object({ kind: Type.String(), message: Type.String(), atMs: Type.Number() }), Type.Null()]),
    maxCallMs: Type.Number(),
  }),
});

export const PolicyList = Type.Object({
  active: Type.String(),
  policies: Type.Array(PolicyInfo),
  builtins: Type.Array(Type.Object({ name: Type.String(), description: Type.String(), configSchema: Json })),
  stats: Type.Object({
    decisions: Type.Integer(),
    bySource: Type.Record(Type.String(), Type.Integer()),
    faults: Type.Record(Type.String(), Type.Integer()),
    swaps: Type.Integer(),
    suspensions: Type.Integer(),
    rejects: Type.Integer(),
  }),
});

export const InstallPolicy = Type.Union(
  [
    Type.Object(
      { id: Type.Optional(Name), builtin: Type.String({ minLength: 1, maxLength: 64 }), config: Type.Optional(Json), activate: Type.Optional(Type.Boolean()) },
      { additionalProperties: false },
    ),
    Type.Object(
      { id: Type.Optional(Name), module: Type.String({ minLength: 1, maxLength: 4096, description: 'Path of a .js/.mjs policy module on the controller host' }), config: Type.Optional(Json), activate: Type.Optional(Type.Boolean()) },
      { additionalProperties: false },
    ),
  ],
  { description: 'A built-in policy by name, or a module file, with its config' },
);
export type InstallPolicyBody = Static<typeof InstallPolicy>;

export const BucketsQuery = Type.Object(
  { policy: Type.Optional(Name), key: Type.Optional(Type.String({ maxLength: 8192, description: 'Shows which bucket this key falls in' })) },
  { additionalProperties: false },
);
export const Buckets = Type.Object({
  policy: Type.String(),
  key: Type.String(),
  count: Type.Integer(),
  buckets: Type.Array(Type.Union([Type.String(), Type.Null()])),
  lookup: Type.Optional(Type.Object({ key: Type.String(), bucket: Type.Integer(), backend: Type.Union([Type.String(), Type.Null()]) })),
});
export const MovesBody = Type.Object(
  {
    policy: Type.Optional(Name),
    moves: Type.Array(Type.Object({ bucket: Type.Integer({ minimum: 0, maximum: 65535 }), to: Name }, { additionalProperties: false }), { minItems: 1, maxItems: 65536 }),
  },
  { additionalProperties: false },
);
export const RebalanceBody = Type.Object(
  { policy: Type.Optional(Name), backends: Type.Optional(Type.Array(Name, { minItems: 1, maxItems: 1024 })) },
  { additionalProperties: false },
);
export const Moves = Type.Object({
  policy: Type.String(),
  moves: Type.Array(Type.Object({ bucket: Type.Integer(), to: Type.String() })),
  map: Type.Object({ key: Type.String(), count: Type.Integer(), buckets: Type.Array(Type.Union([Type.String(), Type.Null()])) }),
});

export const TablesQuery = Type.Object({ table: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.]{1,128}$' })) }, { additionalProperties: false });
export const TableEntry = Type.Object({
  table: Type.String(),
  match: Type.Record(Type.String(), Json),
  action: Type.Union([Type.String(), Type.Null()]),
  params: Type.Record(Type.String(), Json),
  priority: Type.Union([Type.Integer(), Type.Null()]),
});

export const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('down')]),
  switch: Type.Object({ connected: Type.Boolean(), primary: Type.Boolean(), address: Type.String() }),
  backendsUp: Type.Integer(),
  backendsTotal: Type.Integer(),
  uptimeSeconds: Type.Number(),
});

export const Handoff = Type.Object({
  tx: Type.String(),
  connId: Type.String(),
  backend: Type.String(),
  outcome: Type.String(),
  atMs: Type.Number(),
  durationMs: Type.Number(),
  bytesSent: Type.Union([Type.Number(), Type.Null()]),
  policy: Type.Union([Type.String(), Type.Null()]),
  /** Served on the previous transaction's socket and rules (speculative rule caching). */
  cached: Type.Boolean(),
});
export const LimitQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })) }, { additionalProperties: false });

export const Rate = Type.Object({
  intervalMs: Type.Integer(),
  handoffsPerInterval: Type.Array(Type.Object({ atMs: Type.Number(), done: Type.Integer(), failed: Type.Integer() })),
  packetInsPerSecond: Type.Number(),
  transactionsInFlight: Type.Integer(),
  connections: Type.Integer(),
});

export const NameParams = Type.Object({ name: Name }, { additionalProperties: false });
export const IdParams = Type.Object({ id: ConnId }, { additionalProperties: false });
export const PolicyParams = Type.Object({ id: Name }, { additionalProperties: false });

/** The error responses every route may give. */
export function errors(...codes: number[]): Record<number, TSchema> {
  return Object.fromEntries(codes.map((c) => [c, ProblemRef]));
}
