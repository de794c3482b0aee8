/**
 * The one catalog of error codes. Every error the engine throws on purpose is
 * a CommitLogError with a stable `code` from this list; the message is for
 * people and may change, the code is for programs and does not.
 *
 * Grouped by phase, like bbolt's errors.go. Causes are chained with `cause`.
 */

export const ERROR_CODES = {
  // --- configuration --------------------------------------------------------
  /** An option is missing, of the wrong type, out of range, or inconsistent with another. */
  ERR_INVALID_OPTION: 'invalid option',
  /** An argument to a method is of the wrong type or out of range. */
  ERR_INVALID_ARGUMENT: 'invalid argument',

  // --- open / load ----------------------------------------------------------
  /** Another process (or another open store in this one) holds the directory lock. */
  ERR_STORE_LOCKED: 'store directory is locked by another process',
  /** The store directory path exists but is not a directory, or cannot be created. */
  ERR_STORE_DIR: 'store directory is unusable',
  /** A segment file has the wrong size, a name that is not a 20-digit offset, or a gap before it. */
  ERR_SEGMENT_INVALID: 'segment file is invalid',

  // --- append ---------------------------------------------------------------
  /** The bytes to append do not fit in the rest of the segment. */
  ERR_SEGMENT_FULL: 'segment is full',
  /** A message is larger than maxMessageSize. */
  ERR_MESSAGE_TOO_LARGE: 'message too large',
  /** The TransientStorePool has no free buffer (direct write mode). */
  ERR_POOL_EXHAUSTED: 'transient store pool exhausted',
  /** A previous flush or commit failed; the store accepts no more writes. The original error is `cause`. */
  ERR_STORE_POISONED: 'store stopped after an I/O failure',

  // --- read -----------------------------------------------------------------
  /** An offset or position is negative, past the readable end, or not the start of a message. */
  ERR_BAD_OFFSET: 'bad offset',
  /** Bytes read back fail their checksum or structure. */
  ERR_CORRUPT: 'corrupt data',

  // --- lifecycle ------------------------------------------------------------
  /** The object was closed or destroyed. */
  ERR_CLOSED: 'closed',

  // --- native ---------------------------------------------------------------
  /** A system call failed; `errno` and `syscall` say which and why. */
  ERR_IO: 'I/O error',
  /** The disk is full (ENOSPC / EDQUOT). */
  ERR_DISK_FULL: 'disk full',
  /** The native shim could not be loaded or is of the wrong ABI version. */
  ERR_NATIVE_UNAVAILABLE: 'native shim unavailable',
} as const;

export type CommitLogErrorCode = keyof typeof ERROR_CODES;

export interface CommitLogErrorDetails {
  cause?: unknown;
  /** Positive errno, for native failures. */
  errno?: number;
  /** Node-style errno name, e.g. 'ENOSPC'. */
  errnoCode?: string;
  /** The system call that failed, e.g. 'fdatasync'. */
  syscall?: string;
  /** A file involved, when one is. */
  path?: string;
}

export class CommitLogError extends Error {
  override readonly name = 'CommitLogError';
  readonly code: CommitLogErrorCode;
  readonly errno: number | undefined;
  readonly errnoCode: string | undefined;
  readonly syscall: string | undefined;
  readonly path: string | undefined;

  constructor(code: CommitLogErrorCode, message: string, details: CommitLogErrorDetails = {}) {
    super(`${code}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.errno = details.errno;
    this.errnoCode = details.errnoCode;
    this.syscall = details.syscall;
    this.path = details.path;
  }
}

export function isCommitLogError(value: unknown, code?: CommitLogErrorCode): value is CommitLogError {
  return value instanceof CommitLogError && (code === undefined || value.code === code);
}
