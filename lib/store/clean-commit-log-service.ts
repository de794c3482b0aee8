/**
 * Retention (RocketMQ's CleanCommitLogService): every `intervalMs`, delete
 * from the head of the log the segments whose newest message is older than
 * `fileReservedTime` hours; and while the disk holding the store is fuller
 * than `diskMaxUsedSpaceRatio` percent, delete the oldest segments whatever
 * their age. Never the segment being written, never from the middle, at
 * most `deleteCountMax` per pass so one pass stays short.
 */
import { statfs } from 'node:fs/promises';
import type { MappedFileQueue } from './mapped-file-queue.js';

export interface CleanCommitLogParams {
  queue: MappedFileQueue;
  directory: string;
  fileReservedTimeHours: number;
  diskMaxUsedSpaceRatioPercent: number;
  /** Called after segments were deleted (the min offset moved). */
  onDeleted?(count: number): void;
}

/** Segments deleted at most per pass. */
const DELETE_COUNT_MAX = 10;
const HOUR_MS = 60 * 60 * 1000;

/**
 * Percent of the file system holding `directory` in use, as RocketMQ and
 * df count it: blocks not free (bfree), so the blocks reserved for root
 * count as free (with bavail they counted as used: 74 % for df's 35 % on a
 * disk with a large reserve, and fresh segments were deleted).
 */
export async function diskUsedPercent(directory: string): Promise<number> {
  const stats = await statfs(directory);
  return stats.blocks === 0 ? 0 : ((stats.blocks - stats.bfree) / stats.blocks) * 100;
}

/** One retention pass; resolves with how many segments it deleted. */
export async function cleanCommitLog(params: CleanCommitLogParams, nowMs = Date.now()): Promise<number> {
  const { queue } = params;
  let deleted = await queue.deleteExpiredFileByTime(params.fileReservedTimeHours * HOUR_MS, nowMs, DELETE_COUNT_MAX);
  while (deleted < DELETE_COUNT_MAX && queue.segmentCount > 1 && (await diskUsedPercent(params.directory)) > params.diskMaxUsedSpaceRatioPercent) {
    // Past the ratio, age no longer matters: the oldest goes first. When it cannot go
    // (not flushed yet, or held by a reader), the pass ends: a later one tries again.
    const one = await queue.deleteExpiredFileByTime(0, Number.MAX_SAFE_INTEGER, 1);
    if (one === 0) break;
    deleted += one;
  }
  if (deleted > 0) params.onDeleted?.(deleted);
  return deleted;
}
