// Circuit breaker and backoff for one connector (a sink or a source).
// Breaker: CLOSED -> OPEN after `failures` consecutive failures; OPEN fails fast (no network)
// until `recovery` has passed; then HALF_OPEN lets `probes` attempts through: a success closes
// it, a failure reopens it. Time is passed in (monotonic), so tests drive it with a fake clock.
// Backoff: exponential with full jitter, delay = uniform(0, min(cap, base * 2^attempt)).
// Neither does I/O or allocates. Reactor thread only.
#pragma once
#include <chrono>
#include <cstdint>
#include <string_view>

#include "hal/clock.hpp"

namespace bh {

struct BreakerOptions {
  std::uint32_t failures = 5;
  hal::Clock::duration recovery = std::chrono::seconds(30);
  std::uint32_t probes = 1;
};

class Breaker {
 public:
  using Clock = hal::Clock;
  using Options = BreakerOptions;
  enum class State : std::uint8_t { closed, open, half_open };

  explicit Breaker(Options o = {}, std::string_view name = "") noexcept : opt_(o), name_(name) {}

  // May an attempt start now? In OPEN, false until the recovery time; then the breaker turns
  // HALF_OPEN and admits up to `probes` attempts in flight. Every true must be followed by
  // exactly one on_success or on_failure.
  bool allow(Clock::time_point now) noexcept;
  void on_success(Clock::time_point now) noexcept;
  void on_failure(Clock::time_point now) noexcept;

  State state() const noexcept { return state_; }
  std::uint32_t consecutive_failures() const noexcept { return consecutive_; }
  Clock::time_point last_transition() const noexcept { return since_; }
  // When an OPEN breaker will half-open.
  Clock::time_point retry_at() const noexcept { return since_ + opt_.recovery; }
  std::uint64_t transitions() const noexcept { return transitions_; }
  std::uint64_t rejected() const noexcept { return rejected_; }  // attempts refused while open

 private:
  void go(State s, Clock::time_point now) noexcept;

  Options opt_;
  std::string_view name_;
  State state_ = State::closed;
  std::uint32_t consecutive_ = 0;
  std::uint32_t in_flight_probes_ = 0;
  Clock::time_point since_{};
  std::uint64_t transitions_ = 0;
  std::uint64_t rejected_ = 0;
};

std::string_view breaker_state_name(Breaker::State s) noexcept;

class Backoff {
 public:
  using Duration = std::chrono::milliseconds;
  Backoff(Duration base, Duration cap, std::uint64_t seed = 0x9E3779B97F4A7C15ull) noexcept
      : base_(base), cap_(cap < base ? base : cap), rng_(seed ? seed : 1) {}
  // The next delay (and counts the attempt).
  Duration next() noexcept;
  // The ceiling next() draws under, without advancing.
  Duration ceiling() const noexcept;
  void reset() noexcept { attempt_ = 0; }
  std::uint32_t attempt() const noexcept { return attempt_; }

 private:
  std::uint64_t rand() noexcept;
  Duration base_;
  Duration cap_;
  std::uint32_t attempt_ = 0;
  std::uint64_t rng_;
};

}  // namespace bh
