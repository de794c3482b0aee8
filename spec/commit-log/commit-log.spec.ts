/** The CommitLog over all four combinations of flushDiskType × writeMode: one suite. */
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommitLog, type CommitLogOpenOptions } from '../../lib/commit-log.js';
import { TEST_MIN, type FlushDiskType, type WriteMode } from '../../lib/config.js';
import { BLANK_MAGIC_CODE } from '../../lib/format/message-layout.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { expectCode } from '../helpers/expect-code.js';
import { countEventLoopTurns } from '../helpers/event-loop-turns.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const SEGMENT = TEST_MIN.mappedFileSizeCommitLog;
const combos: Array<[FlushDiskType, WriteMode]> = [
  ['ASYNC_FLUSH', 'mapped'],
  ['ASYNC_FLUSH', 'direct'],
  ['SYNC_FLUSH', 'mapped'],
  ['SYNC_FLUSH', 'direct'],
];

function body(seq: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) out[i] = (seq * 131 + i * 7) & 0xff;
  return out;
}

describe.each(combos)('CommitLog %s / %s', (flushDiskType, writeMode) => {
  let dir: ReturnType<typeof makeTmpDir>;
  const logs: CommitLog[] = [];

  async function open(extra: Partial<CommitLogOpenOptions> = {}) {
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: join(dir.path, 'store'), flushDiskType, writeMode, ...extra });
    logs.push(log);
    return log;
  }

  beforeEach(() => {
    dir = makeTmpDir();
  });
  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close().catch(() => undefined);
    dir.cleanup();
  });

  it('round-trips every field through append, read and scan', async () => {
    const log = await open();
    const input = {
      topic: 'orders',
      body: body(1, 300),
      queueId: 3,
      flag: -7,
      sysFlag: 0x4,
      bornTimestamp: 1_700_000_000_123,
      bornHost: { address: '10.1.2.3', port: 5555 },
      storeHost: { address: '::1', port: 10911 },
      reconsumeTimes: 2,
      preparedTransactionOffset: 2 ** 40 + 5,
      properties: { KEYS: 'k1 k2', TAGS: 'tagA', 'ünï': 'cödé' },
    };
    const before = Date.now();
    const result = await log.append(input);
    expect(result.status).toBe('PUT_OK');
    expect(result.physicalOffset).toBe(0);
    expect(result.queueOffset).toBe(0);
    expect(result.storeTimestamp).toBeGreaterThanOrEqual(before);
    const message = log.read(result.physicalOffset);
    expect(message).toMatchObject({
      topic: 'orders',
      queueId: 3,
      flag: -7,
      bornTimestamp: 1_700_000_000_123,
      bornHost: { address: '10.1.2.3', port: 5555 },
      storeHost: { address: '::1', port: 10911 },
      reconsumeTimes: 2,
      preparedTransactionOffset: 2 ** 40 + 5,
      physicalOffset: 0,
      queueOffset: 0,
      storeTimestamp: result.storeTimestamp,
      size: result.size,
    });
    expect(message.sysFlag & 0x4).toBe(0x4);
    expect(message.body).toEqual(input.body);
    expect({ ...message.properties }).toEqual(input.properties);
    const scanned = [];
    for await (const m of log.scan()) scanned.push(m);
    expect(scanned).toHaveLength(1);
    expect(scanned[0]!.body).toEqual(input.body);
  });

  it('assigns queue offsets per (topic, queueId) and keeps store timestamps monotonic', async () => {
    const log = await open();
    const results = [];
    for (let i = 0; i < 12; i += 1) results.push(await log.append({ topic: i % 2 ? 'a' : 'b', queueId: i % 3, body: body(i, 10) }));
    const counters = new Map<string, number>();
    for (const [i, r] of results.entries()) {
      const key = `${i % 2 ? 'a' : 'b'}/${i % 3}`;
      expect(r.queueOffset).toBe(counters.get(key) ?? 0);
      counters.set(key, (counters.get(key) ?? 0) + 1);
    }
    for (let i = 1; i < results.length; i += 1) {
      expect(results[i]!.storeTimestamp).toBeGreaterThanOrEqual(results[i - 1]!.storeTimestamp);
      expect(results[i]!.physicalOffset).toBe(results[i - 1]!.physicalOffset + results[i - 1]!.size);
    }
  });

  it('rolls segments with a blank record and never splits a message', async () => {
    const log = await open();
    const results = [];
    for (let i = 0; i < 40; i += 1) results.push(await log.append({ topic: 't', body: body(i, 3000 + i * 17) }));
    await log.flush();
    expect(log.stats.segments).toBeGreaterThan(1);
    for (const [i, r] of results.entries()) {
      const start = r.physicalOffset % SEGMENT;
      expect(start + r.size + 8).toBeLessThanOrEqual(SEGMENT); // fits with room for a blank
      expect(log.read(r.physicalOffset).body).toEqual(body(i, 3000 + i * 17));
    }
    // The first segment ends with a blank record reaching exactly to its end.
    const firstOfSecond = results.find((r) => r.physicalOffset >= SEGMENT)!;
    const last = results[results.indexOf(firstOfSecond) - 1]!;
    const blankAt = last.physicalOffset + last.size;
    const file = readFileSync(join(dir.path, 'store', segmentFileName(0)));
    expect(file.readInt32BE(blankAt)).toBe(SEGMENT - blankAt);
    expect(file.readUInt32BE(blankAt + 4)).toBe(BLANK_MAGIC_CODE);
    expect(firstOfSecond.physicalOffset).toBe(SEGMENT);
    const scanned = [];
    for await (const m of log.scan()) scanned.push(m.body.length);
    expect(scanned).toEqual(results.map((_, i) => 3000 + i * 17));
  });

  it('appends a batch in order with one status', async () => {
    const log = await open();
    const batch = await log.appendBatch(Array.from({ length: 100 }, (_, i) => ({ topic: 'b', body: body(i, 1000) })));
    expect(batch.status).toBe('PUT_OK');
    expect(batch.messages).toHaveLength(100);
    expect(batch.messages.map((m) => m.queueOffset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (const [i, m] of batch.messages.entries()) expect(log.read(m.physicalOffset).body).toEqual(body(i, 1000));
    expect(log.stats.segments).toBeGreaterThan(1);
  });

  it('settles a batch and an append made in the same tick (the append takes the fast path first)', async () => {
    const log = await open();
    const m = (i: number) => ({ topic: 't', body: body(i, 40) });
    const [batch, single, later] = await Promise.all([log.appendBatch([m(0), m(1)]), log.append(m(2)), log.appendBatch([m(3)])]);
    expect(batch.status).toBe('PUT_OK');
    expect(single.status).toBe('PUT_OK');
    expect(later.status).toBe('PUT_OK');
    expect(single.physicalOffset).toBeGreaterThan(batch.messages[1]!.physicalOffset);
    expect(log.read(single.physicalOffset).body).toEqual(body(2, 40));
  });

  it('rejects a bad batch whole: nothing is written', async () => {
    const log = await open();
    await log.append({ topic: 't', body: body(0, 10) });
    const end = log.maxOffset;
    await expectCode(() => log.appendBatch([{ topic: 't', body: body(1, 10) }, { topic: '', body: body(2, 10) }]), 'ERR_INVALID_ARGUMENT');
    await expectCode(() => log.appendBatch([]), 'ERR_INVALID_ARGUMENT');
    expect(log.maxOffset).toBe(end);
  });

  it('keeps call order when many appends are in flight across rolls', async () => {
    const log = await open();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append({ topic: 't', body: body(i, 900) })));
    for (let i = 1; i < results.length; i += 1) expect(results[i]!.physicalOffset).toBeGreaterThan(results[i - 1]!.physicalOffset);
    expect(results.map((r) => r.queueOffset)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    let seq = 0;
    for await (const m of log.scan()) expect(m.body).toEqual(body(seq++, 900));
    expect(seq).toBe(200);
  });

  it('makes appended messages durable per the policy', async () => {
    const log = await open();
    const r = await log.append({ topic: 't', body: body(1, 100) });
    const end = r.physicalOffset + r.size;
    if (flushDiskType === 'SYNC_FLUSH') expect(log.flushedOffset).toBeGreaterThanOrEqual(end);
    expect(log.committedOffset).toBeGreaterThanOrEqual(end); // readable as soon as append resolves
    await log.flush();
    expect(log.flushedOffset).toBe(log.maxOffset);
    const onDisk = readFileSync(join(dir.path, 'store', segmentFileName(0)));
    expect(onDisk.readInt32BE(0)).toBe(r.size);
  });

  it('tails new messages and never passes the confirmed offset', async () => {
    const log = await open({ flushIntervalCommitLog: 60_000, flushCommitLogThoroughInterval: 60_000, flushCommitLogLeastPages: 16 });
    const controller = new AbortController();
    const seen: number[] = [];
    const tailing = (async () => {
      for await (const m of log.tail({ from: 0, signal: controller.signal })) {
        expect(m.physicalOffset + m.size).toBeLessThanOrEqual(log.confirmedOffset);
        seen.push(m.queueOffset);
      }
    })();
    for (let i = 0; i < 5; i += 1) await log.append({ topic: 't', body: body(i, 50) });
    await new Promise((r) => setTimeout(r, 30));
    if (flushDiskType === 'SYNC_FLUSH') {
      expect(seen).toEqual([0, 1, 2, 3, 4]);
    } else {
      // ASYNC: confirmed = readable end, so the tail has everything though nothing is flushed yet.
      expect(log.flushedOffset).toBeLessThan(log.maxOffset);
      expect(seen).toEqual([0, 1, 2, 3, 4]);
    }
    controller.abort();
    await tailing;
  });

  it('keeps everything across close and reopen, and continues offsets', async () => {
    let log = await open();
    const results = [];
    for (let i = 0; i < 30; i += 1) results.push(await log.append({ topic: 't', queueId: i % 2, body: body(i, 2500) }));
    const end = log.maxOffset;
    await log.close();
    log = await open();
    expect(log.recovery.mode).toBe('normal');
    expect(log.maxOffset).toBe(end);
    expect(log.flushedOffset).toBe(end);
    for (const [i, r] of results.entries()) expect(log.read(r.physicalOffset).body).toEqual(body(i, 2500));
    const next = await log.append({ topic: 't', queueId: 1, body: body(99, 10) });
    expect(next.physicalOffset).toBe(end);
    expect(next.queueOffset).toBe(15);
  });

  it('rejects bad offsets with ERR_BAD_OFFSET and corrupt records with ERR_CORRUPT', async () => {
    const log = await open();
    const a = await log.append({ topic: 't', body: body(1, 100) });
    await log.append({ topic: 't', body: body(2, 100) });
    await expectCode(() => log.read(-1), 'ERR_BAD_OFFSET');
    await expectCode(() => log.read(1.5), 'ERR_BAD_OFFSET');
    await expectCode(() => log.read(log.maxOffset), 'ERR_BAD_OFFSET');
    await expectCode(() => log.read(log.maxOffset + 10_000), 'ERR_BAD_OFFSET');
    await expectCode(() => log.read(a.physicalOffset + 1), 'ERR_BAD_OFFSET');
    await expectCode(() => log.read(a.physicalOffset + 20), 'ERR_BAD_OFFSET');
    await expectCode(() => log.scan({ from: -5 }).next(), 'ERR_BAD_OFFSET');
    expect(log.read(a.physicalOffset).body).toEqual(body(1, 100));
  });

  it('rejects an oversize message and stores nothing', async () => {
    const log = await open();
    await expectCode(() => log.append({ topic: 't', body: Buffer.alloc(TEST_MIN.maxMessageSize) }), 'ERR_MESSAGE_TOO_LARGE');
    expect(log.maxOffset).toBe(0);
    const ok = await log.append({ topic: 't', body: Buffer.alloc(100) });
    expect(ok.physicalOffset).toBe(0);
  });

  it('rejects every call after close with ERR_CLOSED', async () => {
    const log = await open();
    await log.append({ topic: 't', body: body(1, 10) });
    await log.close();
    await expectCode(() => log.append({ topic: 't', body: body(1, 10) }), 'ERR_CLOSED');
    await expectCode(() => log.read(0), 'ERR_CLOSED');
    await expectCode(() => log.flush(), 'ERR_CLOSED');
    await expectCode(() => log.scan().next(), 'ERR_CLOSED');
    await log.close(); // idempotent
  });

  it('settles every pending append when closed under load', async () => {
    const log = await open();
    const pending = Array.from({ length: 300 }, (_, i) => log.append({ topic: 't', body: body(i, 700) }));
    const closing = log.close();
    const settled = await Promise.allSettled(pending);
    await closing;
    const fulfilled = settled.filter((s) => s.status === 'fulfilled');
    expect(fulfilled.length + settled.filter((s) => s.status === 'rejected').length).toBe(300);
    // Appends queued behind a roll when close began are rejected with ERR_CLOSED and never written;
    // every other one is durable.
    for (const s of settled) if (s.status === 'rejected') expect((s.reason as { code?: string }).code).toBe('ERR_CLOSED');
    expect(fulfilled.length).toBeGreaterThan(0);
    const reopened = await open();
    for (const s of fulfilled) {
      const r = (s as PromiseFulfilledResult<Awaited<(typeof pending)[number]>>).value;
      expect(reopened.read(r.physicalOffset).size).toBe(r.size);
    }
    let stored = 0;
    for await (const _ of reopened.scan()) stored += 1;
    expect(stored).toBe(fulfilled.length);
  });

  it('refuses a second open of the same directory with ERR_STORE_LOCKED', async () => {
    const log = await open();
    await log.append({ topic: 't', body: body(1, 10) });
    await expectCode(() => open(), 'ERR_STORE_LOCKED');
    expect(log.read(0).body).toEqual(body(1, 10));
  });
});

describe('CommitLog options', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  beforeEach(() => {
    dir = makeTmpDir();
  });
  afterEach(() => dir.cleanup());

  it.each<[string, Record<string, unknown>]>([
    ['unknown option', { flushIntervall: 5 }],
    ['segment not a page multiple', { mappedFileSizeCommitLog: 5000 }],
    ['segment too large', { mappedFileSizeCommitLog: 2 ** 31 }],
    ['bad write mode', { writeMode: 'fast' }],
    ['bad flush type', { flushDiskType: 'SOMETIMES' }],
    ['message larger than a segment', { mappedFileSizeCommitLog: 65536, maxMessageSize: 65536 }],
    ['negative interval', { flushIntervalCommitLog: -1 }],
    ['fractional pool size', { transientStorePoolSize: 1.5 }],
    ['least pages beyond a segment', { mappedFileSizeCommitLog: 65536, flushCommitLogLeastPages: 17 }],
    ['empty path', { storePathCommitLog: '' }],
  ])('rejects %s with ERR_INVALID_OPTION', async (_name, bad) => {
    await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: join(dir.path, 's'), ...bad }), 'ERR_INVALID_OPTION');
  });

  it('rejects a store path that is a file with ERR_STORE_DIR', async () => {
    const file = join(dir.path, 'file');
    (await import('node:fs')).writeFileSync(file, 'x');
    await expectCode(() => CommitLog.open({ ...TEST_MIN, storePathCommitLog: file }), 'ERR_STORE_DIR');
  });
});

describe('CommitLog option defaults', () => {
  it('shrinks the default maxMessageSize to fit a small segment, but rejects an explicit one that does not fit', async () => {
    const dir = makeTmpDir();
    try {
      const log = await CommitLog.open({ storePathCommitLog: join(dir.path, 'a'), mappedFileSizeCommitLog: 1024 * 1024 });
      expect(log.options.maxMessageSize).toBe(1024 * 1024 - 8);
      await log.close();
      await expectCode(
        () => CommitLog.open({ storePathCommitLog: join(dir.path, 'b'), mappedFileSizeCommitLog: 1024 * 1024, maxMessageSize: 1024 * 1024 }),
        'ERR_INVALID_OPTION',
      );
    } finally {
      dir.cleanup();
    }
  });
});

describe('CommitLog reads never return a corrupt record', () => {
  it('scan and read reject a record whose body changed on disk with ERR_CORRUPT, after returning the ones before it', async () => {
    const dir = makeTmpDir();
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: dir.path });
    try {
      const written = [];
      for (let i = 0; i < 20; i += 1) written.push(await log.append({ topic: 't', body: body(i, 300) }));
      await log.flush();
      // Another writer (a bad disk, a stray process) changes one body byte: the page cache is shared.
      const { openSync, writeSync, closeSync } = await import('node:fs');
      const fd = openSync(join(dir.path, segmentFileName(0)), 'r+');
      writeSync(fd, Buffer.from([0x42 ^ body(7, 300)[10]!]), 0, 1, written[7]!.physicalOffset + written[7]!.size - 200);
      closeSync(fd);
      const error = await expectCode(() => log.read(written[7]!.physicalOffset), 'ERR_CORRUPT');
      expect(error.message).toContain(String(written[7]!.physicalOffset));
      expect(log.read(written[6]!.physicalOffset).body).toEqual(body(6, 300));
      const returned: number[] = [];
      await expectCode(async () => {
        for await (const m of log.scan()) returned.push(m.queueOffset);
      }, 'ERR_CORRUPT');
      expect(returned).toEqual([0, 1, 2, 3, 4, 5, 6]);
      const before = [];
      for await (const m of log.scan({ to: written[7]!.physicalOffset })) before.push(m.queueOffset);
      expect(before).toEqual([0, 1, 2, 3, 4, 5, 6]);
    } finally {
      await log.close();
      dir.cleanup();
    }
  });
});

describe('CommitLog scanBatches', () => {
  it('ends before a message that crosses `to`, and still reports a corrupt record that claims to cross it', async () => {
    const dir = makeTmpDir();
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: dir.path });
    try {
      const { messages: written } = await log.appendBatch(Array.from({ length: 6 }, (_, i) => ({ topic: 'cut', body: body(i, 300) })));
      const scanTo = async (to: number) => {
        const seen = [];
        for await (const m of log.scan({ to })) seen.push(m.queueOffset);
        return seen;
      };
      // `to` one byte into message 3, and one byte before its end: messages 0-2 only.
      expect(await scanTo(written[3]!.physicalOffset + 1)).toEqual([0, 1, 2]);
      expect(await scanTo(written[3]!.physicalOffset + written[3]!.size - 1)).toEqual([0, 1, 2]);
      expect(await scanTo(written[3]!.physicalOffset + written[3]!.size)).toEqual([0, 1, 2, 3]);
      expect(await scanTo(written[0]!.physicalOffset + 5)).toEqual([]);
      // Message 4's TOTALSIZE grown past the segment by another writer (the page cache is shared):
      // it is corrupt, not "past `to`".
      const fd = openSync(join(dir.path, segmentFileName(0)), 'r+');
      const size = Buffer.alloc(4);
      size.writeInt32BE(TEST_MIN.mappedFileSizeCommitLog * 2);
      writeSync(fd, size, 0, 4, written[4]!.physicalOffset);
      closeSync(fd);
      const seen: number[] = [];
      await expectCode(async () => {
        for await (const m of log.scan({ to: written[4]!.physicalOffset + 10 })) seen.push(m.queueOffset);
      }, 'ERR_CORRUPT');
      expect(seen).toEqual([0, 1, 2, 3]);
    } finally {
      await log.close();
      dir.cleanup();
    }
  });

  it('walks thousands of small messages in batches of at most 1024, cut mid-segment and at segment ends, with bodies that outlive the store', async () => {
    const dir = makeTmpDir();
    // 1 MiB segments hold ~6000 of these ~170 B records: batches are cut by the 1024 cap mid-segment.
    const log = await CommitLog.open({ ...TEST_MIN, mappedFileSizeCommitLog: 1024 * 1024, storePathCommitLog: dir.path });
    const written = [];
    const bodyOf = (i: number) => body(i, 20 + (i % 50));
    try {
      for (let i = 0; i < 9000; i += 250) {
        const result = await log.appendBatch(Array.from({ length: 250 }, (_, k) => ({ topic: 'small', body: bodyOf(i + k) })));
        written.push(...result.messages);
      }
      expect(log.stats.segments).toBe(2);
      const batches: Array<Array<{ physicalOffset: number; queueOffset: number; body: Buffer }>> = [];
      for await (const batch of log.scanBatches({ verify: true })) batches.push(batch);
      expect(batches.map((batch) => batch.length)).toContain(1024);
      expect(Math.max(...batches.map((batch) => batch.length))).toBeLessThanOrEqual(1024);
      const flat = batches.flat();
      expect(flat.map((m) => m.physicalOffset)).toEqual(written.map((m) => m.physicalOffset));
      expect(flat.map((m) => m.queueOffset)).toEqual(written.map((_, i) => i));
      // From the middle of a segment, to the middle of the next.
      const from = written[1234]!.physicalOffset;
      const to = written[8345]!.physicalOffset;
      const middle = [];
      for await (const batch of log.scanBatches({ from, to })) middle.push(...batch.map((m) => m.queueOffset));
      expect(middle).toEqual(Array.from({ length: 8345 - 1234 }, (_, i) => 1234 + i));
      await log.close();
      // The bodies are copies: they stay intact after the segments are released.
      const wrong = flat.findIndex((m, i) => !m.body.equals(bodyOf(i)));
      expect(wrong).toBe(-1);
    } finally {
      await log.close();
      dir.cleanup();
    }
  });

  /** A store of 4000 ~120 B messages in one 1 MiB segment: scanned in three batches of 1024 and one of 928. */
  async function smallMessages(path: string) {
    const log = await CommitLog.open({ ...TEST_MIN, mappedFileSizeCommitLog: 1024 * 1024, storePathCommitLog: path });
    const written = [];
    for (let i = 0; i < 4000; i += 500) {
      written.push(...(await log.appendBatch(Array.from({ length: 500 }, (_, k) => ({ topic: 'small', body: body(i + k, 16) })))).messages);
    }
    await log.flush();
    expect(log.stats.segments).toBe(1);
    return { log, written };
  }

  it('a body changed on disk in a later batch: every message before it is handed out, in order, then ERR_CORRUPT', async () => {
    const dir = makeTmpDir();
    const { log, written } = await smallMessages(dir.path);
    try {
      // 1500 sits inside the second batch (its CRC fails part way); 1024 starts it (no message before it in its batch).
      for (const victim of [1500, 1024]) {
        const fd = openSync(join(dir.path, segmentFileName(0)), 'r+');
        try {
          const at = written[victim]!.physicalOffset + written[victim]!.size - 40;
          const byte = Buffer.alloc(1);
          readSync(fd, byte, 0, 1, at);
          byte[0]! ^= 0x20;
          writeSync(fd, byte, 0, 1, at);
        } finally {
          closeSync(fd);
        }
        const returned: number[] = [];
        const error = await expectCode(async () => {
          for await (const batch of log.scanBatches()) returned.push(...batch.map((m) => m.queueOffset));
        }, 'ERR_CORRUPT');
        expect(error.message, `victim ${victim}`).toContain(String(written[victim]!.physicalOffset));
        expect(returned, `victim ${victim}`).toEqual(Array.from({ length: victim }, (_, i) => i));
        // Unverified, the scan hands every message out, the changed one included.
        const all = [];
        for await (const batch of log.scanBatches({ verify: false })) all.push(...batch);
        expect(all.map((m) => m.queueOffset)).toEqual(written.map((_, i) => i));
        expect(all[victim]!.body.equals(body(victim, 16))).toBe(false);
      }
    } finally {
      await log.close();
      dir.cleanup();
    }
  });

  it('lets the event loop turn between batches, and a scan left early leaves nothing held', async () => {
    const dir = makeTmpDir();
    const { log, written } = await smallMessages(dir.path);
    try {
      // The consumer awaits nothing: only the scan itself can let the event loop turn.
      const counter = countEventLoopTurns();
      let batches = 0;
      let turnsBeforeLastBatch = 0;
      for await (const batch of log.scanBatches()) {
        batches += 1;
        if (batches === 4) turnsBeforeLastBatch = counter.turns;
        expect(batch.length).toBeGreaterThan(0);
      }
      counter.stop();
      expect(batches).toBe(4);
      expect(turnsBeforeLastBatch).toBeGreaterThan(0);
      // Left after the first batch, with the next one in flight: close neither waits for it nor fails.
      for await (const batch of log.scanBatches()) {
        expect(batch[0]!.queueOffset).toBe(0);
        break;
      }
      const closing = performance.now();
      await log.close();
      expect(performance.now() - closing).toBeLessThan(900);
      const reopened = await CommitLog.open({ ...TEST_MIN, mappedFileSizeCommitLog: 1024 * 1024, storePathCommitLog: dir.path });
      expect(reopened.maxOffset).toBe(written.at(-1)!.physicalOffset + written.at(-1)!.size);
      await reopened.close();
    } finally {
      await log.close();
      dir.cleanup();
    }
  });
});
