// StallProbe: sees when a CPU of this machine stops running, so the bench can tell bulkhead's latency
// from the host's (issue 16).
//
// Why: this development VM is a guest whose host caps its CPU in 100 ms periods, and the host's
// disk work for the guest counts against the cap. Under write load the guest's vCPUs are all
// stopped for 3-30 ms once every 100 ms (a busy loop beside `dd oflag=direct` shows it, and
// /proc/stat's steal column grows). Every ack in flight then waits for the host, whatever the
// runtime does. The probe measures those stops so that the report can show them beside p99.
//
// How: one thread per CPU, pinned to it, at SCHED_FIFO (so the guest's own scheduler never delays
// it), sleeps to an absolute deadline every 1 ms. A wake-up later than `threshold` means that CPU
// did not run for that long: a stall, recorded as [due, woke). The host may stop one vCPU and not
// the other, and bulkhead's reactor may be on either, so the report counts a stall of any CPU.
// Without the privilege for SCHED_FIFO the threads run at normal priority and say so (their
// stalls then include time waiting for the guest's CPUs). Bench only: allocates.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace bh::bench {

class StallProbe {
 public:
  struct Stall {
    std::uint64_t begin_ns, end_ns;  // CLOCK_MONOTONIC, the load generator's clock
  };
  explicit StallProbe(std::uint64_t threshold_ns = 1'000'000);
  ~StallProbe();
  StallProbe(const StallProbe&) = delete;
  StallProbe& operator=(const StallProbe&) = delete;

  bool realtime() const { return realtime_; }
  // The stalls of any CPU that overlap [t0, t1), merged where they overlap, in time order.
  std::vector<Stall> between(std::uint64_t t0, std::uint64_t t1) const;

 private:
  void run(unsigned cpu);

  std::uint64_t threshold_ns_;
  std::atomic<bool> stop_{false};
  std::atomic<unsigned> started_{0};
  std::atomic<bool> realtime_{true};
  mutable std::mutex m_;
  std::vector<Stall> stalls_;
  std::vector<std::thread> threads_;
};

// Of the acks sent at sent_ns[i] and answered lat_ns[i] later, the latencies of those whose life
// overlapped none of `stalls` (sorted by time, as between() returns them) nor the backlog behind
// one: the stall's own length again after it. A stall of d ms leaves d ms of arrivals queued, and
// at half load (a server twice as fast as the arrivals) that queue takes about d ms to clear.
std::vector<std::uint64_t> outside_stalls(const std::vector<std::uint64_t>& sent_ns,
                                          const std::vector<std::uint64_t>& lat_ns,
                                          const std::vector<StallProbe::Stall>& stalls);

}  // namespace bh::bench
