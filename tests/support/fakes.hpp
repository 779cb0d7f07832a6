// The fake services of tests/support/fakes/ (Etherscan, Telegram, Discord, Pusher, ICS) as a test
// sees them: one process per fake in its own scratch directory, scripted through its control file,
// its requests read back from its JSON-lines log. What each fake checks and answers is written at
// the top of its script; the conventions they share are in tests/support/fakes/fakelib.py.
// Also what a jobs test reads from the bulkhead it runs beyond tests/support/source_peers.hpp:
// whether every stored event is delivered.
// Not a mock: a fake behaves like the service and knows nothing of bulkhead.
#pragma once
#include <simdjson.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/support/census.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/scoped_env.hpp"
#include "tests/support/source_peers.hpp"

namespace bh::test {

// One JSON document (a line of a fake's log, a request body), parsed.
class Json {
 public:
  explicit Json(std::string_view text);
  bool ok() const { return ok_; }
  // The value at a JSON Pointer ("/text", "/query/apikey", "" = the document): a string's
  // characters; any other value as JSON text; "" when absent.
  std::string str(std::string_view pointer) const;
  bool has(std::string_view pointer) const;
  // A number (or a string holding one) at the pointer; NaN when absent.
  double num(std::string_view pointer) const;
  bool is_true(std::string_view pointer) const;

 private:
  std::unique_ptr<simdjson::dom::parser> parser_;
  simdjson::dom::element root_;
  bool ok_ = false;
};

// A fake service process: `tests/support/fakes/<name>_fake.py DIR`, started with `control` (JSON)
// as its script; waits until it publishes its port. The destructor stops it (SIGTERM, then SIGKILL).
class Fake {
 public:
  Fake(const std::string& name, const std::string& control);
  ~Fake();
  Fake(const Fake&) = delete;
  Fake& operator=(const Fake&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& scheme = "http") const { return scheme + "://127.0.0.1:" + std::to_string(port_); }
  // Replaces the script (atomically: the fake never reads half a file).
  void control(const std::string& json);
  // Creates DIR/name (a fake's script may wait for it: the pusher fake's {"until": name}).
  void touch(const std::string& name);
  // Every entry of requests.log so far, in order.
  std::vector<Json> log() const;
  std::string log_text() const;
  // Its stdout and stderr (a Python traceback when it failed).
  std::string output() const;
  // SIGTERM and wait: true when it exited 0.
  bool stop();

 private:
  TempDir dir_;
  std::unique_ptr<Child> child_;
  std::uint16_t port_ = 0;
};

// Several ScopedEnv (tests/support/scoped_env.hpp) at once: the variables a job's example reads.
class ScopedEnvList {
 public:
  explicit ScopedEnvList(const std::vector<std::pair<std::string, std::string>>& vars) {
    for (const auto& [k, v] : vars) vars_.push_back(std::make_unique<ScopedEnv>(k, v.c_str()));
  }

 private:
  std::vector<std::unique_ptr<ScopedEnv>> vars_;
};

// No delivery in flight: every stored event is delivered (the store's sink cursors, as committed,
// reach its last seq) and at least `at_least` events are stored.
bool delivered_all(const Bulkhead& b, std::int64_t at_least);
// How long to wait for delivered_all: the store writes sink cursors at most every 5 s while
// delivering and at housekeeping (every 10 s) once delivery stopped (Store::kCursorPersist).
inline constexpr std::chrono::seconds kCursorsWritten{30};
// The number of Unicode code points in UTF-8 text.
std::size_t code_points(std::string_view utf8);

}  // namespace bh::test
