// Reactor: signals, the shutdown state machine, and the exit-time pool check.
#include "platform/core/reactor.hpp"

#include <asio/ip/udp.hpp>

#include <csignal>
#include <vector>

#include "platform/util/assert.hpp"
#include "platform/util/log.hpp"

namespace bh {
namespace {
constexpr auto kTick = std::chrono::milliseconds(10);

// Completion handler with memory from the reactor's own fixed blocks.
template <typename F>
struct Bound {
  HandlerArena* arena;
  F f;
  using allocator_type = HandlerAllocator<void>;
  allocator_type get_allocator() const noexcept { return allocator_type(arena); }
  template <typename... A>
  void operator()(A&&... a) {
    f(std::forward<A>(a)...);
  }
};
template <typename F>
Bound<F> bind(HandlerArena& a, F f) {
  return Bound<F>{&a, std::move(f)};
}
}  // namespace

std::string_view run_state_name(RunState s) noexcept {
  switch (s) {
    case RunState::running: return "running";
    case RunState::draining: return "draining";
    case RunState::cancelling: return "cancelling";
    case RunState::stopped: return "stopped";
  }
  return "?";
}

Reactor::Reactor() : io_(1), signals_(io_), ticker_(io_.get_executor()) { std::signal(SIGPIPE, SIG_IGN); }

Reactor::~Reactor() = default;

void Reactor::warm_up(std::uint32_t descriptors, std::uint32_t timers) {
  BH_ASSERT(on_reactor_thread());
  {
    std::vector<asio::ip::udp::socket> socks;
    socks.reserve(descriptors);
    for (std::uint32_t i = 0; i < descriptors; ++i) {
      std::error_code ec;
      socks.emplace_back(io_).open(asio::ip::udp::v4(), ec);  // registers a descriptor state
      if (ec) break;
    }
  }  // closed: their states go to the reactor's free list
  std::vector<Timer> ts;
  ts.reserve(timers);
  for (std::uint32_t i = 0; i < timers; ++i) {
    ts.emplace_back(io_.get_executor()).expires_after(std::chrono::hours(1));
    ts.back().async_wait([](const std::error_code&) {});
  }
  for (auto& t : ts) t.cancel();
  io_.poll();
  io_.restart();
}

void Reactor::handle_signals() {
  BH_ASSERT(on_reactor_thread());
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  arm_signals();
}

void Reactor::arm_signals() {
  signals_.async_wait(bind(handlers_, [this](const std::error_code& ec, int sig) { on_signal(ec, sig); }));
}

void Reactor::on_signal(const std::error_code& ec, int sig) {
  if (ec) return;  // signal_set cancelled at stop
  if (state_ == RunState::running) {
    shutdown(sig == SIGINT ? "SIGINT" : "SIGTERM");
    arm_signals();
    return;
  }
  log::warn("second signal during shutdown: forcing exit");
  forced_ = true;
  state_ = RunState::stopped;
  io_.stop();
}

void Reactor::shutdown(std::string_view reason) {
  BH_ASSERT(on_reactor_thread());
  if (state_ != RunState::running) return;
  log::info("shutdown requested ({}): draining, grace {} ms", reason,
            std::chrono::duration_cast<std::chrono::milliseconds>(drain_grace_).count());
  state_ = RunState::draining;
  phase_deadline_ = Clock::now() + drain_grace_;
  if (hooks_.stop_admitting) hooks_.stop_admitting(hooks_.ctx);
  arm_tick();
}

void Reactor::arm_tick() {
  ticker_.expires_after(kTick);
  ticker_.async_wait(bind(handlers_, [this](const std::error_code& ec) {
    if (!ec) tick();
  }));
}

void Reactor::tick() {
  bool idle = (!tasks_ || tasks_->live() == 0) && (!hooks_.idle || hooks_.idle(hooks_.ctx));
  if (idle) {
    log::info("shutdown: all work finished");
    state_ = RunState::stopped;
    signals_.cancel();
    io_.stop();
    return;
  }
  if (Clock::now() >= phase_deadline_) {
    if (state_ == RunState::draining) {
      log::warn("shutdown: grace period over with {} task(s) live: cancelling them", tasks_ ? tasks_->live() : 0);
      state_ = RunState::cancelling;
      phase_deadline_ = Clock::now() + cancel_grace_;
      if (tasks_) tasks_->cancel_all();
    } else {
      log::error("shutdown: {} task(s) did not end after cancellation", tasks_ ? tasks_->live() : 0);
      forced_ = true;
      state_ = RunState::stopped;
      signals_.cancel();
      io_.stop();
      return;
    }
  }
  arm_tick();
}

bool Reactor::run() {
  ReactorThreadScope reactor_thread;
  io_.run();
  return !forced_;
}

int report_pools_in_use() noexcept {
  BH_ASSERT(on_reactor_thread());
  int n = 0;
  for (const PoolBase* p = PoolBase::first(); p; p = p->next()) {
    if (p->in_use() != 0) {
      log::error("exit check: pool '{}' has {} of {} slot(s) still in use", p->name(), p->in_use(), p->capacity());
      ++n;
    }
  }
  return n;
}

}  // namespace bh
