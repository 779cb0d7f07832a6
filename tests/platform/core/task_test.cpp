// The task type: nested coroutines run with their frames on the slot arena, an escaping exception
// is counted and frees the slot, a frame too big for the arena is refused.
#include "platform/core/task_type.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "platform/core/task.hpp"
#include "tests/support/census.hpp"

namespace bh {
namespace {
using namespace std::chrono_literals;

Task<int> add_later(int a, int b) {
  co_await sleep_for(1ms);
  co_return a + b;
}

Task<void> sum_task(int* out) {
  int x = co_await add_later(1, 2);
  int y = co_await add_later(x, 4);
  *out = y;
}

TEST(Task, SpawnRunsNestedCoroutinesOnTheSlotArena) {
  test::CensusGuard census;
  asio::io_context io(1);
  TaskPool<4> tasks("t_tasks_nested", io);
  int result = 0;
  ASSERT_TRUE(tasks.spawn("sum", [&] { return sum_task(&result); }));
  EXPECT_EQ(tasks.live(), 1u);
  io.run();
  EXPECT_EQ(result, 7);
  EXPECT_EQ(tasks.live(), 0u);
  EXPECT_EQ(tasks.stats().spawned, 1u);
  EXPECT_EQ(tasks.stats().completed, 1u);
  EXPECT_GT(tasks.stats().arena_high, 0u);
}

Task<void> thrower() {
  co_await sleep_for(1ms);
  throw std::runtime_error("boom");
}

TEST(Task, EscapingExceptionIsCountedAndFreesTheSlot) {
  asio::io_context io(1);
  TaskPool<1> tasks("t_tasks_throw", io);
  ASSERT_TRUE(tasks.spawn("thrower", [] { return thrower(); }));
  io.run();
  EXPECT_EQ(tasks.stats().escaped, 1u);
  EXPECT_EQ(tasks.live(), 0u);
}

struct Big {
  char data[TaskSlot::kArenaBytes];
};
Task<void> huge_frame() {
  volatile Big b{};
  co_await sleep_for(1ms);
  (void)b;
}

TEST(Task, FrameTooBigForTheArenaIsRefused) {
  asio::io_context io(1);
  TaskPool<1> tasks("t_tasks_big", io);
  EXPECT_FALSE(tasks.spawn("huge", [] { return huge_frame(); }));
  EXPECT_EQ(tasks.stats().frame_refused, 1u);
  EXPECT_EQ(tasks.live(), 0u);
}

}  // namespace
}  // namespace bh
