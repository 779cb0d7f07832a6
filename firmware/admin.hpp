// AdminService: Admin HTTP (wire.md §3): /healthz, /metrics, POST /v1/events on [admin] listen.
// Built from the RuntimeView at start-up; start() spawns its tasks, stop() is called when
// shutdown begins (stop accepting; work in progress finishes). Reactor thread only.
#pragma once
#include <memory>
#include <string>

#include "firmware/runtime_view.hpp"

namespace bh {

class AdminService {
 public:
  explicit AdminService(RuntimeView& view);
  ~AdminService();
  AdminService(const AdminService&) = delete;
  AdminService& operator=(const AdminService&) = delete;
  // Binds and spawns. Returns "" on success, else why it cannot start (bulkhead exits 1).
  std::string start();
  // Shutdown began: stop accepting new work.
  void stop() noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bh
