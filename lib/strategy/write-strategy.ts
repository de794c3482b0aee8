/**
 * WriteStrategy: where a segment's appends land and how they reach the disk.
 * One instance per segment, made by the store's WriteStrategyFactory.
 *
 * The MappedFile keeps the positions and the least-pages rules; the strategy
 * only moves bytes:
 *
 * | step   | MappedWriteStrategy           | DirectWriteStrategy                     |
 * |--------|-------------------------------|-----------------------------------------|
 * | write  | into the file mapping         | into an off-heap pool buffer            |
 * | commit | nothing (already in the cache)| pwrite [from, to) into the file         |
 * |        |                               | (durable when MappedFile.commitDurable  |
 * |        |                               | passes its O_DSYNC descriptor)          |
 * | flush  | msync [from, to), or fdatasync when only data can be dirty | fdatasync  |
 */
import type { WriteMode } from '../config.js';
import type { NativeIO } from '../native/native-io.js';
import type { TransientStorePool } from '../store/transient-store-pool.js';

export interface WriteStrategy {
  readonly mode: WriteMode;
  /** True when written bytes are in the page cache at once, so committed = wrote. */
  readonly commitsOnWrite: boolean;
  /**
   * The buffer appends are written into, indexed by position in the segment.
   * Direct mode borrows a pool buffer on first use (ERR_POOL_EXHAUSTED when none is free).
   */
  writeBuffer(): Buffer;
  /**
   * Copies [from, to) of the write buffer into the file (page cache), off the
   * JS thread; through `fd` when given (another descriptor of the same file,
   * one opened with O_DSYNC, say), the segment's own otherwise.
   */
  commit(from: number, to: number, fd?: number): Promise<void>;
  /**
   * Makes [from, to) of the file durable, off the JS thread. `onlyDataDirty`:
   * no page of the file outside what appends wrote can be dirty (a warm-up
   * wrote its pre-faulted zeros back), so syncing the whole file costs no more
   * than syncing the range.
   */
  flush(from: number, to: number, onlyDataDirty?: boolean): Promise<void>;
  /** Gives back what the strategy borrowed (the pool buffer); idempotent. */
  release(): void;
}

/** What a strategy needs of its segment. */
export interface SegmentIO {
  readonly native: NativeIO;
  readonly fd: number;
  readonly mapping: Buffer;
}

export type WriteStrategyFactory = (segment: SegmentIO) => WriteStrategy;

export interface WriteStrategyFactoryParams {
  mode: WriteMode;
  /** Required in direct mode. */
  pool?: TransientStorePool;
}
