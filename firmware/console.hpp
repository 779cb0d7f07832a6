// ConsoleService: The console (wire.md §4): command table and backends (control socket, PTY, stdio, serial).
// Built from the RuntimeView at start-up; start() spawns its tasks, stop() is called when
// shutdown begins (stop accepting; work in progress finishes). Reactor thread only.
#pragma once
#include <memory>
#include <string>

#include "firmware/runtime_view.hpp"

namespace bh {

class ConsoleService {
 public:
  explicit ConsoleService(RuntimeView& view);
  ~ConsoleService();
  ConsoleService(const ConsoleService&) = delete;
  ConsoleService& operator=(const ConsoleService&) = delete;
  // Binds and spawns. Returns "" on success, else why it cannot start (bulkhead exits 1).
  std::string start();
  // Shutdown began: stop accepting new work.
  void stop() noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bh
