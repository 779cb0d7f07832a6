// Watchdog: the runtime's self-check, run on the reactor every `period`. Each check has a name
// and compares what the OS says (open FDs from /proc, RSS) and what the pools say (high-water
// marks) with the budget; loop lag is the timer's own drift. While every check holds it feeds
// the hardware watchdog and systemd; when one fails it logs the transition once, turns /healthz
// to 503, and stops feeding after `grace`, so the board resets or systemd restarts the service.
// This header is the read-mostly face the operator surface uses (/healthz, /metrics, console);
// the checks themselves are in platform/watchdog_checks.hpp. Reactor thread only.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hal/clock.hpp"

namespace bh {

struct WatchdogCheckResult {
  std::string_view name;     // "loop_lag", "pools", "fds", "memory", "sqlite_memory", "tasks", "audit"
  bool ok = true;
  double value = 0;          // the measured figure (ms, count, bytes)
  double limit = 0;          // what it is compared with
  char detail[96] = {};      // human-readable, NUL-terminated (e.g. "pool 'ingest_conn' at 64/64")
  bool warn = false;         // holds, but at or above warn_ratio of its limit (ok stays true)
  std::uint32_t failed_ticks = 0;  // consecutive ticks this check has failed (0 when ok)
};

// One entry of the history ring: a check changing state, or a notable event.
enum class WatchdogEventKind : std::uint8_t {
  fail,             // check went ok -> failing
  recover,          // check went failing -> ok
  warn,             // check (still ok) crossed its warn ratio
  saturated,        // a pool reached its limit (detail names it)
  hwm_reset,        // high-water marks were reset (operator)
  feeding_stopped,  // a check failed longer than grace: hardware watchdog and systemd no longer fed
  feeding_resumed,  // every check holds again
};
std::string_view watchdog_event_name(WatchdogEventKind k) noexcept;

struct WatchdogEvent {
  hal::Clock::time_point at{};
  std::int64_t wall_ms = 0;  // system_clock milliseconds since the epoch
  std::string_view check;    // the check's name ("" for events that are not a check's)
  WatchdogEventKind kind = WatchdogEventKind::fail;
  char detail[96] = {};
};

struct WatchdogCounters {
  std::uint64_t ticks = 0;         // check rounds run
  std::uint64_t feeds = 0;         // ticks that fed (hardware device and/or systemd)
  std::uint64_t missed_feeds = 0;  // ticks that withheld feeding (a check failed longer than grace)
  std::uint64_t failures = 0;      // ok -> fail transitions, all checks
  std::uint64_t saturations = 0;   // pool saturations seen (sum of every pool's counter increase)
  std::uint64_t hwm_resets = 0;    // reset_high_water_marks() calls
  std::uint64_t device_errors = 0; // failed keepalives of the hardware device
  std::uint64_t notify_errors = 0; // failed sd_notify datagrams
  double max_loop_lag_ms = 0;      // since start or the last reset_high_water_marks()
};

class Watchdog {
 public:
  virtual ~Watchdog() = default;
  // True while every check holds (what /healthz reports).
  virtual bool healthy() const noexcept = 0;
  // The first failing check (nullptr when healthy).
  virtual const WatchdogCheckResult* failing() const noexcept = 0;
  // Latest loop lag measured, milliseconds.
  virtual double loop_lag_ms() const noexcept = 0;

  // The last result of every check, in a fixed order (check(0) is "loop_lag").
  // Example: for (std::size_t i = 0; i < w.check_count(); ++i) print(w.check(i));
  virtual std::size_t check_count() const noexcept = 0;
  virtual const WatchdogCheckResult& check(std::size_t i) const noexcept = 0;
  // The history ring, oldest first: history(0) .. history(history_size() - 1). Holds the last
  // kHistory events; older ones are overwritten.
  static constexpr std::size_t kHistory = 32;
  virtual std::size_t history_size() const noexcept = 0;
  virtual const WatchdogEvent& history(std::size_t i) const noexcept = 0;
  virtual WatchdogCounters counters() const noexcept = 0;
  // The loop lag of the last kLagHistory ticks (one per period), oldest first:
  // lag_history(0) .. lag_history(lag_history_size() - 1), milliseconds. Survives nothing but the
  // process; the status page draws it.
  static constexpr std::size_t kLagHistory = 180;
  virtual std::size_t lag_history_size() const noexcept = 0;
  virtual float lag_history(std::size_t i) const noexcept = 0;
  // False once a failure has outlasted grace: the hardware watchdog and systemd are not fed.
  virtual bool feeding() const noexcept = 0;
  // Restarts every registered pool's high-water mark at its current in-use count (and SQLite's
  // memory high-water and the max loop lag). Counted, logged and recorded in the history.
  // Returns how many pools were reset. (`watchdog reset-hwm` on the console.)
  virtual std::uint32_t reset_high_water_marks() noexcept = 0;
};

}  // namespace bh
