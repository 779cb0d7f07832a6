// The watchdog against the real binary: systemd notification over a datagram socket the test
// creates (READY=1, then WATCHDOG=1 every healthy tick, STOPPING=1 at SIGTERM, exit 0), and,
// through the BH_TEST_WATCHDOG test hook (BH_TEST_HOOKS builds), FDs over budget and a stalled
// loop each failing their check, logged once, with feeding stopping after grace and /healthz 503.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/eventually.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/harness.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// What systemd would be: a datagram socket bound at a path, read with deadlines.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  // Reads datagrams into messages() until pred(messages()) holds or the timeout passes.
  template <typename Pred>
  bool read_until(Pred pred, std::chrono::milliseconds timeout) {
    auto deadline = SteadyClock::now() + timeout;
    while (!pred(msgs_)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (left <= 0ms) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[512];
      ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) msgs_.emplace_back(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  // Everything that arrives within `window`.
  void read_for(std::chrono::milliseconds window) {
    read_until([](auto&) { return false; }, window);
  }
  const std::vector<std::string>& messages() const { return msgs_; }
  std::size_t count(const std::string& m) const { return std::count(msgs_.begin(), msgs_.end(), m); }
  std::size_t index_of(const std::string& m) const {
    return static_cast<std::size_t>(std::find(msgs_.begin(), msgs_.end(), m) - msgs_.begin());
  }
  bool any_starting(const std::string& prefix) const {
    return std::any_of(msgs_.begin(), msgs_.end(), [&](auto& m) { return m.rfind(prefix, 0) == 0; });
  }
  void clear() { msgs_.clear(); }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> msgs_;
};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += "[" + s + "] ";
  return out;
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The status code of GET /healthz on the admin port (0 on failure).
int healthz(std::uint16_t port) {
  LineClient c;
  if (!c.connect(port)) return 0;
  if (!c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) return 0;
  auto line = c.read_line(3000ms);
  if (!line || line->size() < 12) return 0;
  return std::atoi(line->c_str() + 9);
}

// The watchdog's tick count from the console's `watchdog` answer (-1 if it could not be read).
int ticks(const Bulkhead& b) {
  auto [rc, out] = run_bulkhead({"console", "--socket", b.dir() + "/var/console.sock", "watchdog"});
  const auto at = out.find("ticks ");
  return rc == 0 && at != std::string::npos ? std::atoi(out.c_str() + at + 6) : -1;
}

// Sets an environment variable for the children started while it lives.
struct ScopedEnv {
  const char* name;
  ScopedEnv(const char* n, const char* v) : name(n) { ::setenv(n, v, 1); }
  ~ScopedEnv() { ::unsetenv(name); }
};

std::string watchdog_toml(const std::string& notify, const std::string& extra = "") {
  return "[watchdog]\nperiod = \"100ms\"\nnotify = \"" + notify + "\"\n" + extra;
}

TEST(Watchdog, NotifiesReadyThenWatchdogEveryTickAndStoppingAtSigterm) {
  CensusGuard census;
  TempDir d;
  NotifySocket sd(d.file("notify.sock"));
  // A generous loop_lag: a loaded CI machine must not make this healthy run flaky.
  Bulkhead b(watchdog_toml(sd.path(), "loop_lag = \"2s\"\n"));
  ASSERT_TRUE(b.child() && b.child()->running()) << b.log();
  ASSERT_TRUE(sd.read_until([](auto& m) { return std::count(m.begin(), m.end(), "WATCHDOG=1") >= 5; }, 5000ms))
      << joined(sd.messages()) << "\n" << b.log();
  EXPECT_EQ(sd.count("READY=1"), 1u);
  EXPECT_LT(sd.index_of("READY=1"), sd.index_of("WATCHDOG=1")) << joined(sd.messages());
  EXPECT_EQ(sd.count("STATUS=serving"), 1u);
  EXPECT_EQ(sd.count("STOPPING=1"), 0u);
  EXPECT_EQ(healthz(b.admin_port()), 200) << b.log();

  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  sd.read_until([](auto& m) { return std::count(m.begin(), m.end(), "STOPPING=1") >= 1; }, 2000ms);
  EXPECT_EQ(sd.count("STOPPING=1"), 1u) << joined(sd.messages());
  EXPECT_EQ(sd.messages().back(), "STOPPING=1") << "nothing is sent after STOPPING=1: " << joined(sd.messages());
  std::string log = b.log();
  EXPECT_NE(log.find("watchdog: systemd notify to " + sd.path()), std::string::npos) << log;
  EXPECT_NE(log.find("watchdog: no hardware device configured"), std::string::npos) << log;
  for (const char* check : {"loop_lag", "pools", "fds", "memory", "sqlite_memory", "tasks", "audit"})
    EXPECT_EQ(log.find("watchdog: check '" + std::string(check) + "' failing"), std::string::npos) << log;
  EXPECT_EQ(log.find("watchdog: pool '"), std::string::npos) << "no pool saturated or warned:\n" << log;
  EXPECT_NE(log.find("0 pool(s) not at zero"), std::string::npos) << log;
}

TEST(Watchdog, MissingNotifyReceiverAndDeviceAreReportedNotFatal) {
  CensusGuard census;
  TempDir d;
  // A tick a minute, on virtual time: four ticks are four clock advances.
  Bulkhead b("[watchdog]\nperiod = \"1m\"\ntimeout = \"2m\"\nnotify = \"" + d.file("nobody.sock") +
             "\"\ndevice = \"" + d.file("no-watchdog") + "\"\n");
  ASSERT_TRUE(b.child() && b.child()->running()) << b.log();
  ASSERT_TRUE(eventually([&] { return ticks(b) >= 1; })) << b.log();
  for (int i = 0; i < 3; ++i) {
    const int before = ticks(b);
    ASSERT_TRUE(advance_clock(b, 1min));
    ASSERT_TRUE(eventually([&] { return ticks(b) > before; })) << "tick " << i << " after the advance\n" << b.log();
  }
  EXPECT_GE(ticks(b), 4);
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  std::string log = b.log();
  EXPECT_NE(log.find("hardware device " + d.file("no-watchdog") + " unavailable"), std::string::npos) << log;
  EXPECT_EQ(occurrences(log, "sd_notify WATCHDOG=1 failed"), 1u) << "logged once, not per tick:\n" << log;
}

#ifdef BH_TEST_HOOKS
TEST(Watchdog, FdsOverBudgetFailOnceStopFeedingAfterGraceAndFlipHealthz) {
  CensusGuard census;
  TempDir d;
  NotifySocket sd(d.file("notify.sock"));
  ScopedEnv env("BH_TEST_WATCHDOG", "fd_budget=5");
  Bulkhead b(watchdog_toml(sd.path(), "grace = \"500ms\"\n"));
  ASSERT_TRUE(b.child() && b.child()->running()) << b.log();
  ASSERT_TRUE(sd.read_until([](auto& m) {
    return std::any_of(m.begin(), m.end(), [](auto& s) { return s.rfind("STATUS=feeding stopped", 0) == 0; });
  }, 5000ms)) << joined(sd.messages()) << "\n" << b.log();
  EXPECT_TRUE(sd.any_starting("STATUS=failing: fds:")) << joined(sd.messages());
  // Fed during grace (500 ms at 100 ms ticks), then not at all.
  std::size_t fed = sd.count("WATCHDOG=1");
  EXPECT_GE(fed, 2u);
  EXPECT_LE(fed, 8u);
  sd.clear();
  sd.read_for(500ms);
  EXPECT_EQ(sd.count("WATCHDOG=1"), 0u) << joined(sd.messages());
  EXPECT_EQ(healthz(b.admin_port()), 503) << b.log();
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  std::string log = b.log();
  EXPECT_EQ(occurrences(log, "watchdog: check 'fds' failing"), 1u) << log;
  EXPECT_EQ(occurrences(log, "no longer feeding"), 1u) << log;
}

TEST(Watchdog, StalledLoopFailsLoopLagAndStopsFeeding) {
  CensusGuard census;
  TempDir d;
  NotifySocket sd(d.file("notify.sock"));
  ScopedEnv env("BH_TEST_WATCHDOG", "stall_ms=300");
  Bulkhead b(watchdog_toml(sd.path(), "grace = \"1s\"\nloop_lag = \"100ms\"\n"));
  ASSERT_TRUE(b.child() && b.child()->running()) << b.log();
  ASSERT_TRUE(sd.read_until([](auto& m) {
    return std::any_of(m.begin(), m.end(), [](auto& s) { return s.rfind("STATUS=feeding stopped: loop_lag", 0) == 0; });
  }, 8000ms)) << joined(sd.messages()) << "\n" << b.log();
  EXPECT_TRUE(sd.any_starting("STATUS=failing: loop_lag:")) << joined(sd.messages());
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  std::string log = b.log();
  EXPECT_EQ(occurrences(log, "watchdog: check 'loop_lag' failing"), 1u) << log;
  EXPECT_NE(log.find("TEST HOOKS active"), std::string::npos) << log;
}
#endif

}  // namespace
}  // namespace bh::test
