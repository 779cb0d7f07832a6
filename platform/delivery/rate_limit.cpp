// RateLimit: GCRA arithmetic on hal::Clock ticks.
#include "platform/delivery/rate_limit.hpp"

#include <algorithm>

namespace bh {

RateLimit::RateLimit(std::uint32_t n, Clock::duration interval) noexcept {
  if (n == 0 || interval <= Clock::duration::zero()) return;
  n_ = n;
  step_ = std::max(Clock::duration{1}, interval / n);
  burst_ = interval - step_;
}

RateLimit::Clock::duration RateLimit::delay(Clock::time_point now) const noexcept {
  if (!enabled()) return Clock::duration::zero();
  const Clock::time_point allowed_at = tat_ - burst_;
  return allowed_at > now ? allowed_at - now : Clock::duration::zero();
}

void RateLimit::take(Clock::time_point now) noexcept {
  if (!enabled()) return;
  tat_ = std::max(tat_, now) + step_;
}

}  // namespace bh
