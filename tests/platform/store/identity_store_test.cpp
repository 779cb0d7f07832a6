// events.identity (schema version 3): an event's authenticated client is stored with it and read
// back; an event without one reads back empty (NULL in the table); a version-2 database gets the
// column added on open, its events keep their data and read back without an identity.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <array>
#include <string>
#include <vector>

#include "platform/store/store.hpp"
#include "tests/support/census.hpp"

namespace bh {
namespace {

StoreOptions opts_for(const test::TempDir& dir) {
  StoreOptions o;
  o.path = dir.file("store.db");
  o.sync_full = false;
  o.busy_timeout_ms = 200;
  return o;
}

struct Row {
  std::uint64_t seq;
  std::string body, identity;
  bool operator==(const Row&) const = default;
};
std::vector<Row> rows(Store& s, std::uint64_t first, std::uint64_t last) {
  std::vector<Row> out;
  std::uint32_t n = 0;
  EXPECT_FALSE(s.read_range(first, last, [&](const EventOut& e) {
    out.push_back(Row{e.seq, std::string(e.body), std::string(e.identity)});
  }, n));
  return out;
}

// One integer from a query on the closed store's file (-1 if it fails).
int query_int(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_stmt* st = nullptr;
  int v = -1;
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

TEST(StoreIdentity, StoredWithTheEventAndNullWithout) {
  test::CensusGuard census;
  test::TempDir dir;
  Store s;
  ASSERT_FALSE(s.open(opts_for(dir)));
  const std::array<EventIn, 2> in{EventIn{"ingest", "{\"a\":1}", 5, nullptr, "bh-client"},
                                  EventIn{"ingest", "{\"a\":2}", 6}};
  std::array<std::uint64_t, 2> seqs{};
  ASSERT_FALSE(s.append(in, seqs));
  EXPECT_EQ(rows(s, 1, 2), (std::vector<Row>{{1, "{\"a\":1}", "bh-client"}, {2, "{\"a\":2}", ""}}));
  s.close();
  EXPECT_EQ(query_int(dir.file("store.db"), "SELECT count(*) FROM events WHERE identity IS NULL"), 1);
}

TEST(StoreIdentity, VersionTwoDatabaseGetsTheColumn) {
  test::CensusGuard census;
  test::TempDir dir;
  const std::string path = dir.file("store.db");
  Store s;
  {  // A version-2 database: this schema without events.identity.
    ASSERT_FALSE(s.open(opts_for(dir)));
    const std::array<EventIn, 2> in{EventIn{"x", "{\"a\":1}", 5}, EventIn{"x", "{\"a\":2}", 6}};
    std::array<std::uint64_t, 2> seqs{};
    ASSERT_FALSE(s.append(in, seqs));
    s.close();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE events DROP COLUMN identity; PRAGMA user_version = 2;", nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
    ASSERT_EQ(query_int(path, "SELECT count(*) FROM pragma_table_info('events') WHERE name = 'identity'"), 0);
  }
  ASSERT_FALSE(s.open(opts_for(dir)));
  EXPECT_EQ(s.last_seq(), 2u);
  const std::array<EventIn, 1> in{EventIn{"ingest", "{\"a\":3}", 7, nullptr, "meter-7"}};
  std::array<std::uint64_t, 1> seqs{};
  ASSERT_FALSE(s.append(in, seqs));
  EXPECT_EQ(rows(s, 1, 3),
            (std::vector<Row>{{1, "{\"a\":1}", ""}, {2, "{\"a\":2}", ""}, {3, "{\"a\":3}", "meter-7"}}));
  s.close();
  // Opened again (the column exists now): nothing more to migrate.
  ASSERT_FALSE(s.open(opts_for(dir)));
  EXPECT_EQ(rows(s, 3, 3), (std::vector<Row>{{3, "{\"a\":3}", "meter-7"}}));
  s.close();
  EXPECT_EQ(query_int(path, "PRAGMA user_version"), 4);
}

}  // namespace
}  // namespace bh
