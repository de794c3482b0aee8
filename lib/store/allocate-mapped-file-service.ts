/**
 * AllocateMappedFileService: creates, sizes (fallocate) and pre-faults the
 * *next* segment in the background, so the append that rolls to it finds it
 * ready (RocketMQ's AllocateMappedFileService, without its thread: the work
 * is async calls on the libuv pool).
 *
 * A roll takes the prepared segment:
 * - created and warmed: handed over at once, no stall;
 * - created, still warming: handed over at once (warming goes on beside the
 *   appends, which fault the pages they touch themselves), one stall counted;
 * - not created yet, or never requested: the roll waits for the creation
 *   (fallocate + mmap, milliseconds), one stall counted.
 *
 * A prepared segment nobody took is deleted at shutdown, so it never shows
 * up as a phantom empty segment at the next start.
 *
 * The segments it prepares are warmed one at a time (warmInTurn): filling
 * fresh page-cache folios is a kernel stretch the JS thread cannot preempt
 * (this kernel runs without preemption), and two at once took both of this
 * machine's CPUs: the JS thread then waited 5-8 ms for one (perf sched).
 */
import { CommitLogError } from '../errors.js';
import type { NativeIO } from '../native/native-io.js';
import type { WriteStrategyFactory } from '../strategy/write-strategy.js';
import { MappedFile } from './mapped-file.js';

export interface AllocateMappedFileServiceParams {
  native: NativeIO;
  directory: string;
  fileSizeBytes: number;
  strategyFactory: WriteStrategyFactory;
  /** Pre-fault prepared segments (RocketMQ warmMapedFileEnable). */
  warm: boolean;
  /** A SYNC_FLUSH store: mapped segments take 4 KiB folios (MappedFile.useSmallFolios); with `warm`, warm-ups also write to disk (MappedFile.warm). */
  syncFlush?: boolean;
}

interface Allocation {
  fileFromOffset: number;
  /** Set once the file exists and is mapped. */
  file: MappedFile | undefined;
  /** Resolves when the file exists and is mapped; rejects with the creation error. */
  created: Promise<MappedFile>;
  /** Resolves when created and (if asked) warmed. */
  done: Promise<MappedFile | undefined>;
  warmed: boolean;
  startedAt: number;
}

/** At most this many segments are prepared ahead at once (a batch spanning many segments readies them all). */
export const PREPARED_MAX = 64;

export class AllocateMappedFileService {
  private readonly params: AllocateMappedFileServiceParams;
  private readonly pending = new Map<number, Allocation>();
  private stalls = 0;
  private lastAllocationMillis = 0;
  private stopped = false;
  /** The warm-up running or last run; the next one starts after it. */
  private warming: Promise<void> = Promise.resolve();

  constructor(params: AllocateMappedFileServiceParams) {
    this.params = params;
  }

  /** Rolls that found no ready segment. */
  get allocationStalls(): number {
    return this.stalls;
  }

  /** Milliseconds the last completed background allocation took (create + warm). */
  get lastAllocationMs(): number {
    return this.lastAllocationMillis;
  }

  /** Segments prepared and not yet taken. */
  get preparedCount(): number {
    return this.pending.size;
  }

  /** Starts preparing the segment at `fileFromOffset` in the background (idempotent). */
  prepare(fileFromOffset: number): void {
    if (this.stopped || this.pending.has(fileFromOffset)) return;
    if (this.pending.size >= PREPARED_MAX) throw new CommitLogError('ERR_INVALID_ARGUMENT', `at most ${PREPARED_MAX} segments are prepared ahead at once`);
    const created = this.createSegment(fileFromOffset);
    const allocation: Allocation = { fileFromOffset, file: undefined, created, done: created, warmed: false, startedAt: performance.now() };
    allocation.done = (async () => {
      const file = await created.catch(() => undefined);
      if (file === undefined) return undefined;
      allocation.file = file;
      if (this.params.warm) await this.warmInTurn(file, this.params.syncFlush ?? false);
      allocation.warmed = true;
      this.lastAllocationMillis = performance.now() - allocation.startedAt;
      return file;
    })();
    // A failure is reported to whoever takes the segment; keep it from being "unhandled" meanwhile.
    created.catch(() => undefined);
    this.pending.set(fileFromOffset, allocation);
  }

  /**
   * Warms `file` once the warm-up before it has finished (see the class
   * comment). Never rejects: warming is an optimisation, and a refused
   * pre-fault leaves a usable segment.
   */
  private warmInTurn(file: MappedFile, writeBack: boolean): Promise<void> {
    const turn = this.warming.then(async () => {
      if (this.stopped || !file.isOpen) return;
      await file.warm(writeBack);
    });
    this.warming = turn.catch(() => undefined);
    return this.warming;
  }

  /**
   * Hands over the segment at `fileFromOffset`: synchronously when it is at
   * least created, otherwise a Promise (a stall). Errors of the background
   * creation (ERR_DISK_FULL...) surface here. `countStall` is false for a
   * store's very first segment, which nothing could have prepared.
   */
  take(fileFromOffset: number, countStall = true): MappedFile | Promise<MappedFile> {
    const allocation = this.pending.get(fileFromOffset);
    if (allocation?.file !== undefined) {
      this.pending.delete(fileFromOffset);
      if (!allocation.warmed && countStall) this.stalls += 1;
      return allocation.file;
    }
    if (countStall) this.stalls += 1;
    if (allocation !== undefined) {
      this.pending.delete(fileFromOffset);
      return allocation.created;
    }
    return this.createSegment(fileFromOffset);
  }

  /** Creates the segment; a SYNC_FLUSH store's takes small folios from the start (no append may fault a large one in). */
  private async createSegment(fileFromOffset: number): Promise<MappedFile> {
    const file = await MappedFile.create({ ...this.params, fileFromOffset });
    if (this.params.syncFlush === true) await file.useSmallFolios();
    return file;
  }

  /**
   * Resolves once the segment at `fileFromOffset` exists (after prepare), so
   * the roll to it cannot fail; rejects with its creation error (ENOSPC...),
   * forgetting the failed attempt so a later roll tries again.
   */
  async whenCreated(fileFromOffset: number): Promise<void> {
    const allocation = this.pending.get(fileFromOffset);
    if (allocation === undefined) return;
    try {
      await allocation.created;
    } catch (err) {
      if (this.pending.get(fileFromOffset) === allocation) this.pending.delete(fileFromOffset);
      throw err;
    }
  }

  /**
   * Stops preparing, and deletes every prepared segment nobody took. Waits
   * for their creation, not their warm-up: a warm-up may be queued behind
   * another segment's (seconds of write-back); deleting the segment stops
   * its own at the next slice, and a queued one never starts.
   */
  async shutdown(): Promise<void> {
    this.stopped = true;
    const leftovers = [...this.pending.values()];
    this.pending.clear();
    for (const allocation of leftovers) {
      const file = await allocation.created.catch(() => undefined);
      await file?.destroy();
    }
  }
}
