/**
 * Start-up recovery: find where the log really ends, cut what is past it,
 * and rebuild the queue offsets, following lib/recovery/recovery-table.ts.
 *
 * - normal (clean close, no abort marker): scan from the segment holding
 *   the checkpoint with structure checks (magic, sizes, physical offsets);
 * - abnormal (abort marker present): the same walk with both CRCs checked
 *   on every record.
 * Both start at the segment holding the lower of the checkpoint's flushed
 * offset and the topic-queue table's covered offset (the first segment
 * when either is missing or corrupt), so the scan stays short and queue
 * offsets are rebuilt exactly.
 */
import { assert } from '../assert.js';
import { BLANK_RECORD_SIZE } from '../format/message-layout.js';
import { decodeRecord, encodeBlank } from '../format/message-codec.js';
import type { CheckpointDecodeResult } from '../format/checkpoint-codec.js';
import { queueKey, type TopicQueueTable } from '../format/topic-queue-table-codec.js';
import type { MappedFile } from '../store/mapped-file.js';
import type { MappedFileQueue } from '../store/mapped-file-queue.js';
import { ruleFor, type Found } from './recovery-table.js';

export interface CorruptionReport {
  /** Physical offset where the damage starts. */
  offset: number;
  /** Bytes of the log dropped because of it. */
  bytesDropped: number;
  reason: string;
}

export interface RecoveryParams {
  queue: MappedFileQueue;
  checkpoint: CheckpointDecodeResult;
  /** The abort marker was found: the last run crashed. */
  abnormal: boolean;
  table: TopicQueueTable | undefined;
  onCorruption(report: CorruptionReport): void;
}

export interface RecoveryResult {
  mode: 'normal' | 'abnormal';
  /** The log's end: the next append goes here. */
  endOffset: number;
  /** Where the scan started. */
  scannedFromOffset: number;
  /** Bytes walked. */
  scannedBytes: number;
  messagesScanned: number;
  /** STORETIMESTAMP of the last message kept, 0 if none. */
  lastStoreTimestamp: number;
  nextQueueOffsets: Map<string, number>;
  corruptions: CorruptionReport[];
}

export async function recover(params: RecoveryParams): Promise<RecoveryResult> {
  const { queue } = params;
  const frontier = params.checkpoint.kind === 'ok' ? params.checkpoint.flushedOffset : 0;
  const tableUsable = params.table !== undefined && params.checkpoint.kind === 'ok';
  const nextQueueOffsets = tableUsable ? new Map(params.table!.nextQueueOffsets) : new Map<string, number>();
  const coveredOffset = tableUsable ? params.table!.coveredOffset : 0;
  const corruptions: CorruptionReport[] = [];
  const report = (corruption: CorruptionReport) => {
    corruptions.push(corruption);
    params.onCorruption(corruption);
  };
  if (params.checkpoint.kind === 'corrupt' && queue.segmentCount > 0) {
    report({ offset: 0, bytesDropped: 0, reason: `checkpoint unreadable (${params.checkpoint.reason}); scanning the whole log` });
  }

  const result: RecoveryResult = {
    mode: params.abnormal ? 'abnormal' : 'normal',
    endOffset: queue.minOffset,
    scannedFromOffset: queue.minOffset,
    scannedBytes: 0,
    messagesScanned: 0,
    lastStoreTimestamp: 0,
    nextQueueOffsets,
    corruptions,
  };
  const segments = queue.segments;
  if (segments.length === 0) {
    if (frontier > 0) report({ offset: 0, bytesDropped: frontier, reason: 'the checkpoint names data but no segment exists' });
    return result;
  }

  const startOffset = Math.min(frontier, coveredOffset);
  const startFile = queue.findMappedFileByOffset(startOffset, true) ?? segments[0]!;
  let index = segments.indexOf(startFile);
  result.scannedFromOffset = startFile.fileFromOffset;
  const verify = params.abnormal;
  let endOffset = startFile.fileFromOffset;
  const skipped: Array<{ file: MappedFile; position: number }> = [];

  scan: for (let visited = 0; index < segments.length; visited += 1) {
    assert(visited < segments.length, 'each segment is scanned at most once');
    const file = segments[index]!;
    if (!file.hold()) break;
    try {
      const view = file.readableView();
      let position = 0;
      while (true) {
        const offset = file.fileFromOffset + position;
        const decoded = position === file.fileSizeBytes
          ? ({ kind: 'damaged-full' } as const)
          : decodeRecord(view, position, file.fileSizeBytes, { verify, copy: false, expectedPhysicalOffset: offset });
        let found: Found;
        let reason = '';
        let size = 0;
        switch (decoded.kind) {
          case 'message':
            found = 'message';
            size = decoded.size;
            break;
          case 'blank':
            size = decoded.size;
            found = position + size === file.fileSizeBytes ? 'blank' : 'damaged';
            reason = 'a blank record that does not reach the segment end';
            break;
          case 'end':
            found = 'end';
            break;
          case 'damaged-full':
            found = 'damaged';
            reason = 'a segment filled to the last byte without a blank record';
            break;
          default:
            found = 'damaged';
            reason = decoded.reason;
        }
        const rule = ruleFor(found, offset < frontier ? 'before-frontier' : 'at-or-after-frontier');
        if (rule.action === 'keep' && decoded.kind === 'message') {
          const message = decoded.message;
          if (offset >= coveredOffset) {
            const key = queueKey(message.topic, message.queueId);
            const next = message.queueOffset + 1;
            if ((nextQueueOffsets.get(key) ?? 0) < next) nextQueueOffsets.set(key, next);
          }
          result.lastStoreTimestamp = Math.max(result.lastStoreTimestamp, message.storeTimestamp);
          result.messagesScanned += 1;
          position += size;
          endOffset = file.fileFromOffset + position;
          continue;
        }
        if (rule.action === 'next-segment') {
          endOffset = file.fileFromOffset + file.fileSizeBytes;
          index += 1;
          continue scan;
        }
        const isLast = index === segments.length - 1;
        if (rule.action === 'skip-segment' && !isLast) {
          report({ offset, bytesDropped: file.fileSizeBytes - position, reason: `${rule.why}: ${reason || 'zero bytes'}` });
          skipped.push({ file, position });
          endOffset = file.fileFromOffset + file.fileSizeBytes;
          index += 1;
          continue scan;
        }
        // 'cut', or 'skip-segment' in the last segment.
        if (rule.report) {
          report({ offset, bytesDropped: Math.max(frontier - offset, 0), reason: `${rule.why}: ${reason || 'zero bytes'}` });
        }
        endOffset = offset;
        break scan;
      }
    } finally {
      result.scannedBytes += file.fileSizeBytes;
      file.release();
    }
  }

  // Close damaged segments with a blank record over the dropped bytes, durably.
  for (const { file, position } of skipped) {
    if (file.fileSizeBytes - position >= BLANK_RECORD_SIZE) {
      file.resetPositions(position);
      encodeBlank(file.writeBuffer(), position, file.fileSizeBytes - position);
      file.advance(file.fileSizeBytes - position);
      await file.commit(0);
      await file.flush(0);
    }
  }
  await queue.truncateDirtyFiles(endOffset);
  result.endOffset = endOffset;
  if (tableUsable && coveredOffset > endOffset) {
    // The table counts records that did not survive: count again from the start.
    result.nextQueueOffsets = countQueueOffsets(queue, endOffset);
  }
  return result;
}

/** Next queue offset of every queue, from the records below `endOffset` (structure checks only). */
function countQueueOffsets(queue: MappedFileQueue, endOffset: number): Map<string, number> {
  const next = new Map<string, number>();
  for (const file of queue.segments) {
    if (file.fileFromOffset >= endOffset || !file.hold()) break;
    try {
      const view = file.readableView();
      const limit = Math.min(view.length, endOffset - file.fileFromOffset);
      for (let position = 0; position < limit; ) {
        const decoded = decodeRecord(view, position, limit, { verify: false, copy: false });
        if (decoded.kind !== 'message') break;
        const key = queueKey(decoded.message.topic, decoded.message.queueId);
        next.set(key, Math.max(next.get(key) ?? 0, decoded.message.queueOffset + 1));
        position += decoded.size;
      }
    } finally {
      file.release();
    }
  }
  return next;
}
