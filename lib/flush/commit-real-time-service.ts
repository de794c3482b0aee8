/**
 * Direct write mode: the committer (RocketMQ's CommitRealTimeService). It
 * copies new bytes from the pool buffers into the files every
 * `commitIntervalMs` when at least `commitLeastPages` pages are new, every
 * `commitThoroughIntervalMs` regardless, and right away when an append is
 * waiting to become readable. Each commit that moved wakes the flusher.
 * Under SYNC_FLUSH the group commit commits what it makes durable itself
 * (MappedFile.commitDurable); this service then commits only for appends
 * waiting on a pool buffer.
 */
import type { MappedFileQueue } from '../store/mapped-file-queue.js';
import { OffsetWaiters, type AppendOutcome } from './offset-waiters.js';
import { ServiceLoop } from './service-loop.js';

export interface CommitRealTimeServiceParams {
  queue: MappedFileQueue;
  commitIntervalMs: number;
  commitLeastPages: number;
  commitThoroughIntervalMs: number;
  /**
   * SYNC_FLUSH: the group commit commits what it makes durable
   * (MappedFile.commitDurable), and a commit of this service would only make
   * the next group wait for it, then write the same bytes again. Commit only
   * for appends waiting on a pool buffer.
   */
  onlyForWaiters: boolean;
  /** Called after each commit that moved the committed offset. */
  onCommitted(): void;
  onError(err: unknown): void;
}

export class CommitRealTimeService {
  private readonly loop: ServiceLoop;
  private readonly waiters = new OffsetWaiters(Infinity);
  private lastThoroughMs = performance.now();

  constructor(private readonly params: CommitRealTimeServiceParams) {
    this.loop = new ServiceLoop(params.commitIntervalMs, () => this.step(), params.onError);
  }

  start(): void {
    this.loop.start();
  }

  /** Resolves with `outcome`, status PUT_OK, once the log is committed (readable) up to `endOffset`. */
  waitCommitted<T extends AppendOutcome>(endOffset: number, outcome: T): Promise<T> {
    const reached = this.params.queue.committedWhere;
    if (reached < endOffset) this.loop.wakeup();
    return this.waiters.wait(endOffset, outcome, reached);
  }

  private async step(): Promise<void> {
    if (this.params.onlyForWaiters && this.waiters.size === 0) return;
    const now = performance.now();
    const thorough = now - this.lastThoroughMs >= this.params.commitThoroughIntervalMs;
    if (thorough) this.lastThoroughMs = now;
    const urgent = this.waiters.size > 0;
    const moved = await this.params.queue.commit(thorough || urgent ? 0 : this.params.commitLeastPages);
    this.waiters.reached(this.params.queue.committedWhere);
    if (moved) this.params.onCommitted();
    if (this.waiters.size > 0) this.loop.wakeup();
  }

  /** Settles every append waiting to be readable up to `committedWhere`. */
  reached(committedWhere: number): void {
    this.waiters.reached(committedWhere);
  }

  rejectAll(err: unknown): void {
    this.waiters.rejectAll(err);
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }
}
