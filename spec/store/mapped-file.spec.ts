/**
 * The MappedFile contract, run over both write strategies (one suite, two
 * implementations): positions, reads, durability through a separate
 * descriptor, reopen, pool exhaustion, destroy under a reader, errors.
 */
import { existsSync, openSync, readSync, closeSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteMode } from '../../lib/config.js';
import { realNativeIO } from '../../lib/native/index.js';
import { MappedFile } from '../../lib/store/mapped-file.js';
import { TransientStorePool } from '../../lib/store/transient-store-pool.js';
import { writeStrategyFactory } from '../../lib/strategy/index.js';
import { expectCode } from '../helpers/expect-code.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const native = realNativeIO();
const SEGMENT = 64 * 1024;
const PAGE = 4096;

/** Reads a file's bytes with plain fs through a descriptor of its own. */
function readFromDisk(path: string, position: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, position);
    return out;
  } finally {
    closeSync(fd);
  }
}

function pattern(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe.each<WriteMode>(['mapped', 'direct'])('MappedFile contract (%s)', (mode) => {
  let dir: ReturnType<typeof makeTmpDir>;
  let pool: TransientStorePool | undefined;
  const opened: MappedFile[] = [];

  async function factory(poolSize = 2) {
    if (mode === 'direct') {
      pool = await TransientStorePool.create({ native, poolSize, bufferSizeBytes: SEGMENT, lock: false });
    }
    return writeStrategyFactory({ mode, ...(pool ? { pool } : {}) });
  }

  async function create(fileFromOffset = 0, strategyFactory?: Awaited<ReturnType<typeof factory>>) {
    const file = await MappedFile.create({
      native,
      directory: dir.path,
      fileFromOffset,
      fileSizeBytes: SEGMENT,
      strategyFactory: strategyFactory ?? (await factory()),
    });
    opened.push(file);
    return file;
  }

  /** Makes appended bytes readable in either mode. */
  async function commitAll(file: MappedFile) {
    await file.commit(0);
  }

  beforeEach(() => {
    dir = makeTmpDir();
    pool = undefined;
  });

  afterEach(async () => {
    for (const file of opened.splice(0)) await file.close();
    await pool?.destroy();
    dir.cleanup();
  });

  it('creates a segment of the fixed size named by its 20-digit start offset', async () => {
    const file = await create(SEGMENT * 3);
    expect(file.fileName).toBe('00000000000000196608');
    expect(statSync(join(dir.path, file.fileName)).size).toBe(SEGMENT);
    expect([file.wrotePosition, file.committedPosition, file.flushedPosition]).toEqual([0, 0, 0]);
    expect(file.writeMode).toBe(mode);
  });

  it('moves wrote, committed and flushed in order through append, commit, flush', async () => {
    const file = await create();
    const a = pattern(1000, 1);
    expect(file.append(a)).toBe(0);
    expect(file.wrotePosition).toBe(1000);
    expect(file.committedPosition).toBe(mode === 'mapped' ? 1000 : 0);
    expect(file.readPosition).toBe(file.committedPosition);
    expect(await file.commit(0)).toBe(1000);
    expect(file.committedPosition).toBe(1000);
    expect(file.flushedPosition).toBe(0);
    expect(await file.flush(0)).toBe(1000);
    expect(file.flushedPosition).toBe(1000);
  });

  it('appends a batch in one call and returns each position', async () => {
    const file = await create();
    const parts = [pattern(10, 1), pattern(20, 2), pattern(30, 3)];
    expect(file.appendBatch(parts)).toEqual([0, 10, 30]);
    expect(file.wrotePosition).toBe(60);
    await commitAll(file);
    expect(file.read(0, 60)).toEqual(Buffer.concat(parts));
  });

  it('applies the least-pages rule to commit and flush', async () => {
    const file = await create();
    file.append(pattern(PAGE + 100, 1)); // crosses one page boundary
    expect(await file.commit(2)).toBe(mode === 'mapped' ? PAGE + 100 : 0);
    expect(await file.commit(1)).toBe(PAGE + 100);
    expect(await file.flush(2)).toBe(0);
    // A least-pages flush stops at the last whole page; the writer's page is left alone.
    expect(await file.flush(1)).toBe(PAGE);
    file.append(pattern(10, 2)); // same page: no boundary crossed
    await file.commit(0);
    expect(await file.flush(1)).toBe(PAGE);
    expect(await file.flush(0)).toBe(PAGE + 110);
  });

  it('flushes a full segment even below least pages', async () => {
    const file = await create();
    file.append(pattern(SEGMENT - 10, 1));
    await file.commit(0);
    await file.flush(0);
    file.append(pattern(10, 2));
    expect(file.isFull).toBe(true);
    expect(await file.commit(1000)).toBe(SEGMENT);
    expect(await file.flush(1000)).toBe(SEGMENT);
  });

  it('never reads past the read position', async () => {
    const file = await create();
    file.append(pattern(100, 1));
    if (mode === 'direct') {
      await expectCode(() => file.read(0, 1), 'ERR_BAD_OFFSET');
      await file.commit(0);
    }
    expect(file.read(0, 100)).toEqual(pattern(100, 1));
    await expectCode(() => file.read(0, 101), 'ERR_BAD_OFFSET');
    await expectCode(() => file.read(-1, 10), 'ERR_BAD_OFFSET');
    await expectCode(() => file.withView(99, 2, () => 0), 'ERR_BAD_OFFSET');
  });

  it('puts flushed bytes in the file, as read with plain fs from another descriptor', async () => {
    const file = await create();
    const bytes = pattern(3 * PAGE + 7, 9);
    file.append(bytes);
    await file.commit(0);
    await file.flush(0);
    expect(readFromDisk(file.path, 0, bytes.length)).toEqual(bytes);
    // Nothing beyond the data: the rest of the segment is zero.
    expect(readFromDisk(file.path, bytes.length, 64).every((b) => b === 0)).toBe(true);
  });

  it('reopens an existing segment with its contents', async () => {
    const strategyFactory = await factory();
    const file = await create(0, strategyFactory);
    const bytes = pattern(5000, 3);
    file.append(bytes);
    await file.commit(0);
    await file.flush(0);
    await file.close();
    const again = await MappedFile.open({ native, directory: dir.path, fileFromOffset: 0, fileSizeBytes: SEGMENT, strategyFactory });
    opened.push(again);
    expect(again.wrotePosition).toBe(SEGMENT);
    expect(again.read(0, 5000)).toEqual(bytes);
    await again.truncateTo(5000);
    expect([again.wrotePosition, again.committedPosition, again.flushedPosition]).toEqual([5000, 5000, 5000]);
    again.append(pattern(100, 4));
    await again.commit(0);
    await again.flush(0);
    expect(readFromDisk(again.path, 0, 5100)).toEqual(Buffer.concat([bytes, pattern(100, 4)]));
  });

  it('zeroes the bytes cut by truncateTo', async () => {
    const file = await create();
    file.append(pattern(3000, 5));
    await file.commit(0);
    await file.flush(0);
    await file.truncateTo(1000);
    await file.close();
    const disk = readFromDisk(join(dir.path, file.fileName), 0, 3000);
    expect(disk.subarray(0, 1000)).toEqual(pattern(1000, 5));
    expect(disk.subarray(1000).every((b) => b === 0)).toBe(true);
  });

  it('rejects a segment of the wrong size on open, and a wrong geometry', async () => {
    const strategyFactory = await factory();
    writeFileSync(join(dir.path, '00000000000000000000'), Buffer.alloc(SEGMENT - PAGE));
    await expectCode(
      () => MappedFile.open({ native, directory: dir.path, fileFromOffset: 0, fileSizeBytes: SEGMENT, strategyFactory }),
      'ERR_SEGMENT_INVALID',
    );
    await expectCode(
      () => MappedFile.create({ native, directory: dir.path, fileFromOffset: 0, fileSizeBytes: SEGMENT, strategyFactory }),
      'ERR_SEGMENT_INVALID',
    );
    await expectCode(
      () => MappedFile.create({ native, directory: dir.path, fileFromOffset: 100, fileSizeBytes: SEGMENT, strategyFactory }),
      'ERR_INVALID_ARGUMENT',
    );
    await expectCode(
      () => MappedFile.create({ native, directory: dir.path, fileFromOffset: 0, fileSizeBytes: 1000, strategyFactory }),
      'ERR_INVALID_ARGUMENT',
    );
    // The rejected file is untouched.
    expect(statSync(join(dir.path, '00000000000000000000')).size).toBe(SEGMENT - PAGE);
  });

  it('refuses an append past the end and keeps what was written', async () => {
    const file = await create();
    file.append(pattern(SEGMENT - 5, 1));
    await expectCode(() => file.append(pattern(6, 2)), 'ERR_SEGMENT_FULL');
    await expectCode(() => file.appendBatch([pattern(3, 2), pattern(3, 3)]), 'ERR_SEGMENT_FULL');
    expect(file.wrotePosition).toBe(SEGMENT - 5);
    file.append(pattern(5, 2));
    expect(file.isFull).toBe(true);
    await commitAll(file);
    expect(file.read(0, SEGMENT - 5)).toEqual(pattern(SEGMENT - 5, 1));
  });

  it('rejects use after close with ERR_CLOSED', async () => {
    const file = await create();
    file.append(pattern(10, 1));
    await commitAll(file);
    await file.close();
    await expectCode(() => file.append(pattern(1, 1)), 'ERR_CLOSED');
    await expectCode(() => file.read(0, 1), 'ERR_CLOSED');
    await expectCode(() => file.flush(0), 'ERR_CLOSED');
    await expectCode(() => file.commit(0), 'ERR_CLOSED');
    expect(file.hold()).toBe(false);
    await file.close(); // idempotent
  });

  it('keeps a held view valid during destroy, deletes the file after release', async () => {
    const file = await create();
    file.append(pattern(200, 7));
    await commitAll(file);
    expect(file.hold()).toBe(true);
    const view = file.readableView();
    const destroyed = file.destroy();
    expect(file.hold()).toBe(false); // no new readers once destroy started
    await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(file.path)).toBe(true);
    expect(view.subarray(0, 200)).toEqual(pattern(200, 7));
    file.release();
    await destroyed;
    expect(existsSync(file.path)).toBe(false);
    // The stale view reads zeros; touching it does not crash the process.
    expect(view[0]).toBe(0);
    view[0] = 1;
    opened.splice(opened.indexOf(file), 1);
  });

  it('releases the mapping after the deadline even if a reader never lets go', async () => {
    const file = await create();
    file.append(pattern(50, 7));
    await commitAll(file);
    file.hold();
    const view = file.readableView();
    await file.destroy();
    expect(existsSync(file.path)).toBe(false);
    expect(view.subarray(0, 50).every((b) => b === 0)).toBe(true);
    opened.splice(opened.indexOf(file), 1);
  });

  it('keeps a view valid for an async callback', async () => {
    const file = await create();
    file.append(pattern(64, 2));
    await commitAll(file);
    const closing = await file.withView(0, 64, async (view) => {
      const close = file.close();
      await new Promise((r) => setTimeout(r, 10));
      return { copy: Buffer.from(view), close };
    });
    await closing.close;
    expect(closing.copy).toEqual(pattern(64, 2));
    opened.splice(opened.indexOf(file), 1);
  });

  it('pre-faults the segment off the JS thread', async () => {
    const file = await create();
    await file.warm();
    if (mode === 'mapped') expect(file.residentBytes()).toBe(SEGMENT);
    file.append(pattern(10, 1));
    expect(file.wrotePosition).toBe(10);
  });
});

describe('TransientStorePool', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  beforeEach(() => {
    dir = makeTmpDir();
  });
  afterEach(() => dir.cleanup());

  it('lends page-aligned buffers of segment size and reports exhaustion', async () => {
    const pool = await TransientStorePool.create({ native, poolSize: 2, bufferSizeBytes: SEGMENT, lock: true });
    try {
      await pool.whenPrepared();
      expect(['locked', 'refused']).toContain(pool.lockStatus);
      const a = pool.borrowBuffer();
      const b = pool.borrowBuffer();
      expect(a.length).toBe(SEGMENT);
      expect(a.byteOffset % PAGE).toBe(0);
      expect(pool.availableBufferCount).toBe(0);
      await expectCode(() => pool.borrowBuffer(), 'ERR_POOL_EXHAUSTED');
      pool.returnBuffer(a);
      expect(pool.availableBufferCount).toBe(1);
      expect(pool.borrowBuffer()).toBe(a);
      pool.returnBuffer(a);
      pool.returnBuffer(b);
    } finally {
      await pool.destroy();
    }
    await expectCode(() => pool.borrowBuffer(), 'ERR_CLOSED');
  });

  it('makes a direct-mode segment fail with ERR_POOL_EXHAUSTED, never fall back to mapped writes', async () => {
    const pool = await TransientStorePool.create({ native, poolSize: 1, bufferSizeBytes: SEGMENT, lock: false });
    const strategyFactory = writeStrategyFactory({ mode: 'direct', pool });
    const first = await MappedFile.create({ native, directory: dir.path, fileFromOffset: 0, fileSizeBytes: SEGMENT, strategyFactory });
    const second = await MappedFile.create({ native, directory: dir.path, fileFromOffset: SEGMENT, fileSizeBytes: SEGMENT, strategyFactory });
    try {
      first.append(pattern(10, 1));
      await expectCode(() => second.append(pattern(10, 1)), 'ERR_POOL_EXHAUSTED');
      expect(second.wrotePosition).toBe(0);
      expect(second.writeMode).toBe('direct');
      // Filling and committing the first segment hands its buffer back.
      first.append(pattern(SEGMENT - 10, 2));
      await first.commit(0);
      expect(pool.availableBufferCount).toBe(1);
      second.append(pattern(10, 3));
      await second.commit(0);
      expect(second.read(0, 10)).toEqual(pattern(10, 3));
    } finally {
      await first.close();
      await second.close();
      await pool.destroy();
    }
  });
});

describe('a real 1 GiB segment', () => {
  it('appends at both ends, flushes, and reads the bytes back from disk', async () => {
    const dir = makeTmpDir();
    const GiB = 1024 * 1024 * 1024;
    const file = await MappedFile.create({
      native,
      directory: dir.path,
      fileFromOffset: GiB,
      fileSizeBytes: GiB,
      strategyFactory: writeStrategyFactory({ mode: 'mapped' }),
    });
    try {
      expect(file.fileName).toBe('00000000001073741824');
      const head = pattern(4096, 1);
      file.append(head);
      file.advance(GiB - 8192 - file.wrotePosition + 4096); // skip ahead without touching the middle pages
      const tail = pattern(4096, 2);
      file.append(tail);
      expect(file.isFull).toBe(true);
      expect(await file.flush(0)).toBe(GiB);
      expect(readFromDisk(file.path, 0, 4096)).toEqual(head);
      expect(readFromDisk(file.path, GiB - 4096, 4096)).toEqual(tail);
      expect(statSync(file.path).size).toBe(GiB);
    } finally {
      await file.close();
      dir.cleanup();
    }
  });
});
