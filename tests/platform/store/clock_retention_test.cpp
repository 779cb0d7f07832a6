// Retention with a wall clock that jumps (issue 17): events of the running process are aged on the
// monotonic clock only (fake: hal::Clock::advance), so a wall clock years ahead or hours behind
// neither purges fresh events nor stalls retention; events of earlier runs go by their wall ts,
// except those stored flagged clock_unsynced (only the byte bound deletes them) and not while the
// caller says the wall clock is untrusted; undelivered events are never deleted. Also events.
// clock_unsynced (schema version 4): stored with the event, read back, added to a v3 database.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <array>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "hal/clock.hpp"
#include "platform/store/store.hpp"
#include "tests/support/census.hpp"

namespace bh {
namespace {
using namespace std::chrono_literals;

constexpr std::int64_t kYear = 365LL * 24 * 3600 * 1000;
constexpr std::int64_t k1970 = 86'400'000;  // 1970-01-02, a board's clock before NTP

StoreOptions opts_for(const test::TempDir& dir, std::int64_t age_ms) {
  StoreOptions o;
  o.path = dir.file("store.db");
  o.sync_full = false;
  o.busy_timeout_ms = 200;
  o.retention_age_ms = age_ms;
  return o;
}

std::uint64_t append(Store& s, std::size_t n, std::int64_t ts, bool unsynced = false) {
  std::vector<EventIn> ev(n, EventIn{"src", "{\"v\":1}", ts});
  for (auto& e : ev) e.clock_unsynced = unsynced;
  std::vector<std::uint64_t> seqs(n);
  EXPECT_FALSE(s.append(ev, seqs));
  return seqs[0];
}

std::uint64_t rows(Store& s) {
  std::uint32_t n = 0;
  EXPECT_FALSE(s.read_range(1, UINT64_MAX >> 1, [](const EventOut&) {}, n));
  return n;
}

std::uint64_t retain(Store& s, std::int64_t now_ms, bool trusted = true) {
  std::uint64_t deleted = 0;
  EXPECT_FALSE(s.apply_retention(now_ms, deleted, trusted));
  return deleted;
}

TEST(ClockRetention, ThisRunAgesOnTheMonotonicClockWhateverTheWallClockSays) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir, 60'000)));
  append(s, 10, k1970);  // stamped in 1970 (no RTC)
  EXPECT_EQ(retain(s, k1970 + 30 * kYear), 0u) << "a step years ahead (NTP) makes nothing old";
  hal::Clock::advance(30s);
  append(s, 10, k1970 + 30 * kYear);
  EXPECT_EQ(retain(s, k1970 + 30 * kYear), 0u);
  hal::Clock::advance(29s);
  EXPECT_EQ(retain(s, k1970 + 30 * kYear), 0u) << "59 s on the monotonic clock: not yet";
  hal::Clock::advance(1s);
  EXPECT_EQ(retain(s, k1970), 10u) << "60 s: the first ten go, even with the wall clock stepped back to 1970";
  hal::Clock::advance(30s);
  EXPECT_EQ(retain(s, k1970), 10u) << "a step back does not stall retention";
  EXPECT_EQ(rows(s), 0u);
}

TEST(ClockRetention, NeverEarlyAndOnlyALittleLateAcrossTheSampleRing) {
  test::CensusGuard census;
  test::TempDir dir;
  constexpr auto kAge = 32s;  // samples at most every second (kAge / (kAgeSamples / 2))
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir, std::chrono::milliseconds(kAge).count())));
  std::map<std::uint64_t, hal::Clock::time_point> born;
  std::int64_t wall = k1970;
  for (int step = 0; step < 200; ++step) {  // ring wraps about six times
    born[append(s, 1, wall)] = hal::Clock::now();
    wall += (step % 7 == 3) ? 5 * kYear : -3'600'000;  // the wall clock wanders both ways
    retain(s, wall);
    const auto now = hal::Clock::now();
    for (auto& [seq, at] : born) {
      std::uint32_t n = 0;
      ASSERT_FALSE(s.read_range(seq, seq, [](const EventOut&) {}, n));
      if (n == 0) EXPECT_GE(now - at, kAge) << "seq " << seq << " purged early";
      else EXPECT_LE(now - at, kAge + 3s) << "seq " << seq << " kept too long";
    }
    hal::Clock::advance(1s);
  }
  EXPECT_LT(rows(s), 40u);
}

TEST(ClockRetention, UndeliveredEventsStay) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir, 1000)));
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  append(s, 10, k1970);
  ASSERT_FALSE(s.advance_cursor(k, 4));
  retain(s, k1970);
  hal::Clock::advance(2s);
  EXPECT_EQ(retain(s, k1970 + 50 * kYear), 4u);
  EXPECT_EQ(rows(s), 6u);
}

TEST(ClockRetention, EarlierRunsByWallTsButFlaggedOnesOnlyByBytes) {
  test::CensusGuard census;
  test::TempDir dir;
  const std::int64_t now = 1'800'000'000'000;  // a synced clock, 2027
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir, 60'000)));
  append(s, 5, now - 600'000);               // 1..5: synced, ten minutes old
  append(s, 5, k1970, /*unsynced=*/true);    // 6..10: stamped before the sync (1970)
  append(s, 5, now - 600'000);               // 11..15
  s.close();
  ASSERT_FALSE(s.open(opts_for(dir, 60'000)));  // they are an earlier run's now
  EXPECT_EQ(s.run_first_seq(), 16u);
  EXPECT_EQ(retain(s, now, /*trusted=*/false), 0u) << "an untrusted wall clock ages nothing of earlier runs";
  EXPECT_EQ(retain(s, now), 5u) << "1..5 by their ts; the flagged 6..10 stop the prefix";
  EXPECT_EQ(retain(s, now + 10 * kYear), 0u);
  EXPECT_EQ(rows(s), 10u);
  s.close();
  // The byte bound still deletes them.
  auto o = opts_for(dir, 60'000);
  o.retention_bytes = 1;
  ASSERT_FALSE(s.open(o));
  while (retain(s, now) > 0) {
  }
  EXPECT_EQ(rows(s), 0u);
}

TEST(ClockRetention, FlagStoredAndReadBack) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir, 60'000)));
  append(s, 1, k1970, true);
  append(s, 1, k1970 + kYear);
  std::vector<bool> flags;
  std::uint32_t n = 0;
  ASSERT_FALSE(s.read_range(1, 2, [&](const EventOut& e) { flags.push_back(e.clock_unsynced); }, n));
  EXPECT_EQ(flags, (std::vector<bool>{true, false}));
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  flags.clear();
  ASSERT_FALSE(s.read_batch(k, 10, 1 << 20, [&](const EventOut& e) { flags.push_back(e.clock_unsynced); }, n));
  EXPECT_EQ(flags, (std::vector<bool>{true, false}));
}

TEST(ClockRetention, VersionThreeDatabaseGetsTheColumn) {
  test::CensusGuard census;
  test::TempDir dir;
  const std::string path = dir.file("store.db");
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir, 60'000)));
  append(s, 2, k1970);
  s.close();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE events DROP COLUMN clock_unsynced; PRAGMA user_version = 3;", nullptr,
                         nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  ASSERT_FALSE(s.open(opts_for(dir, 60'000)));
  append(s, 1, k1970, true);
  std::vector<bool> flags;
  std::uint32_t n = 0;
  ASSERT_FALSE(s.read_range(1, 3, [&](const EventOut& e) { flags.push_back(e.clock_unsynced); }, n));
  EXPECT_EQ(flags, (std::vector<bool>{false, false, true}));
  s.close();
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 4);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace
}  // namespace bh
