// Breaker transitions (each logged once) and jittered backoff.
#include "platform/transport/breaker.hpp"

#include "platform/util/log.hpp"

namespace bh {

std::string_view breaker_state_name(Breaker::State s) noexcept {
  switch (s) {
    case Breaker::State::closed: return "closed";
    case Breaker::State::open: return "open";
    case Breaker::State::half_open: return "half_open";
  }
  return "?";
}

void Breaker::go(State s, Clock::time_point now) noexcept {
  if (s == state_) return;
  log::warn("breaker {}: {} -> {} after {} consecutive failure(s)", name_, breaker_state_name(state_),
            breaker_state_name(s), consecutive_);
  state_ = s;
  since_ = now;
  in_flight_probes_ = 0;
  ++transitions_;
}

bool Breaker::allow(Clock::time_point now) noexcept {
  if (state_ == State::open) {
    if (now < retry_at()) {
      ++rejected_;
      return false;
    }
    go(State::half_open, now);
  }
  if (state_ == State::half_open) {
    if (in_flight_probes_ >= opt_.probes) {
      ++rejected_;
      return false;
    }
    ++in_flight_probes_;
  }
  return true;
}

void Breaker::on_success(Clock::time_point now) noexcept {
  consecutive_ = 0;
  if (state_ == State::half_open) go(State::closed, now);
}

void Breaker::on_failure(Clock::time_point now) noexcept {
  ++consecutive_;
  if (state_ == State::half_open || (state_ == State::closed && consecutive_ >= opt_.failures)) go(State::open, now);
}

std::uint64_t Backoff::rand() noexcept {
  // xorshift64*: cheap, good enough for jitter, no allocation.
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545F4914F6CDD1Dull;
}

Backoff::Duration Backoff::ceiling() const noexcept {
  std::uint64_t c = static_cast<std::uint64_t>(base_.count());
  for (std::uint32_t i = 0; i < attempt_ && c < static_cast<std::uint64_t>(cap_.count()); ++i) c *= 2;
  return Duration(std::min<std::uint64_t>(c, static_cast<std::uint64_t>(cap_.count())));
}

Backoff::Duration Backoff::next() noexcept {
  Duration c = ceiling();
  ++attempt_;
  return Duration(static_cast<std::int64_t>(rand() % (static_cast<std::uint64_t>(c.count()) + 1)));
}

}  // namespace bh
