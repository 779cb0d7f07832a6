// Watchdog: the check engine driven with a fake clock and injected readings (a stalled loop, a
// saturated and a wedged pool, FDs over budget, memory, SQLite, stuck tasks, the audit log), the
// feeding rule (healthy ticks feed a fake device and a real notify datagram socket; after grace
// feeding stops), transitions logged once, the history ring, high-water resets; and the hal
// pieces: the Linux watchdog device on a regular file and the sd_notify sender.
#include "platform/observe/watchdog_checks.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "hal/notify.hpp"
#include "hal/watchdog_device.hpp"
#include "platform/alloc/alloc.hpp"
#include "platform/util/log.hpp"
#include "platform/core/pool.hpp"
#include "tests/support/census.hpp"

namespace bh {
namespace {
using namespace std::chrono_literals;

struct FakeSensors final : WatchdogSensors {
  int fds = 10;
  std::uint64_t rss = 8u << 20;
  SqliteMemory sqlite{1 << 20, 1 << 20, 8 << 20};
  Audit audit_state = Audit::healthy;
  int sqlite_resets = 0;
  int open_fds() noexcept override { return fds; }
  std::uint64_t rss_bytes() noexcept override { return rss; }
  SqliteMemory sqlite_memory() noexcept override { return sqlite; }
  Audit audit() noexcept override { return audit_state; }
  void reset_sqlite_high_water() noexcept override {
    ++sqlite_resets;
    sqlite.high_water = sqlite.used;
  }
};

// Counts what the engine does to the hardware device.
struct FakeDevice final : hal::WatchdogDevice {
  bool open_ = false;
  int keepalives = 0;
  int magic_closes = 0;
  int plain_closes = 0;
  std::error_code fail_keepalive{};
  std::error_code open(std::chrono::seconds t, std::chrono::seconds& eff) noexcept override {
    open_ = true;
    eff = t;
    return {};
  }
  std::error_code keepalive() noexcept override {
    if (fail_keepalive) return fail_keepalive;
    ++keepalives;
    return {};
  }
  void close(bool magic) noexcept override {
    open_ = false;
    ++(magic ? magic_closes : plain_closes);
  }
  bool is_open() const noexcept override { return open_; }
};

// A datagram socket bound at a path: what systemd would be.
class NotifyReceiver {
 public:
  explicit NotifyReceiver(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  }
  ~NotifyReceiver() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  // Every datagram queued now.
  std::vector<std::string> drain() {
    std::vector<std::string> out;
    char buf[512];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) break;
      out.emplace_back(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// Captures log lines into a temp file for the duration of a test.
class LogCapture {
 public:
  LogCapture() {
    char tmpl[] = "/tmp/bh-wd-log-XXXXXX";
    fd_ = ::mkstemp(tmpl);
    path_ = tmpl;
    log::set_fd(fd_);
  }
  ~LogCapture() {
    log::set_fd(-1);
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  std::string text() const {
    std::ifstream f(path_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::size_t count(const std::string& needle) const {
    std::string t = text();
    std::size_t n = 0;
    for (auto at = t.find(needle); at != std::string::npos; at = t.find(needle, at + 1)) ++n;
    return n;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

WatchdogOptions opts(std::uint32_t fd_budget = 100) {
  WatchdogOptions o;
  o.grace = 3s;
  o.loop_lag = 100ms;
  o.warn_ratio = 0.8;
  o.fd_budget = fd_budget;
  o.memory_budget = 32u << 20;
  return o;
}

const WatchdogCheckResult& by_name(const Watchdog& w, std::string_view name) {
  for (std::size_t i = 0; i < w.check_count(); ++i)
    if (w.check(i).name == name) return w.check(i);
  ADD_FAILURE() << "no check " << name;
  return w.check(0);
}

std::size_t events(const Watchdog& w, WatchdogEventKind kind, std::string_view check = {}) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < w.history_size(); ++i)
    if (w.history(i).kind == kind && (check.empty() || w.history(i).check == check)) ++n;
  return n;
}

TEST(WatchdogChecks, EveryCheckHasANameAndStartsHealthy) {
  FakeSensors s;
  WatchdogChecks w(opts(), s);
  ASSERT_EQ(w.check_count(), 7u);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < w.check_count(); ++i) names.emplace_back(w.check(i).name);
  EXPECT_EQ(names, (std::vector<std::string>{"loop_lag", "pools", "fds", "memory", "sqlite_memory", "tasks", "audit"}));
  EXPECT_TRUE(w.healthy());
  EXPECT_EQ(w.failing(), nullptr);
  EXPECT_TRUE(w.feeding());
  EXPECT_EQ(w.history_size(), 0u);
}

TEST(WatchdogChecks, HealthyTicksFeedTheDeviceAndSystemdWithoutAllocating) {
  test::CensusGuard census;
  test::TempDir dir;
  NotifyReceiver rx(dir.file("notify.sock"));
  hal::Notifier notifier;
  ASSERT_FALSE(notifier.open(dir.file("notify.sock")));
  FakeSensors s;
  FakeDevice dev;
  std::chrono::seconds eff{};
  ASSERT_FALSE(dev.open(15s, eff));
  WatchdogChecks w(opts(), s, &dev, &notifier);
  auto t0 = Clock::now();
  ASSERT_TRUE(w.tick(t0, 1ms));  // the first round may size nothing either, but warm up anyway
  std::uint64_t before = alloc::count();
  for (int i = 1; i < 10; ++i) EXPECT_TRUE(w.tick(t0 + i * 1s, 2ms));
  EXPECT_EQ(alloc::count(), before) << "a watchdog tick allocated";
  EXPECT_TRUE(w.healthy());
  EXPECT_EQ(dev.keepalives, 10);
  auto c = w.counters();
  EXPECT_EQ(c.ticks, 10u);
  EXPECT_EQ(c.feeds, 10u);
  EXPECT_EQ(c.missed_feeds, 0u);
  auto got = rx.drain();
  EXPECT_EQ(got, std::vector<std::string>(10, "WATCHDOG=1"));
  EXPECT_DOUBLE_EQ(w.loop_lag_ms(), 2.0);
  EXPECT_EQ(notifier.sent(), 10u);
}

TEST(WatchdogChecks, StalledLoopFailsLoopLagAndRecovers) {
  LogCapture logs;
  FakeSensors s;
  WatchdogChecks w(opts(), s);
  auto t0 = Clock::now();
  w.tick(t0, 10ms);
  EXPECT_TRUE(w.healthy());
  w.tick(t0 + 1s, 90ms);  // at 90% of the limit: warns, holds
  EXPECT_TRUE(w.healthy());
  EXPECT_TRUE(by_name(w, "loop_lag").warn);
  w.tick(t0 + 2s, 600ms);  // stalled
  ASSERT_FALSE(w.healthy());
  ASSERT_NE(w.failing(), nullptr);
  EXPECT_EQ(w.failing()->name, "loop_lag");
  EXPECT_DOUBLE_EQ(w.failing()->value, 600.0);
  EXPECT_DOUBLE_EQ(w.failing()->limit, 100.0);
  w.tick(t0 + 3s, 700ms);
  EXPECT_EQ(by_name(w, "loop_lag").failed_ticks, 2u);
  w.tick(t0 + 4s, 1ms);
  EXPECT_TRUE(w.healthy());
  EXPECT_EQ(logs.count("check 'loop_lag' failing"), 1u);
  EXPECT_EQ(logs.count("check 'loop_lag' recovered"), 1u);
  EXPECT_EQ(logs.count("check 'loop_lag' near its limit"), 1u);
  EXPECT_EQ(events(w, WatchdogEventKind::fail, "loop_lag"), 1u);
  EXPECT_EQ(events(w, WatchdogEventKind::recover, "loop_lag"), 1u);
  EXPECT_DOUBLE_EQ(w.counters().max_loop_lag_ms, 700.0);
  EXPECT_EQ(w.counters().failures, 1u);
}

TEST(WatchdogChecks, LagHistoryKeepsTheLastTicksOldestFirst) {
  FakeSensors s;
  WatchdogChecks w(opts(), s);
  EXPECT_EQ(w.lag_history_size(), 0u);
  auto t0 = Clock::now();
  w.tick(t0, 5ms);
  w.tick(t0 + 1s, 7ms);
  ASSERT_EQ(w.lag_history_size(), 2u);
  EXPECT_FLOAT_EQ(w.lag_history(0), 5.0f);
  EXPECT_FLOAT_EQ(w.lag_history(1), 7.0f);
  // Past the ring's size the oldest go: it holds ticks 10 .. kLagHistory + 9 of these.
  const std::size_t n = Watchdog::kLagHistory + 10;
  for (std::size_t i = 0; i < n; ++i) w.tick(t0 + (i + 2) * 1s, std::chrono::milliseconds(i));
  ASSERT_EQ(w.lag_history_size(), Watchdog::kLagHistory);
  EXPECT_FLOAT_EQ(w.lag_history(0), 10.0f);
  EXPECT_FLOAT_EQ(w.lag_history(Watchdog::kLagHistory - 1), static_cast<float>(n - 1));
  EXPECT_FLOAT_EQ(w.lag_history(Watchdog::kLagHistory - 1), static_cast<float>(w.loop_lag_ms()));
}

TEST(WatchdogChecks, FdsOverBudgetFailThenFeedingStopsAfterGrace) {
  LogCapture logs;
  test::TempDir dir;
  NotifyReceiver rx(dir.file("n.sock"));
  hal::Notifier notifier;
  ASSERT_FALSE(notifier.open(dir.file("n.sock")));
  FakeSensors s;
  FakeDevice dev;
  std::chrono::seconds eff{};
  dev.open(10s, eff);
  WatchdogChecks w(opts(100), s, &dev, &notifier);  // grace 3 s
  auto t0 = Clock::now();
  s.fds = 85;  // warn (>= 80), holds
  EXPECT_TRUE(w.tick(t0, 0ms));
  EXPECT_TRUE(by_name(w, "fds").warn);
  EXPECT_TRUE(by_name(w, "fds").ok);
  s.fds = 101;  // over budget
  EXPECT_TRUE(w.tick(t0 + 1s, 0ms));   // failing 0 s: still fed
  EXPECT_FALSE(w.healthy());
  EXPECT_EQ(w.failing()->name, "fds");
  EXPECT_TRUE(w.tick(t0 + 2s, 0ms));   // 1 s
  EXPECT_TRUE(w.tick(t0 + 3s, 0ms));   // 2 s
  EXPECT_TRUE(w.tick(t0 + 3900ms, 0ms));  // 2.9 s
  EXPECT_FALSE(w.tick(t0 + 4s, 0ms));  // 3 s = grace: stops
  EXPECT_FALSE(w.feeding());
  EXPECT_FALSE(w.tick(t0 + 5s, 0ms));
  EXPECT_EQ(dev.keepalives, 5);
  auto c = w.counters();
  EXPECT_EQ(c.feeds, 5u);
  EXPECT_EQ(c.missed_feeds, 2u);
  EXPECT_EQ(events(w, WatchdogEventKind::feeding_stopped), 1u);
  EXPECT_EQ(logs.count("check 'fds' failing"), 1u);
  EXPECT_EQ(logs.count("no longer feeding"), 1u);
  // systemd saw WATCHDOG=1 only while fed, a STATUS at each transition.
  auto got = rx.drain();
  std::size_t watchdogs = 0;
  for (auto& m : got) watchdogs += m == "WATCHDOG=1";
  EXPECT_EQ(watchdogs, 5u);
  EXPECT_NE(std::find_if(got.begin(), got.end(), [](auto& m) { return m.rfind("STATUS=failing: fds:", 0) == 0; }),
            got.end());
  EXPECT_NE(std::find_if(got.begin(), got.end(), [](auto& m) { return m.rfind("STATUS=feeding stopped", 0) == 0; }),
            got.end());
  // Recovery: feeding resumes at once.
  s.fds = 50;
  EXPECT_TRUE(w.tick(t0 + 6s, 0ms));
  EXPECT_TRUE(w.healthy());
  EXPECT_TRUE(w.feeding());
  EXPECT_EQ(dev.keepalives, 6);
  EXPECT_EQ(events(w, WatchdogEventKind::feeding_resumed), 1u);
  got = rx.drain();
  EXPECT_NE(std::find(got.begin(), got.end(), "STATUS=healthy"), got.end());
}

TEST(WatchdogChecks, GraceZeroStopsFeedingOnTheFirstFailingTick) {
  FakeSensors s;
  FakeDevice dev;
  std::chrono::seconds eff{};
  dev.open(10s, eff);
  auto o = opts();
  o.grace = 0s;
  WatchdogChecks w(o, s, &dev);
  s.audit_state = WatchdogSensors::Audit::failing;
  EXPECT_FALSE(w.tick(Clock::now(), 0ms));
  EXPECT_EQ(w.failing()->name, "audit");
  EXPECT_EQ(dev.keepalives, 0);
}

TEST(WatchdogChecks, AFailingDeviceKeepaliveIsCountedAndLoggedOnce) {
  LogCapture logs;
  FakeSensors s;
  FakeDevice dev;
  std::chrono::seconds eff{};
  dev.open(10s, eff);
  dev.fail_keepalive = std::make_error_code(std::errc::io_error);
  WatchdogChecks w(opts(), s, &dev);
  auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) w.tick(t0 + i * 1s, 0ms);
  EXPECT_EQ(w.counters().device_errors, 3u);
  EXPECT_EQ(logs.count("hardware keepalive failed"), 1u);
}

// A pool waiter that a test queues by hand (a task waiting for a slot).
struct HandWaiter final : PoolWaiter {
  void on_granted(std::uint32_t) noexcept override {}
};

TEST(WatchdogChecks, SaturatedPoolIsRecordedWhileAWedgedPoolFails) {
  test::CensusGuard census;
  LogCapture logs;
  FakeSensors s;
  WatchdogChecks w(opts(), s);
  Pool<int, 4> pool("t_wd_pool");
  auto t0 = Clock::now();
  w.tick(t0, 0ms);
  // N-1: warns (3/4 < 0.8? no: 3 < ceil(3.2)=4), then N: saturated and warned, still ok.
  std::vector<Pool<int, 4>::Lease> held;
  for (int i = 0; i < 3; ++i) held.push_back(pool.try_acquire(i));
  w.tick(t0 + 1s, 0ms);
  EXPECT_TRUE(w.healthy());
  EXPECT_FALSE(by_name(w, "pools").warn);
  held.push_back(pool.try_acquire(3));
  EXPECT_FALSE(pool.try_acquire(4));  // N+1: refused, back-pressure
  w.tick(t0 + 2s, 0ms);
  EXPECT_TRUE(w.healthy()) << by_name(w, "pools").detail;
  EXPECT_TRUE(by_name(w, "pools").warn);
  EXPECT_EQ(events(w, WatchdogEventKind::saturated), 1u);
  EXPECT_EQ(w.counters().saturations, 1u);
  EXPECT_EQ(logs.count("pool 't_wd_pool' reached its limit"), 1u);
  EXPECT_EQ(logs.count("pool 't_wd_pool' high-water 4/4"), 1u);
  // Refusals alone for longer than grace: still back-pressure, not a failure.
  for (int i = 3; i < 8; ++i) {
    EXPECT_FALSE(pool.try_acquire(9));
    w.tick(t0 + i * 1s, 0ms);
  }
  EXPECT_TRUE(w.healthy()) << by_name(w, "pools").detail;
  EXPECT_EQ(events(w, WatchdogEventKind::saturated), 1u);  // logged once while it stays full
  // A task queued for a slot that never comes: wedged after grace (3 s).
  HandWaiter waiter;
  pool.enqueue_waiter(waiter);
  w.tick(t0 + 8s, 0ms);
  w.tick(t0 + 10s, 0ms);
  EXPECT_TRUE(w.healthy());
  w.tick(t0 + 11s, 0ms);
  ASSERT_FALSE(w.healthy());
  EXPECT_EQ(w.failing()->name, "pools");
  EXPECT_NE(std::string(w.failing()->detail).find("'t_wd_pool' wedged at 4/4"), std::string::npos) << w.failing()->detail;
  // One slot handed out (turnover): recovers.
  pool.cancel_wait(waiter);
  held.pop_back();
  held.push_back(pool.try_acquire(5));
  w.tick(t0 + 12s, 0ms);
  EXPECT_TRUE(w.healthy()) << by_name(w, "pools").detail;
  // Saturation again after dropping below the limit: a new event.
  held.pop_back();
  w.tick(t0 + 13s, 0ms);
  held.push_back(pool.try_acquire(6));
  w.tick(t0 + 14s, 0ms);
  EXPECT_EQ(events(w, WatchdogEventKind::saturated), 2u);
  EXPECT_EQ(w.counters().saturations, 3u);
  held.clear();
}

TEST(WatchdogChecks, APoolDrainingAboveALoweredLimitHoldsButGrowingThereFails) {
  test::CensusGuard census;
  FakeSensors s;
  WatchdogChecks w(opts(), s);
  Pool<int, 4> pool("t_wd_lowered");
  auto a = pool.try_acquire(1);
  auto b = pool.try_acquire(2);
  auto t0 = Clock::now();
  ASSERT_TRUE(pool.set_limit(1));  // 2 in use, limit 1: draining
  w.tick(t0, 0ms);
  w.tick(t0 + 1h, 0ms);  // long-lived holders: still fine
  EXPECT_TRUE(w.healthy()) << by_name(w, "pools").detail;
  // A slot handed out above the limit (here: the limit raised and lowered between two ticks).
  ASSERT_TRUE(pool.set_limit(4));
  auto c = pool.try_acquire(3);
  ASSERT_TRUE(pool.set_limit(1));
  w.tick(t0 + 1h + 1s, 0ms);
  ASSERT_FALSE(w.healthy());
  EXPECT_NE(std::string(w.failing()->detail).find("grew above its limit: 3/1 (was 2)"), std::string::npos)
      << w.failing()->detail;
  c.reset();
  b.reset();
  w.tick(t0 + 1h + 2s, 0ms);
  EXPECT_TRUE(w.healthy()) << by_name(w, "pools").detail;
}

TEST(WatchdogChecks, ResetHighWaterMarksResetsEveryPoolCountedAndLogged) {
  test::CensusGuard census;
  LogCapture logs;
  FakeSensors s;
  WatchdogChecks w(opts(), s);
  Pool<int, 10> pool("t_wd_hwm");
  {
    std::vector<Pool<int, 10>::Lease> held;
    for (int i = 0; i < 9; ++i) held.push_back(pool.try_acquire(i));
  }
  auto t0 = Clock::now();
  w.tick(t0, 50ms);
  EXPECT_TRUE(by_name(w, "pools").warn);
  EXPECT_EQ(pool.stats().high_water, 9u);
  std::uint32_t n = w.reset_high_water_marks();
  EXPECT_GE(n, 1u);
  EXPECT_EQ(pool.stats().high_water, 0u);
  EXPECT_EQ(s.sqlite_resets, 1);
  EXPECT_EQ(w.counters().hwm_resets, 1u);
  EXPECT_DOUBLE_EQ(w.counters().max_loop_lag_ms, 0.0);
  EXPECT_EQ(events(w, WatchdogEventKind::hwm_reset), 1u);
  EXPECT_EQ(logs.count("high-water marks reset on"), 1u);
  w.tick(t0 + 1s, 0ms);
  EXPECT_FALSE(by_name(w, "pools").warn);
  // The warning can fire again once the mark climbs back.
  {
    std::vector<Pool<int, 10>::Lease> held;
    for (int i = 0; i < 8; ++i) held.push_back(pool.try_acquire(i));
  }
  w.tick(t0 + 2s, 0ms);
  EXPECT_EQ(logs.count("pool 't_wd_hwm' high-water"), 2u);
}

TEST(WatchdogChecks, MemorySqliteAndAuditChecks) {
  FakeSensors s;
  WatchdogChecks w(opts(), s);
  auto t0 = Clock::now();
  s.rss = 33u << 20;  // budget 32 MiB
  w.tick(t0, 0ms);
  EXPECT_FALSE(by_name(w, "memory").ok);
  s.rss = 27u << 20;  // 84%: warns
  w.tick(t0 + 1s, 0ms);
  EXPECT_TRUE(by_name(w, "memory").ok);
  EXPECT_TRUE(by_name(w, "memory").warn);
  s.rss = 0;  // unreadable
  w.tick(t0 + 2s, 0ms);
  EXPECT_FALSE(by_name(w, "memory").ok);
  s.rss = 1u << 20;

  s.sqlite = {7 << 20, 7 << 20, 8 << 20};  // high-water 87.5%: warns
  w.tick(t0 + 3s, 0ms);
  EXPECT_TRUE(by_name(w, "sqlite_memory").ok);
  EXPECT_TRUE(by_name(w, "sqlite_memory").warn);
  s.sqlite = {(8 << 20) - 1024, 8 << 20, 8 << 20};  // at the hard limit
  w.tick(t0 + 4s, 0ms);
  EXPECT_FALSE(by_name(w, "sqlite_memory").ok);
  s.sqlite = {100, 100, 0};  // no limit
  w.tick(t0 + 5s, 0ms);
  EXPECT_TRUE(by_name(w, "sqlite_memory").ok);

  s.audit_state = WatchdogSensors::Audit::failing;
  w.tick(t0 + 6s, 0ms);
  EXPECT_FALSE(by_name(w, "audit").ok);
  s.audit_state = WatchdogSensors::Audit::disabled;
  w.tick(t0 + 7s, 0ms);
  EXPECT_TRUE(by_name(w, "audit").ok);
  EXPECT_TRUE(w.healthy());

  s.fds = -1;  // /proc unreadable: fails closed
  w.tick(t0 + 8s, 0ms);
  EXPECT_FALSE(by_name(w, "fds").ok);
}

// An await that registers no cancel hook: the kind of wait the tasks check calls stuck.
struct Hang {
  std::coroutine_handle<>* h;
  TaskSlot** slot;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> hh) noexcept {
    *h = hh;
    *slot = current_task();
  }
  void await_resume() const noexcept {}
};
Task<void> hang_task(std::coroutine_handle<>* h, TaskSlot** s) { co_await Hang{h, s}; }
Task<void> sleeper() { co_await sleep_for(1h); }

TEST(WatchdogChecks, TasksCheckFindsAWaitWithoutCancelHookAndOverdueBoundedTasks) {
  test::CensusGuard census;
  asio::io_context io(1);
  TaskPool<4> tasks("t_wd_tasks", io);
  FakeSensors s;
  const std::array<TaskDeadline, 1> bounded{TaskDeadline{"job", 5s}};
  auto o = opts();
  o.tasks = &tasks;
  o.task_deadlines = bounded;
  WatchdogChecks w(o, s);
  ASSERT_TRUE(tasks.spawn("service", [] { return sleeper(); }));  // long-lived, hooked: never stuck
  auto now = Clock::now();
  w.tick(now, 0ms);
  w.tick(now + 1h, 0ms);
  EXPECT_TRUE(by_name(w, "tasks").ok) << by_name(w, "tasks").detail;
  EXPECT_DOUBLE_EQ(by_name(w, "tasks").value, 0.0);

  std::coroutine_handle<> h;
  TaskSlot* slot = nullptr;
  ASSERT_TRUE(tasks.spawn("hung", [&] { return hang_task(&h, &slot); }));
  w.tick(now + 1h + 1s, 0ms);  // first sight: not yet
  EXPECT_TRUE(by_name(w, "tasks").ok);
  w.tick(now + 1h + 2s, 0ms);  // still in the same hook-less wait
  ASSERT_FALSE(by_name(w, "tasks").ok);
  EXPECT_NE(std::string(by_name(w, "tasks").detail).find("'hung'"), std::string::npos) << by_name(w, "tasks").detail;
  detail::resume_in(slot, h);  // the task finishes
  w.tick(now + 1h + 3s, 0ms);
  EXPECT_TRUE(by_name(w, "tasks").ok);

  ASSERT_TRUE(tasks.spawn("job.export", [] { return sleeper(); }));
  w.tick(Clock::now() + 4s, 0ms);
  EXPECT_TRUE(by_name(w, "tasks").ok);
  w.tick(Clock::now() + 6s, 0ms);
  ASSERT_FALSE(by_name(w, "tasks").ok);
  EXPECT_NE(std::string(by_name(w, "tasks").detail).find("'job.export'"), std::string::npos);

  tasks.cancel_all();
  io.run();
  EXPECT_EQ(tasks.live(), 0u);
}

TEST(WatchdogChecks, HistoryRingKeepsTheLast32TransitionsOldestFirst) {
  FakeSensors s;
  WatchdogChecks w(opts(), s);
  auto t0 = Clock::now();
  // 20 fail/recover pairs of the audit check = 40 transitions.
  for (int i = 0; i < 20; ++i) {
    s.audit_state = WatchdogSensors::Audit::failing;
    w.tick(t0 + (2 * i) * 1s, 0ms);
    s.audit_state = WatchdogSensors::Audit::healthy;
    w.tick(t0 + (2 * i + 1) * 1s, 0ms);
  }
  ASSERT_EQ(w.history_size(), Watchdog::kHistory);
  // Oldest kept is transition #9 (0-based 8): a fail at tick 8.
  EXPECT_EQ(w.history(0).kind, WatchdogEventKind::fail);
  EXPECT_EQ(w.history(0).at, t0 + 8s);
  EXPECT_EQ(w.history(31).kind, WatchdogEventKind::recover);
  EXPECT_EQ(w.history(31).at, t0 + 39s);
  for (std::size_t i = 1; i < w.history_size(); ++i) EXPECT_LT(w.history(i - 1).at, w.history(i).at);
  EXPECT_EQ(w.history(0).check, "audit");
  EXPECT_STREQ(w.history(0).detail, "audit log not writable");
  EXPECT_EQ(w.counters().failures, 20u);
  EXPECT_EQ(watchdog_event_name(WatchdogEventKind::feeding_stopped), "feeding_stopped");
}

// ---- hal -------------------------------------------------------------------------------------

TEST(WatchdogDevice, RegularFileOpensButRefusesTheIoctlsAndMagicCloseWritesV) {
  test::CensusGuard census;
  test::TempDir dir;
  std::string path = dir.file("fake-watchdog");
  { std::ofstream(path) << ""; }
  hal::LinuxWatchdogDevice dev(path);
  std::chrono::seconds eff{99};
  ASSERT_FALSE(dev.open(15s, eff));
  EXPECT_TRUE(dev.is_open());
  EXPECT_EQ(eff, 0s);
  EXPECT_EQ(dev.timeout_error(), std::errc::inappropriate_io_control_operation);
  EXPECT_EQ(dev.keepalive(), std::errc::inappropriate_io_control_operation);
  dev.close(true);
  EXPECT_FALSE(dev.is_open());
  std::ifstream f(path);
  std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "V");
  EXPECT_EQ(dev.keepalive(), std::errc::bad_file_descriptor);
}

TEST(WatchdogDevice, MissingDeviceIsAnErrorNotACrash) {
  test::CensusGuard census;
  hal::LinuxWatchdogDevice dev("/nonexistent/watchdog");
  std::chrono::seconds eff{};
  EXPECT_EQ(dev.open(15s, eff), std::errc::no_such_file_or_directory);
  EXPECT_FALSE(dev.is_open());
}

TEST(Notifier, PathAndAbstractSocketsReceiveDatagrams) {
  test::CensusGuard census;
  test::TempDir dir;
  {
    NotifyReceiver rx(dir.file("sd.sock"));
    hal::Notifier n;
    ASSERT_FALSE(n.open(dir.file("sd.sock")));
    EXPECT_FALSE(n.ready());
    EXPECT_FALSE(n.status("line one\nline two"));
    EXPECT_FALSE(n.stopping());
    EXPECT_EQ(rx.drain(), (std::vector<std::string>{"READY=1", "STATUS=line one line two", "STOPPING=1"}));
  }
  // Abstract namespace: "@name".
  std::string name = "bh-wd-test-" + std::to_string(::getpid());
  int rfd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path + 1, name.data(), name.size());
  ASSERT_EQ(::bind(rfd, reinterpret_cast<sockaddr*>(&a), static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())), 0);
  hal::Notifier n;
  ASSERT_FALSE(n.open("@" + name));
  EXPECT_FALSE(n.watchdog());
  char buf[64];
  ssize_t got = ::recv(rfd, buf, sizeof buf, MSG_DONTWAIT);
  EXPECT_EQ(std::string(buf, got > 0 ? static_cast<std::size_t>(got) : 0), "WATCHDOG=1");
  ::close(rfd);
  n.close();
}

TEST(Notifier, BadAddressesAndMissingReceiversAreErrors) {
  test::CensusGuard census;
  hal::Notifier n;
  EXPECT_EQ(n.open(""), std::errc::invalid_argument);
  EXPECT_EQ(n.open("relative/path"), std::errc::invalid_argument);
  EXPECT_EQ(n.open("/" + std::string(200, 'x')), std::errc::invalid_argument);
  EXPECT_EQ(n.send("READY=1"), std::errc::bad_file_descriptor);
  ASSERT_FALSE(n.open("/nonexistent/notify.sock"));
  EXPECT_TRUE(n.watchdog());
  EXPECT_EQ(n.errors(), 1u);
  EXPECT_EQ(n.sent(), 0u);
}

}  // namespace
}  // namespace bh
