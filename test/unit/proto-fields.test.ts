/**
 * Wire-compatibility check of proto/ against the upstream specifications.
 *
 * The tables below were written down by hand from the upstream files (p4lang/p4runtime
 * v1.5.0: proto/p4/v1/p4runtime.proto, p4data.proto, proto/p4/config/v1/p4info.proto,
 * p4types.proto; googleapis google/rpc/status.proto and code.proto) — NOT derived from the
 * files under proto/. Each entry is `field: [number, type]`; the type is a scalar type name
 * or the full name of a message/enum, prefixed with 'repeated ' for repeated fields.
 * Names without a package are relative to the table's package. For every listed message,
 * the loaded message must have exactly these fields (an extra, missing, renumbered or
 * retyped field fails).
 */
import { describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { loadProtoRoot } from '../../core/proto.js';

type FieldTable = Record<string, Record<string, readonly [number, string]>>;

const P4_V1: FieldTable = {
  WriteRequest: {
    device_id: [1, 'uint64'],
    role_id: [2, 'uint64'],
    role: [6, 'string'],
    election_id: [3, 'Uint128'],
    updates: [4, 'repeated Update'],
    atomicity: [5, 'WriteRequest.Atomicity'],
  },
  WriteResponse: {},
  ReadRequest: { device_id: [1, 'uint64'], role: [3, 'string'], entities: [2, 'repeated Entity'] },
  ReadResponse: { entities: [1, 'repeated Entity'] },
  Update: { type: [1, 'Update.Type'], entity: [2, 'Entity'] },
  Entity: {
    extern_entry: [1, 'ExternEntry'],
    table_entry: [2, 'TableEntry'],
    action_profile_member: [3, 'ActionProfileMember'],
    action_profile_group: [4, 'ActionProfileGroup'],
    meter_entry: [5, 'MeterEntry'],
    direct_meter_entry: [6, 'DirectMeterEntry'],
    counter_entry: [7, 'CounterEntry'],
    direct_counter_entry: [8, 'DirectCounterEntry'],
    packet_replication_engine_entry: [9, 'PacketReplicationEngineEntry'],
    value_set_entry: [10, 'ValueSetEntry'],
    register_entry: [11, 'RegisterEntry'],
    digest_entry: [12, 'DigestEntry'],
  },
  ExternEntry: { extern_type_id: [1, 'uint32'], extern_id: [2, 'uint32'], entry: [3, 'google.protobuf.Any'] },
  TableEntry: {
    table_id: [1, 'uint32'],
    match: [2, 'repeated FieldMatch'],
    action: [3, 'TableAction'],
    priority: [4, 'int32'],
    controller_metadata: [5, 'uint64'],
    meter_config: [6, 'MeterConfig'],
    counter_data: [7, 'CounterData'],
    meter_counter_data: [12, 'MeterCounterData'],
    is_default_action: [8, 'bool'],
    idle_timeout_ns: [9, 'int64'],
    time_since_last_hit: [10, 'TableEntry.IdleTimeout'],
    metadata: [11, 'bytes'],
    is_const: [13, 'bool'],
  },
  'TableEntry.IdleTimeout': { elapsed_ns: [1, 'int64'] },
  FieldMatch: {
    field_id: [1, 'uint32'],
    exact: [2, 'FieldMatch.Exact'],
    ternary: [3, 'FieldMatch.Ternary'],
    lpm: [4, 'FieldMatch.LPM'],
    range: [6, 'FieldMatch.Range'],
    optional: [7, 'FieldMatch.Optional'],
    other: [100, 'google.protobuf.Any'],
  },
  'FieldMatch.Exact': { value: [1, 'bytes'] },
  'FieldMatch.Ternary': { value: [1, 'bytes'], mask: [2, 'bytes'] },
  'FieldMatch.LPM': { value: [1, 'bytes'], prefix_len: [2, 'int32'] },
  'FieldMatch.Range': { low: [1, 'bytes'], high: [2, 'bytes'] },
  'FieldMatch.Optional': { value: [1, 'bytes'] },
  TableAction: {
    action: [1, 'Action'],
    action_profile_member_id: [2, 'uint32'],
    action_profile_group_id: [3, 'uint32'],
    action_profile_action_set: [4, 'ActionProfileActionSet'],
  },
  Action: { action_id: [1, 'uint32'], params: [4, 'repeated Action.Param'] },
  'Action.Param': { param_id: [2, 'uint32'], value: [3, 'bytes'] },
  ActionProfileActionSet: {
    action_profile_actions: [1, 'repeated ActionProfileAction'],
    action_selection_mode: [2, 'ActionProfileActionSet.ActionSelectionMode'],
    size_semantics: [3, 'ActionProfileActionSet.SizeSemantics'],
  },
  ActionProfileAction: { action: [1, 'Action'], weight: [2, 'int32'], watch: [3, 'int32'], watch_port: [4, 'bytes'] },
  ActionProfileMember: { action_profile_id: [1, 'uint32'], member_id: [2, 'uint32'], action: [3, 'Action'] },
  ActionProfileGroup: {
    action_profile_id: [1, 'uint32'],
    group_id: [2, 'uint32'],
    members: [3, 'repeated ActionProfileGroup.Member'],
    max_size: [4, 'int32'],
  },
  'ActionProfileGroup.Member': { member_id: [1, 'uint32'], weight: [2, 'int32'], watch: [3, 'int32'], watch_port: [4, 'bytes'] },
  Index: { index: [1, 'int64'] },
  MeterEntry: { meter_id: [1, 'uint32'], index: [2, 'Index'], config: [3, 'MeterConfig'], counter_data: [4, 'MeterCounterData'] },
  DirectMeterEntry: { table_entry: [1, 'TableEntry'], config: [2, 'MeterConfig'], counter_data: [3, 'MeterCounterData'] },
  MeterConfig: { cir: [1, 'int64'], cburst: [2, 'int64'], pir: [3, 'int64'], pburst: [4, 'int64'], eburst: [5, 'int64'] },
  CounterEntry: { counter_id: [1, 'uint32'], index: [2, 'Index'], data: [3, 'CounterData'] },
  DirectCounterEntry: { table_entry: [1, 'TableEntry'], data: [2, 'CounterData'] },
  CounterData: { byte_count: [1, 'int64'], packet_count: [2, 'int64'] },
  MeterCounterData: { green: [1, 'CounterData'], yellow: [2, 'CounterData'], red: [3, 'CounterData'] },
  PacketReplicationEngineEntry: { multicast_group_entry: [1, 'MulticastGroupEntry'], clone_session_entry: [2, 'CloneSessionEntry'] },
  BackupReplica: { port: [1, 'bytes'], instance: [2, 'uint32'] },
  Replica: { egress_port: [1, 'uint32'], port: [3, 'bytes'], instance: [2, 'uint32'], backup_replicas: [4, 'repeated BackupReplica'] },
  MulticastGroupEntry: { multicast_group_id: [1, 'uint32'], replicas: [2, 'repeated Replica'], metadata: [3, 'bytes'] },
  CloneSessionEntry: {
    session_id: [1, 'uint32'],
    replicas: [2, 'repeated Replica'],
    class_of_service: [3, 'uint32'],
    packet_length_bytes: [4, 'int32'],
  },
  ValueSetMember: { match: [1, 'repeated FieldMatch'] },
  ValueSetEntry: { value_set_id: [1, 'uint32'], members: [2, 'repeated ValueSetMember'] },
  RegisterEntry: { register_id: [1, 'uint32'], index: [2, 'Index'], data: [3, 'P4Data'] },
  DigestEntry: { digest_id: [1, 'uint32'], config: [2, 'DigestEntry.Config'] },
  'DigestEntry.Config': { max_timeout_ns: [1, 'int64'], max_list_size: [2, 'int32'], ack_timeout_ns: [3, 'int64'] },
  StreamMessageRequest: {
    arbitration: [1, 'MasterArbitrationUpdate'],
    packet: [2, 'PacketOut'],
    digest_ack: [3, 'DigestListAck'],
    other: [4, 'google.protobuf.Any'],
  },
  PacketOut: { payload: [1, 'bytes'], metadata: [2, 'repeated PacketMetadata'] },
  DigestListAck: { digest_id: [1, 'uint32'], list_id: [2, 'uint64'] },
  StreamMessageResponse: {
    arbitration: [1, 'MasterArbitrationUpdate'],
    packet: [2, 'PacketIn'],
    digest: [3, 'DigestList'],
    idle_timeout_notification: [4, 'IdleTimeoutNotification'],
    other: [5, 'google.protobuf.Any'],
    error: [6, 'StreamError'],
  },
  PacketIn: { payload: [1, 'bytes'], metadata: [2, 'repeated PacketMetadata'] },
  DigestList: { digest_id: [1, 'uint32'], list_id: [2, 'uint64'], data: [3, 'repeated P4Data'], timestamp: [4, 'int64'] },
  PacketMetadata: { metadata_id: [1, 'uint32'], value: [2, 'bytes'] },
  MasterArbitrationUpdate: { device_id: [1, 'uint64'], role: [2, 'Role'], election_id: [3, 'Uint128'], status: [4, 'google.rpc.Status'] },
  Role: { id: [1, 'uint64'], name: [3, 'string'], config: [2, 'google.protobuf.Any'] },
  IdleTimeoutNotification: { table_entry: [1, 'repeated TableEntry'], timestamp: [2, 'int64'] },
  StreamError: {
    canonical_code: [1, 'int32'],
    message: [2, 'string'],
    space: [3, 'string'],
    code: [4, 'int32'],
    packet_out: [5, 'PacketOutError'],
    digest_list_ack: [6, 'DigestListAckError'],
    other: [7, 'StreamOtherError'],
  },
  PacketOutError: { packet_out: [1, 'PacketOut'] },
  DigestListAckError: { digest_list_ack: [1, 'DigestListAck'] },
  StreamOtherError: { other: [1, 'google.protobuf.Any'] },
  Uint128: { high: [1, 'uint64'], low: [2, 'uint64'] },
  SetForwardingPipelineConfigRequest: {
    device_id: [1, 'uint64'],
    role_id: [2, 'uint64'],
    role: [6, 'string'],
    election_id: [3, 'Uint128'],
    action: [4, 'SetForwardingPipelineConfigRequest.Action'],
    config: [5, 'ForwardingPipelineConfig'],
  },
  SetForwardingPipelineConfigResponse: {},
  ForwardingPipelineConfig: {
    p4info: [1, 'p4.config.v1.P4Info'],
    p4_device_config: [2, 'bytes'],
    cookie: [3, 'ForwardingPipelineConfig.Cookie'],
  },
  'ForwardingPipelineConfig.Cookie': { cookie: [1, 'uint64'] },
  GetForwardingPipelineConfigRequest: { device_id: [1, 'uint64'], response_type: [2, 'GetForwardingPipelineConfigRequest.ResponseType'] },
  GetForwardingPipelineConfigResponse: { config: [1, 'ForwardingPipelineConfig'] },
  Error: { canonical_code: [1, 'int32'], message: [2, 'string'], space: [3, 'string'], code: [4, 'int32'], details: [5, 'google.protobuf.Any'] },
  CapabilitiesRequest: { device_id: [1, 'uint64'] },
  CapabilitiesResponse: { p4runtime_api_version: [1, 'string'], experimental: [999, 'google.protobuf.Any'] },
  // p4data.proto
  P4Data: {
    bitstring: [1, 'bytes'],
    varbit: [2, 'P4Varbit'],
    bool: [3, 'bool'],
    tuple: [4, 'P4StructLike'],
    struct: [5, 'P4StructLike'],
    header: [6, 'P4Header'],
    header_union: [7, 'P4HeaderUnion'],
    header_stack: [8, 'P4HeaderStack'],
    header_union_stack: [9, 'P4HeaderUnionStack'],
    enum: [10, 'string'],
    error: [11, 'string'],
    enum_value: [12, 'bytes'],
  },
  P4Varbit: { bitstring: [1, 'bytes'], bitwidth: [2, 'int32'] },
  P4StructLike: { members: [1, 'repeated P4Data'] },
  P4Header: { is_valid: [1, 'bool'], bitstrings: [2, 'repeated bytes'] },
  P4HeaderUnion: { valid_header_name: [1, 'string'], valid_header: [2, 'P4Header'] },
  P4HeaderStack: { entries: [1, 'repeated P4Header'] },
  P4HeaderUnionStack: { entries: [1, 'repeated P4HeaderUnion'] },
};

const SL = 'repeated SourceLocation';
const SA = 'repeated StructuredAnnotation';

const P4_CONFIG_V1: FieldTable = {
  P4Info: {
    pkg_info: [1, 'PkgInfo'],
    tables: [2, 'repeated Table'],
    actions: [3, 'repeated Action'],
    action_profiles: [4, 'repeated ActionProfile'],
    counters: [5, 'repeated Counter'],
    direct_counters: [6, 'repeated DirectCounter'],
    meters: [7, 'repeated Meter'],
    direct_meters: [8, 'repeated DirectMeter'],
    controller_packet_metadata: [9, 'repeated ControllerPacketMetadata'],
    value_sets: [10, 'repeated ValueSet'],
    registers: [11, 'repeated Register'],
    digests: [12, 'repeated Digest'],
    externs: [100, 'repeated Extern'],
    type_info: [200, 'P4TypeInfo'],
  },
  Documentation: { brief: [1, 'string'], description: [2, 'string'] },
  PlatformProperties: {
    multicast_group_table_size: [1, 'int32'],
    multicast_group_table_total_replicas: [2, 'int32'],
    multicast_group_table_max_replicas_per_entry: [3, 'int32'],
  },
  PkgInfo: {
    name: [1, 'string'],
    version: [2, 'string'],
    doc: [3, 'Documentation'],
    annotations: [4, 'repeated string'],
    annotation_locations: [10, SL],
    arch: [5, 'string'],
    organization: [6, 'string'],
    contact: [7, 'string'],
    url: [8, 'string'],
    structured_annotations: [9, SA],
    platform_properties: [11, 'PlatformProperties'],
  },
  P4Ids: {},
  Preamble: {
    id: [1, 'uint32'],
    name: [2, 'string'],
    alias: [3, 'string'],
    annotations: [4, 'repeated string'],
    annotation_locations: [7, SL],
    doc: [5, 'Documentation'],
    structured_annotations: [6, SA],
  },
  Extern: { extern_type_id: [1, 'uint32'], extern_type_name: [2, 'string'], instances: [3, 'repeated ExternInstance'] },
  ExternInstance: { preamble: [1, 'Preamble'], info: [2, 'google.protobuf.Any'] },
  MatchField: {
    id: [1, 'uint32'],
    name: [2, 'string'],
    annotations: [3, 'repeated string'],
    annotation_locations: [10, SL],
    bitwidth: [4, 'int32'],
    match_type: [5, 'MatchField.MatchType'],
    other_match_type: [7, 'string'],
    doc: [6, 'Documentation'],
    type_name: [8, 'P4NamedType'],
    structured_annotations: [9, SA],
  },
  TableActionCall: { action_id: [1, 'uint32'], arguments: [4, 'repeated TableActionCall.Argument'] },
  'TableActionCall.Argument': { param_id: [2, 'uint32'], value: [3, 'bytes'] },
  Table: {
    preamble: [1, 'Preamble'],
    match_fields: [2, 'repeated MatchField'],
    action_refs: [3, 'repeated ActionRef'],
    const_default_action_id: [4, 'uint32'],
    initial_default_action: [5, 'TableActionCall'],
    implementation_id: [6, 'uint32'],
    direct_resource_ids: [7, 'repeated uint32'],
    size: [8, 'int64'],
    idle_timeout_behavior: [9, 'Table.IdleTimeoutBehavior'],
    is_const_table: [10, 'bool'],
    has_initial_entries: [11, 'bool'],
    other_properties: [100, 'google.protobuf.Any'],
  },
  ActionRef: {
    id: [1, 'uint32'],
    scope: [3, 'ActionRef.Scope'],
    annotations: [2, 'repeated string'],
    annotation_locations: [5, SL],
    structured_annotations: [4, SA],
  },
  Action: { preamble: [1, 'Preamble'], params: [2, 'repeated Action.Param'] },
  'Action.Param': {
    id: [1, 'uint32'],
    name: [2, 'string'],
    annotations: [3, 'repeated string'],
    annotation_locations: [8, SL],
    bitwidth: [4, 'int32'],
    doc: [5, 'Documentation'],
    type_name: [6, 'P4NamedType'],
    structured_annotations: [7, SA],
  },
  ActionProfile: {
    preamble: [1, 'Preamble'],
    table_ids: [2, 'repeated uint32'],
    with_selector: [3, 'bool'],
    size: [4, 'int64'],
    max_group_size: [5, 'int32'],
    sum_of_weights: [6, 'ActionProfile.SumOfWeights'],
    sum_of_members: [7, 'ActionProfile.SumOfMembers'],
    weights_disallowed: [8, 'bool'],
  },
  'ActionProfile.SumOfWeights': {},
  'ActionProfile.SumOfMembers': { max_member_weight: [1, 'int32'] },
  CounterSpec: { unit: [1, 'CounterSpec.Unit'] },
  Counter: { preamble: [1, 'Preamble'], spec: [2, 'CounterSpec'], size: [3, 'int64'], index_type_name: [4, 'P4NamedType'] },
  DirectCounter: { preamble: [1, 'Preamble'], spec: [2, 'CounterSpec'], direct_table_id: [3, 'uint32'] },
  MeterSpec: { unit: [1, 'MeterSpec.Unit'], type: [2, 'MeterSpec.Type'] },
  Meter: { preamble: [1, 'Preamble'], spec: [2, 'MeterSpec'], size: [3, 'int64'], index_type_name: [4, 'P4NamedType'] },
  DirectMeter: { preamble: [1, 'Preamble'], spec: [2, 'MeterSpec'], direct_table_id: [3, 'uint32'] },
  ControllerPacketMetadata: { preamble: [1, 'Preamble'], metadata: [2, 'repeated ControllerPacketMetadata.Metadata'] },
  'ControllerPacketMetadata.Metadata': {
    id: [1, 'uint32'],
    name: [2, 'string'],
    annotations: [3, 'repeated string'],
    annotation_locations: [7, SL],
    bitwidth: [4, 'int32'],
    type_name: [5, 'P4NamedType'],
    structured_annotations: [6, SA],
  },
  ValueSet: { preamble: [1, 'Preamble'], match: [2, 'repeated MatchField'], size: [3, 'int32'] },
  Register: { preamble: [1, 'Preamble'], type_spec: [2, 'P4DataTypeSpec'], size: [3, 'int32'], index_type_name: [4, 'P4NamedType'] },
  Digest: { preamble: [1, 'Preamble'], type_spec: [2, 'P4DataTypeSpec'] },
  // p4types.proto (a selection)
  P4TypeInfo: {
    structs: [1, 'map<string,P4StructTypeSpec>'],
    headers: [2, 'map<string,P4HeaderTypeSpec>'],
    header_unions: [3, 'map<string,P4HeaderUnionTypeSpec>'],
    enums: [4, 'map<string,P4EnumTypeSpec>'],
    error: [5, 'P4ErrorTypeSpec'],
    serializable_enums: [6, 'map<string,P4SerializableEnumTypeSpec>'],
    new_types: [7, 'map<string,P4NewTypeSpec>'],
  },
  P4DataTypeSpec: {
    bitstring: [1, 'P4BitstringLikeTypeSpec'],
    bool: [2, 'P4BoolType'],
    tuple: [3, 'P4TupleTypeSpec'],
    struct: [4, 'P4NamedType'],
    header: [5, 'P4NamedType'],
    header_union: [6, 'P4NamedType'],
    header_stack: [7, 'P4HeaderStackTypeSpec'],
    header_union_stack: [8, 'P4HeaderUnionStackTypeSpec'],
    enum: [9, 'P4NamedType'],
    error: [10, 'P4ErrorType'],
    serializable_enum: [11, 'P4NamedType'],
    new_type: [12, 'P4NamedType'],
  },
  P4NamedType: { name: [1, 'string'] },
  P4BitstringLikeTypeSpec: {
    bit: [1, 'P4BitTypeSpec'],
    int: [2, 'P4IntTypeSpec'],
    varbit: [3, 'P4VarbitTypeSpec'],
    annotations: [4, 'repeated string'],
    annotation_locations: [5, SL],
    structured_annotations: [6, SA],
  },
  P4BitTypeSpec: { bitwidth: [1, 'int32'] },
  P4VarbitTypeSpec: { max_bitwidth: [1, 'int32'] },
  'P4HeaderTypeSpec.Member': { name: [1, 'string'], type_spec: [2, 'P4BitstringLikeTypeSpec'] },
  StructuredAnnotation: {
    name: [1, 'string'],
    expression_list: [2, 'ExpressionList'],
    kv_pair_list: [3, 'KeyValuePairList'],
    source_location: [4, 'SourceLocation'],
  },
  Expression: { string_value: [1, 'string'], int64_value: [2, 'int64'], bool_value: [3, 'bool'] },
  SourceLocation: { file: [1, 'string'], line: [2, 'int32'], column: [3, 'int32'] },
  P4NewTypeTranslation: { uri: [1, 'string'], sdn_bitwidth: [2, 'int32'], sdn_string: [3, 'P4NewTypeTranslation.SdnString'] },
};

const GOOGLE_RPC: FieldTable = {
  Status: { code: [1, 'int32'], message: [2, 'string'], details: [3, 'repeated google.protobuf.Any'] },
};

/** Enum values, from the specifications. */
const ENUMS: Record<string, Record<string, number>> = {
  'p4.v1.WriteRequest.Atomicity': { CONTINUE_ON_ERROR: 0, ROLLBACK_ON_ERROR: 1, DATAPLANE_ATOMIC: 2 },
  'p4.v1.Update.Type': { UNSPECIFIED: 0, INSERT: 1, MODIFY: 2, DELETE: 3 },
  'p4.v1.ActionProfileActionSet.ActionSelectionMode': { DEFAULT_MODE_DETERMINED_BY_ACTION_SELECTOR: 0, HASH: 1, RANDOM: 2 },
  'p4.v1.ActionProfileActionSet.SizeSemantics': { DEFAULT_SIZE_DETERMINED_BY_ACTION_SELECTOR: 0, SUM_OF_WEIGHTS: 1, SUM_OF_MEMBERS: 2 },
  'p4.v1.SetForwardingPipelineConfigRequest.Action': {
    UNSPECIFIED: 0,
    VERIFY: 1,
    VERIFY_AND_SAVE: 2,
    VERIFY_AND_COMMIT: 3,
    COMMIT: 4,
    RECONCILE_AND_COMMIT: 5,
  },
  'p4.v1.GetForwardingPipelineConfigRequest.ResponseType': { ALL: 0, COOKIE_ONLY: 1, P4INFO_AND_COOKIE: 2, DEVICE_CONFIG_AND_COOKIE: 3 },
  'p4.v1.SdnPort': { SDN_PORT_UNKNOWN: 0, SDN_PORT_MIN: 1, SDN_PORT_MAX: -257, SDN_PORT_RECIRCULATE: -6, SDN_PORT_CPU: -3 },
  'p4.config.v1.P4Ids.Prefix': {
    UNSPECIFIED: 0,
    ACTION: 0x01,
    TABLE: 0x02,
    VALUE_SET: 0x03,
    CONTROLLER_HEADER: 0x04,
    PSA_EXTERNS_START: 0x10,
    ACTION_PROFILE: 0x11,
    COUNTER: 0x12,
    DIRECT_COUNTER: 0x13,
    METER: 0x14,
    DIRECT_METER: 0x15,
    REGISTER: 0x16,
    DIGEST: 0x17,
    OTHER_EXTERNS_START: 0x80,
    MAX: 0xff,
  },
  'p4.config.v1.MatchField.MatchType': { UNSPECIFIED: 0, EXACT: 2, LPM: 3, TERNARY: 4, RANGE: 5, OPTIONAL: 6 },
  'p4.config.v1.ActionRef.Scope': { TABLE_AND_DEFAULT: 0, TABLE_ONLY: 1, DEFAULT_ONLY: 2 },
  'p4.config.v1.Table.IdleTimeoutBehavior': { NO_TIMEOUT: 0, NOTIFY_CONTROL: 1 },
  'p4.config.v1.CounterSpec.Unit': { UNSPECIFIED: 0, BYTES: 1, PACKETS: 2, BOTH: 3 },
  'p4.config.v1.MeterSpec.Unit': { UNSPECIFIED: 0, BYTES: 1, PACKETS: 2 },
  'p4.config.v1.MeterSpec.Type': { TWO_RATE_THREE_COLOR: 0, SINGLE_RATE_THREE_COLOR: 1, SINGLE_RATE_TWO_COLOR: 2 },
  'google.rpc.Code': {
    OK: 0,
    CANCELLED: 1,
    UNKNOWN: 2,
    INVALID_ARGUMENT: 3,
    DEADLINE_EXCEEDED: 4,
    NOT_FOUND: 5,
    ALREADY_EXISTS: 6,
    PERMISSION_DENIED: 7,
    UNAUTHENTICATED: 16,
    RESOURCE_EXHAUSTED: 8,
    FAILED_PRECONDITION: 9,
    ABORTED: 10,
    OUT_OF_RANGE: 11,
    UNIMPLEMENTED: 12,
    INTERNAL: 13,
    UNAVAILABLE: 14,
    DATA_LOSS: 15,
  },
};

/** Oneof groupings, from the specifications: message -> oneof name -> members. */
const ONEOFS: Record<string, Record<string, readonly string[]>> = {
  'p4.v1.Entity': {
    entity: [
      'extern_entry',
      'table_entry',
      'action_profile_member',
      'action_profile_group',
      'meter_entry',
      'direct_meter_entry',
      'counter_entry',
      'direct_counter_entry',
      'packet_replication_engine_entry',
      'value_set_entry',
      'register_entry',
      'digest_entry',
    ],
  },
  'p4.v1.FieldMatch': { field_match_type: ['exact', 'ternary', 'lpm', 'range', 'optional', 'other'] },
  'p4.v1.TableAction': { type: ['action', 'action_profile_member_id', 'action_profile_group_id', 'action_profile_action_set'] },
  'p4.v1.ActionProfileAction': { watch_kind: ['watch', 'watch_port'] },
  'p4.v1.ActionProfileGroup.Member': { watch_kind: ['watch', 'watch_port'] },
  'p4.v1.PacketReplicationEngineEntry': { type: ['multicast_group_entry', 'clone_session_entry'] },
  'p4.v1.Replica': { port_kind: ['egress_port', 'port'] },
  'p4.v1.StreamMessageRequest': { update: ['arbitration', 'packet', 'digest_ack', 'other'] },
  'p4.v1.StreamMessageResponse': { update: ['arbitration', 'packet', 'digest', 'idle_timeout_notification', 'other', 'error'] },
  'p4.v1.StreamError': { details: ['packet_out', 'digest_list_ack', 'other'] },
  'p4.v1.P4Data': {
    data: ['bitstring', 'varbit', 'bool', 'tuple', 'struct', 'header', 'header_union', 'header_stack', 'header_union_stack', 'enum', 'error', 'enum_value'],
  },
  'p4.config.v1.MatchField': { match: ['match_type', 'other_match_type'] },
  'p4.config.v1.ActionProfile': { selector_size_semantics: ['sum_of_weights', 'sum_of_members'] },
  'p4.config.v1.P4DataTypeSpec': {
    type_spec: ['bitstring', 'bool', 'tuple', 'struct', 'header', 'header_union', 'header_stack', 'header_union_stack', 'enum', 'error', 'serializable_enum', 'new_type'],
  },
  'p4.config.v1.P4BitstringLikeTypeSpec': { type_spec: ['bit', 'int', 'varbit'] },
  'p4.config.v1.StructuredAnnotation': { body: ['expression_list', 'kv_pair_list'] },
  'p4.config.v1.Expression': { value: ['string_value', 'int64_value', 'bool_value'] },
  'p4.config.v1.P4NewTypeTranslation': { sdn_type: ['sdn_bitwidth', 'sdn_string'] },
  'p4.config.v1.P4NewTypeSpec': { representation: ['original_type', 'translated_type'] },
};

/** Prism's own control protocol (written from control.proto's intent, ARCHITECTURE section 6). */
const PRISM_CONTROL_V1: FieldTable = {
  PrepareRequest: {
    transaction_id: [1, 'uint64'],
    connection: [2, 'ConnectionState'],
    request: [3, 'bytes'],
    body: [4, 'bytes'],
    body_length: [5, 'uint64'],
    deadline_unix_ms: [6, 'uint64'],
    start: [7, 'bool'],
    keep_ms: [8, 'uint32'],
    release_on_done: [9, 'bool'],
  },
  Done: { transaction_id: [1, 'uint64'], bytes_sent: [2, 'uint64'], bytes_received: [3, 'uint64'], load: [4, 'LoadReport'], released: [5, 'ReleaseResponse'], close_requested: [6, 'bool'] },
  ControllerMessage: { call_id: [1, 'uint64'], prepare: [2, 'PrepareRequest'], continue: [3, 'ContinueRequest'], release: [4, 'ReleaseRequest'], abort: [5, 'AbortRequest'], hello: [6, 'ChannelHello'], start: [7, 'StartRequest'] },
  ChannelHello: { token: [1, 'string'] },
  HealthResponse: { agent: [1, 'string'], version: [2, 'string'], backend_address: [3, 'string'], protocol_version: [4, 'ProtocolVersion'], channel_port: [5, 'uint32'], channel_path: [6, 'string'] },
  AgentMessage: {
    call_id: [1, 'uint64'],
    prepare: [2, 'PrepareResponse'],
    continue: [3, 'ContinueResponse'],
    release: [4, 'ReleaseResponse'],
    abort: [5, 'AbortResponse'],
    error: [6, 'CallError'],
    event: [7, 'AgentEvent'],
    start: [8, 'StartResponse'],
  },
  CallError: { code: [1, 'uint32'], message: [2, 'string'] },
  ContinueRequest: { transaction_id: [1, 'uint64'], next_transaction_id: [2, 'uint64'], deadline_unix_ms: [3, 'uint64'], keep_ms: [4, 'uint32'] },
  NextRequest: { transaction_id: [1, 'uint64'], head: [2, 'bytes'], idle: [3, 'bool'] },
  PrepareResponse: { transaction_id: [1, 'uint64'], ready: [2, 'PrepareResponse.Ready'], refused: [3, 'PrepareResponse.Refused'] },
  'PrepareResponse.Refused': { reason: [1, 'RefuseReason'], detail: [2, 'string'] },
  ReleaseResponse: { transaction_id: [1, 'uint64'], state: [2, 'ConnectionState'], unread: [3, 'bytes'], bytes_sent: [4, 'uint64'], unacked: [5, 'bytes'] },
  AgentEvent: { done: [1, 'Done'], aborted: [2, 'Aborted'], load: [3, 'LoadReport'], next_request: [4, 'NextRequest'] },
  LoadReport: {
    agent: [1, 'string'],
    active_transactions: [2, 'uint32'],
    queue_length: [3, 'uint32'],
    cpu_utilization: [4, 'double'],
    recent_throughput_bps: [5, 'uint64'],
    timestamp_ms: [6, 'uint64'],
  },
};

const SCALARS = new Set([
  'double', 'float', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64',
  'fixed32', 'fixed64', 'sfixed32', 'sfixed64', 'bool', 'string', 'bytes',
]);

function qualify(pkg: string, t: string): string {
  if (SCALARS.has(t)) return t;
  if (/^(p4|google|prism)\./.test(t)) return t;
  return `${pkg}.${t}`;
}

/** Canonical type string of an expected entry. */
function expectedType(pkg: string, t: string): string {
  const map = /^map<(\w+),(.+)>$/.exec(t);
  if (map) return `map<${map[1]},${qualify(pkg, map[2] ?? '')}>`;
  if (t.startsWith('repeated ')) return `repeated ${qualify(pkg, t.slice('repeated '.length))}`;
  return qualify(pkg, t);
}

/** Canonical type string of a loaded field. */
function actualType(f: protobuf.Field): string {
  const base = f.resolvedType ? f.resolvedType.fullName.slice(1) : f.type;
  if (f instanceof protobuf.MapField) return `map<${f.keyType},${base}>`;
  return f.repeated ? `repeated ${base}` : base;
}

const root = loadProtoRoot();

function lookupType(name: string): protobuf.Type {
  return root.lookupType(name);
}

describe.each([
  ['p4.v1', P4_V1],
  ['p4.config.v1', P4_CONFIG_V1],
  ['google.rpc', GOOGLE_RPC],
  ['prism.control.v1', PRISM_CONTROL_V1],
] as const)('package %s field numbers and types', (pkg, table) => {
  it.each(Object.keys(table))('%s', (msg) => {
    const type = lookupType(`${pkg}.${msg}`);
    const expected = table[msg] ?? {};
    const actual: Record<string, readonly [number, string]> = {};
    for (const f of type.fieldsArray) actual[f.name] = [f.id, actualType(f)];
    const want: Record<string, readonly [number, string]> = {};
    for (const [name, [id, t]] of Object.entries(expected)) want[name] = [id, expectedType(pkg, t)];
    expect(actual).toEqual(want);
  });
});

describe('enum values', () => {
  it.each(Object.keys(ENUMS))('%s', (name) => {
    const e = root.lookupEnum(name);
    expect(e.values).toEqual(ENUMS[name]);
  });
});

describe('oneof groupings', () => {
  it.each(Object.keys(ONEOFS))('%s', (name) => {
    const type = lookupType(name);
    const actual: Record<string, string[]> = {};
    for (const o of type.oneofsArray) actual[o.name] = [...o.oneof];
    expect(actual).toEqual(ONEOFS[name]);
  });
});

describe('deprecated fields carry [deprecated = true]', () => {
  it.each([
    ['p4.v1.WriteRequest', 'role_id'],
    ['p4.v1.SetForwardingPipelineConfigRequest', 'role_id'],
    ['p4.v1.TableEntry', 'controller_metadata'],
    ['p4.v1.ActionProfileAction', 'watch'],
    ['p4.v1.ActionProfileGroup.Member', 'watch'],
    ['p4.v1.Replica', 'egress_port'],
    ['p4.v1.Role', 'id'],
  ])('%s.%s', (msg, field) => {
    expect(lookupType(msg).fields[field]?.options?.['deprecated']).toBe(true);
  });
});

type MethodSpec = readonly [name: string, request: string, requestStream: boolean, response: string, responseStream: boolean];

function checkService(fullName: string, methods: readonly MethodSpec[]): void {
  const svc = root.lookupService(fullName);
  const actual = svc.methodsArray.map(
    (m) =>
      [
        m.name,
        m.resolvedRequestType?.fullName.slice(1) ?? '',
        m.requestStream === true,
        m.resolvedResponseType?.fullName.slice(1) ?? '',
        m.responseStream === true,
      ] as const,
  );
  expect(actual).toEqual(methods);
}

describe('services', () => {
  it('p4.v1.P4Runtime has the six methods of the specification', () => {
    checkService('p4.v1.P4Runtime', [
      ['Write', 'p4.v1.WriteRequest', false, 'p4.v1.WriteResponse', false],
      ['Read', 'p4.v1.ReadRequest', false, 'p4.v1.ReadResponse', true],
      ['SetForwardingPipelineConfig', 'p4.v1.SetForwardingPipelineConfigRequest', false, 'p4.v1.SetForwardingPipelineConfigResponse', false],
      ['GetForwardingPipelineConfig', 'p4.v1.GetForwardingPipelineConfigRequest', false, 'p4.v1.GetForwardingPipelineConfigResponse', false],
      ['StreamChannel', 'p4.v1.StreamMessageRequest', true, 'p4.v1.StreamMessageResponse', true],
      ['Capabilities', 'p4.v1.CapabilitiesRequest', false, 'p4.v1.CapabilitiesResponse', false],
    ]);
  });

  it('prism.control.v1.Agent has the control protocol methods', () => {
    const p = 'prism.control.v1.';
    checkService(`${p}Agent`, [
      ['Prepare', `${p}PrepareRequest`, false, `${p}PrepareResponse`, false],
      ['Start', `${p}StartRequest`, false, `${p}StartResponse`, false],
      ['Release', `${p}ReleaseRequest`, false, `${p}ReleaseResponse`, false],
      ['Continue', `${p}ContinueRequest`, false, `${p}ContinueResponse`, false],
      ['Abort', `${p}AbortRequest`, false, `${p}AbortResponse`, false],
      ['Events', `${p}EventsRequest`, false, `${p}AgentEvent`, true],
      ['Health', `${p}HealthRequest`, false, `${p}HealthResponse`, false],
      ['Session', `${p}ControllerMessage`, true, `${p}AgentMessage`, true],
    ]);
  });

  it('the control protocol declares its version', () => {
    expect(root.lookupEnum('prism.control.v1.ProtocolVersion').values).toEqual({
      PROTOCOL_VERSION_UNSPECIFIED: 0,
      PROTOCOL_VERSION_1: 1,
    });
  });
});

describe('the checker itself', () => {
  it('detects a wrong field number', () => {
    const type = lookupType('p4.v1.Uint128');
    const actual = Object.fromEntries(type.fieldsArray.map((f) => [f.name, [f.id, actualType(f)]]));
    expect(actual).not.toEqual({ high: [2, 'uint64'], low: [1, 'uint64'] });
    expect(actual).toEqual({ high: [1, 'uint64'], low: [2, 'uint64'] });
  });
});
