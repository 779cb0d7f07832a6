// Waiting on a real process without sleeping for time to pass: poll a condition until it holds or
// a deadline (scaled by slow() under valgrind) passes. For conditions of another process or thread
// (a log line, a file, an FD count, a peer's counter); a timer of the code under test is driven
// with the fake clock instead (tests/support/fake_clock.hpp).
#pragma once
#include <chrono>
#include <string>
#include <string_view>
#include <thread>

#include "tests/support/harness.hpp"

namespace bh::test {

// True as soon as `cond()` is; false if it still is not after `timeout` (times slow_factor()).
// `step` is only how often it looks, never a duration the test depends on.
template <typename Cond>
bool eventually(Cond&& cond, std::chrono::milliseconds timeout = std::chrono::milliseconds(10000),
                std::chrono::milliseconds step = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + slow(timeout);
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

// True once the process's log holds `text` (e.g. kRunning: start-up is complete).
inline bool log_shows(const Bulkhead& b, std::string_view text,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  return eventually([&] { return b.log().find(text) != std::string::npos; }, timeout);
}
// Logged once App has started everything and sealed the heap.
inline constexpr std::string_view kRunning = "running (sealed";

}  // namespace bh::test
