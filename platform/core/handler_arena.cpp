// HandlerArena: first free fixed block, else the heap (counted).
#include "platform/core/handler_arena.hpp"

#include <new>

namespace bh {

void* HandlerArena::allocate(std::size_t n) {
  if (n <= kBlockBytes) {
    for (std::size_t i = 0; i < kBlocks; ++i) {
      if (!used_[i]) {
        used_[i] = true;
        return blocks_[i].bytes;
      }
    }
  }
  // Does not fit the fixed blocks: counted, then served from the heap rather than failing an
  // operation mid-flight. The zero-allocation test and `tasks` make this visible.
  ++overflows_;
  return ::operator new(n);
}

void HandlerArena::deallocate(void* p) noexcept {
  for (std::size_t i = 0; i < kBlocks; ++i) {
    if (p == blocks_[i].bytes) {
      used_[i] = false;
      return;
    }
  }
  ::operator delete(p);
}

}  // namespace bh
