/**
 * Finding records again after damage. A record start is recognised by its
 * MAGICCODE, and confirmed only by a full decode with both CRCs and its own
 * PHYSICALOFFSET: a chance match of four bytes plus a matching offset and
 * two CRCs over the record is not a practical risk.
 */
import type { DecodeResult } from './message-codec.js';
import { decodeRecord } from './message-codec.js';
import { BLANK_MAGIC_CODE, MAGIC_CODE_OFFSET, MESSAGE_MAGIC_CODE_V1, MESSAGE_MAGIC_CODE_V2 } from './message-layout.js';

/** The three MAGICCODEs a record can start with, as the bytes to search for. */
const MAGIC_PATTERNS: readonly Buffer[] = [MESSAGE_MAGIC_CODE_V1, MESSAGE_MAGIC_CODE_V2, BLANK_MAGIC_CODE].map((magic) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(magic);
  return bytes;
});

/**
 * Whether a decode at `position` found a record a reader can step over: a
 * message, or a blank record that stays inside the segment (one reaching
 * the end closes the segment; a shorter one is a hole that recovery wrote
 * over dropped bytes).
 */
export function isRecordStart(decoded: DecodeResult, position: number, segmentSizeBytes: number): boolean {
  return decoded.kind === 'message' || (decoded.kind === 'blank' && position + decoded.size <= segmentSizeBytes);
}

/**
 * Position of the first verified record at or after `from` in a segment's
 * bytes (the segment starts at physical offset `fileFromOffset`), or
 * undefined when none follows.
 */
export function findNextRecord(bytes: Buffer, from: number, segmentSizeBytes: number, fileFromOffset: number): number | undefined {
  const search = searchNextRecord(bytes, from, segmentSizeBytes, fileFromOffset);
  for (;;) {
    const step = search.next();
    if (step.done) return step.value;
  }
}

/**
 * Record starts searched per window: a window's three indexOf passes take
 * a few ms over resident bytes (a whole 1 GiB segment of zeros held the
 * event loop 80-170 ms in recovery).
 */
export const RECORD_SEARCH_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * findNextRecord, one window of record starts at a time: it yields between
 * windows, where a driver on the event loop may let it turn (the recovery
 * walk does). Returns what findNextRecord returns.
 */
export function* searchNextRecord(bytes: Buffer, from: number, segmentSizeBytes: number, fileFromOffset: number): Generator<'pause', number | undefined, unknown> {
  for (let windowStart = from; windowStart < segmentSizeBytes; windowStart += RECORD_SEARCH_WINDOW_BYTES) {
    if (windowStart > from) yield 'pause';
    const windowEnd = Math.min(windowStart + RECORD_SEARCH_WINDOW_BYTES, segmentSizeBytes);
    const found = findInWindow(bytes, windowStart, windowEnd, segmentSizeBytes, fileFromOffset);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The first verified record starting in [start, end), or undefined. */
function findInWindow(bytes: Buffer, start: number, end: number, segmentSizeBytes: number, fileFromOffset: number): number | undefined {
  // A record starting before `end` has its MAGICCODE end by end + MAGIC_CODE_OFFSET + 4.
  const window = bytes.subarray(0, Math.min(bytes.length, end + MAGIC_CODE_OFFSET + 4));
  const next = MAGIC_PATTERNS.map((pattern) => nextCandidate(window, pattern, start, end));
  for (let tries = 0; tries <= end - start; tries += 1) {
    let best = -1;
    let which = -1;
    for (const [index, candidate] of next.entries()) {
      if (candidate >= 0 && (best < 0 || candidate < best)) {
        best = candidate;
        which = index;
      }
    }
    if (best < 0) return undefined;
    const decoded = decodeRecord(bytes, best, segmentSizeBytes, { verify: true, copy: false, expectedPhysicalOffset: fileFromOffset + best });
    if (isRecordStart(decoded, best, segmentSizeBytes)) return best;
    next[which] = nextCandidate(window, MAGIC_PATTERNS[which]!, best + 1, end);
  }
  return undefined;
}

/** The first record start in [from, end) whose MAGICCODE is `pattern`, or -1. */
function nextCandidate(bytes: Buffer, pattern: Buffer, from: number, end: number): number {
  const at = bytes.indexOf(pattern, from + MAGIC_CODE_OFFSET);
  return at < 0 || at - MAGIC_CODE_OFFSET >= end ? -1 : at - MAGIC_CODE_OFFSET;
}
