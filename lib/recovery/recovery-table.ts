/**
 * What recovery does with each record it meets, as data (TigerBeetle keeps
 * its journal's recovery cases the same way). One spec per row.
 *
 * `where` is the record's offset relative to the checkpoint's flushed
 * offset (the *frontier*): everything before it was durable when the
 * checkpoint was written, so damage there is corruption, never a torn write.
 * Past the frontier, a crash may have left any mix of old and new pages, so
 * the first bad record is the torn tail.
 */
export type Found =
  /** A record whose structure (and CRCs, when verifying) is good. */
  | 'message'
  /** A blank record reaching exactly to the segment's end. */
  | 'blank'
  /** A blank record that stops inside the segment: a hole recovery wrote over dropped bytes earlier. */
  | 'hole'
  /** Zero bytes: no data here. */
  | 'end'
  /** A header claiming more bytes than the segment has, a bad magic, a bad CRC, a bad physical offset... */
  | 'damaged';

export type Where = 'before-frontier' | 'at-or-after-frontier';

export type Action =
  /** Keep the record, go on after it. */
  | 'keep'
  /** The segment is done: go on at the next one. */
  | 'next-segment'
  /** The log ends here; cut and zero everything after. */
  | 'cut'
  /**
   * Durable data is damaged: drop only the damaged bytes, up to the next
   * record that verifies (a hole, a blank record, is written over them), and
   * go on there, so one bad record does not take the records after it.
   * When no record follows in the segment, the hole reaches the segment's
   * end; in the last segment, with nothing after it, this is a cut.
   */
  | 'skip-damage';

export interface RecoveryRule {
  found: Found;
  where: Where;
  action: Action;
  /** Reported through onCorruption (offset, bytes dropped, reason). */
  report: boolean;
  why: string;
}

export const RECOVERY_TABLE: readonly RecoveryRule[] = Object.freeze([
  { found: 'message', where: 'before-frontier', action: 'keep', report: false, why: 'durable and intact' },
  { found: 'message', where: 'at-or-after-frontier', action: 'keep', report: false, why: 'written before the crash and intact' },
  { found: 'blank', where: 'before-frontier', action: 'next-segment', report: false, why: 'the segment was closed by a blank record' },
  { found: 'blank', where: 'at-or-after-frontier', action: 'next-segment', report: false, why: 'the segment was closed by a blank record' },
  { found: 'hole', where: 'before-frontier', action: 'keep', report: false, why: 'bytes dropped by an earlier recovery (reported then)' },
  { found: 'hole', where: 'at-or-after-frontier', action: 'keep', report: false, why: 'bytes dropped by an earlier recovery (reported then)' },
  { found: 'end', where: 'before-frontier', action: 'skip-damage', report: true, why: 'zeros where durable data should be' },
  { found: 'end', where: 'at-or-after-frontier', action: 'cut', report: false, why: 'the end of the data' },
  { found: 'damaged', where: 'before-frontier', action: 'skip-damage', report: true, why: 'a durable record is corrupt' },
  { found: 'damaged', where: 'at-or-after-frontier', action: 'cut', report: false, why: 'a torn write at the tail' },
]);

/** The table indexed by found, then where (looked up once per record, so no string keys). */
const RULES = Object.fromEntries(
  (['message', 'blank', 'hole', 'end', 'damaged'] as const).map((found) => [
    found,
    Object.fromEntries(
      (['before-frontier', 'at-or-after-frontier'] as const).map((where) => {
        const rule = RECOVERY_TABLE.find((row) => row.found === found && row.where === where);
        if (rule === undefined) throw new Error(`recovery table has no row for ${found} / ${where}`);
        return [where, rule];
      }),
    ) as Record<Where, RecoveryRule>,
  ]),
) as Record<Found, Record<Where, RecoveryRule>>;

export function ruleFor(found: Found, where: Where): RecoveryRule {
  return RULES[found][where];
}
