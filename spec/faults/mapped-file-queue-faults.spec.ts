/**
 * MappedFileQueue and its allocation service on the fault-injecting twin: a
 * full disk at the background allocation, and a power cut at every point of
 * the metadata journal followed by a load of the crashed directory.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteMode } from '../../lib/config.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { MappedFileQueue } from '../../lib/store/mapped-file-queue.js';
import { TransientStorePool } from '../../lib/store/transient-store-pool.js';
import { writeStrategyFactory } from '../../lib/strategy/index.js';
import { expectCode } from '../helpers/expect-code.js';
import { FaultNativeIO } from '../helpers/fault-native-io.js';
import { seededRandomForTest } from '../helpers/seeded-random.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const SEGMENT = 16 * 1024;
const CHUNK = 4000;

function chunk(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) out[i] = ((i * 7 + seed * 13) & 0xff) | 1; // never zero
  return out;
}

/** Appends `bytes`, rolling when they do not fit (the CommitLog would write a blank record there). */
async function appendRolling(queue: MappedFileQueue, bytes: Buffer): Promise<number> {
  let file = await queue.lastMappedFileForAppend();
  if (file.remainingBytes < bytes.length) {
    file.advance(file.remainingBytes);
    file = await queue.lastMappedFileForAppend();
  }
  return file.fileFromOffset + file.append(bytes);
}

describe.each<WriteMode>(['mapped', 'direct'])('MappedFileQueue under faults (%s)', (mode) => {
  let dir: ReturnType<typeof makeTmpDir>;
  let io: FaultNativeIO;
  let pool: TransientStorePool | undefined;
  const queues: MappedFileQueue[] = [];

  async function makeQueue(directory = dir.path): Promise<MappedFileQueue> {
    if (mode === 'direct' && pool === undefined) {
      pool = await TransientStorePool.create({ native: io, poolSize: 4, bufferSizeBytes: SEGMENT, lock: false });
    }
    const queue = new MappedFileQueue({
      native: io,
      directory,
      fileSizeBytes: SEGMENT,
      strategyFactory: writeStrategyFactory({ mode, ...(pool ? { pool } : {}) }),
      warm: true,
    });
    queues.push(queue);
    return queue;
  }

  beforeEach(() => {
    dir = makeTmpDir('mc-queue-faults-');
    io = new FaultNativeIO({ random: seededRandomForTest() });
    pool = undefined;
  });

  afterEach(async () => {
    for (const queue of queues.splice(0)) await queue.close();
    await pool?.destroy();
    dir.cleanup();
  });

  it('rejects the roll with ERR_DISK_FULL when the background allocation hits ENOSPC, keeping the data before it', async () => {
    // fallocate 1 sizes the first segment, 2 the one the service prepares behind it.
    io.failOn('fallocate', { nth: 2, errno: 'ENOSPC' });
    const queue = await makeQueue();
    const written = [chunk(CHUNK, 1), chunk(CHUNK, 2), chunk(CHUNK, 3), chunk(CHUNK, 4)];
    for (const bytes of written) await appendRolling(queue, bytes);
    const first = queue.lastMappedFile!;
    first.advance(first.remainingBytes); // full: the next append must roll
    await queue.commit(0);
    await queue.flush(0);

    const error = await expectCode(() => queue.lastMappedFileForAppend(), 'ERR_DISK_FULL');
    expect(error).toMatchObject({ errno: 28, errnoCode: 'ENOSPC', syscall: 'fallocate' });
    expect(queue.segmentCount).toBe(1);
    expect(existsSync(join(dir.path, segmentFileName(SEGMENT)))).toBe(false); // the failed segment was removed
    expect(first.read(0, 4 * CHUNK)).toEqual(Buffer.concat(written));
    expect(readFileSync(first.path).subarray(0, 4 * CHUNK)).toEqual(Buffer.concat(written));
    expect(queue.flushedWhere).toBe(SEGMENT);

    // Room again: the next roll creates the segment in the foreground.
    const next = await queue.lastMappedFileForAppend();
    expect(next.fileFromOffset).toBe(SEGMENT);
    expect(queue.segmentCount).toBe(2);
  });

  it('loads the crashed directory at every prefix of the metadata journal, flushed segments intact', async () => {
    const written = Array.from({ length: 10 }, (_, i) => chunk(CHUNK, i)); // 4 per segment: two full segments and a half
    let prefixes = 0;
    for (let keep = 0; keep <= prefixes; keep += 1) {
      const directory = join(dir.path, `run-${keep}`);
      mkdirSync(directory);
      const queue = await makeQueue(directory);
      const offsets: number[] = [];
      for (const bytes of written.slice(0, 8)) offsets.push(await appendRolling(queue, bytes));
      await queue.commit(0);
      await queue.flush(0);
      const flushedWhere = queue.flushedWhere;
      for (const bytes of written.slice(8)) offsets.push(await appendRolling(queue, bytes)); // rolls into the third segment
      await queue.commit(0); // direct: in the page cache, never synced
      await queue.close();
      queues.splice(queues.indexOf(queue), 1);

      const report = await io.crash({ unsyncedMetadata: keep });
      prefixes = report.metadataOpsKept + report.metadataOpsDropped;
      const context = `keeping ${keep} of ${prefixes} metadata operations: ${JSON.stringify(readdirSync(directory))}`;

      const loaded = await makeQueue(directory);
      await loaded.load();
      expect(loaded.segmentCount, context).toBeGreaterThanOrEqual(2);
      expect(loaded.segments.map((file) => file.fileFromOffset), context).toEqual(loaded.segments.map((_, index) => index * SEGMENT));
      for (const [index, bytes] of written.slice(0, 8).entries()) {
        const offset = offsets[index]!;
        expect(offset + bytes.length, context).toBeLessThanOrEqual(flushedWhere);
        const file = loaded.findMappedFileByOffset(offset)!;
        expect(file.read(offset - file.fileFromOffset, bytes.length), `${context}, chunk ${index}`).toEqual(bytes);
      }
      // Whatever segment survived beyond the flushed ones holds nothing: its data was never synced.
      for (const file of loaded.segments.slice(2)) expect(file.read(0, SEGMENT).every((b) => b === 0), context).toBe(true);
      await loaded.close();
      queues.splice(queues.indexOf(loaded), 1);
      await io.crash(); // nothing pending: the next run starts clean
    }
    // Segment creation and deletion fsync the directory, so no metadata operation is left to chance.
    expect(prefixes).toBe(0);
  });
});
