/**
 * StoreReader: a read-only view of a store directory, for tools (the CLI's
 * info, verify, dump, tail and recover --dry-run) that may run while another
 * process has the store open for writing.
 *
 * What it never does: take the directory lock, create or remove the abort
 * marker, recover, truncate, write or unlink anything. It lists the
 * 20-digit segment files, maps each read-only (lib/native/read-only-mapping.ts)
 * and reads the checkpoint, the topic-queue table and whether the abort
 * marker exists. A writer's later appends show through the shared mappings;
 * `refresh()` picks up segments created (or sized) since.
 *
 * Scanning (`scan`) walks every record and reports damage as ranges, each
 * classified as recovery would see it (lib/recovery/recovery-table.ts):
 *
 * | damage                                            | valid data after it? | before the checkpoint's flushed offset? | kind    |
 * |---------------------------------------------------|----------------------|-----------------------------------------|---------|
 * | bad record (magic, sizes, CRC, physical offset)    | yes                  | any                                     | corrupt |
 * | bad record                                         | no                   | yes                                     | corrupt |
 * | bad record                                         | no                   | no                                      | torn    |
 * | zeros, then valid records (a hole)                 | yes                  | any                                     | corrupt |
 * | zeros, then only non-zero junk                     | no                   | yes / no                                | corrupt / torn |
 * | zeros at the end of the data                       | no                   | yes                                     | corrupt (durable data missing) |
 *
 * "Valid data after it" means a record that passes both CRCs and carries
 * its own physical offset, found by searching forward for the magic codes
 * in the same segment, or a later segment whose first record is valid.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isSegmentSize, OS_PAGE_SIZE_BYTES, SEGMENT_SIZE_MAX_BYTES, SEGMENT_SIZE_MIN_BYTES } from '../constants.js';
import { CommitLogError } from '../errors.js';
import type { CheckpointDecodeResult } from '../format/checkpoint-codec.js';
import { decodeRecord, type DecodeResult, type StoredMessage } from '../format/message-codec.js';
import { RECORD_PREFIX_SIZE } from '../format/message-layout.js';
import { findNextRecord, isRecordStart } from '../format/record-search.js';
import { parseSegmentFileName } from '../format/segment-name.js';
import type { TopicQueueTable } from '../format/topic-queue-table-codec.js';
import { mapReadOnly, residentBytes } from '../native/read-only-mapping.js';
import { planRecovery, type RecoveryPlan, type SegmentBytes } from '../recovery/plan-recovery.js';
import { abortMarkerExists } from '../store/abort-marker.js';
import { inspectSegmentEntry } from '../store/segment-entry.js';
import { readCheckpoint, readTopicQueueTable } from '../store/store-checkpoint.js';

/** One segment file, mapped read-only. */
export interface ReaderSegment {
  readonly name: string;
  readonly path: string;
  /** Physical offset of its first byte (from the name). */
  readonly fileFromOffset: number;
  /** The file's size when it was mapped. */
  readonly fileSizeBytes: number;
  /** Bytes allocated on disk (st_blocks × 512) when it was mapped. */
  readonly diskBytes: number;
  readonly mtimeMs: number;
  /** The mapped bytes; fileSizeBytes long. */
  readonly bytes: Buffer;
  /** Why the entry could not be mapped (not a regular file, a link to nothing, too large); bytes are empty. */
  readonly unreadable?: string;
}

/** A segment file CommitLog.open would refuse (ERR_SEGMENT_INVALID) or remove. */
export interface SegmentProblem {
  readonly name: string;
  readonly fileFromOffset: number;
  readonly reason: string;
  /** True for the one case CommitLog.open handles itself: an empty last file, which it removes. */
  readonly removedAtOpen: boolean;
}

export type DamageKind = 'corrupt' | 'torn';

export interface DamagedRange {
  /** Physical offset where the damage starts. */
  readonly offset: number;
  /** Bytes in the range (to the next valid record, or to the last non-zero byte). */
  readonly length: number;
  readonly kind: DamageKind;
  readonly reason: string;
}

export type ScanEvent =
  | { readonly kind: 'message'; readonly message: StoredMessage }
  /** A blank record closing a segment. */
  | { readonly kind: 'blank'; readonly offset: number; readonly size: number }
  | { readonly kind: 'damaged'; readonly range: DamagedRange }
  /**
   * The last event: `offset` is where the scan stopped; `atDataEnd` is true
   * when that is the end of the valid data, false when `to` was reached.
   */
  | { readonly kind: 'end'; readonly offset: number; readonly atDataEnd: boolean };

export interface ReaderScanOptions {
  /** First offset: a segment start or a record start (default: the min offset). */
  from?: number;
  /** Stop before this offset (default: the end of the data). */
  to?: number;
  /** Check both CRCs of every message (default true). */
  verify?: boolean;
  /** Copy bodies out of the mapping (default false: views, valid while the reader is referenced). */
  copy?: boolean;
}

/** What one record position holds, for followers (tail). */
export type RecordAt =
  | { readonly kind: 'message'; readonly message: StoredMessage; readonly nextOffset: number }
  /** A blank record: the next record is at the next segment's start. */
  | { readonly kind: 'blank'; readonly nextOffset: number }
  /** Zero bytes: nothing written here yet. */
  | { readonly kind: 'end' }
  /** Bytes that do not (yet) decode: a record being written, or damage. */
  | { readonly kind: 'damaged'; readonly reason: string }
  /** No mapped segment holds this offset (not created yet, or not yet sized). */
  | { readonly kind: 'no-segment' };

export interface SegmentInfo {
  readonly name: string;
  readonly fileFromOffset: number;
  readonly fileSizeBytes: number;
  readonly diskBytes: number;
  /** Bytes of the segment in the page cache (mincore). */
  readonly residentBytes: number;
  /** Bytes of data in the segment: its size when closed, the data end in the last one with data, 0 after. */
  readonly wrotePosition: number;
  /** Bytes of the segment below the checkpoint's flushed offset (0 when there is no valid checkpoint). */
  readonly flushedPosition: number;
  readonly problem: string | undefined;
}

/** Where the data ends, as a structure-only walk of the last segment holding data finds it. */
export interface DataEnd {
  readonly offset: number;
  /** Set when the walk stopped at a record that does not decode (run a verify). */
  readonly stoppedAt: { readonly offset: number; readonly reason: string } | undefined;
}

/** Segments at most; the same bound as the store's queue (1 GiB segments: 64 PiB). */
const SEGMENT_COUNT_MAX = 1 << 26;
/** Bytes compared at once when looking for the last non-zero byte. */
const ZERO_CHUNK_BYTES = 64 * 1024;
const ZERO_CHUNK = Buffer.alloc(ZERO_CHUNK_BYTES);

export class StoreReader {
  readonly directory: string;
  private mapped = new Map<string, ReaderSegment>();
  private all: ReaderSegment[] = [];
  private usable: ReaderSegment[] = [];
  private problemList: SegmentProblem[] = [];
  private sizeBytes: number | undefined;
  private checkpointResult: CheckpointDecodeResult = { kind: 'empty' };
  private table: TopicQueueTable | undefined;
  private abort = false;
  private closed = false;

  private constructor(directory: string) {
    this.directory = directory;
  }

  /**
   * Opens a reader on `directory`: ERR_STORE_DIR when it does not exist or
   * is not a directory, ERR_IO when a file cannot be read or mapped.
   */
  static open(directory: string): StoreReader {
    if (typeof directory !== 'string' || directory.length === 0) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `directory must be a non-empty path, got ${String(directory)}`);
    }
    let isDirectory: boolean;
    try {
      isDirectory = statSync(directory).isDirectory();
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new CommitLogError('ERR_STORE_DIR', `cannot open the store directory ${directory}: ${code}`, { cause, path: directory });
    }
    if (!isDirectory) throw new CommitLogError('ERR_STORE_DIR', `${directory} is not a directory`, { path: directory });
    const reader = new StoreReader(directory);
    reader.refresh();
    return reader;
  }

  // --- what is there ----------------------------------------------------------

  /** Every segment file in offset order, problems included. */
  get segments(): readonly ReaderSegment[] {
    return this.all;
  }

  /** The segments a scan walks: those of the store's segment size. */
  get scannableSegments(): readonly ReaderSegment[] {
    return this.usable;
  }

  /** Segment files CommitLog.open would refuse or remove. */
  get problems(): readonly SegmentProblem[] {
    return this.problemList;
  }

  /** The store's segment size: the most common size among non-empty segment files (undefined with none). */
  get segmentSizeBytes(): number | undefined {
    return this.sizeBytes;
  }

  get checkpoint(): CheckpointDecodeResult {
    return this.checkpointResult;
  }

  get topicQueueTable(): TopicQueueTable | undefined {
    return this.table;
  }

  /** The abort marker exists: a writer has the store open, or the last one did not close cleanly. */
  get abortMarker(): boolean {
    return this.abort;
  }

  /** Offset of the oldest stored byte: the first scannable segment's start (0 when there is none). */
  get minOffset(): number {
    return this.usable[0]?.fileFromOffset ?? 0;
  }

  /** The end of the last scannable segment (not of the data: see dataEnd()). */
  get segmentsEndOffset(): number {
    const last = this.usable[this.usable.length - 1];
    return last === undefined ? 0 : last.fileFromOffset + last.fileSizeBytes;
  }

  /** The checkpoint's flushed offset, or 0 when there is no valid checkpoint. */
  get checkpointFlushedOffset(): number {
    return this.checkpointResult.kind === 'ok' ? this.checkpointResult.flushedOffset : 0;
  }

  /** Re-reads only the checkpoint, the topic-queue table and the abort marker (cheap; a follower's idle poll). */
  refreshCheckpoint(): void {
    this.checkOpen();
    this.checkpointResult = readCheckpoint(this.directory);
    this.table = readTopicQueueTable(this.directory);
    this.abort = abortMarkerExists(this.directory);
  }

  /**
   * Re-reads the directory: maps segments created since, remaps those whose
   * size changed (a file created empty, then sized), forgets deleted ones,
   * and re-reads the checkpoint, the topic-queue table and the abort marker.
   * Returns how many segments were (re)mapped.
   */
  refresh(): number {
    this.checkOpen();
    let names: string[];
    try {
      names = readdirSync(this.directory);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new CommitLogError('ERR_STORE_DIR', `cannot list the store directory ${this.directory}: ${code}`, { cause, path: this.directory });
    }
    const found = names
      .map((name) => ({ name, offset: parseSegmentFileName(name) }))
      .filter((entry): entry is { name: string; offset: number } => entry.offset !== undefined)
      .sort((a, b) => a.offset - b.offset);
    if (found.length > SEGMENT_COUNT_MAX) {
      throw new CommitLogError('ERR_SEGMENT_INVALID', `${found.length} segment files, more than ${SEGMENT_COUNT_MAX}`, { path: this.directory });
    }
    let remapped = 0;
    const next = new Map<string, ReaderSegment>();
    for (const { name, offset } of found) {
      const path = join(this.directory, name);
      const known = this.mapped.get(name);
      // Never opened unless a regular file (a FIFO would block the open); CommitLog.open refuses the rest.
      const entry = inspectSegmentEntry(path);
      if (entry === undefined) continue; // deleted between readdir and stat
      if ('problem' in entry) {
        next.set(name, unreadableSegment(name, path, offset, entry.problem));
        continue;
      }
      const { stats } = entry;
      if (stats.size > SEGMENT_SIZE_MAX_BYTES) {
        next.set(name, unreadableSegment(name, path, offset, `has ${stats.size} bytes, more than a segment can (${SEGMENT_SIZE_MAX_BYTES})`));
        continue;
      }
      if (known !== undefined && known.fileSizeBytes === stats.size) {
        next.set(name, known);
        continue;
      }
      let mapping;
      try {
        mapping = mapReadOnly(path);
      } catch (err) {
        if (err instanceof CommitLogError && err.errnoCode === 'ENOENT') continue;
        throw err;
      }
      next.set(name, { name, path, fileFromOffset: offset, ...mapping });
      remapped += 1;
    }
    this.mapped = next;
    this.all = [...next.values()];
    this.classify();
    this.refreshCheckpoint();
    return remapped;
  }

  /** Decides the segment size and which files are usable, as MappedFileQueue.load would. */
  private classify(): void {
    // Only a size a store can have (as CommitLog.open checks it): a lone truncated segment is not the store's size.
    const counts = new Map<number, number>();
    for (const segment of this.all) {
      if (isSegmentSize(segment.fileSizeBytes)) counts.set(segment.fileSizeBytes, (counts.get(segment.fileSizeBytes) ?? 0) + 1);
    }
    let size: number | undefined;
    let best = 0;
    for (const [candidate, count] of counts) {
      if (count > best) {
        size = candidate;
        best = count;
      }
    }
    this.sizeBytes = size;
    const problems: SegmentProblem[] = [];
    const usable: ReaderSegment[] = [];
    for (const [index, segment] of this.all.entries()) {
      const problem = (reason: string, removedAtOpen = false) =>
        problems.push({ name: segment.name, fileFromOffset: segment.fileFromOffset, reason, removedAtOpen });
      if (segment.unreadable !== undefined) {
        problem(segment.unreadable);
        continue;
      }
      if (segment.fileSizeBytes === 0) {
        if (index === this.all.length - 1) problem('empty file (created, not yet sized); CommitLog.open removes it', true);
        else problem('empty file before the last segment');
        continue;
      }
      if (segment.fileSizeBytes !== size) {
        problem(size === undefined ? `has ${segment.fileSizeBytes} bytes, not a segment size (a multiple of ${OS_PAGE_SIZE_BYTES} from ${SEGMENT_SIZE_MIN_BYTES} to ${SEGMENT_SIZE_MAX_BYTES})` : `has ${segment.fileSizeBytes} bytes, expected ${size}`);
        continue;
      }
      if (segment.fileFromOffset % size !== 0) {
        problem(`offset ${segment.fileFromOffset} is not a multiple of the segment size ${size}`);
        continue;
      }
      const previous = usable[usable.length - 1];
      if (previous !== undefined && previous.fileFromOffset + previous.fileSizeBytes !== segment.fileFromOffset) {
        problem(`gap before it: the previous segment ends at ${previous.fileFromOffset + previous.fileSizeBytes}`);
      }
      usable.push(segment);
    }
    this.usable = usable;
    this.problemList = problems;
  }

  // --- per segment ---------------------------------------------------------------

  /**
   * Page-cache residency of every segment (mincore), then the data end and
   * positions. Residency is measured first, before the walk touches pages.
   */
  segmentInfo(): { segments: SegmentInfo[]; dataEnd: DataEnd } {
    this.checkOpen();
    const resident = new Map(this.all.map((segment) => [segment.name, residentBytes(segment.bytes)]));
    const dataEnd = this.dataEnd();
    const flushed = this.checkpointFlushedOffset;
    const problems = new Map(this.problemList.map((problem) => [problem.name, problem.reason]));
    const clamp = (value: number, max: number) => Math.max(0, Math.min(value, max));
    const segments = this.all.map((segment): SegmentInfo => {
      const usable = this.usable.includes(segment);
      return {
        name: segment.name,
        fileFromOffset: segment.fileFromOffset,
        fileSizeBytes: segment.fileSizeBytes,
        diskBytes: segment.diskBytes,
        residentBytes: resident.get(segment.name) ?? 0,
        wrotePosition: usable ? clamp(dataEnd.offset - segment.fileFromOffset, segment.fileSizeBytes) : 0,
        flushedPosition: usable ? clamp(flushed - segment.fileFromOffset, segment.fileSizeBytes) : 0,
        problem: problems.get(segment.name),
      };
    });
    return { segments, dataEnd };
  }

  /** Bytes of `segment` in the page cache now. */
  residentBytes(segment: ReaderSegment): number {
    return residentBytes(segment.bytes);
  }

  /**
   * The end of the data: a structure-only walk (no CRCs) of the last
   * segment whose first record is not zero. Segments before it are full
   * (a writer rolls only after closing a segment with a blank record).
   */
  dataEnd(): DataEnd {
    this.checkOpen();
    for (let index = this.usable.length - 1; index >= 0; index -= 1) {
      const segment = this.usable[index]!;
      const first = decodeRecord(segment.bytes, 0, segment.fileSizeBytes, { verify: false, copy: false, expectedPhysicalOffset: segment.fileFromOffset });
      if (first.kind === 'end') continue;
      for (let position = 0, visited = 0; ; visited += 1) {
        if (visited > segment.fileSizeBytes / RECORD_PREFIX_SIZE) throw new Error('dataEnd: the walk makes progress');
        const offset = segment.fileFromOffset + position;
        if (position >= segment.fileSizeBytes) return { offset, stoppedAt: undefined };
        const decoded = decodeRecord(segment.bytes, position, segment.fileSizeBytes, { verify: false, copy: false, expectedPhysicalOffset: offset });
        if (decoded.kind === 'message') position += decoded.size;
        else if (decoded.kind === 'blank' && position + decoded.size === segment.fileSizeBytes) return { offset: segment.fileFromOffset + segment.fileSizeBytes, stoppedAt: undefined };
        else if (decoded.kind === 'blank') position += decoded.size; // a hole over bytes recovery dropped
        else if (decoded.kind === 'end') return { offset, stoppedAt: undefined };
        else return { offset, stoppedAt: { offset, reason: decoded.reason } };
      }
    }
    return { offset: this.minOffset, stoppedAt: undefined };
  }

  // --- scanning ----------------------------------------------------------------------

  /**
   * Walks the records in [from, to): messages, blank records, damaged ranges
   * (classified as in the table at the top of this file), then one `end`.
   * ERR_BAD_OFFSET when `from` is outside the segments or not a record start.
   */
  *scan(options: ReaderScanOptions = {}): Generator<ScanEvent, void, undefined> {
    this.checkOpen();
    const verify = options.verify ?? true;
    const copy = options.copy ?? false;
    const to = options.to ?? Number.MAX_SAFE_INTEGER;
    const segments = this.usable;
    if (segments.length === 0) {
      // No segment to read, though the checkpoint says data was made durable (every segment deleted, say).
      const frontier = this.checkpointFlushedOffset;
      const start = options.from ?? 0;
      const end = Math.min(frontier, to);
      if (end > start) {
        yield { kind: 'damaged', range: { offset: start, length: end - start, kind: 'corrupt', reason: `durable data missing: no segment exists, the checkpoint's flushed offset is ${frontier}` } };
      }
      yield { kind: 'end', offset: start, atDataEnd: true };
      return;
    }
    const from = options.from ?? this.minOffset;
    let index = this.checkStart(from);
    // checkStart accepts the end of the last segment (index === segments.length): an empty scan.
    let position = index < segments.length ? from - segments[index]!.fileFromOffset : 0;
    const frontier = this.checkpointFlushedOffset;

    for (let steps = 0; ; steps += 1) {
      if (steps > segments.length + this.segmentsEndOffset) throw new Error('scan: the walk makes progress');
      const segment = segments[index];
      if (segment === undefined) {
        // Past the last segment: every one ended with a blank record. The checkpoint
        // saying more was durable means segments are missing (the newest deleted, say).
        const end = this.segmentsEndOffset;
        if (end < frontier && end < to) {
          const reason = `durable data missing: the segments end at ${end}, before the checkpoint's flushed offset ${frontier}`;
          yield { kind: 'damaged', range: { offset: end, length: frontier - end, kind: 'corrupt', reason } };
        }
        yield { kind: 'end', offset: end, atDataEnd: true };
        return;
      }
      const offset = segment.fileFromOffset + position;
      if (offset >= to) {
        yield { kind: 'end', offset, atDataEnd: false };
        return;
      }
      let damage: string | undefined;
      let zeros = false;
      if (position >= segment.fileSizeBytes) {
        damage = 'the segment is filled to its last byte without a blank record';
      } else {
        const decoded = decodeRecord(segment.bytes, position, segment.fileSizeBytes, { verify, copy, expectedPhysicalOffset: offset });
        if (decoded.kind === 'message') {
          yield { kind: 'message', message: decoded.message };
          position += decoded.size;
          continue;
        }
        if (decoded.kind === 'blank' && position + decoded.size === segment.fileSizeBytes) {
          yield { kind: 'blank', offset, size: decoded.size };
          index += 1;
          position = 0;
          continue;
        }
        if (decoded.kind === 'blank') {
          // A hole: bytes an earlier recovery dropped (and reported); step over them.
          yield { kind: 'blank', offset, size: decoded.size };
          position += decoded.size;
          continue;
        }
        if (decoded.kind === 'end') zeros = true;
        damage = describeDamage(decoded);
      }

      // Something other than a record: find what follows, then classify.
      const resume = this.findNextValid(index, Math.min(position + (zeros ? RECORD_PREFIX_SIZE : 1), segment.fileSizeBytes));
      if (resume !== undefined) {
        const resumeOffset = segments[resume.index]!.fileFromOffset + resume.position;
        const withinSegment = resume.index === index;
        const length = withinSegment ? resumeOffset - offset : segment.fileFromOffset + segment.fileSizeBytes - offset;
        const reason = zeros
          ? withinSegment
            ? 'zeros where data should be: valid records follow in this segment'
            : 'the segment ends in zeros without a blank record, and later segments hold data'
          : damage;
        yield { kind: 'damaged', range: { offset, length, kind: 'corrupt', reason } };
        index = resume.index;
        position = resume.position;
        continue;
      }
      // Nothing valid after it: the data ends here.
      const lastNonZero = lastNonZeroByte(segment.bytes, position, segment.fileSizeBytes);
      const durable = offset < frontier;
      if (!zeros || lastNonZero >= 0 || durable) {
        const length = Math.max(lastNonZero + 1 - position, zeros ? 0 : RECORD_PREFIX_SIZE);
        const reason = zeros
          ? durable
            ? `zeros where durable data should be (the checkpoint's flushed offset is ${frontier})`
            : 'non-zero bytes after the end of the data'
          : durable
            ? `${damage} (before the checkpoint's flushed offset ${frontier}: durable data)`
            : damage;
        yield { kind: 'damaged', range: { offset, length, kind: durable ? 'corrupt' : 'torn', reason } };
      }
      yield { kind: 'end', offset, atDataEnd: true };
      return;
    }
  }

  /**
   * Checks `from` is a place a scan may start (a segment start, a record
   * start, or the zeros at the end of the data); ERR_BAD_OFFSET otherwise.
   * Returns the index of its segment among the scannable ones.
   */
  checkStart(from: number): number {
    this.checkOpen();
    const segments = this.usable;
    const index = this.segmentIndexAt(from);
    if (!Number.isSafeInteger(from) || index < 0) {
      if (from === this.segmentsEndOffset) return segments.length; // just past the last segment: an empty scan
      throw new CommitLogError('ERR_BAD_OFFSET', `offset ${from} is outside the segments [${this.minOffset}, ${this.segmentsEndOffset})`);
    }
    const segment = segments[index]!;
    const position = from - segment.fileFromOffset;
    if (position === 0) return index;
    const decoded = decodeRecord(segment.bytes, position, segment.fileSizeBytes, { verify: false, copy: false, expectedPhysicalOffset: from });
    if (decoded.kind === 'message' || decoded.kind === 'blank' || decoded.kind === 'end') return index;
    throw new CommitLogError('ERR_BAD_OFFSET', `offset ${from} is not the start of a record (${describeDamage(decoded)})`);
  }

  /**
   * The next place at or after (index, position) where a valid record
   * starts: a message passing both CRCs with its own physical offset, or a
   * blank record reaching its segment's end. Searches the rest of the
   * segment for the magic codes, then each later segment (its first record,
   * and the whole segment when that first record is damaged rather than zero).
   */
  private findNextValid(index: number, position: number): { index: number; position: number } | undefined {
    const segments = this.usable;
    const segmentHere = segments[index]!;
    const inSegment = findNextRecord(segmentHere.bytes, position, segmentHere.fileSizeBytes, segmentHere.fileFromOffset);
    if (inSegment !== undefined) return { index, position: inSegment };
    for (let later = index + 1; later < segments.length; later += 1) {
      const segment = segments[later]!;
      if (segment.fileFromOffset !== segments[later - 1]!.fileFromOffset + segments[later - 1]!.fileSizeBytes) return undefined; // a gap: reported as a problem
      const first = decodeRecord(segment.bytes, 0, segment.fileSizeBytes, { verify: true, copy: false, expectedPhysicalOffset: segment.fileFromOffset });
      if (isRecordStart(first, 0, segment.fileSizeBytes)) return { index: later, position: 0 };
      if (first.kind === 'end') continue; // an empty (pre-allocated) segment
      const found = findNextRecord(segment.bytes, 1, segment.fileSizeBytes, segment.fileFromOffset);
      if (found !== undefined) return { index: later, position: found };
    }
    return undefined;
  }

  // --- followers -------------------------------------------------------------------

  /** Decodes (with both CRCs) what is at `offset`, for a follower that polls. */
  recordAt(offset: number, copy = true): RecordAt {
    this.checkOpen();
    const segment = this.usable[this.segmentIndexAt(offset)];
    if (segment === undefined) return { kind: 'no-segment' };
    const position = offset - segment.fileFromOffset;
    const decoded = decodeRecord(segment.bytes, position, segment.fileSizeBytes, { verify: true, copy, expectedPhysicalOffset: offset });
    switch (decoded.kind) {
      case 'message':
        return { kind: 'message', message: decoded.message, nextOffset: offset + decoded.size };
      case 'blank':
        return { kind: 'blank', nextOffset: position + decoded.size === segment.fileSizeBytes ? segment.fileFromOffset + segment.fileSizeBytes : offset + decoded.size };
      case 'end':
        return { kind: 'end' };
      default:
        return { kind: 'damaged', reason: decoded.reason };
    }
  }

  // --- recovery, planned ---------------------------------------------------------------

  /**
   * What CommitLog.open's recovery would do to this store now, changing
   * nothing. `abnormal` defaults to whether the abort marker exists; pass
   * true to plan as after a crash (CRCs checked from the checkpoint on).
   * ERR_SEGMENT_INVALID, as CommitLog.open would throw, when a segment file
   * is one it refuses.
   */
  planRecovery(options: { abnormal?: boolean } = {}): RecoveryPlan {
    this.checkOpen();
    const refused = this.problemList.find((problem) => !problem.removedAtOpen);
    if (refused !== undefined) {
      throw new CommitLogError('ERR_SEGMENT_INVALID', `segment ${join(this.directory, refused.name)}: ${refused.reason}`, { path: join(this.directory, refused.name) });
    }
    const segments: SegmentBytes[] = this.usable.map((segment) => ({ fileFromOffset: segment.fileFromOffset, fileSizeBytes: segment.fileSizeBytes, bytes: segment.bytes }));
    return planRecovery({ segments, checkpoint: this.checkpointResult, abnormal: options.abnormal ?? this.abort, table: this.table });
  }

  /** Bytes from `offset` to the last non-zero byte of its segment (0 when all zero): what a cut there would zero. */
  nonZeroBytesFrom(offset: number, searchBytes = Infinity): number {
    const segment = this.usable[this.segmentIndexAt(offset)];
    if (segment === undefined) return 0;
    const position = offset - segment.fileFromOffset;
    const last = lastNonZeroByte(segment.bytes, position, Math.min(segment.fileSizeBytes, position + searchBytes));
    return last < 0 ? 0 : last + 1 - position;
  }

  // --- lifecycle ---------------------------------------------------------------------

  /** Drops every mapping (mmap-io unmaps them when collected). Idempotent. */
  close(): void {
    this.closed = true;
    this.mapped = new Map();
    this.all = [];
    this.usable = [];
  }

  /** Index in the usable segments of the one holding `offset`, or -1. */
  private segmentIndexAt(offset: number): number {
    return this.usable.findIndex((segment) => offset >= segment.fileFromOffset && offset < segment.fileFromOffset + segment.fileSizeBytes);
  }

  private checkOpen(): void {
    if (this.closed) throw new CommitLogError('ERR_CLOSED', 'the reader is closed');
  }
}

function describeDamage(decoded: DecodeResult): string {
  switch (decoded.kind) {
    case 'corrupt':
    case 'truncated':
      return decoded.reason;
    case 'blank':
      return 'a blank record that does not reach the segment end';
    case 'end':
      return 'zero bytes';
    case 'message':
      return 'a message';
  }
}

/** Index of the last non-zero byte in bytes[from, to), or -1 when they are all zero. */
function lastNonZeroByte(bytes: Buffer, from: number, to: number): number {
  for (let end = to; end > from; ) {
    const start = Math.max(from, end - ZERO_CHUNK_BYTES);
    const length = end - start;
    if (bytes.compare(ZERO_CHUNK, 0, length, start, end) !== 0) {
      for (let index = end - 1; index >= start; index -= 1) if (bytes[index] !== 0) return index;
    }
    end = start;
  }
  return -1;
}

/** A directory entry named like a segment that cannot be one: listed as a problem, never mapped. */
function unreadableSegment(name: string, path: string, fileFromOffset: number, unreadable: string): ReaderSegment {
  return { name, path, fileFromOffset, fileSizeBytes: 0, diskBytes: 0, mtimeMs: 0, bytes: Buffer.alloc(0), unreadable };
}
