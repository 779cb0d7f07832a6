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
#pragma once
#include <chrono>
#include <cstdint>

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

}  // namespace bh::hal
