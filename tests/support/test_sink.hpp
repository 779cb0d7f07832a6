// TestSink: a real HTTP/1.1 server on loopback standing in for a delivery sink. It records every
// POST (headers and NDJSON envelopes), answers per a script (status, delay, drop the connection),
// and tracks concurrent connections. Thread per connection, blocking sockets with poll deadlines;
// stop() (or the destructor) closes everything and joins.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bh::test {

struct SinkRequest {
  std::string method, target, content_type;
  std::uint64_t first_seq = 0, last_seq = 0;  // Bulkhead-First-Seq / Bulkhead-Last-Seq
  std::vector<std::string> lines;             // body lines
  std::vector<std::pair<std::string, std::string>> headers;  // every field as sent (name as written)
  std::string body;                                          // the whole body
  std::chrono::steady_clock::time_point at;                  // when its head was complete
  // The value of the first field named `name` (case-insensitive); "" if absent.
  std::string header(const std::string& name) const;
};

struct SinkAnswer {
  int status = 200;
  std::chrono::milliseconds delay{0};  // before answering (a slow sink; stop() cuts it short)
  bool drop = false;                   // close without answering
  bool keep_alive = true;
  std::string headers;  // extra "Name: value\r\n" lines in the answer
  std::string body;     // the answer's body; empty = "ok"
};

class TestSink {
 public:
  // `script(n, request)` decides the answer to the n-th request (0-based); default: 200.
  // port 0 picks a free port.
  explicit TestSink(std::function<SinkAnswer(std::size_t, const SinkRequest&)> script = {}, std::uint16_t port = 0);
  ~TestSink();
  void stop();
  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/ingest"; }

  // Seqs of every envelope in requests answered 2xx, in arrival order.
  std::vector<std::uint64_t> delivered_seqs() const;
  std::vector<SinkRequest> requests() const;
  std::size_t request_count() const;
  int max_concurrent() const { return max_conc_.load(); }
  std::size_t connections() const { return conns_total_.load(); }
  // Waits until at least n events were delivered (2xx). False on timeout.
  bool wait_delivered(std::size_t n, std::chrono::milliseconds timeout);

 private:
  void accept_loop();
  void serve(int fd);

  std::function<SinkAnswer(std::size_t, const SinkRequest&)> script_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> conc_{0}, max_conc_{0};
  std::atomic<std::size_t> conns_total_{0};
  mutable std::mutex mu_;
  std::condition_variable stopping_;  // wakes answers held back by a delay
  std::vector<SinkRequest> requests_;
  std::vector<std::uint64_t> delivered_;
  std::vector<int> conn_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// The seq of an envelope line ({"seq":N,...}), 0 if absent.
std::uint64_t envelope_seq(const std::string& line);

}  // namespace bh::test
