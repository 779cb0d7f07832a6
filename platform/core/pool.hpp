// Static pools: Pool<T, N> owns storage for N objects inside itself (no heap), hands them out as
// move-only RAII leases in O(1), and counts everything (in use, high-water, refusals, waits).
// Running out is a normal, counted answer (an empty lease), never a crash and never a queue
// without bound. PoolBase is the size-free interface (ETL's ipool) through which the registry,
// console, metrics and watchdog see every pool. Not thread-safe: call on the reactor thread only
// (acquire, release and the waiter queue check it: BH_ASSERT(on_reactor_thread())).
#pragma once
#include <cstddef>
#include <cstdint>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"

namespace bh {

struct PoolStats {
  std::string_view name;
  std::uint32_t capacity = 0;   // compiled
  std::uint32_t limit = 0;      // configured, <= capacity
  std::uint32_t in_use = 0;
  std::uint32_t high_water = 0;  // true maximum of in_use since start (or since reset_high_water)
  std::uint32_t waiting = 0;     // waiters queued now
  std::uint64_t acquisitions = 0;
  std::uint64_t refusals = 0;     // try_acquire on a full pool, or a wait refused outright
  std::uint64_t waits = 0;        // acquisitions that had to queue
  std::uint64_t wait_timeouts = 0;
  std::uint64_t saturations = 0;  // times in_use reached limit
};

// A party waiting for a slot, queued FIFO on a pool. It lives in the waiting task's coroutine
// frame (fixed storage): the pool only links it, never allocates for it.
class PoolWaiter {
 public:
  // Called by release(): slot `index` is reserved for this waiter (still counted in use).
  virtual void on_granted(std::uint32_t index) noexcept = 0;

 protected:
  PoolWaiter() = default;
  ~PoolWaiter() = default;

 private:
  friend class PoolBase;
  PoolWaiter* next_ = nullptr;
  PoolWaiter* prev_ = nullptr;
  bool queued_ = false;
};

// Called when a pool is destroyed with slots still in use. The default logs the pool's name; it
// does not abort, because a forced exit (second signal, tasks that ignore cancellation) destroys
// pools whose leases are still held, and the exit check (report_pools_in_use) already fails the
// run. Tests install their own to observe the report.
using PoolLeakHandler = void (*)(std::string_view pool, std::uint32_t in_use);

class PoolBase {
 public:
  PoolBase(const PoolBase&) = delete;
  PoolBase& operator=(const PoolBase&) = delete;

  std::string_view name() const noexcept { return name_; }
  std::uint32_t capacity() const noexcept { return capacity_; }
  std::uint32_t limit() const noexcept { return limit_; }
  std::uint32_t in_use() const noexcept { return in_use_; }
  // Lowers (or restores) the limit. Errors: returns false, unchanged, if l is 0 or above capacity.
  bool set_limit(std::uint32_t l) noexcept;
  PoolStats stats() const noexcept;
  // Restarts the high-water mark at the current in-use count.
  void reset_high_water() noexcept { high_water_ = in_use_; }

  // The registry: every live pool, in construction order.
  static PoolBase* first() noexcept { return head_; }
  PoolBase* next() const noexcept { return next_; }
  static PoolBase* find(std::string_view name) noexcept;
  static void set_leak_handler(PoolLeakHandler h) noexcept;

  // Waiter queue (for the asynchronous acquire in task.hpp). enqueue counts a wait; cancel_wait
  // unlinks a waiter that gave up and counts a timeout.
  void enqueue_waiter(PoolWaiter& w) noexcept;
  void cancel_wait(PoolWaiter& w) noexcept;
  bool has_waiters() const noexcept { return wait_head_ != nullptr; }
  bool has_room() const noexcept { return in_use_ < limit_; }

 protected:
  PoolBase(std::string_view name, std::uint32_t capacity) noexcept;
  ~PoolBase();

  void note_acquire() noexcept;
  void note_refusal() noexcept { ++refusals_; }
  void note_release() noexcept { --in_use_; }
  // Pops the oldest waiter, or nullptr.
  PoolWaiter* pop_waiter() noexcept;

 private:
  std::string_view name_;
  std::uint32_t capacity_;
  std::uint32_t limit_;
  std::uint32_t in_use_ = 0;
  std::uint32_t high_water_ = 0;
  std::uint32_t waiting_ = 0;
  std::uint64_t acquisitions_ = 0;
  std::uint64_t refusals_ = 0;
  std::uint64_t waits_ = 0;
  std::uint64_t wait_timeouts_ = 0;
  std::uint64_t saturations_ = 0;
  PoolWaiter* wait_head_ = nullptr;
  PoolWaiter* wait_tail_ = nullptr;
  PoolBase* prev_ = nullptr;
  PoolBase* next_ = nullptr;
  static inline PoolBase* head_ = nullptr;
  static inline PoolBase* tail_ = nullptr;
};

// A stable reference to a slot that does not own it. Resolving it after the slot was released
// (and possibly reused) yields nullptr: the generation check.
struct SlotHandle {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;  // 0 = never valid
  explicit operator bool() const noexcept { return generation != 0; }
  bool operator==(const SlotHandle&) const = default;
};

template <typename T, std::uint32_t N>
class Pool final : public PoolBase {
  static_assert(N > 0, "a pool needs at least one slot");

 public:
  // Move-only ownership of one slot. Destroying (or reset()) destroys the object and returns the
  // slot — to the oldest waiter first, if any.
  class Lease {
   public:
    Lease() noexcept = default;
    Lease(Lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), index_(o.index_) {}
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        reset();
        pool_ = std::exchange(o.pool_, nullptr);
        index_ = o.index_;
      }
      return *this;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { reset(); }

    explicit operator bool() const noexcept { return pool_ != nullptr; }
    T* get() const noexcept { return pool_ ? pool_->object(index_) : nullptr; }
    T* operator->() const noexcept {
      BH_ASSERT_MSG(pool_, "use of an empty lease");
      return pool_->object(index_);
    }
    T& operator*() const noexcept { return *operator->(); }
    SlotHandle handle() const noexcept {
      return pool_ ? SlotHandle{index_, pool_->generation_[index_]} : SlotHandle{};
    }
    std::uint32_t index() const noexcept { return index_; }
    void reset() noexcept {
      if (pool_) std::exchange(pool_, nullptr)->release(index_);
    }
    // Gives up ownership without returning the slot (the slot stays in use). For tests of the
    // leak report only.
    SlotHandle leak() noexcept {
      SlotHandle h = handle();
      pool_ = nullptr;
      return h;
    }

   private:
    friend class Pool;
    Lease(Pool* p, std::uint32_t i) noexcept : pool_(p), index_(i) {}
    Pool* pool_ = nullptr;
    std::uint32_t index_ = 0;
  };

  explicit Pool(std::string_view name) noexcept : PoolBase(name, N) {
    for (std::uint32_t i = 0; i < N; ++i) next_free_[i] = i + 1;
  }
  ~Pool() = default;  // PoolBase reports leaked slots; objects of leaked slots are not destroyed

  // Takes a slot and constructs T from args. Errors: an empty lease (refusal counted) when the
  // pool is at its limit or waiters are queued ahead.
  template <typename... Args>
  Lease try_acquire(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    BH_ASSERT(on_reactor_thread());
    if (!has_room() || has_waiters() || free_head_ == N) {
      note_refusal();
      return {};
    }
    std::uint32_t i = free_head_;
    free_head_ = next_free_[i];
    note_acquire();
    return construct(i, std::forward<Args>(args)...);
  }

  // Completes a grant made to a PoolWaiter: constructs T in the reserved slot.
  template <typename... Args>
  Lease take_granted(std::uint32_t index, Args&&... args) {
    BH_ASSERT(on_reactor_thread());
    BH_ASSERT_MSG(index < N && !live_[index], "pool '{}': slot {} was not granted", name(), index);
    return construct(index, std::forward<Args>(args)...);
  }
  // Returns a granted slot that the waiter could not use (it was cancelled meanwhile).
  void return_granted(std::uint32_t index) noexcept {
    BH_ASSERT_MSG(index < N && !live_[index], "pool '{}': slot {} was not granted", name(), index);
    give_back(index);
  }

  // The object behind a handle, or nullptr if that slot was released since.
  T* resolve(SlotHandle h) const noexcept {
    if (!h || h.index >= N || generation_[h.index] != h.generation || !live_[h.index]) return nullptr;
    return const_cast<Pool*>(this)->object(h.index);
  }

  // Visits every live object (for shutdown: close every pooled resource).
  template <typename F>
  void for_each_live(F&& f) {
    for (std::uint32_t i = 0; i < N; ++i)
      if (live_[i]) f(*object(i));
  }

 private:
  template <typename... Args>
  Lease construct(std::uint32_t i, Args&&... args) {
    ::new (static_cast<void*>(&storage_[i])) T(std::forward<Args>(args)...);
    live_[i] = true;
    ++generation_[i];
    if (generation_[i] == 0) generation_[i] = 1;
    return Lease(this, i);
  }

  T* object(std::uint32_t i) noexcept { return std::launder(reinterpret_cast<T*>(&storage_[i])); }

  void release(std::uint32_t i) noexcept {
    BH_ASSERT(on_reactor_thread());
    BH_ASSERT_MSG(live_[i], "pool '{}': double release of slot {}", name(), i);
    object(i)->~T();
    live_[i] = false;
    ++generation_[i];
    if (generation_[i] == 0) generation_[i] = 1;
    give_back(i);
  }

  // A freed slot goes to the oldest waiter (reserved, still in use) or back to the free list.
  void give_back(std::uint32_t i) noexcept {
    if (has_waiters() && in_use() <= limit()) {
      PoolWaiter* w = pop_waiter();
      note_release();
      note_acquire();
      w->on_granted(i);
      return;
    }
    note_release();
    next_free_[i] = free_head_;
    free_head_ = i;
  }

  struct alignas(T) Storage {
    std::byte bytes[sizeof(T)];
  };
  Storage storage_[N];
  std::uint32_t next_free_[N];
  std::uint32_t generation_[N] = {};
  bool live_[N] = {};
  std::uint32_t free_head_ = 0;
};

}  // namespace bh
