/**
 * MappedFile and TransientStorePool on the fault-injecting twin: what a power
 * cut keeps in each write mode, and how injected errors surface (code,
 * errno, positions unchanged, a later call succeeding).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteMode } from '../../lib/config.js';
import { MappedFile } from '../../lib/store/mapped-file.js';
import { TransientStorePool } from '../../lib/store/transient-store-pool.js';
import { writeStrategyFactory } from '../../lib/strategy/index.js';
import { expectCode } from '../helpers/expect-code.js';
import { FaultNativeIO, type FaultableCall } from '../helpers/fault-native-io.js';
import { seededRandomForTest } from '../helpers/seeded-random.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const SEGMENT = 64 * 1024;
const PAGE = 4096;

function pattern(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) out[i] = ((i * 31 + seed) & 0xff) | 1; // never zero
  return out;
}

function isZero(bytes: Buffer): boolean {
  return bytes.every((b) => b === 0);
}

/** The call that makes bytes durable in each mode. */
const SYNC_CALL: Record<WriteMode, FaultableCall> = { mapped: 'msync', direct: 'fdatasync' };

describe.each<WriteMode>(['mapped', 'direct'])('MappedFile under faults (%s)', (mode) => {
  let dir: ReturnType<typeof makeTmpDir>;
  let io: FaultNativeIO;
  let pool: TransientStorePool | undefined;
  const opened: MappedFile[] = [];

  async function create(fileFromOffset = 0): Promise<MappedFile> {
    if (mode === 'direct' && pool === undefined) {
      pool = await TransientStorePool.create({ native: io, poolSize: 2, bufferSizeBytes: SEGMENT, lock: false });
    }
    const file = await MappedFile.create({
      native: io,
      directory: dir.path,
      fileFromOffset,
      fileSizeBytes: SEGMENT,
      strategyFactory: writeStrategyFactory({ mode, ...(pool ? { pool } : {}) }),
    });
    opened.push(file);
    return file;
  }

  beforeEach(() => {
    dir = makeTmpDir('mc-faults-');
    io = new FaultNativeIO({ random: seededRandomForTest() });
    pool = undefined;
  });

  afterEach(async () => {
    for (const file of opened.splice(0)) await file.close();
    await pool?.destroy();
    dir.cleanup();
  });

  it('keeps flushed bytes through a crash and loses the rest', async () => {
    const file = await create();
    const durable = pattern(2 * PAGE + 100, 1);
    file.append(durable);
    await file.commit(0);
    expect(await file.flush(0)).toBe(durable.length);
    // Committed (direct: in the page cache) but never flushed: gone after the crash.
    const committed = pattern(3 * PAGE, 2);
    file.append(committed);
    await file.commit(0);
    // Appended, not committed: in direct mode only in the pool buffer; in mapped mode the mapping is the page cache.
    const appended = pattern(500, 3);
    file.append(appended);
    expect(readFileSync(file.path).subarray(durable.length, durable.length + 10)).toEqual(committed.subarray(0, 10));
    await file.close(); // close never flushes: the crash below is the same as abandoning the object

    const report = await io.crash();
    const disk = readFileSync(file.path);
    expect(disk.length).toBe(SEGMENT);
    expect(disk.subarray(0, durable.length)).toEqual(durable);
    expect(isZero(disk.subarray(durable.length))).toBe(true);
    expect(report.files[file.path]!.bytesReverted).toBe(committed.length + (mode === 'mapped' ? appended.length : 0));
  });

  it('loses a page written after the flush that covered it (the sync is not retroactive)', async () => {
    const file = await create();
    file.append(pattern(100, 4));
    await file.commit(0);
    await file.flush(0);
    file.append(pattern(100, 5)); // same page as the flushed bytes
    await file.commit(0);
    await file.close();
    await io.crash();
    const disk = readFileSync(file.path);
    expect(disk.subarray(0, 100)).toEqual(pattern(100, 4));
    expect(isZero(disk.subarray(100, 200))).toBe(true);
  });

  it('reopens the crashed segment on the same twin with the flushed bytes', async () => {
    const file = await create();
    file.append(pattern(PAGE, 6));
    await file.commit(0);
    await file.flush(0);
    file.append(pattern(PAGE, 7));
    await file.commit(0);
    await file.close();
    await io.crash();
    const again = await MappedFile.open({
      native: io,
      directory: dir.path,
      fileFromOffset: 0,
      fileSizeBytes: SEGMENT,
      strategyFactory: writeStrategyFactory({ mode, ...(pool ? { pool } : {}) }),
    });
    opened.push(again);
    expect(again.read(0, PAGE)).toEqual(pattern(PAGE, 6));
    expect(isZero(again.read(PAGE, PAGE))).toBe(true);
  });

  it('a segment created and never flushed survives the crash as zeros (its creation is synced, its data is not)', async () => {
    const file = await create();
    file.append(pattern(PAGE, 8));
    await file.commit(0);
    await file.close();
    await io.crash();
    expect(existsSync(file.path)).toBe(true);
    const disk = readFileSync(file.path);
    expect(disk.length).toBe(SEGMENT);
    expect(disk.every((b) => b === 0)).toBe(true);
  });

  it('rejects create with ERR_DISK_FULL on ENOSPC from fallocate and leaves no file behind', async () => {
    io.failOn('fallocate', { nth: 1, errno: 'ENOSPC' });
    const error = await expectCode(() => create(), 'ERR_DISK_FULL');
    expect(error).toMatchObject({ errno: 28, errnoCode: 'ENOSPC', syscall: 'fallocate' });
    expect(readdirSync(dir.path)).toEqual([]);
    expect(io.calls('closeFile')).toBe(1);
    // The disk has room again: the same segment can be created.
    const file = await create();
    expect(file.wrotePosition).toBe(0);
  });

  it(`rejects flush with ERR_IO on EIO from ${SYNC_CALL[mode]}, keeps flushedPosition, and succeeds later`, async () => {
    const file = await create();
    const bytes = pattern(PAGE + 10, 9);
    file.append(bytes);
    await file.commit(0);
    io.failOn(SYNC_CALL[mode], { nth: 1, errno: 'EIO' });
    const error = await expectCode(() => file.flush(0), 'ERR_IO');
    expect(error).toMatchObject({ errno: 5, errnoCode: 'EIO', syscall: SYNC_CALL[mode] });
    expect(file.flushedPosition).toBe(0);
    expect(file.committedPosition).toBe(bytes.length);
    expect(io.durableImage(file.path)?.every((b) => b === 0)).toBe(true); // the name is synced at creation, no data yet

    io.clearFailures();
    expect(await file.flush(0)).toBe(bytes.length);
    await file.close();
    await io.crash();
    expect(readFileSync(file.path).subarray(0, bytes.length)).toEqual(bytes);
  });

  it('retries an injected EINTR without surfacing it', async () => {
    io.failOn('fallocate', { nth: 1, errno: 'EINTR' });
    io.failOn('openFile', { nth: 1, errno: 'EINTR' });
    const file = await create();
    io.failOn(SYNC_CALL[mode], { nth: 1, errno: 'EINTR' });
    io.failOn('pwrite', { nth: 1, errno: 'EINTR' });
    file.append(pattern(300, 10));
    expect(await file.commit(0)).toBe(300);
    expect(await file.flush(0)).toBe(300);
    expect(io.interruptedRetries).toBe(mode === 'direct' ? 4 : 3);
    await file.close();
    await io.crash();
    expect(readFileSync(file.path).subarray(0, 300)).toEqual(pattern(300, 10));
  });

  if (mode === 'direct') {
    it('rejects commit with ERR_IO on EIO from pwrite, keeps committedPosition, and succeeds later', async () => {
      const file = await create();
      file.append(pattern(2 * PAGE, 11));
      io.failOn('pwrite', { nth: 1, errno: 'EIO' });
      const error = await expectCode(() => file.commit(0), 'ERR_IO');
      expect(error).toMatchObject({ errno: 5, syscall: 'pwrite' });
      expect(file.committedPosition).toBe(0);
      expect(file.wrotePosition).toBe(2 * PAGE);
      await expectCode(() => file.read(0, 1), 'ERR_BAD_OFFSET'); // nothing became readable
      expect(isZero(readFileSync(file.path).subarray(0, 2 * PAGE))).toBe(true); // nothing reached the file

      expect(await file.commit(0)).toBe(2 * PAGE);
      expect(file.read(0, 2 * PAGE)).toEqual(pattern(2 * PAGE, 11));
    });

    it('runs the pool unlocked when mlock is refused, and fails to start on an mmap error', async () => {
      io.failOn('mlock', { nth: 1, errno: 'EPERM' });
      pool = await TransientStorePool.create({ native: io, poolSize: 2, bufferSizeBytes: SEGMENT, lock: true });
      expect(pool.lockStatus).toBe('pending'); // decided in the background
      await pool.whenPrepared();
      expect(pool.lockStatus).toBe('refused');
      expect(io.calls('populateWrite')).toBe(2); // pre-faulted instead
      io.failOn('mapAnonymous', { nth: 2, errno: 'ENOMEM' });
      const before = io.calls('releaseMapping');
      await expectCode(() => TransientStorePool.create({ native: io, poolSize: 2, bufferSizeBytes: SEGMENT, lock: false }), 'ERR_IO');
      expect(io.calls('releaseMapping') - before).toBe(1); // the one buffer it made is released
    });
  }
});
