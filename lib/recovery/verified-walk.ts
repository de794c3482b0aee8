/**
 * How the recovery walk reads records, and where its CRC work runs.
 *
 * The walk (lib/recovery/plan-recovery.ts) is a generator: it never checks
 * a CRC or waits itself, it yields a WalkRequest and a driver answers.
 *   - runWalkSync answers on the calling thread (`planRecovery`, the CLI);
 *   - runWalkAsync checks CRCs on the libuv pool and lets the event loop
 *     turn between slices (`planRecoveryAsync`, CommitLog.open), so an
 *     abnormal recovery of gigabytes does not hold the JS thread for
 *     seconds.
 * One walk, two drivers: the plans are the same by construction.
 */
import { assert } from '../assert.js';
import { decodeRecordSummary, type RecordSummary, type SummaryResult } from '../format/message-codec.js';
import { SEAL_DESCRIPTOR_INT32S, verifyRecords, verifyRecordsAsync } from '../native/crc32-native.js';
import type { SegmentBytes } from './plan-recovery.js';

/** What the walk asks of its driver. */
export type WalkRequest =
  /** Start checking both CRCs of `count` records; the reply is a ticket for `result`. */
  | { kind: 'start'; bytes: Buffer; descriptors: Int32Array; count: number }
  /** The reply is how many records of the started check verified (verifyRecords' result). */
  | { kind: 'result'; ticket: unknown }
  /** A place to let the event loop turn; no reply. */
  | { kind: 'pause' };

export type Walk<T> = Generator<WalkRequest, T, unknown>;

/** Answers every request on this thread, at once. */
export function runWalkSync<T>(walk: Walk<T>): T {
  let step = walk.next();
  while (!step.done) {
    const request = step.value;
    let reply: unknown;
    if (request.kind === 'start') reply = verifyRecords(request.bytes, request.descriptors, request.count);
    else if (request.kind === 'result') reply = request.ticket;
    step = walk.next(reply);
  }
  return step.value;
}

/**
 * Checks CRCs on the libuv pool and yields to the event loop at each pause.
 * Settles only when no check it started is still reading the bytes, also
 * when the walk throws: the caller may unmap them right after.
 */
export async function runWalkAsync<T>(walk: Walk<T>): Promise<T> {
  const inFlight = new Set<Promise<number>>();
  try {
    let step = walk.next();
    while (!step.done) {
      const request = step.value;
      let reply: unknown;
      if (request.kind === 'start') {
        const check = verifyRecordsAsync(request.bytes, request.descriptors, request.count);
        check.catch(() => undefined); // observed by its 'result', or by the finally below
        inFlight.add(check);
        reply = check;
      } else if (request.kind === 'result') {
        const check = request.ticket as Promise<number>;
        reply = await check;
        inFlight.delete(check);
      } else {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      step = walk.next(reply);
    }
    return step.value;
  } finally {
    await Promise.allSettled(inFlight);
  }
}

/** Records checked per CRC call: a call costs ~8 µs (sync) or a pool round trip, a record's CRCs ~0.1 µs. */
export const VERIFY_BATCH_MAX = 1024;

/** Messages decoded for structure whose CRCs are checked together. */
interface Run {
  segment: SegmentBytes;
  position: number;
  records: Array<{ position: number; size: number; summary: RecordSummary }>;
  descriptors: Int32Array;
  /** Where decoding stopped: the next run starts here when this one was full. */
  end: number;
  ticket: unknown;
}

/**
 * Decodes records for the walk. Without CRC checks (normal recovery) it is
 * decodeRecordSummary. With them (abnormal recovery), runs of messages are
 * decoded for structure first and their CRCs checked together in one call:
 * the walk runs at native CRC speed rather than one JS CRC per record.
 * While one run is checked, the next is decoded (on the pool, the two
 * overlap). The first record of a run that fails is decoded again with the
 * JS checks, for the reason.
 */
export class VerifiedWalk {
  /** Two, alternating: the run being checked keeps its own until its check settles. */
  private readonly descriptorArrays = [new Int32Array(VERIFY_BATCH_MAX * SEAL_DESCRIPTOR_INT32S), new Int32Array(VERIFY_BATCH_MAX * SEAL_DESCRIPTOR_INT32S)];
  private run: Run['records'] = [];
  private next = 0;
  private segment: SegmentBytes | undefined;
  private failedAt = -1;
  /** A run whose check was started and not yet taken. */
  private pending: Run | undefined;

  constructor(private readonly verify: boolean) {}

  /**
   * The record at `position`, or undefined when the run holding it must be
   * checked first (then `yield* loadAndTake(segment, position)`). Plain, not
   * a generator: it is called once per record.
   */
  take(segment: SegmentBytes, position: number): SummaryResult | undefined {
    return this.takeRecord(segment, position, false);
  }

  /** Checks the run starting at `position` (see load), then takes its first record. */
  *loadAndTake(segment: SegmentBytes, position: number): Walk<SummaryResult> {
    yield* this.load(segment, position);
    return this.takeRecord(segment, position, true)!;
  }

  private takeRecord(segment: SegmentBytes, position: number, loaded: boolean): SummaryResult | undefined {
    const options = { verify: this.verify, expectedPhysicalOffset: segment.fileFromOffset + position };
    if (!this.verify) return decodeRecordSummary(segment.bytes, position, segment.fileSizeBytes, options);
    if (!loaded && (segment !== this.segment || (this.next >= this.run.length && position !== this.failedAt))) return undefined;
    const cached = this.run[this.next];
    if (cached !== undefined && cached.position === position) {
      this.next += 1;
      return { kind: 'message', size: cached.size, summary: cached.summary };
    }
    // Not a message of a verified run: a failed one, or no message at all.
    return decodeRecordSummary(segment.bytes, position, segment.fileSizeBytes, options);
  }

  /** Makes the run starting at `position` the current one, its CRCs checked; starts checking the run after it. */
  private *load(segment: SegmentBytes, position: number): Walk<void> {
    // A run is started only where the walk goes next (right after a run that verified whole).
    assert(this.pending === undefined || (this.pending.segment === segment && this.pending.position === position), 'the walk loads the run checked ahead');
    if (this.pending === undefined) yield* this.start(this.decodeRun(segment, position));
    const run = this.pending!;
    // While its CRCs are checked, decode the run after it (only a full run has one).
    const after = run.records.length === VERIFY_BATCH_MAX ? this.decodeRun(segment, run.end) : undefined;
    const good = yield* this.settle();
    this.segment = segment;
    this.run = run.records;
    this.next = 0;
    this.failedAt = -1;
    if (good < run.records.length) {
      this.failedAt = run.records[good]!.position;
      this.run.length = good;
    } else if (after !== undefined && after.records.length > 0) {
      yield* this.start(after);
    }
  }

  private *start(run: Run): Walk<void> {
    run.ticket = yield { kind: 'start', bytes: run.segment.bytes, descriptors: run.descriptors, count: run.records.length };
    this.pending = run;
  }

  /**
   * The pending run's result; the run is no longer pending. A walk that ends
   * with a check in flight leaves it to its driver: runWalkAsync settles every
   * check it started before it returns (runWalkSync has none in flight).
   */
  private *settle(): Walk<number> {
    const run = this.pending;
    assert(run !== undefined, 'a run is pending when its result is taken');
    this.pending = undefined;
    return (yield { kind: 'result', ticket: run.ticket }) as number;
  }

  /** Decodes the run of messages from `position` for structure, into the descriptors no pending check uses. */
  private decodeRun(segment: SegmentBytes, position: number): Run {
    const descriptors = this.pending?.descriptors === this.descriptorArrays[0] ? this.descriptorArrays[1]! : this.descriptorArrays[0]!;
    const records: Run['records'] = [];
    // One options object for the run, refilled per record (a walk decodes ~1 M records a second).
    const sealPositions = { descriptors, slot: 0 };
    const options = { verify: false, expectedPhysicalOffset: 0, sealPositions };
    let at = position;
    while (records.length < VERIFY_BATCH_MAX) {
      sealPositions.slot = records.length;
      options.expectedPhysicalOffset = segment.fileFromOffset + at;
      const decoded = decodeRecordSummary(segment.bytes, at, segment.fileSizeBytes, options);
      if (decoded.kind !== 'message') break;
      records.push({ position: at, size: decoded.size, summary: decoded.summary });
      at += decoded.size;
    }
    return { segment, position, records, descriptors, end: at, ticket: undefined };
  }
}
