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
import { CommitLogError } from '../../lib/errors.js';
import { DataSyncFdsIO } from '../durability/helpers/data-sync-fds.js';
import type { FaultableCall } from '../helpers/fault-native-io.js';
import { Gate } from '../helpers/gate.js';
import { useTwinSegments, type TwinSegments } from '../helpers/twin-segments.js';

const SEGMENT = 1024 * 1024;

/** A segment on the twin, the twin's call counts around `work`, and the segment as a power cut now leaves it. */
function segmentProbes(twin: TwinSegments) {
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
  return { createFile, counting, afterPowerCut };
}

describe.each<WriteMode>(['direct', 'mapped'])('commitDurable (%s)', (mode) => {
  const twin = useTwinSegments(mode, SEGMENT, 2);
  const { createFile, counting, afterPowerCut } = segmentProbes(twin);

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
    if (mode === 'direct') expect(calls).toEqual({ pwrite: 0, fdatasync: 1, msync: 0, openDataSyncFile: 0 }); // no descriptor for it
    const disk = await afterPowerCut(file);
    expect(disk.every((b) => b === 0x77)).toBe(true);
  });

});

describe('commitDurable, direct mode only', () => {
  const twin = useTwinSegments('direct', SEGMENT, 2);
  const { createFile, counting, afterPowerCut } = segmentProbes(twin);

  it('an O_DSYNC descriptor that cannot be opened (EMFILE): commit and fdatasync instead, nothing lost', async () => {
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

  /** The twin, with the segment's plain pwrites (the committer's) and the O_DSYNC open held behind gates, and the O_DSYNC descriptors' closes logged. */
  class GatedIO extends DataSyncFdsIO {
    readonly plainWrite = new Gate();
    readonly dataSyncOpen = new Gate();
    readonly closedDataSyncFds: number[] = [];
    override async openDataSyncFile(path: string): Promise<number> {
      await this.dataSyncOpen.pass();
      return super.openDataSyncFile(path);
    }
    override async pwrite(fd: number, source: Buffer, position: number, length: number, fileOffset: number): Promise<void> {
      if (!this.dataSyncFds.has(fd)) await this.plainWrite.pass();
      return super.pwrite(fd, source, position, length, fileOffset);
    }
    override async closeFile(fd: number): Promise<void> {
      if (this.dataSyncFds.has(fd)) this.closedDataSyncFds.push(fd);
      return super.closeFile(fd);
    }
  }
  const createGatedFile = (gated: GatedIO) =>
    MappedFile.create({ native: gated, directory: twin.dir.path, fileFromOffset: 0, fileSizeBytes: SEGMENT, strategyFactory: twin.strategyFactory() });
  const turns = async (n: number) => {
    for (let i = 0; i < n; i += 1) await new Promise((resolve) => setImmediate(resolve));
  };

  it('waits for the committer’s commit in flight, then writes from the flushed position', async () => {
    const gated = new GatedIO(twin.io);
    gated.dataSyncOpen.open();
    const file = await createGatedFile(gated);
    file.append(Buffer.alloc(1000, 0x11));
    const committing = file.commit(0); // held in its pwrite
    file.append(Buffer.alloc(2000, 0x22));
    let settled = false;
    const durable = file.commitDurable().then((position) => ((settled = true), position));
    await turns(20);
    expect(settled).toBe(false);
    expect(file.flushedPosition).toBe(0);
    gated.plainWrite.open();
    await committing;
    expect(await durable).toBe(3000);
    const disk = await afterPowerCut(file);
    expect(disk.subarray(0, 1000).every((b) => b === 0x11)).toBe(true);
    expect(disk.subarray(1000, 3000).every((b) => b === 0x22)).toBe(true);
  });

  it('a segment closed while its O_DSYNC descriptor opens closes that descriptor too, and the group rejects ERR_CLOSED', async () => {
    const gated = new GatedIO(twin.io);
    gated.plainWrite.open();
    const file = await createGatedFile(gated);
    file.append(Buffer.alloc(500, 0x33));
    const durable = file.commitDurable().then(
      () => undefined,
      (err: unknown) => err,
    );
    await turns(5);
    const closing = file.close();
    await turns(5);
    gated.dataSyncOpen.open();
    await closing;
    const error = await durable;
    expect(error).toBeInstanceOf(CommitLogError);
    expect((error as CommitLogError).code).toBe('ERR_CLOSED');
    expect(gated.dataSyncFds.size).toBe(1);
    expect(gated.closedDataSyncFds).toEqual([...gated.dataSyncFds]);
  });

  it('a segment flushed to its end closes its O_DSYNC descriptor then, not at retention', async () => {
    const gated = new GatedIO(twin.io);
    gated.plainWrite.open();
    gated.dataSyncOpen.open();
    const file = await createGatedFile(gated);
    file.append(Buffer.alloc(SEGMENT - 4096, 0x44));
    await file.commit(0);
    file.append(Buffer.alloc(4096, 0x45));
    expect(await file.commitDurable()).toBe(SEGMENT);
    expect(gated.dataSyncFds.size).toBe(1);
    expect(gated.closedDataSyncFds).toEqual([...gated.dataSyncFds]);
    const disk = await afterPowerCut(file);
    expect(disk.subarray(SEGMENT - 4096).every((b) => b === 0x45)).toBe(true);
    expect(gated.closedDataSyncFds.length).toBe(1); // not closed twice
  });
});
