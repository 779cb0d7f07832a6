// BenchSink: a fast loopback HTTP/1.1 sink for the pipeline benchmark. One acceptor thread and one
// thread per connection (bulkhead opens at most a handful), blocking sockets, keep-alive, every
// POST answered `200` with an empty body. For each NDJSON envelope it records the event's seq and
// the producer tag carried in the event body, and checks delivery order as it goes: a seq below the
// highest seen is fine only as a duplicate (a resent batch); a lower seq never seen before is an
// ordering violation. Not part of the runtime: allocates freely.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bh::bench {

// The producer tag of an event: (connection + 1) << 48 | line number on that connection.
inline std::uint64_t make_tag(std::uint32_t conn, std::uint64_t line) noexcept {
  return (std::uint64_t{conn} + 1) << 48 | (line & ((std::uint64_t{1} << 48) - 1));
}

struct SinkTotals {
  std::uint64_t requests = 0;
  std::uint64_t envelopes = 0;      // every envelope line, duplicates included
  std::uint64_t distinct = 0;       // distinct seqs
  std::uint64_t duplicates = 0;     // envelopes of a seq already received
  std::uint64_t out_of_order = 0;   // a new seq below the highest already received
  std::uint64_t bad_lines = 0;      // envelope lines that did not parse
  std::uint64_t bad_requests = 0;   // not a POST with Content-Length, or a bad Content-Type
  std::uint64_t tag_mismatch = 0;   // a duplicate whose body differs from the first copy
  std::uint64_t max_seq = 0;
  std::uint64_t connections = 0;
};

class BenchSink {
 public:
  BenchSink() = default;
  ~BenchSink() { stop(); }
  BenchSink(const BenchSink&) = delete;
  BenchSink& operator=(const BenchSink&) = delete;

  // Listens on 127.0.0.1:<free port>. False (and `err`) on failure.
  bool start(std::string& err);
  void stop();
  std::uint16_t port() const noexcept { return port_; }
  // Distinct seqs received so far (cheap; for sampling while the load runs).
  std::uint64_t distinct() const noexcept { return distinct_.load(std::memory_order_relaxed); }
  SinkTotals totals() const;
  // Tag of each seq received (index = seq; 0 = never received). Call after stop() or while idle.
  std::vector<std::uint64_t> tags() const;

 private:
  void accept_loop();
  void serve(int fd);
  // Records the envelopes of one request body (counting lines that do not parse).
  void record_body(const char* p, std::size_t n);

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> distinct_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;  // guards everything below
  std::vector<std::thread> threads_;
  SinkTotals totals_{};
  std::vector<std::uint64_t> tags_;
};

}  // namespace bh::bench
