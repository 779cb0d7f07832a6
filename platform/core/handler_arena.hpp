// HandlerArena: the fixed memory for the completion handlers of one task's outstanding Asio
// operations. Asio allocates each operation (its handler and state) through the handler's
// associated allocator; every awaiter (awaiters.hpp) hands its handler a HandlerAllocator bound to
// the running task's arena, so an operation in flight costs no heap. A task has few operations
// outstanding at once (a timed one: the operation and its timer), hence kBlocks fixed blocks of
// kBlockBytes. A request that does not fit falls back to the heap and is counted (overflows()):
// the zero-allocation seal test and the `tasks` console command show it.
// Not thread-safe: the reactor thread only (each task owns one arena, in its TaskSlot).
#pragma once
#include <cstddef>
#include <cstdint>

namespace bh {

// One task's handler blocks (lives in its TaskSlot).
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

}  // namespace bh
