// Budget checks at start-up: the printed table, and RLIMIT_NOFILE against the FD total.
#include "firmware/budget.hpp"

#include <fmt/format.h>

#include "hal/proc.hpp"

namespace bh::budget {

std::string table(const std::array<std::uint32_t, kPools.size()>& limits) {
  std::string out = fmt::format("{:<16} {:>8} {:>6} {:>5} {:>10} {:>10}  {}\n", "pool", "capacity", "limit",
                                "fds", "bytes/slot", "bytes", "what");
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < kPools.size(); ++i) {
    const PoolRow& p = kPools[i];
    std::uint64_t b = std::uint64_t{p.capacity} * p.bytes_per_slot;
    bytes += b;
    out += fmt::format("{:<16} {:>8} {:>6} {:>5} {:>10} {:>10}  {}\n", p.name, p.capacity, limits[i],
                       p.capacity * p.fds_per_slot, p.bytes_per_slot, b, p.description);
  }
  out += fmt::format("{:<16} {:>8} {:>6} {:>5} {:>10} {:>10}  {}\n", "baseline", "-", "-", kBaselineFds, "-", "-",
                     "std streams, epoll, timers, signals, listeners, console, watchdog");
  out += fmt::format("{:<16} {:>8} {:>6} {:>5} {:>10} {:>10}  fd ceiling {}\n", "total", "-", "-", total_fds(), "-",
                     bytes, kFdCeiling);
  return out;
}

std::string check_fd_limit() {
  const std::uint64_t want = kFdCeiling;
  std::uint64_t soft = hal::raise_fd_limit(want);
  if (soft >= want) return {};
  auto lim = hal::fd_limit();
  return fmt::format("RLIMIT_NOFILE soft limit {} (hard {}) is below the resource budget's fd ceiling {}: "
                     "raise it (ulimit -n {}, or LimitNOFILE={} in the systemd unit)",
                     soft, lim.hard, want, want, want);
}

}  // namespace bh::budget
