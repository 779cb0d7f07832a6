// Awaiters: the only ways a task waits, each with a deadline or a cancel hook so that a task can
// always be stopped at shutdown (TaskPool::cancel_all).
//   async_op(init, cancel)           one Asio operation; {error_code, bytes}
//   timed_op(timeout, init, cancel)  the same with a deadline: errc::timeout when it passes
//   sleep_for(d)                     a timer; errc::cancelled when cancelled
//   Notify::wait(timeout)            a one-waiter wake-up; false on timeout or cancellation
//   acquire(pool, timeout, args...)  a Pool slot, FIFO among waiters; {error_code, lease}
// While suspended, an awaiter registers on the current TaskSlot how to interrupt it; its
// completion handlers allocate from the task's handler arena (handler_arena.hpp), so no wait
// touches the heap. Every awaiter resumes its task only after all its completions ran, so nothing
// outlives it. Not thread-safe: the reactor thread only.
#pragma once
#include <asio/error.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#include "platform/core/handler_arena.hpp"
#include "platform/core/pool.hpp"
#include "platform/core/task_pool.hpp"
#include "platform/core/task_type.hpp"
#include "platform/util/errors.hpp"

namespace bh {

namespace detail {
// A completion handler that stores the result in its awaiter and resumes the task. Its memory
// comes from the task's handler arena.
template <typename Awaiter>
struct ResumeHandler {
  Awaiter* aw;
  using allocator_type = HandlerAllocator<void>;
  allocator_type get_allocator() const noexcept { return allocator_type(&aw->slot->handlers); }
  void operator()(std::error_code ec, std::size_t n = 0) const { aw->complete(ec, n); }
};
}  // namespace detail

// Awaits one asynchronous operation: `init(handler)` starts it; `cancel()` interrupts it.
// Result: {error_code, bytes}.
template <typename Init, typename Cancel>
struct OpAwaiter {
  Init init;
  Cancel cancel_op;
  TaskSlot* slot = nullptr;
  std::coroutine_handle<> h{};
  std::error_code ec{};
  std::size_t n = 0;

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> hh) {
    h = hh;
    slot = current_task();
    slot->set_cancel(this, [](void* p) { static_cast<OpAwaiter*>(p)->cancel_op(); });
    init(detail::ResumeHandler<OpAwaiter>{this});
  }
  void complete(std::error_code e, std::size_t bytes) {
    ec = e;
    n = bytes;
    slot->clear_cancel();
    detail::resume_in(slot, h);
  }
  std::pair<std::error_code, std::size_t> await_resume() const noexcept { return {ec, n}; }
};

template <typename Init, typename Cancel>
OpAwaiter<Init, Cancel> async_op(Init init, Cancel cancel) {
  return OpAwaiter<Init, Cancel>{std::move(init), std::move(cancel)};
}

// Awaits one operation with a deadline: if `timeout` passes first the operation is cancelled and
// the result is errc::timeout. Both completions are awaited before the task resumes, so nothing
// outlives the awaiter.
template <typename Init, typename Cancel>
struct TimedOpAwaiter {
  Init init;
  Cancel cancel_op;
  Clock::duration timeout;
  Timer timer;
  TaskSlot* slot = nullptr;
  std::coroutine_handle<> h{};
  std::error_code ec{};
  std::size_t n = 0;
  int pending = 0;
  bool timed_out = false;

  struct TimerHandler {
    TimedOpAwaiter* aw;
    using allocator_type = HandlerAllocator<void>;
    allocator_type get_allocator() const noexcept { return allocator_type(&aw->slot->handlers); }
    void operator()(std::error_code e) const {
      if (!e) {
        aw->timed_out = true;
        aw->cancel_op();
      }
      aw->done();
    }
  };

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> hh) {
    h = hh;
    slot = current_task();
    pending = 2;
    slot->set_cancel(this, [](void* p) {
      auto* a = static_cast<TimedOpAwaiter*>(p);
      a->cancel_op();
      a->timer.cancel();
    });
    timer.expires_after(timeout);
    timer.async_wait(TimerHandler{this});
    init(detail::ResumeHandler<TimedOpAwaiter>{this});
  }
  void complete(std::error_code e, std::size_t bytes) {
    ec = e;
    n = bytes;
    timer.cancel();
    done();
  }
  void done() {
    if (--pending == 0) {
      slot->clear_cancel();
      detail::resume_in(slot, h);
    }
  }
  std::pair<std::error_code, std::size_t> await_resume() const noexcept {
    if (timed_out && (ec == asio::error::operation_aborted || !ec)) return {make_error_code(errc::timeout), n};
    return {ec, n};
  }
};

template <typename Init, typename Cancel>
TimedOpAwaiter<Init, Cancel> timed_op(Clock::duration timeout, Init init, Cancel cancel) {
  return TimedOpAwaiter<Init, Cancel>{std::move(init), std::move(cancel), timeout,
                                      Timer(current_task()->pool->executor())};
}

// Sleeps for d. Returns errc::cancelled if the task was cancelled meanwhile, else success.
struct SleepAwaiter {
  Timer timer;
  Clock::duration d;
  TaskSlot* slot = nullptr;
  std::coroutine_handle<> h{};
  std::error_code ec{};
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> hh) {
    h = hh;
    slot = current_task();
    slot->set_cancel(this, [](void* p) { static_cast<SleepAwaiter*>(p)->timer.cancel(); });
    timer.expires_after(d);
    timer.async_wait(detail::ResumeHandler<SleepAwaiter>{this});
  }
  void complete(std::error_code e, std::size_t) {
    ec = e;
    slot->clear_cancel();
    detail::resume_in(slot, h);
  }
  std::error_code await_resume() const noexcept {
    return ec == asio::error::operation_aborted ? make_error_code(errc::cancelled) : ec;
  }
};
inline SleepAwaiter sleep_for(Clock::duration d) { return SleepAwaiter{Timer(current_task()->pool->executor()), d}; }

// A one-waiter wake-up with a deadline: one task awaits `wait(timeout)`, anyone calls `notify()`.
// A notify with nobody waiting is remembered (the next wait returns at once).
class Notify {
 public:
  struct Awaiter {
    Notify& n;
    Clock::duration timeout;
    Timer timer;
    TaskSlot* slot = nullptr;
    std::coroutine_handle<> h{};
    bool notified = false;
    bool await_ready() noexcept {
      if (n.pending_) {
        n.pending_ = false;
        notified = true;
        return true;
      }
      return false;
    }
    void await_suspend(std::coroutine_handle<> hh) {
      h = hh;
      slot = current_task();
      n.waiter_ = this;
      slot->set_cancel(this, [](void* p) { static_cast<Awaiter*>(p)->timer.cancel(); });
      timer.expires_after(timeout);
      timer.async_wait(detail::ResumeHandler<Awaiter>{this});
    }
    void complete(std::error_code, std::size_t) {
      if (n.waiter_ == this) n.waiter_ = nullptr;
      slot->clear_cancel();
      detail::resume_in(slot, h);
    }
    // True if notified, false on timeout or cancellation.
    bool await_resume() const noexcept { return notified; }
  };

  Awaiter wait(Clock::duration timeout) { return Awaiter{*this, timeout, Timer(current_task()->pool->executor())}; }
  void notify() noexcept {
    if (waiter_) {
      waiter_->notified = true;
      waiter_->timer.cancel();
      waiter_ = nullptr;
    } else {
      pending_ = true;
    }
  }

 private:
  Awaiter* waiter_ = nullptr;
  bool pending_ = false;
};

// Acquires a slot from `pool`, waiting in FIFO order up to `timeout`. A zero timeout never waits.
// Result: {error_code, lease}: errc::pool_exhausted (zero timeout, full), errc::timeout, or
// errc::cancelled (shutdown). Waits and timeouts are counted on the pool.
template <typename T, std::uint32_t N, typename... Args>
struct AcquireAwaiter final : PoolWaiter {
  using Lease = typename Pool<T, N>::Lease;
  Pool<T, N>& pool;
  Clock::duration timeout;
  std::tuple<Args...> args;
  std::optional<Timer> timer;
  TaskSlot* slot = nullptr;
  std::coroutine_handle<> h{};
  std::optional<std::uint32_t> granted;
  Lease result;
  std::error_code ec{};

  AcquireAwaiter(Pool<T, N>& p, Clock::duration t, Args... a) : pool(p), timeout(t), args(std::move(a)...) {}
  AcquireAwaiter(AcquireAwaiter&&) = default;
  ~AcquireAwaiter() {
    pool.cancel_wait(*this);
    if (granted) pool.return_granted(*granted);
  }

  bool await_ready() {
    if ((pool.has_room() && !pool.has_waiters()) || timeout <= Clock::duration::zero()) {
      result = std::apply([&](auto&... a) { return pool.try_acquire(a...); }, args);
      if (!result) ec = make_error_code(errc::pool_exhausted);
      return true;
    }
    return false;
  }
  void await_suspend(std::coroutine_handle<> hh) {
    h = hh;
    slot = current_task();
    pool.enqueue_waiter(*this);
    timer.emplace(slot->pool->executor());
    slot->set_cancel(this, [](void* p) {
      auto* a = static_cast<AcquireAwaiter*>(p);
      a->ec = make_error_code(errc::cancelled);
      a->timer->cancel();
    });
    timer->expires_after(timeout);
    timer->async_wait(detail::ResumeHandler<AcquireAwaiter>{this});
  }
  void on_granted(std::uint32_t index) noexcept override {
    granted = index;
    timer->cancel();
  }
  void complete(std::error_code, std::size_t) {
    slot->clear_cancel();
    if (granted && slot->cancel_requested) {
      // Granted in the same turn as the cancel: the slot goes on to the next waiter.
      pool.return_granted(*std::exchange(granted, std::nullopt));
      ec = make_error_code(errc::cancelled);
    } else if (granted) {
      std::uint32_t i = *std::exchange(granted, std::nullopt);
      result = std::apply([&](auto&... a) { return pool.take_granted(i, a...); }, args);
      ec = {};
    } else {
      pool.cancel_wait(*this);
      if (!ec) ec = make_error_code(errc::timeout);
    }
    detail::resume_in(slot, h);
  }
  std::pair<std::error_code, Lease> await_resume() { return {ec, std::move(result)}; }
};

template <typename T, std::uint32_t N, typename... Args>
AcquireAwaiter<T, N, std::decay_t<Args>...> acquire(Pool<T, N>& pool, Clock::duration timeout, Args&&... args) {
  return AcquireAwaiter<T, N, std::decay_t<Args>...>(pool, timeout, std::forward<Args>(args)...);
}

}  // namespace bh
