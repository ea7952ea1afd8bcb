/** The REST admin API: the server, its target contract, the in-memory target, token helpers. */
export { createAdminApi, REDACT_PATHS, type AdminApi, type AdminApiOptions } from './server.js';
export type * from './admin-target.js';
export { MemoryAdminTarget, type MemoryTargetOptions } from './memory-target.js';
export { generateToken, loadOrCreateToken, TokenCheck } from './auth.js';
export { PROBLEM_CONTENT_TYPE, problem, type Problem } from './problem.js';
