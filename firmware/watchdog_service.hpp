// WatchdogService: the watchdog wiring: [watchdog] config + RuntimeView -> the check engine
// (platform/observe/watchdog_checks.hpp), the hardware device (hal/watchdog_device.hpp) and systemd
// notification (hal/notify.hpp), driven by one periodic task named "watchdog". Built from the
// RuntimeView at start-up; start() opens the device and the notify socket and spawns the task,
// stop() is called when shutdown begins (STOPPING=1, magic close, the task ends). A missing device
// or notify socket is logged, never fatal. Reactor thread only.
#pragma once
#include <memory>
#include <string>

#include "firmware/runtime_view.hpp"

namespace bh {

class WatchdogService {
 public:
  explicit WatchdogService(RuntimeView& view);
  ~WatchdogService();
  WatchdogService(const WatchdogService&) = delete;
  WatchdogService& operator=(const WatchdogService&) = delete;
  // Opens the device and notify socket (absence logged) and spawns the tick task. Returns "" on
  // success, else why it cannot start (bulkhead exits 1): only when no task slot is free.
  // Notes: the first tick runs once the reactor runs; it sends READY=1 and STATUS=serving first.
  std::string start();
  // Shutdown began: STATUS=stopping, STOPPING=1, magic-close the hardware device (disarm), stop
  // ticking. Idempotent.
  void stop() noexcept;
  // The checks' results (for /healthz, /metrics and the console); nullptr before start().
  Watchdog* watchdog() noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bh
