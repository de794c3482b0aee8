/**
 * The shim makes its long calls in slices (pwrite 256 KiB, writeback
 * submission and mlock 1 MiB, fallocate 64 MiB) so no single call holds a
 * CPU for long on a kernel without preemption. These specs pin that the
 * slicing changes nothing observable: every byte lands where it should, the
 * whole range is reserved or locked, and the ranged syncs sync.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { realNativeIO } from '../../lib/index.js';
import { SeededRandom } from '../helpers/seeded-random.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

const MiB = 1024 * 1024;

describe('sliced native calls', () => {
  const native = realNativeIO();
  let dir: { path: string; cleanup(): void };
  beforeEach(() => {
    dir = makeTmpDir('mc-sliced-');
  });
  afterEach(() => dir.cleanup());

  function randomBytes(length: number, seed: number): Buffer {
    return new SeededRandom(seed).bytes(length);
  }

  /** Runs `use` on a new file in the test directory, closing it afterwards. */
  async function withNewFile(use: (fd: number, path: string) => Promise<void>): Promise<void> {
    const path = join(dir.path, 'f');
    const fd = await native.openFile(path, true);
    try {
      await use(fd, path);
    } finally {
      await native.closeFile(fd);
    }
  }

  /** The file holds zeros up to `offset` and then exactly `bytes`. */
  function expectFileHolds(path: string, offset: number, bytes: Buffer): void {
    const onDisk = readFileSync(path);
    expect(onDisk.length).toBe(offset + bytes.length);
    expect(onDisk.subarray(0, offset).every((b) => b === 0)).toBe(true);
    expect(onDisk.subarray(offset).equals(bytes)).toBe(true);
  }

  it('pwrite of several slices plus a ragged tail writes every byte at its file offset', async () => {
    await withNewFile(async (fd, path) => {
      const source = randomBytes(3 * MiB, 1);
      // 1 MiB + 12345 bytes from an odd source position to an odd file offset: 5 slices, the last short.
      const length = MiB + 12_345;
      await native.pwrite(fd, source, 777, length, 4097);
      expectFileHolds(path, 4097, source.subarray(777, 777 + length));
    });
  });

  it('a small pwrite (a SYNC_FLUSH group, through libuv rather than the shim) writes the same bytes', async () => {
    await withNewFile(async (fd, path) => {
      const source = randomBytes(8192, 4);
      await native.pwrite(fd, source, 3, 5000, 10_001);
      await native.fdatasync(fd); // no dirty range given: the libuv route too
      expectFileHolds(path, 10_001, source.subarray(3, 5003));
    });
  });

  it('fallocate across many 64 MiB slices reserves the whole range, blocks included', async () => {
    await withNewFile(async (fd, path) => {
      const length = 130 * MiB + 4096; // three slices: 64 MiB, 64 MiB, 2 MiB and a page
      await native.fallocate(fd, 0, length);
      const stat = statSync(path);
      expect(stat.size).toBe(length);
      expect(stat.blocks * 512).toBeGreaterThanOrEqual(length);
    });
  });

  // Durability itself cannot be observed without a power cut (spec/durability
  // does that with a fault twin); these pin that the ranged routes, sliced
  // writeback first, run to completion and disturb no byte.
  it('fdatasync with a dirty range of several slices and msync with the file descriptor leave the written bytes in the file', async () => {
    const size = 4 * MiB;
    const path = join(dir.path, 'f');
    const fd = await native.openFile(path, true);
    const mapping = (await native.fallocate(fd, 0, size), native.mapShared(fd, size));
    try {
      const first = randomBytes(2 * MiB + 100, 2);
      first.copy(mapping, 300);
      await native.msync(mapping, 300, first.length, fd); // start not page-aligned: rounded down
      const second = randomBytes(2 * MiB, 3);
      await native.pwrite(fd, second, 0, second.length, 2 * MiB);
      await native.fdatasync(fd, { from: 2 * MiB, to: 4 * MiB }); // above 1 MiB: the shim's sliced route

      // Read through a separate descriptor: what the file holds, not the mapping.
      const check = openSync(path, 'r');
      try {
        const onDisk = Buffer.alloc(size);
        readSync(check, onDisk, 0, size, 0);
        expect(onDisk.subarray(300, 2 * MiB).equals(first.subarray(0, 2 * MiB - 300))).toBe(true);
        expect(onDisk.subarray(2 * MiB).equals(second)).toBe(true);
      } finally {
        closeSync(check);
      }
    } finally {
      await native.releaseMapping(mapping);
      await native.closeFile(fd);
    }
  });

  it('mlock of a buffer many slices long locks it (or is refused as a whole), and munlock undoes it', async () => {
    const buffer = native.mapAnonymous(5 * MiB + 4096);
    try {
      const locked = await native.mlock(buffer);
      const vmLockedKiB = () => Number(/VmLck:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
      if (locked) {
        expect(vmLockedKiB()).toBeGreaterThanOrEqual((5 * MiB + 4096) / 1024);
        await native.munlock(buffer);
      }
      // Refused (no privilege, RLIMIT_MEMLOCK) or unlocked again: nothing stays locked.
      expect(vmLockedKiB()).toBe(0);
    } finally {
      await native.releaseMapping(buffer);
    }
  });
});
