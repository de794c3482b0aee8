/**
 * The fault-injecting twin itself, driven through raw NativeIO calls on real
 * files and checked with plain fs after crash(): what survives a crash, how
 * pages are kept and torn, the metadata prefix, fencing, and the injected
 * errors. The store layer under the twin is in spec/faults/.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommitLogError } from '../../lib/errors.js';
import { realNativeIO } from '../../lib/native/index.js';
import type { NativeIO } from '../../lib/native/native-io.js';
import { expectCode } from './expect-code.js';
import { FaultNativeIO } from './fault-native-io.js';
import { seededRandomForTest } from './seeded-random.js';
import { makeTmpDir } from './tmp-dir.js';

const PAGE = realNativeIO().pageSize;
const FILE_SIZE = 16 * PAGE;

function fill(length: number, byte: number): Buffer {
  return Buffer.alloc(length, byte);
}

/** Bytes that differ from `fill(…, old)` at every position. */
function distinct(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) out[i] = 0x80 | ((i * 7 + seed) & 0x7f);
  return out;
}

describe('FaultNativeIO', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  let io: FaultNativeIO;
  /** Open descriptors and mappings, released after each test (crash or not). */
  const fds: number[] = [];
  const mappings: Buffer[] = [];

  function twin(inner?: NativeIO): FaultNativeIO {
    io = new FaultNativeIO({ random: seededRandomForTest(), ...(inner ? { inner } : {}) });
    return io;
  }

  /** Creates, sizes and maps a file through the twin. */
  async function mappedFile(name: string, sizeBytes = FILE_SIZE): Promise<{ path: string; fd: number; map: Buffer }> {
    const path = join(dir.path, name);
    const fd = await io.openFile(path, true);
    fds.push(fd);
    await io.truncate(fd, sizeBytes);
    const map = io.mapShared(fd, sizeBytes);
    mappings.push(map);
    return { path, fd, map };
  }

  beforeEach(() => {
    dir = makeTmpDir('mc-fault-');
  });

  afterEach(async () => {
    const real = realNativeIO();
    for (const map of mappings.splice(0)) await real.releaseMapping(map);
    for (const fd of fds.splice(0)) await real.closeFile(fd);
    dir.cleanup();
  });

  describe('sync tracking and crash()', () => {
    it('a pwrite through an openDataSyncFile descriptor is durable as written, at any offset; other dirty bytes are not', async () => {
      twin();
      const { path, fd } = await mappedFile('dsync');
      const dsync = await io.openDataSyncFile(path);
      fds.push(dsync);
      await io.pwrite(fd, fill(300, 0x11), 0, 300, 100); // through the plain descriptor: page cache only
      await io.pwrite(dsync, fill(2 * PAGE, 0x22), 0, 2 * PAGE, PAGE + 123); // unaligned, across three pages
      io.failOn('pwrite', { nth: 1, errno: 'EIO' });
      await expect(io.pwrite(dsync, fill(10, 0x33), 0, 10, 50)).rejects.toThrow();
      expect(io.durableImage(path)?.subarray(PAGE + 123, 3 * PAGE + 123)).toEqual(fill(2 * PAGE, 0x22));
      await io.crash();
      const disk = readFileSync(path);
      expect(disk.subarray(0, PAGE + 123).every((b) => b === 0)).toBe(true);
      expect(disk.subarray(PAGE + 123, 3 * PAGE + 123)).toEqual(fill(2 * PAGE, 0x22));
      expect(disk.subarray(3 * PAGE + 123).every((b) => b === 0)).toBe(true);
    });

    it('keeps msync-ed pages and reverts unsynced bytes to zeros in a never-synced region', async () => {
      twin();
      const { path, map } = await mappedFile('a');
      map.set(fill(PAGE, 0x11), 0);
      map.set(fill(100, 0x22), 2 * PAGE + 10);
      await io.msync(map, 0, 100); // page 0 as a whole: msync works on pages
      map.set(fill(50, 0x33), 200); // same page, after the sync: not durable
      expect(io.durableImage(path)?.subarray(0, PAGE)).toEqual(fill(PAGE, 0x11));

      const report = await io.crash();
      const disk = readFileSync(path);
      expect(disk.length).toBe(FILE_SIZE);
      expect(disk.subarray(0, PAGE)).toEqual(fill(PAGE, 0x11));
      expect(disk.subarray(PAGE).every((b) => b === 0)).toBe(true);
      expect(report.files[path]).toMatchObject({ existsAfter: true, dirtyPages: 2, pagesKept: 0, pagesReverted: 2, bytesReverted: 150 });
    });

    it('makes the whole file durable on fdatasync, and reverts later writes to the synced bytes', async () => {
      twin();
      const { path, fd, map } = await mappedFile('b');
      await io.pwrite(fd, fill(3 * PAGE, 0x44), 0, 3 * PAGE, 0);
      map.set(fill(10, 0x55), 5 * PAGE);
      await io.fdatasync(fd);
      await io.pwrite(fd, fill(PAGE, 0x66), 0, PAGE, PAGE);
      map.set(fill(10, 0x77), 5 * PAGE);

      await io.crash();
      const disk = readFileSync(path);
      expect(disk.subarray(0, 3 * PAGE)).toEqual(fill(3 * PAGE, 0x44));
      expect(disk.subarray(5 * PAGE, 5 * PAGE + 10)).toEqual(fill(10, 0x55));
    });

    it('drops a file that was created and never synced, keeps it when its metadata is kept', async () => {
      twin();
      const { path, map } = await mappedFile('never-synced');
      map.set(fill(PAGE, 0x12), 0);
      const dropped = await io.crash();
      expect(existsSync(path)).toBe(false);
      expect(dropped.files[path]).toMatchObject({ existedBefore: true, existsAfter: false, bytesReverted: FILE_SIZE });
      expect(dropped.metadataOpsDropped).toBe(2); // create, resize

      const again = await mappedFile('kept-metadata');
      again.map.set(fill(PAGE, 0x13), 0);
      await io.crash({ unsyncedMetadata: 'keep' });
      // The journal kept the name and the size; the data was never synced.
      expect(statSync(again.path).size).toBe(FILE_SIZE);
      expect(readFileSync(again.path).every((b) => b === 0)).toBe(true);
    });

    it('keeps metadata as an ordered prefix: syncing a file makes the operations before it durable', async () => {
      twin();
      const first = await mappedFile('first');
      const second = await mappedFile('second');
      const third = await mappedFile('third');
      second.map.set(fill(10, 1), 0);
      await io.msync(second.map, 0, 10); // commits first's and second's create and resize
      expect(io.unsyncedMetadataOps).toBe(2); // third's
      await io.crash();
      expect(statSync(first.path).size).toBe(FILE_SIZE);
      expect(readFileSync(second.path).subarray(0, 10)).toEqual(fill(10, 1));
      expect(existsSync(third.path)).toBe(false);
    });

    it('undoes an unlink that no sync covered, with the durable image of the file', async () => {
      twin();
      const { path, fd, map } = await mappedFile('deleted');
      map.set(fill(PAGE, 0x21), 0);
      await io.fdatasync(fd);
      await io.unlink(path);
      expect(existsSync(path)).toBe(false);
      const report = await io.crash();
      expect(report.files[path]).toMatchObject({ existedBefore: false, existsAfter: true });
      expect(readFileSync(path).subarray(0, PAGE)).toEqual(fill(PAGE, 0x21));
    });

    it('keeps unsynced pages whole: all with probability 1, none with 0, whole pages for anything between', async () => {
      twin();
      const { path, fd, map } = await mappedFile('pages');
      map.fill(0x01);
      await io.fdatasync(fd);
      const latest = distinct(FILE_SIZE, 3);
      latest.copy(map);
      const all = await io.crash({ keepUnsyncedPageProbability: 1 });
      expect(all.files[path]).toMatchObject({ dirtyPages: 16, pagesKept: 16, pagesReverted: 0, bytesReverted: 0 });
      expect(readFileSync(path)).toEqual(latest);

      const next = await mappedFile('pages-2');
      next.map.fill(0x01);
      await io.fdatasync(next.fd);
      latest.copy(next.map);
      const some = (await io.crash({ keepUnsyncedPageProbability: 0.5 })).files[next.path]!;
      const disk = readFileSync(next.path);
      let kept = 0;
      for (let offset = 0; offset < FILE_SIZE; offset += PAGE) {
        const page = disk.subarray(offset, offset + PAGE);
        const isNew = page.equals(latest.subarray(offset, offset + PAGE));
        expect(isNew || page.equals(fill(PAGE, 0x01)), `page at ${offset} is all new or all old`).toBe(true);
        if (isNew) kept += 1;
      }
      expect(some.pagesKept).toBe(kept);
      expect(some.pagesKept + some.pagesReverted).toBe(16);
      expect(some.bytesReverted).toBe((16 - kept) * PAGE);

      const none = await mappedFile('pages-3');
      none.map.fill(0x01);
      await io.fdatasync(none.fd);
      latest.copy(none.map);
      expect((await io.crash({ keepUnsyncedPageProbability: 0 })).files[none.path]).toMatchObject({ pagesKept: 0, pagesReverted: 16 });
      expect(readFileSync(none.path)).toEqual(fill(FILE_SIZE, 0x01));
    });

    it('tears the last unsynced page: part new, part old', async () => {
      twin();
      const { path, fd, map } = await mappedFile('torn');
      map.fill(0x5a);
      await io.fdatasync(fd);
      const fresh = distinct(2 * PAGE, 9);
      fresh.copy(map, 4 * PAGE); // pages 4 and 5 dirty; 5 is the last
      const report = (await io.crash({ tearLastPage: true })).files[path]!;
      expect(report.dirtyPages).toBe(2);
      expect(report.pagesReverted).toBe(1); // page 4
      expect(report.tornPage?.offset).toBe(5 * PAGE);
      const newBytes = report.tornPage!.newBytes;
      expect(newBytes).toBeGreaterThan(0);
      expect(newBytes).toBeLessThan(PAGE);
      const torn = readFileSync(path).subarray(5 * PAGE, 6 * PAGE);
      expect(torn.subarray(0, newBytes)).toEqual(fresh.subarray(PAGE, PAGE + newBytes));
      expect(torn.subarray(newBytes)).toEqual(fill(PAGE - newBytes, 0x5a));
      expect(readFileSync(path).subarray(4 * PAGE, 5 * PAGE)).toEqual(fill(PAGE, 0x5a));
    });

    it('never lets an older sync that finishes late overwrite a newer one', async () => {
      const real = realNativeIO();
      const gates: Array<() => void> = [];
      // msync waits until the spec opens its gate, so the two syncs can finish out of order.
      const gated: NativeIO = Object.assign(Object.create(real) as NativeIO, {
        msync: async (mapping: Buffer, position: number, length: number) => {
          await new Promise<void>((resolve) => gates.push(resolve));
          await real.msync(mapping, position, length);
        },
      });
      twin(gated);
      const { path, map } = await mappedFile('overlap');
      await io.fdatasync(fds[0]!); // the file's name and size are durable from here
      map.fill(0x01, 0, PAGE);
      const older = io.msync(map, 0, PAGE);
      map.fill(0x02, 0, PAGE);
      const newer = io.msync(map, 0, PAGE);
      await Promise.resolve();
      expect(gates.length).toBe(2);
      gates[1]!();
      await newer;
      gates[0]!();
      await older;
      expect(io.durableImage(path)?.subarray(0, PAGE)).toEqual(fill(PAGE, 0x02));
    });

    it('does not count a sync still in flight when the power goes', async () => {
      const real = realNativeIO();
      let open!: () => void;
      const gated: NativeIO = Object.assign(Object.create(real) as NativeIO, {
        fdatasync: async (fd: number) => {
          await new Promise<void>((resolve) => (open = resolve));
          await real.fdatasync(fd);
        },
      });
      twin(gated);
      const { path, fd, map } = await mappedFile('in-flight');
      map.fill(0x31, 0, PAGE);
      const sync = io.fdatasync(fd);
      await Promise.resolve();
      const crashed = io.crash();
      open();
      await sync; // the engine saw success, but the power went first
      await crashed;
      expect(existsSync(path)).toBe(false); // even the create was not durable
    });

    it('fences descriptors and mappings from before the crash, but lets them be closed', async () => {
      twin();
      const { fd, map } = await mappedFile('fenced');
      await io.fdatasync(fd);
      await io.crash();
      await expect(io.pwrite(fd, fill(1, 1), 0, 1, 0)).rejects.toThrow(/before crash\(\)/);
      await expect(io.msync(map, 0, 1)).rejects.toThrow(/before crash\(\)/);
      await expect(io.fdatasync(fd)).rejects.toThrow(/before crash\(\)/);
      await io.releaseMapping(map);
      mappings.splice(mappings.indexOf(map), 1);
      await io.closeFile(fd);
      fds.splice(fds.indexOf(fd), 1);
    });

    it('takes files it has not seen as durable as they are, and serves the run after a crash', async () => {
      twin();
      const { path, map } = await mappedFile('restart');
      map.set(fill(PAGE, 0x41), 0);
      await io.msync(map, 0, PAGE);
      map.set(fill(PAGE, 0x42), PAGE);
      await io.crash();
      // The next run opens the crashed file through the same twin.
      const fd2 = await io.openFile(path, false);
      fds.push(fd2);
      const map2 = io.mapShared(fd2, FILE_SIZE);
      mappings.push(map2);
      expect(map2.subarray(0, PAGE)).toEqual(fill(PAGE, 0x41));
      expect(map2.subarray(PAGE, 2 * PAGE).every((b) => b === 0)).toBe(true);
      map2.set(fill(PAGE, 0x43), 2 * PAGE); // unsynced in the second run
      await io.crash();
      expect(readFileSync(path).subarray(0, PAGE)).toEqual(fill(PAGE, 0x41));
      expect(readFileSync(path).subarray(2 * PAGE, 3 * PAGE).every((b) => b === 0)).toBe(true);
    });
  });

  describe('failure injection', () => {
    it('fails exactly the nth call from now, and counts every call', async () => {
      twin();
      const { fd } = await mappedFile('nth');
      const before = io.calls('fdatasync');
      io.failOn('fdatasync', { nth: 2, errno: 'EIO' });
      await io.fdatasync(fd);
      const error = await expectCode(() => io.fdatasync(fd), 'ERR_IO');
      expect(error).toMatchObject({ errno: 5, errnoCode: 'EIO', syscall: 'fdatasync' });
      await io.fdatasync(fd); // one-shot
      expect(io.calls('fdatasync')).toBe(before + 3);
    });

    it('fails every call with failAlways until clearFailures', async () => {
      twin();
      const { fd } = await mappedFile('always');
      io.failAlways('pwrite', 'ENOSPC');
      await expectCode(() => io.pwrite(fd, fill(1, 1), 0, 1, 0), 'ERR_DISK_FULL');
      await expectCode(() => io.pwrite(fd, fill(1, 1), 0, 1, 0), 'ERR_DISK_FULL');
      io.clearFailures();
      await io.pwrite(fd, fill(1, 1), 0, 1, 0);
      expect(io.calls('pwrite')).toBe(3);
    });

    it('reports fs-backed calls like fsError, with a Node-style cause', async () => {
      twin();
      io.failOn('openFile', { nth: 1, errno: 'ENOSPC' });
      const error = await expectCode(() => io.openFile(join(dir.path, 'x'), true), 'ERR_DISK_FULL');
      expect(error).toMatchObject({ errno: 28, errnoCode: 'ENOSPC', syscall: 'open' });
      expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
      expect(readdirSync(dir.path)).toEqual([]); // the real open never ran
      io.failOn('unlink', { nth: 1, errno: 'EIO' });
      await expectCode(() => io.unlink(join(dir.path, 'y')), 'ERR_IO');
    });

    it('retries an injected EINTR transparently, as the shim and libuv do', async () => {
      twin();
      const { path, fd, map } = await mappedFile('eintr');
      for (const call of ['msync', 'fdatasync', 'pwrite', 'fallocate', 'truncate'] as const) io.failOn(call, { nth: 1, errno: 'EINTR' });
      map.set(fill(PAGE, 0x61), 0);
      await io.msync(map, 0, PAGE);
      await io.pwrite(fd, fill(PAGE, 0x62), 0, PAGE, PAGE);
      await io.fdatasync(fd);
      await io.fallocate(fd, 0, FILE_SIZE);
      await io.truncate(fd, FILE_SIZE);
      expect(io.interruptedRetries).toBe(5);
      await io.crash();
      expect(readFileSync(path).subarray(0, 2 * PAGE)).toEqual(Buffer.concat([fill(PAGE, 0x61), fill(PAGE, 0x62)]));
      expect(() => io.failAlways('msync', 'EINTR')).toThrow(RangeError);
    });

    it('absorbs what the real layer absorbs: fallocate fallback, refused mlock, a held lock', async () => {
      twin();
      const { fd } = await mappedFile('absorbed');
      io.failOn('fallocate', { nth: 1, errno: 'EOPNOTSUPP' });
      await io.fallocate(fd, 0, FILE_SIZE);
      const buffer = io.mapAnonymous(PAGE);
      mappings.push(buffer);
      io.failOn('mlock', { nth: 1, errno: 'EPERM' });
      expect(await io.mlock(buffer)).toBe(false);
      io.failOn('mlock', { nth: 1, errno: 'EIO' });
      await expectCode(() => io.mlock(buffer), 'ERR_IO');
      io.failOn('lockExclusive', { nth: 1, errno: 'EWOULDBLOCK' });
      expect(io.lockExclusive(fd)).toBe(false);
    });

    it('throws synchronously from the synchronous calls', async () => {
      twin();
      io.failOn('mapAnonymous', { nth: 1, errno: 'ENOMEM' });
      let caught: unknown;
      try {
        io.mapAnonymous(PAGE);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(CommitLogError);
      expect(caught).toMatchObject({ code: 'ERR_IO', errnoCode: 'ENOMEM', syscall: 'mmap' });
    });

    it('refuses calls that report no errors, bad counts and unknown errnos', () => {
      twin();
      expect(() => io.failOn('advise' as never, { nth: 1, errno: 'EIO' })).toThrow(RangeError);
      expect(() => io.failOn('msync', { nth: 0, errno: 'EIO' })).toThrow(RangeError);
      expect(() => io.failOn('msync', { nth: 1, errno: 'ENOTANERRNO' as never })).toThrow(RangeError);
    });
  });
});
