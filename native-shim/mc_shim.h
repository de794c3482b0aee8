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
#define MC_SHIM_ABI_VERSION 1
int mc_abi_version(void);

/* fdatasync(fd). */
int mc_fdatasync(int fd);

/* Reserve [offset, offset+len) on disk. fallocate(2) first; where the file
 * system refuses (EOPNOTSUPP), falls back to posix_fallocate, which writes a
 * byte per block. ENOSPC is returned as -ENOSPC. */
int mc_fallocate(int fd, int64_t offset, int64_t len);

/* msync(MS_SYNC) of [base+offset, base+offset+len); offset is rounded down to
 * a page boundary here. */
int mc_msync(void *base, int64_t offset, int64_t len);

/* madvise of a range; advice is the raw Linux constant. */
int mc_madvise(void *base, int64_t offset, int64_t len, int advice);

/* Pre-fault a range for writing: madvise(MADV_POPULATE_WRITE) (Linux 5.14+);
 * where that is refused (EINVAL on old kernels), touch one byte a page by
 * reading and writing it back (values unchanged). */
int mc_populate_write(void *base, int64_t offset, int64_t len);

/* Pre-fault a range for reading: madvise(MADV_POPULATE_READ) (Linux 5.14+);
 * where refused (EINVAL), reads one byte a page. */
int mc_populate_read(void *base, int64_t offset, int64_t len);

/* End of the data in [base+offset, base+offset+len): one past the last
 * non-zero byte, or `offset` when the range is all zero. Never fails. */
int64_t mc_data_end(const void *base, int64_t offset, int64_t len);

/* mlock / munlock of a range. */
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

#endif
