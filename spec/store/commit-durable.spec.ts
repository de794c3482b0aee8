/**
 * MappedFile.commitDurable, SYNC_FLUSH's group step in direct mode: one
 * pwrite through an O_DSYNC descriptor instead of a pwrite and an fdatasync.
 * On the fault twin, which keeps after a power cut only what was made
 * durable: an O_DSYNC pwrite makes the bytes it wrote durable and nothing
 * else, so these specs also pin that the write starts at the flushed
 * position (bytes the committer committed meanwhile included), and that
 * every fallback still syncs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { WriteMode } from '../../lib/config.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { MappedFile } from '../../lib/store/mapped-file.js';
import type { FaultableCall } from '../helpers/fault-native-io.js';
import { useTwinSegments } from '../helpers/twin-segments.js';

const SEGMENT = 1024 * 1024;

describe.each<WriteMode>(['direct', 'mapped'])('commitDurable (%s)', (mode) => {
  const twin = useTwinSegments(mode, SEGMENT, 2);
  const createFile = () =>
    MappedFile.create({ native: twin.io, directory: twin.dir.path, fileFromOffset: 0, fileSizeBytes: SEGMENT, strategyFactory: twin.strategyFactory() });

  /** Calls made through the twin while `work` ran. */
  async function counting(work: () => Promise<unknown>): Promise<Record<'pwrite' | 'fdatasync' | 'msync' | 'openDataSyncFile', number>> {
    const names: FaultableCall[] = ['pwrite', 'fdatasync', 'msync', 'openDataSyncFile'];
    const before = names.map((name) => twin.io.calls(name));
    await work();
    return Object.fromEntries(names.map((name, i) => [name, twin.io.calls(name) - before[i]!])) as Record<'pwrite' | 'fdatasync' | 'msync' | 'openDataSyncFile', number>;
  }

  /** The segment as a power cut now leaves it (the file closed first: close never flushes). */
  async function afterPowerCut(file: MappedFile): Promise<Buffer> {
    await file.close();
    await twin.io.crash();
    return readFileSync(join(twin.dir.path, segmentFileName(0)));
  }

  it('makes [flushed, wrote) durable, bytes committed since the last flush included, at unaligned positions', async () => {
    const file = await createFile();
    file.append(Buffer.alloc(1000, 0x11));
    await file.commit(0); // the committer's pwrite: in the page cache, not durable
    file.append(Buffer.alloc(3000, 0x22));
    const first = await counting(async () => expect(await file.commitDurable()).toBe(4000));
    if (mode === 'direct') expect(first).toEqual({ pwrite: 1, fdatasync: 0, msync: 0, openDataSyncFile: 1 });
    expect(file.flushedPosition).toBe(4000);
    expect(file.committedPosition).toBe(4000);
    file.append(Buffer.alloc(777, 0x33));
    const second = await counting(async () => expect(await file.commitDurable()).toBe(4777));
    if (mode === 'direct') expect(second).toEqual({ pwrite: 1, fdatasync: 0, msync: 0, openDataSyncFile: 0 }); // the descriptor is kept
    file.append(Buffer.alloc(500, 0x44)); // written, never made durable
    expect(await file.commitDurable()).toBe(5277);
    file.append(Buffer.alloc(300, 0x55));
    const closes = twin.io.calls('closeFile');
    const disk = await afterPowerCut(file);
    if (mode === 'direct') expect(twin.io.calls('closeFile') - closes).toBe(2); // the segment's descriptor and the O_DSYNC one
    expect(disk.subarray(0, 1000).every((b) => b === 0x11)).toBe(true);
    expect(disk.subarray(1000, 4000).every((b) => b === 0x22)).toBe(true);
    expect(disk.subarray(4000, 4777).every((b) => b === 0x33)).toBe(true);
    expect(disk.subarray(4777, 5277).every((b) => b === 0x44)).toBe(true);
    expect(disk.subarray(5277, 5577).every((b) => b === 0)).toBe(true);
  });

  it('more than 256 KiB at once: commits, then flushes', async () => {
    const file = await createFile();
    file.append(Buffer.alloc(300 * 1024, 0x66));
    const calls = await counting(async () => expect(await file.commitDurable()).toBe(300 * 1024));
    if (mode === 'direct') {
      expect(calls.fdatasync).toBe(1);
      expect(calls.pwrite).toBeGreaterThan(0);
    }
    const disk = await afterPowerCut(file);
    expect(disk.subarray(0, 300 * 1024).every((b) => b === 0x66)).toBe(true);
  });

  it('a segment committed to its end (its write buffer given back) is flushed', async () => {
    const file = await createFile();
    file.append(Buffer.alloc(SEGMENT, 0x77));
    await file.commit(0);
    const calls = await counting(async () => expect(await file.commitDurable()).toBe(SEGMENT));
    if (mode === 'direct') expect(calls).toEqual({ pwrite: 0, fdatasync: 1, msync: 0, openDataSyncFile: 1 });
    const disk = await afterPowerCut(file);
    expect(disk.every((b) => b === 0x77)).toBe(true);
  });

  it.runIf(mode === 'direct')('an O_DSYNC descriptor that cannot be opened (EMFILE): commit and fdatasync instead, nothing lost', async () => {
    const file = await createFile();
    twin.io.failOn('openDataSyncFile', { nth: 1, errno: 'EMFILE' });
    file.append(Buffer.alloc(2000, 0x88));
    const calls = await counting(async () => expect(await file.commitDurable()).toBe(2000));
    expect(calls).toEqual({ pwrite: 1, fdatasync: 1, msync: 0, openDataSyncFile: 1 });
    // Not retried per group: the segment keeps the fallback.
    file.append(Buffer.alloc(100, 0x99));
    expect((await counting(() => file.commitDurable())).openDataSyncFile).toBe(0);
    const disk = await afterPowerCut(file);
    expect(disk.subarray(0, 2000).every((b) => b === 0x88)).toBe(true);
    expect(disk.subarray(2000, 2100).every((b) => b === 0x99)).toBe(true);
  });
});
