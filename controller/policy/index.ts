/** The policy layer (ALRM): the interface, the engine, the built-ins, the adapters. */
export * from './alrm.js';
export { PolicyEngine, DEFAULT_LIMITS, type EngineDecision, type EngineStats, type InstallSpec, type PolicyInfo, type PolicyLimits, type PolicyEngineOptions, type FaultEvent } from './engine.js';
export { PolicyError, FAULT_KINDS, type FaultKind, type PolicyRefusal } from './errors.js';
export { BUILTIN_POLICIES, DEFAULT_POLICY, rebalanceMoves } from './builtins/index.js';
export { toPolicyRequest, toPolicyConn, connectionId } from './request.js';
