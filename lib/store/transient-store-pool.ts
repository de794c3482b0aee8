/**
 * TransientStorePool: off-heap, page-aligned buffers of segment size for
 * direct write mode (RocketMQ's TransientStorePool). Appends land in a
 * borrowed buffer; the commit service copies new bytes into the file.
 *
 * Buffers are mlocked when the system allows it, so appends never page-fault
 * or get swapped out. When mlock is refused (no root, RLIMIT_MEMLOCK) the
 * pool pre-faults the buffers instead and says so in `lockStatus`; it never
 * fails to start for that reason.
 *
 * The buffers are mapped at once but locked (or pre-faulted) in the
 * background, one after the other in the order they are lent: with the
 * default 5 × 1 GiB that takes 3-6 s here, which open() no longer waits for.
 * A buffer lent before its turn is only slower to write into at first (the
 * JS thread takes the page faults); `whenPrepared()` waits for all of them.
 *
 * An empty pool is an error (ERR_POOL_EXHAUSTED), never a silent fallback to
 * mapped mode.
 */
import { assert } from '../assert.js';
import { SEGMENT_SIZE_MAX_BYTES, TRANSIENT_STORE_POOL_SIZE_MAX as POOL_SIZE_MAX } from '../constants.js';
import { CommitLogError } from '../errors.js';
import { describe } from '../format/describe.js';
import type { NativeIO } from '../native/native-io.js';

/** Locked or pre-faulted per call: 64 MiB takes ~50 ms here, what destroy() may wait. */
const PREPARE_SLICE_BYTES = 64 * 1024 * 1024;

/** 'pending' until the background preparation has decided (and for good if the pool is destroyed first). */
export type PoolLockStatus = 'pending' | 'locked' | 'refused' | 'not-requested';

export interface TransientStorePoolParams {
  native: NativeIO;
  /** Number of buffers (RocketMQ transientStorePoolSize). */
  poolSize: number;
  /** Bytes per buffer: the segment size. */
  bufferSizeBytes: number;
  /** Try to mlock the buffers. */
  lock: boolean;
}

export class TransientStorePool {
  readonly poolSize: number;
  readonly bufferSizeBytes: number;
  private readonly native: NativeIO;
  private readonly all: readonly Buffer[];
  private readonly available: Buffer[];
  private status: PoolLockStatus;
  private readonly preparing: Promise<void>;
  private destroyed = false;

  private constructor(params: TransientStorePoolParams, buffers: Buffer[]) {
    this.native = params.native;
    this.poolSize = params.poolSize;
    this.bufferSizeBytes = params.bufferSizeBytes;
    this.all = buffers;
    // Lent from the end: the first buffer prepared is the first lent.
    this.available = [...buffers].reverse();
    this.status = params.lock ? 'pending' : 'not-requested';
    // prepare() swallows the native layer's failures; this catch only keeps a bug from going unobserved.
    this.preparing = this.prepare(params.lock).catch(() => undefined);
  }

  /** Maps every buffer (ERR_IO when that fails); locking or pre-faulting them goes on in the background. */
  static async create(params: TransientStorePoolParams): Promise<TransientStorePool> {
    if (!Number.isSafeInteger(params.poolSize) || params.poolSize < 1 || params.poolSize > POOL_SIZE_MAX) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `poolSize must be an integer in [1, ${POOL_SIZE_MAX}], got ${describe(params.poolSize)}`);
    }
    const size = params.bufferSizeBytes;
    if (!Number.isSafeInteger(size) || size <= 0 || size % params.native.pageSize !== 0 || size > SEGMENT_SIZE_MAX_BYTES) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `bufferSizeBytes must be a positive multiple of the page size, at most ${SEGMENT_SIZE_MAX_BYTES}, got ${describe(size)}`);
    }
    const buffers: Buffer[] = [];
    try {
      for (let index = 0; index < params.poolSize; index += 1) {
        buffers.push(params.native.mapAnonymous(params.bufferSizeBytes));
      }
    } catch (err) {
      for (const buffer of buffers) await params.native.releaseMapping(buffer).catch(() => undefined);
      throw err;
    }
    return new TransientStorePool(params, buffers);
  }

  /** Whether the buffers are locked in RAM, or why not ('pending' until whenPrepared settles). */
  get lockStatus(): PoolLockStatus {
    return this.status;
  }

  /** Settles when every buffer is locked or pre-faulted (or the pool is destroyed); never rejects. */
  whenPrepared(): Promise<void> {
    return this.preparing;
  }

  /**
   * One buffer at a time, off the JS thread, in lending order, in slices
   * (destroy() waits for the slice in hand only): mlock each; at the first
   * refusal, unlock what was locked and pre-fault all instead. Any mlock
   * error counts as a refusal (the pool runs unlocked; open() used to fail
   * on an errno other than EPERM/ENOMEM/EAGAIN, but no store is lost for
   * lack of a lock). A pre-fault failure costs speed only (a page not
   * faulted in now is faulted by its first write), so it is swallowed.
   */
  private async prepare(lock: boolean): Promise<void> {
    const order = this.all; // lending order
    if (lock) {
      let refused = false;
      let touched = 0;
      for (const buffer of order) {
        touched += 1;
        refused = !(await this.eachSlice(buffer, (offset, length) => this.native.mlock(buffer.subarray(offset, offset + length)).catch(() => false)));
        if (refused || this.destroyed) break;
      }
      if (!refused && !this.destroyed) {
        this.status = 'locked';
        return;
      }
      for (const buffer of order.slice(0, touched)) await this.native.munlock(buffer).catch(() => undefined);
      if (this.destroyed) return;
      this.status = 'refused';
    }
    // Without mlock, fault the pages in so the first appends do not stall.
    for (const buffer of order) {
      await this.eachSlice(buffer, (offset, length) => this.native.populateWrite(buffer, offset, length).then(() => true, () => true));
      if (this.destroyed) return;
    }
  }

  /** `step` over PREPARE_SLICE_BYTES pieces of `buffer` until it returns false or the pool is destroyed; false when it did. */
  private async eachSlice(buffer: Buffer, step: (offset: number, length: number) => Promise<boolean>): Promise<boolean> {
    for (let offset = 0; offset < buffer.length && !this.destroyed; offset += PREPARE_SLICE_BYTES) {
      if (!(await step(offset, Math.min(PREPARE_SLICE_BYTES, buffer.length - offset)))) return false;
    }
    return true;
  }

  /** Buffers free to borrow. */
  get availableBufferCount(): number {
    return this.available.length;
  }

  /** Takes a buffer; ERR_POOL_EXHAUSTED when none is free. */
  borrowBuffer(): Buffer {
    if (this.destroyed) throw new CommitLogError('ERR_CLOSED', 'transient store pool is destroyed');
    const buffer = this.available.pop();
    if (buffer === undefined) {
      throw new CommitLogError(
        'ERR_POOL_EXHAUSTED',
        `all ${this.poolSize} transient store buffers are in use; raise transientStorePoolSize or let commits catch up`,
      );
    }
    return buffer;
  }

  /** Gives a borrowed buffer back. Its old bytes stay; only committed ranges ever reach a file. */
  returnBuffer(buffer: Buffer): void {
    assert(this.all.includes(buffer), 'returned buffer belongs to this pool');
    assert(!this.available.includes(buffer), 'buffer is not returned twice');
    if (this.destroyed) return;
    this.available.push(buffer);
    assert(this.available.length <= this.poolSize, 'pool never holds more buffers than it made');
  }

  /**
   * Unlocks and releases every buffer, off the JS thread. Borrowing fails
   * from the first moment; buffers still borrowed read zeros afterwards.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.available.length = 0;
    // The preparation stops at its next slice; the one in hand must finish before its mapping goes.
    await this.preparing;
    // (A buffer locked before a destroy that stopped the preparation is unlocked above, or by munmap.)
    for (const buffer of this.all) {
      if (this.status === 'locked') await this.native.munlock(buffer);
      await this.native.releaseMapping(buffer);
    }
  }
}
