// The handler arena: requests that fit take the fixed blocks (no heap), a freed block is reused,
// and a request that does not fit (too big, or every block taken) is served from the heap and
// counted.
#include "platform/core/handler_arena.hpp"

#include <gtest/gtest.h>

#include <array>
#include <set>

#include "platform/alloc/alloc.hpp"

namespace bh {
namespace {

TEST(HandlerArena, FixedBlocksThenCountedOverflow) {
  HandlerArena arena;
  std::array<void*, HandlerArena::kBlocks> blocks{};
  const std::uint64_t heap_before = alloc::count();
  for (auto& b : blocks) b = arena.allocate(HandlerArena::kBlockBytes);
  EXPECT_EQ(alloc::count(), heap_before) << "blocks that fit never touch the heap";
  EXPECT_EQ(std::set<void*>(blocks.begin(), blocks.end()).size(), HandlerArena::kBlocks);
  EXPECT_EQ(arena.overflows(), 0u);

  const std::uint64_t heap_mid = alloc::count();
  void* extra = arena.allocate(8);  // every block taken
  EXPECT_EQ(alloc::count(), heap_mid + 1);
  EXPECT_EQ(arena.overflows(), 1u);
  arena.deallocate(extra);

  arena.deallocate(blocks[2]);
  EXPECT_EQ(arena.allocate(16), blocks[2]) << "a freed block is reused";
  EXPECT_EQ(arena.overflows(), 1u);

  for (void* b : blocks) arena.deallocate(b);
  void* big = arena.allocate(HandlerArena::kBlockBytes + 1);  // never fits a block
  EXPECT_EQ(arena.overflows(), 2u);
  arena.deallocate(big);
  EXPECT_EQ(arena.allocate(1), blocks[0]) << "all blocks free again";
  arena.deallocate(blocks[0]);
}

}  // namespace
}  // namespace bh
