// Tasks: C++20 coroutines whose memory comes from a fixed task pool, never from the heap.
// A task is spawned only through TaskPool::spawn, which takes a slot (refusal counted when full);
// the slot holds an arena for the task's coroutine frames (nested frames stack LIFO on it) and
// fixed blocks for the completion handlers of its outstanding Asio operations. Awaiting I/O goes
// through the awaiters here, each with a deadline or a cancel hook, so a task can always be
// cancelled at shutdown. Not thread-safe: everything runs on the reactor thread.
#pragma once
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <system_error>
#include <tuple>
#include <utility>

#include "hal/clock.hpp"
#include "platform/util/errors.hpp"
#include "platform/core/pool.hpp"

namespace bh {

using Clock = hal::Clock;
using Executor = asio::io_context::executor_type;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;

// Fixed memory for the completion handlers of one task's outstanding operations (Asio allocates
// each operation through the handler's associated allocator). Blocks that do not fit fall back to
// the heap and are counted: the seal test and the `tasks` command would show it.
class HandlerArena {
 public:
  static constexpr std::size_t kBlocks = 4;
  static constexpr std::size_t kBlockBytes = 320;
  void* allocate(std::size_t n);
  void deallocate(void* p) noexcept;
  std::uint32_t overflows() const noexcept { return overflows_; }

 private:
  struct alignas(std::max_align_t) Block {
    std::byte bytes[kBlockBytes];
  };
  Block blocks_[kBlocks];
  bool used_[kBlocks] = {};
  std::uint32_t overflows_ = 0;
};

template <typename T>
struct HandlerAllocator {
  using value_type = T;
  HandlerArena* arena;
  explicit HandlerAllocator(HandlerArena* a) noexcept : arena(a) {}
  template <typename U>
  HandlerAllocator(const HandlerAllocator<U>& o) noexcept : arena(o.arena) {}  // NOLINT
  T* allocate(std::size_t n) { return static_cast<T*>(arena->allocate(sizeof(T) * n)); }
  void deallocate(T* p, std::size_t) noexcept { arena->deallocate(p); }
  template <typename U>
  bool operator==(const HandlerAllocator<U>& o) const noexcept { return arena == o.arena; }
};

class TaskPoolBase;

// One task's state. Lives in a TaskPool slot.
struct TaskSlot {
  static constexpr std::size_t kArenaBytes = 6 * 1024;

  TaskPoolBase* pool = nullptr;
  std::uint32_t index = 0;
  const char* name = "";
  Clock::time_point started{};
  std::coroutine_handle<> root{};
  bool cancel_requested = false;
  // The awaiter the task is suspended on registers how to interrupt it.
  void (*cancel_fn)(void*) = nullptr;
  void* cancel_ctx = nullptr;
  std::size_t top = 0;
  std::size_t arena_high = 0;
  HandlerArena handlers;
  alignas(std::max_align_t) std::byte arena[kArenaBytes];

  void* alloc_frame(std::size_t n) noexcept;
  void free_frame(void* p) noexcept;
  void set_cancel(void* ctx, void (*fn)(void*)) noexcept { cancel_ctx = ctx, cancel_fn = fn; }
  void clear_cancel() noexcept { cancel_ctx = nullptr, cancel_fn = nullptr; }
  void cancel() noexcept {
    cancel_requested = true;
    if (cancel_fn) cancel_fn(cancel_ctx);
  }
};

namespace detail {
// The task whose code is running now (set around every resumption; single reactor thread).
inline TaskSlot* g_current = nullptr;
void* frame_alloc(std::size_t n) noexcept;
void frame_free(void* p) noexcept;

inline void resume_in(TaskSlot* s, std::coroutine_handle<> h) {
  TaskSlot* prev = std::exchange(g_current, s);
  h.resume();
  g_current = prev;
}
}  // namespace detail

// The running task (nullptr outside tasks).
inline TaskSlot* current_task() noexcept { return detail::g_current; }
// True once shutdown asked the running task to stop: loops check it between operations.
inline bool cancelled() noexcept { return detail::g_current && detail::g_current->cancel_requested; }

template <typename T = void>
class Task;

namespace detail {
struct PromiseBase {
  std::coroutine_handle<> continuation{};
  TaskSlot* root_slot = nullptr;  // set only for a spawned (root) task
  std::exception_ptr error{};

  static void* operator new(std::size_t n) noexcept { return frame_alloc(n); }
  static void operator delete(void* p) noexcept { frame_free(p); }

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      PromiseBase& p = h.promise();
      if (p.continuation) return p.continuation;
      finish_root(p.root_slot, p.error);  // destroys the frame and frees the slot
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
  static void finish_root(TaskSlot* slot, std::exception_ptr& error) noexcept;
};

template <typename T>
struct Promise : PromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() noexcept;
  static Task<T> get_return_object_on_allocation_failure() noexcept;
  template <typename U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
};
template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object() noexcept;
  static Task<void> get_return_object_on_allocation_failure() noexcept;
  void return_void() noexcept {}
};
}  // namespace detail

// A lazily started coroutine. Awaiting it runs it to completion (frames stack on the task arena).
// A Task that failed to get frame memory is empty (`!task`): spawn counts that as a refusal;
// awaiting an empty nested task is a sizing bug and terminates with a message.
template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() noexcept = default;
  explicit Task(Handle h) noexcept : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  ~Task() {
    if (h_) h_.destroy();
  }
  explicit operator bool() const noexcept { return static_cast<bool>(h_); }
  Handle release() noexcept { return std::exchange(h_, {}); }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> cont) noexcept {
    if (!h_) std::terminate();  // nested frame did not fit the task arena: raise kArenaBytes
    h_.promise().continuation = cont;
    return h_;
  }
  T await_resume() {
    if (h_.promise().error) std::rethrow_exception(h_.promise().error);
    if constexpr (!std::is_void_v<T>) return std::move(*h_.promise().value);
  }

 private:
  Handle h_{};
};

namespace detail {
template <typename T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
template <typename T>
Task<T> Promise<T>::get_return_object_on_allocation_failure() noexcept {
  return Task<T>();
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object_on_allocation_failure() noexcept { return Task<void>(); }
}  // namespace detail

struct TaskStats {
  std::uint64_t spawned = 0;
  std::uint64_t completed = 0;
  std::uint64_t refused = 0;        // no free slot
  std::uint64_t frame_refused = 0;  // the top frame did not fit the arena
  std::uint64_t escaped = 0;        // exceptions that escaped a task (logged)
  std::uint64_t cancelled = 0;      // tasks asked to stop by cancel_all
  std::uint32_t arena_high = 0;     // largest arena use seen, bytes
};

// The size-free face of a task pool (completion, cancellation, listing).
class TaskPoolBase {
 public:
  explicit TaskPoolBase(asio::io_context& io) noexcept : io_(io) {}
  TaskPoolBase(const TaskPoolBase&) = delete;
  TaskPoolBase& operator=(const TaskPoolBase&) = delete;
  asio::io_context& io() const noexcept { return io_; }
  Executor executor() const noexcept { return io_.get_executor(); }
  const TaskStats& stats() const noexcept { return stats_; }
  virtual std::uint32_t live() const noexcept = 0;
  // Asks every live task to stop: sets its cancel flag and interrupts the operation it awaits.
  virtual void cancel_all() noexcept = 0;
  // Visits every live task's slot (for the `tasks` console command and the stuck-task check).
  virtual void for_each_task(void (*fn)(const TaskSlot&, void*), void* ctx) const = 0;
  // Starts make() as a task named `name` (a string literal). make is called with the new slot
  // current, so the coroutine it calls allocates its frame from that slot. The task runs at once
  // until its first suspension. Errors: returns false (counted) when no slot is free or the frame
  // does not fit the slot's arena; nothing is started then.
  template <typename F>
  bool spawn(const char* name, F&& make) {
    TaskSlot* s = take_slot();
    if (!s) {
      ++stats_.refused;
      return false;
    }
    s->pool = this;
    s->name = name;
    s->started = Clock::now();
    TaskSlot* prev = std::exchange(detail::g_current, s);
    Task<void> t = make();
    detail::g_current = prev;
    if (!t) {
      ++stats_.frame_refused;
      drop_slot(*s);
      return false;
    }
    auto h = t.release();
    h.promise().root_slot = s;
    s->root = h;
    ++stats_.spawned;
    detail::resume_in(s, h);
    return true;
  }

  // Ends a root task: destroys its frame and frees its slot (called from its final suspend).
  void finish(TaskSlot& s) noexcept {
    ++stats_.completed;
    if (s.arena_high > stats_.arena_high) stats_.arena_high = static_cast<std::uint32_t>(s.arena_high);
    std::exchange(s.root, {}).destroy();  // frees the frame from the slot's arena
    drop_slot(s);                         // destroys the slot and returns it to the pool
  }
  void note_escape() noexcept { ++stats_.escaped; }

 protected:
  ~TaskPoolBase() = default;
  virtual TaskSlot* take_slot() noexcept = 0;
  virtual void drop_slot(TaskSlot& s) noexcept = 0;
  asio::io_context& io_;
  TaskStats stats_;
};

template <std::uint32_t N>
class TaskPool final : public TaskPoolBase {
 public:
  TaskPool(std::string_view name, asio::io_context& io) noexcept : TaskPoolBase(io), slots_(name) {}
  ~TaskPool() { cancel_all(); }

  PoolBase& pool() noexcept { return slots_; }
  std::uint32_t live() const noexcept override { return slots_.in_use(); }

  void cancel_all() noexcept override {
    for (std::uint32_t i = 0; i < N; ++i) {
      if (TaskSlot* s = leases_[i].get(); s && !s->cancel_requested) {
        ++stats_.cancelled;
        s->cancel();
      }
    }
  }

  void for_each_task(void (*fn)(const TaskSlot&, void*), void* ctx) const override {
    for (std::uint32_t i = 0; i < N; ++i)
      if (const TaskSlot* s = leases_[i].get()) fn(*s, ctx);
  }

 private:
  TaskSlot* take_slot() noexcept override {
    auto lease = slots_.try_acquire();
    if (!lease) return nullptr;
    TaskSlot* s = lease.get();
    s->index = lease.index();
    leases_[s->index] = std::move(lease);
    return s;
  }
  void drop_slot(TaskSlot& s) noexcept override { leases_[s.index].reset(); }

  Pool<TaskSlot, N> slots_;
  typename Pool<TaskSlot, N>::Lease leases_[N];
};

// ---------------------------------------------------------------------------------------------
// Awaiters. Each registers a cancel hook on the current task while suspended.

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
  bool has_waiter() const noexcept { return waiter_ != nullptr; }

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
