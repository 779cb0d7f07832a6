// Store: the sources' dedupe keys. A key is stored in its event's transaction (a fault anywhere in
// the append leaves neither), loaded back oldest first, trimmed to the newest `window` at load and
// during appends, removed with its event by a failed sync's undo; a version-1 database gains the
// table when opened (schema 2) and keeps its events.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <array>
#include <string>
#include <vector>

#include "platform/store/store.hpp"
#include "tests/support/census.hpp"
#include "tests/support/fault_plan.hpp"

namespace bh {
namespace {

StoreOptions opts_for(const test::TempDir& dir) {
  StoreOptions o;
  o.path = dir.file("store.db");
  o.sync_full = false;
  o.busy_timeout_ms = 200;
  return o;
}

DedupeKey key_of(int i) {
  DedupeKey k;
  k.b[0] = static_cast<std::uint8_t>(i);
  k.b[1] = static_cast<std::uint8_t>(i >> 8);
  k.b[15] = 0x5A;
  return k;
}

// Appends events i in [from, to) of `source`, each with key_of(i) (or none where `keyless`).
std::error_code append_keys(Store& s, std::string_view source, int from, int to, bool keyless_odd = false) {
  std::vector<DedupeKey> keys;
  std::vector<EventIn> ev;
  keys.reserve(static_cast<std::size_t>(to - from));
  for (int i = from; i < to; ++i) keys.push_back(key_of(i));
  for (int i = from; i < to; ++i) {
    const bool none = keyless_odd && (i % 2) == 1;
    ev.push_back(EventIn{source, "{}", 1, none ? nullptr : &keys[static_cast<std::size_t>(i - from)]});
  }
  std::vector<std::uint64_t> seqs(ev.size());
  return s.append(ev, seqs);
}

std::vector<int> loaded(Store& s, std::string_view source, std::uint32_t window) {
  std::vector<int> out;
  EXPECT_FALSE(s.load_dedupe(source, window, [&](const DedupeKey& k) { out.push_back(k.b[0] | (k.b[1] << 8)); }));
  return out;
}

TEST(StoreDedupe, KeysReloadOldestFirstAndTrimToTheWindow) {
  test::CensusGuard census;
  test::TempDir dir;
  {
    Store s;
    ASSERT_FALSE(s.open(opts_for(dir)));
    EXPECT_TRUE(loaded(s, "a", 100).empty());
    ASSERT_FALSE(append_keys(s, "a", 0, 10, /*keyless_odd=*/true));
    ASSERT_FALSE(append_keys(s, "b", 0, 3));
    EXPECT_EQ(s.dedupe_rows("a"), 5u);  // events without a key store none
  }
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir)));
  EXPECT_EQ(loaded(s, "a", 100), (std::vector<int>{0, 2, 4, 6, 8}));
  EXPECT_EQ(loaded(s, "a", 3), (std::vector<int>{4, 6, 8}));  // the newest 3: the rest deleted
  EXPECT_EQ(s.dedupe_rows("a"), 3u);
  EXPECT_EQ(loaded(s, "b", 3), (std::vector<int>{0, 1, 2}));  // window N: nothing trimmed
  EXPECT_EQ(loaded(s, "b", 0), std::vector<int>{});           // dedupe off: every key goes
  EXPECT_EQ(s.dedupe_rows("b"), 0u);
}

TEST(StoreDedupe, AppendsTrimPastAnEighthOverTheWindow) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir)));
  loaded(s, "a", 16);  // registers the window: trims at more than 16 + 2 rows
  ASSERT_FALSE(append_keys(s, "a", 0, 18));
  EXPECT_EQ(s.dedupe_rows("a"), 18u);
  ASSERT_FALSE(append_keys(s, "a", 18, 19));
  EXPECT_EQ(s.dedupe_rows("a"), 16u);
  std::vector<int> want;
  for (int i = 3; i < 19; ++i) want.push_back(i);
  EXPECT_EQ(loaded(s, "a", 16), want);
}

TEST(StoreDedupe, AFaultedAppendStoresNeitherEventNorKey) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir)));
  loaded(s, "a", 100);
  // Two events with keys: inserts (steps 1-2), keys (steps 3-4), COMMIT (txn 2).
  for (const char* plan : {"sqlite_step:2", "sqlite_step:3", "sqlite_step:4", "sqlite_txn:2"}) {
    SCOPED_TRACE(plan);
    std::error_code ec;
    {
      test::FaultPlan faults(plan);
      ec = append_keys(s, "a", 0, 2);
    }
    EXPECT_TRUE(ec);
    EXPECT_FALSE(s.in_transaction());
    EXPECT_EQ(s.last_seq(), 0u);
    EXPECT_EQ(s.dedupe_rows("a"), 0u);
  }
  ASSERT_FALSE(append_keys(s, "a", 0, 2));
  EXPECT_EQ(s.dedupe_rows("a"), 2u);
  EXPECT_EQ(s.last_seq(), 2u);
}

TEST(StoreDedupe, VersionOneDatabaseIsMigrated) {
  test::CensusGuard census;
  test::TempDir dir;
  const std::string path = dir.file("store.db");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const char* v1 =
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE meta(id INTEGER PRIMARY KEY CHECK (id = 1), next_seq INTEGER NOT NULL, purged_upto INTEGER NOT NULL);"
        "INSERT INTO meta VALUES(1, 3, 0);"
        "CREATE TABLE events(seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, source TEXT NOT NULL, body BLOB NOT NULL);"
        "INSERT INTO events VALUES(1, 5, 'x', '{\"a\":1}'), (2, 6, 'x', '{\"a\":2}');"
        "CREATE TABLE sinks(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, cursor INTEGER NOT NULL);"
        "CREATE TABLE dead_letters(id INTEGER PRIMARY KEY AUTOINCREMENT, sink INTEGER NOT NULL,"
        " first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
        " status TEXT NOT NULL CHECK (status IN ('dead', 'replaying', 'replayed')),"
        " reason TEXT NOT NULL, http_status INTEGER NOT NULL, ts_ms INTEGER NOT NULL);"
        "PRAGMA user_version = 1;";
    ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir)));
  EXPECT_EQ(s.last_seq(), 2u);
  loaded(s, "x", 10);
  ASSERT_FALSE(append_keys(s, "x", 7, 8));
  EXPECT_EQ(s.last_seq(), 3u);
  EXPECT_EQ(loaded(s, "x", 10), std::vector<int>{7});
  s.close();
  // A database of a newer schema than this build is refused.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 5;", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  EXPECT_EQ(s.open(opts_for(dir)), make_error_code(StoreErrc::schema));
}

TEST(StoreDedupe, AppendWithKeysAllocatesNothing) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir)));
  loaded(s, "a", 8);
  std::array<DedupeKey, 4> keys{};
  std::array<EventIn, 4> ev{};
  std::array<std::uint64_t, 4> seqs{};
  auto round = [&](int r) {
    for (int i = 0; i < 4; ++i) {
      keys[static_cast<std::size_t>(i)] = key_of(r * 4 + i);
      ev[static_cast<std::size_t>(i)] = EventIn{"a", "{\"k\":1}", 1, &keys[static_cast<std::size_t>(i)]};
    }
    return s.append(ev, seqs);
  };
  for (int r = 0; r < 4; ++r) ASSERT_FALSE(round(r));  // warm-up: statements and pages
  const std::uint64_t before = test::heap_allocations();
  for (int r = 4; r < 40; ++r) ASSERT_FALSE(round(r));
  EXPECT_EQ(test::heap_allocations() - before, 0u);
  EXPECT_LE(s.dedupe_rows("a"), 9u);
}

}  // namespace
}  // namespace bh
