// Polling with a deadline: look at a condition of another process or thread (a port file, a
// listener that accepts, an exit status, a peer's counter) until it holds or the deadline passes.
// The step is only how often it looks, never a time anything depends on. Not a way to let time
// pass (a timer of the code under test is driven with tests/support/fake_clock.hpp), and not
// scaled for slow runs: tests use eventually() (tests/support/eventually.hpp), which is this
// with slow(); the benches, which link no test support, use this directly.
#pragma once
#include <chrono>
#include <thread>

namespace bh::test {

// True as soon as `cond()` is; false if it still is not when `timeout` has passed.
template <typename Cond>
bool poll_until(Cond&& cond, std::chrono::steady_clock::duration timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

}  // namespace bh::test
