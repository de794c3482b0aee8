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
  const next = MAGIC_PATTERNS.map((pattern) => nextCandidate(bytes, pattern, from, segmentSizeBytes));
  for (let tries = 0; tries <= segmentSizeBytes; tries += 1) {
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
    next[which] = nextCandidate(bytes, MAGIC_PATTERNS[which]!, best + 1, segmentSizeBytes);
  }
  return undefined;
}

/** The first record start at or after `from` whose MAGICCODE is `pattern`, or -1. */
function nextCandidate(bytes: Buffer, pattern: Buffer, from: number, segmentSizeBytes: number): number {
  const at = bytes.indexOf(pattern, from + MAGIC_CODE_OFFSET);
  return at < 0 || at - MAGIC_CODE_OFFSET >= segmentSizeBytes ? -1 : at - MAGIC_CODE_OFFSET;
}
