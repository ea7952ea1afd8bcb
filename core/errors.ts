/**
 * One error class per failure mode, each with a stable `code`. Callers branch on `code`,
 * never on message text. Failures that cross a process boundary (P4Runtime, agent calls)
 * travel as data and become these errors only at the API edge.
 */
export type PrismErrorCode =
  | 'PRISM_ERR_INVALID_ARGUMENT'
  | 'PRISM_ERR_NOT_ROOT'
  | 'PRISM_ERR_COMMAND_FAILED'
  | 'PRISM_ERR_NETNS'
  | 'PRISM_ERR_TIMEOUT'
  | 'PRISM_ERR_PROTO'
  | 'PRISM_ERR_NOT_FOUND'
  | 'PRISM_ERR_ALREADY_EXISTS'
  | 'PRISM_ERR_CODEGEN'
  | 'PRISM_ERR_TABLE_FULL'
  | 'PRISM_ERR_AGENT_CALL'
  | 'PRISM_ERR_HANDOFF'
  | 'PRISM_ERR_BPF'
  | 'PRISM_ERR_SYSCALL'
  | 'PRISM_ERR_P4INFO_LOOKUP'
  | 'PRISM_ERR_P4RT_WRITE'
  | 'PRISM_ERR_P4RT_RPC'
  | 'PRISM_ERR_P4RT_NOT_PRIMARY'
  | 'PRISM_ERR_P4RT_UNAVAILABLE'
  | 'PRISM_ERR_P4RT_NO_PIPELINE'
  | 'PRISM_ERR_TCP_STATE';

export class PrismError extends Error {
  readonly code: PrismErrorCode;
  constructor(code: PrismErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class InvalidArgumentError extends PrismError {
  constructor(message: string) {
    super('PRISM_ERR_INVALID_ARGUMENT', message);
  }
}

export class NotRootError extends PrismError {
  constructor(what: string) {
    super('PRISM_ERR_NOT_ROOT', `${what} needs root (CAP_NET_ADMIN): run as root, e.g. with sudo`);
  }
}

/** A child process exited non-zero; carries its argv, status and stderr for the message. */
export class CommandFailedError extends PrismError {
  readonly argv: readonly string[];
  readonly status: number | null;
  readonly stderr: string;
  constructor(argv: readonly string[], status: number | null, stderr: string) {
    super('PRISM_ERR_COMMAND_FAILED', `\`${argv.join(' ')}\` exited with ${status ?? 'a signal'}: ${stderr.trim() || '(no output)'}`);
    this.argv = argv;
    this.status = status;
    this.stderr = stderr;
  }
}

export class NetnsError extends PrismError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PRISM_ERR_NETNS', message, options);
  }
}

export class TimeoutError extends PrismError {
  constructor(what: string, ms: number) {
    super('PRISM_ERR_TIMEOUT', `${what} did not finish within ${ms} ms`);
  }
}

export class ProtoError extends PrismError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PRISM_ERR_PROTO', message, options);
  }
}

export class CodegenError extends PrismError {
  constructor(message: string) {
    super('PRISM_ERR_CODEGEN', message);
  }
}

/**
 * A libbpf / bpf(2) / netlink call made by the native addon (native/) failed. `errnoName` is
 * the errno name ('EPERM', 'ENOENT', 'E2BIG', ...), `errno` its positive number and `op` the
 * failing call (e.g. 'bpf_object__load'). A verifier rejection carries the tail of the
 * verifier log in the message.
 */
export class BpfError extends PrismError {
  readonly op: string;
  readonly errno: number;
  readonly errnoName: string;
  constructor(op: string, errno: number, errnoName: string, message: string, options?: { cause?: unknown }) {
    super('PRISM_ERR_BPF', message, options);
    this.op = op;
    this.errno = errno;
    this.errnoName = errnoName;
  }
}

/**
 * A name or id looked up in a P4Info (table, action, match field, param, controller packet
 * metadata, counter) does not exist, or a short name fits several objects. `kind` says what was
 * looked up, `scope` where (the table or action searched, '' for the whole P4Info), `suggestions`
 * the nearest names, `ambiguous` the candidates when a short name fits more than one.
 */
export class P4InfoLookupError extends PrismError {
  readonly kind: string;
  readonly lookedUp: string;
  readonly scope: string;
  readonly suggestions: readonly string[];
  readonly ambiguous: readonly string[];
  constructor(
    kind: string,
    lookedUp: string,
    details: { scope?: string; suggestions?: readonly string[]; ambiguous?: readonly string[]; known?: readonly string[] } = {},
  ) {
    const where = details.scope ? ` of ${details.scope}` : ' in the P4Info';
    const ambiguous = details.ambiguous ?? [];
    const suggestions = details.suggestions ?? [];
    let message: string;
    if (ambiguous.length > 0) {
      message = `${kind} ${JSON.stringify(lookedUp)}${where} is ambiguous: it fits ${ambiguous.map((n) => JSON.stringify(n)).join(', ')}; use the full name`;
    } else {
      message = `no ${kind} ${JSON.stringify(lookedUp)}${where}`;
      if (suggestions.length > 0) message += `; did you mean ${suggestions.map((n) => JSON.stringify(n)).join(' or ')}?`;
      const known = details.known ?? [];
      if (known.length > 0) {
        const shown = known.length > 12 ? [...known.slice(0, 12), `... ${known.length - 12} more`] : known;
        message += ` (known: ${shown.join(', ')})`;
      } else {
        message += ` (there is no ${kind} at all)`;
      }
    }
    super('PRISM_ERR_P4INFO_LOOKUP', message);
    this.kind = kind;
    this.lookedUp = lookedUp;
    this.scope = details.scope ?? '';
    this.suggestions = suggestions;
    this.ambiguous = ambiguous;
  }
}

/**
 * One failed update of a P4Runtime Write batch, as a record (P4Runtime spec 12.3): its position in
 * the batch, the update type, a readable description of the entry (table and match key), the
 * canonical code name ('ALREADY_EXISTS', 'NOT_FOUND', 'RESOURCE_EXHAUSTED', ...), the server's
 * message, and the target's own error space and code when it gave them.
 */
export interface P4RuntimeUpdateFailure {
  readonly index: number;
  readonly type: 'INSERT' | 'MODIFY' | 'DELETE';
  readonly entry: string;
  readonly code: string;
  readonly message: string;
  readonly space: string;
  readonly spaceCode: number;
}

/**
 * Some updates of a P4Runtime Write batch failed. `failures` lists each failed update (which entry,
 * which canonical code); `batchSize` is the number of updates sent. The updates not listed were
 * applied (with CONTINUE_ON_ERROR atomicity).
 */
export class P4RuntimeWriteError extends PrismError {
  readonly failures: readonly P4RuntimeUpdateFailure[];
  readonly batchSize: number;
  constructor(failures: readonly P4RuntimeUpdateFailure[], batchSize: number) {
    const lines = failures.slice(0, 10).map((f) => `#${f.index} ${f.type} ${f.entry}: ${f.code}${f.message ? ` (${f.message})` : ''}`);
    if (failures.length > 10) lines.push(`... ${failures.length - 10} more`);
    super('PRISM_ERR_P4RT_WRITE', `${failures.length} of ${batchSize} P4Runtime updates failed: ${lines.join('; ')}`);
    this.failures = failures;
    this.batchSize = batchSize;
  }
  /** The failures with this canonical code ('ALREADY_EXISTS', ...). */
  withCode(code: string): P4RuntimeUpdateFailure[] {
    return this.failures.filter((f) => f.code === code);
  }
}

/**
 * A P4Runtime RPC failed as a whole (not per update): `rpc` is the method ('Write', 'Read',
 * 'SetForwardingPipelineConfig', 'StreamChannel', ...), `grpcCode` the gRPC status number and
 * `grpcCodeName` its canonical name, `details` the server's message.
 */
export class P4RuntimeRpcError extends PrismError {
  readonly rpc: string;
  readonly grpcCode: number;
  readonly grpcCodeName: string;
  readonly details: string;
  constructor(rpc: string, grpcCode: number, grpcCodeName: string, details: string, options?: { cause?: unknown }) {
    super('PRISM_ERR_P4RT_RPC', `P4Runtime ${rpc} failed: ${grpcCodeName}${details ? `: ${details}` : ''}`, options);
    this.rpc = rpc;
    this.grpcCode = grpcCode;
    this.grpcCodeName = grpcCodeName;
    this.details = details;
  }
}

/**
 * A call that needs the primary role (Write, SetForwardingPipelineConfig) was made while this
 * client is a backup, or the server refused it with PERMISSION_DENIED. `primaryElectionId` is the
 * election id of the current primary when the server told it (decimal string), else ''.
 */
export class NotPrimaryError extends PrismError {
  readonly deviceId: string;
  readonly electionId: string;
  readonly primaryElectionId: string;
  constructor(what: string, deviceId: string, electionId: string, primaryElectionId: string, options?: { cause?: unknown }) {
    const primary = primaryElectionId ? `the primary has election id ${primaryElectionId}` : 'there is no primary';
    super(
      'PRISM_ERR_P4RT_NOT_PRIMARY',
      `${what} needs the primary role on device ${deviceId}, but this client (election id ${electionId}) is a backup: ${primary}`,
      options,
    );
    this.deviceId = deviceId;
    this.electionId = electionId;
    this.primaryElectionId = primaryElectionId;
  }
}

/** The P4Runtime client has no live stream to the switch (not connected yet, reconnecting, or closed). */
export class P4RuntimeUnavailableError extends PrismError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PRISM_ERR_P4RT_UNAVAILABLE', message, options);
  }
}

/** The P4Runtime client has no P4Info: none was given, the switch has no pipeline, and none was pushed. */
export class NoPipelineError extends PrismError {
  constructor(what: string) {
    super('PRISM_ERR_P4RT_NO_PIPELINE', `${what} needs a P4Info: pass one to the client, or push a pipeline with setPipeline()`);
  }
}

/**
 * A system call made by native code other than libbpf failed (e.g. the AF_PACKET socket of
 * native/packet.ts). Same shape as BpfError: `errnoName` ('ENODEV', 'EBADF', ...), positive
 * `errno`, and `op`, the failing call (e.g. 'ioctl(SIOCGIFINDEX)', 'send', 'recvmmsg').
 */
export class SyscallError extends PrismError {
  readonly op: string;
  readonly errno: number;
  readonly errnoName: string;
  constructor(op: string, errno: number, errnoName: string, message: string, options?: { cause?: unknown }) {
    super('PRISM_ERR_SYSCALL', message, options);
    this.op = op;
    this.errno = errno;
    this.errnoName = errnoName;
  }
}

/**
 * A TCP endpoint operation (controller/tcp/) was called in a state that does not allow it: `send`
 * after `end`, `exportState` on a connection that is not frozen or still has unacknowledged data,
 * `adopt` of a state whose 4-tuple is live and not frozen. `state` is the RFC 9293 state name and
 * `operation` the call.
 */
export class TcpStateError extends PrismError {
  readonly operation: string;
  readonly state: string;
  constructor(operation: string, state: string, why: string) {
    super('PRISM_ERR_TCP_STATE', `${operation} is not possible on a connection in ${state}: ${why}`);
    this.operation = operation;
    this.state = state;
  }
}
