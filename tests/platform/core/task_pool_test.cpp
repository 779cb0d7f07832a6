// The task pool: spawning is refused (and counted) when every slot is taken, cancel_all interrupts
// every wait, the listing names the live tasks; and the sealed zero-allocation proof of the whole
// task machinery (spawns, pool acquire/release, timer waits, Notify).
#include "platform/core/task_pool.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "platform/alloc/alloc.hpp"
#include "platform/core/task.hpp"
#include "tests/support/fake_clock.hpp"

namespace bh {
namespace {
using namespace std::chrono_literals;

Task<void> wait_long(int* done) {
  auto ec = co_await sleep_for(1h);
  *done = ec == errc::cancelled ? 2 : 1;
}

TEST(TaskPool, RefusedWhenFullAndCancelInterruptsWaits) {
  asio::io_context io(1);
  TaskPool<2> tasks("t_tasks_full", io);
  int d1 = 0, d2 = 0, d3 = 0;
  EXPECT_TRUE(tasks.spawn("a", [&] { return wait_long(&d1); }));
  EXPECT_TRUE(tasks.spawn("b", [&] { return wait_long(&d2); }));
  EXPECT_FALSE(tasks.spawn("c", [&] { return wait_long(&d3); }));  // N+1
  EXPECT_EQ(tasks.stats().refused, 1u);
  EXPECT_EQ(tasks.pool().stats().refusals, 1u);
  std::vector<std::string> names;
  tasks.for_each_task([](const TaskSlot& s, void* v) { static_cast<std::vector<std::string>*>(v)->push_back(s.name); },
                      &names);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));
  tasks.cancel_all();
  test::run_virtual(io);  // sleeps and deadlines on virtual time
  EXPECT_EQ(d1, 2);
  EXPECT_EQ(d2, 2);
  EXPECT_EQ(d3, 0);
  EXPECT_EQ(tasks.live(), 0u);
}

struct Conn {
  int id;
  explicit Conn(int i) : id(i) {}
};
using ConnPool = Pool<Conn, 1>;

Task<void> cycle(ConnPool* pool, Notify* n, int* count) {
  auto lease = pool->try_acquire(1);
  co_await sleep_for(0ms);
  n->notify();
  co_await n->wait(1s);
  ++*count;
}

// The seal proof: after warm-up, 100 000 cycles of pool acquire/release, task spawns and timer
// waits allocate nothing from the heap.
TEST(TaskPool, SealedRuntimeAllocatesNothing) {
  asio::io_context io(1);
  TaskPool<4> tasks("t_tasks_seal", io);
  ConnPool pool("t_conn_seal");
  Notify note;
  int count = 0;
  auto run_cycles = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(tasks.spawn("cycle", [&] { return cycle(&pool, &note, &count); }));
      io.restart();
      test::run_virtual(io);  // sleeps and deadlines on virtual time
    }
  };
  run_cycles(100);  // warm-up: Asio's timer heap and scheduler reach their working size
  alloc::seal();
  std::uint64_t before = alloc::count();
  run_cycles(100000);
  std::uint64_t after = alloc::count();
  EXPECT_EQ(alloc::since_seal(), after - before);
  alloc::unseal();
  EXPECT_EQ(after - before, 0u) << "heap allocations after seal";
  EXPECT_EQ(count, 100100);
  EXPECT_EQ(pool.in_use(), 0u);
  EXPECT_EQ(tasks.live(), 0u);
}

}  // namespace
}  // namespace bh
