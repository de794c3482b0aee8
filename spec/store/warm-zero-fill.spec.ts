/**
 * Direct mode's write-back warm-up writes zeros over the segment with pwrite
 * (MappedFile.warmZeroFilling), ahead of the writer. A commit that reaches
 * the slice being zero-filled waits for it, so data always lands after the
 * zeros; once the writer passes the warm-up, the warm-up stops. Checked on
 * the bytes in the file.
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

const SEGMENT = 3 * SLICE + 4096;

/** Holds the first zero-fill slice until released; logs every slice with the writer's position when it started. */
class GatedZeroFill extends ForwardingNativeIO {
  readonly slices: Array<{ offset: number; length: number }> = [];
  private gate: (() => void) | undefined;
  private held = false;
  override zeroFillWriteBack(fd: number, offset: number, length: number): Promise<void> {
    this.slices.push({ offset, length });
    if (this.held) return super.zeroFillWriteBack(fd, offset, length);
    this.held = true;
    return new Promise<void>((resolve) => (this.gate = resolve)).then(() => super.zeroFillWriteBack(fd, offset, length));
  }
  release(): void {
    this.gate?.();
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

  it.each<[string, number, number[]]>([
    // The writer stays inside the first slice: the warm-up goes on after it.
    ['inside the first slice', 100 * 1024, [0, SLICE, 2 * SLICE, 3 * SLICE]],
    // The writer passes the next slice's start: the warm-up ends, the commits write the rest.
    ['past the next slice', SLICE + 12_345, [0]],
  ])('a commit reaching the slice in flight waits for it; writer %s', async (_case, length, offsets) => {
    const native = new GatedZeroFill(realNativeIO());
    const file = await segment(native);
    try {
      const warming = file.warm(true);
      await waitFor(() => native.slices.length === 1, 2_000, 2);
      const data = write(file, length, 0x61);
      let committed = false;
      const committing = file.commit(0).then(() => (committed = true));
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(committed).toBe(false); // behind the zeros of the first slice
      expect(file.committedPosition).toBe(0);
      native.release();
      await committing;
      await warming;
      expect(file.committedPosition).toBe(length);
      expect(native.slices.map((slice) => slice.offset)).toEqual(offsets);
      await file.flush(0);
      const onDisk = readFileSync(file.path);
      expect(onDisk.subarray(0, length).equals(data)).toBe(true);
      expect(onDisk.subarray(length).every((byte) => byte === 0)).toBe(true);
    } finally {
      await file.destroy();
    }
  });

  it('zeros only from the write position on: bytes already committed stay', async () => {
    const native = new GatedZeroFill(realNativeIO());
    const file = await segment(native);
    try {
      const data = write(file, 300_000, 0x62);
      await file.commit(0);
      const warming = file.warm(true);
      await waitFor(() => native.slices.length === 1, 2_000, 2);
      native.release();
      await warming;
      expect(native.slices[0]).toEqual({ offset: 300_000, length: SLICE });
      const onDisk = readFileSync(file.path);
      expect(onDisk.subarray(0, data.length).equals(data)).toBe(true);
    } finally {
      await file.destroy();
    }
  });
});
