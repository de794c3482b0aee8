/**
 * The recovery walk's two drivers (lib/recovery/verified-walk.ts): the
 * synchronous one (the CLI's dry run) and the one CommitLog.open uses, which
 * checks CRCs on the libuv pool while it decodes the next run of 1024
 * records. Over the same damaged bytes both must plan the same recovery,
 * wherever the damage falls against the runs; and the pool's walk must let
 * the event loop turn.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommitLog } from '../../lib/commit-log.js';
import { TEST_MIN } from '../../lib/config.js';
import { encodeMessage, prepareMessage } from '../../lib/format/message-codec.js';
import { RECORD_SEARCH_WINDOW_BYTES } from '../../lib/format/record-search.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { queueKey } from '../../lib/format/topic-queue-table-codec.js';
import { planRecovery, planRecoveryAsync, type PlanParams, type SegmentBytes } from '../../lib/recovery/plan-recovery.js';
import { VERIFY_BATCH_MAX } from '../../lib/recovery/verified-walk.js';
import { countEventLoopTurns } from '../helpers/event-loop-turns.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const SEGMENT = 1024 * 1024;
const MESSAGES = 12_000; // ~80 B records: two segments, a dozen runs

describe('planRecovery and planRecoveryAsync', () => {
  const dir = makeTmpDir();
  let written: Array<{ physicalOffset: number; size: number; queueOffset: number }>;
  let pristine: Buffer[];

  beforeAll(async () => {
    const log = await CommitLog.open({ ...TEST_MIN, mappedFileSizeCommitLog: SEGMENT, storePathCommitLog: dir.path });
    written = [];
    for (let i = 0; i < MESSAGES; i += 500) {
      const batch = Array.from({ length: 500 }, (_, k) => ({ topic: 'walk', queueId: (i + k) % 3, body: Buffer.from(`message ${i + k}`) }));
      written.push(...(await log.appendBatch(batch)).messages);
    }
    await log.close();
    pristine = [0, SEGMENT].map((from) => readFileSync(join(dir.path, segmentFileName(from))));
    expect(written.at(-1)!.physicalOffset).toBeGreaterThan(SEGMENT); // the walk crosses into a second segment
  });
  afterAll(() => dir.cleanup());

  /** The store's segments, with one byte of each listed message's body flipped. */
  function damaged(victims: number[]): SegmentBytes[] {
    const segments = pristine.map((bytes, i) => ({ fileFromOffset: i * SEGMENT, fileSizeBytes: SEGMENT, bytes: Buffer.from(bytes) }));
    for (const victim of victims) {
      const { physicalOffset, size } = written[victim]!;
      const at = physicalOffset + size - 30; // inside the body, before the properties
      const { bytes } = segments[Math.floor(at / SEGMENT)]!;
      bytes[at % SEGMENT] = bytes[at % SEGMENT]! ^ 0x20;
    }
    return segments;
  }

  function params(segments: SegmentBytes[], abnormal: boolean, frontierMessage: number): PlanParams {
    const flushedOffset = frontierMessage >= MESSAGES ? written.at(-1)!.physicalOffset + written.at(-1)!.size : written[frontierMessage]!.physicalOffset;
    return { segments, checkpoint: { kind: 'ok', flushedOffset, lastFlushStoreTimestamp: 0, writtenAt: 0, cleanClose: false }, abnormal, table: undefined };
  }

  const end = () => written.at(-1)!.physicalOffset + written.at(-1)!.size;

  // Victims against the runs of VERIFY_BATCH_MAX records: the first record, the last of a
  // run and the first of the next (the run decoded ahead is then dropped or failing), one
  // inside a later run, one in the second segment.
  const R = VERIFY_BATCH_MAX;
  const cases: Array<{ name: string; victims: number[]; frontier: number }> = [
    { name: 'no damage', victims: [], frontier: MESSAGES },
    { name: 'the first record', victims: [0], frontier: MESSAGES },
    { name: 'the last record of the first run', victims: [R - 1], frontier: MESSAGES },
    { name: 'the first record of the second run', victims: [R], frontier: MESSAGES },
    { name: 'inside the third run, and the first of the fifth', victims: [2 * R + 300, 4 * R], frontier: MESSAGES },
    { name: 'in the second segment', victims: [MESSAGES - 700], frontier: MESSAGES },
    { name: 'after the frontier (a torn tail)', victims: [3 * R + 5], frontier: 2 * R },
    { name: 'two runs apart, the frontier between them', victims: [R + 1, 5 * R + 1], frontier: 3 * R },
  ];

  for (const { name, victims, frontier } of cases) {
    it(`plan the same recovery, abnormal and normal: ${name}`, async () => {
      for (const abnormal of [true, false]) {
        const segments = damaged(victims);
        const sync = planRecovery(params(segments, abnormal, frontier));
        const pooled = await planRecoveryAsync(params(segments, abnormal, frontier));
        expect(pooled, `abnormal ${abnormal}`).toEqual(sync);
        if (!abnormal) {
          // Structure checks only: a flipped body byte goes unnoticed.
          expect(sync.endOffset).toBe(end());
          expect(sync.corruptions).toEqual([]);
          continue;
        }
        const before = victims.filter((v) => v < frontier);
        const after = victims.filter((v) => v >= frontier);
        // Damage before the frontier: a hole over that one record, reported; at or after it: the log is cut there, quietly.
        expect(sync.corruptions.map((c) => c.offset)).toEqual(before.map((v) => written[v]!.physicalOffset));
        expect(sync.holes.map((h) => h.fileFromOffset + h.position)).toEqual(before.map((v) => written[v]!.physicalOffset));
        expect(sync.endOffset).toBe(after.length > 0 ? written[after[0]!]!.physicalOffset : end());
        const lost = before.length + (after.length > 0 ? MESSAGES - after[0]! : 0);
        expect(sync.messagesScanned).toBe(MESSAGES - lost);
        // Three queues, counted from the surviving records.
        const lastKept = after.length > 0 ? after[0]! - 1 : MESSAGES - 1;
        for (let queueId = 0; queueId < 3; queueId += 1) {
          const last = Array.from({ length: 3 }, (_, k) => lastKept - k).find((seq) => seq % 3 === queueId)!;
          expect(sync.nextQueueOffsets.get(queueKey('walk', queueId)), `queue ${queueId}`).toBe(written[last]!.queueOffset + 1);
        }
      }
    });
  }

  it('the search past durable damage lets the event loop turn between its windows, and finds the record beyond them', async () => {
    const W = RECORD_SEARCH_WINDOW_BYTES;
    const size = 8 * W;
    const bytes = Buffer.alloc(size);
    const put = (position: number, seq: number): number =>
      encodeMessage(bytes, position, prepareMessage({ topic: 'far', body: Buffer.from(`record ${seq}`) }, 4096), { physicalOffset: position, queueOffset: seq, storeTimestamp: 1 + seq });
    const a = put(0, 0);
    const bAt = a;
    const b = put(bAt, 1);
    const cAt = 7 * W + 12_345; // seven windows past the damage
    const c = put(cAt, 2);
    bytes[bAt + b - 30]! ^= 0x20; // B's body: durable damage
    const segments: SegmentBytes[] = [{ fileFromOffset: 0, fileSizeBytes: size, bytes }];
    const checkpoint = { kind: 'ok' as const, flushedOffset: cAt + c, lastFlushStoreTimestamp: 0, writtenAt: 0, cleanClose: false };
    const plan: PlanParams = { segments, checkpoint, abnormal: true, table: undefined };
    const sync = planRecovery(plan);
    expect(sync.holes).toEqual([{ fileFromOffset: 0, position: bAt, size: cAt - bAt }]);
    expect(sync.endOffset).toBe(cAt + c);
    expect(sync.messagesScanned).toBe(2);
    const counter = countEventLoopTurns();
    const pooled = await planRecoveryAsync(plan);
    const turns = counter.stop();
    expect(pooled).toEqual(sync);
    expect(turns).toBeGreaterThanOrEqual(7); // one pause per window crossed
  });

  it('the pool walk lets the event loop turn, in both modes', async () => {
    for (const abnormal of [true, false]) {
      const counter = countEventLoopTurns();
      const plan = await planRecoveryAsync(params(damaged([]), abnormal, 0));
      const turns = counter.stop();
      expect(plan.messagesScanned).toBe(MESSAGES);
      // abnormal: a pool round trip per run of 1024 (12); normal: a pause per 4096 records (2).
      expect(turns, `abnormal ${abnormal}`).toBeGreaterThanOrEqual(abnormal ? 10 : 2);
    }
  });
});
