// WatchdogService: The watchdog wiring: periodic checks, hardware watchdog and systemd notify feeding.
// Built from the RuntimeView at start-up; start() spawns its tasks, stop() is called when
// shutdown begins (stop accepting; work in progress finishes). Reactor thread only.
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
  // Binds and spawns. Returns "" on success, else why it cannot start (bulkhead exits 1).
  std::string start();
  // Shutdown began: stop accepting new work.
  void stop() noexcept;
  // The checks' results (for /healthz, /metrics and the console); nullptr before start().
  Watchdog* watchdog() noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bh
