/**
 * NativeIO: every system call the engine makes, behind one interface. The
 * engine above lib/native/ never touches fs, mmap-io or ffi-napi for segment
 * I/O; it calls these. That is what lets a fault-injecting twin (spec/helpers)
 * run the unchanged engine and drop unsynced bytes, tear pages or fail the
 * Nth call.
 *
 * Cheap calls are synchronous. Anything that can wait on the disk or fault in
 * many pages returns a Promise and runs off the JS thread.
 */
/**
 * madvise hints. 'hugepage' (MADV_HUGEPAGE) lets a page-cache miss in the
 * mapping fill one 2 MiB folio (see MappedFile.warm); 'normal' clears
 * 'random' and 'sequential' but keeps 'hugepage'.
 */
export type Advice = 'normal' | 'sequential' | 'random' | 'willneed' | 'dontneed' | 'hugepage';

export interface NativeIO {
  /** System page size in bytes (4096 on x86-64 Linux). */
  readonly pageSize: number;

  /**
   * File metadata calls run on the libuv pool too: under heavy writeback an
   * open(O_CREAT), ftruncate or unlink can wait tens of ms on the file
   * system's journal, and that wait must not land on the event loop.
   */
  /** Opens a file read-write; `create` makes it when missing. Resolves with the fd. */
  openFile(path: string, create: boolean): Promise<number>;
  /**
   * Opens an existing file write-only with O_DSYNC: a pwrite through this
   * descriptor resolves once its bytes (and the metadata needed to read them
   * back) are durable, as a pwrite then an fdatasync would leave them, in one
   * trip through the pool. Bytes written through other descriptors are not
   * made durable by it. Close it with closeFile.
   */
  openDataSyncFile(path: string): Promise<number>;
  closeFile(fd: number): Promise<void>;
  /** Current size of the file in bytes. */
  fileSize(fd: number): Promise<number>;
  /** Sets the file's size (sparse growth). */
  truncate(fd: number, sizeBytes: number): Promise<void>;
  /** Deletes a file. */
  unlink(path: string): Promise<void>;
  /**
   * fsync of a directory: makes the creation, deletion and renaming of the
   * files in it durable (without it a crash can bring a deleted segment back
   * or lose a new one).
   */
  syncDirectory(path: string): Promise<void>;

  /** Maps a whole file MAP_SHARED read-write. The Buffer is the mapping. */
  mapShared(fd: number, sizeBytes: number): Buffer;
  /** Maps anonymous, page-aligned, zeroed memory (the off-heap buffers of the pool). */
  mapAnonymous(sizeBytes: number): Buffer;
  /**
   * Releases a mapping now rather than at garbage collection, off the JS
   * thread (freeing a populated 1 GiB range takes tens of ms). After this the
   * Buffer reads zeros and writes go nowhere; it never faults.
   */
  releaseMapping(mapping: Buffer): Promise<void>;
  /** Bytes of the mapping resident in the page cache (mincore). */
  residentBytes(mapping: Buffer): number;
  /**
   * madvise; advice on a range is a hint, so a refusal is ignored. Off the JS
   * thread: madvise takes the process's mmap lock for writing, and waits for
   * a pre-fault running on another mapping to let go of it (3.8 ms seen).
   */
  advise(mapping: Buffer, position: number, length: number, advice: Advice): Promise<void>;

  /** Reserves disk blocks for [offset, offset + length); ERR_DISK_FULL when there is no room. */
  fallocate(fd: number, offset: number, length: number): Promise<void>;
  /** Faults in [position, position + length) of a mapping for writing, off the JS thread. */
  populateWrite(mapping: Buffer, position: number, length: number): Promise<void>;
  /**
   * populateWrite, then the range written to disk through `fd` (a descriptor
   * of the mapped file used only for this), in one call off the JS thread, at
   * the idle I/O priority: makes a prepared segment's blocks written blocks
   * (SYNC_FLUSH warm-up, mapped mode). Changes no byte.
   */
  warmWriteBack(mapping: Buffer, position: number, length: number, fd: number): Promise<void>;
  /**
   * The write-back half of warmWriteBack alone (direct mode's warm-up, which
   * writes zeros with pwrite first): writes [offset, offset + length) of the
   * file to disk through `fd` and waits, off the JS thread, at the idle I/O
   * priority. Not a durability point (no device cache flush, no metadata).
   */
  writeBack(fd: number, offset: number, length: number): Promise<void>;
  /**
   * Fills the page cache over [offset, offset + length) of the file through
   * `fd` (readahead), off the JS thread, mapping nothing: a direct-mode
   * segment's warm-up, so its commits copy into resident pages. Over
   * unwritten (fallocated) blocks no disk is read; nothing is written.
   */
  fillPageCache(fd: number, offset: number, length: number): Promise<void>;
  /** Faults in [position, position + length) of a mapping for reading, off the JS thread (before a long scan). */
  populateRead(mapping: Buffer, position: number, length: number): Promise<void>;
  /** One past the last non-zero byte of [position, position + length), or `position` if all zero; off the JS thread. */
  dataEnd(mapping: Buffer, position: number, length: number): Promise<number>;
  /**
   * msync(MS_SYNC) of a range of a shared mapping, off the JS thread. `fd`,
   * when given, is the mapped file (mapped from offset 0): writeback is then
   * started in short slices first, so no single call holds a CPU for long.
   */
  msync(mapping: Buffer, position: number, length: number, fd?: number): Promise<void>;
  /** fdatasync, off the JS thread; `dirty`, when known, has its writeback started in short slices first. */
  fdatasync(fd: number, dirty?: { from: number; to: number }): Promise<void>;
  /** Writes source[position, position + length) to the file at fileOffset, off the JS thread. */
  pwrite(fd: number, source: Buffer, position: number, length: number, fileOffset: number): Promise<void>;
  /** Locks a buffer in RAM; resolves false when the system refuses (no root, RLIMIT_MEMLOCK). */
  mlock(buffer: Buffer): Promise<boolean>;
  /** Unlocks a buffer, off the JS thread; a refusal is ignored. */
  munlock(buffer: Buffer): Promise<void>;
  /** Takes an exclusive, non-blocking advisory lock; false when another open file holds it. */
  lockExclusive(fd: number): boolean;
}
