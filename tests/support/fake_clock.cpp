// The fake clock's two levers: in-process (hal::Clock::advance + a timer wake) and in a child
// (the test-hook console command).
#include "tests/support/fake_clock.hpp"

#include <asio/basic_waitable_timer.hpp>

#include <string>

#include "tests/support/eventually.hpp"

namespace bh::test {

void advance(asio::io_context& io, hal::Clock::duration d) {
  hal::Clock::advance(d);
  asio::basic_waitable_timer<hal::Clock> wake(io);
  wake.expires_at(hal::Clock::time_point{});
  wake.async_wait([](const std::error_code&) {});
}  // the wait is cancelled; Asio's timerfd stays armed and fires at once

hal::Clock::duration run_virtual(asio::io_context& io, hal::Clock::duration step, hal::Clock::duration limit) {
  const auto start = hal::Clock::now();
  io.restart();
  while (!io.stopped()) {
    if (io.poll() > 0) continue;
    if (io.stopped() || hal::Clock::now() - start >= limit) break;
    advance(io, step);
  }
  return hal::Clock::now() - start;
}

bool advance_clock(const Bulkhead& b, std::chrono::milliseconds d) {
  const std::string sock = b.dir() + "/var/console.sock";
  std::string last;
  bool ok = eventually([&] {
    auto [rc, out] = run_bulkhead({"console", "--socket", sock, "clock", "advance", std::to_string(d.count()) + "ms"});
    last = out;
    return rc == 0 && out.find("clock advanced") != std::string::npos;
  });
  if (!ok) ADD_FAILURE() << "clock advance failed: " << last;
  return ok;
}

}  // namespace bh::test
