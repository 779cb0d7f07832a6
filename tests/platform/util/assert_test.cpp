// BH_ASSERT / BH_ASSERT_MSG: on in the build the tests use (Release, NDEBUG), they name the file,
// the line, the condition and the message, and they abort; a true condition costs nothing visible
// (evaluated once, no output); registered secrets are scrubbed from the message. Also the pool's invariants that used to be debug-only asserts.
#include "platform/util/assert.hpp"

#include <gtest/gtest.h>

#include <cassert>

#include "platform/core/pool.hpp"
#include "platform/util/redact.hpp"
#include "tests/support/death_test.hpp"

namespace bh {
namespace {

class AssertDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { test::set_death_test_style(); }
};

TEST_F(AssertDeathTest, FiresInThisBuildWhereTheStandardAssertVanishes) {
#ifdef NDEBUG
  int evaluated = 0;
  assert(++evaluated == 42);  // compiled out: NDEBUG is set, as in every Release build
  EXPECT_EQ(evaluated, 0);
#endif
  EXPECT_DEATH(BH_ASSERT(1 + 1 == 3), "bulkhead: assertion failed: .*assert_test\\.cpp:[0-9]+: 1 \\+ 1 == 3");
}

TEST_F(AssertDeathTest, AbortsRatherThanExiting) {
  EXPECT_EXIT(BH_ASSERT(false), ::testing::KilledBySignal(SIGABRT), "assertion failed");
}

TEST_F(AssertDeathTest, MessageIsFormatted) {
  const int n = 7, cap = 4;
  EXPECT_DEATH(BH_ASSERT_MSG(n <= cap, "{} rows for {} slots", n, cap), "n <= cap: 7 rows for 4 slots");
  EXPECT_DEATH(BH_ASSERT_MSG(n == cap, "plain"), "n == cap: plain");
}

// Crash output is an output: a registered secret in the message leaves as "***", as in log lines.
TEST_F(AssertDeathTest, MessageHasRegisteredSecretsScrubbed) {
  EXPECT_DEATH(
      {
        redact::add("assert-secret-5c1e9a");  // in the dying child only
        const std::string_view url = "https://h/bot/assert-secret-5c1e9a/send";
        BH_ASSERT_MSG(url.empty(), "bad url {}", url);
      },
      "url.empty\\(\\): bad url https://h/bot/\\*\\*\\*/send");
}

TEST(Assert, TrueConditionIsEvaluatedOnceAndSilent) {
  int calls = 0;
  auto once = [&] { return ++calls == 1; };
  testing::internal::CaptureStderr();
  BH_ASSERT(once());
  BH_ASSERT_MSG(calls == 1, "calls {}", calls);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(calls, 1);
}

struct Obj {
  int v = 0;
};

TEST_F(AssertDeathTest, PoolUseOfAnEmptyLeaseAborts) {
  using OnePool = Pool<Obj, 1>;
  OnePool pool("t_assert_empty");
  EXPECT_DEATH(
      {
        OnePool::Lease empty;
        (void)empty->v;
      },
      "use of an empty lease");
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST_F(AssertDeathTest, PoolGrantOfALiveSlotAborts) {
  Pool<Obj, 1> pool("t_assert_grant");
  EXPECT_DEATH(
      {
        auto a = pool.try_acquire();
        pool.return_granted(a.index());  // a live slot was never granted
      },
      "pool 't_assert_grant': slot 0 was not granted");
}

}  // namespace
}  // namespace bh
