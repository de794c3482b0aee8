/**
 * MappedFileQueue sustained append: many segments of 1 KiB messages, with a
 * background committer (direct mode) and flusher running as the CommitLog's
 * services will, until everything written is durable.
 *
 * Expectation (../shared/LIMITS.md): a sustained append into fresh segments
 * is bounded by page-cache allocation (~1.0 GB/s: pwrite into a new file,
 * or pre-faulting a mapping) and by disk writeback (~1.4–1.8 GB/s); the
 * faster mode should reach ≥ 80 % of the smaller, with the allocation
 * service keeping every roll stall-free and the event loop responsive.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { CommitLogError, MappedFileQueue, TransientStorePool, realNativeIO, writeStrategyFactory, type MappedFile, type WriteMode } from '../../lib/index.js';
import { measureEventLoopDelay, type EventLoopDelay } from '../harness/event-loop-delay.js';

export interface QueueBenchParams {
  directory: string;
  segmentBytes: number;
  mode: WriteMode;
  messageBytes: number;
  totalBytes: number;
  /**
   * Pace the writer at this rate (bytes/s) instead of flat out: the issue's
   * question is whether a rate near the machine's limit can be sustained with
   * no stalls and a responsive event loop, not only how fast a burst goes.
   */
  paceBytesPerSecond?: number;
  /** Called now and then with the bytes written so far. */
  onProgress?: (writtenBytes: number) => void;
}

export interface QueueBenchResult {
  mode: WriteMode;
  messageBytes: number;
  /** The pace asked for (bytes/s), undefined when flat out. */
  paceBytesPerSecond: number | undefined;
  bytes: number;
  segments: number;
  seconds: number;
  bytesPerSecond: number;
  allocationStalls: number;
  poolExhaustedWaits: number;
  eventLoop: EventLoopDelay;
}

/** Bytes the writer writes between turns of the event loop. */
const WRITE_SLICE_BYTES = 1024 * 1024;

export async function benchQueue(params: QueueBenchParams): Promise<QueueBenchResult> {
  const native = realNativeIO();
  const pool =
    params.mode === 'direct'
      ? await TransientStorePool.create({ native, poolSize: 3, bufferSizeBytes: params.segmentBytes, lock: true })
      : undefined;
  await pool?.whenPrepared(); // measured once its buffers are locked, as a running store has them
  const queue = new MappedFileQueue({
    native,
    directory: params.directory,
    fileSizeBytes: params.segmentBytes,
    strategyFactory: writeStrategyFactory({ mode: params.mode, ...(pool ? { pool } : {}) }),
    warm: true,
  });
  const message = Buffer.alloc(params.messageBytes, 0x6d);
  let poolExhaustedWaits = 0;
  let writing = true;
  let backgroundError: unknown;

  // The CommitLog's services in miniature: commit (direct mode) and flush in a loop.
  async function background(step: () => Promise<boolean>): Promise<void> {
    try {
      while (writing || queue.remainingBytesToCommit > 0 || queue.remainingBytesToFlush > 0) {
        if (!(await step())) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    } catch (err) {
      backgroundError = err;
    }
  }

  try {
    // The first segment is created and warmed before the clock starts, as an open store has it.
    const first = await queue.lastMappedFileForAppend();
    await first.warm();
    const { result, delay } = await measureEventLoopDelay(async () => {
      const start = performance.now();
      const services = [background(() => queue.flush(4))];
      if (params.mode === 'direct') services.push(background(() => queue.commit(4)));
      let written = 0;
      let nextProgress = 0;
      while (written < params.totalBytes && backgroundError === undefined) {
        let file: MappedFile;
        try {
          const last = queue.lastMappedFileForAppend();
          file = last instanceof Promise ? await last : last;
          const sliceEnd = Math.min(written + WRITE_SLICE_BYTES, params.totalBytes);
          const target = file.writeBuffer(); // direct mode: ERR_POOL_EXHAUSTED when commits lag
          while (written < sliceEnd) {
            if (file.remainingBytes < params.messageBytes) {
              file.advance(file.remainingBytes); // the CommitLog writes a blank record here
              break;
            }
            message.copy(target, file.wrotePosition);
            file.advance(params.messageBytes);
            written += params.messageBytes;
          }
        } catch (err) {
          if (!(err instanceof CommitLogError && err.code === 'ERR_POOL_EXHAUSTED')) throw err;
          poolExhaustedWaits += 1; // back-pressure: wait for the committer to hand a buffer back
        }
        if (written >= nextProgress) {
          params.onProgress?.(written);
          nextProgress += 256 * 1024 * 1024;
        }
        // Keep dirty data within two segments of the flusher, as a real writer would be throttled.
        while (queue.remainingBytesToFlush + queue.remainingBytesToCommit > 2 * params.segmentBytes && backgroundError === undefined) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        const due = params.paceBytesPerSecond === undefined ? 0 : start + (written / params.paceBytesPerSecond) * 1000 - performance.now();
        if (due >= 1) await new Promise((resolve) => setTimeout(resolve, due));
        else await yieldToLoop();
      }
      writing = false;
      await Promise.all(services);
      if (backgroundError !== undefined) throw backgroundError;
      return { written, seconds: (performance.now() - start) / 1000 };
    });
    return {
      mode: params.mode,
      messageBytes: params.messageBytes,
      paceBytesPerSecond: params.paceBytesPerSecond,
      bytes: result.written,
      segments: queue.segmentCount,
      seconds: result.seconds,
      bytesPerSecond: result.written / result.seconds,
      allocationStalls: queue.allocationStalls,
      poolExhaustedWaits,
      eventLoop: delay,
    };
  } finally {
    writing = false;
    await queue.destroy();
    await pool?.destroy();
  }
}
