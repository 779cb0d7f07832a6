// Watchdog: the runtime's self-check, run on the reactor every `period`. Each check has a name
// and compares what the OS says (open FDs from /proc, RSS) and what the pools say (high-water
// marks) with the budget; loop lag is the timer's own drift. While every check holds it feeds
// the hardware watchdog and systemd; when one fails it logs the transition once, turns /healthz
// to 503, and stops feeding after `grace`, so the board resets or systemd restarts the service.
// Reactor thread only.
#pragma once
#include <chrono>
#include <cstdint>
#include <string_view>

namespace bh {

struct WatchdogCheckResult {
  std::string_view name;     // "loop_lag", "pools", "fds", "memory", "sqlite_memory", "tasks", "audit"
  bool ok = true;
  double value = 0;          // the measured figure (ms, count, bytes)
  double limit = 0;          // what it is compared with
  char detail[96] = {};      // human-readable, NUL-terminated (e.g. "pool 'ingest_conn' at 64/64")
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
};

}  // namespace bh
