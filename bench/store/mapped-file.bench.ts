/**
 * MappedFile in isolation: append throughput into one pre-faulted segment
 * with each write strategy, and the event loop's worst delay while that
 * segment (dirty, segment-sized) is committed and flushed.
 *
 * Expectation (../shared/LIMITS.md): appending 1 KiB into a pre-faulted
 * mapping is a memory copy plus position bookkeeping, so ≥ 60 % of the
 * same-run Buffer.copy bandwidth; flushing runs on the libuv pool, so the
 * event loop is delayed ≤ 5 ms while ~1 GiB is written back.
 */
import { MappedFile, TransientStorePool, realNativeIO, writeStrategyFactory, type WriteMode } from '../../lib/index.js';
import { measureEventLoopDelay, type EventLoopDelay } from '../harness/event-loop-delay.js';

export interface SegmentAppendResult {
  mode: WriteMode;
  messageBytes: number;
  batch: number;
  messages: number;
  seconds: number;
  messagesPerSecond: number;
  bytesPerSecond: number;
  warmSeconds: number;
}

export interface SegmentFlushResult {
  mode: WriteMode;
  dirtyBytes: number;
  commitSeconds: number;
  flushSeconds: number;
  eventLoop: EventLoopDelay;
}

export interface SegmentBenchParams {
  directory: string;
  segmentBytes: number;
  mode: WriteMode;
  messageBytes: number;
  /** Messages per append call: 1 uses append(), more uses appendBatch(). */
  batch: number;
  /** Also commit + flush the full segment and measure the event loop meanwhile. */
  measureFlush: boolean;
}

export async function benchSegment(params: SegmentBenchParams): Promise<{ append: SegmentAppendResult; flush?: SegmentFlushResult }> {
  const native = realNativeIO();
  const pool =
    params.mode === 'direct'
      ? await TransientStorePool.create({ native, poolSize: 1, bufferSizeBytes: params.segmentBytes, lock: true })
      : undefined;
  await pool?.whenPrepared(); // measured once its buffers are locked, as a running store has them
  const file = await MappedFile.create({
    native,
    directory: params.directory,
    fileFromOffset: 0,
    fileSizeBytes: params.segmentBytes,
    strategyFactory: writeStrategyFactory({ mode: params.mode, ...(pool ? { pool } : {}) }),
  });
  try {
    const warmStart = performance.now();
    await file.warm();
    const warmSeconds = (performance.now() - warmStart) / 1000;

    const message = Buffer.alloc(params.messageBytes, 0x61);
    const batch = Array.from({ length: params.batch }, () => message);
    const perCall = params.messageBytes * params.batch;
    const calls = Math.floor(params.segmentBytes / perCall);
    const start = performance.now();
    if (params.batch === 1) {
      for (let index = 0; index < calls; index += 1) file.append(message);
    } else {
      for (let index = 0; index < calls; index += 1) file.appendBatch(batch);
    }
    const seconds = (performance.now() - start) / 1000;
    const messages = calls * params.batch;
    const append: SegmentAppendResult = {
      mode: params.mode,
      messageBytes: params.messageBytes,
      batch: params.batch,
      messages,
      seconds,
      messagesPerSecond: messages / seconds,
      bytesPerSecond: (messages * params.messageBytes) / seconds,
      warmSeconds,
    };
    if (!params.measureFlush) return { append };

    const { result, delay } = await measureEventLoopDelay(async () => {
      const commitStart = performance.now();
      await file.commit(0);
      const commitSeconds = (performance.now() - commitStart) / 1000;
      const flushStart = performance.now();
      await file.flush(0);
      return { commitSeconds, flushSeconds: (performance.now() - flushStart) / 1000 };
    });
    return {
      append,
      flush: { mode: params.mode, dirtyBytes: file.flushedPosition, ...result, eventLoop: delay },
    };
  } finally {
    await file.destroy();
    await pool?.destroy();
  }
}
