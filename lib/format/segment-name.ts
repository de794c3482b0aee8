/**
 * Segment file names: a segment is named by the physical offset of its first
 * byte, in exactly 20 zero-padded decimal digits, as RocketMQ's
 * UtilAll.offset2FileName: `00000000000000000000`, `00000000001073741824`.
 * Sorting the names as strings sorts the segments by offset.
 */
import { CommitLogError } from '../errors.js';
import { describe } from './describe.js';

/** Digits in a segment file name. */
export const SEGMENT_FILE_NAME_DIGITS = 20;

const SEGMENT_FILE_NAME = /^[0-9]{20}$/;

/** The file name of the segment starting at `startOffset`, a safe integer >= 0. */
export function segmentFileName(startOffset: number): string {
  if (!Number.isSafeInteger(startOffset) || startOffset < 0) {
    throw new CommitLogError('ERR_INVALID_ARGUMENT', `startOffset must be a safe integer >= 0, got ${describe(startOffset)}`);
  }
  return String(startOffset).padStart(SEGMENT_FILE_NAME_DIGITS, '0');
}

/**
 * The start offset a segment file name stands for, or undefined when `name`
 * is not exactly 20 decimal digits or stands for more than 2^53 - 1.
 */
export function parseSegmentFileName(name: string): number | undefined {
  if (typeof name !== 'string' || !SEGMENT_FILE_NAME.test(name)) return undefined;
  const offset = Number(name);
  return Number.isSafeInteger(offset) ? offset : undefined;
}
