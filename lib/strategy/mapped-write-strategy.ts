/** Mapped mode: appends go straight into the shared file mapping; flush is msync of the dirty range. */
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

  async flush(from: number, to: number): Promise<void> {
    await this.segment.native.msync(this.segment.mapping, from, to - from, this.segment.fd);
  }

  release(): void {
    // Nothing borrowed.
  }
}
