// The awaiters: a timed operation times out (and completes when data comes in time), pool waiters
// are served FIFO with deadlines, a cancelled waiter leaves the pool clean.
#include "platform/core/awaiters.hpp"

#include <gtest/gtest.h>

#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <string>
#include <vector>

#include "platform/core/task.hpp"
#include "tests/support/census.hpp"
#include "tests/support/fake_clock.hpp"

namespace bh {
namespace {
using namespace std::chrono_literals;

Task<void> read_with_deadline(asio::ip::tcp::socket* s, std::error_code* out) {
  char buf[16];
  auto [ec, n] = co_await timed_op(
      20ms, [&](auto h) { s->async_read_some(asio::buffer(buf), std::move(h)); }, [&] { s->cancel(); });
  (void)n;
  *out = ec;
}

TEST(Awaiters, TimedOperationTimesOut) {
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

TEST(Awaiters, PoolWaitersAreServedFifoWithDeadlines) {
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

TEST(Awaiters, CancelledWaiterLeavesThePoolClean) {
  asio::io_context io(1);
  TaskPool<4> tasks("t_tasks_cwait", io);
  ConnPool pool("t_conn_cwait");
  std::vector<std::string> log;
  tasks.spawn("holder", [&] { return take_and_hold(&pool, &log, "holder", 0ms, 1h); });
  tasks.spawn("waiter", [&] { return take_and_hold(&pool, &log, "waiter", 1h, 1ms); });
  io.poll();
  tasks.cancel_all();
  test::run_virtual(io);  // sleeps and deadlines on virtual time
  EXPECT_EQ(log, (std::vector<std::string>{"holder:got", "waiter:cancelled"}));
  EXPECT_EQ(pool.stats().in_use, 0u);
  EXPECT_EQ(pool.stats().waiting, 0u);
}

}  // namespace
}  // namespace bh
