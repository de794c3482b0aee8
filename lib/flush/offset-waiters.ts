/**
 * Appends waiting for an offset to be reached (committed, or flushed), kept
 * in offset order (they nearly always arrive in it) and settled from the
 * front: one pass per flush, however many appends shared it.
 */
import { assert } from '../assert.js';

/**
 * What a waiter settles with: usually the append's own result object, its
 * status set on the way out ('PUT_OK' once reached, 'FLUSH_DISK_TIMEOUT'
 * after the timeout). Resolving with the result itself saves each SYNC_FLUSH
 * append a promise and a closure (the group commit path allocated ~0.9 KB per
 * append before; its GC pauses set the ack p99).
 */
export interface AppendOutcome {
  status: 'PUT_OK' | 'FLUSH_DISK_TIMEOUT';
}

interface Waiter {
  endOffset: number;
  deadlineMs: number;
  outcome: AppendOutcome;
  resolve(outcome: AppendOutcome): void;
  reject(err: unknown): void;
}

/** Bound on waiting appends: beyond it appends are not being flushed at all, which is a bug. */
const WAITERS_MAX = 1 << 22;

export class OffsetWaiters {
  private readonly waiters: Waiter[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  /** @param timeoutMs how long a waiter waits before it settles as 'timeout'; Infinity for never. */
  constructor(private readonly timeoutMs: number) {}

  get size(): number {
    return this.waiters.length - this.head;
  }

  /** The largest end offset waited for, or -1. */
  get highestOffset(): number {
    return this.size === 0 ? -1 : this.waiters[this.waiters.length - 1]!.endOffset;
  }

  /**
   * Resolves with `outcome` (its status set) once `endOffset` is reached or
   * the timeout passes; at once when `reachedOffset` (where the log is now)
   * is already there.
   */
  wait<T extends AppendOutcome>(endOffset: number, outcome: T, reachedOffset: number): Promise<T> {
    if (reachedOffset >= endOffset) {
      outcome.status = 'PUT_OK';
      return Promise.resolve(outcome);
    }
    assert(this.size < WAITERS_MAX, `at most ${WAITERS_MAX} waiting appends`);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = { endOffset, deadlineMs: performance.now() + this.timeoutMs, outcome, resolve: resolve as Waiter['resolve'], reject };
      // Nearly always the largest so far; an append that wrote earlier but waits later (a
      // batch resuming after an await, while a later append took the fast path) goes back
      // to its place, so settling from the front stays in offset order.
      let at = this.waiters.length;
      while (at > this.head && this.waiters[at - 1]!.endOffset > endOffset) at -= 1;
      if (at === this.waiters.length) this.waiters.push(waiter);
      else this.waiters.splice(at, 0, waiter);
      if (this.timer === undefined && Number.isFinite(this.timeoutMs)) this.armTimer();
    });
  }

  /** Settles every waiter whose end offset is at or below `where`. */
  reached(where: number): void {
    while (this.head < this.waiters.length && this.waiters[this.head]!.endOffset <= where) {
      const waiter = this.waiters[this.head]!;
      waiter.outcome.status = 'PUT_OK';
      waiter.resolve(waiter.outcome);
      this.head += 1;
    }
    this.compact();
  }

  /** Rejects every waiter (the store failed or closed). */
  rejectAll(err: unknown): void {
    while (this.head < this.waiters.length) {
      this.waiters[this.head]!.reject(err);
      this.head += 1;
    }
    this.compact();
  }

  private compact(): void {
    if (this.head === this.waiters.length) {
      this.waiters.length = 0;
      this.head = 0;
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
    } else if (this.head > 1024 && this.head * 2 > this.waiters.length) {
      this.waiters.splice(0, this.head);
      this.head = 0;
    }
  }

  /** One timer, for the oldest waiter; waiters past their deadline settle as 'timeout'. */
  private armTimer(): void {
    const oldest = this.waiters[this.head];
    if (oldest === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = performance.now();
      while (this.head < this.waiters.length && this.waiters[this.head]!.deadlineMs <= now) {
        const waiter = this.waiters[this.head]!;
        waiter.outcome.status = 'FLUSH_DISK_TIMEOUT';
        waiter.resolve(waiter.outcome);
        this.head += 1;
      }
      this.compact();
      if (this.size > 0 && this.timer === undefined) this.armTimer();
    }, Math.max(0, oldest.deadlineMs - performance.now()));
    this.timer.unref();
  }
}
