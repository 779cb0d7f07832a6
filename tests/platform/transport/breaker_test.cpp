// Breaker state machine with an injected clock; backoff bounds and growth.
#include "platform/transport/breaker.hpp"

#include <gtest/gtest.h>

namespace bh {
namespace {
using namespace std::chrono_literals;
using S = Breaker::State;

TEST(Breaker, OpensAfterConsecutiveFailuresAndFailsFast) {
  Breaker::Clock::time_point t{};
  Breaker b({3, 10s, 1}, "t");
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.allow(t));
    b.on_failure(t);
    EXPECT_EQ(b.state(), S::closed);  // N-1
  }
  ASSERT_TRUE(b.allow(t));
  b.on_failure(t);  // N
  EXPECT_EQ(b.state(), S::open);
  EXPECT_FALSE(b.allow(t + 9s));  // fails fast until recovery
  EXPECT_EQ(b.rejected(), 1u);
  EXPECT_EQ(b.retry_at(), t + 10s);
}

TEST(Breaker, SuccessResetsTheCount) {
  Breaker::Clock::time_point t{};
  Breaker b({3, 10s, 1}, "t");
  b.allow(t);
  b.on_failure(t);
  b.allow(t);
  b.on_failure(t);
  b.allow(t);
  b.on_success(t);
  EXPECT_EQ(b.consecutive_failures(), 0u);
  b.allow(t);
  b.on_failure(t);
  EXPECT_EQ(b.state(), S::closed);
}

TEST(Breaker, HalfOpenAdmitsProbesThenClosesOrReopens) {
  Breaker::Clock::time_point t{};
  Breaker b({1, 10s, 2}, "t");
  b.allow(t);
  b.on_failure(t);
  ASSERT_EQ(b.state(), S::open);
  auto t1 = t + 10s;
  EXPECT_TRUE(b.allow(t1));
  EXPECT_EQ(b.state(), S::half_open);
  EXPECT_TRUE(b.allow(t1));
  EXPECT_FALSE(b.allow(t1)) << "only `probes` attempts in flight while half-open";
  b.on_failure(t1);
  EXPECT_EQ(b.state(), S::open);
  EXPECT_EQ(b.last_transition(), t1);
  auto t2 = t1 + 10s;
  EXPECT_TRUE(b.allow(t2));
  b.on_success(t2);
  EXPECT_EQ(b.state(), S::closed);
  EXPECT_EQ(b.transitions(), 5u);  // open, half_open, open, half_open, closed
}

TEST(Backoff, FullJitterUnderAGrowingCappedCeiling) {
  Backoff b(100ms, 1000ms, 42);
  std::int64_t expect_ceiling[] = {100, 200, 400, 800, 1000, 1000};
  for (auto c : expect_ceiling) {
    EXPECT_EQ(b.ceiling().count(), c);
    auto d = b.next();
    EXPECT_GE(d.count(), 0);
    EXPECT_LE(d.count(), c);
  }
  b.reset();
  EXPECT_EQ(b.ceiling().count(), 100);
  // Jitter actually varies.
  Backoff j(100ms, 100000ms, 7);
  for (int i = 0; i < 10; ++i) j.next();
  std::int64_t a = j.next().count(), c = j.next().count();
  EXPECT_NE(a, c);
}

}  // namespace
}  // namespace bh
