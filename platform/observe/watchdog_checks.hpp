// The watchdog's check engine: seven named checks run once per tick against the budget, the
// transitions they make (logged once each, kept in a fixed history ring), and the feeding rule
// (feed the hardware device and systemd while every check holds, keep feeding for `grace` after
// one fails, then stop). It does not schedule itself: the caller runs tick() from a periodic task
// and passes the time and the measured timer lag, so tests drive it with a fake clock. What the
// OS says comes through WatchdogSensors, so tests inject readings. No heap after construction.
// Reactor thread only.
//
// What fails and what only warns (warn = logged once, check still ok, /healthz still 200):
//   loop_lag       fails when the tick's timer fired more than `loop_lag` late; warns at warn_ratio.
//   pools          every registered pool. Reaching the limit is back-pressure, not a fault: it is
//                  recorded as a saturation event (logged once until the pool drops below its
//                  limit) and counted. A pool warns when its high-water mark reaches warn_ratio of
//                  its limit (pools with a limit of 1 never warn: they are either empty or full).
//                  A pool fails when (a) its accounting is impossible (in use or high-water above
//                  capacity), (b) it grows while above its limit (being above is fine while a
//                  lowered limit drains; handing out a slot there is not), or (c) it is wedged:
//                  at its limit, tasks queued waiting for a slot, and not one slot handed out for
//                  longer than grace. Refusals alone (try_acquire, e.g. a connection flood at the
//                  ingest listener) never fail the check: back-pressure must not reset the board.
//   fds            fails when /proc/self/fd counts more than the budget's FD total (or cannot be read).
//   memory         fails when RSS exceeds memory_budget (or cannot be read); warns at warn_ratio.
//   sqlite_memory  fails when SQLite's current heap use is within 1% of its hard heap limit (it
//                  refuses allocations there); warns when its high-water reaches warn_ratio.
//   tasks          fails when a task is stuck: suspended in a wait that registered no cancel hook
//                  (every runtime awaiter registers one, with its deadline) on two consecutive ticks,
//                  or, for tasks named in `task_deadlines` (short-lived work), older than its max age.
//                  Long-lived service and connection tasks are not judged by age.
//   audit          fails when the audit log is enabled but not writable (AuditLog::healthy()).
#pragma once
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "hal/notify.hpp"
#include "hal/watchdog_device.hpp"
#include "platform/core/task.hpp"
#include "platform/observe/watchdog.hpp"

namespace bh {

class AuditLog;

// What the watchdog reads from the machine each tick. SystemSensors reads the real thing.
class WatchdogSensors {
 public:
  enum class Audit : std::uint8_t { disabled, healthy, failing };
  struct SqliteMemory {
    std::int64_t used = 0;
    std::int64_t high_water = 0;
    std::int64_t limit = 0;  // <= 0: no limit
  };
  virtual ~WatchdogSensors() = default;
  virtual int open_fds() noexcept = 0;              // -1: unreadable
  virtual std::uint64_t rss_bytes() noexcept = 0;   // 0: unreadable
  virtual SqliteMemory sqlite_memory() noexcept = 0;
  virtual Audit audit() noexcept = 0;
  virtual void reset_sqlite_high_water() noexcept = 0;
};

// /proc/self (hal/proc.hpp), sqlite3_status64 / sqlite3_hard_heap_limit64 (process-wide: the
// store's figures without running SQL each tick), and the audit log if one is given.
class SystemSensors final : public WatchdogSensors {
 public:
  explicit SystemSensors(const AuditLog* audit) noexcept : audit_(audit) {}
  int open_fds() noexcept override;
  std::uint64_t rss_bytes() noexcept override;
  SqliteMemory sqlite_memory() noexcept override;
  Audit audit() noexcept override;
  void reset_sqlite_high_water() noexcept override;

 private:
  const AuditLog* audit_;
};

// A task family with a bounded life: tasks whose name starts with `prefix` are stuck once older
// than max_age.
struct TaskDeadline {
  std::string_view prefix;
  Clock::duration max_age;
};

struct WatchdogOptions {
  Clock::duration grace = std::chrono::seconds(10);       // failing this long stops feeding
  Clock::duration loop_lag = std::chrono::milliseconds(250);
  double warn_ratio = 0.8;
  std::uint32_t fd_budget = 0;        // 0: the fds check is off (always ok)
  std::uint64_t memory_budget = 0;    // 0: the memory check is off
  const TaskPoolBase* tasks = nullptr;  // nullptr: the tasks check is off
  std::span<const TaskDeadline> task_deadlines{};  // must outlive the engine
};

class WatchdogChecks final : public Watchdog {
 public:
  enum CheckId : std::uint8_t { loop_lag_check, pools_check, fds_check, memory_check, sqlite_check, tasks_check, audit_check, kChecks };
  static constexpr std::size_t kMaxPools = 64;   // pools tracked for saturation/wedge state
  static constexpr std::size_t kMaxTasks = 256;  // task slots tracked for the no-cancel-hook rule

  // device and notify may be nullptr (not configured). They must outlive the engine.
  WatchdogChecks(const WatchdogOptions& opts, WatchdogSensors& sensors, hal::WatchdogDevice* device = nullptr,
                 hal::Notifier* notify = nullptr) noexcept;
  WatchdogChecks(const WatchdogChecks&) = delete;
  WatchdogChecks& operator=(const WatchdogChecks&) = delete;

  // One round: runs every check with `now` and the lag of the timer that woke the caller, logs
  // and records transitions, then feeds (device keepalive + WATCHDOG=1) unless a check has been
  // failing for `grace` or longer. Returns true if it fed.
  bool tick(Clock::time_point now, Clock::duration lag) noexcept;

  // Watchdog
  bool healthy() const noexcept override { return healthy_; }
  const WatchdogCheckResult* failing() const noexcept override;
  double loop_lag_ms() const noexcept override { return results_[loop_lag_check].value; }
  std::size_t check_count() const noexcept override { return kChecks; }
  const WatchdogCheckResult& check(std::size_t i) const noexcept override { return results_[i < kChecks ? i : 0]; }
  std::size_t history_size() const noexcept override { return history_count_; }
  const WatchdogEvent& history(std::size_t i) const noexcept override;
  WatchdogCounters counters() const noexcept override { return counters_; }
  std::size_t lag_history_size() const noexcept override { return lag_count_; }
  float lag_history(std::size_t i) const noexcept override {
    return lag_[(lag_next_ + kLagHistory - lag_count_ + i) % kLagHistory];
  }
  bool feeding() const noexcept override { return feeding_; }
  std::uint32_t reset_high_water_marks() noexcept override;

  const WatchdogOptions& options() const noexcept { return opts_; }

 private:
  struct PoolTrack {
    const PoolBase* pool = nullptr;
    std::string_view name;
    std::uint64_t acquisitions = 0;
    std::uint64_t saturations = 0;
    std::uint64_t waits = 0;
    std::uint32_t over_mark = 0;  // lowest in-use seen while above the limit (0: not above)
    std::optional<Clock::time_point> wedged_since;
    bool saturated = false;
    bool warned = false;
    bool seen = false;
  };
  struct TaskTrack {
    Clock::time_point started{};
    std::uint64_t tick = 0;  // the tick that last saw this slot without a cancel hook
  };

  void check_loop_lag(WatchdogCheckResult& r, Clock::duration lag) noexcept;
  void check_pools(WatchdogCheckResult& r, Clock::time_point now) noexcept;
  void check_fds(WatchdogCheckResult& r) noexcept;
  void check_memory(WatchdogCheckResult& r) noexcept;
  void check_sqlite(WatchdogCheckResult& r) noexcept;
  void check_tasks(WatchdogCheckResult& r, Clock::time_point now) noexcept;
  void check_audit(WatchdogCheckResult& r) noexcept;
  // Stores r as check i's result; logs and records the ok<->fail and warn transitions.
  void settle(std::size_t i, WatchdogCheckResult& r, Clock::time_point now, bool log_warn) noexcept;
  void feed(Clock::time_point now) noexcept;
  void send_status() noexcept;
  PoolTrack* track(const PoolBase* p) noexcept;
  void record(Clock::time_point at, std::string_view check, WatchdogEventKind kind, std::string_view detail) noexcept;

  WatchdogOptions opts_;
  WatchdogSensors& sensors_;
  hal::WatchdogDevice* device_;
  hal::Notifier* notify_;
  std::array<WatchdogCheckResult, kChecks> results_{};
  std::array<bool, kChecks> warned_{};
  std::array<WatchdogEvent, kHistory> history_{};
  std::size_t history_next_ = 0;
  std::size_t history_count_ = 0;
  std::array<float, kLagHistory> lag_{};  // ring of per-tick loop lag, ms
  std::size_t lag_next_ = 0;
  std::size_t lag_count_ = 0;
  std::array<PoolTrack, kMaxPools> pools_{};
  std::size_t pool_count_ = 0;
  std::array<TaskTrack, kMaxTasks> tasks_{};
  WatchdogCounters counters_{};
  std::optional<Clock::time_point> fail_since_;
  bool healthy_ = true;
  bool feeding_ = true;
  bool device_ok_ = true;
  bool notify_ok_ = true;
};

}  // namespace bh
