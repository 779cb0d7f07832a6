// ConsoleService: the console (docs/wire.md §4): the command table (firmware/console_commands.hpp) on
// the backends the config enables (platform/console/server.hpp): the control Unix socket
// `[console] socket`, a PTY (`pty = true`, its path is logged), a serial line (`serial`, `baud`),
// stdin/stdout (`stdio = true`). Built from the RuntimeView at start-up; start() binds and spawns,
// stop() is called when shutdown begins (stop accepting, close idle sessions; an answer being
// written is finished). Reactor thread only.
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
  // Binds and spawns. Returns "" on success, else why it cannot start (bulkhead exits 1): the
  // control socket cannot be bound (or another bulkhead serves it), the PTY cannot be created,
  // no task slot. A serial device that cannot be opened is logged and skipped (the pipeline
  // matters more than a missing UART).
  std::string start();
  // Shutdown began: stop accepting new work.
  void stop() noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bh
