/**
 * One spec per row of lib/recovery/recovery-table.ts: the store is built,
 * closed, then its files are changed the way a crash or a bad disk would
 * (an older checkpoint, the abort marker, zeroed or flipped bytes), and the
 * reopened store is checked byte by byte.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommitLog, type AppendResult } from '../../lib/commit-log.js';
import { TEST_MIN } from '../../lib/config.js';
import { encodeCheckpoint } from '../../lib/format/checkpoint-codec.js';
import { BODY_CRC_OFFSET } from '../../lib/format/message-layout.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { RECOVERY_TABLE } from '../../lib/recovery/recovery-table.js';
import type { CorruptionReport } from '../../lib/recovery/recover.js';
import { expectCode } from '../helpers/expect-code.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const SEGMENT = TEST_MIN.mappedFileSizeCommitLog;

function body(seq: number): Buffer {
  const out = Buffer.alloc(2000 + ((seq * 37) % 900));
  for (let i = 0; i < out.length; i += 1) out[i] = (seq * 17 + i) & 0xff;
  return out;
}

describe('recovery decision table', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  let store: string;
  let written: AppendResult[];
  let end: number;
  const logs: CommitLog[] = [];

  beforeEach(async () => {
    dir = makeTmpDir();
    store = join(dir.path, 'store');
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store });
    written = [];
    for (let seq = 0; seq < 70; seq += 1) written.push(await log.append({ topic: 't', body: body(seq) }));
    end = log.maxOffset;
    await log.close();
    expect(end).toBeGreaterThan(2 * SEGMENT); // three segments
  });
  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close().catch(() => undefined);
    dir.cleanup();
  });

  /** Makes the next open see a crash, with the checkpoint at `flushedOffset`. */
  function crashWithCheckpoint(flushedOffset: number, options: { keepTable?: boolean } = {}) {
    writeFileSync(join(store, 'checkpoint'), encodeCheckpoint({ flushedOffset, lastFlushStoreTimestamp: 0, writtenAt: Date.now() }));
    writeFileSync(join(store, 'abort'), '');
    if (!options.keepTable) rmSync(join(store, 'topic-queue-table'));
  }

  function segmentPath(offset: number) {
    return join(store, segmentFileName(offset - (offset % SEGMENT)));
  }

  /** Flips one byte of the file holding `offset`. */
  function flipByte(offset: number) {
    const path = segmentPath(offset);
    const bytes = readFileSync(path);
    bytes[offset % SEGMENT] ^= 0x5a;
    writeFileSync(path, bytes);
  }

  async function reopen() {
    const reports: CorruptionReport[] = [];
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store, onCorruption: (r) => reports.push(r) });
    logs.push(log);
    return { log, reports };
  }

  async function scanAll(log: CommitLog) {
    const bodies: Buffer[] = [];
    for await (const m of log.scan()) bodies.push(m.body);
    return bodies;
  }

  it('has a row for every (found, where) pair', () => {
    expect(RECOVERY_TABLE).toHaveLength(10);
    expect(new Set(RECOVERY_TABLE.map((r) => `${r.found}/${r.where}`)).size).toBe(10);
  });

  it('message, before the frontier: kept (clean close, normal recovery)', async () => {
    const { log, reports } = await reopen();
    expect(log.recovery.mode).toBe('normal');
    expect(reports).toEqual([]);
    expect(log.maxOffset).toBe(end);
    expect((await scanAll(log)).map((b) => b.length)).toEqual(written.map((_, seq) => body(seq).length));
  });

  it('message, at or after the frontier: kept (crash after a stale checkpoint)', async () => {
    crashWithCheckpoint(written[5]!.physicalOffset);
    const { log, reports } = await reopen();
    expect(log.recovery.mode).toBe('abnormal');
    expect(reports).toEqual([]);
    expect(log.maxOffset).toBe(end);
    for (const [seq, r] of written.entries()) expect(log.read(r.physicalOffset).body).toEqual(body(seq));
    // Queue offsets were rebuilt from the records: the next one continues.
    expect((await log.append({ topic: 't', body: body(1) })).queueOffset).toBe(70);
  });

  it('blank, before the frontier: the scan moves to the next segment', async () => {
    crashWithCheckpoint(end);
    const { log, reports } = await reopen();
    expect(reports).toEqual([]);
    expect(log.recovery.scannedFromOffset).toBe(0);
    expect(log.maxOffset).toBe(end);
    expect(await scanAll(log)).toHaveLength(70);
  });

  it('blank, at or after the frontier: the scan moves to the next segment', async () => {
    crashWithCheckpoint(0);
    const { log, reports } = await reopen();
    expect(reports).toEqual([]);
    expect(log.maxOffset).toBe(end);
    expect(await scanAll(log)).toHaveLength(70);
  });

  it('end, at or after the frontier: the log ends there', async () => {
    crashWithCheckpoint(end, { keepTable: true });
    const { log, reports } = await reopen();
    expect(reports).toEqual([]);
    expect(log.maxOffset).toBe(end);
    expect((await log.append({ topic: 't', body: body(2) })).physicalOffset).toBe(end);
  });

  it('end, before the frontier (last segment): reported, the log ends at the data', async () => {
    crashWithCheckpoint(end + 700);
    const { log, reports } = await reopen();
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ offset: end, bytesDropped: 700 });
    expect(reports[0]!.reason).toMatch(/zeros where durable data should be/);
    expect(log.maxOffset).toBe(end);
  });

  it('end, before the frontier (middle segment): reported, that segment is closed, later ones kept', async () => {
    // Zero the first segment from message 10 on (blank record included).
    const victim = written[10]!.physicalOffset;
    const bytes = readFileSync(segmentPath(0));
    bytes.fill(0, victim);
    writeFileSync(segmentPath(0), bytes);
    crashWithCheckpoint(end);
    const { log, reports } = await reopen();
    expect(reports).toEqual([expect.objectContaining({ offset: victim, bytesDropped: SEGMENT - victim })]);
    expect(log.maxOffset).toBe(end);
    await expectCode(() => log.read(victim), 'ERR_BAD_OFFSET');
    const later = written.filter((r) => r.physicalOffset >= SEGMENT);
    for (const r of later) expect(log.read(r.physicalOffset).size).toBe(r.size);
    expect(await scanAll(log)).toHaveLength(10 + later.length);
  });

  it('damaged, before the frontier (middle segment): only that record is dropped (a hole), the rest kept and never returned corrupt', async () => {
    const victim = written[4]!;
    flipByte(victim.physicalOffset + victim.size - 100); // a body byte
    crashWithCheckpoint(end);
    const { log, reports } = await reopen();
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ offset: victim.physicalOffset, bytesDropped: victim.size });
    expect(reports[0]!.reason).toMatch(/corrupt/);
    expect(log.maxOffset).toBe(end);
    await expectCode(() => log.read(victim.physicalOffset), 'ERR_BAD_OFFSET');
    for (const [seq, r] of written.entries()) if (seq !== 4) expect(log.read(r.physicalOffset).body).toEqual(body(seq));
    // A scan steps over the hole (never copying it) and hands out every other body intact.
    expect(await scanAll(log)).toEqual(written.map((_, seq) => body(seq)).filter((_, seq) => seq !== 4));
  });

  it('damaged, before the frontier (last segment): only that record is dropped, the intact ones after it kept', async () => {
    const victim = written[65]!;
    flipByte(victim.physicalOffset + BODY_CRC_OFFSET); // a header byte
    crashWithCheckpoint(end);
    const { log, reports } = await reopen();
    expect(reports).toEqual([expect.objectContaining({ offset: victim.physicalOffset, bytesDropped: victim.size })]);
    expect(log.maxOffset).toBe(end);
    expect(log.read(written[66]!.physicalOffset).body).toEqual(body(66));
    expect(await scanAll(log)).toHaveLength(69);
  });

  it('damaged, before the frontier, last record: nothing verifies after it, so the log is cut there', async () => {
    const victim = written[69]!;
    flipByte(victim.physicalOffset + 200);
    crashWithCheckpoint(end);
    const { log, reports } = await reopen();
    expect(reports).toEqual([expect.objectContaining({ offset: victim.physicalOffset, bytesDropped: end - victim.physicalOffset })]);
    expect(log.maxOffset).toBe(victim.physicalOffset);
  });

  it('hole, before and after the frontier: stepped over quietly on every later open', async () => {
    const victim = written[30]!;
    flipByte(victim.physicalOffset + 150);
    crashWithCheckpoint(end);
    const first = await reopen();
    expect(first.reports).toHaveLength(1);
    await first.log.close();
    for (const frontier of [end, 0]) {
      crashWithCheckpoint(frontier);
      const again = await reopen();
      expect(again.reports).toEqual([]);
      expect(again.log.maxOffset).toBe(end);
      expect(await scanAll(again.log)).toHaveLength(69);
      await again.log.close();
    }
  });

  it('damaged, at or after the frontier: a torn tail, cut quietly and zeroed on disk', async () => {
    const victim = written[67]!;
    flipByte(victim.physicalOffset + 300);
    crashWithCheckpoint(written[60]!.physicalOffset, { keepTable: true });
    const { log, reports } = await reopen();
    expect(reports).toEqual([]);
    expect(log.maxOffset).toBe(victim.physicalOffset);
    await log.close();
    const disk = readFileSync(segmentPath(victim.physicalOffset));
    expect(disk.subarray(victim.physicalOffset % SEGMENT).every((b) => b === 0)).toBe(true);
    const again = await reopen();
    expect(again.log.maxOffset).toBe(victim.physicalOffset);
    expect((await scanAll(again.log)).length).toBe(67);
  });

  it('a corrupt checkpoint is reported and the whole log is scanned', async () => {
    writeFileSync(join(store, 'checkpoint'), Buffer.alloc(64, 0x77));
    writeFileSync(join(store, 'abort'), '');
    const { log, reports } = await reopen();
    expect(reports.some((r) => /checkpoint/.test(r.reason))).toBe(true);
    expect(log.recovery.scannedFromOffset).toBe(0);
    expect(log.maxOffset).toBe(end);
  });
});
