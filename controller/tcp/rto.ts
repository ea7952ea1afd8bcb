/**
 * Retransmission timeout computation (RFC 6298). Pure functions over the three numbers a
 * connection keeps (srtt, rttvar, rto), so that the state stays in the connection's own fields.
 */
export interface RtoConfig {
  /** Initial RTO before any RTT sample (RFC 6298 2.1: 1 s). */
  readonly initialMs: number;
  /** Lower bound (RFC 6298 2.4 says 1 s; Linux uses 200 ms). */
  readonly minMs: number;
  /** Upper bound after backoff (RFC 6298 2.5: at least 60 s). */
  readonly maxMs: number;
}

const ALPHA = 1 / 8;
const BETA = 1 / 4;
/** Clock granularity G (RFC 6298 2.2/2.3): our clock counts milliseconds. */
const G = 1;

export interface RttState {
  srtt: number;
  rttvar: number;
  rto: number;
}

/** Folds one RTT measurement r (ms) into the state (RFC 6298 2.2 and 2.3). srtt 0 means no sample yet. */
export function rttSample(s: RttState, r: number, cfg: RtoConfig): void {
  const rtt = Math.max(r, 0);
  if (s.srtt === 0) {
    s.srtt = Math.max(rtt, 0.001);
    s.rttvar = rtt / 2;
  } else {
    s.rttvar = (1 - BETA) * s.rttvar + BETA * Math.abs(s.srtt - rtt);
    s.srtt = (1 - ALPHA) * s.srtt + ALPHA * rtt;
  }
  s.rto = clampRto(s.srtt + Math.max(G, 4 * s.rttvar), cfg);
}

/** RFC 6298 5.5: double the RTO on a timeout, up to the maximum. */
export function backoff(rto: number, cfg: RtoConfig): number {
  return clampRto(rto * 2, cfg);
}

export function clampRto(rto: number, cfg: RtoConfig): number {
  return Math.min(Math.max(rto, cfg.minMs), cfg.maxMs);
}
