/**
 * SYNC_FLUSH stores write their warmed segments to disk, so the blocks
 * appends land in are written blocks, not fallocate's unwritten extents
 * (MappedFile.warm). Checked on disk with filefrag (e2fsprogs), which
 * lists a file's extents and flags the unwritten ones.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommitLog } from '../../lib/commit-log.js';
import { TEST_MIN, type FlushDiskType, type WriteMode } from '../../lib/config.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import { realNativeIO } from '../../lib/native/index.js';
import { FaultNativeIO } from '../helpers/fault-native-io.js';
import { seededRandomForTest } from '../helpers/seeded-random.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const SEGMENT = 1024 * 1024;

/** The extents of `path` as filefrag lists them; undefined when filefrag is not installed. */
function extents(path: string): { count: number; unwritten: number } | undefined {
  let out: string;
  try {
    out = execFileSync('filefrag', ['-v', path], { encoding: 'utf8' });
  } catch {
    return undefined;
  }
  const rows = out.split('\n').filter((line) => /^\s*\d+:/.test(line));
  return { count: rows.length, unwritten: rows.filter((line) => line.includes('unwritten')).length };
}

/**
 * Whether filefrag shows a fallocated file's extents as unwritten here:
 * without filefrag, or on a file system without unwritten extents (tmpfs),
 * there is nothing to tell apart.
 */
async function unwrittenExtentsShow(directory: string): Promise<boolean> {
  const probe = join(directory, 'probe');
  const native = realNativeIO();
  const fd = await native.openFile(probe, true);
  await native.fallocate(fd, 0, SEGMENT);
  await native.closeFile(fd);
  return (extents(probe)?.unwritten ?? 0) > 0;
}

/** Bytes the kernel counts as dirtied by this thread (/proc/thread-self/io write_bytes: a whole folio per folio dirtied). */
function dirtiedByThisThread(): number {
  return Number(/write_bytes: (\d+)/.exec(readFileSync('/proc/thread-self/io', 'utf8'))![1]);
}

/**
 * The folio size a write through a mapping advised 'hugepage' dirties here,
 * after the page was faulted in and written back: 2 MiB where the kernel
 * gives files large folios (ext4 since Linux 6.16), 4 KiB elsewhere.
 */
async function hugeFolioBytes(directory: string): Promise<number> {
  const native = realNativeIO();
  const size = 4 * 1024 * 1024;
  const fd = await native.openFile(join(directory, 'folio-probe'), true);
  const mapping = native.mapShared(fd, size);
  try {
    await native.fallocate(fd, 0, size);
    await native.advise(mapping, 0, size, 'hugepage');
    await native.advise(mapping, 0, size, 'random');
    await native.populateWrite(mapping, 0, size);
    await native.fdatasync(fd);
    const before = dirtiedByThisThread();
    mapping[4096] = 1;
    return dirtiedByThisThread() - before;
  } finally {
    await native.releaseMapping(mapping);
    await native.closeFile(fd);
  }
}

describe.each<WriteMode>(['mapped', 'direct'])('warm-up with write-back, %s mode', (writeMode) => {
  let dir: ReturnType<typeof makeTmpDir>;
  beforeEach(() => {
    dir = makeTmpDir();
  });
  afterEach(() => dir.cleanup());

  async function openStore(flushDiskType: FlushDiskType, name: string) {
    return CommitLog.open({ ...TEST_MIN, mappedFileSizeCommitLog: SEGMENT, storePathCommitLog: join(dir.path, name), flushDiskType, writeMode });
  }

  it('leaves no unwritten extent in a SYNC_FLUSH store’s first and prepared segments; an ASYNC_FLUSH store keeps fallocate’s', async (context) => {
    if (!(await unwrittenExtentsShow(dir.path))) return context.skip();

    const asyncLog = await openStore('ASYNC_FLUSH', 'async');
    const syncLog = await openStore('SYNC_FLUSH', 'sync');
    try {
      await asyncLog.whenWarm();
      expect(extents(join(dir.path, 'async', segmentFileName(0)))?.unwritten).toBeGreaterThan(0);

      // A fresh SYNC_FLUSH store's first segment is written back beside open(), by the time whenWarm() settles.
      await syncLog.whenWarm();
      expect(extents(join(dir.path, 'sync', segmentFileName(0)))).toEqual({ count: expect.any(Number), unwritten: 0 });
      // The next segment is prepared, and written back, in the background.
      const next = join(dir.path, 'sync', segmentFileName(SEGMENT));
      await waitFor(() => extents(next)?.unwritten === 0);
      expect(extents(next)?.unwritten).toBe(0);

      // Appends across the roll land in written blocks and read back.
      const body = Buffer.alloc(900, 0x5a);
      const results = [];
      for (let i = 0; i < 1500; i += 1) results.push(await syncLog.append({ topic: 'warm', body }));
      expect(results.at(-1)!.physicalOffset).toBeGreaterThan(SEGMENT);
      expect(results.every((r) => r.status === 'PUT_OK')).toBe(true);
      expect(syncLog.read(results.at(-1)!.physicalOffset).body).toEqual(body);
    } finally {
      await asyncLog.close();
      await syncLog.close();
    }
  });

  it('a store reopened under SYNC_FLUSH writes back the rest of the segment taking appends, beside them; mapped groups then fdatasync', async (context) => {
    if (!(await unwrittenExtentsShow(dir.path))) return context.skip();

    const body = Buffer.alloc(700, 0x21);
    // Written without warm-up: the segment's tail keeps fallocate's unwritten extents (a mapped
    // ASYNC_FLUSH warm-up dirties its zeros, and close's flush would write them).
    const before = await CommitLog.open({ ...TEST_MIN, mappedFileSizeCommitLog: SEGMENT, storePathCommitLog: join(dir.path, 'reopened'), flushDiskType: 'ASYNC_FLUSH', writeMode, warmMapedFileEnable: false });
    const kept = await before.append({ topic: 'warm', body });
    await before.close();
    const segment = join(dir.path, 'reopened', segmentFileName(0));
    expect(extents(segment)?.unwritten).toBeGreaterThan(0);

    const twin = new FaultNativeIO({ random: seededRandomForTest() });
    const log = await CommitLog.open({ ...TEST_MIN, mappedFileSizeCommitLog: SEGMENT, storePathCommitLog: join(dir.path, 'reopened'), flushDiskType: 'SYNC_FLUSH', writeMode, native: twin });
    try {
      const during = await log.append({ topic: 'warm', body: Buffer.alloc(700, 0x22) });
      expect(during.status).toBe('PUT_OK');
      await waitFor(() => extents(segment)?.unwritten === 0);
      if (writeMode === 'mapped') {
        // Once the write-back is done, only appended data can be dirty: groups fdatasync (libuv), never msync.
        const groupFlushes = async () => {
          const msync = twin.calls('msync');
          const fdatasync = twin.calls('fdatasync');
          await log.append({ topic: 'warm', body });
          return { msync: twin.calls('msync') - msync, fdatasync: twin.calls('fdatasync') - fdatasync };
        };
        let calls = await groupFlushes();
        for (let tries = 0; tries < 100 && calls.msync > 0; tries += 1) calls = await groupFlushes();
        // (The checkpoint and the next segment's warm-up may fdatasync meanwhile.)
        expect(calls.msync).toBe(0);
        expect(calls.fdatasync).toBeGreaterThan(0);
      }
      expect(log.read(kept.physicalOffset).body).toEqual(body);
      expect(log.read(during.physicalOffset).body).toEqual(Buffer.alloc(700, 0x22));
    } finally {
      await log.close();
    }
  });

  it('flushes a written-back segment with fdatasync (mapped mode: no pre-faulted zeros left dirty), one not written back with msync; direct mode writes its groups through O_DSYNC', async () => {
    const twin = new FaultNativeIO({ random: seededRandomForTest() });
    const open = (flushDiskType: FlushDiskType, name: string) =>
      CommitLog.open({ ...TEST_MIN, mappedFileSizeCommitLog: SEGMENT, storePathCommitLog: join(dir.path, name), flushDiskType, writeMode, native: twin });
    const body = Buffer.alloc(500, 0x33);
    const flushCalls = async (log: CommitLog) => {
      const msync = twin.calls('msync');
      const fdatasync = twin.calls('fdatasync');
      const pwrite = twin.calls('pwrite');
      await log.append({ topic: 'warm', body });
      await log.flush();
      return { msync: twin.calls('msync') - msync, fdatasync: twin.calls('fdatasync') - fdatasync, pwrite: twin.calls('pwrite') - pwrite };
    };
    const syncLog = await open('SYNC_FLUSH', 'sync');
    try {
      // The twin's warm write-back msyncs: let the first segment's and the next one's warm-ups finish first.
      await syncLog.whenWarm();
      await waitFor(() => syncLog.stats.lastAllocationMs > 0);
      const calls = await flushCalls(syncLog);
      if (writeMode === 'mapped') {
        expect(calls.fdatasync).toBeGreaterThan(0);
        expect(calls.msync).toBe(0);
      } else {
        // The group's pwrite through the segment's O_DSYNC descriptor (MappedFile.commitDurable);
        // the committer's timer may have made one more of its own.
        expect(calls.msync).toBe(0);
        expect(calls.fdatasync).toBe(0);
        expect(calls.pwrite).toBeGreaterThan(0);
      }
    } finally {
      await syncLog.close();
    }
    if (writeMode === 'direct') return; // direct mode never msyncs
    // ASYNC_FLUSH pre-faults without writing back: its dirty zeros must not go to disk with the data.
    const asyncLog = await open('ASYNC_FLUSH', 'async');
    try {
      expect((await flushCalls(asyncLog)).msync).toBeGreaterThan(0);
    } finally {
      await asyncLog.close();
    }
  });

  // Direct mode dirties pages by pwrite on the thread pool, where this thread's count cannot see them.
  it.skipIf(writeMode === 'direct')('durable appends dirty only the pages they write, not a 2 MiB folio each (mapped mode: 4 KiB folios)', async (context) => {
    // The kernel counts bytes dirtied against the thread that dirties them: in mapped mode
    // that is this thread, writing through the mapping. Each awaited append is its own group
    // flush, after which its folio is clean. Where files get no large folios there is nothing to see.
    if ((await hugeFolioBytes(dir.path)) < 64 * 1024) return context.skip();
    const log = await CommitLog.open({ ...TEST_MIN, mappedFileSizeCommitLog: 4 * SEGMENT, storePathCommitLog: join(dir.path, 'folios'), flushDiskType: 'SYNC_FLUSH', writeMode });
    try {
      const body = Buffer.alloc(1000, 0x5a);
      const before = dirtiedByThisThread();
      const appends = 64;
      for (let i = 0; i < appends; i += 1) expect((await log.append({ topic: 'folios', body })).status).toBe('PUT_OK');
      const perAppend = (dirtiedByThisThread() - before) / appends;
      // ≤ a few pages per ~1.1 KiB record; 2 MiB folios would count 2 MiB each.
      expect(perAppend).toBeLessThanOrEqual(4 * 4096);
    } finally {
      await log.close();
    }
  });

  it('a warm-up write-back that fails (EIO) leaves a usable store: not poisoned, appends durable, flushes by msync in mapped mode', async () => {
    const twin = new FaultNativeIO({ random: seededRandomForTest() });
    const warmUp = writeMode === 'mapped' ? 'warmWriteBack' : 'writeBack';
    twin.failOn(warmUp, { nth: 1, errno: 'EIO' });
    const options = { ...TEST_MIN, mappedFileSizeCommitLog: SEGMENT, storePathCommitLog: join(dir.path, 'failed'), flushDiskType: 'SYNC_FLUSH' as const, writeMode, native: twin };
    const log = await CommitLog.open(options);
    await log.whenWarm(); // settles, not rejects, on the failed warm-up
    expect(twin.calls(warmUp)).toBeGreaterThanOrEqual(1); // the failure happened
    const body = Buffer.alloc(700, 0x44);
    const written = [];
    try {
      const msyncBefore = twin.calls('msync');
      for (let i = 0; i < 20; i += 1) written.push(await log.append({ topic: 'failed-warm', body }));
      expect(written.every((r) => r.status === 'PUT_OK')).toBe(true);
      expect(log.poisonedBy).toBeUndefined();
      // The first segment was never written back, so its pre-faulted zeros may be dirty: msync of the range.
      if (writeMode === 'mapped') expect(twin.calls('msync')).toBeGreaterThan(msyncBefore);
    } finally {
      await log.close();
    }
    const reopened = await CommitLog.open({ ...options, native: realNativeIO() });
    try {
      expect(reopened.maxOffset).toBe(written.at(-1)!.physicalOffset + written.at(-1)!.size);
      expect(reopened.read(written[7]!.physicalOffset).body).toEqual(body);
    } finally {
      await reopened.close();
    }
  });
});
