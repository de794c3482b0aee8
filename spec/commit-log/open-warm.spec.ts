/**
 * What open() waits for, and what it does not.
 *
 * It does not wait for the preparation it starts: the first segment's
 * warm-up (pre-fault; under SYNC_FLUSH write-back) and the direct-mode
 * pool's mlock / pre-fault. With 1 GiB segments and the default pool that
 * took 3-10 s here. The native calls doing that work are held behind a gate:
 * open resolves, appends are acknowledged (durably under SYNC_FLUSH) and
 * read back, and whenWarm() settles only once the gate opens.
 *
 * After a clean close it reads the segment near the log's end only (a
 * whole 1 GiB segment searched for bytes to zero took 0.4-0.7 s): bytes
 * planted further on stay until a crash recovery, which cuts them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommitLog } from '../../lib/commit-log.js';
import { TEST_MIN, type FlushDiskType, type WriteMode } from '../../lib/config.js';
import { encodeCheckpoint } from '../../lib/format/checkpoint-codec.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { realNativeIO } from '../../lib/native/real-native-io.js';
import { TransientStorePool } from '../../lib/store/transient-store-pool.js';
import { ForwardingNativeIO } from '../durability/helpers/forwarding-native-io.js';
import { Gate } from '../helpers/gate.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const SEGMENT = 1024 * 1024;

/** Holds every warm-up and pool-preparation call until `gate` opens; counts them by name. */
class HeldPreparation extends ForwardingNativeIO {
  readonly gate = new Gate();
  readonly held = new Map<string, number>();

  private hold<T>(name: string, call: () => Promise<T>): Promise<T> {
    this.held.set(name, (this.held.get(name) ?? 0) + 1);
    return this.gate.pass().then(call);
  }
  override populateWrite(mapping: Buffer, position: number, length: number): Promise<void> {
    return this.hold('populateWrite', () => super.populateWrite(mapping, position, length));
  }
  override warmWriteBack(mapping: Buffer, position: number, length: number, fd: number): Promise<void> {
    return this.hold('warmWriteBack', () => super.warmWriteBack(mapping, position, length, fd));
  }
  override writeBack(fd: number, offset: number, length: number): Promise<void> {
    return this.hold('writeBack', () => super.writeBack(fd, offset, length));
  }
  override mlock(buffer: Buffer): Promise<boolean> {
    return this.hold('mlock', () => super.mlock(buffer));
  }
}

/** Whether `promise` settles within a few turns of the event loop and the thread pool. */
async function settlesSoon(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => (settled = true));
  await new Promise((resolve) => setTimeout(resolve, 50));
  return settled;
}

describe('open() and the preparation it starts', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  beforeEach(() => {
    dir = makeTmpDir();
  });
  afterEach(() => dir.cleanup());

  const combinations: Array<[WriteMode, FlushDiskType, string]> = [
    ['mapped', 'ASYNC_FLUSH', 'populateWrite'],
    ['mapped', 'SYNC_FLUSH', 'warmWriteBack'],
    ['direct', 'ASYNC_FLUSH', 'mlock'],
    ['direct', 'SYNC_FLUSH', 'writeBack'],
  ];
  for (const [writeMode, flushDiskType, heldCall] of combinations) {
    it(`${flushDiskType} / ${writeMode}: resolves and takes appends while ${heldCall} is held; whenWarm() waits for it`, async () => {
      const io = new HeldPreparation(realNativeIO());
      const options = { ...TEST_MIN, mappedFileSizeCommitLog: SEGMENT, storePathCommitLog: join(dir.path, 'store'), writeMode, flushDiskType, transientStorePoolLock: true };
      const log = await CommitLog.open({ ...options, native: io });
      const bodies = Array.from({ length: 60 }, (_, i) => Buffer.alloc(12_000, i + 1));
      try {
        await waitFor(() => (io.held.get(heldCall) ?? 0) > 0); // the warm-up reached the held call
        if (writeMode === 'direct') expect(log.stats.poolLockStatus).toBe('pending');
        const warm = log.whenWarm();
        expect(await settlesSoon(warm)).toBe(false);

        const results = [];
        for (const body of bodies) results.push(await log.append({ topic: 'early', body }));
        expect(results.map((r) => r.status)).toEqual(bodies.map(() => 'PUT_OK'));
        if (flushDiskType === 'SYNC_FLUSH') expect(log.flushedOffset).toBe(log.maxOffset); // acknowledged = durable
        expect(results.at(-1)!.physicalOffset).toBeGreaterThan(SEGMENT / 2); // well into the segment being warmed
        await log.flush();
        // Buffer#equals: vitest's deep equality walks 12 KB bodies element by element (seconds).
        for (const [i, r] of results.entries()) expect(log.read(r.physicalOffset).body.equals(bodies[i]!), `message ${i}`).toBe(true);

        io.gate.open();
        await warm;
        if (writeMode === 'direct') expect(log.stats.poolLockStatus).not.toBe('pending');
      } finally {
        io.gate.open();
        await log.close();
      }
      const reopened = await CommitLog.open(options);
      try {
        const stored = [];
        for await (const m of reopened.scan()) stored.push(m.body);
        expect(stored.length).toBe(bodies.length);
        for (const [i, body] of stored.entries()) expect(body.equals(bodies[i]!), `message ${i} after reopening`).toBe(true);
      } finally {
        await reopened.close();
      }
    });
  }

  it('ASYNC_FLUSH / direct: the warm-up fills the page cache of the segment appends go to (a commit copies into resident pages), writing nothing', async () => {
    const segment = 4 * SEGMENT;
    const native = realNativeIO();
    const options = { ...TEST_MIN, mappedFileSizeCommitLog: segment, storePathCommitLog: join(dir.path, 'fill'), writeMode: 'direct' as const, flushDiskType: 'ASYNC_FLUSH' as const };
    const log = await CommitLog.open(options);
    try {
      await log.whenWarm();
      // mincore through a mapping of our own: it reports the file's page cache, not this mapping's page tables.
      const fd = await native.openFile(join(options.storePathCommitLog, segmentFileName(0)), false);
      const view = native.mapShared(fd, segment);
      try {
        expect(native.residentBytes(view)).toBe(segment);
        expect(view.subarray(0, segment).every((byte) => byte === 0)).toBe(true); // zeros, read from unwritten blocks
      } finally {
        await native.releaseMapping(view);
        await native.closeFile(fd);
      }
      const r = await log.append({ topic: 'fill', body: Buffer.alloc(3000, 0x5a) });
      expect(log.read(r.physicalOffset).body.equals(Buffer.alloc(3000, 0x5a))).toBe(true);
    } finally {
      await log.close();
    }
  });

  it('the pool lends a buffer still being locked; destroy() waits for the mlock in hand and locks no more', async () => {
    const io = new HeldPreparation(realNativeIO());
    const pool = await TransientStorePool.create({ native: io, poolSize: 3, bufferSizeBytes: SEGMENT, lock: true });
    const first = pool.borrowBuffer();
    first.fill(0x7e, 0, 4096); // writable before its turn: the JS thread takes the faults
    expect(first[4095]).toBe(0x7e);
    expect(pool.lockStatus).toBe('pending');
    expect(io.held.get('mlock')).toBe(1); // one at a time
    const destroyed = pool.destroy();
    expect(await settlesSoon(destroyed)).toBe(false); // the mlock in hand still runs
    io.gate.open();
    await destroyed;
    await pool.whenPrepared();
    expect(io.held.get('mlock')).toBe(1);
    expect(io.held.get('populateWrite')).toBeUndefined();
  });

  it('after a clean close, looks for bytes to zero within 1 MiB of the end; a crash recovery cuts what lies further', async () => {
    const segment = 4 * SEGMENT;
    const options = { ...TEST_MIN, mappedFileSizeCommitLog: segment, storePathCommitLog: join(dir.path, 'clean') };
    const body = (i: number) => Buffer.alloc(1000, i + 1);
    let log = await CommitLog.open(options);
    for (let i = 0; i < 10; i += 1) await log.append({ topic: 'clean', body: body(i) });
    const end = log.maxOffset;
    await log.close();
    // Bytes the engine never wrote (a disk or a tool did): one page 512 KiB past the end, one 2 MiB past it.
    const path = join(options.storePathCommitLog, segmentFileName(0));
    const file = readFileSync(path);
    const near = end + 512 * 1024;
    const far = end + 2 * SEGMENT;
    file.fill(0xa5, near, near + 4096);
    file.fill(0xa5, far, far + 4096);
    writeFileSync(path, file);

    const searched: number[] = [];
    class CountingIO extends ForwardingNativeIO {
      override dataEnd(mapping: Buffer, position: number, length: number): Promise<number> {
        searched.push(length);
        return super.dataEnd(mapping, position, length);
      }
    }
    log = await CommitLog.open({ ...options, native: new CountingIO(realNativeIO()) });
    expect(log.recovery.mode).toBe('normal');
    expect(log.maxOffset).toBe(end);
    expect(searched).toEqual([1024 * 1024]);
    for (let i = 10; i < 15; i += 1) await log.append({ topic: 'clean', body: body(i) });
    const appendedEnd = log.maxOffset;
    await log.close();
    let onDisk = readFileSync(path);
    expect(onDisk.subarray(near, near + 4096).every((b) => b === 0)).toBe(true); // zeroed by the clean reopen
    expect(onDisk.subarray(far, far + 4096).every((b) => b === 0xa5)).toBe(true); // left

    // A crash with a stale checkpoint: the walk ends after the last record, and everything past it is searched and zeroed.
    writeFileSync(join(options.storePathCommitLog, 'checkpoint'), encodeCheckpoint({ flushedOffset: 0, lastFlushStoreTimestamp: 0, writtenAt: Date.now() }));
    writeFileSync(join(options.storePathCommitLog, 'abort'), '');
    const reports: unknown[] = [];
    log = await CommitLog.open({ ...options, onCorruption: (r) => reports.push(r) });
    try {
      expect(log.recovery.mode).toBe('abnormal');
      expect(reports).toEqual([]);
      expect(log.maxOffset).toBe(appendedEnd);
      const stored = [];
      for await (const m of log.scan()) stored.push(m.body);
      expect(stored.length).toBe(15);
      for (const [i, b] of stored.entries()) expect(b.equals(body(i)), `message ${i}`).toBe(true);
    } finally {
      await log.close();
    }
    onDisk = readFileSync(path);
    expect(onDisk.subarray(far, far + 4096).every((b) => b === 0)).toBe(true);
  });

  it('without CLEAN_CLOSE (a deleted abort marker, a stale checkpoint), a cut at zeros searches the whole segment: no old record comes back', async () => {
    const segment = 4 * SEGMENT;
    const options = { ...TEST_MIN, mappedFileSizeCommitLog: segment, storePathCommitLog: join(dir.path, 'stale') };
    const body = (i: number) => Buffer.alloc(1000, (i % 250) + 1);
    let log = await CommitLog.open(options);
    const old = [];
    for (let i = 0; i < 2000; i += 100) old.push(...(await log.appendBatch(Array.from({ length: 100 }, (_, k) => ({ topic: 'stale', body: body(i + k) })))).messages);
    await log.close();
    // A crash lost 1.5 MiB after record 100 (zeros), later pages reached the disk, and the
    // abort marker was deleted by hand: a normal recovery with a checkpoint that is not clean.
    const cut = old[100]!.physicalOffset;
    const path = join(options.storePathCommitLog, segmentFileName(0));
    const file = readFileSync(path);
    file.fill(0, cut, cut + 1.5 * SEGMENT);
    writeFileSync(path, file);
    writeFileSync(join(options.storePathCommitLog, 'checkpoint'), encodeCheckpoint({ flushedOffset: cut, lastFlushStoreTimestamp: 0, writtenAt: Date.now() }));
    log = await CommitLog.open(options);
    let appended;
    try {
      expect(log.recovery.mode).toBe('normal');
      expect(log.recovery.cutSearchBytes).toBe(Infinity);
      expect(log.maxOffset).toBe(cut);
      // Same-size records: the appends land on the old records' boundaries, past the gap.
      appended = (await log.appendBatch(Array.from({ length: 1500 }, (_, k) => ({ topic: 'stale', body: body(5000 + k) })))).messages;
      expect(appended.at(-1)!.physicalOffset).toBeGreaterThan(cut + 1.5 * SEGMENT);
    } finally {
      await log.close();
    }
    log = await CommitLog.open(options);
    try {
      let count = 0;
      for await (const m of log.scan()) {
        const expected = count < 100 ? body(count) : body(5000 + count - 100);
        expect(m.body.equals(expected), `message ${count}`).toBe(true);
        count += 1;
      }
      expect(count).toBe(100 + 1500);
    } finally {
      await log.close();
    }
  });
});
