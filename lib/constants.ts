/**
 * Constants every layer agrees on. Relations between them are checked once,
 * in lib/config.ts, when options are resolved.
 */

/** The page the least-pages rules count in (RocketMQ's OS_PAGE_SIZE). */
export const OS_PAGE_SIZE_BYTES = 4096;

/**
 * Largest segment: mmap-io reads a mapping's size as a C int, so one
 * mapping stays below 2 GiB; 1 GiB is RocketMQ's default and our cap.
 */
export const SEGMENT_SIZE_MAX_BYTES = 1024 * 1024 * 1024;

/** Smallest segment: one page, so tests can roll segments cheaply. */
export const SEGMENT_SIZE_MIN_BYTES = OS_PAGE_SIZE_BYTES;

/** A segment size a store can have (mappedFileSizeCommitLog): whole pages, within the bounds above. */
export function isSegmentSize(bytes: number): boolean {
  return Number.isSafeInteger(bytes) && bytes >= SEGMENT_SIZE_MIN_BYTES && bytes <= SEGMENT_SIZE_MAX_BYTES && bytes % OS_PAGE_SIZE_BYTES === 0;
}

/** Most buffers a TransientStorePool holds (transientStorePoolSize's bound). */
export const TRANSIENT_STORE_POOL_SIZE_MAX = 64;
