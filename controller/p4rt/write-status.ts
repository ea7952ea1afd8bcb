/**
 * The outcome of a P4Runtime Write batch, per update (P4Runtime spec 12.3 "Error Reporting").
 *
 * A batch whose updates all succeed ends with gRPC status OK. When some fail, the server ends the
 * call with a non-OK status (UNKNOWN) and puts a serialized google.rpc.Status in the trailer
 * `grpc-status-details-bin`; its `details` hold one google.protobuf.Any-wrapped p4.v1.Error per
 * update, in the order of the batch, with canonical_code OK for the updates that were applied.
 * A failure of the whole call (not primary, no pipeline, server unavailable) carries no details.
 *
 * Failures stay records (WriteResult) until a caller wants an exception (writeErrorOf).
 */
import { P4RuntimeWriteError, type P4RuntimeUpdateFailure } from '../../core/errors.js';
import { decodeMessage, encodeMessage } from '../../core/proto.js';
import type { Status__Output } from '../../proto/types/google/rpc/Status.js';
import type { Error__Output } from '../../proto/types/p4/v1/Error.js';
import { CANONICAL_CODES, canonicalCodeName, type CanonicalCodeName } from './canonical-code.js';

/** The trailer that carries the serialized google.rpc.Status (gRPC "rich error model"). */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
/** type_url of an Any that holds a p4.v1.Error. */
export const P4_ERROR_TYPE_URL = 'type.googleapis.com/p4.v1.Error';

export type UpdateType = 'INSERT' | 'MODIFY' | 'DELETE';

export interface WriteSucceeded {
  readonly ok: true;
  readonly index: number;
  readonly type: UpdateType;
  /** The entry, for people: `handoff_in(src_addr=..., ...)`. */
  readonly entry: string;
}

export interface WriteFailed extends P4RuntimeUpdateFailure {
  readonly ok: false;
  readonly code: CanonicalCodeName;
}

export type WriteResult = WriteSucceeded | WriteFailed;

/** One p4.v1.Error of a status, decoded. */
export interface P4ErrorRecord {
  readonly code: CanonicalCodeName;
  readonly message: string;
  readonly space: string;
  readonly spaceCode: number;
}

/** A decoded google.rpc.Status with its p4.v1.Error details (in order). */
export interface DecodedStatus {
  readonly code: CanonicalCodeName;
  readonly message: string;
  readonly errors: readonly P4ErrorRecord[];
}

/** The updates of a batch as sent: type and readable entry, in order. */
export interface SentUpdate {
  readonly type: UpdateType;
  readonly entry: string;
}

/**
 * Decodes a serialized google.rpc.Status whose details are p4.v1.Error messages. A detail of any
 * other type becomes an UNKNOWN record naming its type_url. Malformed bytes throw ProtoError.
 */
export function decodeStatusDetails(bytes: Uint8Array): DecodedStatus {
  const status = decodeMessage<Status__Output>('google.rpc.Status', bytes);
  const errors = status.details.map((any): P4ErrorRecord => {
    if (!any.type_url.endsWith('/p4.v1.Error')) {
      return { code: 'UNKNOWN', message: `unexpected error detail of type ${any.type_url}`, space: '', spaceCode: 0 };
    }
    const e = decodeMessage<Error__Output>('p4.v1.Error', any.value);
    return { code: canonicalCodeName(e.canonical_code), message: e.message, space: e.space, spaceCode: e.code };
  });
  return { code: canonicalCodeName(status.code), message: status.message, errors };
}

/**
 * Builds the serialized google.rpc.Status a server sends for a batch with per-update outcomes
 * (the inverse of decodeStatusDetails; servers and tests use it).
 */
export function encodeStatusDetails(
  code: CanonicalCodeName,
  message: string,
  errors: readonly { code: CanonicalCodeName; message?: string; space?: string; spaceCode?: number }[],
): Buffer {
  return encodeMessage('google.rpc.Status', {
    code: CANONICAL_CODES[code],
    message,
    details: errors.map((e) => ({
      type_url: P4_ERROR_TYPE_URL,
      value: encodeMessage(
        'p4.v1.Error',
        e.code === 'OK' ? { canonical_code: 0 } : { canonical_code: CANONICAL_CODES[e.code], message: e.message ?? '', space: e.space ?? '', code: e.spaceCode ?? 0 },
      ),
    })),
  });
}

/**
 * `r` with the update's readable entry as a getter: describing an entry costs more than writing
 * it in-process, and only errors and logs read it.
 */
function withEntry<T extends object>(r: T, u: SentUpdate): T & { readonly entry: string } {
  return Object.defineProperty(r, 'entry', { get: () => u.entry, enumerable: true }) as T & { readonly entry: string };
}

/** Every update succeeded. */
export function allSucceeded(updates: readonly SentUpdate[]): WriteResult[] {
  return updates.map((u, index) => withEntry({ ok: true as const, index, type: u.type }, u));
}

/**
 * Per-update results from the status details of a failed Write, or null when the failure is
 * RPC-wide: no details, or a number of details that does not match the batch (the outcome of each
 * update is then unknown and the caller reports the RPC error).
 */
export function writeResultsFromStatus(details: DecodedStatus | null, updates: readonly SentUpdate[]): WriteResult[] | null {
  if (!details || details.errors.length === 0 || details.errors.length !== updates.length) return null;
  return updates.map((u, index): WriteResult => {
    const e = details.errors[index]!;
    if (e.code === 'OK') return withEntry({ ok: true as const, index, type: u.type }, u);
    return { ok: false, index, type: u.type, entry: u.entry, code: e.code, message: e.message, space: e.space, spaceCode: e.spaceCode };
  });
}

/** The failed results. */
export function failuresOf(results: readonly WriteResult[]): WriteFailed[] {
  return results.filter((r): r is WriteFailed => !r.ok);
}

/** A P4RuntimeWriteError listing the failed updates, or null when all succeeded. */
export function writeErrorOf(results: readonly WriteResult[]): P4RuntimeWriteError | null {
  const failed = failuresOf(results);
  return failed.length === 0 ? null : new P4RuntimeWriteError(failed, results.length);
}
