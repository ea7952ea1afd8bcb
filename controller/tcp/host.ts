/**
 * The contract between a connection and the endpoint that owns it (gVisor keeps layer contracts
 * as interfaces in stack/). Generic over the connection type so that this file imports nothing
 * from connection.ts.
 */
import type { Clock } from './clock.js';
import type { TcpConfig } from './config.js';
import type { CloseReason } from './states.js';
import type { TcpStats } from './stats.js';

/**
 * What the rest of the controller implements to use the endpoint (one object per endpoint; keep
 * per-connection application state in `conn.user`). Callbacks run synchronously inside
 * endpoint.input() or a timer; they may call any connection method.
 */
export interface TcpHandler<C> {
  /** The handshake completed: a valid cookie ACK created the connection. */
  opened(conn: C): void;
  /**
   * endpoint.adopt() created or thawed the connection; its unread bytes are readable. With
   * `how.close` the application ends it (conn.end()) instead of reading another request.
   */
  adopted(conn: C, how: Adoption): void;
  /** New in-order bytes are readable (conn.readable, conn.peek(), conn.consume()). */
  data(conn: C): void;
  /** The client sent FIN and every byte before it has been delivered (CLOSE-WAIT or later). */
  peerFinished(conn: C): void;
  /** The connection is finished for the application (called once). TIME-WAIT may follow silently. */
  closed(conn: C, reason: CloseReason): void;
}

/** How a connection comes back from a backend (endpoint.adopt). */
export interface Adoption {
  /**
   * The transaction's request or response asked to close the connection (RFC 9112 9.6): the
   * backend's FIN never reaches the client, so the application sends ours after the response.
   */
  readonly close: boolean;
}

export interface ConnectionHost<C, L> {
  readonly clock: Clock;
  readonly config: TcpConfig;
  readonly stats: TcpStats;
  readonly handler: TcpHandler<C>;
  send(packet: Buffer, link: L): void;
  /** True when one more challenge ACK fits the endpoint-wide rate limit (and counts it). */
  takeChallengeAck(): boolean;
  /** Forget the connection (its 4-tuple becomes unknown). */
  remove(conn: C): void;
}
