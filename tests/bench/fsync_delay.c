/* fsync_delay: an LD_PRELOAD shim for the slow-disk bench (issue 16) that makes every fsync() and
 * fdatasync() take BH_FSYNC_DELAY_US microseconds longer (default 3000), then does the real call.
 *
 * Why this and not something else: device-mapper's dm-delay is not in this kernel, and a loop
 * device over a file on a fast disk flushes in microseconds. What makes SD cards and eMMC slow for
 * bulkhead is the flush: the card must program the written blocks (and its FTL mapping) before it
 * answers the cache flush that fdatasync sends, 2-5 ms on a typical card, while buffered writes
 * land in the page cache at the same speed on any disk. So the shim delays exactly the durability
 * barrier, once per call, in the calling thread. (Two threads syncing at once are delayed in
 * parallel; a real card serialises its flushes, so overlapping syncs, e.g. a checkpoint's and the
 * WAL syncer's, are slightly flattered here.)
 * Writes still go to the loop device and its ext4 (journal included) for real, so
 * /sys/block/loopN/stat counts every sector. The process's own writes are not slowed.
 * Bench support only: never linked into bulkhead; applies to every process it is preloaded in
 * (the bench preloads it into pipeline_bench, so the raw SQLite reference pays it too). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long delay_us(void) {
  static long us = -1;
  if (us < 0) {
    const char* e = getenv("BH_FSYNC_DELAY_US");
    us = e && *e ? atol(e) : 3000;
    if (us < 0) us = 0;
  }
  return us;
}

/* dlsym's object pointer as a function pointer (ISO C has no cast for it; POSIX guarantees it works). */
typedef int (*sync_fn)(int);
static sync_fn next_sync(const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  sync_fn f;
  memcpy(&f, &p, sizeof f);
  return f;
}

static void pause_for_flush(void) {
  struct timespec ts = {delay_us() / 1000000, (delay_us() % 1000000) * 1000};
  int saved = errno;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  errno = saved;
}

int fsync(int fd) {
  static sync_fn real = 0;
  if (!real) real = next_sync("fsync");
  pause_for_flush();
  return real(fd);
}

int fdatasync(int fd) {
  static sync_fn real = 0;
  if (!real) real = next_sync("fdatasync");
  pause_for_flush();
  return real(fd);
}
