/**
 * End-to-end appends through the public CommitLog API, one store per run.
 *
 * Expectations (../shared/LIMITS.md), checked against same-run limits:
 * - ASYNC_FLUSH, mapped, 1 KiB: an append is an encode (copy) plus a CRC of
 *   the record, so ≥ 70 % of the copy + crc32 limit;
 * - 100 B with appendBatch: ≥ 2 M msg/s (encode cost per message dominates);
 * - SYNC_FLUSH: throughput comes from group commit, one flush per group, so
 *   with 64 appenders ≥ 50 k durable msg/s and ack p99 ≤ 2 × fdatasync p99.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { CommitLog, type FlushDiskType, type MessageInput, type WriteMode } from '../../lib/index.js';
import { measureEventLoopDelay } from '../harness/event-loop-delay.js';
import { LatencyRecorder } from '../harness/latency.js';
import { measureMemory, type MemoryFigures } from '../harness/memory.js';

export interface AppendBenchParams {
  root: string;
  flushDiskType: FlushDiskType;
  writeMode: WriteMode;
  messageBytes: number;
  segmentBytes: number;
  /** Messages per call: 1 uses append(), more uses appendBatch(). */
  batch: number;
  /** Concurrent appenders (each awaits its own call before the next). */
  concurrency: number;
  /** Stop after this many messages, or after durationMs, whichever first. */
  messagesMax: number;
  durationMs: number;
}

export interface AppendBenchResult {
  flushDiskType: FlushDiskType;
  writeMode: WriteMode;
  messageBytes: number;
  batch: number;
  concurrency: number;
  messages: number;
  recordBytes: number;
  seconds: number;
  messagesPerSecond: number;
  recordBytesPerSecond: number;
  /** Per call (one message or one batch), ms. */
  ack: { p50: number; p99: number; max: number };
  timeouts: number;
  eventLoopMaxMs: number;
  allocationStalls: number;
  segments: number;
  groupCommits: number;
  memory: MemoryFigures;
}

export async function benchAppend(params: AppendBenchParams): Promise<AppendBenchResult> {
  const directory = mkdtempSync(join(params.root, 'append-'));
  const log = await CommitLog.open({
    storePathCommitLog: directory,
    flushDiskType: params.flushDiskType,
    writeMode: params.writeMode,
    mappedFileSizeCommitLog: params.segmentBytes,
    transientStorePoolSize: 3,
  });
  try {
    // The first segment and the pool as a running store has them, not while they are prepared.
    await log.whenWarm();
    const message: MessageInput = { topic: 'bench', queueId: 0, body: Buffer.alloc(params.messageBytes, 0x62) };
    const batch = Array.from({ length: params.batch }, () => message);
    const latency = new LatencyRecorder();
    let messages = 0;
    let recordBytes = 0;
    let timeouts = 0;
    const deadline = performance.now() + params.durationMs;

    // An ASYNC append resolves through microtasks alone; a real caller is driven by I/O
    // events. So every millisecond all appenders pause together for one turn of the event
    // loop (one pausing alone would not let the loop turn while the others run on).
    let nextTurnAt = performance.now() + 1;
    let turn: Promise<void> | undefined;
    const loopTurn = (): Promise<void> | undefined => {
      if (turn === undefined && performance.now() >= nextTurnAt) {
        turn = yieldToLoop().then(() => {
          turn = undefined;
          nextTurnAt = performance.now() + 1;
        });
      }
      return turn;
    };
    const worker = async () => {
      while (messages < params.messagesMax && performance.now() < deadline) {
        const pause = loopTurn();
        if (pause !== undefined) await pause;
        const started = performance.now();
        if (params.batch === 1) {
          const result = await log.append(message);
          recordBytes += result.size;
          if (result.status !== 'PUT_OK') timeouts += 1;
        } else {
          const result = await log.appendBatch(batch);
          for (const m of result.messages) recordBytes += m.size;
          if (result.status !== 'PUT_OK') timeouts += 1;
        }
        latency.record(performance.now() - started);
        messages += params.batch;
      }
    };

    const { result: timing, memory } = await measureMemory(async () => {
      const { result: seconds, delay } = await measureEventLoopDelay(async () => {
        const start = performance.now();
        await Promise.all(Array.from({ length: params.concurrency }, worker));
        return (performance.now() - start) / 1000;
      });
      return { seconds, eventLoopMaxMs: delay.maxMs };
    });
    const ack = latency.summary([50, 99]);
    const stats = log.stats;
    return {
      flushDiskType: params.flushDiskType,
      writeMode: params.writeMode,
      messageBytes: params.messageBytes,
      batch: params.batch,
      concurrency: params.concurrency,
      messages,
      recordBytes,
      seconds: timing.seconds,
      messagesPerSecond: messages / timing.seconds,
      recordBytesPerSecond: recordBytes / timing.seconds,
      ack: { p50: ack.percentiles.p50!, p99: ack.percentiles.p99!, max: ack.max },
      timeouts,
      eventLoopMaxMs: timing.eventLoopMaxMs,
      allocationStalls: stats.allocationStalls,
      segments: stats.segments,
      groupCommits: stats.groupCommits,
      memory,
    };
  } finally {
    await log.close();
    rmSync(directory, { recursive: true, force: true });
  }
}
