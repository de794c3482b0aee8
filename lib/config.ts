/**
 * Options in one place. Field names keep RocketMQ's where one exists
 * (README maps them); each doc comment gives unit, default and trade-off.
 * `resolveOptions()` validates once and hands plain numbers down; nothing
 * below re-reads options in a hot loop.
 */
import { totalmem } from 'node:os';
import { CommitLogError } from './errors.js';
import { isSegmentSize, OS_PAGE_SIZE_BYTES, SEGMENT_SIZE_MAX_BYTES, SEGMENT_SIZE_MIN_BYTES, TRANSIENT_STORE_POOL_SIZE_MAX } from './constants.js';
import { SMALLEST_RECORD_SIZE } from './format/message-layout.js';

export type WriteMode = 'mapped' | 'direct';
export type FlushDiskType = 'SYNC_FLUSH' | 'ASYNC_FLUSH';

export interface Options {
  /** Directory of the segment files. Required. */
  storePathCommitLog: string;
  /**
   * Bytes per segment file (RocketMQ `mappedFileSizeCommitLog`). Default 1 GiB,
   * at most 1 GiB, a multiple of the 4 KiB page. Bigger segments mean fewer
   * rolls; smaller ones mean finer deletion and cheaper pre-faulting.
   */
  mappedFileSizeCommitLog: number;
  /**
   * 'mapped': write into the mapping, flush with msync.
   * 'direct': write into a pool buffer, commit with pwrite, flush with
   * fdatasync (RocketMQ `transientStorePoolEnable = true`). Default 'mapped'.
   */
  writeMode: WriteMode;
  /** SYNC_FLUSH: an append resolves when durable. ASYNC_FLUSH: when readable. Default ASYNC_FLUSH. */
  flushDiskType: FlushDiskType;
  /** Pool buffers (each one segment in size) for direct mode. Default 5. */
  transientStorePoolSize: number;
  /** mlock the pool buffers when the system allows it. Default true; refusal is reported, not fatal. */
  transientStorePoolLock: boolean;
  /** ASYNC_FLUSH: ms between background flushes. Default 500. */
  flushIntervalCommitLog: number;
  /** ASYNC_FLUSH: dirty 4 KiB pages needed before a background flush. Default 4. */
  flushCommitLogLeastPages: number;
  /** ASYNC_FLUSH: ms after which a flush ignores least-pages. Default 10 000. */
  flushCommitLogThoroughInterval: number;
  /** Direct mode: ms between background commits. Default 200. */
  commitIntervalCommitLog: number;
  /** Direct mode: new 4 KiB pages needed before a background commit. Default 4. */
  commitCommitLogLeastPages: number;
  /** Direct mode: ms after which a commit ignores least-pages. Default 200. */
  commitCommitLogThoroughInterval: number;
  /** SYNC_FLUSH: ms an append waits for its flush before FLUSH_DISK_TIMEOUT. Default 5 000. */
  syncFlushTimeout: number;
  /** Pre-fault each new segment (off the JS thread) before it is written. Default true. */
  warmMapedFileEnable: boolean;
  /** Largest message in bytes, header included. Default 4 MiB (or the segment size − 8 for smaller segments). */
  maxMessageSize: number;
  /** Hours a full segment is kept before expiry may delete it. Default 72. */
  fileReservedTime: number;
  /** Percent of the disk the store may fill before expiry deletes early. Default 75. */
  diskMaxUsedSpaceRatio: number;
}

export type OptionsInput = Partial<Options> & Pick<Options, 'storePathCommitLog'>;

export const DEFAULTS: Readonly<Omit<Options, 'storePathCommitLog'>> = Object.freeze({
  mappedFileSizeCommitLog: 1024 * 1024 * 1024,
  writeMode: 'mapped',
  flushDiskType: 'ASYNC_FLUSH',
  transientStorePoolSize: 5,
  transientStorePoolLock: true,
  flushIntervalCommitLog: 500,
  flushCommitLogLeastPages: 4,
  flushCommitLogThoroughInterval: 10_000,
  commitIntervalCommitLog: 200,
  commitCommitLogLeastPages: 4,
  commitCommitLogThoroughInterval: 200,
  syncFlushTimeout: 5_000,
  warmMapedFileEnable: true,
  maxMessageSize: 4 * 1024 * 1024,
  fileReservedTime: 72,
  diskMaxUsedSpaceRatio: 75,
});

/** Tiny segments and short intervals, so specs roll segments and flush cheaply. */
export const TEST_MIN: Readonly<Omit<Options, 'storePathCommitLog'>> = Object.freeze({
  ...DEFAULTS,
  mappedFileSizeCommitLog: 64 * 1024,
  transientStorePoolSize: 3,
  transientStorePoolLock: false,
  flushIntervalCommitLog: 10,
  flushCommitLogThoroughInterval: 50,
  commitIntervalCommitLog: 5,
  commitCommitLogThoroughInterval: 20,
  syncFlushTimeout: 2_000,
  maxMessageSize: 16 * 1024,
});

function invalid(name: string, value: unknown, expected: string): CommitLogError {
  return new CommitLogError('ERR_INVALID_OPTION', `options.${name} must be ${expected}, got ${String(value)}`);
}

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(name, value, `an integer in [${min}, ${max}]`);
  }
  return value;
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalid(name, value, 'a boolean');
  return value;
}

function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw invalid(name, value, `one of ${allowed.join(', ')}`);
  return value as T;
}

const KNOWN_OPTIONS = new Set<string>(['storePathCommitLog', ...Object.keys(DEFAULTS)]);

/** The share of the machine's memory a direct store's pool may take. */
const POOL_MEMORY_SHARE_MAX = 0.75;

/** Validates every field and the relations between them; returns a frozen, complete Options. */
export function resolveOptions(input: OptionsInput): Readonly<Options> {
  if (input === null || typeof input !== 'object') throw invalid('', input, 'an object');
  for (const key of Object.keys(input)) {
    if (!KNOWN_OPTIONS.has(key)) throw invalid(key, '(present)', 'a known option (typo?)');
  }
  // A field set to undefined takes its default, as a missing one does.
  const given = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined));
  const merged = { ...DEFAULTS, ...given } as Record<keyof Options, unknown>;
  // Left to its default, the largest message shrinks to fit a small segment
  // (the relation below); given explicitly, a value that does not fit is an error.
  // So do the least-pages thresholds (a 4 KiB segment has 1 page, the defaults want 4).
  if (typeof merged.mappedFileSizeCommitLog === 'number') {
    if (given.maxMessageSize === undefined) merged.maxMessageSize = Math.min(DEFAULTS.maxMessageSize, merged.mappedFileSizeCommitLog - 8);
    const pages = Math.floor(merged.mappedFileSizeCommitLog / OS_PAGE_SIZE_BYTES);
    if (given.flushCommitLogLeastPages === undefined) merged.flushCommitLogLeastPages = Math.min(DEFAULTS.flushCommitLogLeastPages, pages);
    if (given.commitCommitLogLeastPages === undefined) merged.commitCommitLogLeastPages = Math.min(DEFAULTS.commitCommitLogLeastPages, pages);
  }
  const day = 24 * 60 * 60 * 1000;
  if (typeof merged.storePathCommitLog !== 'string' || merged.storePathCommitLog.length === 0) {
    throw invalid('storePathCommitLog', merged.storePathCommitLog, 'a non-empty path');
  }
  const options: Options = {
    storePathCommitLog: merged.storePathCommitLog,
    mappedFileSizeCommitLog: checkInteger('mappedFileSizeCommitLog', merged.mappedFileSizeCommitLog, SEGMENT_SIZE_MIN_BYTES, SEGMENT_SIZE_MAX_BYTES),
    writeMode: checkOneOf('writeMode', merged.writeMode, ['mapped', 'direct'] as const),
    flushDiskType: checkOneOf('flushDiskType', merged.flushDiskType, ['SYNC_FLUSH', 'ASYNC_FLUSH'] as const),
    transientStorePoolSize: checkInteger('transientStorePoolSize', merged.transientStorePoolSize, 1, TRANSIENT_STORE_POOL_SIZE_MAX),
    transientStorePoolLock: checkBoolean('transientStorePoolLock', merged.transientStorePoolLock),
    flushIntervalCommitLog: checkInteger('flushIntervalCommitLog', merged.flushIntervalCommitLog, 1, day),
    flushCommitLogLeastPages: checkInteger('flushCommitLogLeastPages', merged.flushCommitLogLeastPages, 0, SEGMENT_SIZE_MAX_BYTES / OS_PAGE_SIZE_BYTES),
    flushCommitLogThoroughInterval: checkInteger('flushCommitLogThoroughInterval', merged.flushCommitLogThoroughInterval, 1, day),
    commitIntervalCommitLog: checkInteger('commitIntervalCommitLog', merged.commitIntervalCommitLog, 1, day),
    commitCommitLogLeastPages: checkInteger('commitCommitLogLeastPages', merged.commitCommitLogLeastPages, 0, SEGMENT_SIZE_MAX_BYTES / OS_PAGE_SIZE_BYTES),
    commitCommitLogThoroughInterval: checkInteger('commitCommitLogThoroughInterval', merged.commitCommitLogThoroughInterval, 1, day),
    syncFlushTimeout: checkInteger('syncFlushTimeout', merged.syncFlushTimeout, 1, day),
    warmMapedFileEnable: checkBoolean('warmMapedFileEnable', merged.warmMapedFileEnable),
    // Below the smallest record (a 1-byte topic, no body, the CRC property) no message would fit.
    maxMessageSize: checkInteger('maxMessageSize', merged.maxMessageSize, SMALLEST_RECORD_SIZE, SEGMENT_SIZE_MAX_BYTES),
    fileReservedTime: checkInteger('fileReservedTime', merged.fileReservedTime, 0, 24 * 365 * 100),
    diskMaxUsedSpaceRatio: checkInteger('diskMaxUsedSpaceRatio', merged.diskMaxUsedSpaceRatio, 10, 95),
  };
  // Relations, checked once (TigerBeetle's constants.zig habit).
  // In range (checked above), so only whole pages are left to check.
  if (!isSegmentSize(options.mappedFileSizeCommitLog)) {
    throw invalid('mappedFileSizeCommitLog', options.mappedFileSizeCommitLog, `a multiple of ${OS_PAGE_SIZE_BYTES}`);
  }
  const pages = options.mappedFileSizeCommitLog / OS_PAGE_SIZE_BYTES;
  if (options.flushCommitLogLeastPages > pages) {
    throw invalid('flushCommitLogLeastPages', options.flushCommitLogLeastPages, `at most the ${pages} pages of a segment`);
  }
  if (options.commitCommitLogLeastPages > pages) {
    throw invalid('commitCommitLogLeastPages', options.commitCommitLogLeastPages, `at most the ${pages} pages of a segment`);
  }
  // A direct store's pool is faulted in (or locked) whole in the background: past this share of
  // the machine's memory the kernel's OOM killer would end a process rather than fail a call.
  const poolBytes = options.transientStorePoolSize * options.mappedFileSizeCommitLog;
  if (options.writeMode === 'direct' && poolBytes > totalmem() * POOL_MEMORY_SHARE_MAX) {
    throw invalid(
      'transientStorePoolSize',
      options.transientStorePoolSize,
      `at most ${POOL_MEMORY_SHARE_MAX * 100} % of this machine's ${totalmem()} bytes of memory with ${options.mappedFileSizeCommitLog}-byte segments (${poolBytes} bytes): lower transientStorePoolSize or mappedFileSizeCommitLog`,
    );
  }
  // The largest message plus the blank record that may precede a roll must fit one segment.
  if (options.maxMessageSize + 8 > options.mappedFileSizeCommitLog) {
    throw invalid('maxMessageSize', options.maxMessageSize, `at most mappedFileSizeCommitLog - 8 (${options.mappedFileSizeCommitLog - 8})`);
  }
  return Object.freeze(options);
}
