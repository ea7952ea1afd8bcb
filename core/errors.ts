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
  | 'PRISM_ERR_BPF';

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
