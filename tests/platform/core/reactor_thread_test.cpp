// on_reactor_thread(): the main thread by default, the thread running a Reactor or holding a
// ReactorThreadScope otherwise, never a worker; reactor-only APIs abort when called elsewhere.
#include "platform/core/reactor_thread.hpp"

#include <gtest/gtest.h>

#include <asio/post.hpp>

#include <atomic>
#include <thread>

#include "platform/core/pool.hpp"
#include "platform/core/reactor.hpp"
#include "platform/store/store.hpp"
#include "tests/support/census.hpp"
#include "tests/support/death_test.hpp"

namespace bh {
namespace {

// Runs f on a fresh thread and returns what it returned.
template <typename F>
auto on_other_thread(F f) {
  decltype(f()) r{};
  std::thread t([&] { r = f(); });
  t.join();
  return r;
}

TEST(ReactorThread, MainThreadByDefaultNeverAWorker) {
  EXPECT_TRUE(on_reactor_thread());
  EXPECT_FALSE(on_other_thread([] { return on_reactor_thread(); }));
}

TEST(ReactorThread, ScopeMovesItAndGivesItBack) {
  for (int round = 0; round < 2; ++round) {  // a second scope after the first ended works alike
    bool inside = false;
    std::thread t([&] {
      ReactorThreadScope scope;
      inside = on_reactor_thread();
    });
    t.join();
    EXPECT_TRUE(inside);
    EXPECT_TRUE(on_reactor_thread());  // the scope ended: the main thread again
  }
}

TEST(ReactorThread, TheMainThreadIsNotItWhileAnotherHoldsIt) {
  std::atomic<int> step{0};
  bool main_is = true;
  std::thread t([&] {
    ReactorThreadScope scope;
    step = 1;
    while (step.load() != 2) std::this_thread::yield();
  });
  while (step.load() != 1) std::this_thread::yield();
  main_is = on_reactor_thread();
  step = 2;
  t.join();
  EXPECT_FALSE(main_is);
  EXPECT_TRUE(on_reactor_thread());
}

TEST(ReactorThread, ReactorRunMakesItsThreadTheReactorThread) {
  test::CensusGuard census;
  bool in_run = false;
  std::thread t([&] {
    Reactor r;
    asio::post(r.io(), [&] {
      in_run = on_reactor_thread();
      r.io().stop();
    });
    r.run();
  });
  t.join();
  EXPECT_TRUE(in_run);
  EXPECT_TRUE(on_reactor_thread());
}

class ReactorThreadDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { test::set_death_test_style(); }
};

struct Obj {
  int v = 0;
};

TEST_F(ReactorThreadDeathTest, PoolAcquireFromAWorkerAborts) {
  Pool<Obj, 2> pool("t_reactor_thread");
  EXPECT_DEATH(on_other_thread([&] { return static_cast<bool>(pool.try_acquire()); }),
               "assertion failed: .*pool\\.hpp:[0-9]+: on_reactor_thread\\(\\)");
  // The same call on the reactor thread is served.
  EXPECT_TRUE(pool.try_acquire());
}

TEST_F(ReactorThreadDeathTest, StoreCallFromAWorkerAborts) {
  Store store;  // not even open: the thread check comes first
  EXPECT_DEATH(on_other_thread([&] { return store.request_sync(); }),
               "assertion failed: .*store\\.cpp:[0-9]+: on_reactor_thread\\(\\)");
  std::uint64_t n = 0;
  EXPECT_EQ(store.mark_replay(0, n), make_error_code(StoreErrc::not_open));
}

}  // namespace
}  // namespace bh
