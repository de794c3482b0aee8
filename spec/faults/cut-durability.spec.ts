/**
 * A cut (recovery's truncation) must be durable: cut records may not come
 * back after a power cut, and segments deleted past the cut may not either.
 * Both run on the fault twin, which keeps only what was synced.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { WriteMode } from '../../lib/config.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { MappedFile } from '../../lib/store/mapped-file.js';
import { MappedFileQueue } from '../../lib/store/mapped-file-queue.js';
import { useTwinSegments } from '../helpers/twin-segments.js';

const SEGMENT = 64 * 1024;
const PAGE = 4096;

describe.each<WriteMode>(['mapped', 'direct'])('durable cuts (%s)', (mode) => {
  const twin = useTwinSegments(mode, SEGMENT, 3);

  it('zeroes cut bytes durably: they do not come back after a power cut', async () => {
    const file = await MappedFile.create({ native: twin.io, directory: twin.dir.path, fileFromOffset: 0, fileSizeBytes: SEGMENT, strategyFactory: twin.strategyFactory() });
    file.append(Buffer.alloc(3 * PAGE, 0xaa));
    await file.commit(0);
    await file.flush(0);
    await file.truncateTo(100);
    file.append(Buffer.alloc(50, 0xbb));
    await file.commit(0);
    await file.flush(0);
    await file.close();
    await twin.io.crash();
    const disk = readFileSync(join(twin.dir.path, segmentFileName(0)));
    expect(disk.subarray(0, 100).every((b) => b === 0xaa)).toBe(true);
    expect(disk.subarray(100, 150).every((b) => b === 0xbb)).toBe(true);
    expect(disk.subarray(150, 3 * PAGE).every((b) => b === 0)).toBe(true);
  });

  it('deletes segments past a cut durably: they do not come back after a power cut', async () => {
    const queue = new MappedFileQueue({ native: twin.io, directory: twin.dir.path, fileSizeBytes: SEGMENT, strategyFactory: twin.strategyFactory(), warm: false });
    const first = await queue.lastMappedFileForAppend();
    first.append(Buffer.alloc(SEGMENT, 1));
    await queue.commit(0);
    const second = await queue.lastMappedFileForAppend();
    second.append(Buffer.alloc(1000, 2));
    await queue.commit(0);
    await queue.flush(0);
    await queue.truncateDirtyFiles(SEGMENT - 1000);
    expect(existsSync(join(twin.dir.path, segmentFileName(SEGMENT)))).toBe(false);
    await queue.close();
    await twin.io.crash();
    expect(existsSync(join(twin.dir.path, segmentFileName(SEGMENT)))).toBe(false);
    const disk = readFileSync(join(twin.dir.path, segmentFileName(0)));
    expect(disk.subarray(SEGMENT - 1000).every((b) => b === 0)).toBe(true);
  });
});
