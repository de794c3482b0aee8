/**
 * The native boundary's errno policy, decided once for every errno a shim
 * call can return (TigerBeetle's storage.zig does the same):
 *
 * | errno                    | meaning here                        | result                    |
 * |--------------------------|-------------------------------------|---------------------------|
 * | EINTR                    | interrupted                         | retried inside the shim   |
 * | ENOSPC, EDQUOT           | no room on the device               | ERR_DISK_FULL             |
 * | EIO, EROFS, ENODEV, ENXIO| the device failed or went away      | ERR_IO                    |
 * | EPERM, EACCES            | refused by permissions              | ERR_IO                    |
 * | ENOMEM, EAGAIN           | kernel out of resources             | ERR_IO                    |
 * | EBADF, EFAULT, EINVAL    | we passed a bad fd / address / arg  | assertion (engine bug)    |
 * | anything else            | not expected from these calls       | ERR_IO, errno kept        |
 *
 * Callers that can degrade (mlock refused, fallocate unsupported) look at the
 * errno before calling `throwIfFailed`.
 */
import { constants } from 'node:os';
import { assert } from '../assert.js';
import { CommitLogError } from '../errors.js';

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, value]) => [value, name]),
);

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

const BUG_ERRNOS = new Set([constants.errno.EBADF, constants.errno.EFAULT, constants.errno.EINVAL]);
const DISK_FULL_ERRNOS = new Set([constants.errno.ENOSPC, constants.errno.EDQUOT]);

/** Maps a positive errno from `syscall` to a CommitLogError (or an assertion for errnos that mean a bug). */
export function errnoError(errno: number, syscall: string, path?: string): CommitLogError {
  assert(errno > 0, `errno must be positive, got ${errno}`);
  const name = errnoName(errno);
  assert(!BUG_ERRNOS.has(errno), `${syscall} returned ${name}: bad arguments from the engine`);
  const code = DISK_FULL_ERRNOS.has(errno) ? 'ERR_DISK_FULL' : 'ERR_IO';
  return new CommitLogError(code, `${syscall} failed: ${name}${path ? ` (${path})` : ''}`, {
    errno,
    errnoCode: name,
    syscall,
    ...(path === undefined ? {} : { path }),
  });
}

/** Throws the mapped CommitLogError when a shim call returned -errno. */
export function throwIfFailed(result: number, syscall: string, path?: string): void {
  if (result < 0) throw errnoError(-result, syscall, path);
}

/**
 * An error from a node:fs call the engine makes in place of a shim call (a
 * small write or fdatasync), under the shim's policy above: EBADF, EINVAL…
 * are an engine bug (an assertion), not an ERR_IO.
 */
export function libuvError(err: unknown, syscall: string): CommitLogError {
  const errno = (err as NodeJS.ErrnoException)?.errno;
  return typeof errno === 'number' ? errnoError(Math.abs(errno), syscall) : fsError(err, syscall);
}

/** Wraps an error thrown by node:fs (which carries `errno` and `code`) as a CommitLogError. */
export function fsError(err: unknown, syscall: string, path?: string): CommitLogError {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.errno === 'number' && typeof e.code === 'string') {
    const errno = Math.abs(e.errno);
    const code = DISK_FULL_ERRNOS.has(errno) ? 'ERR_DISK_FULL' : 'ERR_IO';
    return new CommitLogError(code, `${syscall} failed: ${e.code}${path ? ` (${path})` : ''}`, {
      cause: err,
      errno,
      errnoCode: e.code,
      syscall,
      ...(path === undefined ? {} : { path }),
    });
  }
  return new CommitLogError('ERR_IO', `${syscall} failed${path ? ` (${path})` : ''}`, { cause: err, syscall });
}
