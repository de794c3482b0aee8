/*
 * mapped-commitlog native shim: the ABI called through ffi-napi.
 *
 * Every function returns 0 (or a non-negative count) on success and -errno on
 * failure; none of them sets or reads the caller's errno. EINTR is retried
 * inside the shim where the call is restartable. Addresses are passed as a
 * base pointer plus a byte offset so the TypeScript side never does pointer
 * arithmetic.
 */
#ifndef MC_SHIM_H
#define MC_SHIM_H

#include <stddef.h>
#include <stdint.h>

/* ABI version; bumped on any incompatible change. lib/native checks it at load. */
#define MC_SHIM_ABI_VERSION 9
int mc_abi_version(void);

/* fdatasync(fd). When [dirty_from, dirty_to) is longer than one 1 MiB slice,
 * writeback of that file range is first started slice by slice
 * (sync_file_range), so the submission is not one long non-preemptible
 * call; pass 0, 0 when the range is unknown. */
int mc_fdatasync(int fd, int64_t dirty_from, int64_t dirty_to);

/* Reserve [offset, offset+len) on disk. fallocate(2) first; where the file
 * system refuses (EOPNOTSUPP), falls back to posix_fallocate, which writes a
 * byte per block. ENOSPC is returned as -ENOSPC. */
int mc_fallocate(int fd, int64_t offset, int64_t len);

/* msync(MS_SYNC) of [base+offset, base+offset+len); offset is rounded down to
 * a page boundary here. fd, when >= 0, is the mapped file (mapped from file
 * offset 0): writeback of the range is started through it in 1 MiB slices
 * first, as for mc_fdatasync. Pass -1 when there is no such file. */
int mc_msync(void *base, int64_t offset, int64_t len, int fd);

/* Warm-up with write-back (SYNC_FLUSH stores, mapped mode): faults
 * [offset, offset+len) of the mapping in for writing (as mc_populate_write),
 * then writes the range to disk and waits, 1 MiB at a time (sync_file_range
 * through `fd`, a descriptor of the mapped file that only the warm-up uses),
 * at the idle I/O priority class for the duration of the call (restored
 * before it returns; a refusal is harmless). Changes no byte of the file.
 * Turns fallocate's unwritten extents into written blocks, so a later
 * fdatasync of data written there commits no metadata. */
int mc_warm_write_back(void *base, int64_t offset, int64_t len, int fd);

/* The write-back half of mc_warm_write_back alone, for direct mode, whose
 * warm-up writes zeros with mc_pwrite first and leaves the mapping alone
 * (faulting it in took the process's mmap lock and CPU from a direct-mode
 * store's flushes: group-commit ack p99 4-5 ms against 2 ms): writes
 * [offset, offset+len) of the file back through `fd` and waits, 1 MiB at a
 * time, at the idle I/O priority class. */
int mc_write_back(int fd, int64_t offset, int64_t len);

/* Warm-up of a direct-mode segment: fills the page cache over
 * [offset, offset+len) of the file through `fd` (readahead), 128 KiB at a
 * time (what one call fills whole on any device), at lowered CPU priority.
 * Over fallocate's unwritten extents the kernel zero-fills the pages without
 * reading the disk (written blocks are read), and no page is mapped into
 * the process (no mmap lock, no RSS). A later commit (pwrite) there copies
 * into resident pages instead of allocating them as it goes. Changes no byte
 * of the file and writes nothing to disk. */
int mc_fill_page_cache(int fd, int64_t offset, int64_t len);

/* madvise of a range; advice is the raw Linux constant. */
int mc_madvise(void *base, int64_t offset, int64_t len, int advice);

/* Pre-fault a range for writing: madvise(MADV_POPULATE_WRITE) (Linux 5.14+);
 * where that is refused (EINVAL on old kernels), add 0 to one byte a page,
 * atomically (values unchanged, even beside an append's stores). */
int mc_populate_write(void *base, int64_t offset, int64_t len);

/* Pre-fault a range for reading: madvise(MADV_POPULATE_READ) (Linux 5.14+);
 * where refused (EINVAL), reads one byte a page. */
int mc_populate_read(void *base, int64_t offset, int64_t len);

/* End of the data in [base+offset, base+offset+len): one past the last
 * non-zero byte, or `offset` when the range is all zero. Never fails. */
int64_t mc_data_end(const void *base, int64_t offset, int64_t len);

/* mlock / munlock of a range (in 1 MiB slices; a failed mlock leaves nothing locked). */
int mc_mlock(void *base, int64_t offset, int64_t len);
int mc_munlock(void *base, int64_t offset, int64_t len);

/* pwrite all of [base+offset, base+offset+len) to fd at fileOffset; loops on
 * short writes. Returns 0 when everything was written. */
int mc_pwrite(int fd, const void *base, int64_t offset, int64_t len, int64_t file_offset);

/* Replace a mapping in place with anonymous zero pages (MAP_FIXED), which
 * releases the file right away; later access through an old Buffer sees
 * zeros instead of faulting. The address range stays reserved until the
 * Buffer's own finaliser unmaps it. */
int mc_release_mapping(void *base, int64_t len);

/* flock(LOCK_EX | LOCK_NB) on fd: -EWOULDBLOCK when another holder exists. */
int mc_flock_exclusive(int fd);

/* System page size in bytes. */
int64_t mc_page_size(void);

/* --- CRC-32 and record sealing (mc_crc32.c) -------------------------------
 * CRC-32 as zlib computes it (IEEE, reflected polynomial 0xedb88320, init and
 * final xor 0xffffffff), chained like zlib's crc32(previous, buf). Folded with
 * PCLMULQDQ for ranges of 32 bytes or more when the CPU has it (checked once
 * at load), slicing-by-8 tables otherwise. Pure CPU work: called
 * synchronously, once per batch, never per message. */

/* CRC-32 of [base+offset, base+offset+len), continuing from `previous` (0 to
 * start); returns `previous` when len <= 0. */
uint32_t mc_crc32(uint32_t previous, const void *base, int64_t offset, int64_t len);

/* The same, always by the table route: for specs and benches on a PCLMUL CPU. */
uint32_t mc_crc32_portable(uint32_t previous, const void *base, int64_t offset, int64_t len);

/* 1 when mc_crc32 folds with PCLMULQDQ, 0 when it uses the tables only. */
int mc_crc32_accelerated(void);

/* A seal descriptor: MC_SEAL_DESCRIPTOR_INT32S int32 per record, positions
 * (byte offsets from base) in this order. */
#define MC_SEAL_RECORD_START 0 /* the record's first byte (TOTALSIZE) */
#define MC_SEAL_BODY_START 1   /* BODY's first byte */
#define MC_SEAL_BODY_END 2     /* one past BODY's last byte (TOPICLENGTH) */
#define MC_SEAL_DIGITS_START 3 /* the 10 record CRC digits */
#define MC_SEAL_RECORD_END 4   /* one past the record's last byte (the final 0x02) */
#define MC_SEAL_DESCRIPTOR_INT32S 5

/* Seals `count` encoded message records in place: for each, writes BODYCRC
 * (CRC-32 of [bodyStart, bodyEnd), big-endian at recordStart + 8), then the
 * record CRC (chained over [recordStart, bodyStart) ++ [bodyEnd, digitsStart)
 * ++ [digitsStart + 10, recordEnd)) as 10 zero-padded ASCII digits at
 * digitsStart: the bytes lib/format/message-codec.ts's encodeMessage writes.
 * Every other byte must already be written. Returns 0, or -EINVAL, writing
 * nothing, unless every descriptor has
 *   0 <= recordStart, recordStart + 12 <= bodyStart <= bodyEnd,
 *   bodyEnd + 9 <= digitsStart, digitsStart + 11 == recordEnd,
 *   recordStart >= the previous record's recordEnd (ascending, no overlap),
 *   TOTALSIZE (int32 BE at recordStart) == recordEnd - recordStart,
 *   base[digitsStart - 1] == 0x01 and base[recordEnd - 1] == 0x02.
 * The caller guarantees the last recordEnd is within base's buffer. */
int mc_seal_records(void *base, const int32_t *descriptors, int32_t count);

/* Checks the records `mc_seal_records` would seal (same descriptors): returns
 * the index of the first whose BODYCRC or record CRC digits do not match
 * (or whose TOTALSIZE/separators disagree with its descriptor), `count`
 * when all verify, -EINVAL for malformed descriptors. Reads only. */
int32_t mc_verify_records(const void *base, const int32_t *descriptors, int32_t count);

/* A scan's batch, for the libuv pool: for each of `count` records (the
 * descriptors above), checks it as mc_verify_records does when `verify` is
 * non-zero, then copies [recordStart, recordEnd) to dst + (recordStart -
 * the first record's recordStart). Stops at the first record that does not
 * verify. Returns how many records passed (were copied, with a dst):
 * `count` when all, or -EINVAL for malformed descriptors. A NULL dst with
 * `verify` set checks only (since ABI 8). The caller guarantees the last
 * recordEnd is within base's buffer and dst has room for
 * [first recordStart, last recordEnd). Its arguments are int64 words of a
 * block the caller owns for the call (an .async call runs on another thread,
 * so the thread-local call block below cannot carry them): */
#define MC_VERIFY_COPY_BASE 0
#define MC_VERIFY_COPY_DESCRIPTORS 1
#define MC_VERIFY_COPY_COUNT 2
#define MC_VERIFY_COPY_DST 3
#define MC_VERIFY_COPY_VERIFY 4
#define MC_VERIFY_COPY_WORDS 5
int32_t mc_verify_copy_records(const int64_t *args);

/* mc_seal_records and mc_verify_records without arguments, for the hot paths: ffi-napi spends
 * ~4-5 us converting each argument. The caller writes
 *   block[0] = base address, block[1] = descriptors address, block[2] = count
 * into the calling thread's block (mc_call_block returns its address). */
#define MC_CALL_BLOCK_WORDS 4
/* block[3] must hold this when an entry point is called; the entry point
 * clears it, so a call whose arguments were not written (the wrong thread,
 * an .async call) fails with -EINVAL instead of sealing nothing. */
#define MC_CALL_BLOCK_ARMED 0x4d43424cLL
int64_t *mc_call_block(void);
int mc_seal_records_from_block(void);
int32_t mc_verify_records_from_block(void);

#endif
