// Tasks: spawn through the pool, nested frames on the slot arena, sleeps, timed operations,
// FIFO pool waiters with deadlines, cancellation, and the sealed zero-allocation proof. Sleeps and
// deadlines run on virtual time (test::run_virtual): nothing waits for real time to pass.
#include "platform/core/task.hpp"

#include <gtest/gtest.h>

#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <string>
#include <vector>

#include "platform/alloc/alloc.hpp"
#include "tests/support/census.hpp"
#include "tests/support/fake_clock.hpp"

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
  test::run_virtual(io);  // sleeps and deadlines on virtual time
  EXPECT_EQ(result, 7);
  EXPECT_EQ(tasks.live(), 0u);
  EXPECT_EQ(tasks.stats().spawned, 1u);
  EXPECT_EQ(tasks.stats().completed, 1u);
  EXPECT_GT(tasks.stats().arena_high, 0u);
}

Task<void> wait_long(int* done) {
  auto ec = co_await sleep_for(1h);
  *done = ec == errc::cancelled ? 2 : 1;
}

TEST(Task, RefusedWhenFullAndCancelInterruptsWaits) {
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
  io.run();
  EXPECT_EQ(d1, 2);
  EXPECT_EQ(d2, 2);
  EXPECT_EQ(d3, 0);
  EXPECT_EQ(tasks.live(), 0u);
}

Task<void> thrower() {
  co_await sleep_for(1ms);
  throw std::runtime_error("boom");
}

TEST(Task, EscapingExceptionIsCountedAndFreesTheSlot) {
  asio::io_context io(1);
  TaskPool<1> tasks("t_tasks_throw", io);
  ASSERT_TRUE(tasks.spawn("thrower", [] { return thrower(); }));
  test::run_virtual(io);  // sleeps and deadlines on virtual time
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

Task<void> read_with_deadline(asio::ip::tcp::socket* s, std::error_code* out) {
  char buf[16];
  auto [ec, n] = co_await timed_op(
      20ms, [&](auto h) { s->async_read_some(asio::buffer(buf), std::move(h)); }, [&] { s->cancel(); });
  (void)n;
  *out = ec;
}

TEST(Task, TimedOperationTimesOut) {
  test::CensusGuard census;
  asio::io_context io(1);
  TaskPool<2> tasks("t_tasks_timed", io);
  asio::ip::tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket client(io), server(io);
  client.connect(acc.local_endpoint());
  acc.accept(server);
  std::error_code ec;
  ASSERT_TRUE(tasks.spawn("reader", [&] { return read_with_deadline(&server, &ec); }));
  test::run_virtual(io);  // sleeps and deadlines on virtual time
  EXPECT_EQ(ec, errc::timeout);
  // And the same read completes normally when data arrives in time.
  io.restart();
  asio::write(client, asio::buffer("x", 1));
  ASSERT_TRUE(tasks.spawn("reader", [&] { return read_with_deadline(&server, &ec); }));
  test::run_virtual(io);  // sleeps and deadlines on virtual time
  EXPECT_FALSE(ec) << ec.message();
}

struct Conn {
  int id;
  explicit Conn(int i) : id(i) {}
};
using ConnPool = Pool<Conn, 1>;

Task<void> take_and_hold(ConnPool* pool, std::vector<std::string>* log, const char* who, Clock::duration wait,
                         Clock::duration hold) {
  auto [ec, lease] = co_await acquire(*pool, wait, 42);
  if (ec) {
    log->push_back(std::string(who) + ":" + ec.message());
    co_return;
  }
  log->push_back(std::string(who) + ":got");
  co_await sleep_for(hold);
}

TEST(Task, PoolWaitersAreServedFifoWithDeadlines) {
  asio::io_context io(1);
  TaskPool<8> tasks("t_tasks_fifo", io);
  ConnPool pool("t_conn_fifo");
  std::vector<std::string> log;
  tasks.spawn("holder", [&] { return take_and_hold(&pool, &log, "holder", 0ms, 30ms); });
  tasks.spawn("w1", [&] { return take_and_hold(&pool, &log, "w1", 1s, 10ms); });
  tasks.spawn("w2", [&] { return take_and_hold(&pool, &log, "w2", 1s, 1ms); });
  tasks.spawn("late", [&] { return take_and_hold(&pool, &log, "late", 5ms, 1ms); });  // times out
  tasks.spawn("now", [&] { return take_and_hold(&pool, &log, "now", 0ms, 1ms); });   // refused
  EXPECT_EQ(pool.stats().waiting, 3u);
  test::run_virtual(io);  // sleeps and deadlines on virtual time
  EXPECT_EQ(log, (std::vector<std::string>{"holder:got", "now:pool_exhausted", "late:timeout", "w1:got", "w2:got"}));
  auto s = pool.stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.waits, 3u);
  EXPECT_EQ(s.wait_timeouts, 1u);
  EXPECT_EQ(s.refusals, 1u);
  EXPECT_EQ(s.acquisitions, 3u);
  EXPECT_EQ(s.waiting, 0u);
  EXPECT_EQ(tasks.live(), 0u);
}

TEST(Task, CancelledWaiterLeavesThePoolClean) {
  asio::io_context io(1);
  TaskPool<4> tasks("t_tasks_cwait", io);
  ConnPool pool("t_conn_cwait");
  std::vector<std::string> log;
  tasks.spawn("holder", [&] { return take_and_hold(&pool, &log, "holder", 0ms, 1h); });
  tasks.spawn("waiter", [&] { return take_and_hold(&pool, &log, "waiter", 1h, 1ms); });
  io.poll();
  tasks.cancel_all();
  io.run();
  EXPECT_EQ(log, (std::vector<std::string>{"holder:got", "waiter:cancelled"}));
  EXPECT_EQ(pool.stats().in_use, 0u);
  EXPECT_EQ(pool.stats().waiting, 0u);
}

Task<void> cycle(ConnPool* pool, Notify* n, int* count) {
  auto lease = pool->try_acquire(1);
  co_await sleep_for(0ms);
  n->notify();
  co_await n->wait(1s);
  ++*count;
}

// The seal proof: after warm-up, 100 000 cycles of pool acquire/release, task spawns and timer
// waits allocate nothing from the heap.
TEST(Task, SealedRuntimeAllocatesNothing) {
  asio::io_context io(1);
  TaskPool<4> tasks("t_tasks_seal", io);
  ConnPool pool("t_conn_seal");
  Notify note;
  int count = 0;
  auto run_cycles = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(tasks.spawn("cycle", [&] { return cycle(&pool, &note, &count); }));
      io.restart();
      io.run();
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
