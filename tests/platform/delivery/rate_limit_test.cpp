// RateLimit on virtual time: a burst of N, then one request per interval/N; off when N is 0.
#include "platform/delivery/rate_limit.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace bh {
namespace {
using namespace std::chrono_literals;
using T = hal::Clock::time_point;

TEST(RateLimit, OffLetsEverythingThrough) {
  RateLimit r;
  EXPECT_FALSE(r.enabled());
  T t{1h};
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(r.delay(t), hal::Clock::duration::zero());
    r.take(t);
  }
  EXPECT_FALSE(RateLimit(0, 1s).enabled());
  EXPECT_FALSE(RateLimit(5, 0s).enabled());
}

TEST(RateLimit, BurstOfNThenPaced) {
  RateLimit r(3, 1s);  // 3 per second: a token every 333.33 ms
  T t{10h};
  for (int i = 0; i < 3; ++i) {  // N-1, N: at once
    ASSERT_EQ(r.delay(t), hal::Clock::duration::zero()) << i;
    r.take(t);
  }
  auto d = r.delay(t);  // N+1 waits one token's refill
  EXPECT_GT(d, 333ms);
  EXPECT_LE(d, 334ms);
  EXPECT_GT(r.delay(t + 333ms), hal::Clock::duration::zero()) << "not a moment early";
  EXPECT_EQ(r.delay(t + d), hal::Clock::duration::zero());
  r.take(t + d);
  EXPECT_GT(r.delay(t + d), 333ms);
}

TEST(RateLimit, AGreedySenderGetsTheBurstThenExactlyTheRate) {
  RateLimit r(5, 60s);  // a token every 12 s
  T t0{24h};
  T t = t0;
  std::vector<T> sent;
  for (int i = 0; i < 40; ++i) {  // a sender that goes as soon as it may
    t += r.delay(t);
    r.take(t);
    sent.push_back(t);
  }
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(sent[i], t0) << i;
  for (std::size_t i = 5; i < sent.size(); ++i) EXPECT_EQ(sent[i] - t0, static_cast<int>(i - 4) * 12s) << i;
  // Over any stretch of k intervals at most (k + 1) * N requests: the long-run rate is N per interval.
  for (std::size_t i = 0; i + 10 < sent.size(); ++i) EXPECT_GE(sent[i + 10] - sent[i], 60s) << i;
}

TEST(RateLimit, IdleTimeRefillsUpToTheBurstOnly) {
  RateLimit r(2, 10s);
  T t{1h};
  r.take(t);
  r.take(t);
  EXPECT_GT(r.delay(t), hal::Clock::duration::zero());
  t += 1h;  // a long idle spell refills 2 tokens, not 720
  r.take(t);
  r.take(t);
  EXPECT_EQ(r.delay(t), 5s);
}

}  // namespace
}  // namespace bh
