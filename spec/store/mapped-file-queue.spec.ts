/** MappedFileQueue and its allocation service over tiny segments, in both write modes. */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteMode } from '../../lib/config.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { realNativeIO } from '../../lib/native/index.js';
import { MappedFile } from '../../lib/store/mapped-file.js';
import { MappedFileQueue } from '../../lib/store/mapped-file-queue.js';
import { TransientStorePool } from '../../lib/store/transient-store-pool.js';
import { writeStrategyFactory } from '../../lib/strategy/index.js';
import { expectCode } from '../helpers/expect-code.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const native = realNativeIO();
const SEGMENT = 16 * 1024;

function chunk(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) out[i] = (i * 7 + seed * 13 + 1) & 0xff;
  return out;
}

/** Appends `bytes` to the queue, rolling when it does not fit (no blank records at this layer). */
async function appendRolling(queue: MappedFileQueue, bytes: Buffer): Promise<number> {
  let file = await queue.lastMappedFileForAppend();
  if (file.remainingBytes < bytes.length) {
    file.advance(file.remainingBytes); // stand-in for the blank record the CommitLog writes
    file = await queue.lastMappedFileForAppend();
  }
  return file.fileFromOffset + file.append(bytes);
}

describe.each<WriteMode>(['mapped', 'direct'])('MappedFileQueue (%s)', (mode) => {
  let dir: ReturnType<typeof makeTmpDir>;
  let pool: TransientStorePool | undefined;
  const queues: MappedFileQueue[] = [];

  async function makeQueue(warm = true) {
    if (mode === 'direct' && pool === undefined) {
      pool = await TransientStorePool.create({ native, poolSize: 4, bufferSizeBytes: SEGMENT, lock: false });
    }
    const queue = new MappedFileQueue({
      native,
      directory: dir.path,
      fileSizeBytes: SEGMENT,
      strategyFactory: writeStrategyFactory({ mode, ...(pool ? { pool } : {}) }),
      warm,
    });
    queues.push(queue);
    return queue;
  }

  /** Commits and flushes everything, rolling or not. */
  async function settle(queue: MappedFileQueue) {
    await queue.commit(0);
    await queue.flush(0);
  }

  beforeEach(() => {
    dir = makeTmpDir();
    pool = undefined;
  });
  afterEach(async () => {
    for (const queue of queues.splice(0)) await queue.close();
    await pool?.destroy();
    dir.cleanup();
  });

  it('rolls across many segments, each created at the right offset', async () => {
    const queue = await makeQueue();
    const offsets: number[] = [];
    for (let i = 0; i < 40; i += 1) {
      offsets.push(await appendRolling(queue, chunk(3000, i)));
      await queue.commit(0); // direct mode: commits hand full segments' pool buffers back
    }
    expect(queue.segmentCount).toBe(Math.ceil(40 / 5));
    expect(queue.segments.map((f) => f.fileFromOffset)).toEqual(queue.segments.map((_, i) => i * SEGMENT));
    expect(offsets[5]).toBe(SEGMENT); // five 3000-byte chunks fit a 16 KiB segment
    await settle(queue);
    for (const [i, offset] of offsets.entries()) {
      const file = queue.findMappedFileByOffset(offset)!;
      expect(file.read(offset - file.fileFromOffset, 3000)).toEqual(chunk(3000, i));
    }
    expect(queue.maxWroteOffset).toBe(offsets[39]! + 3000);
    expect(queue.mappedBytes).toBe(queue.segmentCount * SEGMENT);
  });

  it('finds the segment of every boundary offset', async () => {
    const queue = await makeQueue();
    for (let i = 0; i < 4 * (SEGMENT / 4096); i += 1) await appendRolling(queue, chunk(4096, i));
    expect(queue.segmentCount).toBe(4);
    for (let index = 0; index < 4; index += 1) {
      const start = index * SEGMENT;
      expect(queue.findMappedFileByOffset(start)!.fileFromOffset).toBe(start);
      expect(queue.findMappedFileByOffset(start + SEGMENT - 1)!.fileFromOffset).toBe(start);
    }
    expect(queue.findMappedFileByOffset(4 * SEGMENT)).toBeUndefined();
    expect(queue.findMappedFileByOffset(-1)).toBeUndefined();
    await settle(queue); // only durable segments may be deleted
    await queue.deleteExpiredFileByOffset(SEGMENT);
    expect(queue.findMappedFileByOffset(100)).toBeUndefined();
    expect(queue.findMappedFileByOffset(100, true)!.fileFromOffset).toBe(SEGMENT);
    expect(queue.minOffset).toBe(SEGMENT);
  });

  it('commits and flushes across segment boundaries in one call', async () => {
    const queue = await makeQueue();
    for (let i = 0; i < 10; i += 1) await appendRolling(queue, chunk(4000, i)); // 4 per segment
    await queue.commit(0);
    expect(queue.committedWhere).toBe(queue.maxWroteOffset);
    expect(queue.remainingBytesToCommit).toBe(0);
    expect(queue.remainingBytesToFlush).toBe(queue.maxWroteOffset);
    expect(await queue.flush(0)).toBe(true);
    expect(queue.flushedWhere).toBe(queue.maxWroteOffset);
    expect(await queue.flush(0)).toBe(false); // nothing moved: reported plainly
    for (const file of queue.segments) expect(file.flushedPosition).toBe(file.wrotePosition);
    // Bytes are in the files, read back with plain fs.
    const second = readFileSync(join(dir.path, segmentFileName(SEGMENT)));
    expect(second.subarray(0, 4000)).toEqual(chunk(4000, 4));
  });

  it('respects least pages across segments', async () => {
    const queue = await makeQueue();
    await appendRolling(queue, chunk(100, 1));
    await queue.commit(0);
    expect(await queue.flush(1)).toBe(false);
    expect(queue.flushedWhere).toBe(0);
    await appendRolling(queue, chunk(8200, 2)); // 8300 bytes: two page boundaries crossed
    await queue.commit(0);
    expect(await queue.flush(3)).toBe(false);
    expect(await queue.flush(2)).toBe(true);
    expect(queue.flushedWhere).toBe(8192); // whole pages only
    expect(await queue.flush(0)).toBe(true);
    expect(queue.flushedWhere).toBe(8300);
  });

  it('loads after a clean close with every byte and offset', async () => {
    const first = await makeQueue();
    for (let i = 0; i < 12; i += 1) await appendRolling(first, chunk(5000, i));
    await settle(first);
    const end = first.maxWroteOffset;
    await first.close();
    queues.splice(queues.indexOf(first), 1);
    // The segment prepared ahead and never used is gone.
    expect(readdirSync(dir.path).sort()).toEqual([0, 1, 2, 3].map((i) => segmentFileName(i * SEGMENT)));

    const queue = await makeQueue();
    await queue.load();
    expect(queue.segmentCount).toBe(4);
    await queue.truncateDirtyFiles(end); // what recovery decides
    expect(queue.maxWroteOffset).toBe(end);
    expect(queue.flushedWhere).toBe(end);
    const file = queue.findMappedFileByOffset(end - 1)!;
    expect(file.read(end - 5000 - file.fileFromOffset, 5000)).toEqual(chunk(5000, 11));
    expect(await appendRolling(queue, chunk(10, 99))).toBe(end);
  });

  it('loads after a crash: a zero-length last file is removed, a pre-allocated empty one is cut', async () => {
    const first = await makeQueue();
    for (let i = 0; i < 3; i += 1) await appendRolling(first, chunk(5000, i));
    await settle(first);
    const end = first.maxWroteOffset;
    for (const file of first.segments) await file.close(); // a crash: the allocator's file stays behind
    await new Promise((r) => setTimeout(r, 50));
    const preallocated = segmentFileName(SEGMENT);
    expect(existsSync(join(dir.path, preallocated))).toBe(true);
    writeFileSync(join(dir.path, segmentFileName(2 * SEGMENT)), Buffer.alloc(0)); // created, never sized

    const queue = await makeQueue();
    await queue.load();
    expect(existsSync(join(dir.path, segmentFileName(2 * SEGMENT)))).toBe(false);
    expect(queue.segmentCount).toBe(2);
    await queue.truncateDirtyFiles(end);
    expect(queue.segmentCount).toBe(1);
    expect(existsSync(join(dir.path, preallocated))).toBe(false);
    expect(queue.maxWroteOffset).toBe(end);
    queues.splice(queues.indexOf(first), 1);
  });

  it('truncates a dirty tail: zeroes the cut bytes and deletes later segments', async () => {
    const queue = await makeQueue();
    for (let i = 0; i < 8; i += 1) await appendRolling(queue, chunk(4096, i));
    await settle(queue);
    const cut = SEGMENT + 1000;
    await queue.truncateDirtyFiles(cut);
    expect(queue.segmentCount).toBe(2);
    expect(queue.maxWroteOffset).toBe(cut);
    expect(queue.flushedWhere).toBe(cut);
    const disk = readFileSync(join(dir.path, segmentFileName(SEGMENT)));
    expect(disk.subarray(0, 1000)).toEqual(chunk(4096, 4).subarray(0, 1000));
    expect(disk.subarray(1000).every((b) => b === 0)).toBe(true);
    expect(await appendRolling(queue, chunk(10, 50))).toBe(cut);
  });

  it('deletes expired segments from the head only, never the last, never past a young one', async () => {
    const queue = await makeQueue();
    for (let i = 0; i < 4 * 4; i += 1) await appendRolling(queue, chunk(4096, i));
    const files = queue.segments;
    const now = 1_000_000;
    files[0]!.storeTimestamp = now - 10_000;
    files[1]!.storeTimestamp = now - 100; // young
    files[2]!.storeTimestamp = now - 10_000; // old, but behind a young one
    files[3]!.storeTimestamp = now - 10_000; // old, but the last
    // Not yet flushed: nothing may go, however old.
    expect(await queue.deleteExpiredFileByTime(5_000, now, 10)).toBe(0);
    expect(await queue.deleteExpiredFileByOffset(10 * SEGMENT)).toBe(0);
    await settle(queue);
    expect(await queue.deleteExpiredFileByTime(5_000, now, 10)).toBe(1);
    expect(queue.minOffset).toBe(SEGMENT);
    files[1]!.storeTimestamp = now - 10_000;
    expect(await queue.deleteExpiredFileByTime(5_000, now, 1)).toBe(1); // bounded per call
    expect(await queue.deleteExpiredFileByTime(5_000, now, 10)).toBe(1);
    expect(queue.segmentCount).toBe(1);
    expect(existsSync(join(dir.path, segmentFileName(3 * SEGMENT)))).toBe(true);
    expect(await queue.deleteExpiredFileByOffset(10 * SEGMENT)).toBe(0);
  });

  it('prepares the next segment in the background so rolls do not stall', async () => {
    const queue = await makeQueue();
    await appendRolling(queue, chunk(100, 1)); // first segment: created inline, not a stall
    await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(join(dir.path, segmentFileName(SEGMENT)))).toBe(true);
    for (let i = 0; i < 3; i += 1) {
      const file = queue.lastMappedFile!;
      file.advance(file.remainingBytes);
      await queue.commit(0);
      await queue.lastMappedFileForAppend();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(queue.segmentCount).toBe(4);
    expect(queue.allocationStalls).toBe(0);
    expect(queue.lastAllocationMs).toBeGreaterThan(0);
  });

  it('counts a stall when a roll outruns the allocation service', async () => {
    const queue = await makeQueue();
    await appendRolling(queue, chunk(100, 1));
    const file = queue.lastMappedFile!;
    file.advance(file.remainingBytes);
    // No turn of the event loop since the first segment was adopted: the
    // background creation (fallocate on the thread pool) cannot have finished.
    await queue.lastMappedFileForAppend();
    expect(queue.allocationStalls).toBe(1);
    expect(queue.segmentCount).toBe(2);
  });
});

describe('MappedFileQueue load errors', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  beforeEach(() => {
    dir = makeTmpDir();
  });
  afterEach(() => dir.cleanup());

  const queue = () =>
    new MappedFileQueue({ native, directory: dir.path, fileSizeBytes: SEGMENT, strategyFactory: writeStrategyFactory({ mode: 'mapped' }), warm: false });

  it('rejects a segment of the wrong size and changes nothing', async () => {
    writeFileSync(join(dir.path, segmentFileName(0)), Buffer.alloc(SEGMENT, 1));
    writeFileSync(join(dir.path, segmentFileName(SEGMENT)), Buffer.alloc(SEGMENT - 1, 2));
    const err = await expectCode(() => queue().load(), 'ERR_SEGMENT_INVALID');
    expect(err.message).toContain(segmentFileName(SEGMENT));
    expect(statSync(join(dir.path, segmentFileName(SEGMENT))).size).toBe(SEGMENT - 1);
    expect(readFileSync(join(dir.path, segmentFileName(0)))).toEqual(Buffer.alloc(SEGMENT, 1));
  });

  it('rejects a zero-length file that is not the last', async () => {
    writeFileSync(join(dir.path, segmentFileName(0)), Buffer.alloc(0));
    writeFileSync(join(dir.path, segmentFileName(SEGMENT)), Buffer.alloc(SEGMENT));
    await expectCode(() => queue().load(), 'ERR_SEGMENT_INVALID');
  });

  it('rejects a gap between segments', async () => {
    writeFileSync(join(dir.path, segmentFileName(0)), Buffer.alloc(SEGMENT));
    writeFileSync(join(dir.path, segmentFileName(2 * SEGMENT)), Buffer.alloc(SEGMENT));
    await expectCode(() => queue().load(), 'ERR_SEGMENT_INVALID');
  });

  it('rejects a misaligned segment name', async () => {
    writeFileSync(join(dir.path, segmentFileName(100)), Buffer.alloc(SEGMENT));
    await expectCode(() => queue().load(), 'ERR_SEGMENT_INVALID');
  });

  it('ignores files that are not segments and starts empty', async () => {
    writeFileSync(join(dir.path, 'notes.txt'), 'hello');
    const q = queue();
    await q.load();
    expect(q.segmentCount).toBe(0);
    expect(q.maxWroteOffset).toBe(0);
    const file = await q.lastMappedFileForAppend(5 * SEGMENT + 10);
    expect(file).toBeInstanceOf(MappedFile);
    expect(file.fileFromOffset).toBe(5 * SEGMENT);
    await q.close();
  });
});

describe('MappedFileQueue commit/flush while appends fill segments', () => {
  it('walks on into a segment that filled up during its own await', async () => {
    const dir = makeTmpDir();
    const pool = await TransientStorePool.create({ native, poolSize: 4, bufferSizeBytes: SEGMENT, lock: false });
    const queue = new MappedFileQueue({ native, directory: dir.path, fileSizeBytes: SEGMENT, strategyFactory: writeStrategyFactory({ mode: 'direct', pool }), warm: false });
    try {
      // where is 10 bytes before the end of segment 0; end is 50 bytes into segment 1.
      const first = await queue.lastMappedFileForAppend();
      first.append(chunk(SEGMENT - 10, 1));
      await queue.commit(0);
      first.append(chunk(10, 2));
      const second = await queue.lastMappedFileForAppend();
      second.append(chunk(50, 3));
      const committing = queue.commit(0);
      // While that commit awaits its pwrite, segment 1 fills up and the log rolls on.
      second.append(chunk(SEGMENT - 50, 4));
      await queue.lastMappedFileForAppend();
      await committing;
      expect(queue.committedWhere).toBeGreaterThanOrEqual(SEGMENT + 50);
      await queue.commit(0);
      expect(queue.committedWhere).toBe(2 * SEGMENT);
    } finally {
      await queue.close();
      await pool.destroy();
      dir.cleanup();
    }
  });
});
