// TaskPool<N>: the only way to start a task. N TaskSlots live in a fixed Pool; spawn takes a slot
// (refused and counted when none is free, or when the top frame does not fit the slot's arena),
// makes the coroutine with that slot current so its frame lands in the slot, and runs it at once
// until its first suspension. The task's end (finish, from its final suspend) destroys the frame
// and returns the slot. cancel_all asks every live task to stop: it sets the task's cancel flag
// and calls the hook its awaiter registered, so every wait ends (awaiters.hpp). TaskPoolBase is
// the size-free face (stats, cancellation, listing) the rest of the runtime holds.
// Not thread-safe: the reactor thread only.
#pragma once
#include <asio/io_context.hpp>

#include <cstdint>
#include <string_view>
#include <utility>

#include "platform/core/pool.hpp"
#include "platform/core/task_type.hpp"

namespace bh {

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

}  // namespace bh
