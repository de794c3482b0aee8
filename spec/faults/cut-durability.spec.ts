/**
 * A cut (recovery's truncation) must be durable: cut records may not come
 * back after a power cut, and segments deleted past the cut may not either.
 * Both run on the fault twin, which keeps only what was synced.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteMode } from '../../lib/config.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { MappedFile } from '../../lib/store/mapped-file.js';
import { MappedFileQueue } from '../../lib/store/mapped-file-queue.js';
import { TransientStorePool } from '../../lib/store/transient-store-pool.js';
import { writeStrategyFactory } from '../../lib/strategy/index.js';
import { FaultNativeIO } from '../helpers/fault-native-io.js';
import { seededRandomForTest } from '../helpers/seeded-random.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const SEGMENT = 64 * 1024;
const PAGE = 4096;

describe.each<WriteMode>(['mapped', 'direct'])('durable cuts (%s)', (mode) => {
  let dir: ReturnType<typeof makeTmpDir>;
  let io: FaultNativeIO;
  let pool: TransientStorePool | undefined;

  beforeEach(async () => {
    dir = makeTmpDir();
    io = new FaultNativeIO({ random: seededRandomForTest() });
    pool = mode === 'direct' ? await TransientStorePool.create({ native: io, poolSize: 3, bufferSizeBytes: SEGMENT, lock: false }) : undefined;
  });
  afterEach(async () => {
    await pool?.destroy();
    dir.cleanup();
  });

  const strategyFactory = () => writeStrategyFactory({ mode, ...(pool ? { pool } : {}) });

  it('zeroes cut bytes durably: they do not come back after a power cut', async () => {
    const file = await MappedFile.create({ native: io, directory: dir.path, fileFromOffset: 0, fileSizeBytes: SEGMENT, strategyFactory: strategyFactory() });
    file.append(Buffer.alloc(3 * PAGE, 0xaa));
    await file.commit(0);
    await file.flush(0);
    await file.truncateTo(100);
    file.append(Buffer.alloc(50, 0xbb));
    await file.commit(0);
    await file.flush(0);
    await file.close();
    await io.crash();
    const disk = readFileSync(join(dir.path, segmentFileName(0)));
    expect(disk.subarray(0, 100).every((b) => b === 0xaa)).toBe(true);
    expect(disk.subarray(100, 150).every((b) => b === 0xbb)).toBe(true);
    expect(disk.subarray(150, 3 * PAGE).every((b) => b === 0)).toBe(true);
  });

  it('deletes segments past a cut durably: they do not come back after a power cut', async () => {
    const queue = new MappedFileQueue({ native: io, directory: dir.path, fileSizeBytes: SEGMENT, strategyFactory: strategyFactory(), warm: false });
    const first = await queue.lastMappedFileForAppend();
    first.append(Buffer.alloc(SEGMENT, 1));
    await queue.commit(0);
    const second = await queue.lastMappedFileForAppend();
    second.append(Buffer.alloc(1000, 2));
    await queue.commit(0);
    await queue.flush(0);
    await queue.truncateDirtyFiles(SEGMENT - 1000);
    expect(existsSync(join(dir.path, segmentFileName(SEGMENT)))).toBe(false);
    await queue.close();
    await io.crash();
    expect(existsSync(join(dir.path, segmentFileName(SEGMENT)))).toBe(false);
    const disk = readFileSync(join(dir.path, segmentFileName(0)));
    expect(disk.subarray(SEGMENT - 1000).every((b) => b === 0)).toBe(true);
  });
});
