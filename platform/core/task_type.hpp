// The task type: Task<T>, a lazily started C++20 coroutine, and TaskSlot, the memory one task runs
// in. A coroutine frame never comes from the heap: the promise's operator new takes it from the
// slot of the task that is running now (detail::g_current), where frames stack LIFO on a fixed
// arena (a task awaits one child at a time). A frame that does not fit yields an empty Task
// (`!task`): the pool counts that as a refusal when spawning, and awaiting an empty nested task is
// a sizing bug that terminates with a message. A root task ends through finish_root, which logs
// and counts an escaped exception and returns the slot to its pool (task_pool.hpp).
// The slot also holds the task's handler arena (handler_arena.hpp) and the cancel hook the awaiter
// it is suspended on registers (awaiters.hpp). Not thread-safe: everything runs on the reactor thread.
#pragma once
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "hal/clock.hpp"
#include "platform/core/handler_arena.hpp"

namespace bh {

using Clock = hal::Clock;
using Executor = asio::io_context::executor_type;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Executor>;

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

}  // namespace bh
