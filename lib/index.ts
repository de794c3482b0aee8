/** Public API: the CommitLog and every layer under it, so each can be embedded and benchmarked alone. */
export { CommitLogError, ERROR_CODES, isCommitLogError } from './errors.js';
export type { CommitLogErrorCode, CommitLogErrorDetails } from './errors.js';
export { DEFAULTS, TEST_MIN, resolveOptions } from './config.js';
export type { FlushDiskType, Options, OptionsInput, WriteMode } from './config.js';
export { OS_PAGE_SIZE_BYTES, SEGMENT_SIZE_MAX_BYTES } from './constants.js';
export { RealNativeIO, realNativeIO } from './native/index.js';
export type { Advice, NativeIO } from './native/index.js';
export { MappedFile } from './store/mapped-file.js';
export type { MappedFileParams } from './store/mapped-file.js';
export { TransientStorePool } from './store/transient-store-pool.js';
export type { PoolLockStatus, TransientStorePoolParams } from './store/transient-store-pool.js';
export { DirectWriteStrategy, MappedWriteStrategy, writeStrategyFactory } from './strategy/index.js';
export type { SegmentIO, WriteStrategy, WriteStrategyFactory, WriteStrategyFactoryParams } from './strategy/index.js';
export { MappedFileQueue } from './store/mapped-file-queue.js';
export type { MappedFileQueueParams } from './store/mapped-file-queue.js';
export { AllocateMappedFileService } from './store/allocate-mapped-file-service.js';
export type { AllocateMappedFileServiceParams } from './store/allocate-mapped-file-service.js';
