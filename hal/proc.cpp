// /proc and rlimit readings. Allocation-free: fixed buffers, raw syscalls.
#include "hal/proc.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace bh::hal {
namespace {
// Reads a small /proc file into buf (NUL-terminated). Returns bytes read or -1.
ssize_t read_small(const char* path, char* buf, std::size_t cap) noexcept {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = ::read(fd, buf, cap - 1);
  ::close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  return n;
}
}  // namespace

int open_fd_count() noexcept {
  // getdents64 on a fixed buffer: opendir/readdir would malloc the DIR.
  int fd = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  alignas(8) char buf[4096];
  int count = 0;
  for (;;) {
    long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* reclen = reinterpret_cast<unsigned short*>(buf + off + 16);
      const char* name = buf + off + 19;
      if (name[0] != '.') ++count;
      off += *reclen;
    }
  }
  ::close(fd);
  return count - 1;  // our own directory fd
}

std::uint64_t rss_bytes() noexcept {
  char buf[128];
  if (read_small("/proc/self/statm", buf, sizeof buf) <= 0) return 0;
  char* p = buf;
  std::strtoull(p, &p, 10);                  // size
  unsigned long long pages = std::strtoull(p, &p, 10);  // resident
  return pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::uint64_t peak_rss_bytes() noexcept {
  char buf[4096];
  if (read_small("/proc/self/status", buf, sizeof buf) <= 0) return 0;
  const char* p = std::strstr(buf, "VmHWM:");
  if (!p) return 0;
  return std::strtoull(p + 6, nullptr, 10) * 1024;
}

std::uint64_t io_write_bytes() noexcept {
  char buf[512];
  if (read_small("/proc/self/io", buf, sizeof buf) <= 0) return 0;
  const char* p = std::strstr(buf, "\nwrite_bytes:");
  if (!p) return 0;
  return std::strtoull(p + 13, nullptr, 10);
}

FdLimit fd_limit() noexcept {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return {};
  return {static_cast<std::uint64_t>(r.rlim_cur), static_cast<std::uint64_t>(r.rlim_max)};
}

std::uint64_t raise_fd_limit(std::uint64_t want) noexcept {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  if (r.rlim_cur >= want) return r.rlim_cur;
  if (r.rlim_max != RLIM_INFINITY && r.rlim_max < want) want = r.rlim_max;
  r.rlim_cur = want;
  ::setrlimit(RLIMIT_NOFILE, &r);
  ::getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur;
}

}  // namespace bh::hal
