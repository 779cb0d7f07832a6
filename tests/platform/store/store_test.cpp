// Store: seqs across restarts and purges, cursors, pending/cap/drop_oldest at N-1/N/N+1, dead
// letters and replay, retention (age, bytes, chunking, protection), failure paths (the fault plan's
// step and transaction faults, and its VFS returning SQLITE_FULL / IOERR_FSYNC; SQLITE_BUSY from another connection,
// unopenable or corrupt files) with no transaction, handle or FD left behind, and zero heap
// allocations on the warmed-up hot path.
#include "platform/store/store.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <chrono>
#include <thread>
#include <string>
#include <vector>

#include "tests/support/census.hpp"
#include "tests/support/fault_plan.hpp"

namespace bh {
namespace {

// ---- helpers ---------------------------------------------------------------------------------

StoreOptions opts_for(const test::TempDir& dir) {
  StoreOptions o;
  o.path = dir.file("store.db");
  o.sync_full = false;  // tests measure behaviour, not fsync latency
  o.busy_timeout_ms = 200;
  return o;
}

// Appends n events (source "src", body "body-<i>", ts base+i) in one batch; returns the first seq.
std::uint64_t append_n(Store& s, std::size_t n, std::int64_t ts_base = 1000, std::size_t body_bytes = 0) {
  std::vector<std::string> bodies(n);
  std::vector<EventIn> ev(n);
  std::vector<std::uint64_t> seqs(n);
  for (std::size_t i = 0; i < n; ++i) {
    bodies[i] = body_bytes ? std::string(body_bytes, 'b') : "body-" + std::to_string(i);
    ev[i] = EventIn{"src", bodies[i], ts_base + static_cast<std::int64_t>(i)};
  }
  auto ec = s.append(ev, seqs);
  EXPECT_FALSE(ec) << ec.message();
  if (ec) return 0;
  for (std::size_t i = 1; i < n; ++i) EXPECT_EQ(seqs[i], seqs[i - 1] + 1);
  return seqs[0];
}

std::vector<std::uint64_t> read_all(Store& s, int sink, std::uint32_t max = 1000, std::uint64_t max_bytes = 1 << 30) {
  std::vector<std::uint64_t> out;
  std::uint32_t count = 0;
  auto ec = s.read_batch(sink, max, max_bytes, [&](const EventOut& e) { out.push_back(e.seq); }, count);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(count, out.size());
  return out;
}

std::uint64_t count_rows(Store& s) {
  std::uint32_t count = 0;
  EXPECT_FALSE(s.read_range(1, UINT64_MAX >> 1, [](const EventOut&) {}, count));
  return count;
}

// ---- basics ----------------------------------------------------------------------------------

TEST(Store, AppendAssignsConsecutiveSeqsAndReadsBack) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir)));
  const std::string big(300, 'x');
  std::array<EventIn, 3> ev{EventIn{"a", "{\"x\":1}", 10}, EventIn{"bb", big, 11}, EventIn{"c", "", 12}};
  std::array<std::uint64_t, 3> seqs{};
  ASSERT_FALSE(s.append(ev, seqs));
  EXPECT_EQ(seqs, (std::array<std::uint64_t, 3>{1, 2, 3}));
  EXPECT_EQ(s.last_seq(), 3u);
  EXPECT_EQ(s.pending(), 0u);  // no sink registered: nothing is owed to anyone

  std::vector<EventOut> got;
  std::vector<std::string> bodies, sources;
  std::uint32_t count = 0;
  ASSERT_FALSE(s.read_range(1, 3, [&](const EventOut& e) {
    got.push_back(e);
    bodies.emplace_back(e.body);
    sources.emplace_back(e.source);
  }, count));
  ASSERT_EQ(count, 3u);
  EXPECT_EQ(bodies[0], "{\"x\":1}");
  EXPECT_EQ(bodies[1], big);
  EXPECT_EQ(bodies[2], "");
  EXPECT_EQ(sources[1], "bb");
  EXPECT_EQ(got[2].ts_ms, 12);

  // Argument errors: empty batch, too large, seqs_out too small. Nothing stored.
  EXPECT_EQ(s.append({}, seqs), StoreErrc::invalid_argument);
  std::array<std::uint64_t, 2> small{};
  EXPECT_EQ(s.append(ev, small), StoreErrc::invalid_argument);
  EXPECT_EQ(s.last_seq(), 3u);
  EXPECT_FALSE(s.in_transaction());
  s.close();
  EXPECT_EQ(s.append(ev, seqs), StoreErrc::not_open);
}

TEST(Store, MaxBatchBoundary) {
  test::TempDir dir;
  auto o = opts_for(dir);
  o.max_batch = 4;
  Store s;
  ASSERT_FALSE(s.open(o));
  std::array<EventIn, 5> ev{};
  for (auto& e : ev) e = EventIn{"s", "b", 1};
  std::array<std::uint64_t, 5> seqs{};
  EXPECT_FALSE(s.append(std::span(ev).first(3), seqs));  // N-1
  EXPECT_FALSE(s.append(std::span(ev).first(4), seqs));  // N
  EXPECT_EQ(s.append(ev, seqs), StoreErrc::invalid_argument);  // N+1
  EXPECT_EQ(s.last_seq(), 7u);
}

TEST(Store, SeqsKeepIncreasingAcrossRestartsEvenWhenAllPurged) {
  test::CensusGuard census;
  test::TempDir dir;
  auto o = opts_for(dir);
  o.retention_age_ms = 0;
  {
    Store s;
    ASSERT_FALSE(s.open(o));
    EXPECT_EQ(append_n(s, 5), 1u);
    std::uint64_t deleted = 0;
    ASSERT_FALSE(s.apply_retention(1'000'000, deleted));
    EXPECT_EQ(deleted, 5u);  // no sink: everything old may go
    EXPECT_EQ(count_rows(s), 0u);
  }
  {
    Store s;
    ASSERT_FALSE(s.open(o));
    EXPECT_EQ(s.last_seq(), 5u);
    EXPECT_EQ(append_n(s, 2), 6u);
    int sink = -1;
    ASSERT_FALSE(s.register_sink("late", sink));
    EXPECT_EQ(s.cursor(sink), 5u);  // tail starts at 6: purged events are not offered
    EXPECT_EQ(s.pending(), 2u);
    EXPECT_EQ(read_all(s, sink), (std::vector<std::uint64_t>{6, 7}));
  }
  {
    Store s;
    ASSERT_FALSE(s.open(o));
    EXPECT_EQ(append_n(s, 1), 8u);
  }
}

TEST(Store, RestartResumesCursors) {
  test::CensusGuard census;
  test::TempDir dir;
  auto o = opts_for(dir);
  {
    Store s;
    ASSERT_FALSE(s.open(o));
    int a = -1, b = -1;
    ASSERT_FALSE(s.register_sink("a", a));
    ASSERT_FALSE(s.register_sink("b", b));
    int again = -1;
    ASSERT_FALSE(s.register_sink("a", again));
    EXPECT_EQ(again, a);  // idempotent
    append_n(s, 10);
    EXPECT_EQ(s.pending(), 10u);
    ASSERT_FALSE(s.advance_cursor(a, 4));
    ASSERT_FALSE(s.advance_cursor(b, 7));
    EXPECT_EQ(s.pending(), 6u);  // the slowest sink decides
  }
  Store s;
  ASSERT_FALSE(s.open(o));
  int a = s.find_sink("a"), b = s.find_sink("b");
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  EXPECT_EQ(s.cursor(a), 4u);
  EXPECT_EQ(s.cursor(b), 7u);
  EXPECT_EQ(s.pending(), 6u);
  EXPECT_EQ(read_all(s, a, 3), (std::vector<std::uint64_t>{5, 6, 7}));
  EXPECT_EQ(read_all(s, b), (std::vector<std::uint64_t>{8, 9, 10}));
  auto st = s.stats();
  ASSERT_EQ(st.sink_count, 2u);
  EXPECT_EQ(st.sinks[0].name, "a");
  EXPECT_EQ(st.sinks[0].pending, 6u);

  ASSERT_FALSE(s.remove_sink("a"));
  EXPECT_EQ(s.find_sink("a"), -1);
  EXPECT_EQ(s.pending(), 3u);
  EXPECT_EQ(s.remove_sink("a"), StoreErrc::unknown_sink);
}

TEST(Store, ReadBatchLimitsAndCursorErrors) {
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir)));
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  append_n(s, 10, 1000, 100);  // 100-byte bodies
  EXPECT_EQ(read_all(s, k, 4).size(), 4u);
  EXPECT_EQ(read_all(s, k, 100, 250).size(), 2u);  // 2 fit in 250 bytes
  EXPECT_EQ(read_all(s, k, 100, 10).size(), 1u);   // always at least one: progress
  EXPECT_EQ(read_all(s, k, 0).size(), 0u);
  std::uint32_t count = 7;
  EXPECT_EQ(s.read_batch(99, 10, 1000, [](const EventOut&) {}, count), StoreErrc::unknown_sink);
  EXPECT_EQ(count, 0u);

  EXPECT_EQ(s.advance_cursor(k, 11), StoreErrc::bad_cursor);  // beyond last
  ASSERT_FALSE(s.advance_cursor(k, 5));
  EXPECT_FALSE(s.advance_cursor(k, 5));  // same: no-op
  EXPECT_EQ(s.advance_cursor(k, 4), StoreErrc::bad_cursor);  // backwards
  EXPECT_EQ(s.advance_cursor(-1, 6), StoreErrc::unknown_sink);
  EXPECT_EQ(s.cursor(k), 5u);
  EXPECT_EQ(read_all(s, k, 2), (std::vector<std::uint64_t>{6, 7}));
  ASSERT_FALSE(s.advance_cursor(k, 10));
  EXPECT_TRUE(read_all(s, k).empty());
}

TEST(Store, PendingCapAndDropOldestAtBoundaries) {
  test::TempDir dir;
  auto o = opts_for(dir);
  o.max_pending = 5;
  o.overflow = StoreOptions::Overflow::drop_oldest;
  Store s;
  ASSERT_FALSE(s.open(o));
  append_n(s, 3);
  EXPECT_EQ(s.pending(), 0u);  // before any sink: nothing pending
  int a = -1, b = -1;
  ASSERT_FALSE(s.register_sink("a", a));
  EXPECT_EQ(s.cursor(a), 0u);  // a new sink gets everything retained
  EXPECT_EQ(s.pending(), 3u);
  ASSERT_FALSE(s.advance_cursor(a, 3));
  ASSERT_FALSE(s.register_sink("b", b));
  ASSERT_FALSE(s.advance_cursor(b, 3));
  EXPECT_EQ(s.pending(), 0u);

  append_n(s, 4);  // N-1
  EXPECT_EQ(s.pending(), 4u);
  EXPECT_FALSE(s.at_cap());
  append_n(s, 1);  // N
  EXPECT_EQ(s.pending(), 5u);
  EXPECT_TRUE(s.at_cap());
  ASSERT_FALSE(s.advance_cursor(a, 6));  // a ahead, b behind
  EXPECT_TRUE(s.at_cap());

  std::uint64_t dropped = 0;
  ASSERT_FALSE(s.drop_oldest(2, dropped));
  EXPECT_EQ(dropped, 2u);  // seqs 4, 5 skipped by b (a had them already)
  EXPECT_EQ(s.cursor(a), 6u);
  EXPECT_EQ(s.cursor(b), 5u);
  EXPECT_EQ(s.pending(), 3u);
  EXPECT_FALSE(s.at_cap());
  append_n(s, 2);  // N again
  EXPECT_TRUE(s.at_cap());
  append_n(s, 1);  // N+1: the store does not refuse; the runtime checks at_cap() first
  EXPECT_EQ(s.pending(), 6u);

  ASSERT_FALSE(s.drop_oldest(100, dropped));  // clamps at last_seq
  EXPECT_EQ(dropped, 6u);
  EXPECT_EQ(s.pending(), 0u);
  EXPECT_EQ(s.cursor(a), 11u);
  EXPECT_EQ(s.stats().dropped, 8u);
  ASSERT_FALSE(s.drop_oldest(1, dropped));
  EXPECT_EQ(dropped, 0u);
}

TEST(Store, TooManySinks) {
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir)));
  int h = -1;
  for (std::uint32_t i = 0; i < Store::kMaxSinks; ++i) ASSERT_FALSE(s.register_sink("s" + std::to_string(i), h));
  EXPECT_EQ(s.register_sink("one-more", h), StoreErrc::too_many_sinks);
  EXPECT_EQ(h, -1);
  EXPECT_EQ(s.register_sink("", h), StoreErrc::invalid_argument);
}

// ---- dead letters ----------------------------------------------------------------------------

TEST(Store, DeadLetterReplayCycle) {
  test::CensusGuard census;
  test::TempDir dir;
  auto o = opts_for(dir);
  o.retention_age_ms = 0;
  Store s;
  ASSERT_FALSE(s.open(o));
  int k = -1, other = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  ASSERT_FALSE(s.register_sink("other", other));
  append_n(s, 10);
  ASSERT_FALSE(s.advance_cursor(k, 2));
  EXPECT_EQ(s.dead_letter(k, 5, 3, 400, "x", 1), StoreErrc::invalid_argument);
  EXPECT_EQ(s.dead_letter(k, 3, 11, 400, "x", 1), StoreErrc::invalid_argument);
  ASSERT_FALSE(s.dead_letter(k, 3, 5, 422, std::string(500, 'r'), 777));
  EXPECT_EQ(s.cursor(k), 5u);  // moved past the dead batch in the same transaction
  ASSERT_FALSE(s.advance_cursor(k, 10));
  ASSERT_FALSE(s.advance_cursor(other, 10));

  std::vector<DeadLetter> rows;
  ASSERT_FALSE(s.list_dead([&](const DeadLetter& d) { rows.push_back(d); }));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].sink, k);
  EXPECT_EQ(rows[0].first_seq, 3u);
  EXPECT_EQ(rows[0].last_seq, 5u);
  EXPECT_EQ(rows[0].http_status, 422);
  EXPECT_EQ(rows[0].ts_ms, 777);
  EXPECT_EQ(rows[0].status, DeadStatus::dead);
  EXPECT_EQ(rows[0].reason().size(), DeadLetter::kMaxReason);

  // Retention with every event delivered: the dead range survives as an island.
  std::uint64_t deleted = 0;
  ASSERT_FALSE(s.apply_retention(1'000'000, deleted));
  EXPECT_EQ(deleted, 7u);
  EXPECT_EQ(count_rows(s), 3u);

  DeadLetter d;
  bool found = true;
  ASSERT_FALSE(s.next_replay(k, d, found));
  EXPECT_FALSE(found);  // not marked yet
  std::uint64_t n = 0;
  ASSERT_FALSE(s.mark_replay_seq(4, n));
  EXPECT_EQ(n, 1u);
  ASSERT_FALSE(s.mark_replay(0, n));
  EXPECT_EQ(n, 0u);  // already replaying
  ASSERT_FALSE(s.next_replay(other, d, found));
  EXPECT_FALSE(found);
  ASSERT_FALSE(s.next_replay(k, d, found));
  ASSERT_TRUE(found);
  EXPECT_EQ(d.status, DeadStatus::replaying);
  std::vector<std::uint64_t> seqs;
  std::uint32_t count = 0;
  ASSERT_FALSE(s.read_range(d.first_seq, d.last_seq, [&](const EventOut& e) { seqs.push_back(e.seq); }, count));
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{3, 4, 5}));
  ASSERT_FALSE(s.apply_retention(1'000'000, deleted));
  EXPECT_EQ(count_rows(s), 3u);  // 'replaying' is protected too

  ASSERT_FALSE(s.finish_replay(d.id, false));  // failed again: back to dead
  EXPECT_EQ(s.finish_replay(d.id, true), StoreErrc::invalid_argument);  // not replaying now
  ASSERT_FALSE(s.mark_replay(d.id, n));
  EXPECT_EQ(n, 1u);
  ASSERT_FALSE(s.finish_replay(d.id, true));
  ASSERT_FALSE(s.apply_retention(1'000'000, deleted));
  EXPECT_EQ(deleted, 3u);  // 'replayed' no longer protects
  EXPECT_EQ(count_rows(s), 0u);

  ASSERT_FALSE(s.purge_dead(0, n));
  EXPECT_EQ(n, 1u);
  rows.clear();
  ASSERT_FALSE(s.list_dead([&](const DeadLetter& x) { rows.push_back(x); }));
  EXPECT_TRUE(rows.empty());
  EXPECT_EQ(s.stats().dead_lettered, 1u);
}

// ---- retention -------------------------------------------------------------------------------

TEST(Store, RetentionByAgeNeverDeletesUndelivered) {
  test::TempDir dir;
  auto o = opts_for(dir);
  o.retention_age_ms = 50;
  Store s;
  ASSERT_FALSE(s.open(o));
  append_n(s, 100, 1000);  // ts 1000..1099
  s.close();
  ASSERT_FALSE(s.open(o));  // an earlier run's events are aged by their ts (this run's: clock_retention_test)
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  ASSERT_FALSE(s.advance_cursor(k, 30));
  std::uint64_t deleted = 0;
  ASSERT_FALSE(s.apply_retention(1100, deleted));  // cutoff 1050: 50 are old, 30 delivered
  EXPECT_EQ(deleted, 30u);
  ASSERT_FALSE(s.advance_cursor(k, 100));
  ASSERT_FALSE(s.apply_retention(1100, deleted));
  EXPECT_EQ(deleted, 20u);  // the rest of the old ones
  ASSERT_FALSE(s.apply_retention(1100, deleted));
  EXPECT_EQ(deleted, 0u);
  EXPECT_EQ(count_rows(s), 50u);
  EXPECT_EQ(s.stats().oldest_seq, 51u);
  EXPECT_EQ(s.stats().purged, 50u);
}

TEST(Store, RetentionBySizeAndChunked) {
  test::TempDir dir;
  auto o = opts_for(dir);
  o.retention_bytes = 256 * 1024;
  Store s;
  ASSERT_FALSE(s.open(o));
  for (int i = 0; i < 25; ++i) append_n(s, 1000, 1'000'000 + i * 1000, 100);
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  ASSERT_FALSE(s.advance_cursor(k, 24'000));
  const auto before = s.stats().live_bytes;
  ASSERT_GT(before, o.retention_bytes);
  std::uint64_t deleted = 0, total = 0;
  for (int i = 0; i < 5; ++i) {
    ASSERT_FALSE(s.apply_retention(1'000'000, deleted));  // nothing is old by age
    EXPECT_LE(deleted, Store::kRetentionChunk);
    total += deleted;
  }
  EXPECT_GT(total, 0u);
  EXPECT_LE(total, 24'000u);  // never an undelivered one
  EXPECT_GE(count_rows(s), 1000u);
  EXPECT_LT(s.stats().live_bytes, before);
  EXPECT_LE(s.stats().live_bytes, o.retention_bytes + 64 * 1024);

  // Chunking by age: 24 000 deliverable rows, at most kRetentionChunk per call.
  ASSERT_FALSE(s.advance_cursor(k, 25'000));
  o.retention_age_ms = 0;
  s.close();
  o.retention_bytes = 1ULL << 40;
  o.retention_age_ms = 0;
  ASSERT_FALSE(s.open(o));
  ASSERT_FALSE(s.apply_retention(INT64_MAX / 2, deleted));
  EXPECT_LE(deleted, Store::kRetentionChunk);
  while (deleted) ASSERT_FALSE(s.apply_retention(INT64_MAX / 2, deleted));
  EXPECT_EQ(count_rows(s), 0u);
  EXPECT_EQ(append_n(s, 1), 25'001u);
}

// ---- failure paths ---------------------------------------------------------------------------

TEST(Store, ABatchOfManyRowsFailsWholeWhereverTheFaultIs) {
  // 70 rows: the first with its seq, two 32-row INSERTs appended after it and 5 single ones; a
  // fault in any of them stores nothing.
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir)));
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  std::vector<std::string> bodies(70);
  std::vector<EventIn> ev(70);
  std::vector<std::uint64_t> seqs(70);
  for (std::size_t i = 0; i < ev.size(); ++i) {
    bodies[i] = "{\"i\":" + std::to_string(i) + "}";
    ev[i] = EventIn{"src", bodies[i], static_cast<std::int64_t>(i)};
    ev[i].identity = i % 2 ? "cn=odd" : "";
    ev[i].clock_unsynced = i % 3 == 0;
  }
  for (const char* plan : {"sqlite_step:1", "sqlite_step:32", "sqlite_step:33", "sqlite_step:64", "sqlite_step:70"}) {
    SCOPED_TRACE(plan);
    {
      test::FaultPlan faults(plan);
      EXPECT_EQ(sql::primary(s.append(ev, seqs)), SQLITE_IOERR);
      EXPECT_EQ(fault::injected(fault::Op::sqlite_step), 1u);
    }
    EXPECT_EQ(count_rows(s), 0u);
    EXPECT_FALSE(s.in_transaction());
  }
  ASSERT_FALSE(s.append(ev, seqs));
  std::uint32_t count = 0, i = 0;
  ASSERT_FALSE(s.read_range(1, UINT64_MAX >> 1, [&](const EventOut& e) {  // the table, not the recent rows
    EXPECT_EQ(e.seq, seqs[i]);
    EXPECT_EQ(e.body, bodies[i]);
    EXPECT_EQ(e.ts_ms, static_cast<std::int64_t>(i));
    EXPECT_EQ(e.identity, i % 2 ? "cn=odd" : "");
    EXPECT_EQ(e.clock_unsynced, i % 3 == 0);
    ++i;
  }, count));
  EXPECT_EQ(count, 70u);
}

TEST(Store, InjectedFaultsRollBackAndTheNextAppendWorks) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir)));
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  std::uint64_t expected = append_n(s, 5) + 5;
  std::uint64_t errors = 0;
  // An append of 5 is: BEGIN (sqlite_txn 1), 5 inserts (sqlite_step 1-5), COMMIT (sqlite_txn 2);
  // next_seq is not written (the rows are its record).
  for (const char* plan : {"sqlite_txn:1", "sqlite_step:1", "sqlite_step:3", "sqlite_step:5", "sqlite_txn:2"}) {
    SCOPED_TRACE(plan);
    std::array<EventIn, 5> ev{};
    for (auto& e : ev) e = EventIn{"f", "fault", 5};
    std::array<std::uint64_t, 5> seqs{};
    std::error_code ec;
    {
      test::FaultPlan faults(plan);
      ec = s.append(ev, seqs);
      EXPECT_EQ(fault::injected(fault::Op::sqlite_step) + fault::injected(fault::Op::sqlite_txn), 1u);
    }
    EXPECT_EQ(sql::primary(ec), SQLITE_IOERR) << ec.message();
    EXPECT_FALSE(s.in_transaction());
    EXPECT_EQ(s.next_seq(), expected);
    EXPECT_EQ(s.pending(), expected - 1);
    EXPECT_EQ(s.stats().commit_errors, ++errors);
    EXPECT_EQ(append_n(s, 2), expected);  // the store stays usable
    expected += 2;
  }
  EXPECT_EQ(count_rows(s), expected - 1);  // nothing of a failed batch was stored

  {
    test::FaultPlan faults("sqlite_step:1");  // the cursor UPDATE (the first move since open is written at once)
    EXPECT_EQ(sql::primary(s.advance_cursor(k, 3)), SQLITE_IOERR);
  }
  EXPECT_EQ(s.cursor(k), 0u);
  {
    test::FaultPlan faults("sqlite_step:1");  // the dead letter's INSERT
    EXPECT_TRUE(s.dead_letter(k, 1, 2, 400, "bad", 1));
  }
  {
    test::FaultPlan faults("sqlite_txn:2");  // the dead letter's COMMIT
    EXPECT_TRUE(s.dead_letter(k, 1, 2, 400, "bad", 1));
    EXPECT_EQ(fault::injected(fault::Op::sqlite_txn), 1u);
  }
  EXPECT_EQ(s.cursor(k), 0u);
  EXPECT_FALSE(s.in_transaction());
  int rows = 0;
  ASSERT_FALSE(s.list_dead([&](const DeadLetter&) { ++rows; }));
  EXPECT_EQ(rows, 0);
  std::uint32_t count = 0;
  s.close();
  ASSERT_FALSE(s.open(opts_for(dir)));  // reopened: the read is a SELECT (no recent rows in memory yet)
  {
    test::FaultPlan faults("sqlite_step:2");  // the second row of the read
    EXPECT_EQ(sql::primary(s.read_batch(k, 10, 1 << 20, [](const EventOut&) {}, count)), SQLITE_IOERR);
  }
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(read_all(s, k, 3), (std::vector<std::uint64_t>{1, 2, 3}));
  s.close();
  ASSERT_FALSE(s.open(opts_for(dir)));  // persisted state matches
  EXPECT_EQ(s.next_seq(), expected);
  EXPECT_EQ(s.cursor(s.find_sink("k")), 0u);
}

TEST(Store, RealDiskFullAndFsyncErrorsFromTheVfs) {
  test::CensusGuard census;
  test::TempDir dir;
  auto o = opts_for(dir);
  o.sync_full = true;
  test::PlannedFaults planned;  // the store opens through the fault plan's VFS
  Store s;
  ASSERT_FALSE(s.open(o));
  std::uint64_t next = append_n(s, 10) + 10;
  for (auto [plan, op] : {std::pair{"sqlite_write:1", fault::Op::sqlite_write}, std::pair{"fsync:1", fault::Op::fsync}}) {
    SCOPED_TRACE(plan);
    std::array<EventIn, 3> ev{EventIn{"s", "x", 1}, EventIn{"s", "y", 2}, EventIn{"s", "z", 3}};
    std::array<std::uint64_t, 3> seqs{};
    std::error_code ec;
    {
      test::FaultPlan faults(plan);
      ec = s.append(ev, seqs);
      EXPECT_EQ(fault::injected(op), 1u);
    }
    EXPECT_TRUE(ec);
    EXPECT_TRUE(sql::primary(ec) == SQLITE_FULL || sql::primary(ec) == SQLITE_IOERR) << ec.message();
    EXPECT_FALSE(s.in_transaction());
    EXPECT_EQ(s.next_seq(), next);
    EXPECT_EQ(append_n(s, 2), next);  // the cause is gone: the next append works
    next += 2;
  }
  EXPECT_EQ(count_rows(s), next - 1);
  s.close();
  ASSERT_FALSE(s.open(o));  // quick_check passes, seqs continue
  EXPECT_EQ(append_n(s, 1), next);
}

TEST(Store, BusyDatabaseFailsWithinTheTimeout) {
  test::CensusGuard census;
  test::TempDir dir;
  auto o = opts_for(dir);
  Store s;
  ASSERT_FALSE(s.open(o));
  int k = -1;
  ASSERT_FALSE(s.register_sink("r", k));
  append_n(s, 1);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(o.path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  std::array<EventIn, 1> ev{EventIn{"s", "x", 1}};
  std::array<std::uint64_t, 1> seqs{};
  const auto t0 = std::chrono::steady_clock::now();
  auto ec = s.append(ev, seqs);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(sql::primary(ec), SQLITE_BUSY) << ec.message();
  EXPECT_LT(ms, 2000);
  EXPECT_GE(ms, 100);
  EXPECT_FALSE(s.in_transaction());
  EXPECT_EQ(read_all(s, k).size(), 1u) << "readers are not blocked by a writer in WAL mode";
  EXPECT_EQ(sql::primary(s.advance_cursor(k, 1)), SQLITE_BUSY);
  EXPECT_EQ(s.cursor(k), 0u);
  EXPECT_FALSE(s.in_transaction());

  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_EQ(append_n(s, 1), 2u);
}

TEST(Store, FailedOpenLeaksNoHandleOrFd) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  StoreOptions o = opts_for(dir);

  o.path = dir.path();  // a directory
  EXPECT_TRUE(s.open(o));
  EXPECT_FALSE(s.is_open());

  o.path = dir.file("missing/sub/store.db");
  EXPECT_TRUE(s.open(o));

  o.path = dir.file("garbage.db");  // not a database
  {
    int fd = ::open(o.path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    std::string junk(16384, 'g');
    ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
    ::close(fd);
  }
  auto ec = s.open(o);
  EXPECT_EQ(sql::primary(ec), SQLITE_NOTADB) << ec.message();
  EXPECT_FALSE(s.is_open());

  // A real database with a page smashed: quick_check (or the first read) refuses it.
  o.path = dir.file("corrupt.db");
  {
    Store good;
    ASSERT_FALSE(good.open(o));
    for (int i = 0; i < 20; ++i) append_n(good, 100, 1, 200);
  }
  {
    int fd = ::open(o.path.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    std::string junk(4096, '\xff');
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 4096 * 4), 4096);
    ::close(fd);
  }
  ec = s.open(o);
  EXPECT_TRUE(ec);
  EXPECT_FALSE(s.is_open());

  // A good open and close returns to the baseline too.
  o.path = dir.file("ok.db");
  ASSERT_FALSE(s.open(o));
  EXPECT_GT(test::open_fds(), census.baseline());
  s.close();
}

// ---- resources -------------------------------------------------------------------------------

TEST(Store, HotPathAllocatesNothingAfterWarmUp) {
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir)));
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  std::string body(200, 'j');
  std::array<EventIn, 64> ev{};
  for (auto& e : ev) e = EventIn{"producer-1", body, 42};
  std::array<std::uint64_t, 64> seqs{};
  std::uint64_t sum = 0, last = 0;
  std::uint32_t count = 0;
  auto cycle = [&] {
    bool ok = !s.append(ev, seqs);
    ok = ok && !s.read_batch(k, 64, 1 << 20, [&](const EventOut& e) { sum += e.body.size(); last = e.seq; }, count);
    ok = ok && !s.advance_cursor(k, last);
    return ok;
  };
  ASSERT_TRUE(cycle());  // warm-up
  {  // positive control: the counter does see operator new in this binary
    const auto c0 = test::heap_allocations();
    int* volatile probe = new int(1);
    delete probe;
    ASSERT_GT(test::heap_allocations(), c0);
  }
  const auto before = test::heap_allocations();
  bool ok = true;
  for (int i = 0; i < 20; ++i) ok = ok && cycle();
  const auto after = test::heap_allocations();
  EXPECT_TRUE(ok);
  EXPECT_EQ(after - before, 0u);
  EXPECT_EQ(s.cursor(k), 21u * 64u);
  EXPECT_EQ(s.pending(), 0u);
}

TEST(Store, StatsReportMemoryAndSize) {
  test::TempDir dir;
  auto o = opts_for(dir);
  o.heap_limit = 16LL << 20;
  Store s;
  ASSERT_FALSE(s.open(o));
  append_n(s, 100, 1, 100);
  auto st = s.stats();
  EXPECT_EQ(st.appended, 100u);
  EXPECT_EQ(st.batches, 1u);
  EXPECT_EQ(st.last_seq, 100u);
  EXPECT_GT(st.sqlite_mem_used, 0);
  EXPECT_GE(st.sqlite_mem_highwater, st.sqlite_mem_used);
  EXPECT_EQ(st.sqlite_heap_limit, 16LL << 20);
  EXPECT_GT(st.db_bytes, 0u);
  EXPECT_LE(st.live_bytes, st.db_bytes);
  EXPECT_FALSE(st.in_transaction);
}

// ---- issue 16 layout: next_seq and cursors are not rewritten by every commit ------------------------

// One integer from a second, plain connection (what is on disk, not the store's memory).
std::int64_t disk_int(const std::string& path, const char* q) {
  sqlite3* db = nullptr;
  std::int64_t v = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, q, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return v;
}

void disk_exec(const std::string& path, const char* q) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(db, q, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

TEST(Store, AnAppendWritesOnlyItsRowsAndOpenDerivesNextSeq) {
  test::TempDir dir;
  auto o = opts_for(dir);
  {
    Store s;
    ASSERT_FALSE(s.open(o));
    EXPECT_EQ(append_n(s, 5), 1u);
    EXPECT_EQ(append_n(s, 3), 6u);
    EXPECT_EQ(disk_int(o.path, "SELECT next_seq FROM meta"), 1) << "meta rewritten by an append";
  }
  Store s;
  ASSERT_FALSE(s.open(o));
  EXPECT_EQ(s.last_seq(), 8u) << "next_seq comes from the rows";
  EXPECT_EQ(append_n(s, 1), 9u);
}

TEST(Store, ARowAboveTheNextSeqFailsTheBatchRatherThanShiftItsSeqs) {
  // Rows after a batch's first are given their seqs by SQLite (the table's highest + 1). A row
  // above the next seq (not one this store wrote) would shift them off the seqs the batch acks:
  // the batch fails whole instead, as a taken seq did when every row named its own.
  test::CensusGuard census;
  test::TempDir dir;
  auto o = opts_for(dir);
  Store s;
  ASSERT_FALSE(s.open(o));
  EXPECT_EQ(append_n(s, 3), 1u);
  disk_exec(o.path, "INSERT INTO events(seq, ts_ms, source, body) VALUES(40, 0, 'other', '{}')");
  for (std::size_t n : {2u, 40u}) {  // a single append after the first row; a 32-row one
    SCOPED_TRACE(n);
    std::vector<EventIn> ev(n, EventIn{"s", "{}", 1});
    std::vector<std::uint64_t> seqs(n);
    EXPECT_EQ(sql::primary(s.append(ev, seqs)), SQLITE_INTERNAL);
    EXPECT_FALSE(s.in_transaction());
    EXPECT_EQ(count_rows(s), 4u);
  }
  disk_exec(o.path, "DELETE FROM events WHERE seq = 40");
  EXPECT_EQ(append_n(s, 40), 4u);
  std::uint64_t want = 1;
  std::uint32_t count = 0;
  ASSERT_FALSE(s.read_range(1, UINT64_MAX >> 1, [&](const EventOut& e) { EXPECT_EQ(e.seq, want++); }, count));
  EXPECT_EQ(count, 43u);
}

TEST(Store, AStoreOfTheOlderLayoutKeepsItsNextSeq) {
  // Earlier builds wrote meta.next_seq in every append; a store they left (here: rows up to 4,
  // next_seq 11 after an undo or a purge of seqs 5..10) keeps numbering after 10, never reusing.
  test::TempDir dir;
  auto o = opts_for(dir);
  {
    Store s;
    ASSERT_FALSE(s.open(o));
    append_n(s, 4);
  }
  disk_exec(o.path, "UPDATE meta SET next_seq = 11, purged_upto = 0");
  {
    Store s;
    ASSERT_FALSE(s.open(o));
    EXPECT_EQ(s.last_seq(), 10u);
    EXPECT_EQ(append_n(s, 2), 11u);
    EXPECT_EQ(count_rows(s), 6u);
  }
  // And purged_upto alone (every row purged) is enough too.
  disk_exec(o.path, "DELETE FROM events; UPDATE meta SET next_seq = 1, purged_upto = 12");
  Store s;
  ASSERT_FALSE(s.open(o));
  EXPECT_EQ(append_n(s, 1), 13u);
}

TEST(Store, RetentionRaisesTheStoredNextSeq) {
  test::TempDir dir;
  auto o = opts_for(dir);
  o.retention_age_ms = 0;
  Store s;
  ASSERT_FALSE(s.open(o));
  append_n(s, 7);
  std::uint64_t deleted = 0;
  ASSERT_FALSE(s.apply_retention(1'000'000, deleted));
  EXPECT_EQ(deleted, 7u);
  EXPECT_EQ(disk_int(o.path, "SELECT next_seq FROM meta"), 8) << "older builds read meta alone";
  EXPECT_EQ(disk_int(o.path, "SELECT purged_upto FROM meta"), 7);
}

TEST(Store, CursorsPersistAtMostEveryPeriodAndACrashOnlyRepeatsDeliveries) {
  test::TempDir dir;
  auto o = opts_for(dir);
  Store s;
  ASSERT_FALSE(s.open(o));
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  append_n(s, 10);
  ASSERT_FALSE(s.advance_cursor(k, 2));  // the first one since open is written at once
  EXPECT_EQ(disk_int(o.path, "SELECT cursor FROM sinks"), 2);
  const auto commits = s.stats().commits;
  ASSERT_FALSE(s.advance_cursor(k, 5));
  ASSERT_FALSE(s.advance_cursor(k, 7));
  EXPECT_EQ(s.cursor(k), 7u);
  EXPECT_EQ(s.pending(), 3u);
  EXPECT_EQ(s.stats().commits, commits) << "a cursor commit within the period";
  EXPECT_EQ(disk_int(o.path, "SELECT cursor FROM sinks"), 2);
  // A crash now (the files as they are, the store still open) loses only cursor moves: the sink
  // gets 3..7 again, and every event is still there.
  for (const char* suffix : {"", "-wal"}) {
    std::ifstream in(o.path + suffix, std::ios::binary);
    std::ofstream out(dir.file("crash.db") + suffix, std::ios::binary);
    out << in.rdbuf();
  }
  {
    auto oc = o;
    oc.path = dir.file("crash.db");
    Store c;
    ASSERT_FALSE(c.open(oc));
    EXPECT_EQ(c.cursor(c.find_sink("k")), 2u);
    EXPECT_EQ(c.last_seq(), 10u);
    EXPECT_EQ(read_all(c, c.find_sink("k")), (std::vector<std::uint64_t>{3, 4, 5, 6, 7, 8, 9, 10}));
  }
  // After the period the next move writes every moved cursor; retention and close write them too.
  hal::Clock::advance(Store::kCursorPersist);
  ASSERT_FALSE(s.advance_cursor(k, 8));
  EXPECT_EQ(disk_int(o.path, "SELECT cursor FROM sinks"), 8);
  ASSERT_FALSE(s.advance_cursor(k, 9));
  std::uint64_t deleted = 0;
  ASSERT_FALSE(s.apply_retention(0, deleted));
  EXPECT_EQ(disk_int(o.path, "SELECT cursor FROM sinks"), 9);
  ASSERT_FALSE(s.advance_cursor(k, 10));
  s.close();
  EXPECT_EQ(disk_int(o.path, "SELECT cursor FROM sinks"), 10);
}

TEST(Store, StatsCountCommitsSyncsAndBytesPerFile) {
  test::TempDir dir;
  auto o = opts_for(dir);
  o.sync_full = true;  // SQLite syncs the WAL inside each COMMIT (no syncer thread here)
  Store s;
  ASSERT_FALSE(s.open(o));
  int sink = -1;
  ASSERT_FALSE(s.register_sink("k", sink));
  const auto before = s.stats();
  append_n(s, 3, 1, 200);
  append_n(s, 2, 1, 200);
  ASSERT_FALSE(s.advance_cursor(sink, 5));
  const auto after = s.stats();
  EXPECT_EQ(after.commits - before.commits, 3u);  // two appends and one cursor update
  EXPECT_GE(after.fsyncs - before.fsyncs, 2u);    // each appending COMMIT synced the WAL
  EXPECT_GE(after.io.wal_syncs - before.io.wal_syncs, 2u);
  // Every commit wrote at least one 4 KiB page frame (plus its 24-byte header) to the WAL.
  EXPECT_GE(after.io.wal_bytes - before.io.wal_bytes, 3u * (4096 + 24));
  EXPECT_GT(after.io.wal_writes, before.io.wal_writes);
  EXPECT_EQ(after.io.db_bytes, before.io.db_bytes);  // nothing checkpointed yet
}

// ---- checkpointer thread ------------------------------------------------------------------------

std::uint64_t file_size(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

TEST(Store, CheckpointerThreadCopiesTheWalAndKeepsItBounded) {
  test::CensusGuard census;  // the thread's connection (db + wal fds) is gone after close
  test::TempDir dir;
  auto o = opts_for(dir);
  o.checkpoint_thread = true;
  o.wal_restart_pages = 256;  // 1 MiB: rewound many times below
  {
    Store s;
    ASSERT_FALSE(s.open(o));
    ASSERT_TRUE(s.stats().checkpoint_thread);
    int k = -1;
    ASSERT_FALSE(s.register_sink("k", k));
    // ~40 MiB through the WAL in 512-event batches of 1 KiB events, draining as a sink would.
    std::uint64_t max_wal = 0;
    for (int i = 0; i < 80; ++i) {
      append_n(s, 512, 1000 + i, 1024);
      std::uint32_t count = 0;
      std::uint64_t last = 0;
      ASSERT_FALSE(s.read_batch(k, 512, 1 << 30, [&](const EventOut& e) { last = e.seq; }, count));
      ASSERT_FALSE(s.advance_cursor(k, last));
      max_wal = std::max(max_wal, file_size(o.path + "-wal"));
      std::this_thread::yield();  // let the thread run now and then
    }
    const StoreStats st = s.stats();
    EXPECT_GT(st.checkpointer.checkpoints + st.checkpointer.catch_ups, 0u);
    EXPECT_EQ(st.checkpointer.errors, 0u);
    // Bounded: the restart size plus the batches written while a catch-up waits for the thread to
    // go idle (each 512 KiB + frame headers) — far below the 40 MiB that went through.
    EXPECT_LT(max_wal, 12u << 20) << "the WAL was never rewound";
    EXPECT_EQ(s.last_seq(), 80u * 512u);
    EXPECT_FALSE(s.in_transaction());
  }
  // Everything is in the database file (reopened without the thread, after a clean close).
  o.checkpoint_thread = false;
  Store again;
  ASSERT_FALSE(again.open(o));
  EXPECT_EQ(again.last_seq(), 80u * 512u);
  EXPECT_EQ(count_rows(again), 80u * 512u);
}

TEST(Store, CheckpointPagesBoundsTheWalWithoutTheThread) {
  test::TempDir dir;
  auto o = opts_for(dir);
  o.checkpoint_pages = 64;  // 256 KiB: SQLite's auto-checkpoint inside the commit that crosses it
  Store s;
  ASSERT_FALSE(s.open(o));
  std::uint64_t max_wal = 0;
  for (int i = 0; i < 40; ++i) {  // 40 x 128 KiB through the WAL, nothing left to deliver
    append_n(s, 128, 1000 + i, 1024);
    max_wal = std::max(max_wal, file_size(o.path + "-wal"));
  }
  // At SQLite's default (1000 pages) the WAL would have grown to 4 MiB and more.
  EXPECT_LT(max_wal, 1u << 20);
  EXPECT_EQ(s.last_seq(), 40u * 128u);
}

}  // namespace
}  // namespace bh
