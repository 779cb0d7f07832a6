#include "tests/bench/pipeline/stall_probe.hpp"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cerrno>

namespace bh::bench {
namespace {

constexpr std::uint64_t kPeriodNs = 1'000'000;

std::uint64_t now_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

StallProbe::StallProbe(std::uint64_t threshold_ns) : threshold_ns_(threshold_ns) {
  const unsigned n = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned cpu = 0; cpu < n; ++cpu) threads_.emplace_back([this, cpu] { run(cpu); });
  while (started_.load() < n) std::this_thread::yield();
}

StallProbe::~StallProbe() {
  stop_ = true;
  for (auto& t : threads_) t.join();
}

void StallProbe::run(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_param sp{};
  sp.sched_priority = 1;
  if (::pthread_setaffinity_np(::pthread_self(), sizeof set, &set) != 0 ||
      ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &sp) != 0)
    realtime_ = false;
  ++started_;
  std::uint64_t due = now_ns() + kPeriodNs;
  while (!stop_.load(std::memory_order_relaxed)) {
    const timespec ts{static_cast<time_t>(due / 1'000'000'000u), static_cast<long>(due % 1'000'000'000u)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    const std::uint64_t woke = now_ns();
    if (woke - due >= threshold_ns_) {
      std::lock_guard lk(m_);
      stalls_.push_back({due, woke});
    }
    due = std::max(due + kPeriodNs, woke + kPeriodNs / 2);
  }
}

std::vector<StallProbe::Stall> StallProbe::between(std::uint64_t t0, std::uint64_t t1) const {
  std::vector<Stall> in;
  {
    std::lock_guard lk(m_);
    for (const Stall& s : stalls_)
      if (s.end_ns > t0 && s.begin_ns < t1) in.push_back(s);
  }
  std::sort(in.begin(), in.end(), [](const Stall& a, const Stall& b) { return a.begin_ns < b.begin_ns; });
  std::vector<Stall> out;
  for (const Stall& s : in) {
    if (!out.empty() && s.begin_ns <= out.back().end_ns) out.back().end_ns = std::max(out.back().end_ns, s.end_ns);
    else out.push_back(s);
  }
  return out;
}

std::vector<std::uint64_t> outside_stalls(const std::vector<std::uint64_t>& sent_ns,
                                          const std::vector<std::uint64_t>& lat_ns,
                                          const std::vector<StallProbe::Stall>& stalls) {
  // Each stall with its backlog, merged where they overlap: disjoint and in order.
  std::vector<StallProbe::Stall> shadows;
  for (const StallProbe::Stall& s : stalls) {
    const StallProbe::Stall w{s.begin_ns, s.end_ns + (s.end_ns - s.begin_ns)};
    if (!shadows.empty() && w.begin_ns <= shadows.back().end_ns)
      shadows.back().end_ns = std::max(shadows.back().end_ns, w.end_ns);
    else
      shadows.push_back(w);
  }
  std::vector<std::uint64_t> out;
  out.reserve(lat_ns.size());
  for (std::size_t i = 0; i < lat_ns.size() && i < sent_ns.size(); ++i) {
    const std::uint64_t a = sent_ns[i], b = a + lat_ns[i];
    // The first shadow ending after the send; the ack met it if it began before the reply.
    auto it = std::upper_bound(shadows.begin(), shadows.end(), a,
                               [](std::uint64_t t, const StallProbe::Stall& s) { return t < s.end_ns; });
    if (it == shadows.end() || it->begin_ns >= b) out.push_back(lat_ns[i]);
  }
  return out;
}

}  // namespace bh::bench
