/**
 * Connection states. RFC 9293 states (section 3.3.2) are kept apart from the hand-off state:
 * a connection is ESTABLISHED in TCP terms while it is frozen for a hand-off.
 * LISTEN, SYN-SENT and SYN-RECEIVED never exist as objects here: the passive open is stateless
 * (SYN cookies) and a connection is created by the ACK that completes the handshake.
 */
export const TcpState = {
  ESTABLISHED: 0,
  CLOSE_WAIT: 1,
  LAST_ACK: 2,
  FIN_WAIT_1: 3,
  FIN_WAIT_2: 4,
  CLOSING: 5,
  TIME_WAIT: 6,
  CLOSED: 7,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

export const TCP_STATE_NAMES: readonly string[] = [
  'ESTABLISHED',
  'CLOSE_WAIT',
  'LAST_ACK',
  'FIN_WAIT_1',
  'FIN_WAIT_2',
  'CLOSING',
  'TIME_WAIT',
  'CLOSED',
];

export type TcpStateName = 'ESTABLISHED' | 'CLOSE_WAIT' | 'LAST_ACK' | 'FIN_WAIT_1' | 'FIN_WAIT_2' | 'CLOSING' | 'TIME_WAIT' | 'CLOSED';

/** Hand-off state: live (the endpoint speaks for the connection) or frozen (a backend does). */
export const HandoffState = {
  LIVE: 0,
  FROZEN: 1,
} as const;
export type HandoffState = (typeof HandoffState)[keyof typeof HandoffState];

/** Why a connection ended, as reported by TcpHandler.closed. */
export type CloseReason =
  /** Both FINs exchanged and acknowledged (entering TIME-WAIT or after LAST-ACK). */
  | 'normal'
  /** The peer sent an acceptable RST. */
  | 'reset'
  /** conn.abort() sent a RST. */
  | 'aborted'
  /** Retransmissions of our data or FIN were not acknowledged (RFC 9293 3.8.3 R2). */
  | 'timeout'
  /** FIN-WAIT-2 lasted longer than finWait2Ms. */
  | 'finWait2Timeout'
  /** conn.detach(): a frozen connection removed without a packet (the backend keeps it). */
  | 'detached';
