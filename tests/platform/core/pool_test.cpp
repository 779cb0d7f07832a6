// Pool<T, N>: capacity at N-1, N, N+1 with counters checked after each step, lease moves,
// generation checks, limits, the leak report, and randomized invariants.
#include "platform/core/pool.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/support/census.hpp"

namespace bh {
namespace {

struct Obj {
  static inline int live = 0;
  int v;
  explicit Obj(int x = 0) : v(x) { ++live; }
  ~Obj() { --live; }
};

TEST(Pool, CapacityBoundariesAndCounters) {
  test::CensusGuard census;
  Pool<Obj, 3> pool("t_cap");
  auto a = pool.try_acquire(1);
  auto b = pool.try_acquire(2);
  EXPECT_EQ(pool.stats().in_use, 2u);  // N-1
  EXPECT_EQ(pool.stats().saturations, 0u);
  auto c = pool.try_acquire(3);  // N
  ASSERT_TRUE(c);
  EXPECT_EQ(pool.stats().in_use, 3u);
  EXPECT_EQ(pool.stats().saturations, 1u);
  auto d = pool.try_acquire(4);  // N+1
  EXPECT_FALSE(d);
  auto s = pool.stats();
  EXPECT_EQ(s.in_use, 3u);
  EXPECT_EQ(s.refusals, 1u);
  EXPECT_EQ(s.acquisitions, 3u);
  EXPECT_EQ(s.high_water, 3u);
  EXPECT_EQ(Obj::live, 3);
  b.reset();
  EXPECT_EQ(Obj::live, 2);
  EXPECT_EQ(pool.stats().in_use, 2u);
  EXPECT_EQ(pool.stats().high_water, 3u);
  auto e = pool.try_acquire(5);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->v, 5);
}

TEST(Pool, LeaseMoveSemantics) {
  Pool<Obj, 2> pool("t_move");
  auto a = pool.try_acquire(7);
  auto b = std::move(a);
  EXPECT_FALSE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->v, 7);
  EXPECT_EQ(pool.in_use(), 1u);
  decltype(b) c;
  c = std::move(b);
  EXPECT_EQ(pool.in_use(), 1u);
  auto d = pool.try_acquire(8);
  c = std::move(d);  // the old object in c is released
  EXPECT_EQ(pool.in_use(), 1u);
  EXPECT_EQ(c->v, 8);
  EXPECT_EQ(Obj::live, 1);
}

TEST(Pool, HandleCannotBeUsedAfterRelease) {
  Pool<Obj, 1> pool("t_gen");
  auto a = pool.try_acquire(1);
  SlotHandle h = a.handle();
  ASSERT_NE(pool.resolve(h), nullptr);
  a.reset();
  EXPECT_EQ(pool.resolve(h), nullptr);
  auto b = pool.try_acquire(2);  // same slot reused
  EXPECT_EQ(b.index(), h.index);
  EXPECT_EQ(pool.resolve(h), nullptr) << "a stale handle must not reach the new occupant";
  EXPECT_NE(pool.resolve(b.handle()), nullptr);
  EXPECT_EQ(pool.resolve(SlotHandle{}), nullptr);
}

TEST(Pool, LimitIsLoweredNeverRaisedAboveCapacity) {
  Pool<Obj, 4> pool("t_limit");
  EXPECT_FALSE(pool.set_limit(5));
  EXPECT_FALSE(pool.set_limit(0));
  EXPECT_TRUE(pool.set_limit(2));
  auto a = pool.try_acquire();
  auto b = pool.try_acquire();
  auto c = pool.try_acquire();
  EXPECT_TRUE(a && b);
  EXPECT_FALSE(c);
  EXPECT_EQ(pool.stats().refusals, 1u);
  EXPECT_EQ(pool.stats().limit, 2u);
}

TEST(Pool, RegistryListsEveryPoolByName) {
  Pool<Obj, 2> p1("t_reg_one");
  {
    Pool<int, 3> p2("t_reg_two");
    EXPECT_EQ(PoolBase::find("t_reg_two"), &p2);
    EXPECT_EQ(PoolBase::find("t_reg_two")->capacity(), 3u);
  }
  EXPECT_EQ(PoolBase::find("t_reg_two"), nullptr);
  EXPECT_EQ(PoolBase::find("t_reg_one"), &p1);
  int n = 0;
  for (PoolBase* p = PoolBase::first(); p; p = p->next()) ++n;
  EXPECT_GE(n, 1);
}

std::string g_leaked_name;
std::uint32_t g_leaked_count = 0;

TEST(Pool, DestroyedWithLeaseOutstandingIsReportedByName) {
  PoolBase::set_leak_handler([](std::string_view name, std::uint32_t n) {
    g_leaked_name = std::string(name);
    g_leaked_count = n;
  });
  {
    Pool<int, 2> pool("t_leaky");
    auto a = pool.try_acquire(1);
    a.leak();
  }
  PoolBase::set_leak_handler(nullptr);
  EXPECT_EQ(g_leaked_name, "t_leaky");
  EXPECT_EQ(g_leaked_count, 1u);
}

TEST(Pool, RandomizedInvariants) {
  Pool<Obj, 16> pool("t_random");
  std::mt19937 rng(12345);
  std::vector<Pool<Obj, 16>::Lease> held;
  std::uint32_t true_max = 0;
  std::uint64_t ok = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    if (rng() % 2 == 0) {
      auto l = pool.try_acquire(i);
      if (l) {
        ++ok;
        held.push_back(std::move(l));
      } else {
        ++refused;
        EXPECT_EQ(held.size(), 16u);
      }
    } else if (!held.empty()) {
      std::size_t k = rng() % held.size();
      std::swap(held[k], held.back());
      held.pop_back();
    }
    auto s = pool.stats();
    ASSERT_LE(s.in_use, s.capacity);
    ASSERT_EQ(s.in_use, held.size());
    true_max = std::max<std::uint32_t>(true_max, s.in_use);
    ASSERT_EQ(s.high_water, true_max);
    ASSERT_EQ(s.acquisitions, ok);
    ASSERT_EQ(s.refusals, refused);
    ASSERT_EQ(static_cast<std::size_t>(Obj::live), held.size());
  }
  held.clear();
  EXPECT_EQ(pool.in_use(), 0u);
  pool.reset_high_water();
  EXPECT_EQ(pool.stats().high_water, 0u);
}

}  // namespace
}  // namespace bh
