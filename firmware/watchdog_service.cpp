// WatchdogService: config -> engine, device and notify; the tick task.
//
// The tick task keeps a schedule: each tick is due one period after the previous one. The lag
// is how late the timer woke it (now - due): a reactor stalled by anything (a long SQLite call,
// a busy handler) shows there. After a lag longer than a period the schedule restarts from now
// (no burst of catch-up ticks).
//
// Test hooks (BH_TEST_HOOKS builds only): the environment variable BH_TEST_WATCHDOG, read at
// start(), holds comma-separated `key=value` pairs: `stall_ms=N` blocks the reactor N ms after
// every tick (a stalled loop), `fd_budget=N` replaces the budget's FD total (FDs over budget).
#include "firmware/watchdog_service.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <string_view>

#include "firmware/budget.hpp"
#include "hal/notify.hpp"
#include "hal/watchdog_device.hpp"
#include "platform/util/log.hpp"
#include "platform/store/store.hpp"
#include "platform/observe/watchdog_checks.hpp"

// AddressSanitizer's shadow memory, redzones and quarantine count in RSS (about 3x, plus a fixed
// few tens of MiB): in such builds the memory budget is scaled by kAsanMemoryFactor, and the
// start-up log says so.
#if defined(__SANITIZE_ADDRESS__)
#define BH_WATCHDOG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BH_WATCHDOG_ASAN 1
#endif
#endif

namespace bh {
namespace {
using namespace std::chrono_literals;

// Task families with a bounded life, judged by age (see WatchdogChecks, check `tasks`). Service
// and connection tasks (ingest_accept*, ingest_conn, sink, housekeeping, watchdog, admin and
// console sessions) live as long as their peer or the process and are not listed.
constexpr std::array<TaskDeadline, 0> kBoundedTasks{};

#ifdef BH_TEST_HOOKS
struct TestHooks {
  std::chrono::milliseconds stall{0};
  std::uint32_t fd_budget = 0;
};

TestHooks read_test_hooks() {
  TestHooks h;
  const char* env = std::getenv("BH_TEST_WATCHDOG");
  if (!env) return h;
  std::string_view s(env);
  while (!s.empty()) {
    std::string_view item = s.substr(0, s.find(','));
    s.remove_prefix(item.size() < s.size() ? item.size() + 1 : s.size());
    auto eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = item.substr(0, eq);
    unsigned long v = std::strtoul(std::string(item.substr(eq + 1)).c_str(), nullptr, 10);
    if (key == "stall_ms") h.stall = std::chrono::milliseconds(v);
    if (key == "fd_budget") h.fd_budget = static_cast<std::uint32_t>(v);
  }
  if (h.stall.count() || h.fd_budget)
    log::warn("watchdog: TEST HOOKS active: stall {} ms after each tick, fd budget override {}", h.stall.count(),
              h.fd_budget);
  return h;
}
#endif
}  // namespace

struct WatchdogService::Impl {
  RuntimeView& view;
  SystemSensors sensors;
  std::unique_ptr<hal::LinuxWatchdogDevice> device;
  hal::Notifier notifier;
  std::unique_ptr<WatchdogChecks> checks;
  Notify wake;
  Clock::duration period{};
  bool stopped = false;
#ifdef BH_TEST_HOOKS
  TestHooks hooks;
#endif

  explicit Impl(RuntimeView& v) : view(v), sensors(v.audit) {}

  void open_device(const WatchdogConfig& c) {
    if (c.device.empty()) {
      log::info("watchdog: no hardware device configured");
      return;
    }
    device = std::make_unique<hal::LinuxWatchdogDevice>(c.device);
    auto want = std::chrono::ceil<std::chrono::seconds>(c.timeout);
    if (want < 1s) want = 1s;
    std::chrono::seconds got{};
    if (auto ec = device->open(want, got)) {
      log::warn("watchdog: hardware device {} unavailable: {} (running without it)", c.device, ec.message());
      device.reset();
      return;
    }
    if (auto ec = device->timeout_error())
      log::warn("watchdog: {} refused timeout {}s ({}); driver timeout {}s", c.device, want.count(), ec.message(),
                got.count());
    log::info("watchdog: hardware device {} armed, timeout {}s", c.device, got.count());
  }

  void open_notify(const WatchdogConfig& c) {
    std::string_view target = c.notify;
    if (target == "off") {
      log::info("watchdog: systemd notify off");
      return;
    }
    if (target == "auto") {
      const char* env = std::getenv("NOTIFY_SOCKET");
      if (!env || !*env) {
        log::info("watchdog: systemd notify: NOTIFY_SOCKET not set, not notifying");
        return;
      }
      target = env;
    }
    if (auto ec = notifier.open(target)) {
      log::warn("watchdog: systemd notify socket {} unusable: {} (not notifying)", target, ec.message());
      return;
    }
    log::info("watchdog: systemd notify to {}", target);
  }

  void stall_hook() noexcept {
#ifdef BH_TEST_HOOKS
    if (hooks.stall.count() > 0) {
      timespec ts{static_cast<time_t>(hooks.stall.count() / 1000), static_cast<long>(hooks.stall.count() % 1000) * 1'000'000};
      while (::nanosleep(&ts, &ts) != 0) {
      }
    }
#endif
  }

  Task<void> run() {
    // The first resumption comes from the running reactor: by then App has started everything.
    co_await sleep_for(Clock::duration::zero());
    if (stopped || cancelled()) co_return;
    if (notifier.is_open()) {
      if (auto ec = notifier.ready()) log::warn("watchdog: sd_notify READY=1 failed: {}", ec.message());
      (void)notifier.status("serving");
    }
    Clock::time_point due = Clock::now();
    // A test's `clock advance` (hal/clock.hpp) is no lag: the lag leaves out what it added, and the
    // schedule restarts from now after one. (In production the offset never moves.)
    Clock::duration advanced = Clock::offset();
    while (!stopped && !cancelled()) {
      Clock::time_point now = Clock::now();
      const Clock::duration jump = Clock::offset() - advanced;
      advanced += jump;
      Clock::duration lag = now - jump > due ? now - jump - due : Clock::duration::zero();
      // Acks also wait for the WAL syncer thread: a sync outstanding that long counts as loop lag
      // (it is what the loop lag was when SQLite synced inside COMMIT, on this thread).
      if (view.store) lag = std::max(lag, view.store->sync_stall(now));
      checks->tick(now, lag);
      if (view.clock) view.clock->tick(now);
      due = (lag > period || jump > Clock::duration::zero() ? now : due) + period;
      stall_hook();
      if (co_await wake.wait(due - Clock::now())) break;  // notified: stop()
    }
  }
};

WatchdogService::WatchdogService(RuntimeView& view) : impl_(std::make_unique<Impl>(view)) {}

WatchdogService::~WatchdogService() {
  if (impl_->device && impl_->device->is_open())
    log::warn("watchdog: hardware device closed without a clean shutdown: it stays armed");
}

std::string WatchdogService::start() {
  Impl& s = *impl_;
  const WatchdogConfig& c = s.view.config->watchdog;
  s.period = c.period;
  WatchdogOptions o;
  o.grace = c.grace;
  o.loop_lag = c.loop_lag;
  o.warn_ratio = c.warn_ratio;
  o.fd_budget = budget::total_fds();
  o.memory_budget = c.memory_budget;
#ifdef BH_WATCHDOG_ASAN
  constexpr std::uint64_t kAsanMemoryFactor = 8;
  o.memory_budget *= kAsanMemoryFactor;
  log::info("watchdog: AddressSanitizer build: memory budget scaled x{} (its shadow memory counts in RSS)",
            kAsanMemoryFactor);
#endif
  o.tasks = s.view.tasks;
  o.task_deadlines = kBoundedTasks;
#ifdef BH_TEST_HOOKS
  s.hooks = read_test_hooks();
  if (s.hooks.fd_budget) o.fd_budget = s.hooks.fd_budget;
#endif
  s.open_device(c);
  s.open_notify(c);
  s.checks = std::make_unique<WatchdogChecks>(o, s.sensors, s.device.get(), s.notifier.is_open() ? &s.notifier : nullptr);
  if (!s.view.tasks || !s.view.tasks->spawn("watchdog", [&s] { return s.run(); })) return "no task slot for the watchdog";
  log::info("watchdog: checking every {} ms (grace {} ms, loop lag {} ms, fd budget {}, memory budget {} MiB)",
            c.period.count(), c.grace.count(), c.loop_lag.count(), o.fd_budget, o.memory_budget >> 20);
  return {};
}

void WatchdogService::stop() noexcept {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  s.wake.notify();
  if (s.notifier.is_open()) {
    (void)s.notifier.status("stopping");
    if (auto ec = s.notifier.stopping()) log::warn("watchdog: sd_notify STOPPING=1 failed: {}", ec.message());
  }
  if (s.device && s.device->is_open()) {
    s.device->close(true);
    log::info("watchdog: hardware device {} disarmed (magic close)", s.device->path());
  }
}

Watchdog* WatchdogService::watchdog() noexcept { return impl_->checks.get(); }

}  // namespace bh
