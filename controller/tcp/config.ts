/** Tunables of the TCP endpoint with their defaults. Every limit that bounds memory or time is here. */
export interface TcpConfig {
  /** MSS we advertise (what the client may send us). */
  readonly mss: number;
  /** Receive buffer per connection in bytes: the largest window we offer (unread + out-of-order bytes). */
  readonly rcvBuffer: number;
  /** Our window shift, offered when the client offers window scaling (0..14). */
  readonly rcvWscale: number;
  readonly sack: boolean;
  readonly timestamps: boolean;
  readonly windowScaling: boolean;
  /** Live connection objects (any state, frozen included). SYNs beyond it get no SYN-ACK. */
  readonly maxConnections: number;
  /** Ranges held in the out-of-order queue. */
  readonly maxOooSegments: number;
  readonly delayedAckMs: number;
  readonly rtoInitialMs: number;
  readonly rtoMinMs: number;
  readonly rtoMaxMs: number;
  /** Retransmissions of one segment before the connection is given up (RFC 9293 R2). */
  readonly maxRetries: number;
  readonly timeWaitMs: number;
  readonly finWait2Ms: number;
  readonly initialCwndSegments: number;
  readonly cookiePeriodMs: number;
  readonly cookieMaxAge: number;
  /** Challenge ACKs per second for the whole endpoint (RFC 5961 7; Linux tcp_challenge_ack_limit). */
  readonly challengeAckPerSecond: number;
}

export const DEFAULT_TCP_CONFIG: TcpConfig = {
  mss: 1460,
  rcvBuffer: 65536,
  rcvWscale: 7,
  sack: true,
  timestamps: true,
  windowScaling: true,
  maxConnections: 100_000,
  maxOooSegments: 16,
  delayedAckMs: 40,
  rtoInitialMs: 1000,
  rtoMinMs: 200,
  rtoMaxMs: 60_000,
  maxRetries: 8,
  timeWaitMs: 2000,
  finWait2Ms: 30_000,
  initialCwndSegments: 10,
  cookiePeriodMs: 64_000,
  cookieMaxAge: 2,
  challengeAckPerSecond: 1000,
};
