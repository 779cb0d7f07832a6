// The monotonic clock with its test offset, and the wall clock.
#include "hal/clock.hpp"

#include <atomic>

namespace bh::hal {
namespace {
// Nanoseconds (steady_clock ticks) added to steady_clock::now(); only advance() changes it.
std::atomic<Clock::rep> g_offset{0};
static_assert(std::atomic<Clock::rep>::is_always_lock_free);
}  // namespace

Clock::time_point Clock::now() noexcept {
  return time_point(std::chrono::steady_clock::now().time_since_epoch() + offset());
}

Clock::duration Clock::offset() noexcept { return duration(g_offset.load(std::memory_order_acquire)); }

void Clock::advance(duration d) noexcept {
  if (d > duration::zero()) g_offset.fetch_add(d.count(), std::memory_order_acq_rel);
}

std::int64_t unix_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace bh::hal
