/**
 * The canonical status codes of gRPC and google.rpc.Code (googleapis google/rpc/code.proto): the
 * same numbers name the status of a whole RPC and, in p4.v1.Error.canonical_code, the status of one
 * update of a Write batch (P4Runtime spec 12.3 "Error Reporting").
 */
export const CANONICAL_CODES = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type CanonicalCodeName = keyof typeof CANONICAL_CODES;

const NAMES: ReadonlyMap<number, CanonicalCodeName> = new Map(
  (Object.entries(CANONICAL_CODES) as [CanonicalCodeName, number][]).map(([name, n]) => [n, name]),
);

/** The name of a canonical code; a number outside the list is reported as UNKNOWN. */
export function canonicalCodeName(code: number): CanonicalCodeName {
  return NAMES.get(code) ?? 'UNKNOWN';
}
