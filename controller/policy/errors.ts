/**
 * Why a policy was refused at install, or why a call into it was set aside. The `reason` is a
 * stable code (callers and the admin API branch on it); the message says what was wrong.
 */
import { PrismError } from '../../core/errors.js';

export type PolicyRefusal =
  /** The module file could not be read or imported, or has no usable default export. */
  | 'load_failed'
  /** One of the six ALRM functions (or state() for a module policy) is missing. */
  | 'missing_function'
  /** The config does not match the policy's configSchema, or the schema itself is invalid. */
  | 'bad_config'
  /** init() threw or ran over its time budget. */
  | 'init_failed'
  /** The private state after init exceeds the state budget. */
  | 'state_too_large'
  /** No built-in policy has that name. */
  | 'unknown_builtin'
  /** Refused by the engine's own rules (duplicate id, removing the active policy…). */
  | 'conflict'
  | 'not_found';

export class PolicyError extends PrismError {
  readonly reason: PolicyRefusal;
  constructor(reason: PolicyRefusal, message: string, options?: { cause?: unknown }) {
    super(reason === 'not_found' ? 'PRISM_ERR_NOT_FOUND' : reason === 'conflict' ? 'PRISM_ERR_ALREADY_EXISTS' : 'PRISM_ERR_INVALID_ARGUMENT', message, options);
    this.reason = reason;
  }
}

/** Kinds of fault the engine counts; each one sends the decision to the default policy. */
export const FAULT_KINDS = [
  /** The upcall threw. */
  'threw',
  /** The upcall returned, but after its time budget: the result is discarded. */
  'overrun',
  /** A sandboxed (module) upcall was cut off by the VM timeout (an endless loop). */
  'timeout',
  /** redirect() returned something that is not an eligible backend name or a reject. */
  'invalid',
  /** The private state grew past its budget (the policy is suspended). */
  'state',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
