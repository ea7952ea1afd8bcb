/**
 * Adapters from the controller's live objects to the plain data a policy sees. The controller
 * (HandoffManager) calls these; policies never see an HttpRequest or a TcpConnection.
 */
import type { HttpRequest } from '../http/intake.js';
import type { TcpConnection } from '../tcp/connection.js';
import type { PolicyConn, PolicyRequest } from './alrm.js';

/** The request as a policy sees it: lower-case header names, repeated fields joined with ", ". */
export function toPolicyRequest(req: HttpRequest): PolicyRequest {
  const headers: Record<string, string> = {};
  for (const [n, v] of req.head.headers) headers[n] = n in headers ? `${headers[n]}, ${v}` : v;
  const target = req.head.target;
  const q = target.indexOf('?');
  return {
    method: req.head.method,
    target,
    path: q < 0 ? target : target.slice(0, q),
    headers,
    contentLength: req.head.contentLength,
  };
}

type ConnAddresses = Pick<TcpConnection, 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort'>;

/** Stable id of a connection: `clientIp:port-vipIp:port` (URL-safe). */
export function connectionId(conn: ConnAddresses): string {
  return `${conn.remoteAddress}:${conn.remotePort}-${conn.localAddress}:${conn.localPort}`;
}

export function toPolicyConn(conn: ConnAddresses, openedAtMs: number): PolicyConn {
  return { id: connectionId(conn), client: `${conn.remoteAddress}:${conn.remotePort}`, vip: `${conn.localAddress}:${conn.localPort}`, openedAtMs };
}
