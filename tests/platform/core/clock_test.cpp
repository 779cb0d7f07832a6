// The clock seam (hal/clock.hpp): hal::Clock only moves forward, advancing it is safe from other
// threads, and an advance wakes a real io_context so that a timer due by then fires without the
// time passing; tasks' sleeps and deadlines and the breaker's recovery run on it.
#include "hal/clock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "platform/core/task.hpp"
#include "platform/transport/breaker.hpp"
#include "tests/support/fake_clock.hpp"

namespace bh {
namespace {
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

TEST(Clock, IsTheRuntimeClockAndFollowsSteadyClockPlusTheOffset) {
  static_assert(std::is_same_v<Clock, hal::Clock>);
  static_assert(Clock::is_steady);
  const auto s0 = Steady::now().time_since_epoch();
  const auto c = Clock::now().time_since_epoch() - hal::Clock::offset();
  const auto s1 = Steady::now().time_since_epoch();
  EXPECT_GE(c, s0);
  EXPECT_LE(c, s1);
}

TEST(Clock, AdvanceMovesNowForwardAndNeverBack) {
  const auto off0 = hal::Clock::offset();
  const auto t0 = hal::Clock::now();
  hal::Clock::advance(1h);
  EXPECT_EQ(hal::Clock::offset() - off0, 1h);
  EXPECT_GE(hal::Clock::now() - t0, 1h);
  hal::Clock::advance(-30min);  // ignored
  hal::Clock::advance(0s);
  EXPECT_EQ(hal::Clock::offset() - off0, 1h);
  EXPECT_GE(hal::Clock::now() - t0, 1h);
}

TEST(Clock, NowIsMonotonicWhileAnotherThreadAdvances) {
  std::atomic<bool> stop{false};
  std::thread mover([&] {
    for (int i = 0; i < 20000 && !stop; ++i) hal::Clock::advance(1ms);
  });
  hal::Clock::time_point last = hal::Clock::now();
  int backwards = 0;
  for (int i = 0; i < 200000; ++i) {
    auto now = hal::Clock::now();
    if (now < last) ++backwards;
    last = now;
  }
  stop = true;
  mover.join();
  EXPECT_EQ(backwards, 0);
}

TEST(Clock, UnixMsIsTheWallClock) {
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  hal::Clock::advance(24h);  // the monotonic offset never touches the wall clock
  const auto ms = hal::unix_ms();
  const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GE(ms, before);
  EXPECT_LE(ms, after);
}

// The design's one subtle point: Asio's epoll reactor re-arms its timerfd only when a timer
// becomes the earliest, so a bare advance would leave a 60 s timer waiting 60 real seconds.
TEST(Clock, AdvanceFiresADueTimerOnARealIoContextWithoutTheTimePassing) {
  asio::io_context io(1);
  Timer t(io.get_executor());
  t.expires_after(60s);
  std::error_code got = asio::error::would_block;
  t.async_wait([&](const std::error_code& ec) { got = ec; });
  Timer guard(io.get_executor());  // a second, later timer stays pending
  guard.expires_after(120s);
  bool guard_fired = false;
  guard.async_wait([&](const std::error_code& ec) { guard_fired = !ec; });

  const auto real0 = Steady::now();
  io.run_for(50ms);  // nothing due yet: it does not fire on its own
  EXPECT_EQ(got, asio::error::would_block);

  test::advance(io, 59s);
  io.run_for(50ms);
  EXPECT_EQ(got, asio::error::would_block) << "59 s in, a 60 s timer is not due";

  test::advance(io, 1s);
  const auto fire0 = Steady::now();
  while (got == asio::error::would_block && Steady::now() - fire0 < 5s) io.run_one_for(100ms);
  EXPECT_FALSE(got) << got.message();
  EXPECT_FALSE(guard_fired);
  EXPECT_LT(Steady::now() - real0, 10s) << "the timer fired on virtual time, not after 60 real seconds";
  guard.cancel();
  io.run();
}

// Without the wake, the same advance leaves the timer waiting (what test::advance exists for).
TEST(Clock, AnAdvanceAloneDoesNotWakeAsio) {
  asio::io_context io(1);
  Timer t(io.get_executor());
  t.expires_after(60s);
  bool fired = false;
  t.async_wait([&](const std::error_code& ec) { fired = !ec; });
  io.run_for(20ms);
  hal::Clock::advance(61s);
  io.run_for(100ms);
  EXPECT_FALSE(fired) << "if Asio ever looks at its timers on its own, test::advance's wake can go";
  test::advance(io, 0s);  // the wake alone (the clock is already past the expiry)
  io.run_for(2s);
  EXPECT_TRUE(fired);
}

Task<void> sleep_then(Clock::duration d, std::error_code* out, bool* done) {
  *out = co_await sleep_for(d);
  *done = true;
}

TEST(Clock, ATaskSleepsAnHourOnVirtualTime) {
  asio::io_context io(1);
  TaskPool<2> tasks("t_clock_sleep", io);
  std::error_code ec = errc::cancelled;
  bool done = false;
  ASSERT_TRUE(tasks.spawn("sleeper", [&] { return sleep_then(1h, &ec, &done); }));
  const auto real0 = Steady::now();
  const auto passed = test::run_virtual(io, 1min);
  EXPECT_TRUE(done);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_GE(passed, 1h);
  EXPECT_LT(passed, 1h + 2min);
  EXPECT_LT(Steady::now() - real0, 10s);
  EXPECT_EQ(tasks.live(), 0u);
}

TEST(Clock, BreakerRecoversAfterItsRecoveryOnTheClock) {
  Breaker b(BreakerOptions{.failures = 2, .recovery = 30s, .probes = 1}, "t_clock");
  b.on_failure(Clock::now());
  b.on_failure(Clock::now());
  ASSERT_EQ(b.state(), Breaker::State::open);
  EXPECT_FALSE(b.allow(Clock::now()));
  hal::Clock::advance(29s);
  EXPECT_FALSE(b.allow(Clock::now()));
  hal::Clock::advance(1s);
  EXPECT_TRUE(b.allow(Clock::now()));
  EXPECT_EQ(b.state(), Breaker::State::half_open);
  b.on_success(Clock::now());
  EXPECT_EQ(b.state(), Breaker::State::closed);
}

}  // namespace
}  // namespace bh
