/**
 * FaultNativeIO: the fault-injecting twin of the native layer, for specs
 * (LevelDB's fault_injection_test.cc, TigerBeetle's src/testing/storage.zig).
 * It implements NativeIO by delegating every call to a real NativeIO, so the
 * unchanged engine runs on real files and real mappings, and adds three
 * things:
 *
 * 1. **Sync tracking.** For every file opened through it, a *durable image*:
 *    the bytes and the metadata a power cut would leave.
 * 2. **crash()**: rewrites every tracked file on disk as its durable image,
 *    optionally keeping some unsynced pages whole and tearing one.
 * 3. **Failure injection**: the Nth call of a syscall fails with an errno,
 *    exactly as the real layer reports it (lib/native/errno.ts).
 *
 * ## Durable image rules (data)
 *
 * | event                              | becomes durable when it succeeds                               |
 * |------------------------------------|----------------------------------------------------------------|
 * | pwrite, a store into a mapping     | nothing: the bytes are only in the page cache                  |
 * | pwrite through an openDataSyncFile | the bytes it wrote (O_DSYNC), and the file's metadata as       |
 * | descriptor                         | fdatasync; not the file's other dirty bytes                    |
 * | msync(mapping, position, length)   | the mapping's bytes in the page-rounded range, as they were   |
 * |                                    | when the call *started*                                        |
 * | fdatasync(fd)                      | the whole file, as it was when the call started                |
 * | writeBack(fd, offset, length)      | nothing: sync_file_range flushes no device cache, no metadata  |
 * | a sync that fails or is injected   | nothing                                                        |
 * | a sync still in flight at crash()  | nothing (the power went first)                                 |
 *
 * Two syncs that overlap never move a page backwards: each page remembers the
 * sequence number of the sync that last set it.
 *
 * ## Durable image rules (metadata)
 *
 * Creating a file, changing its size (ftruncate, fallocate or pwrite past the
 * end) and unlinking it are *metadata operations*. They go to one ordered log,
 * like ext4's or XFS's journal: a crash keeps a **prefix** of it, never a
 * later operation without the earlier ones. A successful msync or fdatasync of
 * a file makes durable every operation up to that file's own last one (ext4
 * commits the journal up to the inode's datasync transaction, and the
 * transactions before it). Consequences, all legal on ext4 (data=ordered):
 * - a file created and never synced is gone after crash() (default);
 * - a file truncated/fallocated and never synced keeps its old size (0 for a
 *   new file, so its content is cut);
 * - an unlink that no later sync covered is undone: the file comes back with
 *   its durable image (NativeIO has no directory fsync to make it durable).
 * `crash({ unsyncedMetadata: 'keep' | 'random-prefix' | n })` keeps all, a
 * random prefix, or the oldest n of the pending operations instead (a
 * journal commit that happened on its own). A file that existed before the
 * twin first saw it is taken as durable as it is.
 *
 * ## crash()
 *
 * Waits for the calls in flight, applies the kept metadata, then for each
 * file writes the durable image at the durable size. Pages of the latest
 * content that differ from the durable image are *dirty*; each is kept whole
 * with `keepUnsyncedPageProbability` (out-of-order writeback), and with
 * `tearLastPage` the last dirty page of each file is torn: its first N bytes
 * new, the rest old, N drawn so that at least one byte of each kind differs
 * (byte granularity: harsher than a disk's 512-byte sectors). Afterwards the
 * twin starts over from the crashed state (everything on disk is durable),
 * so the next run of the engine can use the same instance.
 *
 * Descriptors and mappings from before the crash are fenced: data calls on
 * them (pwrite, msync, fdatasync, fallocate, ftruncate, mmap, populate) throw;
 * close and release are allowed, so old objects can still be closed. Close
 * the engine's objects *before* crash() where you can (close never flushes,
 * so it changes nothing durable): a path-based call made after the crash by an
 * old object (an unlink from a queue's shutdown) cannot be told apart from the
 * new run's.
 *
 * ## Failure injection
 *
 * `failOn(call, { nth, errno })` fails the nth call of `call` counted from
 * now; `failAlways(call, errno)` every call until `clearFailures()`. An
 * injected failure does not reach the real layer (nothing is written,
 * nothing synced) and surfaces exactly as the real layer's would: the same
 * CommitLogError code, errno, errnoCode and syscall name; the fs-backed calls
 * (open, close, fstat, ftruncate, unlink) carry a Node-style `cause` as
 * fsError makes it. Where the real layer handles an errno itself, so does
 * the twin, and nothing surfaces:
 * - EINTR, on every call: retried (the shim loops on EINTR, libuv's fs calls
 *   too), so the real call runs; counted in `interruptedRetries`;
 * - EOPNOTSUPP/ENOSYS on fallocate (the shim falls back to posix_fallocate),
 *   EINVAL on populateWrite (the shim touches each page instead);
 * - EPERM/ENOMEM/EAGAIN on mlock resolve `false` (refused), EWOULDBLOCK on
 *   lockExclusive returns `false` (held elsewhere).
 * `calls(call)` counts every call made through the twin, failed or not.
 *
 * Simplification: a sync retried after a failed one makes the data durable
 * here. On Linux it may not (after a writeback error the pages are marked
 * clean and the retry reports success without writing them), which is why
 * the engine poisons the store on a failed flush rather than retrying.
 *
 * ## Use
 *
 *     const io = new FaultNativeIO({ random: seededRandomForTest() });
 *     const queue = new MappedFileQueue({ native: io, ... });
 *     // ... append, commit, flush ...
 *     await queue.close();                      // close never flushes
 *     const report = await io.crash({ tearLastPage: true });
 *     const next = new MappedFileQueue({ native: io, ... });
 *     await next.load();                        // the run after the power cut
 */
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, resolve } from 'node:path';
import { CommitLogError } from '../../lib/errors.js';
import { errnoError, errnoName, fsError } from '../../lib/native/errno.js';
import { realNativeIO } from '../../lib/native/index.js';
import type { Advice, NativeIO } from '../../lib/native/native-io.js';
import type { SeededRandom } from './seeded-random.js';

/** Every NativeIO method. */
export type NativeCall = Exclude<keyof NativeIO, 'pageSize'>;
/** The methods a failure can be injected into (advise, munlock and residentBytes report no errors). */
export type FaultableCall = Exclude<NativeCall, 'advise' | 'munlock' | 'residentBytes'>;
export type ErrnoName = keyof typeof osConstants.errno;

const FAULTABLE_CALLS: ReadonlySet<string> = new Set<FaultableCall>([
  'openFile', 'closeFile', 'fileSize', 'truncate', 'unlink', 'syncDirectory', 'mapShared', 'mapAnonymous', 'releaseMapping',
  'fallocate', 'populateWrite', 'populateRead', 'msync', 'fdatasync', 'pwrite', 'mlock', 'lockExclusive', 'warmWriteBack',
  'writeBack', 'openDataSyncFile', 'fillPageCache',
]);

const E = osConstants.errno;
/** Errnos the real layer absorbs for a call (retry or fallback), beyond EINTR which every call absorbs. */
const ABSORBED: Partial<Record<FaultableCall, ReadonlySet<number>>> = {
  fallocate: new Set([E.EOPNOTSUPP, E.ENOSYS]),
  populateWrite: new Set([E.EINVAL]),
};

/** Largest file the twin tracks: it keeps whole-file images in memory. */
export const TRACKED_FILE_SIZE_MAX_BYTES = 64 * 1024 * 1024;
/** Bound on the rounds crash() waits for calls in flight (new calls cannot start on fenced objects). */
const CRASH_DRAIN_ROUNDS_MAX = 16;

export interface FaultNativeIOOptions {
  /** Drives every random choice of crash(). */
  random: SeededRandom;
  /** The layer to delegate to; the process-wide real one by default. */
  inner?: NativeIO;
}

export interface FailOnOptions {
  /** Which call from now fails: 1 is the very next one. */
  nth: number;
  /** An errno name ('ENOSPC', 'EIO', 'EINTR'...) or number. */
  errno: ErrnoName | number;
}

export interface CrashOptions {
  /** Probability that each dirty page reached the disk anyway, whole. Default 0. */
  keepUnsyncedPageProbability?: number;
  /** Tear the last dirty page of each file: first N bytes new, the rest old. Default false. */
  tearLastPage?: boolean;
  /**
   * Pending metadata operations (create, resize, unlink): all dropped
   * (default), all kept, a random prefix kept, or exactly this many of the
   * oldest kept (clamped to how many are pending), for specs that try every
   * prefix.
   */
  unsyncedMetadata?: 'drop' | 'keep' | 'random-prefix' | number;
}

export interface TornPage {
  /** File offset of the torn page. */
  offset: number;
  /** Bytes at the start of the page that are new; the rest of the page is old. */
  newBytes: number;
}

export interface CrashFileReport {
  path: string;
  existedBefore: boolean;
  existsAfter: boolean;
  sizeBeforeBytes: number;
  sizeAfterBytes: number;
  /** Pages (inside both sizes) whose latest content differed from the durable image. */
  dirtyPages: number;
  pagesKept: number;
  pagesReverted: number;
  tornPage: TornPage | undefined;
  /** Bytes of the latest content the crash changed, plus the bytes it cut off the end. */
  bytesReverted: number;
}

export interface CrashReport {
  /** Per file path (absolute). */
  files: Record<string, CrashFileReport>;
  metadataOpsKept: number;
  metadataOpsDropped: number;
}

/**
 * One file's data. A path can name different inodes over time (a failed
 * create unlinks the file and a retry creates it again), so data belongs to
 * the inode and names to the directory maps.
 */
interface Inode {
  readonly id: number;
  readonly path: string;
  /** The durable bytes by file offset; beyond its length they are zeros. */
  durable: Buffer;
  /** Per page: sequence number of the sync whose snapshot last set it. */
  pageSyncSeq: number[];
  /** Size as the engine last set it. */
  liveSizeBytes: number;
  /** Size a crash leaves, once the resize operations before it are durable. */
  durableSizeBytes: number;
}

type MetadataOp =
  | { seq: number; kind: 'create'; path: string; inode: Inode }
  | { seq: number; kind: 'resize'; inode: Inode; sizeBytes: number }
  | { seq: number; kind: 'unlink'; path: string; inode: Inode };

interface Tracked {
  inode: Inode;
  /** Opened by openDataSyncFile: its pwrites are durable when they return. */
  dataSync?: boolean;
  /** crash() count when opened or mapped: older ones are fenced. */
  epoch: number;
}

interface FailureRule {
  call: FaultableCall;
  errno: number;
  /** Fires when calls(call) reaches this; undefined for failAlways. */
  atCall: number | undefined;
}

export class FaultNativeIO implements NativeIO {
  readonly pageSize: number;
  private readonly inner: NativeIO;
  private readonly random: SeededRandom;

  private readonly callCounts = new Map<NativeCall, number>();
  private rules: FailureRule[] = [];
  private interrupted = 0;

  /** Names a crash now would keep, and the names as the engine sees them. */
  private durableDirectory = new Map<string, Inode>();
  private liveDirectory = new Map<string, Inode>();
  private pendingOps: MetadataOp[] = [];
  private nextOpSeq = 1;
  private nextSyncSeq = 1;
  private nextInodeId = 1;
  private readonly fds = new Map<number, Tracked>();
  private readonly mappings = new WeakMap<Buffer, Tracked>();
  /** Shared file mappings not yet released (crash() detaches them from their files). */
  private readonly liveMappings = new Set<Buffer>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private epoch = 0;

  constructor(options: FaultNativeIOOptions) {
    this.inner = options.inner ?? realNativeIO();
    this.random = options.random;
    this.pageSize = this.inner.pageSize;
  }

  // --- failure injection -----------------------------------------------------------

  /** Fails the `nth` call of `call` from now (1 = the next one) with `errno`. */
  failOn(call: FaultableCall, options: FailOnOptions): void {
    checkFaultable(call);
    if (!Number.isSafeInteger(options.nth) || options.nth < 1) throw new RangeError(`failOn: nth must be an integer ≥ 1, got ${options.nth}`);
    this.rules.push({ call, errno: toErrno(options.errno), atCall: this.calls(call) + options.nth });
  }

  /** Fails every call of `call` with `errno` until clearFailures(). EINTR is refused: the real layer would retry it forever. */
  failAlways(call: FaultableCall, errno: ErrnoName | number): void {
    checkFaultable(call);
    const value = toErrno(errno);
    if (value === E.EINTR) throw new RangeError('failAlways(EINTR) would make the real layer retry forever; use failOn');
    this.rules.push({ call, errno: value, atCall: undefined });
  }

  clearFailures(): void {
    this.rules = [];
  }

  /** Calls of `call` made through the twin so far, failed ones included. */
  calls(call: NativeCall): number {
    return this.callCounts.get(call) ?? 0;
  }

  /** Injected EINTRs the twin retried, as the real layer does. */
  get interruptedRetries(): number {
    return this.interrupted;
  }

  /** Metadata operations (create, resize, unlink) no sync has made durable yet. */
  get unsyncedMetadataOps(): number {
    return this.pendingOps.length;
  }

  /**
   * The durable image of `path` as a crash now would leave it with no
   * unsynced page kept: undefined when the file would not exist.
   */
  durableImage(path: string): Buffer | undefined {
    const inode = this.durableDirectory.get(resolve(path));
    return inode === undefined ? undefined : durableContent(inode, inode.durableSizeBytes);
  }

  /**
   * Counts the call; returns the errno to fail it with, or undefined to run
   * it (no rule, or an errno the real layer absorbs).
   */
  private enter(call: NativeCall): number | undefined {
    const count = this.calls(call) + 1;
    this.callCounts.set(call, count);
    if (!FAULTABLE_CALLS.has(call)) return undefined;
    const index = this.rules.findIndex((rule) => rule.call === call && (rule.atCall === undefined || rule.atCall === count));
    if (index < 0) return undefined;
    const rule = this.rules[index]!;
    // One-shot rules fire once; later matches (a failAlways) stay.
    if (rule.atCall !== undefined) this.rules.splice(index, 1);
    if (rule.errno === E.EINTR) {
      this.interrupted += 1;
      return undefined;
    }
    if (ABSORBED[call as FaultableCall]?.has(rule.errno)) return undefined;
    return rule.errno;
  }

  // --- files ---------------------------------------------------------------------

  async openFile(path: string, create: boolean): Promise<number> {
    const key = resolve(path);
    const errno = this.enter('openFile');
    if (errno !== undefined) throw fsError(nodeError(errno, 'open', path), 'open', path);
    const existed = existsSync(key);
    if (!existed && this.liveDirectory.has(key)) {
      // Deleted behind the twin's back (a spec's cleanup): forget it, durably.
      this.liveDirectory.delete(key);
      this.durableDirectory.delete(key);
    }
    const fd = await this.track(this.inner.openFile(path, create));
    const inode = existed ? this.adopt(key) : this.created(key);
    this.fds.set(fd, { inode, epoch: this.epoch });
    return fd;
  }

  async openDataSyncFile(path: string): Promise<number> {
    const key = resolve(path);
    const errno = this.enter('openDataSyncFile');
    if (errno !== undefined) throw fsError(nodeError(errno, 'open', path), 'open', path);
    const fd = await this.track(this.inner.openDataSyncFile(path));
    this.fds.set(fd, { inode: this.adopt(key), epoch: this.epoch, dataSync: true });
    return fd;
  }

  async closeFile(fd: number): Promise<void> {
    const errno = this.enter('closeFile');
    this.fds.delete(fd); // the descriptor is gone even when close reports an error
    if (errno !== undefined) throw fsError(nodeError(errno, 'close'), 'close');
    await this.track(this.inner.closeFile(fd));
  }

  async fileSize(fd: number): Promise<number> {
    const errno = this.enter('fileSize');
    if (errno !== undefined) throw fsError(nodeError(errno, 'fstat'), 'fstat');
    return this.track(this.inner.fileSize(fd));
  }

  async truncate(fd: number, sizeBytes: number): Promise<void> {
    const tracked = this.current(this.fds.get(fd), `ftruncate(fd ${fd})`);
    const errno = this.enter('truncate');
    if (errno !== undefined) throw fsError(nodeError(errno, 'ftruncate'), 'ftruncate');
    await this.track(this.inner.truncate(fd, sizeBytes));
    if (tracked !== undefined) this.noteSize(tracked.inode, fd);
  }

  async unlink(path: string): Promise<void> {
    const key = resolve(path);
    const errno = this.enter('unlink');
    if (errno !== undefined) throw fsError(nodeError(errno, 'unlink', path), 'unlink', path);
    const inode = existsSync(key) ? this.adopt(key) : undefined;
    await this.track(this.inner.unlink(path));
    if (inode !== undefined) {
      this.liveDirectory.delete(key);
      this.pushOp({ kind: 'unlink', path: key, inode });
    }
  }

  /** A directory fsync makes every logged metadata operation on a file in it durable (and, the log being ordered, all before). */
  async syncDirectory(path: string): Promise<void> {
    const key = resolve(path);
    const errno = this.enter('syncDirectory');
    if (errno !== undefined) throw fsError(nodeError(errno, 'fsync', path), 'fsync', path);
    const epoch = this.epoch;
    let throughOp = 0;
    for (const op of this.pendingOps) {
      const opPath = op.kind === 'resize' ? op.inode.path : op.path;
      if (dirname(opPath) === key) throughOp = op.seq;
    }
    await this.track(this.inner.syncDirectory(path));
    if (epoch !== this.epoch) return; // finished after the power cut
    while (this.pendingOps.length > 0 && this.pendingOps[0]!.seq <= throughOp) this.applyOp(this.pendingOps.shift()!);
  }

  // --- mappings ------------------------------------------------------------------

  mapShared(fd: number, sizeBytes: number): Buffer {
    const tracked = this.current(this.fds.get(fd), `mmap(fd ${fd})`);
    const errno = this.enter('mapShared');
    if (errno !== undefined) throw mmapError(errno);
    const mapping = this.inner.mapShared(fd, sizeBytes);
    if (tracked !== undefined) this.mappings.set(mapping, { inode: tracked.inode, epoch: this.epoch });
    this.liveMappings.add(mapping);
    return mapping;
  }

  mapAnonymous(sizeBytes: number): Buffer {
    const errno = this.enter('mapAnonymous');
    if (errno !== undefined) throw mmapError(errno);
    return this.inner.mapAnonymous(sizeBytes);
  }

  async releaseMapping(mapping: Buffer): Promise<void> {
    const errno = this.enter('releaseMapping');
    if (errno !== undefined) throw errnoError(errno, 'mmap(MAP_FIXED)');
    await this.inner.releaseMapping(mapping);
    this.mappings.delete(mapping);
    this.liveMappings.delete(mapping);
  }

  residentBytes(mapping: Buffer): number {
    this.enter('residentBytes');
    return this.inner.residentBytes(mapping);
  }

  async advise(mapping: Buffer, position: number, length: number, advice: Advice): Promise<void> {
    this.current(this.mappings.get(mapping), 'madvise');
    this.enter('advise');
    await this.track(this.inner.advise(mapping, position, length, advice));
  }

  // --- disk I/O --------------------------------------------------------------------

  async fallocate(fd: number, offset: number, length: number): Promise<void> {
    const tracked = this.current(this.fds.get(fd), `fallocate(fd ${fd})`);
    const errno = this.enter('fallocate');
    if (errno !== undefined) throw errnoError(errno, 'fallocate');
    await this.track(this.inner.fallocate(fd, offset, length));
    if (tracked !== undefined) this.noteSize(tracked.inode, fd);
  }

  async populateWrite(mapping: Buffer, position: number, length: number): Promise<void> {
    this.current(this.mappings.get(mapping), 'madvise(MADV_POPULATE_WRITE)');
    const errno = this.enter('populateWrite');
    if (errno !== undefined) throw errnoError(errno, 'madvise(MADV_POPULATE_WRITE)');
    await this.track(this.inner.populateWrite(mapping, position, length));
  }

  /** The twin of both halves: populateWrite, then msync (its bytes become durable as they are). */
  async warmWriteBack(mapping: Buffer, position: number, length: number, fd: number): Promise<void> {
    const errno = this.enter('warmWriteBack');
    if (errno !== undefined) throw errnoError(errno, 'warm write-back');
    await this.populateWrite(mapping, position, length);
    await this.msync(mapping, position, length, fd);
  }

  /** Not a durability point (see the header): the real call runs, the durable image is unchanged. */
  async writeBack(fd: number, offset: number, length: number): Promise<void> {
    this.current(this.fds.get(fd), `write-back(fd ${fd})`);
    const errno = this.enter('writeBack');
    if (errno !== undefined) throw errnoError(errno, 'write-back (sync_file_range)');
    await this.track(this.inner.writeBack(fd, offset, length));
  }

  /** Changes no byte and writes nothing: the real call runs, the durable image is unchanged. */
  async fillPageCache(fd: number, offset: number, length: number): Promise<void> {
    this.current(this.fds.get(fd), `readahead(fd ${fd})`);
    const errno = this.enter('fillPageCache');
    if (errno !== undefined) throw errnoError(errno, 'readahead');
    await this.track(this.inner.fillPageCache(fd, offset, length));
  }

  async dataEnd(mapping: Buffer, position: number, length: number): Promise<number> {
    this.current(this.mappings.get(mapping), 'dataEnd');
    this.enter('dataEnd');
    return this.track(this.inner.dataEnd(mapping, position, length));
  }

  async populateRead(mapping: Buffer, position: number, length: number): Promise<void> {
    this.current(this.mappings.get(mapping), 'madvise(MADV_POPULATE_READ)');
    const errno = this.enter('populateRead');
    if (errno !== undefined) throw errnoError(errno, 'madvise(MADV_POPULATE_READ)');
    await this.track(this.inner.populateRead(mapping, position, length));
  }

  async msync(mapping: Buffer, position: number, length: number, fd?: number): Promise<void> {
    const tracked = this.current(this.mappings.get(mapping), 'msync');
    const errno = this.enter('msync');
    if (errno !== undefined) throw errnoError(errno, 'msync');
    // The shim rounds the start down to a page; the kernel syncs whole pages.
    // A zero-length msync syncs nothing (the kernel returns before syncing).
    const start = length > 0 ? position - (position % this.pageSize) : 0;
    const end = length > 0 ? Math.min(mapping.length, roundUp(position + length, this.pageSize)) : 0;
    let commit: (() => void) | undefined;
    if (tracked !== undefined && end > start) {
      // Never read a mapping past the file's end: that page would SIGBUS.
      const snapshot = Buffer.from(mapping.subarray(start, Math.max(start, Math.min(end, tracked.inode.liveSizeBytes))));
      commit = this.prepareSync(tracked.inode, start, snapshot);
    }
    await this.track(this.inner.msync(mapping, position, length, fd));
    commit?.();
  }

  async fdatasync(fd: number, dirty?: { from: number; to: number }): Promise<void> {
    const tracked = this.current(this.fds.get(fd), `fdatasync(fd ${fd})`);
    const errno = this.enter('fdatasync');
    if (errno !== undefined) throw errnoError(errno, 'fdatasync');
    const commit = tracked === undefined ? undefined : this.prepareSync(tracked.inode, 0, readWholeFile(fd));
    await this.track(this.inner.fdatasync(fd, dirty));
    commit?.();
  }

  async pwrite(fd: number, source: Buffer, position: number, length: number, fileOffset: number): Promise<void> {
    const tracked = this.current(this.fds.get(fd), `pwrite(fd ${fd})`);
    const errno = this.enter('pwrite');
    if (errno !== undefined) throw errnoError(errno, 'pwrite');
    const epoch = this.epoch;
    await this.track(this.inner.pwrite(fd, source, position, length, fileOffset));
    if (tracked !== undefined && fileOffset + length > tracked.inode.liveSizeBytes) this.noteSize(tracked.inode, fd);
    // O_DSYNC: durable once it returned (unless the power went first), as fdatasync of what it wrote.
    if (tracked?.dataSync === true && epoch === this.epoch) this.prepareSync(tracked.inode, fileOffset, Buffer.from(source.subarray(position, position + length)))();
  }

  async mlock(buffer: Buffer): Promise<boolean> {
    const errno = this.enter('mlock');
    if (errno !== undefined) {
      // The real layer's policy: refused by limits or privileges is `false`, the rest an error.
      if (errno === E.EPERM || errno === E.ENOMEM || errno === E.EAGAIN) return false;
      throw errnoError(errno, 'mlock');
    }
    return this.track(this.inner.mlock(buffer));
  }

  async munlock(buffer: Buffer): Promise<void> {
    this.enter('munlock');
    await this.inner.munlock(buffer);
  }

  lockExclusive(fd: number): boolean {
    const errno = this.enter('lockExclusive');
    if (errno !== undefined) {
      if (errno === E.EWOULDBLOCK) return false;
      throw errnoError(errno, 'flock');
    }
    return this.inner.lockExclusive(fd);
  }

  // --- crash -----------------------------------------------------------------------

  /**
   * Leaves on disk what a power cut now would: see the header for the rules.
   * Call it once the engine's objects are closed or abandoned; afterwards the
   * twin tracks the crashed files as durable and can serve the next run.
   */
  async crash(options: CrashOptions = {}): Promise<CrashReport> {
    const keepProbability = options.keepUnsyncedPageProbability ?? 0;
    if (!(keepProbability >= 0 && keepProbability <= 1)) {
      throw new RangeError(`keepUnsyncedPageProbability must be in [0, 1], got ${keepProbability}`);
    }
    const metadataMode = options.unsyncedMetadata ?? 'drop';
    if (typeof metadataMode === 'number' ? !Number.isSafeInteger(metadataMode) || metadataMode < 0 : !['drop', 'keep', 'random-prefix'].includes(metadataMode)) {
      throw new RangeError(`unsyncedMetadata: 'drop', 'keep', 'random-prefix' or a count ≥ 0, got ${metadataMode}`);
    }

    // The power goes now: old descriptors and mappings are fenced, syncs still running do not count.
    this.epoch += 1;
    for (let round = 0; this.inFlight.size > 0; round += 1) {
      if (round >= CRASH_DRAIN_ROUNDS_MAX) throw new Error(`crash(): native calls still starting after ${round} rounds of waiting`);
      await Promise.allSettled([...this.inFlight]);
    }
    // The process is gone too: stores into its old mappings no longer reach the files (an
    // abandoned engine object may still write into a mapping after this; the real layer
    // swaps the pages for anonymous memory, as it does when a mapping is released).
    for (const mapping of this.liveMappings) {
      const tracked = this.mappings.get(mapping);
      if (tracked !== undefined && tracked.epoch < this.epoch) await this.inner.releaseMapping(mapping);
    }

    const pending = this.pendingOps.splice(0);
    const kept =
      typeof metadataMode === 'number' ? Math.min(metadataMode, pending.length)
      : metadataMode === 'keep' ? pending.length
      : metadataMode === 'random-prefix' ? this.random.nextInt(pending.length + 1)
      : 0;
    for (const op of pending.slice(0, kept)) this.applyOp(op);

    const files: Record<string, CrashFileReport> = {};
    const paths = [...new Set([...this.durableDirectory.keys(), ...this.liveDirectory.keys()])].sort();
    const survivors = new Map<string, Inode>();
    for (const path of paths) {
      const after = this.durableDirectory.get(path);
      const live = this.liveDirectory.get(path);
      const onDisk = live !== undefined && existsSync(path);
      const current = onDisk ? readFileSync(path) : undefined;
      // Unsynced pages can survive only for the inode the engine last saw at this path.
      const latest = live === after ? current : undefined;
      const report: CrashFileReport = {
        path,
        existedBefore: onDisk,
        existsAfter: after !== undefined,
        sizeBeforeBytes: current?.length ?? 0,
        sizeAfterBytes: after?.durableSizeBytes ?? 0,
        dirtyPages: 0,
        pagesKept: 0,
        pagesReverted: 0,
        tornPage: undefined,
        bytesReverted: 0,
      };
      files[path] = report;
      if (after === undefined) {
        if (existsSync(path)) rmSync(path);
        report.bytesReverted = report.sizeBeforeBytes;
        continue;
      }
      const image = durableContent(after, after.durableSizeBytes);
      if (latest !== undefined) this.mixUnsyncedPages(image, latest, keepProbability, options.tearLastPage === true, report);
      writeImage(path, image);
      if (current !== undefined) {
        report.bytesReverted = countDifferences(image, current) + Math.max(0, current.length - image.length);
      }
      after.durable = image;
      after.pageSyncSeq = [];
      after.liveSizeBytes = after.durableSizeBytes = image.length;
      survivors.set(path, after);
    }
    // Start over from the crashed state: everything on disk is durable.
    this.durableDirectory = survivors;
    this.liveDirectory = new Map(survivors);
    return { files, metadataOpsKept: kept, metadataOpsDropped: pending.length - kept };
  }

  /** Puts dirty pages of `latest` into `image`: kept whole, reverted, or (the last one) torn. */
  private mixUnsyncedPages(image: Buffer, latest: Buffer, keepProbability: number, tear: boolean, report: CrashFileReport): void {
    const common = Math.min(image.length, latest.length);
    const dirty: number[] = [];
    for (let offset = 0; offset < common; offset += this.pageSize) {
      const end = Math.min(offset + this.pageSize, common);
      if (!image.subarray(offset, end).equals(latest.subarray(offset, end))) dirty.push(offset);
    }
    report.dirtyPages = dirty.length;
    const torn = tear ? dirty[dirty.length - 1] : undefined;
    for (const offset of dirty) {
      const end = Math.min(offset + this.pageSize, common);
      if (offset === torn) {
        const first = firstDifference(image, latest, offset, end);
        const last = lastDifference(image, latest, offset, end);
        if (first < last) {
          // New bytes [offset, offset + N), old after: N covers the first difference and not the last.
          const newBytes = this.random.nextIntBetween(first + 1, last) - offset;
          latest.copy(image, offset, offset, offset + newBytes);
          report.tornPage = { offset, newBytes };
          continue;
        }
        // A single differing byte cannot be half new: the page reverts.
      } else if (this.random.chance(keepProbability)) {
        latest.copy(image, offset, offset, end);
        report.pagesKept += 1;
        continue;
      }
      report.pagesReverted += 1;
    }
  }

  // --- bookkeeping -------------------------------------------------------------------

  /** Runs a real call, remembered so crash() can wait for it. */
  private track<T>(call: Promise<T>): Promise<T> {
    this.inFlight.add(call);
    const forget = () => this.inFlight.delete(call);
    call.then(forget, forget);
    return call;
  }

  /** Throws when a descriptor or mapping comes from before the last crash(). */
  private current(tracked: Tracked | undefined, what: string): Tracked | undefined {
    if (tracked !== undefined && tracked.epoch !== this.epoch) {
      throw new Error(`FaultNativeIO: ${what} on a file opened before crash(); the crashed run's objects may only be closed`);
    }
    return tracked;
  }

  /** The live inode at `path`, which exists on disk: a file the twin has not seen yet is taken as durable as it is. */
  private adopt(path: string): Inode {
    const known = this.liveDirectory.get(path);
    if (known !== undefined) return known;
    const content = readFileSync(path);
    checkTrackedSize(path, content.length);
    const inode = this.newInode(path, content, content.length);
    this.durableDirectory.set(path, inode);
    this.liveDirectory.set(path, inode);
    return inode;
  }

  /** A file just created at `path`: empty, and only as durable as a later sync makes it. */
  private created(path: string): Inode {
    const inode = this.newInode(path, Buffer.alloc(0), 0);
    this.liveDirectory.set(path, inode);
    this.pushOp({ kind: 'create', path, inode });
    return inode;
  }

  private newInode(path: string, durable: Buffer, sizeBytes: number): Inode {
    return { id: this.nextInodeId++, path, durable, pageSyncSeq: [], liveSizeBytes: sizeBytes, durableSizeBytes: sizeBytes };
  }

  /** Records a size change the last call made. */
  private noteSize(inode: Inode, fd: number): void {
    const sizeBytes = fstatSync(fd).size;
    if (sizeBytes === inode.liveSizeBytes) return;
    checkTrackedSize(inode.path, sizeBytes);
    inode.liveSizeBytes = sizeBytes;
    this.pushOp({ kind: 'resize', inode, sizeBytes });
  }

  private pushOp(op: DistributiveOmit<MetadataOp, 'seq'>): void {
    this.pendingOps.push({ ...op, seq: this.nextOpSeq++ } as MetadataOp);
  }

  private applyOp(op: MetadataOp): void {
    switch (op.kind) {
      case 'create':
        this.durableDirectory.set(op.path, op.inode);
        return;
      case 'resize':
        // Blocks cut by a shrink are freed: growing again later reads zeros.
        if (op.sizeBytes < op.inode.durable.length) op.inode.durable.fill(0, op.sizeBytes);
        op.inode.durableSizeBytes = op.sizeBytes;
        return;
      case 'unlink':
        if (this.durableDirectory.get(op.path) === op.inode) this.durableDirectory.delete(op.path);
        return;
    }
  }

  /**
   * Before a sync of `inode` starts: what it will make durable if it
   * succeeds (the snapshot's pages, and the metadata log up to the inode's
   * last operation). Returns the commit to run on success.
   */
  private prepareSync(inode: Inode, start: number, snapshot: Buffer): () => void {
    const seq = this.nextSyncSeq++;
    const epoch = this.epoch;
    let throughOp = 0;
    for (const op of this.pendingOps) if (op.inode === inode) throughOp = op.seq;
    return () => {
      if (epoch !== this.epoch) return; // finished after the power cut
      this.applySnapshot(inode, start, snapshot, seq);
      while (this.pendingOps.length > 0 && this.pendingOps[0]!.seq <= throughOp) this.applyOp(this.pendingOps.shift()!);
    };
  }

  private applySnapshot(inode: Inode, start: number, snapshot: Buffer, seq: number): void {
    if (snapshot.length === 0) return;
    const end = start + snapshot.length;
    checkTrackedSize(inode.path, end);
    if (inode.durable.length < end) {
      const grown = Buffer.alloc(roundUp(end, this.pageSize));
      inode.durable.copy(grown);
      inode.durable = grown;
    }
    // A snapshot may start inside a page (an O_DSYNC pwrite): only the bytes it holds are set.
    for (let page = Math.floor(start / this.pageSize); page * this.pageSize < end; page += 1) {
      if ((inode.pageSyncSeq[page] ?? 0) > seq) continue; // a later sync already set it
      inode.pageSyncSeq[page] = seq;
      const from = Math.max(start, page * this.pageSize);
      snapshot.copy(inode.durable, from, from - start, Math.min((page + 1) * this.pageSize, end) - start);
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function checkFaultable(call: string): void {
  if (!FAULTABLE_CALLS.has(call)) throw new RangeError(`cannot inject a failure into ${call}: one of ${[...FAULTABLE_CALLS].join(', ')}`);
}

function toErrno(errno: ErrnoName | number): number {
  const value = typeof errno === 'number' ? errno : E[errno];
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`unknown errno ${String(errno)}`);
  return value;
}

function checkTrackedSize(path: string, sizeBytes: number): void {
  if (sizeBytes > TRACKED_FILE_SIZE_MAX_BYTES) {
    throw new Error(`FaultNativeIO tracks files up to ${TRACKED_FILE_SIZE_MAX_BYTES} bytes; ${path} reached ${sizeBytes}`);
  }
}

/** An error shaped like the ones node:fs throws, for fsError to wrap. */
function nodeError(errno: number, syscall: string, path?: string): NodeJS.ErrnoException {
  const code = errnoName(errno);
  const error: NodeJS.ErrnoException = new Error(`${code}: injected by FaultNativeIO, ${syscall}${path ? ` '${path}'` : ''}`);
  error.errno = -errno;
  error.code = code;
  error.syscall = syscall;
  if (path !== undefined) error.path = path;
  return error;
}

/** What the real mapShared/mapAnonymous throw (real-native-io.ts mmapError). */
function mmapError(errno: number): CommitLogError {
  const cause = new Error(`mmap failed, ${errno}`);
  if (errno === E.EINVAL || errno === E.EBADF) return new CommitLogError('ERR_IO', 'mmap failed', { cause, syscall: 'mmap' });
  const mapped = errnoError(errno, 'mmap');
  return new CommitLogError(mapped.code, `mmap failed: ${errnoName(errno)}`, { cause, errno, errnoCode: errnoName(errno), syscall: 'mmap' });
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

/** The inode's durable bytes at `sizeBytes` (zeros past what was ever synced). */
function durableContent(inode: Inode, sizeBytes: number): Buffer {
  const out = Buffer.alloc(sizeBytes);
  inode.durable.copy(out, 0, 0, Math.min(sizeBytes, inode.durable.length));
  return out;
}

function readWholeFile(fd: number): Buffer {
  const sizeBytes = fstatSync(fd).size;
  checkTrackedSize(`fd ${fd}`, sizeBytes);
  const out = Buffer.alloc(sizeBytes);
  for (let done = 0; done < sizeBytes; ) {
    const n = readSync(fd, out, done, sizeBytes - done, done);
    if (n === 0) return out.subarray(0, done); // shrank under us
    done += n;
  }
  return out;
}

/** Rewrites `path` in place (no O_TRUNC: an abandoned mapping must never see a zero-length file). */
function writeImage(path: string, image: Buffer): void {
  const fd = openSync(path, existsSync(path) ? 'r+' : 'w');
  try {
    for (let done = 0; done < image.length; ) done += writeSync(fd, image, done, image.length - done, done);
    ftruncateSync(fd, image.length);
  } finally {
    closeSync(fd);
  }
}

function countDifferences(a: Buffer, b: Buffer): number {
  let count = 0;
  const end = Math.min(a.length, b.length);
  for (let index = 0; index < end; index += 1) if (a[index] !== b[index]) count += 1;
  return count;
}

function firstDifference(a: Buffer, b: Buffer, from: number, to: number): number {
  for (let index = from; index < to; index += 1) if (a[index] !== b[index]) return index;
  return to;
}

function lastDifference(a: Buffer, b: Buffer, from: number, to: number): number {
  for (let index = to - 1; index >= from; index -= 1) if (a[index] !== b[index]) return index;
  return from - 1;
}
