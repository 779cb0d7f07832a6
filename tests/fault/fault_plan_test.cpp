// The deterministic fault plan (platform/util/fault.hpp, env BH_TEST_FAULTS in test-hook builds) against
// the real binary: the Nth SQLite step, SQLite sync, ingest read or write, audit open or write
// fails, exactly once or for a range. After each: nothing acked is lost, the process keeps
// serving, and it exits 0 with every pool at zero.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/fault/fault_support.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/test_sink.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;

// One event per round trip on `c`; the reply line.
std::string one(LineClient& c, int i) {
  if (!c.send("{\"i\":" + std::to_string(i) + "}\n")) return "send failed";
  auto l = c.read_line(slow(5000ms));
  return l ? *l : "no reply";
}

TEST(FaultPlan, BadPlansAreRefusedAtStart) {
  ScopedEnv env("BH_TEST_FAULTS", "frobnicate:1");
  Bulkhead b("", /*start_now=*/false);
  EXPECT_FALSE(b.start());
  EXPECT_NE(b.log().find("unknown operation 'frobnicate'"), std::string::npos) << b.log();
}

TEST(FaultPlan, SqliteStepFailuresAnswerStorageAndTheNextBatchCommits) {
  // Each one-event batch takes one step (its insert; next_seq is not rewritten by appends): calls
  // 2-3 are the second and the third batch's inserts.
  ScopedEnv env("BH_TEST_FAULTS", "sqlite_step:2-3");
  Bulkhead b;
  wait_armed(b);
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  const std::string r1 = one(c, 1), r2 = one(c, 2), r3 = one(c, 3), r4 = one(c, 4);
  EXPECT_EQ(r1.rfind("ok ", 0), 0u) << r1;
  EXPECT_EQ(r2.rfind("err storage", 0), 0u) << r2;
  EXPECT_EQ(r3.rfind("err storage", 0), 0u) << r3;
  ASSERT_EQ(r4.rfind("ok ", 0), 0u) << r4;
  // Refused batches used no seq: the next ok follows the first.
  EXPECT_EQ(std::stoull(r4.substr(3)), std::stoull(r1.substr(3)) + 1);
  c.close();
  expect_clean_exit(b);
  EXPECT_EQ(stored_seqs(b.db_path()), (std::set<std::uint64_t>{std::stoull(r1.substr(3)), std::stoull(r4.substr(3))}));
}

TEST(FaultPlan, AFailedSyncFailsTheCommitAndLosesNothingAcked) {
  ScopedEnv env("BH_TEST_FAULTS", "fsync:2");
  Bulkhead b;
  wait_armed(b);
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  std::vector<std::string> replies;
  for (int i = 0; i < 6; ++i) replies.push_back(one(c, i));
  std::set<std::uint64_t> acked;
  int storage = 0;
  for (auto& r : replies) {
    if (r.rfind("ok ", 0) == 0) acked.insert(std::stoull(r.substr(3)));
    else if (r.rfind("err storage", 0) == 0) ++storage;
    else ADD_FAILURE() << r;
  }
  EXPECT_EQ(storage, 1) << "exactly the commit whose sync failed";
  EXPECT_EQ(acked.size(), 5u);
  c.close();
  expect_clean_exit(b);
  auto stored = stored_seqs(b.db_path());
  for (auto s : acked) EXPECT_TRUE(stored.count(s)) << "acked seq " << s << " lost";
  // The WAL syncer's fdatasync is the one that failed: the un-acked commit was undone.
  EXPECT_NE(b.log().find("WAL sync failed: 1 un-acked event(s) answered err storage and removed"), std::string::npos)
      << b.log();
}

TEST(FaultPlan, FailedSocketReadsAndWritesCloseOnlyThatConnection) {
  // write:2 — the second reply write; read:4 — a later read.
  ScopedEnv env("BH_TEST_FAULTS", "write:2,read:4");
  Bulkhead b;
  wait_armed(b);
  LineClient a;
  ASSERT_TRUE(a.connect(b.ingest_port()));
  EXPECT_EQ(one(a, 1).rfind("ok ", 0), 0u);
  // The second round is committed but its reply write "fails": the connection closes unanswered.
  ASSERT_TRUE(a.send("{\"i\":2}\n"));
  EXPECT_TRUE(a.wait_closed(slow(5000ms)));
  // Other connections are unaffected (one of their reads is the 4th and closes it: retry once).
  int ok = 0;
  for (int attempt = 0; attempt < 3 && ok < 5; ++attempt) {
    LineClient c;
    ASSERT_TRUE(c.connect(b.ingest_port()));
    for (int i = 0; i < 5 && ok < 5; ++i) {  // five acks in all, over however many connections
      std::string r = one(c, i);
      if (r.rfind("ok ", 0) != 0) break;
      ++ok;
    }
  }
  EXPECT_EQ(ok, 5) << b.log();
  expect_clean_exit(b);
}

TEST(FaultPlan, FailedSinkConnectsAreRetriedAndNothingIsLost) {
  ScopedEnv env("BH_TEST_FAULTS", "connect:1-3");
  TestSink sink([](std::size_t, const SinkRequest&) { return SinkAnswer{200}; });
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() +
             "\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n");
  wait_armed(b);
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  std::vector<std::uint64_t> acked;
  for (int i = 0; i < 5; ++i) {
    std::string r = one(c, i);
    ASSERT_EQ(r.rfind("ok ", 0), 0u) << r;
    acked.push_back(std::stoull(r.substr(3)));
  }
  ASSERT_TRUE(sink.wait_delivered(5, slow(15000ms))) << b.log();
  EXPECT_EQ(sink.delivered_seqs(), acked);
  c.close();
  const std::string answer = console_until(b, "sinks", "timeouts");
  EXPECT_NE(answer.find("connect 0/4 (0.0%)"), std::string::npos) << "3 refused + 1 good connect, none timed out\n"
                                                                  << answer;
  expect_clean_exit(b);
}

TEST(FaultPlan, AuditWriteAndOpenFailuresAreCountedAndEventsStillAcked) {
  // The audit log is written once per commit: writes 2-3 fail (lines lost, counted), then an open
  // (the reopen after the failure) fails once too, and the log recovers.
  ScopedEnv env("BH_TEST_FAULTS", "audit_write:2-3,open:1");
  Bulkhead b;
  wait_armed(b);
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(one(c, i).rfind("ok ", 0), 0u) << "audit failures must not refuse events";
  c.close();
  const std::string answer = console_until(b, "store", "audit");
  // Two lines lost to the failed writes (each closes the file), one to the failed reopen; the
  // five others are written.
  EXPECT_NE(answer.find("5 line(s) written, 3 lost"), std::string::npos) << answer;
  expect_clean_exit(b);
  EXPECT_NE(b.log().find("audit: write"), std::string::npos) << b.log();
}

}  // namespace
}  // namespace bh::test
