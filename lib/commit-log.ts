/**
 * CommitLog: the engine users embed. One directory of segments, one writer
 * process, RocketMQ's message layout, a flush policy per store.
 *
 *   const log = await CommitLog.open({ storePathCommitLog: dir, flushDiskType: 'SYNC_FLUSH' });
 *   const { physicalOffset } = await log.append({ topic: 't', body: Buffer.from('hi') });
 *   const message = log.read(physicalOffset);
 *   for await (const m of log.scan()) { ... }
 *   await log.close();
 *
 * When an append resolves:
 * - SYNC_FLUSH: once the message is durable (group commit), or with status
 *   FLUSH_DISK_TIMEOUT after syncFlushTimeout;
 * - ASYNC_FLUSH: once the message is readable (at once in mapped mode;
 *   after the next commit in direct mode, which an append triggers).
 * A flush or commit that fails poisons the store: pending and later appends
 * reject with ERR_STORE_POISONED, whose `cause` is the original error, and
 * nothing unflushed is ever acknowledged as durable.
 */
import { mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from './assert.js';
import { resolveOptions, type FlushDiskType, type Options, type OptionsInput, type WriteMode } from './config.js';
import { CommitLogError } from './errors.js';
import { describe } from './format/describe.js';
import {
  BLANK_MAGIC_CODE,
  MAGIC_CODE_OFFSET,
  MESSAGE_MAGIC_CODE_V1,
  MESSAGE_MAGIC_CODE_V2,
} from './format/message-layout.js';
import {
  decodeMessage,
  decodeRecord,
  encodeBlank,
  encodeMessage,
  encodeMessageForSeal,
  messageFitsInSegment,
  prepareMessage,
  type EncodeStamp,
  type MessageInput,
  type PreparedMessage,
  type StoredMessage,
} from './format/message-codec.js';
import { parseSegmentFileName } from './format/segment-name.js';
import { queueKey } from './format/topic-queue-table-codec.js';
import { CommitRealTimeService } from './flush/commit-real-time-service.js';
import { FlushRealTimeService } from './flush/flush-real-time-service.js';
import { GroupCommitService } from './flush/group-commit-service.js';
import type { AppendOutcome } from './flush/offset-waiters.js';
import { ServiceLoop } from './flush/service-loop.js';
import { SEAL_BODY_END, SEAL_BODY_START, SEAL_DESCRIPTOR_INT32S, sealRecords, verifyCopyRecords, verifyRecords } from './native/crc32-native.js';
import type { NativeIO } from './native/native-io.js';
import { realNativeIO } from './native/real-native-io.js';
import { recover, type CorruptionReport, type RecoveryResult } from './recovery/recover.js';
import { ABORT_FILE_NAME, abortMarkerExists, createAbortMarker, removeAbortMarker } from './store/abort-marker.js';
import { cleanCommitLog } from './store/clean-commit-log-service.js';
import type { MappedFile } from './store/mapped-file.js';
import { MappedFileQueue } from './store/mapped-file-queue.js';
import { PREPARED_MAX } from './store/allocate-mapped-file-service.js';
import { CHECKPOINT_FILE_NAME, readCheckpoint, readTopicQueueTable, StoreCheckpoint, TOPIC_QUEUE_TABLE_FILE_NAME } from './store/store-checkpoint.js';
import { LOCK_FILE_NAME, StoreLock } from './store/store-lock.js';
import { TransientStorePool } from './store/transient-store-pool.js';
import { writeStrategyFactory } from './strategy/index.js';

export type AppendStatus = 'PUT_OK' | 'FLUSH_DISK_TIMEOUT';

export interface AppendResult {
  status: AppendStatus;
  /** Global offset of the record: pass it to read(). */
  physicalOffset: number;
  /** Record size in bytes. */
  size: number;
  storeTimestamp: number;
  /** Position of the message in its (topic, queueId): 0, 1, 2, ... */
  queueOffset: number;
}

export interface BatchAppendResult {
  status: AppendStatus;
  storeTimestamp: number;
  /** One entry per message, in order. */
  messages: Array<{ physicalOffset: number; size: number; queueOffset: number }>;
}

export interface CommitLogOpenOptions extends OptionsInput {
  /** Told about durable data recovery had to drop (offset, bytes, reason). Default: ignore. */
  onCorruption?: (report: CorruptionReport) => void;
  /** The system-call layer; tests pass a fault-injecting twin. Default: the real one. */
  native?: NativeIO;
}

export interface ScanOptions {
  /** First offset (a message start, or a segment start); default the min offset. */
  from?: number;
  /**
   * Stop before this offset (a message that crosses it is not returned).
   * Default, and upper bound: the readable end when the scan starts (a
   * larger `to`, Infinity included, scans what is readable then).
   */
  to?: number;
  /** Check both CRCs of every record (default true). */
  verify?: boolean;
}

export interface TailOptions {
  from?: number;
  verify?: boolean;
  /** Ends the iteration when aborted. */
  signal?: AbortSignal;
}

/** How often retention runs (RocketMQ's CleanCommitLogService runs every 10 s too). */
const CLEAN_INTERVAL_MS = 10_000;

/**
 * Batches of at least this many messages are sealed (both CRCs) by one
 * native call instead of per message in JS: the call costs ~8 µs, the
 * native CRC saves ~0.1 µs (100 B) to ~0.4 µs (1 KiB) a message.
 */
const NATIVE_SEAL_BATCH_MIN = 32;

/** What write() reports of the records it wrote. */
interface Written {
  physicalOffsets: number[];
  queueOffsets: number[];
  storeTimestamp: number;
  endOffset: number;
}

/** The CRC descriptors of one scan batch's records (free again once its verify settled). */
function newScanDescriptors(): Int32Array {
  return new Int32Array(SCAN_BATCH_MAX * SEAL_DESCRIPTOR_INT32S);
}

/** A scan batch handed out: its messages (bodies in one copy) and where the next batch starts. */
interface ScanBatch {
  messages: StoredMessage[];
  nextOffset: number;
}

/** A batch located on the JS thread, its segment held, its CRCs not yet checked nor its bytes copied. */
interface LocatedBatch extends ScanBatch {
  file: MappedFile;
  view: Buffer;
  /** Each message's CRC descriptor (SEAL_DESCRIPTOR_INT32S int32), in order. */
  descriptors: Int32Array;
  /** The segment positions [copyFrom, end) of the batch's records. */
  copyFrom: number;
  end: number;
}

/** A located batch: where the next starts if every record verifies, and its verify-and-copy, started when located. */
interface ScanStep {
  /** Undefined when nothing follows in this scan (the end, or a locate error). */
  locatedEnd: number | undefined;
  /**
   * The pool's verify-and-copy of the batch, started when it was located; rejects with the locate's
   * error. Marked handled: it may fail while the batch before is with the consumer, and is awaited after.
   */
  verifying: Promise<ScanBatch | undefined>;
  /** The batch's CRC descriptors: in use until `verifying` settles. */
  descriptors: Int32Array;
}

/** For placeSync callers with no natively sealed records pending. */
const noPendingSeal = (): void => undefined;

/**
 * A scan's batches on the libuv pool at once, while this thread locates the
 * next. The pool's side (CRCs, and the copy into memory the kernel has yet
 * to fault in) takes longer than the locate here: with one in flight the
 * JS thread waited ~40 % of a scan. Scanning 1 GiB, alternating runs: one
 * 56-66 % of the crc32 limit (median), two 72-83 %.
 */
const SCAN_IN_FLIGHT = 2;
/** Messages per scan/tail batch: each batch holds its segment only until its records are copied out. */
const SCAN_BATCH_MAX = 1024;
/** A batch stops growing past this many bytes: one pool call stays short, and a kept body pins at most this much. */
const SCAN_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * tail's batches smaller than this (a live log's few new messages) are
 * verified and copied on this thread: a trip through the libuv pool costs
 * ~0.1 ms, more than their CRCs and copy, and would compete with
 * SYNC_FLUSH's writes for the pool's threads. A scan's batches always go to
 * the pool: that is also what lets the event loop turn between them.
 */
const SCAN_POOL_MIN_BYTES = 256 * 1024;
/**
 * A scan keeps this much ahead of it faulted in, one call at a time on the
 * libuv pool (a 1 GiB call would hold a pool thread, which SYNC_FLUSH's
 * syncs share, for a second).
 */
const SCAN_PREFAULT_BYTES = 16 * 1024 * 1024;

export class CommitLog {
  readonly options: Readonly<Options>;
  /** What start-up recovery found. */
  readonly recovery: RecoveryResult;

  private readonly native: NativeIO;
  private readonly queue: MappedFileQueue;
  private readonly pool: TransientStorePool | undefined;
  private readonly lock: StoreLock;
  private readonly checkpoint: StoreCheckpoint;
  private readonly nextQueueOffsets: Map<string, number>;
  private readonly groupCommit: GroupCommitService | undefined;
  private readonly flusher: FlushRealTimeService | undefined;
  private readonly committer: CommitRealTimeService | undefined;
  private readonly checkpointer: ServiceLoop;
  private readonly cleaner: ServiceLoop;
  private lastStoreTimestamp: number;
  /** Writers queued or running (append's fast path needs none), and the tail of their FIFO. */
  private pendingWrites = 0;
  private writeTail: Promise<void> = Promise.resolve();
  private state: 'open' | 'closing' | 'closed' = 'open';
  /** The close in progress or done (close() twice returns it). */
  private closing: Promise<void> | undefined;
  private poison: CommitLogError | undefined;
  private confirmedListeners: Array<() => void> = [];
  private readonly queueKeys = new Map<string, Map<number, string>>();
  private lastQueueTopic: string | undefined;
  private lastQueueId = -1;
  private lastQueueKey = '';
  /** encodeOne's stamp, refilled per record; read it before the next encodeOne. */
  private readonly stamp: EncodeStamp = { physicalOffset: 0, queueOffset: 0, storeTimestamp: 0 };
  /** The first segment's warm-up started by open (settled when there is none); never rejects. */
  private readonly warmUp: Promise<void>;
  /** Seal positions of natively sealed records (5 int32 each), reused across batches. */
  private sealDescriptors = new Int32Array(256 * SEAL_DESCRIPTOR_INT32S);

  private constructor(parts: {
    options: Readonly<Options>;
    native: NativeIO;
    queue: MappedFileQueue;
    pool: TransientStorePool | undefined;
    lock: StoreLock;
    checkpoint: StoreCheckpoint;
    recovery: RecoveryResult;
    warmUp: Promise<void>;
  }) {
    this.options = parts.options;
    this.warmUp = parts.warmUp;
    this.native = parts.native;
    this.queue = parts.queue;
    this.pool = parts.pool;
    this.lock = parts.lock;
    this.checkpoint = parts.checkpoint;
    this.recovery = parts.recovery;
    this.nextQueueOffsets = parts.recovery.nextQueueOffsets;
    this.lastStoreTimestamp = parts.recovery.lastStoreTimestamp;
    const onError = (err: unknown) => this.poisonWith(err);
    const direct = this.options.writeMode === 'direct';
    if (this.options.flushDiskType === 'SYNC_FLUSH') {
      this.groupCommit = new GroupCommitService({
        queue: this.queue,
        syncFlushTimeoutMs: this.options.syncFlushTimeout,
        onFlushed: () => this.afterFlush(),
        onError,
      });
    } else {
      this.flusher = new FlushRealTimeService({
        queue: this.queue,
        flushIntervalMs: this.options.flushIntervalCommitLog,
        flushLeastPages: this.options.flushCommitLogLeastPages,
        flushThoroughIntervalMs: this.options.flushCommitLogThoroughInterval,
        onFlushed: () => this.afterFlush(),
        onError,
      });
    }
    if (direct) {
      this.committer = new CommitRealTimeService({
        queue: this.queue,
        commitIntervalMs: this.options.commitIntervalCommitLog,
        commitLeastPages: this.options.commitCommitLogLeastPages,
        commitThoroughIntervalMs: this.options.commitCommitLogThoroughInterval,
        onlyForWaiters: this.groupCommit !== undefined,
        onCommitted: () => {
          this.flusher?.wakeup();
          this.notifyConfirmed();
        },
        onError,
      });
    }
    this.checkpointer = new ServiceLoop(this.options.flushCommitLogThoroughInterval, () => this.thoroughCheckpoint(), onError);
    this.cleaner = new ServiceLoop(CLEAN_INTERVAL_MS, () => this.deleteExpiredSegments().then(() => undefined), onError);
  }

  // --- open -----------------------------------------------------------------

  /**
   * Opens (creating if needed) the store in `storePathCommitLog`: validates
   * the options, takes the directory lock (ERR_STORE_LOCKED when another
   * holder exists), loads the segments, recovers, and starts the services.
   */
  static async open(input: CommitLogOpenOptions): Promise<CommitLog> {
    if (input === null || typeof input !== 'object') {
      throw new CommitLogError('ERR_INVALID_OPTION', `options must be an object, got ${String(input)}`);
    }
    const { onCorruption, native: nativeInput, ...rest } = input;
    if (onCorruption !== undefined && typeof onCorruption !== 'function') {
      throw new CommitLogError('ERR_INVALID_OPTION', 'options.onCorruption must be a function');
    }
    if (nativeInput !== undefined && (typeof nativeInput !== 'object' || nativeInput === null || typeof nativeInput.openFile !== 'function')) {
      throw new CommitLogError('ERR_INVALID_OPTION', `options.native must be a NativeIO (lib/native/native-io.ts), got ${describe(nativeInput)}`);
    }
    const options = resolveOptions(rest);
    const native = nativeInput ?? realNativeIO();
    const directory = options.storePathCommitLog;
    const createdDirectory = makeStoreDirectory(directory);

    const cleanups: Array<() => Promise<void> | void> = [];
    try {
      const lock = await StoreLock.acquire(native, directory);
      cleanups.push(() => lock.release());
      // A directory it made, found holding nothing but the lock once the lock is held (another
      // opener may have used it between mkdir and flock), is this open's own: refused (a full
      // disk at the checkpoint or the table, say), it leaves no such directory behind.
      if (createdDirectory && readdirSync(directory).every((name) => name === LOCK_FILE_NAME)) cleanups.push(() => removeOwnDirectory(native, directory));
      const abnormal = abortMarkerExists(directory);
      // The marker first: an open refused by what follows (a bad segment, an unwritable
      // path) has changed nothing yet, and takes its marker back (also one half made).
      if (!abnormal) cleanups.push(() => removeAbortMarker(native, directory));
      await createAbortMarker(native, directory);
      const pool =
        options.writeMode === 'direct'
          ? await TransientStorePool.create({
              native,
              poolSize: options.transientStorePoolSize,
              bufferSizeBytes: options.mappedFileSizeCommitLog,
              lock: options.transientStorePoolLock,
            })
          : undefined;
      if (pool) cleanups.push(() => pool.destroy());
      // SYNC_FLUSH: warmed segments are also written back, so durable appends overwrite
      // written blocks (no metadata to commit per flush); mapped ones take small folios.
      const syncFlush = options.flushDiskType === 'SYNC_FLUSH';
      const queue = new MappedFileQueue({
        native,
        directory,
        fileSizeBytes: options.mappedFileSizeCommitLog,
        strategyFactory: writeStrategyFactory({ mode: options.writeMode, ...(pool ? { pool } : {}) }),
        warm: options.warmMapedFileEnable,
        syncFlush,
      });
      cleanups.push(() => queue.close());
      await queue.load();
      const recovery = await recover({
        queue,
        checkpoint: readCheckpoint(directory),
        abnormal,
        table: readTopicQueueTable(directory),
        onCorruption: onCorruption ?? (() => undefined),
      });
      // The last loaded segment, which appends go to unless it is full, was not reserved by this
      // process: a sparse copy's holes would take a full disk as SIGBUS. Before anything is
      // written, so an open refused here changes nothing.
      await queue.lastMappedFile?.reserveSpace();
      const checkpoint = await StoreCheckpoint.open(native, directory);
      cleanups.push(() => checkpoint.close());
      // The table first: it is written aside and renamed, so a refusal there leaves the checkpoint's CLEAN_CLOSE for the next open.
      await checkpoint.writeTopicQueueTable({ coveredOffset: recovery.endOffset, nextQueueOffsets: recovery.nextQueueOffsets });
      await checkpoint.write({ flushedOffset: recovery.endOffset, lastFlushStoreTimestamp: recovery.lastStoreTimestamp, writtenAt: Date.now() }, true);
      // The segment appends go to first: created now, warmed (pre-faulted; under
      // SYNC_FLUSH also written back) beside the appends, as the pool's buffers
      // are locked: open() does not wait for either (1-10 s with 1 GiB segments
      // here, see whenWarm()).
      const first = await queue.lastMappedFileForAppend(recovery.endOffset);
      if (syncFlush) await first.useSmallFolios();
      let warmUp: Promise<void> = Promise.resolve();
      if (options.warmMapedFileEnable) {
        // A segment is warmed beside the appends, under SYNC_FLUSH with
        // write-back too: without it a mapped segment's pre-faulted zeros stay dirty, and
        // its groups msync their range through the shim instead of an fdatasync through
        // libuv until the next segment (64 appenders after a restart: ack p99 2.1-3.3 ms
        // against 1.1-1.3 with it). Appends meanwhile are safe: the flushes msync until
        // the write-back is done (mapped), and commits wait for zeros in flight (direct).
        // Not in the allocation service's turn: the next segment's warm-up (started by
        // lastMappedFileForAppend) may run beside it.
        warmUp = first.warm(syncFlush).catch(() => undefined);
      }
      const log = new CommitLog({ options, native, queue, pool, lock, checkpoint, recovery, warmUp });
      log.start();
      return log;
    } catch (err) {
      // A cleanup that fails (synchronously too) neither stops the others nor hides the error.
      for (const cleanup of cleanups.reverse()) await (async () => cleanup())().catch(() => undefined);
      throw err;
    }
  }

  private start(): void {
    this.groupCommit?.start();
    this.flusher?.start();
    this.committer?.start();
    this.checkpointer.start();
    this.cleaner.start();
    this.queue.prepareNextSegment();
  }

  // --- offsets ----------------------------------------------------------------

  get flushDiskType(): FlushDiskType {
    return this.options.flushDiskType;
  }

  get writeMode(): WriteMode {
    return this.options.writeMode;
  }

  /** Offset of the oldest byte still stored. */
  get minOffset(): number {
    return this.queue.minOffset;
  }

  /** Offset the next append goes to (the end of what is written). */
  get maxOffset(): number {
    return this.queue.maxWroteOffset;
  }

  /** Everything below this offset is readable. */
  get committedOffset(): number {
    return this.queue.maxReadableOffset;
  }

  /** Everything below this offset is durable. */
  get flushedOffset(): number {
    return this.queue.flushedWhere;
  }

  /**
   * What a tailing reader may see: the flushed offset under SYNC_FLUSH (no
   * reader sees a message a crash could take back), the readable end under
   * ASYNC_FLUSH.
   */
  get confirmedOffset(): number {
    return this.options.flushDiskType === 'SYNC_FLUSH' ? this.queue.flushedWhere : this.queue.maxReadableOffset;
  }

  /**
   * Settles when the preparation open() started and did not wait for is
   * done: the segment appends go to warmed (pre-faulted; under SYNC_FLUSH
   * written back) and the direct-mode pool's buffers locked or pre-faulted.
   * Appends before that are safe, only slower: the writer may take page
   * faults, and a SYNC_FLUSH group msyncs (mapped) until the write-back is
   * done. Await it before timing anything. Never rejects; after close()
   * it settles once the warm-up has stopped (within one slice, at most the
   * segment's 1 s reader deadline).
   */
  async whenWarm(): Promise<void> {
    await Promise.all([this.warmUp, this.pool?.whenPrepared()]);
  }

  /** Plain counters for monitoring. */
  get stats() {
    return {
      segments: this.queue.segmentCount,
      mappedBytes: this.queue.mappedBytes,
      allocationStalls: this.queue.allocationStalls,
      lastAllocationMs: this.queue.lastAllocationMs,
      groupCommits: this.groupCommit?.groupCount ?? 0,
      poolLockStatus: this.pool?.lockStatus,
      poolAvailableBuffers: this.pool?.availableBufferCount,
    };
  }

  // --- append -------------------------------------------------------------------

  /** Appends one message; resolves per the flush policy (see the class comment). */
  append(message: MessageInput): Promise<AppendResult> {
    let prepared: PreparedMessage;
    try {
      this.checkWritable();
      const now = Date.now(); // one clock reading for the born and store timestamps
      prepared = prepareMessage(message, this.options.maxMessageSize, true, now);
      // Fast path: nothing queued ahead and the segment at hand has room: written now,
      // without the async machinery of write().
      if (this.pendingWrites === 0) {
        const file = this.placeSync(prepared.size, noPendingSeal);
        if (file !== undefined) {
          const storeTimestamp = this.nextStoreTimestamp(now);
          const { physicalOffset, queueOffset } = this.encodeOne(file, prepared, storeTimestamp);
          this.afterWrite();
          const result: AppendResult = { status: 'PUT_OK', physicalOffset, size: prepared.size, storeTimestamp, queueOffset };
          if (this.groupCommit === undefined && this.committer === undefined) return Promise.resolve(result); // readable now
          return this.settle(physicalOffset + prepared.size, result);
        }
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.appendQueued(prepared);
  }

  /** append() when it must wait for a segment, a pool buffer, or appends queued before it. */
  private async appendQueued(prepared: PreparedMessage): Promise<AppendResult> {
    const written = await this.write([prepared]);
    return this.settle(written.endOffset, {
      status: 'PUT_OK',
      physicalOffset: written.physicalOffsets[0]!,
      size: prepared.size,
      storeTimestamp: written.storeTimestamp,
      queueOffset: written.queueOffsets[0]!,
    });
  }

  /**
   * Encodes one record at the end of `file` and takes its queue offset: both
   * CRCs in JS, or, with `sealSlot`, its seal positions into that slot of
   * sealDescriptors for one native sealRecords call later.
   */
  private encodeOne(file: MappedFile, record: PreparedMessage, storeTimestamp: number, sealSlot?: number): EncodeStamp {
    const position = file.wrotePosition;
    const key = this.queueKeyOf(record.topic, record.queueId);
    const queueOffset = this.nextQueueOffsets.get(key) ?? 0;
    // One stamp object, refilled per record (a batch encodes hundreds of thousands a second).
    const stamp = this.stamp;
    stamp.physicalOffset = file.fileFromOffset + position;
    stamp.queueOffset = queueOffset;
    stamp.storeTimestamp = storeTimestamp;
    if (sealSlot === undefined) encodeMessage(file.writeBuffer(), position, record, stamp);
    else encodeMessageForSeal(file.writeBuffer(), position, record, stamp, this.sealDescriptors, sealSlot);
    file.advance(record.size);
    file.storeTimestamp = storeTimestamp;
    this.nextQueueOffsets.set(key, queueOffset + 1);
    return stamp;
  }

  /**
   * Appends many messages in order with one wait for the whole batch. Every
   * message is validated before any is written: a bad one rejects the batch
   * and stores nothing.
   */
  async appendBatch(messages: readonly MessageInput[]): Promise<BatchAppendResult> {
    this.checkWritable();
    if (!Array.isArray(messages) || messages.length === 0) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', 'appendBatch needs a non-empty array of messages');
    }
    const sealNatively = messages.length >= NATIVE_SEAL_BATCH_MIN;
    const now = Date.now();
    // A loop, not map(): map skips the holes of a sparse array, which must be refused like any missing message.
    const prepared = new Array<PreparedMessage>(messages.length);
    for (let index = 0; index < messages.length; index += 1) {
      prepared[index] = prepareMessage(messages[index]!, this.options.maxMessageSize, !sealNatively, now);
    }
    const written = await this.write(prepared, sealNatively);
    return this.settle(written.endOffset, {
      status: 'PUT_OK',
      storeTimestamp: written.storeTimestamp,
      messages: prepared.map((p, index) => ({ physicalOffset: written.physicalOffsets[index]!, size: p.size, queueOffset: written.queueOffsets[index]! })),
    });
  }

  /**
   * Writes prepared records in call order: writers form a FIFO (each runs
   * after the one before it has finished, awaits included), so offsets
   * follow the order of the calls even when one must wait for a segment or a
   * pool buffer. append() takes its synchronous fast path only when no
   * writer is queued.
   */
  private write(prepared: readonly PreparedMessage[], sealNatively = false): Promise<Written> {
    this.pendingWrites += 1;
    const run = this.writeTail.then(() => this.writeInOrder(prepared, sealNatively));
    this.writeTail = run.then(
      () => void (this.pendingWrites -= 1),
      () => void (this.pendingWrites -= 1),
    );
    return run;
  }

  private async writeInOrder(prepared: readonly PreparedMessage[], sealNatively: boolean): Promise<Written> {
    this.checkQueuedWriter();
    // Natively sealed records wait here, per segment, until sealRecords runs: always before
    // any await (a commit or flush may read them then) and before the segment changes.
    let sealFile: MappedFile | undefined;
    let sealCount = 0;
    const seal = () => {
      if (sealCount > 0) sealRecords(sealFile!.writeBuffer(), this.sealDescriptors, sealCount);
      sealCount = 0;
    };
    if (sealNatively && this.sealDescriptors.length < prepared.length * SEAL_DESCRIPTOR_INT32S) {
      this.sealDescriptors = new Int32Array(prepared.length * SEAL_DESCRIPTOR_INT32S);
    }
    const rolls = prepared.length > 1 ? this.rollsNeeded(prepared) : 0;
    if (rolls > 0) {
      // A batch that will roll gets its segments first: should creating one fail
      // (disk full), the batch is rejected before any of it is written.
      await this.queue.readyNextSegments(rolls);
      this.checkQueuedWriter();
    }
    const storeTimestamp = this.nextStoreTimestamp();
    const physicalOffsets = new Array<number>(prepared.length);
    const queueOffsets = new Array<number>(prepared.length);
    let endOffset = 0;
    for (let index = 0; index < prepared.length; index += 1) {
      const record = prepared[index]!;
      // The segment the previous record went to, while it has room; placeSync otherwise.
      let file = sealFile !== undefined && messageFitsInSegment(record.size, sealFile.remainingBytes) ? sealFile : this.placeSync(record.size, seal);
      if (file === undefined) {
        seal();
        file = await this.placeAsync(record.size);
        this.checkQueuedWriter();
      }
      if (file !== sealFile) {
        seal();
        sealFile = file;
      }
      const { physicalOffset, queueOffset } = this.encodeOne(file, record, storeTimestamp, sealNatively ? sealCount++ : undefined);
      physicalOffsets[index] = physicalOffset;
      queueOffsets[index] = queueOffset;
      endOffset = physicalOffset + record.size;
    }
    seal();
    this.afterWrite();
    return { physicalOffsets, queueOffsets, storeTimestamp, endOffset };
  }

  /**
   * How many new segments writing `prepared` will roll into, placing the
   * records as write() will (a record that does not fit goes to the next
   * segment behind a blank). ERR_INVALID_ARGUMENT beyond what can be readied.
   */
  private rollsNeeded(prepared: readonly PreparedMessage[]): number {
    const last = this.queue.lastMappedFile;
    if (last === undefined) return 0;
    let remaining = last.remainingBytes;
    let rolls = 0;
    for (const record of prepared) {
      if (!messageFitsInSegment(record.size, remaining)) {
        rolls += 1;
        remaining = this.options.mappedFileSizeCommitLog;
      }
      remaining -= record.size;
    }
    if (rolls > PREPARED_MAX) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `a batch may span at most ${PREPARED_MAX} new segments; this one needs ${rolls}`);
    }
    return rolls;
  }

  /**
   * The segment a record of `size` bytes goes into, if it is at hand now:
   * the last segment when the record fits (otherwise a blank record closes
   * it and the next one is tried), with its write buffer available.
   * Undefined when getting one means waiting.
   */
  private placeSync(size: number, beforeClosingSegment: () => void): MappedFile | undefined {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const file = this.queue.lastMappedFileForAppend();
      if (file instanceof Promise) return undefined;
      if (!messageFitsInSegment(size, file.remainingBytes)) {
        beforeClosingSegment();
        this.closeSegment(file);
        continue;
      }
      try {
        file.writeBuffer();
      } catch (err) {
        if (err instanceof CommitLogError && err.code === 'ERR_POOL_EXHAUSTED') return undefined;
        throw err;
      }
      return file;
    }
    assert(false, 'a fresh segment fits any message (maxMessageSize + 8 ≤ segment size)');
  }

  /** Like placeSync, waiting for a segment to be created or a pool buffer to come back. */
  private async placeAsync(size: number): Promise<MappedFile> {
    for (let attempt = 0; ; attempt += 1) {
      assert(attempt < 1_000_000, 'placement makes progress');
      const file = await this.queue.lastMappedFileForAppend();
      this.checkQueuedWriter();
      if (!messageFitsInSegment(size, file.remainingBytes)) {
        this.closeSegment(file);
        continue;
      }
      try {
        file.writeBuffer();
        return file;
      } catch (err) {
        if (!(err instanceof CommitLogError && err.code === 'ERR_POOL_EXHAUSTED') || this.committer === undefined) throw err;
        // Back-pressure: a buffer comes back when a full segment is committed.
        await this.committer.waitCommitted(file.fileFromOffset, { status: 'PUT_OK' });
      }
    }
  }

  /** Ends a segment with a blank record over the rest of it. */
  private closeSegment(file: MappedFile): void {
    const remaining = file.remainingBytes;
    encodeBlank(file.writeBuffer(), file.wrotePosition, remaining, file.fileFromOffset + file.wrotePosition);
    file.advance(remaining);
  }

  /**
   * The queue-offset key of (topic, queueId), built once per queue: topic
   * strings repeat (and keep their hash), so a Map of Maps finds it without
   * concatenating a new string per message.
   */
  private queueKeyOf(topic: string, queueId: number): string {
    // Runs of records mostly go to one queue: skip the two lookups then.
    if (topic === this.lastQueueTopic && queueId === this.lastQueueId) return this.lastQueueKey;
    let byQueue = this.queueKeys.get(topic);
    if (byQueue === undefined) {
      byQueue = new Map();
      this.queueKeys.set(topic, byQueue);
    }
    let key = byQueue.get(queueId);
    if (key === undefined) {
      key = queueKey(topic, queueId);
      byQueue.set(queueId, key);
    }
    this.lastQueueTopic = topic;
    this.lastQueueId = queueId;
    this.lastQueueKey = key;
    return key;
  }

  /** Under ASYNC_FLUSH a write moves the confirmed offset (in mapped mode): tail readers may go on. */
  private afterWrite(): void {
    if (this.confirmedListeners.length > 0 && this.options.flushDiskType === 'ASYNC_FLUSH') this.notifyConfirmed();
  }

  private nextStoreTimestamp(now = Date.now()): number {
    if (now > this.lastStoreTimestamp) this.lastStoreTimestamp = now;
    return this.lastStoreTimestamp; // never goes backwards, whatever the wall clock does
  }

  /**
   * Resolves with `result` once the append it describes may be acknowledged:
   * durable under SYNC_FLUSH (status FLUSH_DISK_TIMEOUT if that took longer
   * than syncFlushTimeout), readable (committed) in direct mode.
   */
  private settle<T extends AppendOutcome>(endOffset: number, result: T): Promise<T> {
    // Direct mode commits in the group's own write (commitDurable): a commit started here would
    // only make the group wait for it.
    if (this.groupCommit !== undefined) return this.groupCommit.waitDurable(endOffset, result);
    if (this.committer !== undefined) return this.committer.waitCommitted(endOffset, result);
    return Promise.resolve(result);
  }

  // --- read -------------------------------------------------------------------------

  /** A decoded, verified copy of the message at `offset`. */
  read(offset: number): StoredMessage {
    return this.withMessage(offset, (message) => ({ ...message, body: Buffer.from(message.body) }));
  }

  /**
   * Decodes the message at `offset` without copying its body and passes it
   * to `use`; the body view is valid only until `use` returns (or its
   * promise settles). Verified: a record failing its CRCs is ERR_CORRUPT.
   */
  withMessage<T>(offset: number, use: (message: StoredMessage) => T): T {
    this.checkOpen();
    if (typeof use !== 'function') throw new CommitLogError('ERR_INVALID_ARGUMENT', `withMessage needs a function, got ${describe(use)}`);
    if (!Number.isSafeInteger(offset) || offset < this.queue.minOffset || offset >= this.queue.maxReadableOffset) {
      throw new CommitLogError('ERR_BAD_OFFSET', `offset ${offset} is outside the readable [${this.queue.minOffset}, ${this.queue.maxReadableOffset})`);
    }
    const file = this.queue.findMappedFileByOffset(offset);
    if (file === undefined || !file.hold()) throw new CommitLogError('ERR_BAD_OFFSET', `no segment holds offset ${offset}`);
    let release = true;
    try {
      const view = file.readableView();
      const position = offset - file.fileFromOffset;
      const decoded = decodeRecord(view, position, view.length, { verify: true, copy: false, expectedPhysicalOffset: offset });
      if (decoded.kind !== 'message') throw notAMessageAt(view, position, offset, decoded);
      const result = use(decoded.message);
      if (result instanceof Promise) {
        release = false;
        return result.finally(() => file.release()) as T;
      }
      return result;
    } finally {
      if (release) file.release();
    }
  }

  /**
   * The messages in [from, to) in order, verified (scanBatches, one at a
   * time). A corrupt record throws ERR_CORRUPT with its offset, once every
   * message before it has been returned.
   */
  async *scan(options: ScanOptions = {}): AsyncGenerator<StoredMessage> {
    for await (const batch of this.scanBatches(options)) yield* batch;
  }

  /**
   * Like scan, in arrays of up to 1024 messages: one await per array instead
   * of one per message, for consumers that walk the whole log.
   *
   * Batches are verified and copied on the libuv pool (verifyCopyRecords),
   * SCAN_IN_FLIGHT at once, while this thread locates the records of the
   * next: at most that many verify calls per scan, beside at most one
   * pre-fault call (SYNC_FLUSH's writes share the pool). A batch's call
   * starts as soon as it is located, so a segment is held across a yield
   * only until the calls in flight return.
   */
  async *scanBatches(options: ScanOptions = {}): AsyncGenerator<StoredMessage[]> {
    this.checkOpen();
    checkOptionsObject('scan', options);
    const verify = verifyOption(options.verify);
    if (options.to !== undefined && (typeof options.to !== 'number' || Number.isNaN(options.to))) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `scan's to must be a number, got ${describe(options.to)}`);
    }
    // Never past what is readable now: beyond it a direct store's uncommitted bytes (or nothing) would be walked.
    const to = Math.min(options.to ?? Infinity, this.queue.maxReadableOffset);
    const from = options.from ?? this.queue.minOffset;
    this.checkScanStart(from);
    // Keep the page tables filled ahead of the walk, off the JS thread, one call at a time.
    const prefault = { to: from, inFlight: false };
    // Descriptor arrays go back here once their batch's call has settled, never before.
    const freeDescriptors: Int32Array[] = [];
    const inFlight: ScanStep[] = [];
    // Where the next batch starts (undefined: the end, or a locate error, is in flight).
    let nextStart: number | undefined = from;
    // A batch restarted at a record that failed its CRCs: it will throw, so nothing is started past it.
    let restarting = false;
    const startAt = (offset: number): void => {
      if (offset >= to) {
        nextStart = undefined;
        return;
      }
      if (!prefault.inFlight && prefault.to - offset < SCAN_PREFAULT_BYTES / 2) this.prefaultAhead(prefault, offset, to);
      const step = this.startScanStep(offset, to, verify, freeDescriptors.pop() ?? newScanDescriptors());
      inFlight.push(step);
      nextStart = step.locatedEnd;
    };
    // Batches started past a batch that ended early are not handed out.
    const discardInFlight = (): void => {
      for (const step of inFlight.splice(0)) {
        const free = () => void freeDescriptors.push(step.descriptors);
        step.verifying.then(free, free);
      }
    };
    for (;;) {
      // Located (on this thread) while the batches before are on the pool.
      while (inFlight.length < SCAN_IN_FLIGHT && nextStart !== undefined && !restarting) startAt(nextStart);
      const step = inFlight.shift();
      if (step === undefined) return;
      let batch: ScanBatch | undefined;
      try {
        batch = await step.verifying;
      } catch (err) {
        discardInFlight();
        throw err;
      } finally {
        freeDescriptors.push(step.descriptors);
      }
      if (batch === undefined) return; // the end: nothing was started past it
      restarting = false;
      if (batch.nextOffset !== step.locatedEnd) {
        // The batch stopped at a record failing its CRCs: the next starts at it (and throws).
        discardInFlight();
        startAt(batch.nextOffset);
        restarting = true;
      }
      if (batch.messages.length > 0) yield batch.messages;
    }
  }

  /** Starts faulting in up to SCAN_PREFAULT_BYTES (within one segment) past what `prefault` covers. */
  private prefaultAhead(prefault: { to: number; inFlight: boolean }, offset: number, to: number): void {
    const from = Math.max(prefault.to, offset);
    const file = this.queue.findMappedFileByOffset(from);
    if (file === undefined) {
      prefault.to = to;
      return;
    }
    prefault.to = Math.min(to, from + SCAN_PREFAULT_BYTES, file.fileFromOffset + file.fileSizeBytes);
    prefault.inFlight = true;
    // prefaultRead never rejects: pre-faulting is only an optimisation.
    void file.prefaultRead(from - file.fileFromOffset, prefault.to - file.fileFromOffset).finally(() => (prefault.inFlight = false));
  }

  /**
   * Follows the log from `from` (default: the confirmed end), yielding each
   * message once it is confirmed, never past `confirmedOffset`. Ends when
   * the store closes or `signal` aborts.
   */
  async *tail(options: TailOptions = {}): AsyncGenerator<StoredMessage> {
    this.checkOpen();
    checkOptionsObject('tail', options);
    const verify = verifyOption(options.verify);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `tail's signal must be an AbortSignal, got ${describe(options.signal)}`);
    }
    let offset = options.from ?? this.confirmedOffset;
    this.checkScanStart(offset);
    const descriptors = newScanDescriptors(); // one batch at a time
    while (this.state === 'open' && !options.signal?.aborted) {
      const confirmed = this.confirmedOffset;
      if (offset < confirmed) {
        const located = this.locateBatch(offset, confirmed, descriptors);
        if (located === undefined) return;
        let batch: ScanBatch;
        try {
          batch = await this.verifyAndCopy(located, verify, false);
        } catch (err) {
          // Closed while this batch was checked: the tail ends, as it does when the close finds it waiting.
          if (this.state !== 'open' && err instanceof CommitLogError && err.code === 'ERR_CLOSED') return;
          throw err;
        }
        for (const message of batch.messages) yield message;
        offset = batch.nextOffset;
        continue;
      }
      await this.confirmedAdvance(options.signal);
    }
  }

  /** Whether a record cut short by a scan's `to` (not by the readable end) is whole and sound past it. */
  private crossesScanEnd(view: Buffer, position: number, limit: number, physicalOffset: number, decoded: { kind: string }): boolean {
    if (decoded.kind !== 'truncated' || limit === view.length) return false;
    const whole = decodeRecord(view, position, view.length, { verify: false, copy: false, expectedPhysicalOffset: physicalOffset });
    return whole.kind === 'message' || whole.kind === 'blank';
  }

  /** A scan starts at a record (or a segment start, or the end): ERR_BAD_OFFSET otherwise. */
  private checkScanStart(offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < this.queue.minOffset || offset > this.queue.maxWroteOffset) {
      throw new CommitLogError('ERR_BAD_OFFSET', `scan start ${offset} is outside [${this.queue.minOffset}, ${this.queue.maxWroteOffset}]`);
    }
    const file = this.queue.findMappedFileByOffset(offset);
    if (file === undefined || offset >= this.queue.maxReadableOffset || offset === file.fileFromOffset) return;
    if (!file.hold()) return;
    try {
      const view = file.readableView();
      const position = offset - file.fileFromOffset;
      const decoded = decodeRecord(view, position, view.length, { verify: false, copy: false, expectedPhysicalOffset: offset });
      if (decoded.kind !== 'message' && decoded.kind !== 'blank') throw notAMessageAt(view, position, offset, decoded);
    } finally {
      file.release();
    }
  }

  /**
   * A batch of a scan: locates up to SCAN_BATCH_MAX records of one segment
   * from `offset`, stopping before `to`, on this thread now, then starts the
   * pool's check and copy of them into one buffer (one allocation per
   * batch, not per message). A corrupt first record: `verifying` rejects.
   */
  private startScanStep(offset: number, to: number, verify: boolean, descriptors: Int32Array): ScanStep {
    let located: LocatedBatch | undefined;
    try {
      located = this.locateBatch(offset, to, descriptors);
    } catch (error) {
      const failed = Promise.reject(error);
      failed.catch(() => undefined);
      return { locatedEnd: undefined, verifying: failed, descriptors };
    }
    if (located === undefined) return { locatedEnd: undefined, verifying: Promise.resolve(undefined), descriptors };
    const verifying = this.verifyAndCopy(located, verify, true);
    verifying.catch(() => undefined);
    return { locatedEnd: located.nextOffset, verifying, descriptors };
  }

  /**
   * The structure walk of a batch: decodes every field but the body and
   * writes each record's CRC descriptor. On success the segment is left held
   * for verifyAndCopy; undefined (nothing held) at the end of the log.
   */
  private locateBatch(offset: number, to: number, descriptors: Int32Array): LocatedBatch | undefined {
    this.checkOpen();
    const file = this.queue.findMappedFileByOffset(offset);
    if (file === undefined) throw new CommitLogError('ERR_BAD_OFFSET', `offset ${offset} is no longer stored (min ${this.queue.minOffset})`);
    if (!file.hold()) return undefined;
    let keepHold = false;
    try {
      const view = file.readableView();
      const limit = Math.min(view.length, to - file.fileFromOffset);
      const messages: StoredMessage[] = [];
      let position = offset - file.fileFromOffset;
      // Where the copy handed out starts: the batch's first record (a hole before it is skipped).
      let copyFrom = position;
      let nextOffset: number | undefined;
      // Structure only; verifyAndCopy checks the CRCs of the whole batch in one native call.
      const sealPositions = { descriptors, slot: 0 };
      const decodeOptions = { verify: false, copy: false, expectedPhysicalOffset: 0, sealPositions, skipBody: true };
      while (position < limit && messages.length < SCAN_BATCH_MAX && position - copyFrom < SCAN_BATCH_BYTES) {
        const physicalOffset = file.fileFromOffset + position;
        sealPositions.slot = messages.length;
        decodeOptions.expectedPhysicalOffset = physicalOffset;
        const decoded = decodeMessage(view, position, limit, decodeOptions);
        if (!('kind' in decoded)) {
          messages.push(decoded);
          position += decoded.size;
        } else if (decoded.kind === 'blank') {
          if (position + decoded.size === file.fileSizeBytes) {
            nextOffset = file.fileFromOffset + file.fileSizeBytes; // the segment's end
            break;
          }
          // A hole recovery wrote over dropped bytes: never copied. It ends a
          // batch that has messages; the next batch starts by stepping over it.
          if (messages.length > 0) break;
          position += decoded.size;
          copyFrom = position;
        } else if (decoded.kind === 'end' || this.crossesScanEnd(view, position, limit, physicalOffset, decoded)) {
          // The end of the log, or a sound record that crosses `to`: the scan ends before it.
          if (messages.length === 0) return undefined;
          nextOffset = physicalOffset;
          break;
        } else {
          // The messages before a corrupt record are handed out first; the next batch starts at it and throws.
          if (messages.length === 0) throw notAMessage(view, position, physicalOffset, decoded);
          nextOffset = physicalOffset;
          break;
        }
      }
      // Nothing readable before `to` at all: the end (a batch that moved nowhere would be located again and again).
      if (messages.length === 0 && nextOffset === undefined && file.fileFromOffset + position === offset) return undefined;
      keepHold = true;
      return { file, view, messages, descriptors, copyFrom, end: position, nextOffset: nextOffset ?? file.fileFromOffset + position };
    } finally {
      if (!keepHold) file.release();
    }
  }

  /**
   * The rest of a batch, on the libuv pool (a small one of tail's on this
   * thread, SCAN_POOL_MIN_BYTES): both CRCs of every record (when `verify`) and the
   * copy of the records out of the mapping, which the
   * bodies handed out point into (headers included, ~15 % more bytes, but
   * one copy, not one per body). Releases the segment. A record failing its
   * CRCs ends the batch; when it is the first, ERR_CORRUPT.
   */
  private async verifyAndCopy(batch: LocatedBatch, verify: boolean, alwaysOnPool: boolean /* false: tail's small batches stay here */): Promise<ScanBatch> {
    const { file, view, messages, descriptors, copyFrom } = batch;
    try {
      const records = Buffer.allocUnsafeSlow(batch.end - copyFrom);
      let good: number;
      if (!alwaysOnPool && records.length < SCAN_POOL_MIN_BYTES) {
        good = verify ? verifyRecords(view, descriptors, messages.length) : messages.length;
        view.copy(records, 0, copyFrom, batch.end);
      } else {
        good = await verifyCopyRecords(view, descriptors, messages.length, records, verify);
      }
      // A store closed meanwhile, or a segment deleted by retention after its readers' deadline, may
      // have had its mapping replaced with zeros: ERR_CLOSED / ERR_BAD_OFFSET, never zeros or ERR_CORRUPT.
      this.checkOpen();
      if (!file.isOpen) throw new CommitLogError('ERR_BAD_OFFSET', `segment ${file.fileName} was deleted while the scan read it`);
      let nextOffset = batch.nextOffset;
      if (good < messages.length) {
        const bad = messages[good]!.physicalOffset - file.fileFromOffset;
        if (good === 0) throw notAMessage(view, bad, file.fileFromOffset + bad, decodeRecord(view, bad, view.length, { verify: true, copy: false }));
        messages.length = good;
        nextOffset = file.fileFromOffset + bad;
      }
      for (let index = 0; index < messages.length; index++) {
        const slot = index * SEAL_DESCRIPTOR_INT32S;
        messages[index]!.body = records.subarray(descriptors[slot + SEAL_BODY_START]! - copyFrom, descriptors[slot + SEAL_BODY_END]! - copyFrom);
      }
      return { messages, nextOffset };
    } finally {
      file.release();
    }
  }

  private confirmedAdvance(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', aborted);
        resolve();
      };
      // An aborted tail leaves no listener behind (thousands of aborted tails on an idle store would pile up).
      const aborted = () => {
        const at = this.confirmedListeners.indexOf(done);
        if (at !== -1) this.confirmedListeners.splice(at, 1);
        resolve();
      };
      signal?.addEventListener('abort', aborted, { once: true });
      this.confirmedListeners.push(done);
    });
  }

  private notifyConfirmed(): void {
    const listeners = this.confirmedListeners;
    if (listeners.length === 0) return;
    this.confirmedListeners = [];
    for (const listener of listeners) listener();
  }

  // --- flush and checkpoint ---------------------------------------------------------

  /** Commits and flushes everything appended so far; resolves when it is durable. */
  async flush(): Promise<void> {
    this.checkWritable();
    try {
      await this.queue.commit(0);
      await this.queue.flush(0);
    } catch (err) {
      // A failed flush leaves pages whose state is unknown (a retry may "succeed" on
      // pages the kernel marked clean): the store stops, as after a background failure.
      this.poisonWith(err);
      throw this.poison;
    }
    this.afterFlush();
  }

  /**
   * After any flush: tail readers may move. The checkpoint is not written
   * here: a write per group commit would put the checkpoint file's inode in
   * every journal commit of the data's fdatasync. It is written (and synced)
   * by the thorough checkpoint instead; a checkpoint that lags only makes
   * recovery walk a little more.
   */
  private afterFlush(): void {
    this.notifyConfirmed();
  }

  /**
   * Every flushCommitLogThoroughInterval: snapshot the queue offsets at the
   * written end, flush past it, then persist the snapshot and a synced
   * checkpoint. Recovery then replays at most one interval of records.
   */
  private async thoroughCheckpoint(): Promise<void> {
    if (this.poison !== undefined || this.state !== 'open') return;
    const coveredOffset = this.queue.maxWroteOffset;
    const nextQueueOffsets = new Map(this.nextQueueOffsets);
    const lastFlushStoreTimestamp = this.lastStoreTimestamp;
    await this.queue.commit(0);
    await this.queue.flush(0);
    await this.checkpoint.writeTopicQueueTable({ coveredOffset, nextQueueOffsets });
    // The snapshot offset, not flushedWhere: it is a record boundary (a least-pages flush
    // can stop mid-record), and recovery treats what lies before the checkpoint as durable.
    assert(this.queue.flushedWhere >= coveredOffset, 'the full flush covered the snapshot');
    await this.checkpoint.write({ flushedOffset: coveredOffset, lastFlushStoreTimestamp, writtenAt: Date.now() }, true);
    this.notifyConfirmed();
  }

  /**
   * Retention now: deletes head segments older than fileReservedTime hours
   * (by their newest message's store timestamp), and more while the disk is
   * fuller than diskMaxUsedSpaceRatio. Runs every 10 s on its own; resolves
   * with how many segments went. Reads below the new min offset get
   * ERR_BAD_OFFSET.
   */
  async deleteExpiredSegments(nowMs = Date.now()): Promise<number> {
    this.checkWritable();
    // NaN would make every segment look expired (no age comparison holds), deleting fresh data.
    if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
      throw new CommitLogError('ERR_INVALID_ARGUMENT', `deleteExpiredSegments needs a time in ms since the epoch, got ${describe(nowMs)}`);
    }
    return cleanCommitLog(
      {
        queue: this.queue,
        directory: this.options.storePathCommitLog,
        fileReservedTimeHours: this.options.fileReservedTime,
        diskMaxUsedSpaceRatioPercent: this.options.diskMaxUsedSpaceRatio,
      },
      nowMs,
    );
  }

  // --- failure and close ---------------------------------------------------------------

  private poisonWith(err: unknown): void {
    if (this.poison !== undefined) return;
    this.poison = new CommitLogError('ERR_STORE_POISONED', `the store stopped accepting writes after: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    this.groupCommit?.rejectAll(this.poison);
    this.committer?.rejectAll(this.poison);
    void this.groupCommit?.stop();
    void this.flusher?.stop();
    void this.committer?.stop();
    void this.checkpointer.stop();
    void this.cleaner.stop();
  }

  /** The error that stopped the store, if one did. */
  get poisonedBy(): CommitLogError | undefined {
    return this.poison;
  }

  /**
   * Commits and flushes everything, writes a synced checkpoint and the queue
   * offsets, removes the abort marker, and releases every resource. Pending
   * appends settle first. A poisoned store closes without the final flush,
   * keeping the abort marker so the next open verifies the tail.
   */
  close(): Promise<void> {
    // Every call after the first gets the first's promise: it settles once the lock is released, with its outcome.
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    this.state = 'closing';
    try {
      await this.writeTail; // queued writers run first (and are refused: the store is closing)
      // Retention first: a pass in flight may be waiting on what the flush services do.
      await this.cleaner.stop();
      await this.groupCommit?.stop();
      await this.flusher?.stop();
      await this.committer?.stop();
      await this.checkpointer.stop();
      if (this.poison === undefined) {
        try {
          await this.queue.commit(0);
          await this.queue.flush(0);
          const end = this.queue.maxWroteOffset;
          assert(this.queue.flushedWhere === end, 'close flushed everything');
          await this.checkpoint.writeTopicQueueTable({ coveredOffset: end, nextQueueOffsets: this.nextQueueOffsets });
          // CLEAN_CLOSE: the next open may trust that nothing lies past `end` (the open's first checkpoint clears it).
          await this.checkpoint.write({ flushedOffset: end, lastFlushStoreTimestamp: this.lastStoreTimestamp, writtenAt: Date.now(), cleanClose: true }, true);
          await removeAbortMarker(this.native, this.options.storePathCommitLog);
        } catch (err) {
          this.poisonWith(err);
        }
      }
      // Appends the final flush covered are durable: they resolve, not reject.
      this.groupCommit?.reached(this.queue.flushedWhere);
      this.committer?.reached(this.queue.committedWhere);
      const closed = new CommitLogError('ERR_CLOSED', 'the store was closed before this append was durable');
      this.groupCommit?.rejectAll(this.poison ?? closed);
      this.committer?.rejectAll(this.poison ?? closed);
      this.notifyConfirmed(); // tail readers see the state change and end
    } finally {
      this.state = 'closed';
      await this.queue.close().catch(() => undefined);
      await this.pool?.destroy();
      await this.checkpoint.close().catch(() => undefined);
      await this.lock.release();
    }
    if (this.poison !== undefined) throw this.poison;
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw new CommitLogError('ERR_CLOSED', 'the store is closed');
  }

  /**
   * A writer queued before close() began still runs (close waits for it and
   * flushes what it wrote); only a poisoned or closed store refuses it.
   */
  private checkQueuedWriter(): void {
    if (this.state === 'closed') throw new CommitLogError('ERR_CLOSED', 'the store is closed');
    if (this.poison !== undefined) throw this.poison;
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.poison !== undefined) throw this.poison;
  }
}

/** ERR_INVALID_ARGUMENT unless `options` is an object (a default `= {}` covers only undefined, not null). */
function checkOptionsObject(method: string, options: unknown): void {
  if (typeof options !== 'object' || options === null) {
    throw new CommitLogError('ERR_INVALID_ARGUMENT', `${method}'s options must be an object, got ${describe(options)}`);
  }
}

/** The `verify` option: true when absent; a boolean otherwise (a string 'false' would read as true). */
function verifyOption(verify: unknown): boolean {
  if (verify === undefined) return true;
  if (typeof verify !== 'boolean') throw new CommitLogError('ERR_INVALID_ARGUMENT', `verify must be a boolean, got ${describe(verify)}`);
  return verify;
}

/**
 * Creates the store directory (and parents); ERR_STORE_DIR when the path is
 * a file or cannot be made. True when it did not exist before.
 */
function makeStoreDirectory(directory: string): boolean {
  let created: string | undefined;
  try {
    created = mkdirSync(directory, { recursive: true }); // the first directory it made, undefined when none
  } catch (cause) {
    throw new CommitLogError('ERR_STORE_DIR', `cannot create the store directory ${directory}`, { cause, path: directory });
  }
  if (!statSync(directory).isDirectory()) {
    throw new CommitLogError('ERR_STORE_DIR', `${directory} is not a directory`, { path: directory });
  }
  return created !== undefined;
}

/**
 * Takes back a directory a refused open made: the files an open makes
 * (checkpoint, topic-queue table and its temporary, abort marker, segments),
 * then the lock file while the lock is still held (another opener may be
 * waiting on it), then the directory, when nothing else appeared in it.
 */
async function removeOwnDirectory(native: NativeIO, directory: string): Promise<void> {
  for (const name of readdirSync(directory)) {
    const own = name === CHECKPOINT_FILE_NAME || name === TOPIC_QUEUE_TABLE_FILE_NAME || name === `${TOPIC_QUEUE_TABLE_FILE_NAME}.tmp` || name === ABORT_FILE_NAME || parseSegmentFileName(name) !== undefined;
    if (own) rmSync(join(directory, name), { force: true });
  }
  const names = readdirSync(directory);
  if (names.length !== 1 || names[0] !== LOCK_FILE_NAME) return;
  await native.unlink(join(directory, LOCK_FILE_NAME));
  rmdirSync(directory);
}

/**
 * notAMessage for an offset the caller chose (read, withMessage, a scan's
 * or tail's start): a sound record whose PHYSICALOFFSET names another
 * offset is record bytes inside a body (a record stored as a message, say),
 * so the offset is not a message start: ERR_BAD_OFFSET, not ERR_CORRUPT.
 */
function notAMessageAt(view: Buffer, position: number, offset: number, decoded: { kind: string; reason?: string }): CommitLogError {
  if (decoded.kind === 'corrupt') {
    const anywhere = decodeRecord(view, position, view.length, { verify: true, copy: false });
    if (anywhere.kind === 'message') {
      return new CommitLogError('ERR_BAD_OFFSET', `offset ${offset} is not the start of a message (it holds a sound record of offset ${anywhere.message.physicalOffset})`);
    }
  }
  return notAMessage(view, position, offset, decoded);
}

/** The error for a read at an offset that does not decode as a message. */
function notAMessage(view: Buffer, position: number, offset: number, decoded: { kind: string; reason?: string }): CommitLogError {
  const magic = position + MAGIC_CODE_OFFSET + 4 <= view.length ? view.readUInt32BE(position + MAGIC_CODE_OFFSET) : 0;
  const looksLikeRecord = magic === MESSAGE_MAGIC_CODE_V1 || magic === MESSAGE_MAGIC_CODE_V2;
  if (looksLikeRecord && decoded.kind !== 'blank') {
    return new CommitLogError('ERR_CORRUPT', `record at offset ${offset} is corrupt: ${decoded.reason ?? decoded.kind}`);
  }
  const what = magic === BLANK_MAGIC_CODE ? 'a blank record' : decoded.kind === 'end' ? 'no data' : 'not the start of a message';
  return new CommitLogError('ERR_BAD_OFFSET', `offset ${offset} is ${what}`);
}
