/**
 * The real NativeIO: node:fs for open/close/size, mmap-io for mapping,
 * mincore and advice, the C shim (through ffi-napi) for everything that
 * mmap-io or fs does not do, or does only on the JS thread.
 */
import { createRequire } from 'node:module';
import { close, constants as fsConstants, fdatasync, fstat, fsync, ftruncate, open, unlink, write } from 'node:fs';
import { promisify } from 'node:util';
import { constants as osConstants } from 'node:os';
import { assert } from '../assert.js';
import { CommitLogError } from '../errors.js';
import { errnoError, fsError, libuvError, throwIfFailed } from './errno.js';
import type { Advice, NativeIO } from './native-io.js';
import { callAsync, shim } from './shim.js';

const require = createRequire(import.meta.url);

// Callback fs on numeric descriptors, as promises (fs/promises only offers FileHandles).
const openAsync = promisify(open);
const closeAsync = promisify(close);
const fstatAsync = promisify(fstat);
const ftruncateAsync = promisify(ftruncate);
const unlinkAsync = promisify(unlink);
const fsyncAsync = promisify(fsync);
const fdatasyncAsync = promisify(fdatasync);
const writeAsync = promisify(write) as (fd: number, buffer: Buffer, offset: number, length: number, position: number) => Promise<{ bytesWritten: number }>;

/** Commits of at most this many bytes go through libuv's write (the shim's pwrite slice size, so as short a call). */
const SMALL_WRITE_BYTES = 256 * 1024;

/**
 * fdatasyncs of at most this many dirty bytes go through libuv's own
 * fdatasync (one pool hop, no ffi: ~0.27 ms p50 against ~0.43 ms through the
 * shim for a SYNC_FLUSH group of 64 KiB); larger ones through the shim,
 * which starts their writeback in 1 MiB slices so no single call holds a CPU
 * for long.
 */
const SMALL_SYNC_BYTES = 1024 * 1024;

interface MmapIo {
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
  advise(buffer: Buffer, offset: number, length: number, advise: number): void;
  incore(buffer: Buffer): [number, number];
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly MAP_SHARED: number;
  readonly MAP_PRIVATE: number;
  readonly PAGESIZE: number;
}

/** Linux MAP_ANONYMOUS; mmap-io does not export it. */
const MAP_ANONYMOUS = 0x20;
/** mmap-io reads the size as a C int. */
const MMAP_IO_SIZE_MAX = 2 ** 31 - 1;

const ADVICE: Record<Advice, number> = { normal: 0, random: 1, sequential: 2, willneed: 3, dontneed: 4, hugepage: 14 };

let mmapIo: MmapIo | undefined;
function mmap(): MmapIo {
  if (mmapIo === undefined) {
    try {
      mmapIo = require('@riaskov/mmap-io') as MmapIo;
    } catch (cause) {
      throw new CommitLogError('ERR_NATIVE_UNAVAILABLE', 'cannot load @riaskov/mmap-io', { cause });
    }
  }
  return mmapIo;
}

/** mmap-io throws plain Errors ending in ", <errno>"; recover the errno. */
function mmapError(err: unknown, syscall: string): CommitLogError {
  const match = /(\d+)\s*$/.exec(err instanceof Error ? err.message : '');
  if (match) {
    const errno = Number(match[1]);
    if (errno > 0 && errno !== osConstants.errno.EINVAL && errno !== osConstants.errno.EBADF) {
      const mapped = errnoError(errno, syscall);
      return new CommitLogError(mapped.code, mapped.message.replace(/^\w+: /, ''), {
        cause: err,
        errno,
        ...(mapped.errnoCode === undefined ? {} : { errnoCode: mapped.errnoCode }),
        syscall,
      });
    }
  }
  return new CommitLogError('ERR_IO', `${syscall} failed`, { cause: err, syscall });
}

export class RealNativeIO implements NativeIO {
  readonly pageSize: number;

  constructor() {
    this.pageSize = mmap().PAGESIZE;
    assert(this.pageSize === Number(shim().mc_page_size()), 'mmap-io and the shim agree on the page size');
  }

  async openFile(path: string, create: boolean): Promise<number> {
    const flags = fsConstants.O_RDWR | (create ? fsConstants.O_CREAT : 0);
    try {
      return await openAsync(path, flags, 0o644);
    } catch (err) {
      throw fsError(err, 'open', path);
    }
  }

  async openDataSyncFile(path: string): Promise<number> {
    try {
      return await openAsync(path, fsConstants.O_WRONLY | fsConstants.O_DSYNC);
    } catch (err) {
      throw fsError(err, 'open', path);
    }
  }

  async closeFile(fd: number): Promise<void> {
    try {
      await closeAsync(fd);
    } catch (err) {
      throw fsError(err, 'close');
    }
  }

  async fileSize(fd: number): Promise<number> {
    try {
      return (await fstatAsync(fd)).size;
    } catch (err) {
      throw fsError(err, 'fstat');
    }
  }

  async truncate(fd: number, sizeBytes: number): Promise<void> {
    try {
      await ftruncateAsync(fd, sizeBytes);
    } catch (err) {
      throw fsError(err, 'ftruncate');
    }
  }

  async unlink(path: string): Promise<void> {
    try {
      await unlinkAsync(path);
    } catch (err) {
      throw fsError(err, 'unlink', path);
    }
  }

  async syncDirectory(path: string): Promise<void> {
    let fd: number;
    try {
      fd = await openAsync(path, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    } catch (err) {
      throw fsError(err, 'open', path);
    }
    try {
      await fsyncAsync(fd);
    } catch (err) {
      throw fsError(err, 'fsync', path);
    } finally {
      await closeAsync(fd).catch(() => undefined);
    }
  }

  mapShared(fd: number, sizeBytes: number): Buffer {
    assert(sizeBytes > 0 && sizeBytes <= MMAP_IO_SIZE_MAX, `mapping size ${sizeBytes} fits mmap-io's int`);
    const m = mmap();
    try {
      return m.map(sizeBytes, m.PROT_READ | m.PROT_WRITE, m.MAP_SHARED, fd);
    } catch (err) {
      throw mmapError(err, 'mmap');
    }
  }

  mapAnonymous(sizeBytes: number): Buffer {
    assert(sizeBytes > 0 && sizeBytes <= MMAP_IO_SIZE_MAX, `mapping size ${sizeBytes} fits mmap-io's int`);
    const m = mmap();
    try {
      return m.map(sizeBytes, m.PROT_READ | m.PROT_WRITE, m.MAP_PRIVATE | MAP_ANONYMOUS, -1);
    } catch (err) {
      throw mmapError(err, 'mmap');
    }
  }

  async releaseMapping(mapping: Buffer): Promise<void> {
    throwIfFailed(await callAsync(shim().mc_release_mapping, mapping, mapping.length), 'mmap(MAP_FIXED)');
  }

  residentBytes(mapping: Buffer): number {
    const [unmapped, mapped] = mmap().incore(mapping);
    void unmapped;
    return Math.min(mapping.length, mapped * this.pageSize);
  }

  async advise(mapping: Buffer, position: number, length: number, advice: Advice): Promise<void> {
    // Advice is a hint: a refusal changes nothing the engine relies on.
    await callAsync(shim().mc_madvise, mapping, position, length, ADVICE[advice]);
  }

  async fallocate(fd: number, offset: number, length: number): Promise<void> {
    throwIfFailed(await callAsync(shim().mc_fallocate, fd, offset, length), 'fallocate');
  }

  async populateWrite(mapping: Buffer, position: number, length: number): Promise<void> {
    throwIfFailed(await callAsync(shim().mc_populate_write, mapping, position, length), 'madvise(MADV_POPULATE_WRITE)');
  }

  async warmWriteBack(mapping: Buffer, position: number, length: number, fd: number): Promise<void> {
    throwIfFailed(await callAsync(shim().mc_warm_write_back, mapping, position, length, fd), 'warm write-back (madvise, sync_file_range)');
  }

  async writeBack(fd: number, offset: number, length: number): Promise<void> {
    throwIfFailed(await callAsync(shim().mc_write_back, fd, offset, length), 'write-back (sync_file_range)');
  }

  async fillPageCache(fd: number, offset: number, length: number): Promise<void> {
    throwIfFailed(await callAsync(shim().mc_fill_page_cache, fd, offset, length), 'readahead');
  }

  async populateRead(mapping: Buffer, position: number, length: number): Promise<void> {
    throwIfFailed(await callAsync(shim().mc_populate_read, mapping, position, length), 'madvise(MADV_POPULATE_READ)');
  }

  async dataEnd(mapping: Buffer, position: number, length: number): Promise<number> {
    return Number(await callAsync(shim().mc_data_end, mapping, position, length));
  }

  async msync(mapping: Buffer, position: number, length: number, fd = -1): Promise<void> {
    // Never fdatasync instead, cheaper as it is: a pre-faulted segment's
    // untouched pages are dirty zeros, and fdatasync would write them all
    // (measured: SYNC_FLUSH with 64 appenders fell from 60 k to 32 k msg/s).
    throwIfFailed(await callAsync(shim().mc_msync, mapping, position, length, fd), 'msync');
  }

  async fdatasync(fd: number, dirty?: { from: number; to: number }): Promise<void> {
    if (dirty === undefined || dirty.to - dirty.from <= SMALL_SYNC_BYTES) return this.fdatasyncSmall(fd);
    throwIfFailed(await callAsync(shim().mc_fdatasync, fd, dirty.from, dirty.to), 'fdatasync');
  }

  private async fdatasyncSmall(fd: number): Promise<void> {
    try {
      await fdatasyncAsync(fd);
    } catch (err) {
      throw libuvError(err, 'fdatasync');
    }
  }

  async pwrite(fd: number, source: Buffer, position: number, length: number, fileOffset: number): Promise<void> {
    assert(position >= 0 && length >= 0 && position + length <= source.length, 'pwrite range inside the source');
    if (length > SMALL_WRITE_BYTES) {
      throwIfFailed(await callAsync(shim().mc_pwrite, fd, source, position, length, fileOffset), 'pwrite');
      return;
    }
    // A small commit (a SYNC_FLUSH group) through libuv's own write: no ffi cost.
    try {
      let done = 0;
      while (done < length) {
        const { bytesWritten } = await writeAsync(fd, source, position + done, length - done, fileOffset + done);
        if (bytesWritten === 0) throw new CommitLogError('ERR_IO', `pwrite made no progress at file offset ${fileOffset + done}`);
        done += bytesWritten;
      }
    } catch (err) {
      throw err instanceof CommitLogError ? err : libuvError(err, 'pwrite');
    }
  }

  async mlock(buffer: Buffer): Promise<boolean> {
    const result = await callAsync(shim().mc_mlock, buffer, 0, buffer.length);
    if (result === 0) return true;
    const errno = -result;
    // Refused by policy or limits: the pool works unlocked, and says so.
    if (errno === osConstants.errno.EPERM || errno === osConstants.errno.ENOMEM || errno === osConstants.errno.EAGAIN) {
      return false;
    }
    throw errnoError(errno, 'mlock');
  }

  async munlock(buffer: Buffer): Promise<void> {
    await callAsync(shim().mc_munlock, buffer, 0, buffer.length);
  }

  lockExclusive(fd: number): boolean {
    const result = shim().mc_flock_exclusive(fd);
    if (result === 0) return true;
    if (-result === osConstants.errno.EWOULDBLOCK) return false;
    throw errnoError(-result, 'flock');
  }
}

let defaultNativeIO: RealNativeIO | undefined;

/** The process-wide real NativeIO, created on first use. */
export function realNativeIO(): RealNativeIO {
  defaultNativeIO ??= new RealNativeIO();
  return defaultNativeIO;
}
