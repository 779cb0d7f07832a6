// The clocks: ONE monotonic clock for every timer, deadline and age in the runtime, and ONE wall
// clock for timestamps.
//
// hal::Clock is std::chrono::steady_clock plus an offset that starts at zero and only moves
// forward when a test (or the test-hook console command `clock advance`) calls advance(). In
// production nothing calls it, so hal::Clock::now() is steady_clock::now(). bh::Clock and
// bh::Timer (platform/core/task.hpp) are built on it, so a test makes a 60 s idle timeout, a
// breaker's recovery or a backoff elapse at once instead of sleeping for it.
//
// Invariants:
// - now() never goes backwards: the offset only grows (advance() of a negative duration is ignored).
// - The offset is atomic: the WAL syncer and checkpointer threads read now() while a test
//   advances it on another thread.
// - hal::Clock is its own clock type (not an alias of steady_clock): a time point of one cannot
//   be mixed with the other by accident; the compiler refuses it.
//
// Advancing does not wake an Asio reactor that waits for a timer: on Linux Asio re-arms its
// timerfd only when a timer becomes the earliest. After advance(), set a timer on that io_context
// to Clock::time_point{} (earlier than every other) and wait on it: the reactor then fires every
// timer now due. tests/support/fake_clock.hpp and the `clock advance` command do that.
//
// unix_ms() is the wall clock (system_clock, milliseconds since the epoch) for timestamps in
// records and answers; libfaketime moves it in tests/fault/clock_test.cpp. It is never advanced.
//
// The wall clock's health (issue 17, a board without a battery-backed clock): what the kernel says
// of its synchronisation (adjtimex), and wall - monotonic, whose change is a step of the wall
// clock (an NTP sync, an operator's date -s). platform/observe/clock_watch.hpp reads both.
#pragma once
#include <chrono>
#include <cstdint>
#include <system_error>

namespace bh::hal {

struct Clock {
  using duration = std::chrono::steady_clock::duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<Clock, duration>;
  static constexpr bool is_steady = true;

  static time_point now() noexcept;
  // How far advance() has moved the clock in all (zero in production).
  static duration offset() noexcept;
  // Moves now() forward by d (test hooks only; d <= 0 does nothing). Thread-safe.
  static void advance(duration d) noexcept;
};

// Wall-clock milliseconds since the Unix epoch.
std::int64_t unix_ms() noexcept;

// adjtimex(modes = 0): true when the kernel's clock is synchronised: neither TIME_ERROR nor
// STA_UNSYNC, which chrony, systemd-timesyncd and ntpd clear once they have set the time. A call
// that fails reads as not synchronised.
bool kernel_clock_synced() noexcept;

// CLOCK_REALTIME - CLOCK_MONOTONIC in nanoseconds (not moved by Clock::advance()): constant but for
// NTP's slewing, until someone steps the wall clock.
std::int64_t wall_minus_mono_ns() noexcept;

// Test hooks (the hidden console commands `clock step` and `clock synced`; never in native tests:
// they move the machine's clock). step_wall: clock_settime(CLOCK_REALTIME, now + d), an NTP step.
// mark_kernel_synced: adjtimex(ADJ_STATUS | ADJ_MAXERROR) clearing STA_UNSYNC, as timesyncd does.
std::error_code step_wall(std::chrono::nanoseconds d) noexcept;
std::error_code mark_kernel_synced() noexcept;

}  // namespace bh::hal
