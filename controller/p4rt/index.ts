/** The controller's P4Runtime client: public surface. See docs/p4runtime-client.md. */
export {
  P4RuntimeClient,
  type Atomicity,
  type ClientState,
  type EntryUpdate,
  type P4InfoInput,
  type P4RuntimeClientEvents,
  type P4RuntimeClientOptions,
  type PipelineAction,
  type PipelineConfig,
  type ReadFilter,
  type ReconcileReport,
  type SetPipelineOptions,
  type StreamErrorRecord,
  type WriteOptions,
} from './client.js';
export {
  P4InfoIndex,
  displayName,
  type ActionInfo,
  type ActionParamInfo,
  type ControllerPacketMetadataInfo,
  type DirectCounterInfo,
  type MatchFieldInfo,
  type MatchKind,
  type TableInfo,
} from './p4info-index.js';
export {
  decodeTableEntry,
  describeTableEntry,
  encodeMatchFields,
  encodeTableEntry,
  formatValue,
  tableEntryKey,
  type DecodedMatch,
  type DecodedTableEntry,
  type LpmMatch,
  type MatchSpec,
  type RangeMatch,
  type TableEntrySpec,
  type TernaryMatch,
} from './entry-codec.js';
export { decodePacketIn, encodePacketOut, type ReceivedPacket } from './packet-metadata.js';
export {
  decodeStatusDetails,
  encodeStatusDetails,
  writeErrorOf,
  type WriteFailed,
  type WriteResult,
  type WriteSucceeded,
  type UpdateType,
} from './write-status.js';
export {
  buildDeviceConfig,
  bmv2DeviceConfig,
  decodeBfPipelineConfig,
  decodeTofinoPiConfig,
  embeddedDeviceConfig,
  readTofinoBuild,
  tofinoDeviceConfig,
  type DeviceConfigSpec,
  type SwitchTarget,
  type TofinoBuild,
  type TofinoFormat,
} from './device-config.js';
export { Backoff, type BackoffOptions, type Clock } from './backoff.js';
export { CANONICAL_CODES, canonicalCodeName, type CanonicalCodeName } from './canonical-code.js';
