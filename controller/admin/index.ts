/** The REST admin API: the server, its target contract, token helpers. (The in-memory target the tests use lives in the testing folder beside this file.) */
export { createAdminApi, REDACT_PATHS, type AdminApi, type AdminApiOptions } from './server.js';
export type * from './admin-target.js';
export { generateToken, loadOrCreateToken, TokenCheck } from './auth.js';
export { PROBLEM_CONTENT_TYPE, problem, type Problem } from './problem.js';
