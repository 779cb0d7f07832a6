// The watchdog check engine: the seven checks, transitions, history ring and the feeding rule.
// Everything here formats into fixed buffers: a tick allocates nothing.
#include "platform/observe/watchdog_checks.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "hal/clock.hpp"
#include "hal/proc.hpp"
#include "platform/util/log.hpp"
#include "platform/core/pool.hpp"
#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"
#include "platform/store/audit_log.hpp"

namespace bh {
namespace {
using Millis = std::chrono::duration<double, std::milli>;

constexpr std::array<std::string_view, WatchdogChecks::kChecks> kNames{
    "loop_lag", "pools", "fds", "memory", "sqlite_memory", "tasks", "audit"};

double ms(Clock::duration d) noexcept { return std::chrono::duration_cast<Millis>(d).count(); }
double secs(Clock::duration d) noexcept { return ms(d) / 1000.0; }
constexpr double kMiB = 1024.0 * 1024.0;

// Formats into a fixed char array, always NUL-terminated, truncating.
template <std::size_t N, typename... Args>
void put(char (&out)[N], fmt::format_string<Args...> f, Args&&... args) noexcept {
  auto r = fmt::format_to_n(out, N - 1, f, std::forward<Args>(args)...);
  *r.out = '\0';
}

bool at_or_over(double value, double limit, double ratio) noexcept { return limit > 0 && value >= ratio * limit; }
}  // namespace

std::string_view watchdog_event_name(WatchdogEventKind k) noexcept {
  switch (k) {
    case WatchdogEventKind::fail: return "fail";
    case WatchdogEventKind::recover: return "recover";
    case WatchdogEventKind::warn: return "warn";
    case WatchdogEventKind::saturated: return "saturated";
    case WatchdogEventKind::hwm_reset: return "hwm_reset";
    case WatchdogEventKind::feeding_stopped: return "feeding_stopped";
    case WatchdogEventKind::feeding_resumed: return "feeding_resumed";
  }
  return "?";
}

// ---- SystemSensors ---------------------------------------------------------------------------

int SystemSensors::open_fds() noexcept { return hal::open_fd_count(); }
std::uint64_t SystemSensors::rss_bytes() noexcept { return hal::rss_bytes(); }

WatchdogSensors::SqliteMemory SystemSensors::sqlite_memory() noexcept {
  sqlite3_int64 cur = 0, high = 0;
  sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &high, 0);
  return SqliteMemory{cur, high, sqlite3_hard_heap_limit64(-1)};
}

WatchdogSensors::Audit SystemSensors::audit() noexcept {
  if (!audit_) return Audit::disabled;
  return audit_->healthy() ? Audit::healthy : Audit::failing;
}

void SystemSensors::reset_sqlite_high_water() noexcept {
  sqlite3_int64 cur = 0, high = 0;
  sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &high, 1);
}

// ---- WatchdogChecks --------------------------------------------------------------------------

WatchdogChecks::WatchdogChecks(const WatchdogOptions& opts, WatchdogSensors& sensors, hal::WatchdogDevice* device,
                               hal::Notifier* notify) noexcept
    : opts_(opts), sensors_(sensors), device_(device), notify_(notify) {
  for (std::size_t i = 0; i < kChecks; ++i) {
    results_[i].name = kNames[i];
    put(results_[i].detail, "not run yet");
  }
}

const WatchdogCheckResult* WatchdogChecks::failing() const noexcept {
  for (const auto& r : results_)
    if (!r.ok) return &r;
  return nullptr;
}

const WatchdogEvent& WatchdogChecks::history(std::size_t i) const noexcept {
  if (i >= history_count_) i = history_count_ ? history_count_ - 1 : 0;
  std::size_t oldest = (history_next_ + kHistory - history_count_) % kHistory;
  return history_[(oldest + i) % kHistory];
}

void WatchdogChecks::record(Clock::time_point at, std::string_view check, WatchdogEventKind kind,
                            std::string_view detail) noexcept {
  WatchdogEvent& e = history_[history_next_];
  e.at = at;
  e.wall_ms = hal::unix_ms();
  e.check = check;
  e.kind = kind;
  put(e.detail, "{}", detail);
  history_next_ = (history_next_ + 1) % kHistory;
  if (history_count_ < kHistory) ++history_count_;
}

bool WatchdogChecks::tick(Clock::time_point now, Clock::duration lag) noexcept {
  BH_ASSERT(on_reactor_thread());
  ++counters_.ticks;
  std::array<WatchdogCheckResult, kChecks> fresh{};
  for (std::size_t i = 0; i < kChecks; ++i) fresh[i].name = kNames[i];
  check_loop_lag(fresh[loop_lag_check], lag);
  lag_[lag_next_] = static_cast<float>(fresh[loop_lag_check].value);
  lag_next_ = (lag_next_ + 1) % kLagHistory;
  if (lag_count_ < kLagHistory) ++lag_count_;
  check_pools(fresh[pools_check], now);
  check_fds(fresh[fds_check]);
  check_memory(fresh[memory_check]);
  check_sqlite(fresh[sqlite_check]);
  check_tasks(fresh[tasks_check], now);
  check_audit(fresh[audit_check]);
  for (std::size_t i = 0; i < kChecks; ++i) settle(i, fresh[i], now, i != pools_check);

  bool was_healthy = healthy_;
  healthy_ = failing() == nullptr;
  if (healthy_ != was_healthy) send_status();
  if (healthy_) {
    fail_since_.reset();
  } else if (!fail_since_) {
    fail_since_ = now;
  }
  bool feed_now = healthy_ || now - *fail_since_ < opts_.grace;
  if (feed_now) {
    if (!feeding_) {
      feeding_ = true;
      log::info("watchdog: every check holds again: feeding resumed");
      record(now, "", WatchdogEventKind::feeding_resumed, "every check holds");
    }
    feed(now);
    return true;
  }
  ++counters_.missed_feeds;
  if (feeding_) {
    feeding_ = false;
    const WatchdogCheckResult* f = failing();
    char d[96];
    put(d, "'{}' failing for {:.1f}s (grace {:.1f}s)", f->name, secs(now - *fail_since_), secs(opts_.grace));
    log::error("watchdog: {}: no longer feeding the hardware watchdog or systemd", d);
    record(now, f->name, WatchdogEventKind::feeding_stopped, d);
    if (notify_ && notify_->is_open()) {
      char s[160];
      put(s, "feeding stopped: {}: {}", f->name, f->detail);
      (void)notify_->status(s);
    }
  }
  return false;
}

void WatchdogChecks::feed(Clock::time_point) noexcept {
  ++counters_.feeds;
  if (device_ && device_->is_open()) {
    if (auto ec = device_->keepalive()) {
      ++counters_.device_errors;
      if (device_ok_) log::error("watchdog: hardware keepalive failed: {}", ec.message());
      device_ok_ = false;
    } else {
      if (!device_ok_) log::info("watchdog: hardware keepalive works again");
      device_ok_ = true;
    }
  }
  if (notify_ && notify_->is_open()) {
    if (auto ec = notify_->watchdog()) {
      ++counters_.notify_errors;
      if (notify_ok_) log::warn("watchdog: sd_notify WATCHDOG=1 failed: {}", ec.message());
      notify_ok_ = false;
    } else {
      if (!notify_ok_) log::info("watchdog: sd_notify works again");
      notify_ok_ = true;
    }
  }
}

void WatchdogChecks::send_status() noexcept {
  if (!notify_ || !notify_->is_open()) return;
  char s[160];
  if (const WatchdogCheckResult* f = failing()) {
    put(s, "failing: {}: {}", f->name, f->detail);
  } else {
    put(s, "healthy");
  }
  if (notify_->status(s)) ++counters_.notify_errors;
}

void WatchdogChecks::settle(std::size_t i, WatchdogCheckResult& r, Clock::time_point now, bool log_warn) noexcept {
  WatchdogCheckResult& prev = results_[i];
  if (!r.ok) {
    r.warn = false;
    r.failed_ticks = prev.ok ? 1 : prev.failed_ticks + 1;
    if (prev.ok) {
      ++counters_.failures;
      log::error("watchdog: check '{}' failing: {}", r.name, r.detail);
      record(now, r.name, WatchdogEventKind::fail, r.detail);
    }
  } else if (!prev.ok) {
    log::info("watchdog: check '{}' recovered: {}", r.name, r.detail);
    record(now, r.name, WatchdogEventKind::recover, r.detail);
  }
  if (log_warn) {
    if (r.ok && r.warn && !warned_[i]) {
      log::warn("watchdog: check '{}' near its limit: {}", r.name, r.detail);
      record(now, r.name, WatchdogEventKind::warn, r.detail);
    }
    warned_[i] = r.ok && r.warn;
  }
  prev = r;
}

void WatchdogChecks::check_loop_lag(WatchdogCheckResult& r, Clock::duration lag) noexcept {
  if (lag < Clock::duration::zero()) lag = Clock::duration::zero();
  r.value = ms(lag);
  r.limit = ms(opts_.loop_lag);
  counters_.max_loop_lag_ms = std::max(counters_.max_loop_lag_ms, r.value);
  r.ok = lag <= opts_.loop_lag;
  r.warn = at_or_over(r.value, r.limit, opts_.warn_ratio);
  put(r.detail, "timer fired {:.1f} ms late (limit {:.0f} ms)", r.value, r.limit);
}

WatchdogChecks::PoolTrack* WatchdogChecks::track(const PoolBase* p) noexcept {
  for (std::size_t i = 0; i < pool_count_; ++i)
    if (pools_[i].pool == p && pools_[i].name == p->name()) return &pools_[i];
  if (pool_count_ == kMaxPools) return nullptr;
  PoolTrack& t = pools_[pool_count_++];
  PoolStats s = p->stats();
  t = PoolTrack{};
  t.pool = p;
  t.name = p->name();
  t.acquisitions = s.acquisitions;
  t.saturations = s.saturations;
  t.waits = s.waits;
  t.saturated = s.in_use >= s.limit;  // a pool already full when first seen is not a new event
  return &t;
}

void WatchdogChecks::check_pools(WatchdogCheckResult& r, Clock::time_point now) noexcept {
  for (std::size_t i = 0; i < pool_count_; ++i) pools_[i].seen = false;
  std::uint32_t count = 0;
  double worst = -1;
  const PoolBase* worst_pool = nullptr;
  bool failed = false;
  bool warn = false;
  // The first failing pool names the check's detail.
#define BH_POOL_FAIL(...)                    \
  do {                                       \
    if (!failed) put(r.detail, __VA_ARGS__); \
    failed = true;                           \
  } while (0)
  for (const PoolBase* p = PoolBase::first(); p; p = p->next()) {
    ++count;
    PoolStats s = p->stats();
    PoolTrack* t = track(p);
    if (t) t->seen = true;
    double ratio = s.limit ? double(s.high_water) / s.limit : 0;
    if (ratio > worst) worst = ratio, worst_pool = p;

    // (a) impossible accounting: fail at once.
    if (s.in_use > s.capacity || s.high_water > s.capacity || s.limit > s.capacity)
      BH_POOL_FAIL("pool '{}' accounting broken: in use {}, high-water {}, capacity {}", s.name, s.in_use, s.high_water,
           s.capacity);
    // Warn when the high-water mark reaches warn_ratio of the limit (never for one-slot pools).
    auto threshold = std::max<std::uint32_t>(2, static_cast<std::uint32_t>(std::ceil(opts_.warn_ratio * s.limit)));
    bool hot = s.high_water >= threshold;
    warn = warn || hot;
    if (!t) continue;  // untracked (more than kMaxPools): only the stateless rules

    // Saturation: a normal, counted event. Logged once until the pool is seen below its limit.
    std::uint64_t sat = s.saturations - t->saturations;
    counters_.saturations += sat;
    if (sat > 0 && !t->saturated) {
      char d[96];
      put(d, "pool '{}' reached its limit {} (refusals {}, waiting {})", s.name, s.limit, s.refusals, s.waiting);
      log::warn("watchdog: {}", d);
      record(now, "pools", WatchdogEventKind::saturated, d);
      t->saturated = true;
    } else if (sat == 0 && s.in_use < s.limit) {
      t->saturated = false;
    }
    if (hot && !t->warned) {
      char d[96];
      put(d, "pool '{}' high-water {}/{} (warn at {:.0f}%)", s.name, s.high_water, s.limit, opts_.warn_ratio * 100);
      log::warn("watchdog: {}", d);
      record(now, "pools", WatchdogEventKind::warn, d);
    }
    t->warned = hot;

    // (b) above its limit: legitimate while a lowered limit drains (holders may be long-lived
    // connections), but the pool must never hand out a slot there: growth means the limit is
    // not enforced.
    if (s.in_use > s.limit) {
      if (t->over_mark && s.in_use > t->over_mark)
        BH_POOL_FAIL("pool '{}' grew above its limit: {}/{} (was {})", s.name, s.in_use, s.limit, t->over_mark);
      t->over_mark = t->over_mark ? std::min(t->over_mark, s.in_use) : s.in_use;
    } else {
      t->over_mark = 0;
    }

    // (c) wedged: at the limit, tasks queued for a slot, no slot handed out for grace.
    bool at_limit = s.in_use >= s.limit;
    bool turnover = s.acquisitions != t->acquisitions;
    bool demand = s.waiting > 0 || s.waits != t->waits;
    if (!at_limit || turnover) {
      t->wedged_since.reset();
    } else if (demand) {
      if (!t->wedged_since) t->wedged_since = now;
      if (now - *t->wedged_since >= opts_.grace)
        BH_POOL_FAIL("pool '{}' wedged at {}/{}: {} waiting, no slot freed for {:.1f}s", s.name, s.in_use, s.limit, s.waiting,
             secs(now - *t->wedged_since));
    }
    t->acquisitions = s.acquisitions;
    t->saturations = s.saturations;
    t->waits = s.waits;
  }
  // Forget pools that were destroyed.
  std::size_t keep = 0;
  for (std::size_t i = 0; i < pool_count_; ++i)
    if (pools_[i].seen) pools_[keep++] = pools_[i];
  pool_count_ = keep;
#undef BH_POOL_FAIL

  r.ok = !failed;
  r.warn = warn;
  r.value = worst < 0 ? 0 : worst;
  r.limit = 1.0;
  if (!failed) {
    if (worst_pool) {
      PoolStats s = worst_pool->stats();
      put(r.detail, "{} pools; fullest '{}' high-water {}/{}", count, s.name, s.high_water, s.limit);
    } else {
      put(r.detail, "no pools");
    }
  }
}

void WatchdogChecks::check_fds(WatchdogCheckResult& r) noexcept {
  r.limit = opts_.fd_budget;
  if (opts_.fd_budget == 0) {
    put(r.detail, "no FD budget");
    return;
  }
  int n = sensors_.open_fds();
  r.value = n;
  if (n < 0) {
    r.ok = false;
    put(r.detail, "cannot count /proc/self/fd");
    return;
  }
  r.ok = static_cast<std::uint32_t>(n) <= opts_.fd_budget;
  r.warn = at_or_over(r.value, r.limit, opts_.warn_ratio);
  put(r.detail, "{} open FDs, budget {}{}", n, opts_.fd_budget, r.ok ? "" : ": over budget");
}

void WatchdogChecks::check_memory(WatchdogCheckResult& r) noexcept {
  r.limit = static_cast<double>(opts_.memory_budget);
  if (opts_.memory_budget == 0) {
    put(r.detail, "no memory budget");
    return;
  }
  std::uint64_t rss = sensors_.rss_bytes();
  r.value = static_cast<double>(rss);
  if (rss == 0) {
    r.ok = false;
    put(r.detail, "cannot read RSS from /proc/self/statm");
    return;
  }
  r.ok = rss <= opts_.memory_budget;
  r.warn = at_or_over(r.value, r.limit, opts_.warn_ratio);
  put(r.detail, "RSS {:.1f} MiB, budget {:.1f} MiB", r.value / kMiB, r.limit / kMiB);
}

void WatchdogChecks::check_sqlite(WatchdogCheckResult& r) noexcept {
  WatchdogSensors::SqliteMemory m = sensors_.sqlite_memory();
  r.value = static_cast<double>(m.used);
  r.limit = static_cast<double>(m.limit > 0 ? m.limit : 0);
  if (m.limit <= 0) {
    put(r.detail, "used {:.1f} MiB, no heap limit", r.value / kMiB);
    return;
  }
  r.ok = r.value < 0.99 * r.limit;
  r.warn = at_or_over(static_cast<double>(m.high_water), r.limit, opts_.warn_ratio);
  put(r.detail, "used {:.2f} MiB, high-water {:.2f} MiB, limit {:.2f} MiB", r.value / kMiB, m.high_water / kMiB,
      r.limit / kMiB);
}

void WatchdogChecks::check_tasks(WatchdogCheckResult& r, Clock::time_point now) noexcept {
  if (!opts_.tasks) {
    put(r.detail, "no task pool");
    return;
  }
  struct Scan {
    WatchdogChecks* self;
    Clock::time_point now;
    const TaskSlot* running;
    std::uint32_t live = 0;
    std::uint32_t stuck = 0;
    char first[96] = {};
  } scan{this, now, current_task()};
  opts_.tasks->for_each_task(
      [](const TaskSlot& s, void* p) {
        auto& sc = *static_cast<Scan*>(p);
        WatchdogChecks& w = *sc.self;
        ++sc.live;
        bool stuck = false;
        char why[96] = {};
        if (&s != sc.running && !s.cancel_fn && s.index < kMaxTasks) {
          TaskTrack& t = w.tasks_[s.index];
          if (t.started == s.started && t.tick + 1 == w.counters_.ticks) {
            stuck = true;
            put(why, "task '{}' (slot {}) waits with no deadline or cancel hook", s.name, s.index);
          }
          t = TaskTrack{s.started, w.counters_.ticks};
        }
        std::string_view name = s.name ? s.name : "";
        for (const TaskDeadline& d : w.opts_.task_deadlines) {
          if (!stuck && name.starts_with(d.prefix) && sc.now - s.started > d.max_age) {
            stuck = true;
            put(why, "task '{}' (slot {}) running {:.1f}s, max {:.1f}s", name, s.index, secs(sc.now - s.started),
                secs(d.max_age));
          }
        }
        if (stuck && sc.stuck++ == 0) std::memcpy(sc.first, why, sizeof why);
      },
      &scan);
  r.value = scan.stuck;
  r.limit = 0;
  r.ok = scan.stuck == 0;
  if (r.ok) {
    put(r.detail, "{} live, none stuck", scan.live);
  } else {
    put(r.detail, "{} stuck: {}", scan.stuck, scan.first);
  }
}

void WatchdogChecks::check_audit(WatchdogCheckResult& r) noexcept {
  switch (sensors_.audit()) {
    case WatchdogSensors::Audit::disabled: put(r.detail, "audit log disabled"); break;
    case WatchdogSensors::Audit::healthy: put(r.detail, "audit log writable"); break;
    case WatchdogSensors::Audit::failing:
      r.ok = false;
      put(r.detail, "audit log not writable");
      break;
  }
  r.limit = 1;
  r.value = r.ok ? 1 : 0;
}

std::uint32_t WatchdogChecks::reset_high_water_marks() noexcept {
  BH_ASSERT(on_reactor_thread());
  std::uint32_t n = 0;
  for (PoolBase* p = PoolBase::first(); p; p = p->next()) {
    p->reset_high_water();
    ++n;
  }
  for (std::size_t i = 0; i < pool_count_; ++i) pools_[i].warned = false;
  sensors_.reset_sqlite_high_water();
  counters_.max_loop_lag_ms = 0;
  ++counters_.hwm_resets;
  char d[96];
  put(d, "high-water marks reset on {} pools", n);
  log::info("watchdog: {} (reset #{})", d, counters_.hwm_resets);
  record(Clock::now(), "", WatchdogEventKind::hwm_reset, d);
  return n;
}

}  // namespace bh
