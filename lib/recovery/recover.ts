/**
 * Start-up recovery of an open store: plan (lib/recovery/plan-recovery.ts),
 * then apply — cover damaged ranges with a durable blank record (a hole),
 * cut and zero everything past the end — and report each corruption.
 */
import { blankHeaderSize, encodeBlank } from '../format/message-codec.js';
import type { CheckpointDecodeResult } from '../format/checkpoint-codec.js';
import type { TopicQueueTable } from '../format/topic-queue-table-codec.js';
import type { MappedFileQueue } from '../store/mapped-file-queue.js';
import { planRecoveryAsync, trustsCleanClose, type CorruptionReport, type RecoveryPlan, type SegmentBytes } from './plan-recovery.js';

export type { CorruptionReport } from './plan-recovery.js';
export type RecoveryResult = Omit<RecoveryPlan, 'holes'>;

export interface RecoveryParams {
  queue: MappedFileQueue;
  checkpoint: CheckpointDecodeResult;
  /** The abort marker was found: the last run crashed. */
  abnormal: boolean;
  table: TopicQueueTable | undefined;
  onCorruption(report: CorruptionReport): void;
}

/** What a normal recovery faults in past the checkpoint: the walk reads the zeros after the last record. */
const PREFAULT_PAST_CHECKPOINT_BYTES = 64 * 1024;

export async function recover(params: RecoveryParams): Promise<RecoveryResult> {
  const { queue } = params;
  const files = queue.segments;
  // The walk reads every byte from the start segment on: fault those pages in off the JS thread
  // first. After a clean close the log ends at the checkpoint: nothing past it (a 1 GiB segment
  // holding one message took 0.2-2 s to fault in whole, in zero pages it never reads). Any other
  // walk faults in what it reads past that itself: the cost of speed only.
  const startOffset = params.checkpoint.kind === 'ok' ? Math.min(params.checkpoint.flushedOffset, params.table?.coveredOffset ?? 0) : 0;
  const endOffset = trustsCleanClose(params.checkpoint, params.abnormal) ? params.checkpoint.flushedOffset + PREFAULT_PAST_CHECKPOINT_BYTES : Infinity;
  const walked = files.filter((file) => file.fileFromOffset + file.fileSizeBytes > startOffset && file.fileFromOffset < endOffset);
  await Promise.all(walked.map((file) => file.prefaultRead(0, endOffset - file.fileFromOffset)));
  for (const file of files) if (!file.hold()) throw new Error('a freshly loaded segment can be held');
  let plan: RecoveryPlan;
  try {
    const segments: SegmentBytes[] = files.map((file) => ({ fileFromOffset: file.fileFromOffset, fileSizeBytes: file.fileSizeBytes, bytes: file.readableView() }));
    // CRCs on the libuv pool, the event loop turning: an abnormal recovery reads gigabytes.
    plan = await planRecoveryAsync({ segments, checkpoint: params.checkpoint, abnormal: params.abnormal, table: params.table });
  } finally {
    for (const file of files) file.release();
  }
  // Cover each damaged range with a blank record, durably: readers step over it from now on.
  for (const { fileFromOffset, position, size } of plan.holes) {
    const blank = Buffer.alloc(blankHeaderSize(size));
    encodeBlank(blank, 0, size, fileFromOffset + position);
    await queue.findMappedFileByOffset(fileFromOffset)!.patchDurably(position, blank);
  }
  await queue.truncateDirtyFiles(plan.endOffset, plan.cutSearchBytes);
  for (const corruption of plan.corruptions) params.onCorruption(corruption);
  const { holes: _holes, ...result } = plan;
  return result;
}
