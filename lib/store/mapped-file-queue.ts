/**
 * MappedFileQueue: the ordered, contiguous segments of one directory
 * (RocketMQ's MappedFileQueue). Segment i starts at firstOffset + i × size,
 * so finding a segment by offset is arithmetic, not a search.
 *
 * Offsets here are physical (global across segments); positions are inside
 * one segment. `flushedWhere` / `committedWhere` are physical offsets: all
 * bytes before them are flushed / committed.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../assert.js';
import { CommitLogError } from '../errors.js';
import { describe } from '../format/describe.js';
import { parseSegmentFileName } from '../format/segment-name.js';
import { fsError } from '../native/errno.js';
import { inspectSegmentEntry } from './segment-entry.js';
import type { NativeIO } from '../native/native-io.js';
import type { WriteStrategyFactory } from '../strategy/write-strategy.js';
import { AllocateMappedFileService, PREPARED_MAX } from './allocate-mapped-file-service.js';
import { MappedFile } from './mapped-file.js';

export interface MappedFileQueueParams {
  native: NativeIO;
  directory: string;
  fileSizeBytes: number;
  strategyFactory: WriteStrategyFactory;
  /** Pre-fault segments prepared in the background. */
  warm: boolean;
  /** A SYNC_FLUSH store: mapped segments take 4 KiB folios; with `warm`, warm-ups also write to disk (AllocateMappedFileService). */
  syncFlush?: boolean;
}

/** Bound on segments in one queue: 2^20 GiB-sized segments is a petabyte. */
const SEGMENT_COUNT_MAX = 1 << 20;

export class MappedFileQueue {
  readonly directory: string;
  readonly fileSizeBytes: number;
  private readonly native: NativeIO;
  private readonly strategyFactory: WriteStrategyFactory;
  private readonly allocator: AllocateMappedFileService;
  private readonly files: MappedFile[] = [];
  private flushed = 0;
  private committed = 0;
  private rolling: Promise<MappedFile> | undefined;

  constructor(params: MappedFileQueueParams) {
    this.native = params.native;
    this.directory = params.directory;
    this.fileSizeBytes = params.fileSizeBytes;
    this.strategyFactory = params.strategyFactory;
    this.allocator = new AllocateMappedFileService(params);
  }

  // --- start-up --------------------------------------------------------------

  /**
   * Opens the directory's segments in offset order. A zero-length *last*
   * file (a crash between create and ftruncate) is removed. Any other size
   * mismatch, a misaligned name, or a gap between segments is
   * ERR_SEGMENT_INVALID: nothing is silently used or dropped. Every segment
   * starts with all positions at its end; recovery moves the tail back with
   * `truncateDirtyFiles`.
   */
  async load(): Promise<void> {
    assert(this.files.length === 0, 'load runs once, on an empty queue');
    let names: string[];
    try {
      names = readdirSync(this.directory);
    } catch (err) {
      throw fsError(err, 'readdir', this.directory);
    }
    const segments = names
      .map((name) => ({ name, offset: parseSegmentFileName(name) }))
      .filter((entry): entry is { name: string; offset: number } => entry.offset !== undefined)
      .sort((a, b) => a.offset - b.offset);
    assert(segments.length <= SEGMENT_COUNT_MAX, `at most ${SEGMENT_COUNT_MAX} segments`);
    try {
      for (const [index, { name, offset }] of segments.entries()) {
        const path = join(this.directory, name);
        const entry = inspectSegmentEntry(path);
        if (entry === undefined) continue; // deleted since readdir
        if ('problem' in entry) throw new CommitLogError('ERR_SEGMENT_INVALID', `segment ${path} is ${entry.problem}`, { path });
        const size = entry.stats.size;
        if (size === 0 && index === segments.length - 1) {
          await this.native.unlink(path); // created but never sized: holds nothing
          await this.native.syncDirectory(this.directory);
          continue;
        }
        if (size !== this.fileSizeBytes) {
          throw new CommitLogError('ERR_SEGMENT_INVALID', `segment ${path} has ${size} bytes, expected ${this.fileSizeBytes}`, { path });
        }
        if (offset % this.fileSizeBytes !== 0) {
          throw new CommitLogError('ERR_SEGMENT_INVALID', `segment ${path}: offset ${offset} is not a multiple of the segment size ${this.fileSizeBytes}`, { path });
        }
        const previous = this.files[this.files.length - 1];
        if (previous !== undefined && previous.fileFromOffset + this.fileSizeBytes !== offset) {
          throw new CommitLogError('ERR_SEGMENT_INVALID', `gap before segment ${path}: the previous segment ends at ${previous.fileFromOffset + this.fileSizeBytes}`, { path });
        }
        const file = await MappedFile.open({ native: this.native, directory: this.directory, fileFromOffset: offset, fileSizeBytes: this.fileSizeBytes, strategyFactory: this.strategyFactory });
        file.storeTimestamp = statSync(path).mtimeMs;
        this.files.push(file);
      }
    } catch (err) {
      for (const file of this.files.splice(0)) await file.close();
      if (err instanceof CommitLogError) throw err;
      throw fsError(err, 'stat', (err as NodeJS.ErrnoException).path ?? this.directory);
    }
    const last = this.files[this.files.length - 1];
    this.flushed = this.committed = last === undefined ? 0 : last.fileFromOffset + last.wrotePosition;
    this.checkSelf();
  }

  // --- the segments ----------------------------------------------------------

  get segmentCount(): number {
    return this.files.length;
  }

  /** The segments in offset order (a copy). */
  get segments(): readonly MappedFile[] {
    return [...this.files];
  }

  get firstMappedFile(): MappedFile | undefined {
    return this.files[0];
  }

  get lastMappedFile(): MappedFile | undefined {
    return this.files[this.files.length - 1];
  }

  /**
   * The segment to append to: the last one while it has room, otherwise the
   * next one at `startOffset` (for an empty queue) or right after the last.
   * Synchronous when the allocation service has the next segment ready;
   * a Promise (an allocation stall) otherwise.
   */
  lastMappedFileForAppend(startOffset = 0): MappedFile | Promise<MappedFile> {
    const last = this.lastMappedFile;
    if (last !== undefined && !last.isFull) return last;
    if (this.rolling !== undefined) return this.rolling;
    const fileFromOffset = last === undefined ? startOffset - (startOffset % this.fileSizeBytes) : last.fileFromOffset + this.fileSizeBytes;
    // The very first segment of a store is not a stall: nothing could have prepared it.
    const taken = this.allocator.take(fileFromOffset, last !== undefined);
    if (taken instanceof MappedFile) return this.adopt(taken);
    this.rolling = taken.then(
      (file) => {
        this.rolling = undefined;
        return this.adopt(file);
      },
      (err: unknown) => {
        this.rolling = undefined;
        throw err;
      },
    );
    // A caller that only probes (append's fast path) drops this promise; the failure
    // reaches whoever awaits it, and is not an unhandled rejection meanwhile.
    this.rolling.catch(() => undefined);
    return this.rolling;
  }

  private adopt(file: MappedFile): MappedFile {
    const last = this.lastMappedFile;
    assert(last === undefined || file.fileFromOffset === last.fileFromOffset + this.fileSizeBytes, 'a new segment follows the last one');
    assert(this.files.length < SEGMENT_COUNT_MAX, `at most ${SEGMENT_COUNT_MAX} segments`);
    if (last === undefined) this.flushed = this.committed = file.fileFromOffset;
    this.files.push(file);
    // Prepare the one after it now, so the next roll finds it ready.
    this.allocator.prepare(file.fileFromOffset + this.fileSizeBytes);
    return file;
  }

  /**
   * Starts preparing the segment after the last one (after recovery has
   * settled the tail), so the first roll of this run does not stall.
   */
  prepareNextSegment(): void {
    const last = this.lastMappedFile;
    if (last !== undefined) this.allocator.prepare(last.fileFromOffset + this.fileSizeBytes);
  }

  /**
   * Resolves once the `count` segments after the last one exist, so rolls to
   * them are synchronous and cannot fail; rejects with a creation error.
   */
  async readyNextSegments(count: number): Promise<void> {
    const last = this.lastMappedFile;
    if (last === undefined) return;
    assert(count >= 0 && count <= PREPARED_MAX, `at most ${PREPARED_MAX} segments readied ahead`);
    const starts = Array.from({ length: count }, (_, index) => last.fileFromOffset + (index + 1) * this.fileSizeBytes);
    for (const start of starts) this.allocator.prepare(start);
    for (const start of starts) await this.allocator.whenCreated(start);
  }

  /**
   * The segment holding `offset`. With `returnFirstOnNotFound`, an offset
   * before the first segment maps to the first one (a reader that fell
   * behind deletion starts at the oldest data).
   */
  findMappedFileByOffset(offset: number, returnFirstOnNotFound = false): MappedFile | undefined {
    const first = this.firstMappedFile;
    if (first === undefined || !Number.isSafeInteger(offset) || offset < 0) return undefined;
    const index = Math.floor(offset / this.fileSizeBytes) - Math.floor(first.fileFromOffset / this.fileSizeBytes);
    const file = this.files[index];
    if (file !== undefined) {
      assert(offset >= file.fileFromOffset && offset < file.fileFromOffset + this.fileSizeBytes, 'segment arithmetic finds the holder');
      return file;
    }
    return returnFirstOnNotFound && index < 0 ? first : undefined;
  }

  // --- offsets ----------------------------------------------------------------

  /** Offset of the first byte still stored; 0 for an empty queue. */
  get minOffset(): number {
    return this.firstMappedFile?.fileFromOffset ?? 0;
  }

  /**
   * Offset readers may read up to (exclusive): the end of the readable
   * prefix. In direct mode a segment just rolled to may be read from 0 while
   * the one before it is still committing its tail, so the last segment's
   * read position alone would overstate it.
   */
  get maxReadableOffset(): number {
    const files = this.files;
    let index = files.length - 1;
    if (index < 0) return 0;
    while (index > 0 && files[index - 1]!.readPosition < this.fileSizeBytes) index -= 1;
    const file = files[index]!;
    return file.fileFromOffset + file.readPosition;
  }

  /** Offset appended up to (exclusive). */
  get maxWroteOffset(): number {
    const last = this.lastMappedFile;
    return last === undefined ? 0 : last.fileFromOffset + last.wrotePosition;
  }

  get flushedWhere(): number {
    return this.flushed;
  }

  get committedWhere(): number {
    return this.committed;
  }

  /** Bytes appended and not yet committed. */
  get remainingBytesToCommit(): number {
    return this.maxWroteOffset - this.committed;
  }

  /** Bytes committed (readable) and not yet flushed. */
  get remainingBytesToFlush(): number {
    return this.maxReadableOffset - this.flushed;
  }

  // --- commit and flush --------------------------------------------------------

  /**
   * Commits from `committedWhere` on, segment after segment, each under the
   * least-pages rule. Resolves true when committedWhere moved.
   */
  async commit(leastPages: number): Promise<boolean> {
    const before = this.committed;
    this.committed = await this.advance(this.committed, leastPages, (file, pages) => file.commit(pages));
    return this.committed > before;
  }

  /**
   * SYNC_FLUSH's group step: commits and flushes everything written, one
   * step per segment (MappedFile.commitDurable: in direct mode one O_DSYNC
   * write). Resolves with whether the flushed offset moved.
   */
  async commitDurable(): Promise<boolean> {
    return this.advanceFlushed(0, (file) => file.commitDurable());
  }

  /**
   * Flushes from `flushedWhere` on, segment after segment, each under the
   * least-pages rule. Resolves true when flushedWhere moved.
   */
  async flush(leastPages: number): Promise<boolean> {
    return this.advanceFlushed(leastPages, (file, pages) => file.flush(pages));
  }

  /** Moves flushedWhere by `step` over the segments; true when it moved. */
  private async advanceFlushed(leastPages: number, step: (file: MappedFile, leastPages: number) => Promise<number>): Promise<boolean> {
    const before = this.flushed;
    this.flushed = await this.advance(this.flushed, leastPages, step);
    assert(this.flushed <= this.maxReadableOffset, 'flushedWhere never passes the readable end');
    // Flushed bytes were committed (mapped mode commits on write, without commit calls).
    this.committed = Math.max(this.committed, this.flushed);
    return this.flushed > before;
  }

  private async advance(where: number, leastPages: number, step: (file: MappedFile, leastPages: number) => Promise<number>): Promise<number> {
    // Only the segments that hold data now: appends rolling into new ones during the
    // awaits are the next call's work. Each round moves `where` into the next segment.
    const end = this.maxWroteOffset;
    // One round per segment holding bytes of [where, end), plus the round that finds the next
    // segment at or past `end` (a segment may fill up during an await and send us on to it).
    const segmentsInRange = end > where ? Math.floor((end - 1) / this.fileSizeBytes) - Math.floor(where / this.fileSizeBytes) + 1 : 0;
    const roundsMax = segmentsInRange + 1;
    for (let rounds = 0; rounds < roundsMax; rounds += 1) {
      const file = this.findMappedFileByOffset(where, true);
      if (file === undefined || file.fileFromOffset >= end) return where;
      const position = await step(file, leastPages);
      const next = file.fileFromOffset + position;
      if (next <= where || position < this.fileSizeBytes) return Math.max(where, next);
      where = next; // the segment is done: go on into the next one
    }
    assert(false, 'commit/flush visits each segment at most once');
  }

  // --- truncation and deletion -----------------------------------------------

  /**
   * Cuts everything from `offset` on: the segment holding it keeps
   * [0, offset) and has the rest zeroed (non-zero bytes searched for within
   * `checkBytes` of the cut: MappedFile.truncateTo); later segments are
   * deleted.
   */
  async truncateDirtyFiles(offset: number, checkBytes = Infinity): Promise<void> {
    assert(Number.isSafeInteger(offset) && offset >= this.minOffset, `truncate offset ${offset} ≥ min offset ${this.minOffset}`);
    const doomed: MappedFile[] = [];
    for (const file of this.files) {
      const end = file.fileFromOffset + this.fileSizeBytes;
      if (end <= offset) continue;
      if (file.fileFromOffset <= offset) {
        await file.truncateTo(offset - file.fileFromOffset, checkBytes);
      } else {
        doomed.push(file);
      }
    }
    for (const file of doomed) {
      this.files.splice(this.files.indexOf(file), 1);
      await file.destroy();
    }
    this.flushed = Math.min(this.flushed, offset);
    this.committed = Math.min(this.committed, offset);
    this.checkSelf();
  }

  /**
   * Deletes segments from the head whose newest message is older than
   * `expiredMs` (store timestamps), never the last segment, never one not
   * yet entirely flushed or still held by a reader, never past the first
   * one that is still young (no holes in the middle). Returns how many.
   */
  async deleteExpiredFileByTime(expiredMs: number, nowMs: number, deleteCountMax: number): Promise<number> {
    for (const [name, value] of [['expiredMs', expiredMs], ['nowMs', nowMs], ['deleteCountMax', deleteCountMax]] as const) {
      // NaN would pass every age comparison below and delete fresh segments.
      if (!Number.isSafeInteger(value) || value < 0) throw new CommitLogError('ERR_INVALID_ARGUMENT', `deleteExpiredFileByTime: ${name} must be an integer >= 0, got ${describe(value)}`);
    }
    let deleted = 0;
    while (deleted < deleteCountMax && this.files.length > 1) {
      const first = this.files[0]!;
      if (nowMs - first.storeTimestamp < expiredMs || !this.isDeletable(first)) break;
      this.files.shift();
      await first.destroy();
      deleted += 1;
    }
    this.checkSelf();
    return deleted;
  }

  /**
   * Deletes head segments that end at or before `offset` (nothing in them is
   * needed any more), never the last segment. Returns how many.
   */
  async deleteExpiredFileByOffset(offset: number): Promise<number> {
    let deleted = 0;
    while (this.files.length > 1 && this.files[0]!.fileFromOffset + this.fileSizeBytes <= offset && this.isDeletable(this.files[0]!)) {
      await this.files.shift()!.destroy();
      deleted += 1;
    }
    this.checkSelf();
    return deleted;
  }

  /**
   * A segment may be deleted only once it is full and entirely durable (no
   * commit or flush still needs it) and no reader holds it (a later pass
   * takes it).
   */
  private isDeletable(file: MappedFile): boolean {
    return file.isFull && file.flushedPosition === this.fileSizeBytes && !file.isHeld;
  }

  // --- metrics -------------------------------------------------------------------

  get mappedBytes(): number {
    return this.files.length * this.fileSizeBytes;
  }

  get allocationStalls(): number {
    return this.allocator.allocationStalls;
  }

  get lastAllocationMs(): number {
    return this.allocator.lastAllocationMs;
  }

  // --- end of life -----------------------------------------------------------------

  /** Closes every segment and deletes segments prepared but never used. Does not flush. */
  async close(): Promise<void> {
    try {
      await this.allocator.shutdown();
    } finally {
      // Even when the prepared segment could not be deleted, every open one is closed.
      for (const file of this.files.splice(0)) await file.close();
    }
  }

  /** Deletes every segment. */
  async destroy(): Promise<void> {
    await this.allocator.shutdown();
    for (const file of this.files.splice(0)) await file.destroy();
    this.flushed = this.committed = 0;
  }

  /** Segments are contiguous and aligned; positions stay in order. A failure is a bug. */
  checkSelf(): void {
    for (let index = 1; index < this.files.length; index += 1) {
      const previous = this.files[index - 1]!;
      const file = this.files[index]!;
      assert(previous.fileFromOffset + this.fileSizeBytes === file.fileFromOffset, `segment ${file.fileName} follows ${previous.fileName}`);
      assert(previous.isFull, `only the last segment has room (${previous.fileName})`);
    }
    assert(this.flushed <= this.committed && this.committed <= this.maxWroteOffset || this.files.length === 0, 'flushedWhere ≤ committedWhere ≤ max wrote offset');
  }
}
