/**
 * RFC 9457 problem details. Every error the admin API sends is one of these, as
 * application/problem+json, with a stable `code` extension member callers can branch on.
 */
import { PrismError } from '../../core/errors.js';
import { PolicyError } from '../policy/errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly instance?: string;
  readonly code?: string;
  readonly errors?: readonly { path: string; message: string }[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function problem(status: number, code: string, detail: string, extra: Partial<Problem> = {}): Problem {
  return { type: `urn:prism:problem:${code}`, title: TITLES[status] ?? 'Error', status, detail, code, ...extra };
}

/** Status for an error thrown by the AdminTarget or the policy engine. */
export function statusOf(err: unknown): { status: number; code: string } {
  if (err instanceof PolicyError) {
    const status = err.reason === 'not_found' ? 404 : err.reason === 'conflict' ? 409 : 422;
    return { status, code: `policy_${err.reason}` };
  }
  if (err instanceof PrismError) {
    switch (err.code) {
      case 'PRISM_ERR_NOT_FOUND':
      case 'PRISM_ERR_P4INFO_LOOKUP':
        return { status: 404, code: 'not_found' };
      case 'PRISM_ERR_ALREADY_EXISTS':
        return { status: 409, code: 'conflict' };
      case 'PRISM_ERR_INVALID_ARGUMENT':
        return { status: 400, code: 'invalid_argument' };
      case 'PRISM_ERR_P4RT_UNAVAILABLE':
      case 'PRISM_ERR_P4RT_NOT_PRIMARY':
      case 'PRISM_ERR_TIMEOUT':
        return { status: 503, code: 'unavailable' };
      default:
        return { status: 500, code: err.code.toLowerCase() };
    }
  }
  return { status: 500, code: 'internal' };
}
