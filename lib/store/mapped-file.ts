/**
 * MappedFile: one fixed-size segment file, named by its start offset in 20
 * zero-padded digits, mapped whole.
 *
 * Three positions, always flushed ≤ committed ≤ wrote ≤ fileSize:
 * - wrote:     bytes appended (into the mapping, or the pool buffer in direct mode);
 * - committed: bytes in the file's page cache, readable through the mapping;
 * - flushed:   bytes known durable.
 * Readers never see past `readPosition` (= committed; in mapped mode
 * committed = wrote because writes land in the page cache directly).
 *
 * Lifetime: `hold()`/`release()` count readers (a scan holding a segment
 * across awaits); `destroy()` and `close()` wait for in-flight commit/flush
 * and for readers (up to a deadline), then release the mapping
 * deterministically. A released mapping is replaced by anonymous zero pages,
 * so a stale Buffer reads zeros rather than crashing the process.
 */
import { dirname, join } from 'node:path';
import { assert } from '../assert.js';
import { OS_PAGE_SIZE_BYTES, SEGMENT_SIZE_MAX_BYTES } from '../constants.js';
import { CommitLogError } from '../errors.js';
import { describe } from '../format/describe.js';
import { segmentFileName } from '../format/segment-name.js';
import type { Advice, NativeIO } from '../native/native-io.js';
import type { WriteStrategy, WriteStrategyFactory } from '../strategy/write-strategy.js';

export interface MappedFileParams {
  native: NativeIO;
  directory: string;
  /** Physical offset of the segment's first byte; also its name. */
  fileFromOffset: number;
  fileSizeBytes: number;
  strategyFactory: WriteStrategyFactory;
}

type State = 'open' | 'closing' | 'closed';

/** Bytes pre-faulted per native call while warming. */
const WARM_SLICE_BYTES = 64 * 1024 * 1024;
/** Bytes pre-faulted (or zero-filled) and then written back per step while warming with write-back. */
export const WARM_WRITE_BACK_SLICE_BYTES = 8 * 1024 * 1024;
/** Bytes of zeros per pwrite of direct mode's warm-up: what a commit reaching them may wait for. */
const ZERO_FILL_CALL_BYTES = 1024 * 1024;

/**
 * commitDurable writes at most this much through its O_DSYNC descriptor in
 * one call (the real layer's libuv write: one call, one sync); more is
 * committed, then flushed.
 */
const COMMIT_DURABLE_MAX_BYTES = 256 * 1024;

/** The source of the direct-mode warm-up's zeros (writeZeros), made on first use and never written to. */
let zeroBytes: Buffer | undefined;
function zeroSource(): Buffer {
  zeroBytes ??= Buffer.alloc(ZERO_FILL_CALL_BYTES);
  return zeroBytes;
}

/** How long close/destroy wait for readers that still hold the segment before releasing it anyway. */
const READER_DRAIN_DEADLINE_MS = 1_000;

export class MappedFile {
  readonly fileFromOffset: number;
  readonly fileSizeBytes: number;
  readonly fileName: string;
  readonly path: string;
  /**
   * Store timestamp (ms) of the newest message in the segment, kept by the
   * layer that stamps messages (appends here do not read the clock), and
   * used for expiry.
   */
  storeTimestamp = 0;

  private readonly native: NativeIO;
  private readonly fd: number;
  private readonly mapping: Buffer;
  private readonly strategy: WriteStrategy;
  private wrote = 0;
  private committed = 0;
  private flushed = 0;
  private readers = 0;
  private state: State = 'open';
  private commitInFlight: Promise<void> | undefined;
  private flushInFlight: Promise<void> | undefined;
  private readersDrained: (() => void) | undefined;
  /** Every block fallocated, by create() or reserveSpace(). */
  private reserved = false;
  /** Mapped mode: set once warm(writeBack) has written every page past the data to disk: only appended data can be dirty since. */
  private writtenBack = false;
  /** Advised 'random' alone (useSmallFolios) until the segment is full and flushed. */
  private smallFolios = false;
  /** Direct mode's write-back warm-up: the zeros being written, which a commit reaching into them waits for. */
  private zeroFilling: { from: number; done: Promise<void> } | undefined;
  /** The warm-up running, which a second warm() call joins. */
  private warming: Promise<void> | undefined;
  /** commitDurable's O_DSYNC descriptor, opened on first use; undefined inside when it could not be opened. */
  private dataSyncFd: Promise<number | undefined> | undefined;

  private constructor(params: MappedFileParams, fd: number, mapping: Buffer) {
    this.native = params.native;
    this.fileFromOffset = params.fileFromOffset;
    this.fileSizeBytes = params.fileSizeBytes;
    this.fileName = segmentFileName(params.fileFromOffset);
    this.path = join(params.directory, this.fileName);
    this.fd = fd;
    this.mapping = mapping;
    this.strategy = params.strategyFactory({ native: params.native, fd, mapping });
  }

  /**
   * Creates a new, empty segment: sized, blocks reserved (fallocate, so a full
   * disk is an error here rather than a SIGBUS on a later page fault), mapped.
   * A file of that name that already has a size is ERR_SEGMENT_INVALID: a
   * new segment never reuses old bytes.
   */
  static async create(params: MappedFileParams): Promise<MappedFile> {
    checkGeometry(params);
    const path = join(params.directory, segmentFileName(params.fileFromOffset));
    const fd = await params.native.openFile(path, true);
    try {
      const existing = await params.native.fileSize(fd);
      if (existing !== 0) {
        throw new CommitLogError('ERR_SEGMENT_INVALID', `segment ${path} already exists with ${existing} bytes`, { path });
      }
      await params.native.truncate(fd, params.fileSizeBytes);
      await params.native.fallocate(fd, 0, params.fileSizeBytes);
      await params.native.syncDirectory(params.directory); // the new name survives a crash
      const file = new MappedFile(params, fd, params.native.mapShared(fd, params.fileSizeBytes));
      file.storeTimestamp = Date.now();
      file.reserved = true;
      return file;
    } catch (err) {
      await params.native.closeFile(fd).catch(() => undefined); // the original error is the one to report
      if (!(err instanceof CommitLogError && err.code === 'ERR_SEGMENT_INVALID')) {
        await params.native.unlink(path).catch(() => undefined); // best effort: it held nothing yet
      }
      throw err;
    }
  }

  /**
   * Opens an existing segment. Every position starts at the file's end (all
   * of it is taken as written and durable); recovery then moves them back
   * with `truncateTo`. A file of the wrong size is ERR_SEGMENT_INVALID.
   */
  static async open(params: MappedFileParams): Promise<MappedFile> {
    checkGeometry(params);
    const path = join(params.directory, segmentFileName(params.fileFromOffset));
    const fd = await params.native.openFile(path, false);
    try {
      const size = await params.native.fileSize(fd);
      if (size !== params.fileSizeBytes) {
        throw new CommitLogError('ERR_SEGMENT_INVALID', `segment ${path} has ${size} bytes, expected ${params.fileSizeBytes}`, { path });
      }
      const file = new MappedFile(params, fd, params.native.mapShared(fd, params.fileSizeBytes));
      file.wrote = file.committed = file.flushed = params.fileSizeBytes;
      return file;
    } catch (err) {
      await params.native.closeFile(fd).catch(() => undefined);
      throw err;
    }
  }

  // --- positions ------------------------------------------------------------

  get wrotePosition(): number {
    return this.wrote;
  }

  get committedPosition(): number {
    return this.strategy.commitsOnWrite ? this.wrote : this.committed;
  }

  get flushedPosition(): number {
    return this.flushed;
  }

  /** Readers see bytes up to here. */
  get readPosition(): number {
    return this.committedPosition;
  }

  get writeMode(): WriteStrategy['mode'] {
    return this.strategy.mode;
  }

  get isFull(): boolean {
    return this.wrote === this.fileSizeBytes;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Bytes left to append. */
  get remainingBytes(): number {
    return this.fileSizeBytes - this.wrote;
  }

  /**
   * Cuts the segment at `position` (recovery: everything before it is valid,
   * nothing after it is): all three positions move there, and every
   * non-zero byte after it is zeroed *durably* before this resolves, so a
   * later crash cannot bring a cut record back. Only the bytes up to the
   * last non-zero one are touched, so cutting a mostly empty 1 GiB segment
   * costs little. `checkBytes` bounds the search (a clean close leaves zeros
   * after the end: searching a 1 GiB segment faults it all in, 0.4-0.7 s).
   */
  async truncateTo(position: number, checkBytes = Infinity): Promise<void> {
    this.checkOpen();
    if (!Number.isSafeInteger(position) || position < 0 || position > this.fileSizeBytes) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `truncateTo needs a position in [0, ${this.fileSizeBytes}], got ${describe(position)}`);
    }
    // NaN would search nothing, zero nothing, and still move every position back.
    if (!(checkBytes === Infinity || (Number.isSafeInteger(checkBytes) && checkBytes >= 0))) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `truncateTo's checkBytes must be an integer >= 0 or Infinity, got ${describe(checkBytes)}`);
    }
    assert(this.commitInFlight === undefined && this.flushInFlight === undefined, 'no I/O in flight during a cut');
    // Only [position, dataEnd) can hold bytes; the scan for it runs off the JS thread.
    const searched = Math.min(this.fileSizeBytes - position, checkBytes);
    const dataEnd = await this.asIoReader(() => this.native.dataEnd(this.mapping, position, searched));
    assert(dataEnd >= position && dataEnd <= this.fileSizeBytes, 'data end inside the cut range');
    if (dataEnd > position) this.mapping.fill(0, position, dataEnd);
    this.wrote = this.committed = this.flushed = position;
    this.checkPositions();
    if (dataEnd > position) {
      // The mapping is the file's page cache in both modes: msync (mapped) or
      // fdatasync (direct) of the zeroed range makes the cut durable.
      await this.asIoReader(() => this.strategy.flush(position, dataEnd));
    }
  }

  /**
   * Overwrites already-written bytes in place and makes them durable before
   * resolving (recovery covering a damaged range with a blank record). Only
   * below the read position: appends never go through here.
   */
  async patchDurably(position: number, bytes: Uint8Array): Promise<void> {
    this.checkOpen();
    assert(position >= 0 && position + bytes.length <= this.readPosition, `patch [${position}, ${position + bytes.length}) below the read position ${this.readPosition}`);
    this.mapping.set(bytes, position);
    // The mapping is the file's page cache in both modes.
    await this.asIoReader(() => this.strategy.flush(position, position + bytes.length));
  }

  // --- append ---------------------------------------------------------------

  /**
   * The buffer to encode into at `wrotePosition`, for writers that build a
   * record in place (the codec); follow with `advance(bytes)`. Direct mode
   * borrows its pool buffer here on first use.
   */
  writeBuffer(): Buffer {
    this.checkOpen();
    return this.strategy.writeBuffer();
  }

  /** Marks `length` bytes written at `wrotePosition` by an in-place writer. */
  advance(length: number): void {
    if (!Number.isSafeInteger(length) || length < 0) throw new CommitLogError('ERR_INVALID_ARGUMENT', `advance needs a byte count, an integer >= 0, got ${describe(length)}`);
    this.checkFits(length);
    this.moveWrote(length);
  }

  /** Moves the write position past bytes already checked to fit (append, appendBatch). */
  private moveWrote(length: number): void {
    this.wrote += length;
    if (this.strategy.commitsOnWrite) this.committed = this.wrote;
  }

  /** Appends bytes; returns the position they were written at. ERR_SEGMENT_FULL if they do not fit. */
  append(bytes: Uint8Array): number {
    if (!(bytes instanceof Uint8Array)) throw new CommitLogError('ERR_INVALID_ARGUMENT', `append needs a Uint8Array, got ${describe(bytes)}`);
    this.checkFits(bytes.length);
    const position = this.wrote;
    this.strategy.writeBuffer().set(bytes, position);
    this.moveWrote(bytes.length);
    return position;
  }

  /**
   * Appends many messages in one call: all fit or none is written. Returns the
   * position of each.
   */
  appendBatch(messages: readonly Uint8Array[]): number[] {
    if (!Array.isArray(messages)) throw new CommitLogError('ERR_INVALID_ARGUMENT', `appendBatch needs an array of Uint8Array, got ${describe(messages)}`);
    let total = 0;
    for (const message of messages) {
      if (!(message instanceof Uint8Array)) throw new CommitLogError('ERR_INVALID_ARGUMENT', `appendBatch needs an array of Uint8Array, it holds ${describe(message)}`);
      total += message.length;
    }
    this.checkFits(total);
    const target = this.strategy.writeBuffer();
    const positions = new Array<number>(messages.length);
    let position = this.wrote;
    for (let index = 0; index < messages.length; index += 1) {
      const message = messages[index]!;
      target.set(message, position);
      positions[index] = position;
      position += message.length;
    }
    this.moveWrote(total);
    return positions;
  }

  private checkFits(length: number): void {
    this.checkOpen();
    if (length > this.fileSizeBytes - this.wrote) {
      throw new CommitLogError('ERR_SEGMENT_FULL', `${length} bytes do not fit: ${this.fileSizeBytes - this.wrote} left in ${this.fileName}`);
    }
  }

  // --- commit and flush ------------------------------------------------------

  /**
   * RocketMQ's least-pages rule: act when at least `leastPages` page
   * boundaries lie between `done` and `target`; 0 means any byte; a full
   * segment always qualifies so its tail is never left behind.
   */
  private qualifies(done: number, target: number, leastPages: number): boolean {
    if (target <= done) return false;
    if (this.isFull || leastPages === 0) return true;
    return Math.floor(target / OS_PAGE_SIZE_BYTES) - Math.floor(done / OS_PAGE_SIZE_BYTES) >= leastPages;
  }

  /**
   * Direct mode: copies [committed, wrote) into the file when the rule allows,
   * off the JS thread. Mapped mode: nothing to do. Resolves with the new
   * committed position. Concurrent calls run one after another.
   */
  async commit(leastPages: number): Promise<number> {
    await this.writesSettled(false);
    this.checkOpen();
    if (this.strategy.commitsOnWrite) return this.committedPosition;
    const from = this.committed;
    const to = this.wrote;
    if (!this.qualifies(from, to, leastPages)) return from;
    const run = this.strategy.commit(from, to).then(() => this.committedTo(to));
    this.commitInFlight = run;
    try {
      await run;
    } finally {
      this.commitInFlight = undefined;
    }
    return this.committed;
  }

  /** After a commit (or a durable write from `flushed`) to `to`: a full, fully committed segment needs its pool buffer no more. */
  private committedTo(to: number): void {
    this.committed = Math.max(this.committed, to);
    this.checkPositions();
    if (this.committed === this.fileSizeBytes) this.strategy.release();
  }

  /**
   * Makes [flushed, committed) durable when the rule allows, off the JS
   * thread (msync in mapped mode, fdatasync in direct mode). Resolves with
   * the new flushed position. Concurrent calls run one after another.
   */
  async flush(leastPages: number): Promise<number> {
    while (this.flushInFlight !== undefined) await this.flushInFlight;
    this.checkOpen();
    const from = this.flushed;
    let to = this.committedPosition;
    if (!this.qualifies(from, to, leastPages)) return from;
    // A background (least-pages) flush stops at the last whole page: flushing
    // the page the writer is still filling would make its next write fault on
    // a just-cleaned page and wait on the file system's journal.
    if (leastPages > 0 && !this.isFull) to -= to % OS_PAGE_SIZE_BYTES;
    const run = this.strategy.flush(from, to, this.writtenBack).then(() => {
      this.flushed = to;
      this.checkPositions();
      if (this.smallFolios && this.flushed === this.fileSizeBytes) this.endSmallFolios();
    });
    this.flushInFlight = run;
    try {
      await run;
    } finally {
      this.flushInFlight = undefined;
    }
    return this.flushed;
  }

  /**
   * SYNC_FLUSH in direct mode: makes [flushed, wrote) durable with one pwrite
   * through a descriptor opened with O_DSYNC, instead of a pwrite and then an
   * fdatasync: one trip through the libuv pool per group instead of two (64
   * appenders here: ack p99 1.47 ms against 1.89 at the median of five runs,
   * bench/README.md).
   * O_DSYNC makes only the bytes it writes durable, so the write starts at
   * `flushed` and rewrites what the committer committed since, from the same
   * write buffer. More than COMMIT_DURABLE_MAX_BYTES, mapped mode, a segment
   * already committed to its end, or a descriptor that could not be opened:
   * commit, then flush. Resolves with the new flushed position.
   */
  async commitDurable(): Promise<number> {
    this.checkOpen(); // a segment already closing would never close a descriptor opened now
    // A segment committed to its end gave its write buffer back: nothing to rewrite from, only to flush.
    const fd = this.strategy.commitsOnWrite || this.committed === this.fileSizeBytes ? undefined : await this.dataSyncDescriptor();
    await this.writesSettled(true);
    this.checkOpen();
    const from = this.flushed;
    const to = this.wrote;
    if (to <= from) return from;
    if (fd === undefined || to - from > COMMIT_DURABLE_MAX_BYTES || this.committed === this.fileSizeBytes) {
      await this.commit(0);
      await this.flush(0);
      return this.afterCommitDurable();
    }
    const run = this.strategy.commit(from, to, fd).then(() => {
      this.flushed = to;
      this.committedTo(to);
    });
    // Both a commit and a flush: neither kind may start (nor the descriptors close) meanwhile.
    this.commitInFlight = run;
    this.flushInFlight = run;
    try {
      await run;
    } finally {
      this.commitInFlight = undefined;
      this.flushInFlight = undefined;
    }
    return this.afterCommitDurable();
  }

  /**
   * Waits until no commit (and, with `flushes`, no flush) is in flight and
   * no warm-up zeros are being written where the writer has data: the warm-up
   * writes zeros ahead of the writer (warmZeroFilling), and data must land
   * after them.
   */
  private async writesSettled(flushes: boolean): Promise<void> {
    for (;;) {
      if (this.commitInFlight !== undefined) await this.commitInFlight;
      else if (flushes && this.flushInFlight !== undefined) await this.flushInFlight;
      else if (this.zeroFilling !== undefined && this.wrote > this.zeroFilling.from) await this.zeroFilling.done;
      else return;
    }
  }

  /** A segment flushed to its end takes no more groups: its O_DSYNC descriptor is closed now, not at retention. */
  private afterCommitDurable(): number {
    if (this.flushed === this.fileSizeBytes) {
      // Not awaited: the group's acks do not wait for it, and a failed close loses nothing.
      void this.takeDataSyncFd()
        .then((fd) => (fd === undefined ? undefined : this.native.closeFile(fd)))
        .catch(() => undefined);
    }
    return this.flushed;
  }

  /** The O_DSYNC descriptor, taken (before any await) by whoever closes it, so it is closed once. */
  private takeDataSyncFd(): Promise<number | undefined> {
    const opened = this.dataSyncFd ?? Promise.resolve(undefined);
    this.dataSyncFd = Promise.resolve(undefined);
    return opened;
  }

  /** commitDurable's descriptor; undefined when it cannot be opened (EMFILE, say): commitDurable falls back to commit + flush. */
  private dataSyncDescriptor(): Promise<number | undefined> {
    this.dataSyncFd ??= this.native.openDataSyncFile(this.path).catch(() => undefined);
    return this.dataSyncFd;
  }

  // --- pre-faulting ----------------------------------------------------------

  /**
   * Faults the mapping in for writing, off the JS thread, so appends into a
   * fresh segment run at memory speed. In direct mode the writes go to the
   * pool buffer (already faulted): the pool buffer is borrowed, and the
   * file's page cache is filled ahead of the commits (fillPageCache, no
   * mapping involved), so a commit copies into resident pages instead of
   * allocating them as it goes. (Fresh memory's first touch ran at ~0.4 GB/s
   * on this VM: a commit of 285 KiB took 0.6-1 ms into a cold file, 0.17 ms
   * into a filled one; bench/README.md, "Direct mode fills the page cache".)
   *
   * With `writeBack` (SYNC_FLUSH stores) the segment from the write position
   * on is also written to disk, slice by slice, so its blocks are written
   * blocks, not fallocate's unwritten extents: a durable append's flush then
   * overwrites data in place and commits no metadata (about half the
   * fdatasync latency here). Mapped mode faults the pages in and writes them
   * back, which changes no byte (MADV_POPULATE_WRITE keeps the contents), so
   * appends may run beside it; direct mode writes zeros with pwrite instead,
   * ahead of the writer (warmZeroFilling). Costs one segment of disk writes
   * per segment, as RocketMQ's warm-up does under SYNC_FLUSH.
   *
   * While it faults pages in, the mapping is advised 'hugepage' + 'random':
   * without them a fault on a page not in the cache fills the whole
   * read-ahead window and zeroes it in one kernel stretch with no preemption
   * point, which kept the JS thread off the CPU for 16-25 ms here; with them
   * each miss fills one 2 MiB folio. 'normal' afterwards gives later cold
   * reads their read-ahead back. Both are hints: a kernel without them warms
   * as before.
   *
   * Except a segment given useSmallFolios() first (a mapped SYNC_FLUSH
   * segment): it keeps 'random' alone. The measurements: bench/README.md
   * ("Kept: one 2 MiB folio per page-cache miss").
   */
  async warm(writeBack = false): Promise<void> {
    this.checkOpen();
    // One at a time: two direct-mode zero-fills would share one marker for commits to wait on.
    this.warming ??= this.warmOnce(writeBack).finally(() => (this.warming = undefined));
    return this.warming;
  }

  private async warmOnce(writeBack: boolean): Promise<void> {
    if (!this.strategy.commitsOnWrite) {
      // Direct mode never writes through the mapping: its pool buffer (borrowed
      // here unless the segment is full) is the write target, so nothing is
      // faulted in or advised; the page cache its commits write into is filled.
      if (!this.isFull) this.strategy.writeBuffer();
      if (writeBack) await this.asIoReader(() => this.warmZeroFilling());
      else await this.asIoReader(() => this.warmFillingPageCache());
      return;
    }
    // As an I/O reader: the mapping stays alive while the kernel faults it in (and is advised).
    await this.asIoReader(async () => {
      try {
        if (!this.smallFolios) await this.adviseWhole('hugepage');
        await this.adviseWhole('random');
        if (writeBack) await this.warmWritingBack();
        else await this.warmSlices(WARM_SLICE_BYTES, (position, length) => this.native.populateWrite(this.mapping, position, length));
      } finally {
        if (!this.smallFolios) await this.adviseWhole('normal');
      }
    });
  }

  /**
   * Reserves every block of a loaded segment that will take appends
   * (fallocate; blocks already reserved cost nothing). A segment copied or
   * restored sparse (cp --sparse, rsync -S, tar -S) has holes where its
   * zeros were: on a full disk the store into a hole would meet ENOSPC as a
   * SIGBUS in mapped mode. This makes it ERR_DISK_FULL here instead. A new
   * segment is reserved by create().
   */
  async reserveSpace(): Promise<void> {
    this.checkOpen();
    if (this.reserved) return;
    await this.native.fallocate(this.fd, 0, this.fileSizeBytes);
    this.reserved = true;
  }

  /**
   * A SYNC_FLUSH store's mapped segment that still takes appends: 4 KiB
   * page-cache folios ('random' advice, no read-around) until it is full and
   * flushed. A store through a shared mapping dirties its whole folio, and a
   * group flush writes back every dirty folio it covers: with the 2 MiB
   * folios that read-around or warm() make, each group wrote 2 MiB
   * (bench/README.md, "Mapped SYNC_FLUSH segments take 4 KiB folios"). Kept
   * until then, as a page evicted meanwhile and faulted back by an append
   * would come back large. Give it before warm(). Direct mode writes with
   * pwrite: nothing to do.
   */
  async useSmallFolios(): Promise<void> {
    if (!this.strategy.commitsOnWrite || this.smallFolios || this.isFull || !this.hold()) return;
    this.smallFolios = true;
    try {
      await this.adviseWhole('random');
    } finally {
      this.releaseReader();
    }
  }

  /** madvise of the whole mapping. A hint: a failure, even of the native call, only costs speed. */
  private async adviseWhole(advice: Advice): Promise<void> {
    await this.native.advise(this.mapping, 0, this.fileSizeBytes, advice).catch(() => undefined);
  }

  /** A full, flushed segment takes no more appends: read-ahead back for its readers. */
  private endSmallFolios(): void {
    this.smallFolios = false;
    if (!this.hold()) return;
    void this.adviseWhole('normal').finally(() => this.releaseReader());
  }

  /**
   * Runs `step` over [wrote, end) slice by slice, so a close stops the warm-up
   * early (the shim slices further, for preemption). True when it got to the end.
   */
  private async warmSlices(slice: number, step: (position: number, length: number) => Promise<void>): Promise<boolean> {
    for (let position = this.wrote; position < this.fileSizeBytes; position += slice) {
      if (this.state !== 'open') return false;
      if (this.wrote > position) continue; // the writer got here first: its appends fault these pages in
      await step(position, Math.min(slice, this.fileSizeBytes - position));
    }
    return this.state === 'open';
  }

  /**
   * Direct mode's warm(true): writes zeros over [wrote, end) with pwrite and
   * writes them back, slice by slice, through its own descriptor (see
   * warmWritingBack). Not through the mapping: faulting it in took the mmap
   * lock and the CPU from the store's flushes (bench/README.md, "The
   * SYNC_FLUSH warm-up beside group commits"). Zeros only where the writer
   * has not been: a commit reaching a slice while its zeros are being
   * written waits for them (commit), not for their write-back, which runs at
   * the idle I/O priority; once the writer passes the warm-up, its own
   * commits write the rest.
   */
  private async warmZeroFilling(): Promise<void> {
    const fd = await this.native.openFile(this.path, false);
    try {
      for (let position = this.wrote; position < this.fileSizeBytes; position += WARM_WRITE_BACK_SLICE_BYTES) {
        const sliceEnd = Math.min(position + WARM_WRITE_BACK_SLICE_BYTES, this.fileSizeBytes);
        const end = await this.writeZeros(fd, position, sliceEnd);
        if (end > position) await this.native.writeBack(fd, position, end - position);
        if (end < sliceEnd) return; // closed, or the writer caught up
      }
      // The unwritten-to-written conversions are metadata: written now, not by the first group flush.
      await this.native.fdatasync(fd);
    } finally {
      await this.native.closeFile(fd);
    }
  }

  /**
   * Writes zeros over [position, end) a call at a time, each only where the
   * writer has not been, marked for commits to wait on. Returns where it
   * stopped: `end`, or earlier once the writer caught up or the segment closed.
   */
  private async writeZeros(fd: number, position: number, end: number): Promise<number> {
    const source = zeroSource();
    for (let at = position; at < end; at += ZERO_FILL_CALL_BYTES) {
      if (this.state !== 'open' || this.wrote > at) return at;
      const zeros = this.native.pwrite(fd, source, 0, Math.min(ZERO_FILL_CALL_BYTES, end - at), at);
      this.zeroFilling = { from: at, done: zeros.catch(() => undefined) };
      try {
        await zeros;
      } finally {
        this.zeroFilling = undefined;
      }
    }
    return end;
  }

  /**
   * Direct mode's warm(false): fills the page cache from the write position
   * on (readahead), slice by slice, through a descriptor of its own (a close
   * of the segment never leaves it a number reused by another file).
   */
  private async warmFillingPageCache(): Promise<void> {
    const fd = await this.native.openFile(this.path, false);
    try {
      await this.warmSlices(WARM_WRITE_BACK_SLICE_BYTES, (position, length) => this.native.fillPageCache(fd, position, length));
    } finally {
      await this.native.closeFile(fd);
    }
  }

  /** Mapped mode's warm(true): pre-fault and write back, slice by slice (at most one slice of dirty zeros for a concurrent whole-file fdatasync to meet). */
  private async warmWritingBack(): Promise<void> {
    // Its own descriptor of the file: a close of the segment never leaves it a
    // number reused by another file, and its syncs cannot take a write error
    // that the flushes' descriptor must report (the kernel reports one to each
    // open file once).
    const fd = await this.native.openFile(this.path, false);
    try {
      // A reopened segment's appends go on meanwhile: slices the writer has reached are skipped
      // (pages never faulted in by the warm-up can only be dirtied by appends, so writtenBack
      // holds), but the slice it is in may be written back under it.
      const done = await this.warmSlices(WARM_WRITE_BACK_SLICE_BYTES, (position, length) => this.native.warmWriteBack(this.mapping, position, length, fd));
      if (!done) return;
      // The unwritten-to-written conversions are journalled: commit them now, not in the first group flush.
      await this.native.fdatasync(fd);
      this.writtenBack = true;
    } finally {
      await this.native.closeFile(fd);
    }
  }

  /**
   * Faults [position, min(end, readPosition)) in for reading, off the JS
   * thread, so a long walk over it (recovery, a verified scan) does not take
   * one page fault per 4 KiB on the event loop. A refusal only costs speed.
   */
  async prefaultRead(position = 0, endPosition = Infinity): Promise<void> {
    if (!this.hold()) return;
    try {
      const end = Math.min(endPosition, this.readPosition);
      if (end > position) await this.native.populateRead(this.mapping, position, end - position);
    } catch {
      // Pre-faulting is an optimisation.
    } finally {
      this.releaseReader();
    }
  }

  // --- reads -----------------------------------------------------------------

  /** Takes a reference so the segment is not released under a reader. False once closing. */
  hold(): boolean {
    if (this.state !== 'open') return false;
    this.readers += 1;
    return true;
  }

  release(): void {
    this.releaseReader();
  }

  /** Whether a reader holds the segment now (retention leaves such a segment for a later pass). */
  get isHeld(): boolean {
    return this.readers > 0;
  }

  /**
   * Runs native I/O on the mapping as a reader (without hold()'s open check:
   * the callers checked), so a close waits for it before releasing the
   * mapping under the kernel.
   */
  private async asIoReader<T>(io: () => Promise<T>): Promise<T> {
    this.readers += 1;
    try {
      return await io();
    } finally {
      this.releaseReader();
    }
  }

  private releaseReader(): void {
    assert(this.readers > 0, 'release matches a hold');
    this.readers -= 1;
    if (this.readers === 0) this.readersDrained?.();
  }

  /** Validates that [position, position + length) is readable; ERR_BAD_OFFSET otherwise. */
  private checkReadable(position: number, length: number): void {
    this.checkOpen();
    if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0 || position + length > this.readPosition) {
      throw new CommitLogError('ERR_BAD_OFFSET', `range [${position}, ${position + length}) is outside the readable [0, ${this.readPosition}) of ${this.fileName}`);
    }
  }

  /** A copy of [position, position + length). */
  read(position: number, length: number): Buffer {
    this.checkReadable(position, length);
    return Buffer.from(this.mapping.subarray(position, position + length));
  }

  /**
   * Zero-copy view of [position, position + length), valid only inside `use`
   * (the segment is held for its duration, async or not). Keep no reference
   * to the view afterwards: once the segment is released it reads zeros.
   */
  withView<T>(position: number, length: number, use: (view: Buffer) => T): T {
    this.checkReadable(position, length);
    this.readers += 1;
    let result: T;
    try {
      result = use(this.mapping.subarray(position, position + length));
    } catch (err) {
      this.releaseReader();
      throw err;
    }
    if (result instanceof Promise) {
      return result.finally(() => this.releaseReader()) as T;
    }
    this.releaseReader();
    return result;
  }

  /**
   * Direct access to the readable mapping for a reader that holds the
   * segment (hold() returned true) and releases it afterwards; used by scans
   * that walk many records.
   */
  readableView(): Buffer {
    assert(this.readers > 0, 'readableView needs a hold()');
    return this.mapping.subarray(0, this.readPosition);
  }

  /** Bytes of the segment resident in the page cache (mincore). */
  residentBytes(): number {
    this.checkOpen();
    return this.native.residentBytes(this.mapping);
  }

  // --- end of life -----------------------------------------------------------

  /** Releases the mapping, the pool buffer and the descriptor; the file stays. Positions are not flushed here. */
  async close(): Promise<void> {
    await this.shutdown(false);
  }

  /** Like close, then deletes the file. */
  async destroy(): Promise<void> {
    await this.shutdown(true);
  }

  private async shutdown(unlink: boolean): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    // In-flight I/O uses the descriptor: it must finish before the fd can be closed (and reused).
    while (this.commitInFlight !== undefined || this.flushInFlight !== undefined) {
      await Promise.allSettled([this.commitInFlight, this.flushInFlight]);
    }
    if (this.readers > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, READER_DRAIN_DEADLINE_MS);
        this.readersDrained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.readersDrained = undefined;
    }
    // Readers still holding past the deadline see zeros from here on; they cannot crash.
    await this.native.releaseMapping(this.mapping);
    this.strategy.release();
    this.state = 'closed';
    try {
      const dataSyncFd = await this.takeDataSyncFd();
      if (dataSyncFd !== undefined) await this.native.closeFile(dataSyncFd);
    } finally {
      await this.native.closeFile(this.fd);
    }
    if (unlink) {
      await this.native.unlink(this.path);
      await this.native.syncDirectory(dirname(this.path)); // the deletion survives a crash
    }
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw new CommitLogError('ERR_CLOSED', `segment ${this.fileName} is ${this.state}`);
  }

  private checkPositions(): void {
    const committed = this.committedPosition;
    assert(
      this.flushed <= committed && committed <= this.wrote && this.wrote <= this.fileSizeBytes,
      `flushed ${this.flushed} ≤ committed ${committed} ≤ wrote ${this.wrote} ≤ size ${this.fileSizeBytes} in ${this.fileName}`,
    );
  }
}

function checkGeometry(params: MappedFileParams): void {
  if (!Number.isSafeInteger(params.fileFromOffset) || params.fileFromOffset < 0 || params.fileFromOffset % params.fileSizeBytes !== 0) {
    throw new CommitLogError('ERR_INVALID_ARGUMENT', `fileFromOffset ${params.fileFromOffset} must be a non-negative multiple of the segment size ${params.fileSizeBytes}`);
  }
  if (!Number.isSafeInteger(params.fileSizeBytes) || params.fileSizeBytes <= 0 || params.fileSizeBytes % params.native.pageSize !== 0 || params.fileSizeBytes > SEGMENT_SIZE_MAX_BYTES) {
    throw new CommitLogError('ERR_INVALID_ARGUMENT', `fileSizeBytes ${params.fileSizeBytes} must be a positive multiple of the page size, at most ${SEGMENT_SIZE_MAX_BYTES}`);
  }
}
