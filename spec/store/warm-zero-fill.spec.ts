/**
 * Direct mode's write-back warm-up writes zeros over the segment with pwrite
 * through its own descriptor (MappedFile.warmZeroFilling), ahead of the
 * writer, then writes them back at the idle I/O priority. A commit that
 * reaches a slice while its zeros are being written waits for them, so data
 * always lands after the zeros; it does not wait for their write-back; once
 * the writer passes the warm-up, the warm-up stops. Checked on the bytes in
 * the file.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NativeIO } from '../../lib/native/native-io.js';
import { realNativeIO } from '../../lib/native/index.js';
import { MappedFile, WARM_WRITE_BACK_SLICE_BYTES as SLICE } from '../../lib/store/mapped-file.js';
import { TransientStorePool } from '../../lib/store/transient-store-pool.js';
import { writeStrategyFactory } from '../../lib/strategy/index.js';
import { ForwardingNativeIO } from '../durability/helpers/forwarding-native-io.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { waitFor } from '../helpers/wait-for.js';
import { Gate } from '../helpers/gate.js';

const SEGMENT = 3 * SLICE + 4096;

/**
 * Tells the warm-up's writes (through the descriptor it opens itself,
 * without create) from the commits' (the segment's own descriptor), holds
 * the first slice's zeros or every write-back behind a gate, and logs both.
 */
class WarmUpProbe extends ForwardingNativeIO {
  readonly zeroWrites: number[] = [];
  readonly closedWarmFds: number[] = [];
  /** Makes the warm-up's pwrites fail with EIO. */
  failZeros = false;
  readonly writeBacks: Array<{ offset: number; length: number }> = [];
  readonly firstZeros = new Gate();
  readonly writeBackGate = new Gate();
  private readonly warmFds = new Set<number>();
  override async openFile(path: string, create: boolean): Promise<number> {
    const fd = await super.openFile(path, create);
    if (!create) this.warmFds.add(fd);
    return fd;
  }
  override async closeFile(fd: number): Promise<void> {
    if (this.warmFds.has(fd)) this.closedWarmFds.push(fd);
    return super.closeFile(fd);
  }
  get warmFdCount(): number {
    return this.warmFds.size;
  }
  override async pwrite(fd: number, source: Buffer, position: number, length: number, fileOffset: number): Promise<void> {
    if (this.warmFds.has(fd)) {
      this.zeroWrites.push(fileOffset);
      if (this.failZeros) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
      if (fileOffset < SLICE) await this.firstZeros.pass();
    }
    return super.pwrite(fd, source, position, length, fileOffset);
  }
  override async writeBack(fd: number, offset: number, length: number): Promise<void> {
    this.writeBacks.push({ offset, length });
    await this.writeBackGate.pass();
    return super.writeBack(fd, offset, length);
  }
}

describe('direct-mode zero-fill warm-up', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  let pool: TransientStorePool;
  beforeEach(async () => {
    dir = makeTmpDir();
    pool = await TransientStorePool.create({ native: realNativeIO(), poolSize: 1, bufferSizeBytes: SEGMENT, lock: false });
  });
  afterEach(async () => {
    await pool.destroy();
    dir.cleanup();
  });

  function segment(native: NativeIO): Promise<MappedFile> {
    return MappedFile.create({ native, directory: dir.path, fileFromOffset: 0, fileSizeBytes: SEGMENT, strategyFactory: writeStrategyFactory({ mode: 'direct', pool }) });
  }

  /** Appends `length` bytes of `byte` and returns them. */
  function write(file: MappedFile, length: number, byte: number): Buffer {
    const bytes = Buffer.alloc(length, byte);
    file.append(bytes);
    return bytes;
  }

  /** The first bytes of the segment's file are `data`. */
  function expectOnDisk(file: MappedFile, data: Buffer): void {
    expect(readFileSync(file.path).subarray(0, data.length).equals(data)).toBe(true);
  }

  /** Resolves `true` if `promise` settles within `ms`. */
  async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
    let settled = false;
    void promise.finally(() => (settled = true)).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, ms));
    return settled;
  }

  it.each<[string, number, number[]]>([
    // The writer stays inside the first slice: the warm-up goes on after it.
    ['inside the first slice', 100 * 1024, [0, SLICE, 2 * SLICE, 3 * SLICE]],
    // The writer passes the next slice's start: the warm-up ends, the commits write the rest.
    ['past the next slice', SLICE + 12_345, [0]],
  ])('a commit reaching the slice whose zeros are being written waits for them; writer %s', async (_case, length, writeBacks) => {
    const native = new WarmUpProbe(realNativeIO());
    native.writeBackGate.open();
    const file = await segment(native);
    try {
      const warming = file.warm(true);
      await waitFor(() => native.zeroWrites.length === 1, 2_000, 2);
      const data = write(file, length, 0x61);
      const committing = file.commit(0);
      expect(await settlesWithin(committing, 30)).toBe(false); // behind the first slice's zeros
      expect(file.committedPosition).toBe(0);
      native.firstZeros.open();
      await committing;
      await warming;
      expect(file.committedPosition).toBe(length);
      expect(native.writeBacks.map((slice) => slice.offset)).toEqual(writeBacks);
      expect(Math.min(...native.zeroWrites)).toBe(0);
      await file.flush(0);
      const onDisk = readFileSync(file.path);
      expect(onDisk.subarray(0, length).equals(data)).toBe(true);
      expect(onDisk.subarray(length).every((byte) => byte === 0)).toBe(true);
    } finally {
      native.firstZeros.open();
      await file.destroy();
    }
  });

  it('a commit does not wait for the write-back of zeros already written', async () => {
    const native = new WarmUpProbe(realNativeIO());
    native.firstZeros.open();
    const file = await segment(native);
    try {
      const warming = file.warm(true);
      await waitFor(() => native.writeBacks.length === 1, 2_000, 2); // first slice's zeros written, its write-back held
      const data = write(file, 5000, 0x63);
      expect(await settlesWithin(file.commit(0), 1_000)).toBe(true);
      expect(file.committedPosition).toBe(data.length);
      native.writeBackGate.open();
      await warming;
      expectOnDisk(file, data);
    } finally {
      native.writeBackGate.open();
      await file.destroy();
    }
  });

  it('a failed zero write ends the warm-up: its descriptor closed, commits go on, the data intact', async () => {
    const native = new WarmUpProbe(realNativeIO());
    native.writeBackGate.open();
    native.failZeros = true;
    const file = await segment(native);
    try {
      await expect(file.warm(true)).rejects.toThrow(/EIO/);
      expect(native.zeroWrites).toEqual([0]);
      expect(native.warmFdCount).toBe(1);
      expect(native.closedWarmFds).toHaveLength(1);
      const data = write(file, 70_000, 0x64);
      expect(await settlesWithin(file.commit(0), 1_000)).toBe(true);
      await file.flush(0);
      expectOnDisk(file, data);
    } finally {
      await file.destroy();
    }
  });

  it('a second warm-up while one runs joins it: one zero-fill', async () => {
    const native = new WarmUpProbe(realNativeIO());
    native.writeBackGate.open();
    const file = await segment(native);
    try {
      const first = file.warm(true);
      await waitFor(() => native.zeroWrites.length === 1, 2_000, 2);
      const second = file.warm(true);
      native.firstZeros.open();
      await Promise.all([first, second]);
      expect(native.warmFdCount).toBe(1);
      expect(native.zeroWrites).toEqual([...new Set(native.zeroWrites)]); // no MiB written twice
    } finally {
      native.firstZeros.open();
      await file.destroy();
    }
  });

  it('zeros only from the write position on: bytes already committed stay', async () => {
    const native = new WarmUpProbe(realNativeIO());
    native.firstZeros.open();
    native.writeBackGate.open();
    const file = await segment(native);
    try {
      const data = write(file, 300_000, 0x62);
      await file.commit(0);
      await file.warm(true);
      expect(Math.min(...native.zeroWrites)).toBe(300_000);
      expect(native.writeBacks[0]).toEqual({ offset: 300_000, length: SLICE });
      expectOnDisk(file, data);
    } finally {
      await file.destroy();
    }
  });
});
