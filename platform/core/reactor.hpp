// The reactor: one asio::io_context run on the calling (main) thread, SIGINT/SIGTERM through an
// asio::signal_set, SIGPIPE ignored, and the graceful shutdown sequence as a state machine:
//   running --signal--> draining (stop admitting; wait for tasks up to the grace period)
//           --deadline--> cancelling (cancel every task; wait up to cancel_grace) --> stopped.
// A second signal while draining forces a prompt stop. The application supplies the hooks; the
// reactor knows nothing of what the tasks do. Reactor thread only: run() makes its caller the
// reactor thread (platform/core/reactor_thread.hpp) and the other calls check it.
#pragma once
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>

#include "platform/core/reactor_thread.hpp"
#include "platform/core/task.hpp"
#include "platform/util/assert.hpp"

namespace bh {

enum class RunState : std::uint8_t { running, draining, cancelling, stopped };
std::string_view run_state_name(RunState s) noexcept;

class Reactor {
 public:
  struct Hooks {
    // Called once when shutdown begins: stop accepting and admitting work. ctx is passed back.
    void (*stop_admitting)(void* ctx) = nullptr;
    // True when nothing the application owns is still working (the reactor also requires that
    // no task is live). nullptr means "only tasks count".
    bool (*idle)(void* ctx) = nullptr;
    void* ctx = nullptr;
  };

  Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;
  ~Reactor();

  asio::io_context& io() noexcept { return io_; }
  Executor executor() noexcept { return io_.get_executor(); }

  // The tasks the shutdown sequence waits for and cancels.
  void attach(TaskPoolBase& tasks, Hooks hooks) noexcept {
    BH_ASSERT(on_reactor_thread());
    tasks_ = &tasks;
    hooks_ = hooks;
  }
  void set_grace(Clock::duration drain, Clock::duration cancel) noexcept {
    drain_grace_ = drain;
    cancel_grace_ = cancel;
  }

  // Grows Asio's internal tables to the budget before sealing: the reactor's per-descriptor
  // state pool to `descriptors` entries and the timer heap to `timers` entries. Asio keeps both
  // at their high-water size, so serving within the budget later allocates nothing.
  // Start-up only (allocates); needs `descriptors` free FDs for a moment.
  void warm_up(std::uint32_t descriptors, std::uint32_t timers);

  // Listens for SIGINT and SIGTERM: the first starts shutdown(), the second forces stop.
  void handle_signals();
  // Starts the graceful shutdown sequence (idempotent). reason is logged.
  void shutdown(std::string_view reason);
  // Runs the loop until stopped, the calling thread being the reactor thread meanwhile. Returns
  // true if the stop was graceful (false: forced).
  bool run();

  RunState state() const noexcept { return state_; }
  bool forced() const noexcept { return forced_; }

 private:
  void on_signal(const std::error_code& ec, int sig);
  void arm_signals();
  void tick();
  void arm_tick();

  asio::io_context io_;
  asio::signal_set signals_;
  Timer ticker_;
  TaskPoolBase* tasks_ = nullptr;
  Hooks hooks_{};
  RunState state_ = RunState::running;
  bool forced_ = false;
  Clock::duration drain_grace_ = std::chrono::seconds(5);
  Clock::duration cancel_grace_ = std::chrono::seconds(1);
  Clock::time_point phase_deadline_{};
  HandlerArena handlers_;
};

// Logs every registered pool with slots still in use. Returns how many pools are not at zero.
int report_pools_in_use() noexcept;

}  // namespace bh
