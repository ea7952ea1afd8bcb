/**
 * The network-namespace harness: namespaces, veth links and processes of one run, created
 * together and removed together (tests, and `prism topo up/down`). See docs/netns-harness.md.
 */
export { Topology, type TopologyOptions, type Link, type LinkEnd, type LinkOptions } from './topology.js';
export { Host, type HostInterface, type RouteOptions, type WaitForPortOptions } from './host.js';
export {
  cleanupAll,
  cleanupRun,
  cleanupSync,
  deleteNamespace,
  deleteRootInterface,
  killNamespaceProcesses,
  listInterfaces,
  listNamespaces,
  namespacePids,
  type CleanupReport,
} from './cleanup.js';
export { registerExitCleanup, unregisterExitCleanup, registeredCount, type Guarded } from './exit-guard.js';
export { isRoot, requireRoot, skipReason } from './privileges.js';
export {
  run,
  runSync,
  isAlive,
  signalGroup,
  sleep,
  ProcessTracker,
  type RunOptions,
  type RunResult,
  type RunSyncResult,
  type SpawnTrackedOptions,
} from './run.js';
export {
  NETNS_PREFIX,
  VETH_PREFIX,
  MAX_IFNAME_LEN,
  MAX_HOST_NAME_LEN,
  MAX_RUN_ID_LEN,
  defaultMac,
  netnsName,
  netnsPrefixFor,
  newRunId,
  normalizeMac,
  runTag,
  validateCidr,
  validateHostName,
  validateIfName,
  validateIp,
  validateRunId,
  vethNames,
  vethPrefixFor,
} from './names.js';
