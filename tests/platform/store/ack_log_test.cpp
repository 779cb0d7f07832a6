// The ack log (store.ack_log, platform/store/ack_log.hpp): small batches are acked once their
// record in the log is synced, one 4 KiB block each, while their rows wait in a held SQLite
// transaction; a process killed before that transaction commits loses nothing acked (the next open
// replays the log); big batches are committed as before; a failed log sync falls back to WAL syncs
// and its records never come back.
#include "platform/store/ack_log.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "platform/store/store.hpp"
#include "tests/support/census.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fault_plan.hpp"

namespace bh {
namespace {

using namespace std::chrono_literals;

StoreOptions logged_opts(const test::TempDir& dir, bool ack_log = true) {
  StoreOptions o;
  o.path = dir.file("store.db");
  o.sync_full = true;
  o.sync_thread = true;
  o.checkpoint_thread = true;
  o.ack_log = ack_log;
  o.busy_timeout_ms = 200;
  return o;
}

// Appends one batch of n events (body `body`) and waits until it is durable; returns its first seq.
std::uint64_t append_durable(Store& s, std::size_t n, std::string_view body = "{\"k\":1}") {
  std::vector<EventIn> ev(n, EventIn{"src", body, 1000});
  std::vector<std::uint64_t> seqs(n);
  if (auto ec = s.append(ev, seqs)) {
    ADD_FAILURE() << ec.message();
    return 0;
  }
  const std::uint64_t t = s.request_sync();
  EXPECT_TRUE(s.wait_sync(10s));
  EXPECT_GE(s.collect_sync().durable_ticket, t);
  return seqs[0];
}

// Events another connection sees: what SQLite has committed (the held transaction's are not).
std::int64_t committed_rows(const std::string& path) {
  sqlite3* db = nullptr;
  std::int64_t n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM events", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

TEST(AckLog, ASmallBatchIsOneBlockAndItsRowsAreHeldUntilTheSettle) {
  test::CensusGuard census;  // the log's fd and the syncer's are closed with the store
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(logged_opts(dir)));
  ASSERT_TRUE(s.stats().ack_log);
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(append_durable(s, 1), std::uint64_t(i + 1));
  StoreStats st = s.stats();
  EXPECT_EQ(st.log.records, 3u);
  EXPECT_EQ(st.log.blocks, 3u) << "one 4 KiB block per small batch";
  EXPECT_TRUE(s.holding());
  EXPECT_EQ(s.durable_seq(), 3u);
  // The sinks read the held rows (same connection); another connection does not see them yet.
  std::uint32_t count = 0;
  ASSERT_FALSE(s.read_batch(k, 100, 1 << 20, [](const EventOut&) {}, count));
  EXPECT_EQ(count, 3u);
  EXPECT_EQ(committed_rows(dir.file("store.db")), 0);
  // A cursor's write joins the held transaction; any other write commits it first.
  ASSERT_FALSE(s.advance_cursor(k, 3));
  ASSERT_FALSE(s.persist_cursors());
  EXPECT_TRUE(s.holding());
  EXPECT_EQ(committed_rows(dir.file("store.db")), 0);
  int k2 = -1;
  ASSERT_FALSE(s.register_sink("k2", k2));
  EXPECT_FALSE(s.holding());
  EXPECT_FALSE(s.in_transaction());
  EXPECT_EQ(committed_rows(dir.file("store.db")), 3);
  EXPECT_EQ(s.stats().settles, 1u);
  // A batch above AckLog::kMaxRecord is committed at once, as without the log.
  const std::string body(3000, 'x');
  EXPECT_EQ(append_durable(s, 3, body), 4u);
  EXPECT_FALSE(s.holding());
  EXPECT_EQ(s.stats().log.records, 3u);
  EXPECT_EQ(committed_rows(dir.file("store.db")), 6);
  // A small batch after the hold's deadline commits the held ones first, then starts a new hold.
  EXPECT_EQ(append_durable(s, 1), 7u);
  EXPECT_TRUE(s.holding());
  asio::io_context io;
  test::advance(io, Store::kHoldMax);
  EXPECT_EQ(append_durable(s, 1), 8u);
  EXPECT_TRUE(s.holding());
  EXPECT_EQ(s.stats().settles, 2u);
  EXPECT_EQ(committed_rows(dir.file("store.db")), 7);
  s.close();
  EXPECT_EQ(committed_rows(dir.file("store.db")), 8) << "close commits the held transaction";
}

// Runs `body` in a child process that ends with _exit(0), as kill -9 would leave things: no
// destructor, no close, the held transaction never committed. Returns the child's exit status.
template <class F>
int in_child(F body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = -1;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(AckLog, AKilledProcessLosesNothingItAckedAndTheLogHalvesAreReused) {
  test::CensusGuard census;
  test::TempDir dir;
  // More single-event batches (of ~4 KiB each, so each starts a block) than a half holds: the log
  // moves to the other half (and the first half's events are committed and synced first), and the
  // crash comes while the second half holds the latest ones. Each event differs: key, identity, clock flag.
  constexpr std::uint64_t kBatches = AckLog::kHalfBytes / AckLog::kBlock + 100;
  const auto body_of = [](std::uint64_t seq) {
    return "{\"n\":" + std::to_string(seq) + ",\"p\":\"" + std::string(4000, 'x') + "\"}";
  };
  const int status = in_child([&] {
    Store s;
    if (s.open(logged_opts(dir))) ::_exit(3);
    for (std::uint64_t i = 0; i < kBatches; ++i) {
      const std::string body = body_of(i + 1);
      DedupeKey key;
      key.b[0] = static_cast<std::uint8_t>(i);
      EventIn e{"src", body, 1000 + static_cast<std::int64_t>(i), i % 2 ? &key : nullptr, i % 3 ? "" : "cn=a", i % 5 == 0};
      std::uint64_t seq = 0;
      if (s.append({&e, 1}, {&seq, 1}) || seq != i + 1) ::_exit(4);
      const std::uint64_t t = s.request_sync();
      if (!s.wait_sync(10s) || s.collect_sync().durable_ticket < t) ::_exit(5);
    }
    if (!s.holding() || s.stats().log.switches == 0) ::_exit(6);
    ::_exit(0);  // acked all, then gone like kill -9
  });
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  const std::int64_t before = committed_rows(dir.file("store.db"));
  EXPECT_LT(before, static_cast<std::int64_t>(kBatches)) << "the database alone lacks the held events";
  Store s;
  ASSERT_FALSE(s.open(logged_opts(dir)));
  EXPECT_EQ(s.last_seq(), kBatches);
  EXPECT_EQ(s.stats().log.replayed, kBatches - static_cast<std::uint64_t>(before));
  std::uint64_t seen = 0;
  std::uint32_t count = 0;
  ASSERT_FALSE(s.read_range(1, kBatches, [&](const EventOut& e) {
    ++seen;
    EXPECT_EQ(e.body, body_of(e.seq));
    EXPECT_EQ(e.ts_ms, 999 + static_cast<std::int64_t>(e.seq));
    EXPECT_EQ(e.identity, (e.seq - 1) % 3 ? "" : "cn=a");
    EXPECT_EQ(e.clock_unsynced, (e.seq - 1) % 5 == 0);
  }, count));
  EXPECT_EQ(seen, kBatches);
  EXPECT_EQ(s.dedupe_rows("src"), kBatches / 2);
  // What comes next continues the seqs, and a second restart replays nothing twice.
  EXPECT_EQ(append_durable(s, 1), kBatches + 1);
  s.close();
  Store again;
  ASSERT_FALSE(again.open(logged_opts(dir)));
  EXPECT_EQ(again.last_seq(), kBatches + 1);
  EXPECT_EQ(again.stats().log.replayed, 0u);
}

TEST(AckLog, ARecordThatWouldCrossABlockStartsAtTheNextOneAndIsReadThere) {
  test::CensusGuard census;
  test::TempDir dir;
  // Records of ~690 bytes: five fit in a block, the sixth would cross into the next one (two blocks
  // written by its fsync) and goes to the start of it instead; recovery finds it there.
  constexpr std::uint64_t kBatches = 40;
  const auto body_of = [](std::uint64_t seq) {
    return "{\"n\":" + std::to_string(seq) + ",\"p\":\"" + std::string(600, 'y') + "\"}";
  };
  const int status = in_child([&] {
    Store s;
    if (s.open(logged_opts(dir))) ::_exit(3);
    for (std::uint64_t i = 1; i <= kBatches; ++i)
      if (append_durable(s, 1, body_of(i)) != i) ::_exit(4);
    const AckLogStats st = s.stats().log;
    if (st.records != kBatches || st.blocks != kBatches) ::_exit(5);  // each record within one block
    ::_exit(0);
  });
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "5: a record was written across two blocks";
  Store s;
  ASSERT_FALSE(s.open(logged_opts(dir)));
  EXPECT_EQ(s.stats().log.replayed, kBatches);
  std::uint64_t seen = 0;
  std::uint32_t count = 0;
  ASSERT_FALSE(s.read_range(1, kBatches, [&](const EventOut& e) {
    EXPECT_EQ(e.seq, ++seen);
    EXPECT_EQ(e.body, body_of(e.seq));
  }, count));
  EXPECT_EQ(seen, kBatches);
}

TEST(AckLog, TurnedOffTheNextOpenStillReplaysTheLogThenRemovesIt) {
  test::CensusGuard census;
  test::TempDir dir;
  const int status = in_child([&] {
    Store s;
    if (s.open(logged_opts(dir))) ::_exit(3);
    for (int i = 0; i < 5; ++i)
      if (append_durable(s, 1) != std::uint64_t(i + 1)) ::_exit(4);
    ::_exit(0);
  });
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(committed_rows(dir.file("store.db")), 0);
  ASSERT_EQ(::access(dir.file("store.db-acklog").c_str(), F_OK), 0);
  Store s;
  ASSERT_FALSE(s.open(logged_opts(dir, false)));
  EXPECT_FALSE(s.stats().ack_log);
  EXPECT_EQ(s.last_seq(), 5u);
  EXPECT_EQ(committed_rows(dir.file("store.db")), 5);
  EXPECT_NE(::access(dir.file("store.db-acklog").c_str(), F_OK), 0) << "the log outlived its replay";
  EXPECT_EQ(append_durable(s, 1), 6u);
  EXPECT_FALSE(s.holding());
}

TEST(AckLog, AnExistingStoreTakesTheLogOnAndKeepsItsSeqsAndCursors) {
  test::CensusGuard census;
  test::TempDir dir;
  {
    Store s;
    ASSERT_FALSE(s.open(logged_opts(dir, false)));
    int k = -1;
    ASSERT_FALSE(s.register_sink("k", k));
    EXPECT_EQ(append_durable(s, 5), 1u);
    ASSERT_FALSE(s.advance_cursor(k, 2));
  }
  EXPECT_NE(::access(dir.file("store.db-acklog").c_str(), F_OK), 0);
  Store s;
  ASSERT_FALSE(s.open(logged_opts(dir)));
  EXPECT_TRUE(s.stats().ack_log);
  EXPECT_EQ(::access(dir.file("store.db-acklog").c_str(), F_OK), 0) << "created at open";
  EXPECT_EQ(s.last_seq(), 5u);
  EXPECT_EQ(s.cursor(s.find_sink("k")), 2u);
  EXPECT_EQ(append_durable(s, 1), 6u);
  EXPECT_TRUE(s.holding());
}

TEST(AckLog, AFailedLogSyncUndoesTheBatchFallsBackToWalSyncsAndForgetsTheRecord) {
  test::CensusGuard census;
  test::TempDir dir;
  {
    Store s;
    ASSERT_FALSE(s.open(logged_opts(dir)));
    EXPECT_EQ(append_durable(s, 1), 1u);
    {
      test::FaultPlan plan("fsync:1");  // the next fdatasync (the log's) fails
      std::vector<EventIn> ev(2, EventIn{"src", "{\"k\":2}", 1000});
      std::vector<std::uint64_t> seqs(2);
      ASSERT_FALSE(s.append(ev, seqs));
      const std::uint64_t t = s.request_sync();
      ASSERT_TRUE(s.wait_sync(10s));
      const Store::SyncProgress p = s.collect_sync();
      EXPECT_GE(p.failed_ticket, t);
    }
    EXPECT_EQ(s.last_seq(), 1u) << "the un-acked batch was undone";
    EXPECT_FALSE(s.stats().ack_log) << "the rest of the run syncs the WAL";
    EXPECT_EQ(append_durable(s, 1), 2u);
    EXPECT_FALSE(s.holding());
  }
  Store s;
  ASSERT_FALSE(s.open(logged_opts(dir)));
  EXPECT_EQ(s.last_seq(), 2u) << "the failed batch came back from the log";
  std::uint32_t count = 0;
  ASSERT_FALSE(s.read_range(2, 2, [](const EventOut& e) { EXPECT_EQ(e.body, "{\"k\":1}"); }, count));
  EXPECT_EQ(count, 1u);
}

TEST(AckLog, AFailedCommitOfTheHeldRowsLosesNoneOfThem) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(logged_opts(dir)));
  for (int i = 0; i < 4; ++i) append_durable(s, 1);
  ASSERT_TRUE(s.holding());
  {
    test::FaultPlan plan("sqlite_write:1-100000");  // a full disk: the COMMIT's WAL writes fail
    EXPECT_TRUE(s.settle());
    EXPECT_GE(s.stats().commit_errors, 1u);
  }
  // Whether SQLite kept the transaction or rolled it back (then the log gave the rows back), the
  // next settle commits all four, and the next open finds them without a replay.
  EXPECT_EQ(append_durable(s, 1), 5u);
  ASSERT_FALSE(s.settle());
  EXPECT_FALSE(s.holding());
  EXPECT_EQ(committed_rows(dir.file("store.db")), 5);
  std::uint32_t count = 0;
  ASSERT_FALSE(s.read_range(1, 5, [](const EventOut& e) { EXPECT_EQ(e.body, "{\"k\":1}"); }, count));
  EXPECT_EQ(count, 5u);
  s.close();
  Store again;
  ASSERT_FALSE(again.open(logged_opts(dir)));
  EXPECT_EQ(again.last_seq(), 5u);
  EXPECT_EQ(again.stats().log.replayed, 0u);
}

TEST(AckLog, RetentionCommitsTheHeldRowsBeforeDeletingAny) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  StoreOptions o = logged_opts(dir);
  o.retention_age_ms = 60'000;
  ASSERT_FALSE(s.open(o));
  for (int i = 0; i < 4; ++i) append_durable(s, 1);
  ASSERT_TRUE(s.holding());
  std::uint64_t deleted = 0;
  // No sink: every event counts as delivered, but none is old yet: the hold goes on.
  ASSERT_FALSE(s.apply_retention(0, deleted, true));
  EXPECT_EQ(deleted, 0u);
  EXPECT_TRUE(s.holding());
  // A minute later (these events are this run's: aged on the monotonic clock) they go.
  asio::io_context io;
  test::advance(io, 61s);
  ASSERT_FALSE(s.apply_retention(0, deleted, true));
  EXPECT_EQ(deleted, 4u);
  EXPECT_FALSE(s.holding());
  EXPECT_FALSE(s.in_transaction());
  EXPECT_EQ(s.last_seq(), 4u);
  s.close();
  Store again;
  ASSERT_FALSE(again.open(o));
  EXPECT_EQ(again.last_seq(), 4u) << "seqs never go back, whatever retention deleted";
  EXPECT_EQ(again.stats().log.replayed, 0u) << "retention's rows were committed: nothing to replay";
}

}  // namespace
}  // namespace bh
