// RateLimit: a sink's request budget, N requests per interval, as a token bucket of N tokens that
// refills one token every interval/N (the GCRA form: one "theoretical arrival time" instead of a
// token count, so it is exact in integer clock ticks). A full bucket lets a burst of N through at
// once; after that requests are paced one per interval/N. Time is passed in (the monotonic
// hal::Clock), so tests drive it with the fake clock. It does not wait or count: the sink asks
// delay(), waits that long, then take()s. Off (every delay is zero) when N is 0.
#pragma once
#include <cstdint>

#include "hal/clock.hpp"

namespace bh {

class RateLimit {
 public:
  using Clock = hal::Clock;

  RateLimit() noexcept = default;
  // `n` requests per `interval`; n = 0 or interval <= 0 turns the limit off.
  RateLimit(std::uint32_t n, Clock::duration interval) noexcept;

  bool enabled() const noexcept { return n_ > 0; }
  // How long until a request may go at `now` (zero: it may go now).
  Clock::duration delay(Clock::time_point now) const noexcept;
  // Spends a token for a request sent at `now` (call when delay(now) is zero).
  void take(Clock::time_point now) noexcept;

 private:
  std::uint32_t n_ = 0;
  Clock::duration step_{};   // interval / n: one token's refill time
  Clock::duration burst_{};  // interval - step: how far ahead of now the arrival time may run
  Clock::time_point tat_{};  // theoretical arrival time of the next request
};

}  // namespace bh
