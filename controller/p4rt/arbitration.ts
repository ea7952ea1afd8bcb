/**
 * Client arbitration (P4Runtime spec 5.3-5.5): election ids as 128-bit numbers, and what a
 * MasterArbitrationUpdate from the server says about this client.
 *
 * The server answers every arbitration request, and notifies every client of a (device, role)
 * whenever the primary changes: status OK goes to the primary, ALREADY_EXISTS to the backups while
 * there is a primary, NOT_FOUND to everyone while there is none. `election_id` is the highest
 * election id the server has seen (the primary's when there is one), unset when there never was one.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import type { MasterArbitrationUpdate__Output } from '../../proto/types/p4/v1/MasterArbitrationUpdate.js';
import { canonicalCodeName, type CanonicalCodeName } from './canonical-code.js';

const U64 = (1n << 64n) - 1n;
const U128 = (1n << 128n) - 1n;

/** An election id given as a number, bigint, decimal string or {high, low}. */
export type ElectionIdInput = bigint | number | string | { readonly high: bigint | number | string; readonly low: bigint | number | string };

/** The election id as a bigint; throws InvalidArgumentError outside 1..2^128-1 (0 is not a valid election id). */
export function toElectionId(v: ElectionIdInput): bigint {
  let big: bigint;
  try {
    big = typeof v === 'object' ? (BigInt(v.high) << 64n) | BigInt(v.low) : BigInt(v);
  } catch {
    throw new InvalidArgumentError(`election id ${String(v)} is not an integer`);
  }
  if (typeof v === 'object' && (BigInt(v.high) > U64 || BigInt(v.low) > U64 || BigInt(v.high) < 0n || BigInt(v.low) < 0n)) {
    throw new InvalidArgumentError(`election id halves must be 64-bit unsigned integers`);
  }
  if (big <= 0n || big > U128) throw new InvalidArgumentError(`election id ${big} is outside 1..2^128-1`);
  return big;
}

/** A bigint as p4.v1.Uint128 (decimal strings, as the loader uses for 64-bit fields). */
export function toUint128(v: bigint): { high: string; low: string } {
  return { high: (v >> 64n).toString(), low: (v & U64).toString() };
}

/** p4.v1.Uint128 (decoded) as a bigint; null/unset is null. */
export function fromUint128(v: { high?: string | number | null; low?: string | number | null } | null | undefined): bigint | null {
  if (!v) return null;
  return (BigInt(v.high ?? 0) << 64n) | BigInt(v.low ?? 0);
}

export interface ArbitrationOutcome {
  /** 'primary': this client is primary; 'backup': another client is; 'no-primary': nobody is. */
  readonly role: 'primary' | 'backup' | 'no-primary';
  /** The status code the server gave (OK, ALREADY_EXISTS, NOT_FOUND, or something unexpected). */
  readonly code: CanonicalCodeName;
  /** The highest election id the server has seen, null when unset. */
  readonly primaryElectionId: bigint | null;
  readonly message: string;
}

/**
 * What an arbitration update received on our stream means for a client with election id `own`.
 * A server that leaves `status` unset is read by the election id: primary when it is ours.
 */
export function arbitrationOutcome(update: MasterArbitrationUpdate__Output, own: bigint): ArbitrationOutcome {
  const primaryElectionId = fromUint128(update.election_id);
  const message = update.status?.message ?? '';
  if (!update.status) {
    return primaryElectionId === own
      ? { role: 'primary', code: 'OK', primaryElectionId, message }
      : { role: 'backup', code: 'ALREADY_EXISTS', primaryElectionId, message };
  }
  const code = canonicalCodeName(update.status.code);
  if (code === 'OK') return { role: 'primary', code, primaryElectionId, message };
  if (code === 'NOT_FOUND') return { role: 'no-primary', code, primaryElectionId, message };
  return { role: 'backup', code, primaryElectionId, message };
}
