/**
 * The recovery walk, as a pure function over segment bytes: it decides,
 * following lib/recovery/recovery-table.ts, where the log ends, which
 * damaged bytes are covered by a hole and what to report, and rebuilds the queue
 * offsets. It changes nothing; lib/recovery/recover.ts applies the plan to
 * a store, and the CLI's `recover --dry-run` prints it.
 *
 * - normal (clean close, no abort marker): records are checked for
 *   structure (magic, sizes, physical offsets);
 * - abnormal (abort marker present): both CRCs are checked too.
 * The walk starts at the segment holding the lower of the checkpoint's
 * flushed offset and the topic-queue table's covered offset (the first
 * segment when either is missing or corrupt).
 *
 * planRecovery walks on the calling thread; planRecoveryAsync checks the
 * CRCs on the libuv pool and lets the event loop turn every few thousand
 * records (lib/recovery/verified-walk.ts). They return the same plan.
 */
import { assert } from '../assert.js';
import type { CheckpointDecodeResult } from '../format/checkpoint-codec.js';
import { decodeRecordSummary } from '../format/message-codec.js';
import { searchNextRecord } from '../format/record-search.js';
import { BLANK_CHECKED_MIN_SIZE } from '../format/message-layout.js';
import { queueKey, type TopicQueueTable } from '../format/topic-queue-table-codec.js';
import { ruleFor, type Found } from './recovery-table.js';
import { runWalkAsync, runWalkSync, VerifiedWalk, type Walk } from './verified-walk.js';

/** What the walk needs of a segment: its place and its bytes (all of them). */
export interface SegmentBytes {
  readonly fileFromOffset: number;
  readonly fileSizeBytes: number;
  readonly bytes: Buffer;
}

export interface CorruptionReport {
  /** Physical offset where the damage starts. */
  offset: number;
  /** Bytes of the log dropped because of it. */
  bytesDropped: number;
  reason: string;
}

export interface RecoveryPlan {
  mode: 'normal' | 'abnormal';
  /** The log's end: the next append goes here; everything after is cut. */
  endOffset: number;
  /** Damaged ranges to cover with a blank record (a hole readers step over), by segment start and position. */
  holes: Array<{ fileFromOffset: number; position: number; size: number }>;
  scannedFromOffset: number;
  scannedBytes: number;
  messagesScanned: number;
  /** STORETIMESTAMP of the last message kept, 0 if none. */
  lastStoreTimestamp: number;
  nextQueueOffsets: Map<string, number>;
  corruptions: CorruptionReport[];
  /**
   * How far past endOffset the cut looks for non-zero bytes to zero:
   * cleanEndSearchBytes() after a clean close that ended where its
   * checkpoint says, the whole segment (Infinity) otherwise.
   */
  cutSearchBytes: number;
}

export interface PlanParams {
  /** The store's segments in offset order, contiguous. */
  segments: readonly SegmentBytes[];
  checkpoint: CheckpointDecodeResult;
  abnormal: boolean;
  table: TopicQueueTable | undefined;
}

/** The plan, walked on the calling thread (the CLI's dry run). */
export function planRecovery(params: PlanParams): RecoveryPlan {
  return runWalkSync(walkRecovery(params));
}

/** The same plan, with the CRC checks on the libuv pool and the event loop turning between slices (store open). */
export function planRecoveryAsync(params: PlanParams): Promise<RecoveryPlan> {
  return runWalkAsync(walkRecovery(params));
}

/** Whether a recovery may trust that the log ends at the checkpoint with nothing past it: CLEAN_CLOSE, and no abort marker. */
export function trustsCleanClose(checkpoint: CheckpointDecodeResult, abnormal: boolean): checkpoint is Extract<CheckpointDecodeResult, { kind: 'ok' }> {
  return !abnormal && checkpoint.kind === 'ok' && checkpoint.cleanClose;
}

/**
 * After a clean close, how far past the end a cut looks for non-zero bytes:
 * 1 MiB, a quarter of smaller segments (so the specs' KiB segments, and the
 * corruption fuzz over them, take this path too).
 */
export function cleanEndSearchBytes(segmentSizeBytes: number): number {
  return Math.min(1024 * 1024, Math.floor(segmentSizeBytes / 4));
}

/** Records the walk decodes between pauses (a few ms of JS). */
const RECORDS_PER_PAUSE = 4096;

function* walkRecovery(params: PlanParams): Walk<RecoveryPlan> {
  const { segments } = params;
  const frontier = params.checkpoint.kind === 'ok' ? params.checkpoint.flushedOffset : 0;
  const tableUsable = params.table !== undefined && params.checkpoint.kind === 'ok';
  const coveredOffset = tableUsable ? params.table!.coveredOffset : 0;
  const minOffset = segments[0]?.fileFromOffset ?? 0;
  const plan: RecoveryPlan = {
    mode: params.abnormal ? 'abnormal' : 'normal',
    endOffset: minOffset,
    holes: [],
    scannedFromOffset: minOffset,
    scannedBytes: 0,
    messagesScanned: 0,
    lastStoreTimestamp: 0,
    nextQueueOffsets: tableUsable ? new Map(params.table!.nextQueueOffsets) : new Map<string, number>(),
    corruptions: [],
    cutSearchBytes: Infinity,
  };
  if (params.checkpoint.kind === 'corrupt' && segments.length > 0) {
    plan.corruptions.push({ offset: 0, bytesDropped: 0, reason: `checkpoint unreadable (${params.checkpoint.reason}); scanning the whole log` });
  }
  if (segments.length === 0) {
    if (frontier > 0) plan.corruptions.push({ offset: 0, bytesDropped: frontier, reason: 'the checkpoint names data but no segment exists' });
    return plan;
  }

  const segmentSize = segments[0]!.fileSizeBytes;
  const startOffset = Math.max(minOffset, Math.min(frontier, coveredOffset));
  let index = Math.min(segments.length - 1, Math.floor((startOffset - minOffset) / segmentSize));
  plan.scannedFromOffset = segments[index]!.fileFromOffset;
  let endOffset = plan.scannedFromOffset;

  const verified = new VerifiedWalk(params.abnormal);
  let sincePause = 0;
  scan: for (let visited = 0; index < segments.length; visited += 1) {
    assert(visited < segments.length, 'each segment is scanned at most once');
    const segment = segments[index]!;
    plan.scannedBytes += segment.fileSizeBytes;
    for (let position = 0; ; ) {
      const offset = segment.fileFromOffset + position;
      let found: Found;
      let reason = '';
      let size = 0;
      if (position === segment.fileSizeBytes) {
        found = 'damaged';
        reason = 'a segment filled to its last byte without a blank record';
      } else {
        if (++sincePause === RECORDS_PER_PAUSE) {
          sincePause = 0;
          yield { kind: 'pause' };
        }
        const decoded = verified.take(segment, position) ?? (yield* verified.loadAndTake(segment, position));
        if (decoded.kind === 'message') {
          found = 'message';
          size = decoded.size;
          const message = decoded.summary;
          if (offset >= coveredOffset) {
            const key = queueKey(message.topic, message.queueId);
            if ((plan.nextQueueOffsets.get(key) ?? 0) <= message.queueOffset) plan.nextQueueOffsets.set(key, message.queueOffset + 1);
          }
          plan.lastStoreTimestamp = Math.max(plan.lastStoreTimestamp, message.storeTimestamp);
          plan.messagesScanned += 1;
        } else if (decoded.kind === 'blank') {
          found = position + decoded.size === segment.fileSizeBytes ? 'blank' : 'hole';
          size = decoded.size;
        } else if (decoded.kind === 'end') {
          found = 'end';
          reason = 'zero bytes';
        } else {
          found = 'damaged';
          reason = decoded.reason;
        }
      }
      // Records are classified by where they start. The engine writes its checkpoint at a
      // record boundary, so a durable record never straddles the frontier; a damaged header
      // claiming to reach past it is corruption (a flipped TOTALSIZE proves nothing).
      const rule = ruleFor(found, offset < frontier ? 'before-frontier' : 'at-or-after-frontier');
      switch (rule.action) {
        case 'keep':
          position += size;
          endOffset = segment.fileFromOffset + position;
          continue;
        case 'next-segment':
          endOffset = segment.fileFromOffset + segment.fileSizeBytes;
          index += 1;
          continue scan;
        case 'skip-damage': {
          // A hole must hold its blank record header with BLANKCRC, so the next record is looked for 12 bytes on.
          const resume = yield* pausing(searchNextRecord(segment.bytes, position + BLANK_CHECKED_MIN_SIZE, segment.fileSizeBytes, segment.fileFromOffset));
          const isLast = index === segments.length - 1;
          if (resume === undefined && isLast) break; // nothing verifies after it: a cut
          const holeEnd = resume ?? segment.fileSizeBytes;
          plan.corruptions.push({ offset, bytesDropped: holeEnd - position, reason: `${rule.why}: ${reason}` });
          plan.holes.push({ fileFromOffset: segment.fileFromOffset, position, size: holeEnd - position });
          if (resume === undefined) {
            endOffset = segment.fileFromOffset + segment.fileSizeBytes;
            index += 1;
            continue scan;
          }
          position = resume;
          endOffset = segment.fileFromOffset + position;
          continue;
        }
        case 'cut':
          break;
      }
      if (rule.report) plan.corruptions.push({ offset, bytesDropped: Math.max(frontier - offset, 0), reason: `${rule.why}: ${reason}` });
      endOffset = offset;
      break scan;
    }
  }
  plan.endOffset = endOffset;
  // The checkpoint names durable data the walk did not reach: the tail segments are
  // missing, empty or zeroed. Reported, whatever the rows above already said.
  const reported = plan.corruptions.reduce((end, c) => Math.max(end, c.offset + c.bytesDropped), 0);
  if (endOffset < frontier && reported < frontier) {
    plan.corruptions.push({ offset: Math.max(endOffset, reported), bytesDropped: frontier - Math.max(endOffset, reported), reason: 'the log ends before the checkpoint: durable data is missing (segments deleted, empty or zeroed)' });
  }
  // A clean close (CLEAN_CLOSE in a checkpoint the next open has not rewritten) wrote nothing
  // past its end: a cut right there searches its first MiB only. Searching a 1 GiB segment
  // faults it all in (0.4-0.7 s of every reopen). Anything else (a crash, a deleted abort
  // marker, damage, an end elsewhere) searches the whole segment, so no old record beyond a
  // gap of zeros survives to be walked into once appends reach it.
  const checkpoint = params.checkpoint;
  if (trustsCleanClose(checkpoint, params.abnormal) && endOffset === checkpoint.flushedOffset && plan.corruptions.length === 0) {
    plan.cutSearchBytes = cleanEndSearchBytes(segmentSize);
  }
  if (tableUsable && coveredOffset > endOffset) {
    // The table counts records that did not survive: count again from the start.
    plan.nextQueueOffsets = yield* countQueueOffsets(segments, endOffset);
  }
  return plan;
}

/** Next queue offset of every queue, from the records below `endOffset` (structure checks only). */
function* countQueueOffsets(segments: readonly SegmentBytes[], endOffset: number): Walk<Map<string, number>> {
  const next = new Map<string, number>();
  let sincePause = 0;
  for (const segment of segments) {
    if (segment.fileFromOffset >= endOffset) break;
    const limit = Math.min(segment.fileSizeBytes, endOffset - segment.fileFromOffset);
    for (let position = 0; position < limit; ) {
      if (++sincePause === RECORDS_PER_PAUSE) {
        sincePause = 0;
        yield { kind: 'pause' };
      }
      const decoded = decodeRecordSummary(segment.bytes, position, limit, { verify: false });
      if (decoded.kind !== 'message') break;
      const key = queueKey(decoded.summary.topic, decoded.summary.queueId);
      next.set(key, Math.max(next.get(key) ?? 0, decoded.summary.queueOffset + 1));
      position += decoded.size;
    }
  }
  return next;
}

/** Runs a search inside the walk, its pauses as the walk's (the event loop turns between its windows). */
function* pausing<T>(search: Generator<'pause', T, unknown>): Walk<T> {
  for (;;) {
    const step = search.next();
    if (step.done) return step.value;
    yield { kind: 'pause' };
  }
}
