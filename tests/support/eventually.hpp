// Waiting on a real process without sleeping for time to pass: poll a condition until it holds or
// a deadline (scaled by slow() under valgrind) passes. For conditions of another process or thread
// (a log line, a file, an FD count, a peer's counter); a timer of the code under test is driven
// with the fake clock instead (tests/support/fake_clock.hpp).
#pragma once
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>

#include "tests/support/harness.hpp"
#include "tests/support/poll.hpp"

namespace bh::test {

// True as soon as `cond()` is; false if it still is not after `timeout` (times slow_factor()).
// `step` is only how often it looks, never a duration the test depends on.
template <typename Cond>
bool eventually(Cond&& cond, std::chrono::milliseconds timeout = std::chrono::milliseconds(10000),
                std::chrono::milliseconds step = std::chrono::milliseconds(5)) {
  return poll_until(std::forward<Cond>(cond), slow(timeout), step);
}

// The port a helper process (a Python peer or fake, a TLS peer) listens on, once it wrote it to
// `path` as a decimal number; 0 if `child` exits or `timeout` (times slow_factor()) passes first.
inline std::uint16_t wait_port_file(const std::string& path, Child& child,
                                    std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  unsigned port = 0;
  eventually([&] {
    std::ifstream f(path);
    return (f >> port && port != 0) || !child.running();
  }, timeout, std::chrono::milliseconds(10));
  return static_cast<std::uint16_t>(port);
}

// True once the process's log holds `text` (e.g. kRunning: start-up is complete).
inline bool log_shows(const Bulkhead& b, std::string_view text,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  return eventually([&] { return b.log().find(text) != std::string::npos; }, timeout);
}
// Logged once App has started everything and sealed the heap.
inline constexpr std::string_view kRunning = "running (sealed";

}  // namespace bh::test
