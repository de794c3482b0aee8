/**
 * The public API at its edges: arguments that are the wrong kind, calls
 * that race close(), and offsets a caller may pick that are not message
 * starts. Each case once misbehaved (a hang, a plain TypeError, a poisoned
 * store, deleted data); each must now be a CommitLogError with its code, or
 * the documented outcome, and leave what is stored as it was.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommitLog, type CommitLogOpenOptions } from '../../lib/commit-log.js';
import { TEST_MIN, type FlushDiskType } from '../../lib/config.js';
import { PHYSICAL_OFFSET_OFFSET } from '../../lib/format/message-layout.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { DIST_ENTRY, ensureDist } from '../helpers/ensure-dist.js';
import { expectCode } from '../helpers/expect-code.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const SEGMENT = TEST_MIN.mappedFileSizeCommitLog;

describe('CommitLog API edges', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  const logs: CommitLog[] = [];
  const store = () => join(dir.path, 'store');

  async function open(extra: Partial<CommitLogOpenOptions> = {}) {
    const log = await CommitLog.open({ ...TEST_MIN, storePathCommitLog: store(), ...extra });
    logs.push(log);
    return log;
  }

  beforeEach(() => {
    dir = makeTmpDir('mc-api-edges-');
  });
  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close().catch(() => undefined);
    dir.cleanup();
  });

  // A regression here spins the JS thread for good, so these run in a child process the spec can time out.
  it('a scan whose `to` lies past the readable end scans what is readable and ends', () => {
    ensureDist();
    const script = `
      const { CommitLog } = await import(process.argv[1]);
      const options = JSON.parse(process.argv[2]);
      const counts = {};
      const count = async (log, scanOptions) => { let n = 0; for await (const m of log.scan(scanOptions)) n += 1; return n; };
      const mapped = await CommitLog.open({ ...options, storePathCommitLog: options.storePathCommitLog + '-mapped' });
      for (let i = 0; i < 3; i += 1) await mapped.append({ topic: 't', body: Buffer.alloc(100, i) });
      counts.pastEnd = await count(mapped, { to: mapped.maxOffset + 1 });
      counts.infinity = await count(mapped, { to: Infinity });
      counts.batches = 0;
      for await (const batch of mapped.scanBatches({ to: 2 ** 52 })) counts.batches += batch.length;
      await mapped.close();
      // Direct mode: maxOffset includes an append written to the pool buffer and not committed yet.
      const direct = await CommitLog.open({ ...options, storePathCommitLog: options.storePathCommitLog + '-direct', writeMode: 'direct', commitIntervalCommitLog: 60000, commitCommitLogThoroughInterval: 60000 });
      await direct.append({ topic: 't', body: Buffer.alloc(100, 1) });
      await direct.flush();
      const pending = direct.append({ topic: 't', body: Buffer.alloc(100, 2) });
      counts.uncommittedBeyond = direct.maxOffset > direct.committedOffset;
      counts.direct = await count(direct, { to: direct.maxOffset });
      await pending;
      await direct.close();
      process.stdout.write(JSON.stringify(counts));`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(DIST_ENTRY).href, JSON.stringify({ ...TEST_MIN, storePathCommitLog: store() })], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(JSON.parse(output)).toEqual({ pastEnd: 3, infinity: 3, batches: 3, uncommittedBeyond: true, direct: 1 });
  });

  it('refuses options of the wrong kind with ERR_INVALID_ARGUMENT', async () => {
    const log = await open();
    await log.append({ topic: 't', body: Buffer.from('x') });
    const first = (iterable: AsyncIterable<unknown>) => iterable[Symbol.asyncIterator]().next();
    await expectCode(() => first(log.scan(null as never)), 'ERR_INVALID_ARGUMENT');
    await expectCode(() => first(log.scanBatches(null as never)), 'ERR_INVALID_ARGUMENT');
    await expectCode(() => first(log.tail(null as never)), 'ERR_INVALID_ARGUMENT');
    await expectCode(() => first(log.scan({ to: Number.NaN })), 'ERR_INVALID_ARGUMENT');
    await expectCode(() => first(log.scan({ to: '100' as never })), 'ERR_INVALID_ARGUMENT');
    await expectCode(() => first(log.scan({ verify: 'false' as never })), 'ERR_INVALID_ARGUMENT');
    await expectCode(() => first(log.tail({ verify: 0 as never })), 'ERR_INVALID_ARGUMENT');
    await expectCode(() => log.withMessage(0, undefined as never), 'ERR_INVALID_ARGUMENT');
    await expectCode(() => log.withMessage(0, 'use' as never), 'ERR_INVALID_ARGUMENT');
    // Nothing was held or changed: the store reads and closes as before.
    expect(log.read(0).body.toString()).toBe('x');
  });

  it.each<FlushDiskType>(['ASYNC_FLUSH', 'SYNC_FLUSH'])('%s: a tail given something else than an AbortSignal is refused up front and leaves the store healthy', async (flushDiskType) => {
    const log = await open({ flushDiskType });
    const controller = new AbortController();
    const tail = log.tail({ signal: controller as never })[Symbol.asyncIterator]();
    await expectCode(() => tail.next(), 'ERR_INVALID_ARGUMENT');
    // Before, its half-registered listener threw on the next append's notification (SYNC_FLUSH: poisoning the store).
    const appended = await log.append({ topic: 't', body: Buffer.from('after') });
    expect(appended.status).toBe('PUT_OK');
    await log.flush();
    expect(log.poisonedBy).toBeUndefined();
    expect(log.read(appended.physicalOffset).body.toString()).toBe('after');
    await log.close();
  });

  it('an aborted tail leaves no listener behind on an idle store', async () => {
    const log = await open();
    await log.append({ topic: 't', body: Buffer.from('x') });
    const listeners = () => (log as unknown as { confirmedListeners: unknown[] }).confirmedListeners.length;
    for (let round = 0; round < 50; round += 1) {
      const controller = new AbortController();
      const next = log.tail({ signal: controller.signal })[Symbol.asyncIterator]().next();
      await new Promise((resolve) => setImmediate(resolve));
      controller.abort();
      expect((await next).done).toBe(true);
    }
    expect(listeners()).toBe(0);
  });

  it('a tail whose batch is being checked when the store closes ends instead of rejecting', async () => {
    const log = await open({ mappedFileSizeCommitLog: 1024 * 1024 });
    // Over 256 KiB: the batch goes to the libuv pool, and close() lands while it is there.
    await log.appendBatch(Array.from({ length: 400 }, (_, i) => ({ topic: 't', body: Buffer.alloc(1500, i) })));
    await log.flush();
    const tail = log.tail({ from: 0 })[Symbol.asyncIterator]();
    const next = tail.next();
    const closing = log.close();
    expect((await next).done).toBe(true);
    await closing;
  });

  it('direct mode: a tail across a segment roll gets every message and keeps following (the readable end counts the segment before the roll)', async () => {
    const log = await open({ writeMode: 'direct', commitIntervalCommitLog: 60_000, commitCommitLogThoroughInterval: 60_000, commitCommitLogLeastPages: 16 });
    const got: number[] = [];
    let ended = false;
    const tailing = (async () => {
      for await (const message of log.tail({ from: 0 })) got.push(message.queueOffset);
      ended = true;
    })();
    for (let seq = 0; seq < 70; seq += 1) await log.append({ topic: 't', body: Buffer.alloc(1000, seq) });
    expect(log.stats.segments).toBe(2);
    await log.flush();
    for (let waited = 0; got.length < 70 && waited < 5_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(got).toEqual(Array.from({ length: 70 }, (_, i) => i));
    expect(ended, 'the tail still follows').toBe(false);
    await log.close();
    await tailing;
  });

  it('every close() gets the first call\'s promise', async () => {
    const log = await open();
    const first = log.close();
    expect(log.close()).toBe(first);
    await first;
    expect(log.close()).toBe(first);
  });

  it('a second close() while the first runs waits for it: the directory can be opened right after', async () => {
    const log = await open();
    await log.append({ topic: 't', body: Buffer.from('x') });
    void log.close();
    await log.close();
    const reopened = await open();
    expect(reopened.read(0).body.toString()).toBe('x');
    await reopened.close();
    await reopened.close(); // after it finished: a no-op
  });

  it('deleteExpiredSegments refuses a time that is not one, deleting nothing', async () => {
    const log = await open();
    for (let seq = 0; log.maxOffset < 2 * SEGMENT + 100; seq += 1) await log.append({ topic: 't', body: Buffer.alloc(1000, seq) });
    await log.flush();
    const files = () => readdirSync(store()).sort();
    const before = files();
    expect(log.stats.segments).toBe(3);
    for (const bad of [Number.NaN, '2024-01-01', -1, Number.POSITIVE_INFINITY, 1.5]) {
      await expectCode(() => log.deleteExpiredSegments(bad as never), 'ERR_INVALID_ARGUMENT');
    }
    expect(files()).toEqual(before);
    expect(log.stats.segments).toBe(3);
    expect(log.minOffset).toBe(0);
    expect(log.read(0).size).toBeGreaterThan(0);
    // A real time far ahead still expires the full, flushed segments.
    expect(await log.deleteExpiredSegments(Date.now() + 1000 * 3600 * 1000)).toBe(2);
  });

  it('appendBatch refuses a sparse array like a missing message, writing nothing', async () => {
    const log = await open();
    const message = { topic: 't', body: Buffer.from('m') };
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [message, , message] as never;
    await expectCode(() => log.appendBatch(sparse), 'ERR_INVALID_ARGUMENT');
    expect(log.maxOffset).toBe(0);
    const big = new Array(40).fill(message);
    delete big[20];
    await expectCode(() => log.appendBatch(big), 'ERR_INVALID_ARGUMENT');
    expect(log.maxOffset).toBe(0);
  });

  it('an offset inside a body that carries a whole record is ERR_BAD_OFFSET; a record whose PHYSICALOFFSET was damaged stays ERR_CORRUPT', async () => {
    const log = await open();
    const inner = await log.append({ topic: 'orders', body: Buffer.from('{"id":1}') });
    await log.flush();
    const segment = join(store(), segmentFileName(0));
    const raw = readFileSync(segment).subarray(inner.physicalOffset, inner.physicalOffset + inner.size);
    const mirror = await log.append({ topic: 'mirror', body: Buffer.from(raw) });
    await log.flush();
    const inside = readFileSync(segment).indexOf(raw, mirror.physicalOffset);
    expect(inside).toBeGreaterThan(mirror.physicalOffset);
    const read = await expectCode(() => log.read(inside), 'ERR_BAD_OFFSET');
    expect(read.message).toContain('not the start of a message');
    await expectCode(() => log.scan({ from: inside })[Symbol.asyncIterator]().next(), 'ERR_BAD_OFFSET');
    let scanned = 0;
    for await (const message of log.scan()) scanned += message.size > 0 ? 1 : 0;
    expect(scanned).toBe(2);

    // The same bytes damaged where they belong (through the file: the mapping shares its pages):
    // a flipped PHYSICALOFFSET bit fails the record CRC, and that is corruption.
    const fd = openSync(segment, 'r+');
    try {
      const at = inner.physicalOffset + PHYSICAL_OFFSET_OFFSET + 7;
      const byte = Buffer.alloc(1);
      readSync(fd, byte, 0, 1, at);
      byte[0] ^= 0x01;
      writeSync(fd, byte, 0, 1, at);
    } finally {
      closeSync(fd);
    }
    await expectCode(() => log.read(inner.physicalOffset), 'ERR_CORRUPT');
  });
});
