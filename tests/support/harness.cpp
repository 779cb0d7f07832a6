// Integration harness implementation: fork/exec, poll-based reads, config generation.
#include "tests/support/harness.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "tests/support/poll.hpp"

namespace bh::test {
namespace {
using Clock = std::chrono::steady_clock;
int remaining_ms(Clock::time_point deadline) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return d < 0 ? 0 : static_cast<int>(d);
}

// BH_TEST_WRAPPER's words, read once.
const std::vector<std::string>& test_wrapper() {
  static const std::vector<std::string> words = [] {
    std::vector<std::string> w;
    const char* env = std::getenv("BH_TEST_WRAPPER");
    std::istringstream in(env ? env : "");
    for (std::string word; in >> word;) w.push_back(word);
    return w;
  }();
  return words;
}
}  // namespace

int slow_factor() {
  static const int f = [] {
    const char* env = std::getenv("BH_TEST_SLOW");
    int v = env ? std::atoi(env) : 1;
    return v < 1 ? 1 : v;
  }();
  return f;
}

std::chrono::milliseconds slow(std::chrono::milliseconds t) { return t * slow_factor(); }

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

Child::Child(const std::vector<std::string>& argv, const std::string& log_path, const std::string& cwd) {
  std::vector<char*> args;
  if (!argv.empty() && argv[0] == BH_BINARY)
    for (const auto& w : test_wrapper()) args.push_back(const_cast<char*>(w.c_str()));
  // Cross builds run the binary under the emulator (qemu-aarch64): it cannot be exec'd directly.
  if (sizeof(BH_EXEC_WRAPPER) > 1 && !argv.empty() && argv[0] == BH_BINARY)
    args.push_back(const_cast<char*>(BH_EXEC_WRAPPER));
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    // Close everything else the test process holds (gtest, sockets).
    for (int i = 3; i < 1024; ++i) ::close(i);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

Child::~Child() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::milliseconds(5000));
  }
}

bool Child::running() {
  if (status_) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

void Child::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> Child::wait(std::chrono::milliseconds timeout) {
  if (!poll_until([&] { return !running(); }, slow(timeout))) return std::nullopt;
  return status_;
}

LineClient::~LineClient() { close(); }
LineClient::LineClient(LineClient&& o) noexcept : fd_(std::exchange(o.fd_, -1)), buf_(std::move(o.buf_)) {}

bool LineClient::connect(std::uint16_t port, std::chrono::milliseconds timeout) {
  const bool connected = poll_until([&] {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }, slow(timeout), std::chrono::milliseconds(20));
  if (!connected) close();
  return connected;
}

bool LineClient::connect_unix(const std::string& path) {
  close();
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return true;
  close();
  return false;
}

bool LineClient::send(const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::optional<std::string> LineClient::read_line(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + slow(timeout);
  for (;;) {
    auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r <= 0) return std::nullopt;
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return std::nullopt;
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

std::vector<std::string> LineClient::read_lines(std::size_t n, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + slow(timeout);
  std::vector<std::string> out;
  while (out.size() < n) {
    auto l = read_line(std::chrono::milliseconds(remaining_ms(deadline) / slow_factor()));
    if (!l) break;
    out.push_back(std::move(*l));
  }
  return out;
}

bool LineClient::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + slow(timeout);
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r <= 0) return false;
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return true;
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

void LineClient::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

void LineClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
}

Bulkhead::Bulkhead(const std::string& extra_toml, bool start_now) : extra_toml_(extra_toml) {
  pick_ports();
  write_config();
  if (start_now) start();
}

void Bulkhead::pick_ports() {
  ingest_port_ = free_port();
  do {
    admin_port_ = free_port();
  } while (admin_port_ == ingest_port_);
}

void Bulkhead::write_config() {
  // Test defaults per section; keys given in extra_toml under the same [section] come after
  // them there (TOML forbids opening a table twice).
  std::vector<std::pair<std::string, std::string>> defaults{
      {"ingest", "listen = \"127.0.0.1:" + std::to_string(ingest_port_) + "\"\n"},
      {"admin", "listen = \"127.0.0.1:" + std::to_string(admin_port_) + "\"\n"},
      {"store", "path = \"" + dir_.file("var/bulkhead.db") + "\"\n"},
      {"audit", "path = \"" + dir_.file("var/audit.log") + "\"\n"},
      {"console", "socket = \"" + dir_.file("var/console.sock") + "\"\n"},
      {"runtime", "shutdown_grace = \"3s\"\n"},
  };
  std::string text = extra_toml_ + "\n";
  std::string head;
  for (auto& [section, keys] : defaults) {
    std::string header = "[" + section + "]\n";
    auto at = text.find(header);
    if (at != std::string::npos && (at == 0 || text[at - 1] == '\n')) {
      text.insert(at + header.size(), keys);
    } else {
      head += header + keys;
    }
  }
  std::ofstream f(config_path(), std::ios::trunc);
  f << head << text;
}

Bulkhead::~Bulkhead() {
  if (child_ && child_->running()) kill9();
}

bool Bulkhead::start() {
  for (int attempt = 1;; ++attempt) {
    if (start_once()) return true;
    // Only a port taken between free_port() and bind is retried; any other failure is the test's.
    if (attempt == kStartAttempts || child_->running() || log().find("Address already in use") == std::string::npos)
      return false;
    pick_ports();
    write_config();
    std::ofstream(dir_.file("bulkhead.log"), std::ios::trunc).close();  // the failed attempt's output
  }
}

bool Bulkhead::start_once() {
  child_ = std::make_unique<Child>(std::vector<std::string>{BH_BINARY, "run", "--config", config_path()},
                                   dir_.file("bulkhead.log"), dir_.path());
  // Ready = it says ingest listens (so the port is its, not another process's) and the port accepts.
  LineClient probe;
  bool ready = false;
  poll_until([&] {
    if (!child_->running()) return true;
    ready = log().find("ingest: listening on") != std::string::npos && probe.connect(ingest_port_, std::chrono::milliseconds(50));
    return ready;
  }, slow(std::chrono::seconds(10)));
  return ready;
}

std::optional<int> Bulkhead::stop(std::chrono::milliseconds timeout) {
  if (!child_) return std::nullopt;
  child_->signal(SIGTERM);
  return child_->wait(timeout);
}

void Bulkhead::kill9() {
  if (!child_) return;
  child_->signal(SIGKILL);
  child_->wait(std::chrono::milliseconds(5000));
}

std::string Bulkhead::log() const {
  std::ifstream f(dir_.file("bulkhead.log"));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::pair<int, std::string> run_bulkhead(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  TempDir d;
  std::vector<std::string> argv{BH_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  Child c(argv, d.file("out.log"));
  auto code = c.wait(timeout);
  std::ifstream f(d.file("out.log"));
  std::stringstream ss;
  ss << f.rdbuf();
  return {code.value_or(-1), ss.str()};
}

std::vector<std::uint64_t> send_events(std::uint16_t port, int n, const std::string& tag,
                                       std::chrono::milliseconds timeout) {
  LineClient c;
  EXPECT_TRUE(c.connect(port));
  std::string all;
  for (int i = 0; i < n; ++i) all += "{\"" + tag + "\":" + std::to_string(i) + "}\n";
  EXPECT_TRUE(c.send(all));
  std::vector<std::uint64_t> seqs;
  for (auto& l : c.read_lines(static_cast<std::size_t>(n), slow(timeout))) {
    EXPECT_EQ(l.rfind("ok ", 0), 0u) << l;
    if (l.rfind("ok ", 0) == 0) seqs.push_back(std::stoull(l.substr(3)));
  }
  EXPECT_EQ(seqs.size(), static_cast<std::size_t>(n));
  return seqs;
}

void expect_clean_stop(Bulkhead& b) {
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << "bulkhead did not exit after SIGTERM\n" << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_NE(b.log().find("0 pool(s) not at zero"), std::string::npos) << b.log();
  EXPECT_NE(b.log().find(" 0 heap allocation(s) after seal"), std::string::npos) << b.log();
}

}  // namespace bh::test
