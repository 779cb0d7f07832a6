// Deadline accounting for a connector (a sink, a source): per kind of timed operation, how many
// ran with a deadline and how many ran past it. The violation rate is timeouts / operations; the
// console and /metrics show both counts and the rate. Reactor thread only; no heap.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bh {

// `response`: a whole HTTP response (status line, headers, body) within response_timeout, however
// its bytes are paced; `read` is each single read within read_timeout.
enum class TimedOp : std::uint8_t { resolve, connect, handshake, write, read, pool_acquire, response };
inline constexpr std::size_t kTimedOps = 7;
inline constexpr std::array<std::string_view, kTimedOps> kTimedOpNames{
    "resolve", "connect", "handshake", "write", "read", "pool_acquire", "response"};

struct TimeoutStats {
  std::array<std::uint64_t, kTimedOps> ops{};
  std::array<std::uint64_t, kTimedOps> timeouts{};

  void started(TimedOp o) noexcept { ++ops[static_cast<std::size_t>(o)]; }
  void timed_out(TimedOp o) noexcept { ++timeouts[static_cast<std::size_t>(o)]; }
  // Counts kept elsewhere (e.g. by the DNS cache) copied in.
  void set(TimedOp o, std::uint64_t n_ops, std::uint64_t n_timeouts) noexcept {
    ops[static_cast<std::size_t>(o)] = n_ops;
    timeouts[static_cast<std::size_t>(o)] = n_timeouts;
  }
  // timeouts / operations, 0 when none ran.
  double rate(std::size_t i) const noexcept {
    return ops[i] == 0 ? 0.0 : static_cast<double>(timeouts[i]) / static_cast<double>(ops[i]);
  }
};

}  // namespace bh
