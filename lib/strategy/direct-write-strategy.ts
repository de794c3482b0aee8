/**
 * Direct mode: appends go into an off-heap buffer borrowed from the
 * TransientStorePool; commit copies new bytes into the file with pwrite,
 * flush is fdatasync. Readers read the file mapping, which sees committed
 * bytes through the shared page cache.
 */
import { assert } from '../assert.js';
import type { TransientStorePool } from '../store/transient-store-pool.js';
import type { SegmentIO, WriteStrategy } from './write-strategy.js';

export class DirectWriteStrategy implements WriteStrategy {
  readonly mode = 'direct' as const;
  readonly commitsOnWrite = false;
  private buffer: Buffer | undefined;

  constructor(
    private readonly segment: SegmentIO,
    private readonly pool: TransientStorePool,
  ) {
    assert(pool.bufferSizeBytes === segment.mapping.length, 'pool buffers are segment-sized');
  }

  writeBuffer(): Buffer {
    this.buffer ??= this.pool.borrowBuffer();
    return this.buffer;
  }

  async commit(from: number, to: number, fd = this.segment.fd): Promise<void> {
    assert(this.buffer !== undefined, 'commit has bytes to copy only after a write');
    await this.segment.native.pwrite(fd, this.buffer, from, to - from, from);
  }

  async flush(from: number, to: number): Promise<void> {
    await this.segment.native.fdatasync(this.segment.fd, { from, to });
  }

  release(): void {
    if (this.buffer === undefined) return;
    this.pool.returnBuffer(this.buffer);
    this.buffer = undefined;
  }
}
