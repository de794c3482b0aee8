/**
 * Read-only mappings of segment files, for readers in a process that does
 * not own the store (lib/reader/store-reader.ts, the CLI). Nothing here
 * writes, locks or unlinks: the file is opened O_RDONLY, mapped PROT_READ +
 * MAP_SHARED (so the reader sees what the writer puts in the page cache,
 * through its own mapping or by pwrite), and the descriptor is closed at
 * once — the mapping keeps the file alive, even if the writer deletes it.
 *
 * Safety: a mapping is never longer than the file was when it was made, and
 * the engine never shrinks a segment file (they are created at full size and
 * only zeroed or unlinked afterwards), so no access through it can fault
 * past the end of the file (SIGBUS).
 *
 * Release: mmap-io unmaps a mapping when its Buffer is garbage collected;
 * dropping every reference is the release.
 */
import { closeSync, fstatSync, openSync, constants as fsConstants } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { CommitLogError } from '../errors.js';
import { errnoError, fsError } from './errno.js';

const require = createRequire(import.meta.url);

interface MmapIoReadOnly {
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
  incore(buffer: Buffer): [number, number];
  readonly PROT_READ: number;
  readonly MAP_SHARED: number;
  readonly PAGESIZE: number;
}

/** mmap-io reads the size as a C int. */
const MMAP_IO_SIZE_MAX = 2 ** 31 - 1;

let mmapIo: MmapIoReadOnly | undefined;
function mmap(): MmapIoReadOnly {
  if (mmapIo === undefined) {
    try {
      mmapIo = require('@riaskov/mmap-io') as MmapIoReadOnly;
    } catch (cause) {
      throw new CommitLogError('ERR_NATIVE_UNAVAILABLE', 'cannot load @riaskov/mmap-io', { cause });
    }
  }
  return mmapIo;
}

/** A file's bytes, mapped read-only. */
export interface ReadOnlyMapping {
  /** The mapped bytes (empty for an empty file). Valid as long as it is referenced. */
  readonly bytes: Buffer;
  /** The file's size when it was mapped: bytes.length. */
  readonly fileSizeBytes: number;
  /** Bytes the file occupies on disk (st_blocks × 512) when it was mapped. */
  readonly diskBytes: number;
  /** Last modification time of the file when it was mapped (ms). */
  readonly mtimeMs: number;
}

/**
 * Maps `path` read-only. An empty file gives an empty Buffer (mmap(2)
 * refuses length 0). ERR_IO (with errno) when the file cannot be opened or
 * mapped; ERR_INVALID_ARGUMENT for a file too large for mmap-io.
 */
export function mapReadOnly(path: string): ReadOnlyMapping {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO named like a segment must not block the open (it is refused below).
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw fsError(err, 'open', path);
  }
  try {
    let stat;
    try {
      stat = fstatSync(fd);
    } catch (err) {
      throw fsError(err, 'fstat', path);
    }
    if (!stat.isFile()) throw new CommitLogError('ERR_IO', `${path} is not a regular file`, { path });
    const size = stat.size;
    const diskBytes = stat.blocks * 512;
    if (size === 0) return { bytes: Buffer.alloc(0), fileSizeBytes: 0, diskBytes, mtimeMs: stat.mtimeMs };
    if (size > MMAP_IO_SIZE_MAX) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `${path} has ${size} bytes, more than one mapping can hold (${MMAP_IO_SIZE_MAX})`, { path });
    }
    const m = mmap();
    let bytes: Buffer;
    try {
      bytes = m.map(size, m.PROT_READ, m.MAP_SHARED, fd);
    } catch (err) {
      throw mapError(err, path);
    }
    return { bytes, fileSizeBytes: size, diskBytes, mtimeMs: stat.mtimeMs };
  } finally {
    try {
      closeSync(fd); // the mapping outlives the descriptor
    } catch {
      // A close error on a read-only descriptor loses nothing.
    }
  }
}

/**
 * Bytes of `mapping` resident in the page cache (mincore(2)). The kernel
 * answers for a file mapping only when the caller owns the file or may write
 * it; otherwise it counts only pages this process has touched.
 */
export function residentBytes(mapping: Buffer): number {
  if (mapping.length === 0) return 0;
  const m = mmap();
  try {
    const [, resident] = m.incore(mapping);
    return Math.min(mapping.length, resident * m.PAGESIZE);
  } catch (err) {
    throw mapError(err, undefined, 'mincore');
  }
}

/** mmap-io throws plain Errors ending in ", <errno>"; keep the errno when there is one. */
function mapError(err: unknown, path: string | undefined, syscall = 'mmap'): CommitLogError {
  const match = /(\d+)\s*$/.exec(err instanceof Error ? err.message : '');
  const errno = match ? Number(match[1]) : 0;
  if (errno > 0 && errno !== osConstants.errno.EINVAL && errno !== osConstants.errno.EBADF && errno !== osConstants.errno.EFAULT) {
    const mapped = errnoError(errno, syscall, path);
    return new CommitLogError(mapped.code, mapped.message.replace(/^\w+: /, ''), {
      cause: err,
      errno,
      ...(mapped.errnoCode === undefined ? {} : { errnoCode: mapped.errnoCode }),
      syscall,
      ...(path === undefined ? {} : { path }),
    });
  }
  return new CommitLogError('ERR_IO', `${syscall} failed${path === undefined ? '' : ` (${path})`}`, { cause: err, syscall, ...(path === undefined ? {} : { path }) });
}
