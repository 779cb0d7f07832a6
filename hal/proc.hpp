// /proc seam: what the kernel says about this process (open FDs, RSS, FD limits). The watchdog and
// the budget check trust these readings over the pools' own counters. Linux only.
#pragma once
#include <cstdint>

namespace bh::hal {

// Number of open file descriptors (entries of /proc/self/fd, the directory's own fd excluded), -1 on error.
int open_fd_count() noexcept;
// Resident set size in bytes from /proc/self/statm, 0 on error.
std::uint64_t rss_bytes() noexcept;
// Peak resident set size in bytes (VmHWM from /proc/self/status), 0 on error.
std::uint64_t peak_rss_bytes() noexcept;

// Bytes this process caused to be sent to the storage layer (/proc/self/io `write_bytes`: pages it
// dirtied in the page cache, 4 KiB each, whoever writes them back; the filesystem journal is not
// included). 0 if unreadable (no task I/O accounting). Allocation-free: for scrapes and watchdog
// ticks, not the hot path (it opens and reads a /proc file).
std::uint64_t io_write_bytes() noexcept;

struct FdLimit {
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
};
FdLimit fd_limit() noexcept;
// Raises the soft RLIMIT_NOFILE to `want` if the hard limit allows. Returns the soft limit in force afterwards.
std::uint64_t raise_fd_limit(std::uint64_t want) noexcept;

}  // namespace bh::hal
