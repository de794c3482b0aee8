/**
 * How a segment is pre-faulted (MappedFile.warm, AllocateMappedFileService):
 * the mapping is advised 'hugepage' + 'random' while the kernel faults it
 * in, so each page-cache miss fills one 2 MiB folio instead of a whole
 * read-ahead window in one unpreemptible stretch ('random' alone, 4 KiB
 * folios, for a mapped SYNC_FLUSH segment), and 'normal' afterwards; a
 * direct-mode segment is never faulted in through its mapping; and
 * warm-ups run one at a time. The advice is read back from the kernel
 * (/proc/self/smaps VmFlags: "hg" = MADV_HUGEPAGE, "rr" = MADV_RANDOM).
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { CommitLog } from '../../lib/commit-log.js';
import { TEST_MIN, type FlushDiskType, type WriteMode } from '../../lib/config.js';
import { segmentFileName } from '../../lib/format/segment-name.js';
import type { NativeIO } from '../../lib/native/native-io.js';
import { realNativeIO } from '../../lib/native/index.js';
import { AllocateMappedFileService } from '../../lib/store/allocate-mapped-file-service.js';
import { MappedFile, WARM_WRITE_BACK_SLICE_BYTES } from '../../lib/store/mapped-file.js';
import { TransientStorePool } from '../../lib/store/transient-store-pool.js';
import { writeStrategyFactory } from '../../lib/strategy/index.js';
import { ForwardingNativeIO } from '../durability/helpers/forwarding-native-io.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const SEGMENT = 4 * 1024 * 1024;
const HUGE_PAGES = existsSync('/sys/kernel/mm/transparent_hugepage/enabled');

/** The lines after this process's mapping of `path` in /proc/self/smaps (its fields first). */
function smapsOf(path: string): string[] {
  const lines = readFileSync('/proc/self/smaps', 'utf8').split('\n');
  const header = lines.findIndex((line) => line.endsWith(` ${path}`));
  expect(header, `a mapping of ${path} in /proc/self/smaps`).toBeGreaterThanOrEqual(0);
  return lines.slice(header + 1);
}

/** The kernel's VmFlags of this process's mapping of `path` (two-letter codes). */
function vmFlags(path: string): string[] {
  const flags = smapsOf(path).find((line) => line.startsWith('VmFlags:'));
  return flags!.slice('VmFlags:'.length).trim().split(/\s+/);
}

/** A size field (e.g. "Rss") of this process's mapping of `path`, in KiB. */
function mappedKiB(path: string, field: string): number {
  const row = smapsOf(path).find((line) => line.startsWith(`${field}:`));
  return Number(/(\d+) kB/.exec(row!)![1]);
}

/** Records the mapping's VmFlags at every pre-fault call, before it runs. */
class AdviceProbe extends ForwardingNativeIO {
  readonly seen: string[][] = [];
  path = '';
  override populateWrite(mapping: Buffer, position: number, length: number): Promise<void> {
    this.seen.push(vmFlags(this.path));
    return super.populateWrite(mapping, position, length);
  }
  override warmWriteBack(mapping: Buffer, position: number, length: number, fd: number): Promise<void> {
    this.seen.push(vmFlags(this.path));
    return super.warmWriteBack(mapping, position, length, fd);
  }
  readonly writtenBack: Array<[offset: number, length: number]> = [];
  override writeBack(fd: number, offset: number, length: number): Promise<void> {
    this.writtenBack.push([offset, length]);
    return super.writeBack(fd, offset, length);
  }
}

describe('warm-up advice', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  let pool: TransientStorePool | undefined;
  beforeEach(() => {
    dir = makeTmpDir();
  });
  afterEach(async () => {
    await pool?.destroy();
    pool = undefined;
    dir.cleanup();
  });

  async function segment(native: NativeIO, mode: WriteMode): Promise<MappedFile> {
    if (mode === 'direct') pool = await TransientStorePool.create({ native: realNativeIO(), poolSize: 1, bufferSizeBytes: SEGMENT, lock: false });
    return MappedFile.create({ native, directory: dir.path, fileFromOffset: 0, fileSizeBytes: SEGMENT, strategyFactory: writeStrategyFactory({ mode, ...(pool ? { pool } : {}) }) });
  }

  // MADV_HUGEPAGE is refused (EINVAL) by a kernel built without transparent huge pages.
  it.skipIf(!HUGE_PAGES)('mapped mode: advised hugepage + random while faulting in, read-ahead back after', async () => {
    const probe = new AdviceProbe(realNativeIO());
    const file = await segment(probe, 'mapped');
    try {
      probe.path = file.path;
      expect(vmFlags(file.path)).not.toContain('hg');
      await file.warm();
      expect(probe.seen.length).toBeGreaterThan(0);
      for (const flags of probe.seen) expect(flags).toEqual(expect.arrayContaining(['hg', 'rr']));
      const after = vmFlags(file.path);
      expect(after).toContain('hg');
      expect(after).not.toContain('rr');
    } finally {
      await file.destroy();
    }
  });

  // A group flush writes back whole dirty folios: a SYNC_FLUSH store's mapped segments take 4 KiB ones.
  it.each<[boolean]>([[true], [false]])('mapped mode, SYNC_FLUSH, write-back %s: random alone, kept until the segment is full and flushed', async (writeBack) => {
    const probe = new AdviceProbe(realNativeIO());
    const file = await segment(probe, 'mapped');
    try {
      probe.path = file.path;
      await file.useSmallFolios();
      await file.warm(writeBack);
      expect(probe.seen.length).toBeGreaterThan(0);
      for (const flags of probe.seen) {
        expect(flags).toContain('rr');
        expect(flags).not.toContain('hg');
      }
      expect(vmFlags(file.path)).toContain('rr'); // appends still to come
      file.writeBuffer().fill(0x61, 0, SEGMENT - 1);
      file.advance(SEGMENT - 1);
      await file.flush(0);
      expect(vmFlags(file.path)).toContain('rr'); // not full yet
      file.writeBuffer()[SEGMENT - 1] = 0x62;
      file.advance(1);
      await file.flush(0);
      await waitFor(() => !vmFlags(file.path).includes('rr'), 1_000, 5);
      expect(vmFlags(file.path)).not.toContain('rr');
      expect(vmFlags(file.path)).not.toContain('hg');
    } finally {
      await file.destroy();
    }
  });

  // Small folios do not depend on the warm-up: read-around makes large ones for an append's own fault.
  it.each<[FlushDiskType, boolean]>([
    ['SYNC_FLUSH', false],
    ['SYNC_FLUSH', true],
    ['ASYNC_FLUSH', false],
  ])('a mapped %s store, warmMapedFileEnable %s: small folios for the segment taking appends, the prepared one, and after reopening', async (flushDiskType, warm) => {
    const options = { ...TEST_MIN, mappedFileSizeCommitLog: SEGMENT, storePathCommitLog: dir.path, flushDiskType, writeMode: 'mapped' as const, warmMapedFileEnable: warm };
    const small = flushDiskType === 'SYNC_FLUSH';
    const first = join(dir.path, segmentFileName(0));
    const next = join(dir.path, segmentFileName(SEGMENT));
    const log = await CommitLog.open(options);
    try {
      await log.append({ topic: 'folios', body: Buffer.alloc(1000, 0x41) });
      expect(vmFlags(first).includes('rr')).toBe(small);
      await waitFor(() => readFileSync('/proc/self/smaps', 'utf8').includes(` ${next}\n`), 2_000, 5);
      await waitFor(() => !small || vmFlags(next).includes('rr'), 2_000, 5);
      expect(vmFlags(next).includes('rr')).toBe(small);
      expect(vmFlags(next)).not.toContain('hg');
    } finally {
      await log.close();
    }
    const reopened = await CommitLog.open(options);
    try {
      expect(vmFlags(first).includes('rr')).toBe(small);
    } finally {
      await reopened.close();
    }
  });

  // Its writes go to the pool buffer; with write-back, zeros go to the file by pwrite and are written back.
  it.each<[boolean]>([[false], [true]])('a direct-mode segment, write-back %s, is not faulted in through its mapping, and not advised', async (writeBack) => {
    const probe = new AdviceProbe(realNativeIO());
    const file = await segment(probe, 'direct');
    try {
      probe.path = file.path;
      await file.warm(writeBack);
      expect(probe.seen).toEqual([]);
      expect(vmFlags(file.path)).not.toContain('hg');
      expect(vmFlags(file.path)).not.toContain('rr');
      expect(mappedKiB(file.path, 'Rss')).toBe(0); // no page of it in this process's page tables
      expect(SEGMENT).toBeLessThanOrEqual(WARM_WRITE_BACK_SLICE_BYTES);
      expect(probe.writtenBack).toEqual(writeBack ? [[0, SEGMENT]] : []);
    } finally {
      await file.destroy();
    }
  });
});

/** Holds every pre-fault call until released, and logs when each starts and ends. */
class GatedPrefault extends ForwardingNativeIO {
  readonly log: string[] = [];
  private gates: Array<() => void> = [];
  override populateWrite(mapping: Buffer, position: number, length: number): Promise<void> {
    const name = `segment@${this.log.filter((entry) => entry.startsWith('start')).length}`;
    this.log.push(`start ${name}`);
    return new Promise<void>((resolve) => this.gates.push(resolve))
      .then(() => super.populateWrite(mapping, position, length))
      .finally(() => this.log.push(`end ${name}`));
  }
  get waiting(): number {
    return this.gates.length;
  }
  releaseAll(): void {
    const gates = this.gates;
    this.gates = [];
    for (const open of gates) open();
  }
}

describe('AllocateMappedFileService warm-ups', () => {
  let dir: ReturnType<typeof makeTmpDir>;
  beforeEach(() => {
    dir = makeTmpDir();
  });
  afterEach(() => dir.cleanup());

  it('run one at a time: the second segment is faulted in only after the first is done', async () => {
    const gated = new GatedPrefault(realNativeIO());
    const service = new AllocateMappedFileService({ native: gated, directory: dir.path, fileSizeBytes: SEGMENT, strategyFactory: writeStrategyFactory({ mode: 'mapped' }), warm: true });
    try {
      service.prepare(0);
      service.prepare(SEGMENT);
      await service.whenCreated(0);
      await service.whenCreated(SEGMENT);
      await waitFor(() => gated.waiting > 0, 1_000, 5);
      // Both segments exist; only the first one's pre-fault has started.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(gated.log).toEqual(['start segment@0']);
      for (let round = 0; round < 400 && gated.log.length < 4; round += 1) {
        gated.releaseAll();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(gated.log).toEqual(['start segment@0', 'end segment@0', 'start segment@1', 'end segment@1']);
      for (const file of [service.take(0), service.take(SEGMENT)]) await (await file).destroy();
    } finally {
      gated.releaseAll();
      await service.shutdown();
    }
  });
});
