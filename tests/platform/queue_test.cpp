// BoundedQueue: both overflow policies at N-1, N, N+1, counters, FIFO order.
#include "platform/queue.hpp"

#include <gtest/gtest.h>

namespace bh {
namespace {

TEST(Queue, RejectPolicyRefusesAndCounts) {
  BoundedQueue<int, 3> q("t_q_reject");
  EXPECT_EQ(q.push(1), PushResult::ok);
  EXPECT_EQ(q.push(2), PushResult::ok);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.push(3), PushResult::ok);
  EXPECT_EQ(q.push(4), PushResult::rejected);
  EXPECT_EQ(q.stats().rejected, 1u);
  EXPECT_EQ(q.stats().dropped, 0u);
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(*q.pop(), 1);
  EXPECT_EQ(*q.pop(), 2);
  EXPECT_EQ(*q.pop(), 3);
  EXPECT_FALSE(q.pop());
  EXPECT_EQ(q.stats().pushed, 3u);
  EXPECT_EQ(q.stats().popped, 3u);
  EXPECT_EQ(q.stats().high_water, 3u);
}

TEST(Queue, DropOldestKeepsTheNewest) {
  BoundedQueue<int, 3> q("t_q_drop", QueueOverflow::drop_oldest);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(q.push(i), PushResult::ok);
  EXPECT_EQ(q.push(4), PushResult::dropped_oldest);
  EXPECT_EQ(q.push(5), PushResult::dropped_oldest);
  EXPECT_EQ(q.stats().dropped, 2u);
  EXPECT_EQ(q.stats().rejected, 0u);
  EXPECT_EQ(*q.pop(), 3);
  EXPECT_EQ(*q.pop(), 4);
  EXPECT_EQ(*q.pop(), 5);
  EXPECT_TRUE(q.empty());
}

TEST(Queue, WrapsAroundManyTimes) {
  BoundedQueue<int, 4> q("t_q_wrap");
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 1000; ++round) {
    while (q.push(next_in) == PushResult::ok) ++next_in;
    for (int k = 0; k < 3; ++k) EXPECT_EQ(*q.pop(), next_out++);
  }
  EXPECT_LE(q.size(), 4u);
}

TEST(Queue, RegistryListsQueues) {
  BoundedQueue<int, 2> q("t_q_reg");
  bool found = false;
  for (QueueBase* b = QueueBase::first(); b; b = b->next())
    if (b->stats().name == "t_q_reg") found = true;
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace bh
