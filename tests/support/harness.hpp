// Integration harness: runs the real `bulkhead` binary as a child process on a generated config in
// a scratch directory, and talks to it over real sockets with deadlines. Every wait here is
// bounded: a test that hangs is a failed test, not a stuck CI run.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/census.hpp"

namespace bh::test {

// Running under a slow wrapper (`make test-valgrind`): BH_TEST_WRAPPER="valgrind --opt ..." is put
// before every `bulkhead` the harness starts (split at spaces, no quoting), and BH_TEST_SLOW=N
// (default 1) multiplies every timeout the harness waits with. Tests may scale their own waits
// with slow().
int slow_factor();
std::chrono::milliseconds slow(std::chrono::milliseconds t);

// A TCP port that was free a moment ago (bind to port 0, read it, close). Another process may
// take it before it is used: Bulkhead::start() retries on such a bind failure.
std::uint16_t free_port();

// A child process. The destructor kills it (SIGKILL) if it is still running.
class Child {
 public:
  // argv[0] is the program path. stdout and stderr go to `log_path` (appended).
  Child(const std::vector<std::string>& argv, const std::string& log_path, const std::string& cwd = "");
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  int pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits for the exit. Returns the exit code (128+signal if killed), or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  int pid_ = -1;
  std::optional<int> status_;
};

// A blocking line-oriented TCP client with deadlines.
class LineClient {
 public:
  LineClient() = default;
  ~LineClient();
  LineClient(LineClient&& o) noexcept;
  LineClient(const LineClient&) = delete;
  LineClient& operator=(const LineClient&) = delete;
  // Connects to 127.0.0.1:port. Returns false on failure.
  bool connect(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  bool connect_unix(const std::string& path);
  bool send(const std::string& data);
  // One line without its '\n'; nullopt on timeout or EOF.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  std::vector<std::string> read_lines(std::size_t n, std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  // True if the peer closed (EOF or reset) within the timeout, with no further data.
  bool wait_closed(std::chrono::milliseconds timeout);
  void shutdown_write();
  void close();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string buf_;
};

// Sends n events `{"<tag>":i}` in one write on a fresh connection and returns the acked seqs,
// expecting every reply to be `ok <seq>` within `timeout` (scaled by slow()).
std::vector<std::uint64_t> send_events(std::uint16_t port, int n, const std::string& tag = "e",
                                       std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));

// A `bulkhead run` in a scratch directory with its config written from `extra_toml` on top of
// test defaults (ports picked free, store and audit under the scratch dir).
class Bulkhead {
 public:
  explicit Bulkhead(const std::string& extra_toml = "", bool start_now = true);
  ~Bulkhead();
  // Starts the process and waits until it logged that ingest listens and the ingest port
  // accepts. A start that failed because a picked port was taken meanwhile ("Address already in
  // use": a port race with another process) is retried on fresh ports, up to kStartAttempts
  // times; ingest_port() and admin_port() are then the new ones. Returns false on failure.
  bool start();
  static constexpr int kStartAttempts = 3;
  // One attempt, no retry (for tests that make the start fail on purpose).
  bool start_once();
  // SIGTERM, then the exit code (nullopt on a hang past the timeout).
  std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(15000));
  void kill9();
  std::uint16_t ingest_port() const { return ingest_port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string config_path() const { return dir_.file("bulkhead.toml"); }
  std::string db_path() const { return dir_.file("var/bulkhead.db"); }
  std::string log() const;  // the process's stdout+stderr so far
  Child* child() { return child_.get(); }

 private:
  void pick_ports();
  void write_config();

  TempDir dir_;
  std::string extra_toml_;
  std::uint16_t ingest_port_ = 0;
  std::uint16_t admin_port_ = 0;
  std::unique_ptr<Child> child_;
};

// SIGTERM and the checks every integration test ends with (GoogleTest failures): the process
// exits 0, every pool back at zero, and no heap allocation after seal.
void expect_clean_stop(Bulkhead& b);

// Runs `bulkhead <args>` to completion; returns {exit code, stdout+stderr}.
std::pair<int, std::string> run_bulkhead(const std::vector<std::string>& args,
                                         std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));

}  // namespace bh::test
