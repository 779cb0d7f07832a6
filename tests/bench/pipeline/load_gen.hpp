// LoadGen: the producer side of the pipeline benchmark. N TCP connections to bulkhead's ingest,
// driven from ONE thread with ppoll (a thread per connection would only compete with bulkhead for
// the two cores). Each connection keeps up to `window` lines in flight (sent, not yet answered);
// lines are fixed-size JSON objects carrying the connection and line number, so the sink can
// tell which producer line each delivered envelope is. Every reply is matched to its line (replies
// come in order) and its latency is taken from the moment the send() that completed the line
// started; with a rate limit, also from the line's scheduled time (no coordinated omission).
// A connection answered `err busy` (outbox at max_pending) holds off new lines for 10 ms, as a
// real producer would, instead of spinning on refusals.
// Not part of the runtime: allocates freely.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace bh::bench {

struct PhaseOptions {
  double seconds = 20;        // measured window
  double warmup_seconds = 1;  // before the window: load runs, nothing is counted
  double rate = 0;            // events/s over all connections; 0 = as fast as acks allow
  double drain_seconds = 30;  // after the window: wait this long at most for in-flight replies
  std::uint64_t max_events = 0;  // the window also ends once this many lines were acked in it (0: no cap)
};

struct PhaseResult {
  double window_s = 0;
  std::uint64_t sent = 0;          // lines sent in the window
  std::uint64_t acked = 0;         // `ok` replies received in the window
  std::uint64_t errors = 0;        // `err` replies received in the window
  std::uint64_t err_busy = 0, err_storage = 0, err_other = 0;
  std::uint64_t sink_in_window = 0;  // distinct seqs the sink got during the window
  std::vector<std::uint64_t> lat_ns;        // per acked line in the window: send -> reply
  std::vector<std::uint64_t> sent_ns;       // its send time (CLOCK_MONOTONIC), same order
  std::vector<std::uint64_t> lat_sched_ns;  // rate-limited only: scheduled time -> reply
  std::uint64_t behind_schedule = 0;        // rate-limited: lines sent > 1 ms after their slot
  bool drained = false;            // every line sent got its reply
  double drain_s = 0;
  std::string failure;             // a broken invariant (connection lost, reply out of order, ...)
};

class LoadGen {
 public:
  static constexpr std::size_t kEventBytes = 200;  // JSON object, without the '\n'
  static constexpr std::size_t kLineBytes = kEventBytes + 1;

  LoadGen(std::uint32_t connections, std::uint32_t window);
  ~LoadGen();
  LoadGen(const LoadGen&) = delete;
  LoadGen& operator=(const LoadGen&) = delete;

  bool connect(std::uint16_t port, std::string& err);
  // One phase: warm-up, measured window, drain. `sink_distinct` samples the sink's counter.
  PhaseResult run(const PhaseOptions& o, const std::function<std::uint64_t()>& sink_distinct);
  // Every acked seq with its producer tag (index = seq; 0 = not acked by this generator).
  const std::vector<std::uint64_t>& acked_tags() const { return acked_tags_; }
  std::uint64_t acked_total() const { return acked_total_; }
  // The event text of (conn, line), for a look at the payload.
  static std::string event_text(std::uint32_t conn, std::uint64_t line);

 private:
  struct Conn;
  std::uint32_t n_;
  std::uint32_t window_;
  std::vector<Conn*> conns_;
  std::vector<std::uint64_t> acked_tags_;
  std::uint64_t acked_total_ = 0;
};

}  // namespace bh::bench
