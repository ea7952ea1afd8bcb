/**
 * Counters of the TCP endpoint. Every dropped segment increments exactly one `drops` reason; the
 * other counters describe normal work. Plain numbers, cheap to read for metrics.
 */
export const DROP_REASONS = [
  /** IPv4 header shorter than 20 bytes, version not 4, IHL < 5 or past the packet. */
  'badIpHeader',
  /** IPv4 header checksum does not verify. */
  'badIpChecksum',
  /** IPv4 total length past the buffer, or too short for a TCP header. */
  'truncated',
  /** An IPv4 fragment (MF set or offset non-zero): the controller does not reassemble. */
  'fragment',
  /** Protocol is not TCP. */
  'notTcp',
  /** Source is multicast/broadcast/zero/loopback, or equals the destination. */
  'badAddress',
  /** TCP data offset < 5 words or past the segment. */
  'badDataOffset',
  /** TCP checksum does not verify. */
  'badChecksum',
  /** Impossible flags: SYN+FIN, SYN+RST, no flags, a non-SYN non-RST segment without ACK. */
  'badFlags',
  /** An option whose length runs past the header or is < 2. */
  'badOptions',
  /** Destination address/port is not a VIP listener. */
  'notListening',
  /** A SYN-ACK sent to a listener. */
  'unexpectedSynAck',
  /** A non-SYN segment for no connection whose ACK is not a valid cookie, or a stray RST. */
  'noConnection',
  /** A final ACK whose cookie hash does not verify (forged, or a stale connection). */
  'badCookie',
  /** A final ACK whose cookie counter is older than the accepted age. */
  'expiredCookie',
  /** A SYN dropped because the endpoint holds maxConnections connections. */
  'connCapSyn',
  /** A valid cookie ACK dropped because the endpoint holds maxConnections connections. */
  'connCapAck',
  /** A segment for a frozen (handed-off) connection. */
  'frozen',
  /** PAWS (RFC 7323 5): TSval older than ts_recent. */
  'paws',
  /** Sequence number outside the receive window (answered with an ACK). */
  'outOfWindow',
  /** RST outside the window (RFC 5961 3.2). */
  'rstOutOfWindow',
  /** RST inside the window but not exact (answered with a challenge ACK). */
  'rstNotExact',
  /** SYN on a synchronized connection (answered with a challenge ACK, RFC 5961 4). */
  'synInSynchronized',
  /** ACK for data not yet sent (RFC 9293 3.10.7.4; answered with an ACK). */
  'ackTooNew',
  /** ACK older than the acceptable range (RFC 5961 5.2; answered with a challenge ACK). */
  'ackTooOld',
  /** Out-of-order segment that did not fit the reassembly queue bounds. */
  'oooQueueFull',
  /** Data after our peer has sent FIN, or in a state that receives no data. */
  'dataAfterFin',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export interface TcpStats {
  readonly drops: Record<DropReason, number>;
  segmentsIn: number;
  segmentsOut: number;
  synReceived: number;
  synCookiesSent: number;
  cookiesAccepted: number;
  /** TcpConnection objects currently held (established, closing, TIME-WAIT, frozen). */
  connections: number;
  /** Connections ever created (handshakes and adoptions). */
  connectionsCreated: number;
  connectionsClosed: number;
  challengeAcks: number;
  challengeAcksRateLimited: number;
  keepalivesAnswered: number;
  retransmits: number;
  rtoTimeouts: number;
  giveUps: number;
  windowUpdates: number;
  zeroWindowProbes: number;
  delayedAcks: number;
}

export function newStats(): TcpStats {
  const drops = {} as Record<DropReason, number>;
  for (const r of DROP_REASONS) drops[r] = 0;
  return {
    drops,
    segmentsIn: 0,
    segmentsOut: 0,
    synReceived: 0,
    synCookiesSent: 0,
    cookiesAccepted: 0,
    connections: 0,
    connectionsCreated: 0,
    connectionsClosed: 0,
    challengeAcks: 0,
    challengeAcksRateLimited: 0,
    keepalivesAnswered: 0,
    retransmits: 0,
    rtoTimeouts: 0,
    giveUps: 0,
    windowUpdates: 0,
    zeroWindowProbes: 0,
    delayedAcks: 0,
  };
}
