/** Retention: expiry by age and by disk use, from the head only, never the segment being written. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommitLog } from '../../lib/commit-log.js';
import { TEST_MIN } from '../../lib/config.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { diskUsedPercent } from '../../lib/store/clean-commit-log-service.js';
import { expectCode } from '../helpers/expect-code.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const SEGMENT = TEST_MIN.mappedFileSizeCommitLog;
const diskUsedAtStart = await diskUsedPercent(tmpdir());
const HOUR = 3_600_000;

describe('CommitLog retention', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  let log: CommitLog;
  let offsets: number[];

  beforeEach(async () => {
    dir = makeTmpDir();
    log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: dir.path, fileReservedTime: 72 });
    offsets = [];
    for (let i = 0; i < 100; i += 1) offsets.push((await log.append({ topic: 't', body: Buffer.alloc(2500, i) })).physicalOffset);
    expect(log.stats.segments).toBe(4);
    await log.flush(); // retention deletes only what is durable
  });
  afterEach(async () => {
    await log.close().catch(() => undefined);
    dir.cleanup();
  });

  it('keeps segments younger than fileReservedTime', async () => {
    expect(await log.deleteExpiredSegments(Date.now() + 71 * HOUR)).toBe(0);
    expect(log.minOffset).toBe(0);
  });

  it('deletes expired segments from the head, never the last, and reads below the new minimum fail', async () => {
    expect(await log.deleteExpiredSegments(Date.now() + 73 * HOUR)).toBe(3);
    expect(log.minOffset).toBe(3 * SEGMENT);
    for (const offset of [0, SEGMENT, 2 * SEGMENT]) expect(existsSync(join(dir.path, segmentFileName(offset)))).toBe(false);
    await expectCode(() => log.read(offsets[0]!), 'ERR_BAD_OFFSET');
    const kept = offsets.filter((o) => o >= 3 * SEGMENT);
    for (const o of kept) expect(log.read(o).body[0]).toBe(offsets.indexOf(o));
    const next = await log.append({ topic: 't', body: Buffer.alloc(10) });
    expect(next.physicalOffset).toBe(log.maxOffset - next.size);
    // The store reopens from its new first segment.
    const end = log.maxOffset;
    await log.close();
    log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: dir.path });
    expect(log.minOffset).toBe(3 * SEGMENT);
    expect(log.maxOffset).toBe(end);
    const segments = readdirSync(dir.path).filter((n) => /^\d{20}$/.test(n)).sort();
    expect(segments[0]).toBe(segmentFileName(3 * SEGMENT)); // (the next one may be prepared already)
  });

  // The smallest ratio allowed is 10 %: the test needs a disk fuller than that.
  it.skipIf(diskUsedAtStart <= 11)('deletes the oldest segments while the disk is fuller than diskMaxUsedSpaceRatio', async () => {
    await log.close();
    log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: dir.path, diskMaxUsedSpaceRatio: 10 });
    expect(await diskUsedPercent(dir.path)).toBeGreaterThan(10);
    expect(await log.deleteExpiredSegments()).toBe(3);
    expect(log.stats.segments).toBe(1);
  });
});

describe('retention at the edges', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  const logs: CommitLog[] = [];
  beforeEach(() => {
    dir = makeTmpDir();
  });
  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close().catch(() => undefined);
    dir.cleanup();
  });

  /** Four segments of which the first three are full. */
  async function fill(options: Partial<Parameters<typeof CommitLog.open>[0]> = {}): Promise<{ log: CommitLog; offsets: number[] }> {
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: dir.path, ...options });
    logs.push(log);
    const offsets: number[] = [];
    for (let i = 0; i < 100; i += 1) offsets.push((await log.append({ topic: 't', body: Buffer.alloc(2500, i) })).physicalOffset);
    expect(log.stats.segments).toBe(4);
    return { log, offsets };
  }

  it('counts disk use as df does: blocks reserved for root are free, not used', () => {
    const [, row] = execFileSync('df', ['--output=used,size', '-k', dir.path], { encoding: 'utf8' }).trim().split('\n');
    const [used, size] = row!.trim().split(/\s+/).map(Number);
    return diskUsedPercent(dir.path).then((percent) => expect(percent).toBeCloseTo((used! / size!) * 100, 0));
  });

  it.skipIf(diskUsedAtStart <= 11)('a pass over the disk ratio whose oldest segment is not flushed yet ends, and close() does not wait on it', async () => {
    const { log } = await fill({ diskMaxUsedSpaceRatio: 10, flushIntervalCommitLog: 60_000, flushCommitLogThoroughInterval: 60_000 });
    expect(log.flushedOffset).toBe(0);
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 2_000));
    expect(await Promise.race([log.deleteExpiredSegments().then((n) => `deleted ${n}`), timeout])).toBe('deleted 0');
    const closed = await Promise.race([log.close().then(() => 'closed'), timeout]);
    expect(closed).toBe('closed');
  });

  it('a segment a withMessage callback still holds is left for a later pass: its body stays whole until the callback settles', async () => {
    const { log, offsets } = await fill();
    await log.flush();
    let during = '';
    let deletedDuring = -1;
    await log.withMessage(offsets[0]!, async (message) => {
      const before = Buffer.from(message.body);
      deletedDuring = await log.deleteExpiredSegments(Date.now() + 73 * HOUR);
      await new Promise((resolve) => setTimeout(resolve, 1_200)); // past the 1 s reader deadline close() uses
      during = message.body.equals(before) ? 'whole' : 'changed';
    });
    expect(deletedDuring).toBe(0); // the oldest is held, and nothing is deleted past it
    expect(during).toBe('whole');
    expect(await log.deleteExpiredSegments(Date.now() + 73 * HOUR)).toBe(3);
    expect(log.minOffset).toBe(3 * SEGMENT);
  });

  it('the queue refuses NaN ages and times, deleting nothing', async () => {
    const { log } = await fill();
    await log.flush();
    const queue = (log as unknown as { queue: { deleteExpiredFileByTime(expiredMs: number, nowMs: number, count: number): Promise<number> } }).queue;
    await expectCode(() => queue.deleteExpiredFileByTime(Number.NaN, Date.now(), 10), 'ERR_INVALID_ARGUMENT');
    await expectCode(() => queue.deleteExpiredFileByTime(0, Number.NaN, 10), 'ERR_INVALID_ARGUMENT');
    expect(log.stats.segments).toBe(4);
  });
});
