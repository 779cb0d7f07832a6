// ClockWatch (see clock_watch.hpp).
#include "platform/observe/clock_watch.hpp"

#include <atomic>

#include "platform/util/log.hpp"

namespace bh {
namespace {
// The state the committer stamps events with; only a ClockWatch writes it.
std::atomic<bool> g_unsynced{false};
}  // namespace

std::string_view clock_sync_name(ClockSync s) noexcept {
  switch (s) {
    case ClockSync::unchecked: return "unchecked";
    case ClockSync::synced: return "synced";
    case ClockSync::not_synced: return "not synced";
  }
  return "?";
}

ClockWatch::ClockWatch(ClockSyncCheck check, ClockSensors sensors) noexcept : check_(check), sensors_(sensors) {
  offset_ns_ = sensors_.wall_minus_mono_ns();
  tick(hal::Clock::now());
  if (status_.sync == ClockSync::not_synced)
    log::warn("clock: the kernel says the wall clock is not synchronised: events are stored flagged (clock_synced false)");
}

ClockWatch::~ClockWatch() { g_unsynced.store(false, std::memory_order_relaxed); }

bool ClockWatch::stamp_unsynced() noexcept { return g_unsynced.load(std::memory_order_relaxed); }

void ClockWatch::tick(hal::Clock::time_point now) noexcept {
  if (check_ == ClockSyncCheck::kernel) {
    const ClockSync was = status_.sync;
    status_.sync = sensors_.kernel_synced() ? ClockSync::synced : ClockSync::not_synced;
    g_unsynced.store(status_.sync == ClockSync::not_synced, std::memory_order_relaxed);
    if (was != ClockSync::unchecked && was != status_.sync)
      log::info("clock: the wall clock is now {}", clock_sync_name(status_.sync));
  }
  const std::int64_t off = sensors_.wall_minus_mono_ns();
  const std::int64_t step = off - offset_ns_;
  offset_ns_ = off;
  constexpr std::int64_t kThreshold = std::chrono::nanoseconds(kJumpThreshold).count();
  if (step > kThreshold || step < -kThreshold) {
    ++status_.jumps;
    status_.last_jump_ns = step;
    status_.last_jump_at = now;
    status_.last_jump_wall_ms = sensors_.wall_ms();
    log::warn("clock: the wall clock jumped {:+.3f} s (timers, deadlines and retention ages are on the monotonic clock)",
              static_cast<double>(step) / 1e9);
  }
}

}  // namespace bh
