/**
 * PowerFence: one run of the engine's view of the disk, which the power can
 * cut. The power-cut spec gives each CommitLog its own fence over the shared
 * fault twin; at the cut the fence goes dark, then the twin crashes.
 *
 * Why a fence on top of the twin's own: the twin fences descriptors and
 * mappings opened before its crash(), but cannot tell a *path-based* call
 * (open(O_CREAT) of the next segment by the abandoned log's allocation
 * service, an unlink, a directory fsync) from the next run's. Behind a cut
 * fence the abandoned run can do nothing a dead process could not:
 *
 * | call after the cut                                  | result                                  |
 * |-----------------------------------------------------|-----------------------------------------|
 * | anything that reads, writes, syncs, sizes, creates  | rejects/throws ERR_IO (ENODEV): the     |
 * | or maps (open, pwrite, msync, fdatasync, mmap, ...) | device is gone                          |
 * | unlink, syncDirectory                               | resolves, does nothing (a dead process  |
 * |                                                     | deletes nothing)                        |
 * | closeFile, releaseMapping, munlock                  | forwarded: what process exit does (the  |
 * |                                                     | flock on `lock` goes with the close)    |
 *
 * So the abandoned log can be close()d after the cut, purely to release its
 * descriptors, mappings and directory lock as a process death would: every
 * call of that close that could change a file is refused or a no-op.
 *
 * What the fence cannot stop is a store into a mapping. The engine writes
 * records into a mapping only synchronously inside append()/appendBatch()
 * (or after awaiting a new segment, whose creation the fence refuses), so the
 * spec cuts at a macrotask boundary and never calls the abandoned log's
 * append again.
 */
import { constants } from 'node:os';
import { CommitLogError } from '../../../lib/errors.js';
import type { Advice, NativeIO } from '../../../lib/native/native-io.js';
import { shim } from '../../../lib/native/shim.js';
import { ForwardingNativeIO } from './forwarding-native-io.js';

export class PowerFence extends ForwardingNativeIO {
  private dark = false;
  /** Calls refused after the cut (for the report). */
  refusedCalls = 0;

  constructor(inner: NativeIO) {
    super(inner);
  }

  /**
   * The power goes: from now on nothing this run does reaches a file — no
   * call (refused below), and no store into a mapping either: every shared
   * mapping made through this fence is swapped for anonymous memory at once
   * (the abandoned engine's JS keeps running in this process; a dead one
   * would not).
   */
  cut(): void {
    this.dark = true;
    for (const mapping of this.mappings.splice(0)) {
      const result = shim().mc_release_mapping(mapping, mapping.length);
      if (result !== 0) throw new Error(`PowerFence.cut: detaching a mapping failed (${result})`);
    }
  }

  /** Shared mappings handed out before the cut. */
  private readonly mappings: Buffer[] = [];

  get isCut(): boolean {
    return this.dark;
  }

  private refuse(syscall: string): CommitLogError {
    this.refusedCalls += 1;
    return new CommitLogError('ERR_IO', `${syscall} after the power cut (PowerFence)`, { errno: constants.errno.ENODEV, errnoCode: 'ENODEV', syscall });
  }

  private async guard<T>(syscall: string, call: () => Promise<T>): Promise<T> {
    if (this.dark) throw this.refuse(syscall);
    return call();
  }

  override openFile(path: string, create: boolean): Promise<number> {
    return this.guard('open', () => super.openFile(path, create));
  }
  override openDataSyncFile(path: string): Promise<number> {
    return this.guard('open', () => super.openDataSyncFile(path));
  }
  override fileSize(fd: number): Promise<number> {
    return this.guard('fstat', () => super.fileSize(fd));
  }
  override truncate(fd: number, sizeBytes: number): Promise<void> {
    return this.guard('ftruncate', () => super.truncate(fd, sizeBytes));
  }
  override async unlink(path: string): Promise<void> {
    if (this.dark) return;
    return super.unlink(path);
  }
  override async syncDirectory(path: string): Promise<void> {
    if (this.dark) return;
    return super.syncDirectory(path);
  }
  override mapShared(fd: number, sizeBytes: number): ReturnType<NativeIO['mapShared']> {
    if (this.dark) throw this.refuse('mmap');
    const mapping = super.mapShared(fd, sizeBytes);
    this.mappings.push(mapping);
    return mapping;
  }
  override mapAnonymous(sizeBytes: number): ReturnType<NativeIO['mapAnonymous']> {
    if (this.dark) throw this.refuse('mmap');
    return super.mapAnonymous(sizeBytes);
  }
  /** Calls added to NativeIO after this fence was written: refused after the cut, whatever they do. */
  protected override forwardUnknown(name: string, args: unknown[]): unknown {
    if (this.dark) return Promise.reject(this.refuse(name));
    return super.forwardUnknown(name, args);
  }
  override populateRead(mapping: Buffer, position: number, length: number): Promise<void> {
    return this.guard('madvise(MADV_POPULATE_READ)', () => super.populateRead(mapping, position, length));
  }
  override dataEnd(mapping: Buffer, position: number, length: number): Promise<number> {
    return this.guard('dataEnd', () => super.dataEnd(mapping, position, length));
  }
  override advise(mapping: Buffer, position: number, length: number, advice: Advice): ReturnType<NativeIO['advise']> {
    if (!this.dark) return super.advise(mapping, position, length, advice);
    return Promise.resolve(); // a hint: nothing to refuse
  }
  override fallocate(fd: number, offset: number, length: number): Promise<void> {
    return this.guard('fallocate', () => super.fallocate(fd, offset, length));
  }
  override populateWrite(mapping: Buffer, position: number, length: number): Promise<void> {
    return this.guard('madvise(MADV_POPULATE_WRITE)', () => super.populateWrite(mapping, position, length));
  }
  override warmWriteBack(mapping: Buffer, position: number, length: number, fd: number): Promise<void> {
    return this.guard('warm write-back', () => super.warmWriteBack(mapping, position, length, fd));
  }
  override writeBack(fd: number, offset: number, length: number): Promise<void> {
    return this.guard('write-back (sync_file_range)', () => super.writeBack(fd, offset, length));
  }
  override msync(mapping: Buffer, position: number, length: number, fd?: number): Promise<void> {
    return this.guard('msync', () => super.msync(mapping, position, length, fd));
  }
  override fdatasync(fd: number, dirty?: { from: number; to: number }): Promise<void> {
    return this.guard('fdatasync', () => super.fdatasync(fd, dirty));
  }
  override pwrite(fd: number, source: Buffer, position: number, length: number, fileOffset: number): Promise<void> {
    return this.guard('pwrite', () => super.pwrite(fd, source, position, length, fileOffset));
  }
  override mlock(buffer: Buffer): Promise<boolean> {
    return this.guard('mlock', () => super.mlock(buffer));
  }
  override lockExclusive(fd: number): ReturnType<NativeIO['lockExclusive']> {
    if (this.dark) throw this.refuse('flock');
    return super.lockExclusive(fd);
  }
}
