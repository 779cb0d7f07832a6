// The monotonic clock with its test offset, and the wall clock.
#include "hal/clock.hpp"

#include <sys/timex.h>
#include <time.h>

#include <atomic>
#include <cerrno>

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

bool kernel_clock_synced() noexcept {
  struct timex tx {};
  const int state = ::adjtimex(&tx);
  return state != -1 && state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
}

namespace {
std::int64_t ns_of(const timespec& t) noexcept { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }
}  // namespace

std::int64_t wall_minus_mono_ns() noexcept {
  timespec wall{}, mono{};
  ::clock_gettime(CLOCK_MONOTONIC, &mono);
  ::clock_gettime(CLOCK_REALTIME, &wall);
  return ns_of(wall) - ns_of(mono);
}

std::error_code step_wall(std::chrono::nanoseconds d) noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const std::int64_t t = ns_of(now) + d.count();
  if (t < 0) return std::make_error_code(std::errc::invalid_argument);
  const timespec to{static_cast<time_t>(t / 1'000'000'000), static_cast<long>(t % 1'000'000'000)};
  if (::clock_settime(CLOCK_REALTIME, &to) != 0) return {errno, std::system_category()};
  return {};
}

std::error_code mark_kernel_synced() noexcept {
  struct timex tx {};  // modes 0: read the status first, to keep its other bits
  if (::adjtimex(&tx) == -1) return {errno, std::system_category()};
  tx.modes = ADJ_STATUS | ADJ_MAXERROR;
  tx.status &= ~STA_UNSYNC;
  tx.maxerror = 0;
  if (::adjtimex(&tx) == -1) return {errno, std::system_category()};
  return {};
}

}  // namespace bh::hal
