/** Mapped mode: appends go straight into the shared file mapping; flush is msync of the dirty range (or fdatasync, see flush). */
import type { SegmentIO, WriteStrategy } from './write-strategy.js';

export class MappedWriteStrategy implements WriteStrategy {
  readonly mode = 'mapped' as const;
  readonly commitsOnWrite = true;

  constructor(private readonly segment: SegmentIO) {}

  writeBuffer(): Buffer {
    return this.segment.mapping;
  }

  async commit(): Promise<void> {
    // The bytes are already in the page cache: nothing to copy.
  }

  async flush(from: number, to: number, onlyDataDirty = false): Promise<void> {
    // fdatasync goes through libuv for a small range (no ffi call, ~0.1 ms less
    // per SYNC_FLUSH group); it syncs the whole file, so only when nothing but
    // the appended data can be dirty. A pre-faulted segment's untouched pages are
    // dirty zeros until written back: msync of the range then.
    if (onlyDataDirty) await this.segment.native.fdatasync(this.segment.fd, { from, to });
    else await this.segment.native.msync(this.segment.mapping, from, to - from, this.segment.fd);
  }

  release(): void {
    // Nothing borrowed.
  }
}
