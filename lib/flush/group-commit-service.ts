/**
 * SYNC_FLUSH: group commit (RocketMQ's GroupCommitService). An append waits
 * until the log is durable past its end; one flush serves every append
 * waiting when it starts, and appends arriving during a flush share the
 * next one. An append whose flush takes longer than `syncFlushTimeoutMs`
 * settles with FLUSH_DISK_TIMEOUT (the message is written, its durability
 * unknown to the caller); it is still flushed.
 */
import type { MappedFileQueue } from '../store/mapped-file-queue.js';
import { OffsetWaiters, type AppendOutcome } from './offset-waiters.js';
import { ServiceLoop } from './service-loop.js';

export interface GroupCommitServiceParams {
  queue: MappedFileQueue;
  syncFlushTimeoutMs: number;
  /** Called after each flush that moved the flushed offset. */
  onFlushed(): void;
  onError(err: unknown): void;
}

/** Heartbeat of an idle group commit service (it finishes bytes no append waits for); work normally arrives by wakeup(). */
const IDLE_INTERVAL_MS = 1_000;

export class GroupCommitService {
  private readonly waiters: OffsetWaiters;
  private readonly loop: ServiceLoop;
  private groups = 0;

  constructor(private readonly params: GroupCommitServiceParams) {
    this.waiters = new OffsetWaiters(params.syncFlushTimeoutMs);
    this.loop = new ServiceLoop(IDLE_INTERVAL_MS, () => this.step(), params.onError);
  }

  /** Flushes run so far (each one a group). */
  get groupCount(): number {
    return this.groups;
  }

  start(): void {
    this.loop.start();
  }

  /** Resolves with `outcome`, status PUT_OK, once the log is durable up to `endOffset`; FLUSH_DISK_TIMEOUT after the timeout. */
  waitDurable<T extends AppendOutcome>(endOffset: number, outcome: T): Promise<T> {
    const reached = this.params.queue.flushedWhere;
    if (reached < endOffset) this.loop.wakeup();
    return this.waiters.wait(endOffset, outcome, reached);
  }

  private async step(): Promise<void> {
    const { queue } = this.params;
    // Also with no one waiting: appends that timed out (FLUSH_DISK_TIMEOUT) left bytes
    // behind, which the idle heartbeat commits and flushes.
    if (this.waiters.size === 0 && queue.flushedWhere >= queue.maxWroteOffset) return;
    const moved = await queue.commitDurable();
    this.groups += 1;
    if (moved) this.params.onFlushed();
    this.waiters.reached(queue.flushedWhere);
    if (this.waiters.size > 0) this.loop.wakeup();
  }

  /** Settles as durable every waiting append that ends at or below `flushedWhere` (after a flush made elsewhere, e.g. at close). */
  reached(flushedWhere: number): void {
    this.waiters.reached(flushedWhere);
  }

  /** Settles every waiting append with `err` (the store failed or is closing). */
  rejectAll(err: unknown): void {
    this.waiters.rejectAll(err);
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }
}
