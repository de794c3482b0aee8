/**
 * ASYNC_FLUSH: the background flusher (RocketMQ's FlushRealTimeService).
 * Every `flushIntervalMs` it flushes when at least `flushLeastPages` pages
 * are dirty; every `flushThoroughIntervalMs` it flushes whatever is dirty.
 */
import type { MappedFileQueue } from '../store/mapped-file-queue.js';
import { ServiceLoop } from './service-loop.js';

export interface FlushRealTimeServiceParams {
  queue: MappedFileQueue;
  flushIntervalMs: number;
  flushLeastPages: number;
  flushThoroughIntervalMs: number;
  /** Called after each flush that moved the flushed offset. */
  onFlushed(): void;
  onError(err: unknown): void;
}

export class FlushRealTimeService {
  private readonly loop: ServiceLoop;
  private lastThoroughMs = performance.now();

  constructor(private readonly params: FlushRealTimeServiceParams) {
    this.loop = new ServiceLoop(params.flushIntervalMs, () => this.step(), params.onError);
  }

  start(): void {
    this.loop.start();
  }

  /** Flushes now (least-pages still applies unless a thorough flush is due). */
  wakeup(): void {
    this.loop.wakeup();
  }

  private async step(): Promise<void> {
    const now = performance.now();
    const thorough = now - this.lastThoroughMs >= this.params.flushThoroughIntervalMs;
    if (thorough) this.lastThoroughMs = now;
    const moved = await this.params.queue.flush(thorough ? 0 : this.params.flushLeastPages);
    if (moved) this.params.onFlushed();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }
}
