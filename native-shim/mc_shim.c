/* mapped-commitlog native shim. See mc_shim.h for the ABI and README.md. */
#define _GNU_SOURCE
#include "mc_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

static int64_t page_size(void) {
  static int64_t cached = 0;
  if (cached == 0) cached = (int64_t)sysconf(_SC_PAGESIZE);
  return cached;
}

/* Round [base+offset, +len) outward to whole pages, as msync/madvise/mlock need. */
static void page_range(void *base, int64_t offset, int64_t len, char **start, size_t *length) {
  int64_t page = page_size();
  int64_t aligned = offset - (offset % page);
  *start = (char *)base + aligned;
  *length = (size_t)(len + (offset - aligned));
}

/* Background I/O threads (the libuv pool) yield the CPU to the JS thread:
 * (node's main thread is the process's first thread: its tid is the pid)
 * on a small machine a memcpy-heavy commit or a kworker-heavy flush must
 * not delay the event loop. Lowered once per thread; a refusal is harmless. */
static __thread int background_priority_set = 0;
static void lower_thread_priority(void) {
  if (background_priority_set) return;
  background_priority_set = 1;
  /* Never the JS thread itself (a synchronous call runs on it): only pool threads. */
  if ((pid_t)syscall(SYS_gettid) == getpid()) return;
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
}

/* Long calls are made in slices. This kernel kind runs without kernel
 * preemption: a thread inside one 4 MiB pwrite (7 ms when the page cache
 * allocates) or one writeback submission of a 1 GiB range is not preempted
 * until it returns to user space, and even at nice 19 it keeps its CPU; on
 * a 2-core machine the event loop then waits that long for a CPU (seen with
 * perf sched: 7-17 ms). A 1 MiB slice costs about 1-2 ms of kernel time,
 * and returning between slices is a preemption point (and drops the mmap
 * lock for madvise/mlock). */
#define MC_SLICE_BYTES ((int64_t)1 << 20)
/* (Pre-faulting also holds the process's mmap lock, shared, for a whole
 * slice; a V8 thread that needs it exclusively queues behind, and the JS
 * thread's own page faults queue behind that one: the slice keeps it short.) */
/* A pwrite into new pages allocates and fills a folio as large as the write
 * in one stretch (page-cache allocation runs at 0.3-0.6 GB/s on this VM):
 * 256 KiB keeps that under a millisecond; the extra syscalls cost ~1 us each. */
#define MC_PWRITE_SLICE_BYTES ((int64_t)256 << 10)
/* fallocate only reserves extents: a larger slice is still short. */
#define MC_FALLOCATE_SLICE_BYTES ((int64_t)64 << 20)

/* The length of the slice that starts `rest` bytes before the end of a range. */
static int64_t slice_of(int64_t rest, int64_t slice) { return rest < slice ? rest : slice; }

int mc_abi_version(void) { return MC_SHIM_ABI_VERSION; }

int64_t mc_page_size(void) { return page_size(); }

/* Starts writeback of [from, to) of the file slice by slice
 * (SYNC_FILE_RANGE_WRITE queues the pages and returns; it may sleep on a
 * full device queue, which costs no CPU). The fdatasync or msync that
 * follows then only waits, instead of submitting the whole range in one
 * long non-preemptible stretch. A refusal is harmless: the sync submits. */
static void start_writeback(int fd, int64_t from, int64_t to) {
  /* A range of one slice or less is the sync's own short work (a SYNC_FLUSH
   * group): submitting it separately would only add a syscall. */
  if (fd < 0 || to - from <= MC_SLICE_BYTES) return;
  for (int64_t at = from; at < to; at += MC_SLICE_BYTES) {
    int64_t piece = slice_of(to - at, MC_SLICE_BYTES);
    if (sync_file_range(fd, (off_t)at, (off_t)piece, SYNC_FILE_RANGE_WRITE) != 0 && errno != EINTR) return;
  }
}

int mc_fdatasync(int fd, int64_t dirty_from, int64_t dirty_to) {
  lower_thread_priority();
  start_writeback(fd, dirty_from, dirty_to);
  int rc;
  do { rc = fdatasync(fd); } while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : -errno;
}

int mc_fallocate(int fd, int64_t offset, int64_t len) {
  lower_thread_priority();
  for (int64_t at = offset; at < offset + len; at += MC_FALLOCATE_SLICE_BYTES) {
    off_t piece = (off_t)slice_of(offset + len - at, MC_FALLOCATE_SLICE_BYTES);
    int rc;
    do { rc = fallocate(fd, 0, (off_t)at, piece); } while (rc != 0 && errno == EINTR);
    if (rc == 0) continue;
    if (errno != EOPNOTSUPP && errno != ENOSYS) return -errno;
    /* posix_fallocate returns the error number instead of setting errno. */
    rc = posix_fallocate(fd, (off_t)at, piece);
    if (rc != 0) return -rc;
  }
  return 0;
}

int mc_msync(void *base, int64_t offset, int64_t len, int fd) {
  char *start; size_t length;
  lower_thread_priority();
  if (len <= 0) return 0;
  page_range(base, offset, len, &start, &length);
  /* The mapping starts at file offset 0, so mapping offsets are file offsets. */
  start_writeback(fd, start - (char *)base, start - (char *)base + (int64_t)length);
  /* One MS_SYNC for the range: it waits for the writeback started above and
   * commits the file's metadata once (a sync per slice would pay a journal
   * commit and a cache flush each time). */
  int rc;
  do { rc = msync(start, length, MS_SYNC); } while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : -errno;
}

int mc_madvise(void *base, int64_t offset, int64_t len, int advice) {
  char *start; size_t length;
  if (len <= 0) return 0;
  page_range(base, offset, len, &start, &length);
  return madvise(start, length, advice) == 0 ? 0 : -errno;
}

/* Fault [offset, offset+len) in, slice by slice: madvise(MADV_POPULATE_*)
 * (Linux 5.14+); where that is refused (EINVAL on older kernels), touch one
 * byte a page: for reading, a volatile read; for writing, an atomic add of
 * 0, which changes nothing even while another thread stores to that byte. */
static int populate(void *base, int64_t offset, int64_t len, int for_write) {
  char *start; size_t length;
  lower_thread_priority();
  if (len <= 0) return 0;
  page_range(base, offset, len, &start, &length);
  int advice = for_write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
  for (size_t at = 0; at < length; at += (size_t)MC_SLICE_BYTES) {
    size_t piece = (size_t)slice_of((int64_t)(length - at), MC_SLICE_BYTES);
    int rc;
    do { rc = madvise(start + at, piece, advice); } while (rc != 0 && errno == EINTR);
    if (rc == 0) continue;
    if (errno != EINVAL) return -errno;
    int64_t page = page_size();
    for (size_t p = at; p < at + piece; p += (size_t)page) {
      char *byte = start + p;
      /* For writing: an atomic add of 0, not a read and a write back, which
       * would undo a concurrent append's store to this byte between the two. */
      if (for_write) __atomic_fetch_add((volatile char *)byte, 0, __ATOMIC_RELAXED);
      else (void)*(volatile char *)byte;
    }
  }
  return 0;
}

int mc_populate_write(void *base, int64_t offset, int64_t len) {
  return populate(base, offset, len, 1);
}

int mc_populate_read(void *base, int64_t offset, int64_t len) {
  return populate(base, offset, len, 0);
}

/* ioprio_set/ioprio_get have no glibc wrappers. */
#define MC_IOPRIO_WHO_PROCESS 1 /* with a thread id: that thread */
#define MC_IOPRIO_CLASS_SHIFT 13
#define MC_IOPRIO_CLASS_IDLE 3

/* Puts the calling thread's I/O in the idle class: the block layer's
 * scheduler (mq-deadline, bfq) sends it only while no best-effort I/O waits.
 * Returns the value to give restore_io_priority, or -1 when nothing changed. */
static long lower_io_priority(pid_t tid) {
  long saved = syscall(SYS_ioprio_get, MC_IOPRIO_WHO_PROCESS, tid);
  if (saved < 0) return -1;
  if (syscall(SYS_ioprio_set, MC_IOPRIO_WHO_PROCESS, tid, MC_IOPRIO_CLASS_IDLE << MC_IOPRIO_CLASS_SHIFT) != 0) return -1;
  return saved;
}

/* The pool thread is shared: its I/O priority goes back as it was, or to the
 * default (0) where the saved value is refused (kernels before 5.15 report
 * class NONE with a level, which ioprio_set rejects). */
static void restore_io_priority(pid_t tid, long saved) {
  if (saved < 0) return;
  if (syscall(SYS_ioprio_set, MC_IOPRIO_WHO_PROCESS, tid, (int)saved) != 0) syscall(SYS_ioprio_set, MC_IOPRIO_WHO_PROCESS, tid, 0);
}

/* Writes [offset, offset + len) of the file back through `fd` and waits, one
 * slice at a time: a slice is queued and waited for before the next, so a
 * warm-up never has more than one slice queued at the device ahead of an
 * append's flush. (Queuing 8 MiB at once held SYNC_FLUSH group flushes for
 * 2-10 ms here.) Through `fd`, not msync of a mapping: msync syncs the
 * mapping's own open file, and a write error is reported once per open file;
 * the flushes' descriptor keeps its own report intact. */
static int write_back_slices(int fd, int64_t offset, int64_t len) {
  int flags = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
  for (int64_t at = offset; at < offset + len; at += MC_SLICE_BYTES) {
    off_t piece = (off_t)slice_of(offset + len - at, MC_SLICE_BYTES);
    int rc;
    do { rc = sync_file_range(fd, (off_t)at, piece, flags); } while (rc != 0 && errno == EINTR);
    if (rc != 0) return -errno;
  }
  return 0;
}

int mc_warm_write_back(void *base, int64_t offset, int64_t len, int fd) {
  lower_thread_priority();
  /* Idle I/O: the appends' own flushes are not queued behind a segment of zeros. */
  pid_t tid = (pid_t)syscall(SYS_gettid);
  long saved = lower_io_priority(tid);
  int rc = populate(base, offset, len, 1);
  if (rc == 0) rc = write_back_slices(fd, offset, len);
  restore_io_priority(tid, saved);
  return rc;
}

int mc_write_back(int fd, int64_t offset, int64_t len) {
  lower_thread_priority();
  pid_t tid = (pid_t)syscall(SYS_gettid);
  long saved = lower_io_priority(tid);
  int rc = write_back_slices(fd, offset, len);
  restore_io_priority(tid, saved);
  return rc;
}

/* One readahead call fills at most max(read_ahead_kb, max_sectors_kb) of the
 * range and reports no shortfall: 128 KiB, the kernel's default read-ahead,
 * is filled whole everywhere. */
#define MC_READAHEAD_PIECE_BYTES ((int64_t)128 << 10)

int mc_fill_page_cache(int fd, int64_t offset, int64_t len) {
  lower_thread_priority();
  for (int64_t at = offset; at < offset + len; at += MC_READAHEAD_PIECE_BYTES) {
    size_t piece = (size_t)slice_of(offset + len - at, MC_READAHEAD_PIECE_BYTES);
    if (readahead(fd, (off64_t)at, piece) != 0) return -errno;
  }
  return 0;
}

int64_t mc_data_end(const void *base, int64_t offset, int64_t len) {
  lower_thread_priority();
  const unsigned char *bytes = (const unsigned char *)base + offset;
  int64_t end = len;
  /* Word at a time from the back: the tail of a segment is mostly zero. */
  while (end >= 8) {
    uint64_t word;
    __builtin_memcpy(&word, bytes + end - 8, 8);
    if (word != 0) break;
    end -= 8;
  }
  while (end > 0 && bytes[end - 1] == 0) end--;
  return offset + end;
}

int mc_mlock(void *base, int64_t offset, int64_t len) {
  char *start; size_t length;
  lower_thread_priority();
  if (len <= 0) return 0;
  page_range(base, offset, len, &start, &length);
  /* In slices: one mlock of 1 GiB faults every page in while holding the
   * mmap lock, and the JS thread's munmap (V8 returning memory) waited
   * seconds behind it. On a refusal part way, the locked part is unlocked. */
  for (size_t at = 0; at < length; at += (size_t)MC_SLICE_BYTES) {
    size_t piece = (size_t)slice_of((int64_t)(length - at), MC_SLICE_BYTES);
    if (mlock(start + at, piece) != 0) {
      int err = errno;
      if (at > 0) munlock(start, at);
      return -err;
    }
  }
  return 0;
}

int mc_munlock(void *base, int64_t offset, int64_t len) {
  char *start; size_t length;
  lower_thread_priority();
  if (len <= 0) return 0;
  page_range(base, offset, len, &start, &length);
  return munlock(start, length) == 0 ? 0 : -errno;
}

int mc_pwrite(int fd, const void *base, int64_t offset, int64_t len, int64_t file_offset) {
  lower_thread_priority();
  const char *from = (const char *)base + offset;
  while (len > 0) {
    size_t piece = (size_t)slice_of(len, MC_PWRITE_SLICE_BYTES);
    ssize_t n = pwrite(fd, from, piece, (off_t)file_offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EIO; /* no progress on a regular file: treat as an I/O error */
    from += n; len -= n; file_offset += n;
  }
  return 0;
}

int mc_release_mapping(void *base, int64_t len) {
  lower_thread_priority();
  /* Drop the pages first, slice by slice, under the shared mmap lock
   * (MADV_DONTNEED); replacing a populated 1 GiB range at once would hold
   * the lock exclusively for tens of ms, and every page fault of the
   * process (the JS thread's included) would wait. Refused on locked pages
   * (EINVAL): then the replacement below does the freeing. */
  char *start = (char *)base;
  for (int64_t at = 0; at < len; at += MC_SLICE_BYTES) {
    size_t piece = (size_t)slice_of(len - at, MC_SLICE_BYTES);
    if (madvise(start + at, piece, MADV_DONTNEED) != 0) break;
  }
  void *p = mmap(base, (size_t)len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? -errno : 0;
}

int mc_flock_exclusive(int fd) {
  int rc;
  do { rc = flock(fd, LOCK_EX | LOCK_NB); } while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : -errno;
}
