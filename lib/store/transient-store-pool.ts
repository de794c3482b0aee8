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
 * An empty pool is an error (ERR_POOL_EXHAUSTED), never a silent fallback to
 * mapped mode.
 */
import { assert } from '../assert.js';
import { CommitLogError } from '../errors.js';
import type { NativeIO } from '../native/native-io.js';

export type PoolLockStatus = 'locked' | 'refused' | 'not-requested';

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
  /** Whether the buffers are locked in RAM, or why not. */
  readonly lockStatus: PoolLockStatus;
  private readonly native: NativeIO;
  private readonly all: readonly Buffer[];
  private readonly available: Buffer[];
  private destroyed = false;

  private constructor(params: TransientStorePoolParams, buffers: Buffer[], lockStatus: PoolLockStatus) {
    this.native = params.native;
    this.poolSize = params.poolSize;
    this.bufferSizeBytes = params.bufferSizeBytes;
    this.all = buffers;
    this.available = [...buffers];
    this.lockStatus = lockStatus;
  }

  /** Allocates and locks (or pre-faults) every buffer, off the JS thread. */
  static async create(params: TransientStorePoolParams): Promise<TransientStorePool> {
    assert(params.poolSize > 0 && params.bufferSizeBytes > 0, 'pool has buffers of positive size');
    assert(params.bufferSizeBytes % params.native.pageSize === 0, 'pool buffers are whole pages');
    const buffers: Buffer[] = [];
    try {
      for (let index = 0; index < params.poolSize; index += 1) {
        buffers.push(params.native.mapAnonymous(params.bufferSizeBytes));
      }
      let lockStatus: PoolLockStatus = 'not-requested';
      if (params.lock) {
        const results = await Promise.all(buffers.map((buffer) => params.native.mlock(buffer)));
        lockStatus = results.every(Boolean) ? 'locked' : 'refused';
        if (lockStatus === 'refused') {
          for (const [index, buffer] of buffers.entries()) if (results[index]) await params.native.munlock(buffer);
        }
      }
      if (lockStatus !== 'locked') {
        // Without mlock, fault the pages in now so the first appends do not stall.
        await Promise.all(buffers.map((buffer) => params.native.populateWrite(buffer, 0, buffer.length)));
      }
      return new TransientStorePool(params, buffers, lockStatus);
    } catch (err) {
      for (const buffer of buffers) await params.native.releaseMapping(buffer).catch(() => undefined);
      throw err;
    }
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
    for (const buffer of this.all) {
      if (this.lockStatus === 'locked') await this.native.munlock(buffer);
      await this.native.releaseMapping(buffer);
    }
  }
}
