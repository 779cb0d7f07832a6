// RecentEvents against a model (every row ever added, by seq): what it holds is always one run of
// consecutive seqs ending at the last row added, each equal to the model's row, whatever the sizes,
// the ring's wrap, the slots running out, rows added again after a rollback, and drops. And the
// store: a sink reads the same rows from memory as from the table, also after a failed commit whose
// seqs are used again, and after retention.
#include "platform/store/recent_events.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "platform/store/store.hpp"
#include "tests/support/census.hpp"
#include "tests/support/fault_plan.hpp"

namespace bh {
namespace {

struct Row {
  std::string source, identity, body;
  std::int64_t ts;
  bool unsynced;
};

void expect_row(const EventOut& e, std::uint64_t seq, const Row& r) {
  EXPECT_EQ(e.seq, seq);
  EXPECT_EQ(e.source, r.source);
  EXPECT_EQ(e.identity, r.identity);
  EXPECT_EQ(e.body, r.body);
  EXPECT_EQ(e.ts_ms, r.ts);
  EXPECT_EQ(e.clock_unsynced, r.unsynced);
}

TEST(RecentEvents, HoldsOneRunOfTheNewestRowsEqualToWhatWasAdded) {
  RecentEvents c;
  c.init(1000, 16);
  std::map<std::uint64_t, Row> model;
  std::mt19937 rng(7);
  std::uint64_t next = 1, run_first = 1;  // rows [run_first, next) are in the table
  std::uint64_t held_total = 0, adds = 0;
  for (int step = 0; step < 20000; ++step) {
    const int what = static_cast<int>(rng() % 100);
    if (what < 3 && next > run_first + 1) {  // a rollback: the last rows go, their seqs come again
      const std::uint64_t to = next - 1 - rng() % std::min<std::uint64_t>(next - run_first, 20);
      c.drop_after(to - 1);
      next = to;
    } else if (what < 5 && next > run_first) {  // retention
      const std::uint64_t upto = run_first + rng() % (next - run_first);
      c.drop_through(upto);
      run_first = upto + 1;
    } else {
      Row r{"src" + std::to_string(rng() % 3), rng() % 4 == 0 ? "cn=" + std::to_string(step) : "",
            std::string(rng() % 10 == 0 ? 200 + rng() % 100 : rng() % 60, static_cast<char>('a' + step % 26)),
            static_cast<std::int64_t>(step), rng() % 7 == 0};
      model[next] = r;
      EventIn in{r.source, r.body, r.ts};
      in.identity = r.identity;
      in.clock_unsynced = r.unsynced;
      c.add(next, in);
      ++adds;
      const std::size_t len = r.source.size() + r.identity.size() + r.body.size();
      EXPECT_EQ(c.holds(next), len <= 250) << "step " << step;  // cap / 4 is kept
      ++next;
    }
    // One run, ending at the newest row, each row as added.
    std::uint64_t lo = next, n = 0;
    while (lo > run_first && c.holds(lo - 1)) --lo, ++n;
    for (std::uint64_t s = run_first; s < lo; ++s) EXPECT_FALSE(c.holds(s)) << "step " << step << " seq " << s;
    EXPECT_FALSE(c.holds(next));
    EXPECT_LE(n, 16u);
    for (std::uint64_t s = lo; s < next; ++s) expect_row(c.get(s), s, model[s]);
    held_total += n;
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GT(held_total / adds, 4u);  // it keeps a useful run, not one row
}

TEST(RecentEvents, DisabledHoldsNothing) {
  RecentEvents c;
  c.init(0, 16);
  c.add(1, EventIn{"s", "b", 1});
  EXPECT_FALSE(c.holds(1));
}

// ---- in the store ------------------------------------------------------------------------------

std::vector<std::pair<std::uint64_t, Row>> read_rows(Store& s, int k, std::uint32_t max, bool range) {
  std::vector<std::pair<std::uint64_t, Row>> out;
  std::uint32_t count = 0;
  auto keep = [&](const EventOut& e) {
    out.push_back({e.seq, Row{std::string(e.source), std::string(e.identity), std::string(e.body), e.ts_ms,
                              e.clock_unsynced}});
  };
  const std::uint64_t from = s.cursor(k) + 1;
  std::error_code ec = range ? s.read_range(from, from + max - 1, keep, count) : s.read_batch(k, max, 1 << 30, keep, count);
  EXPECT_FALSE(ec) << ec.message();
  return out;
}

bool operator==(const Row& a, const Row& b) {
  return a.source == b.source && a.identity == b.identity && a.body == b.body && a.ts == b.ts && a.unsynced == b.unsynced;
}

TEST(RecentEvents, TheStoreReadsTheSameRowsFromMemoryAsFromTheTable) {
  test::CensusGuard census;
  test::TempDir dir;
  StoreOptions o;
  o.path = dir.file("store.db");
  o.sync_full = false;
  o.max_batch = 100;
  o.recent_bytes = 2048;  // small: the ring wraps and sinks that fall behind read the table
  o.recent_rows = 64;
  o.retention_age_ms = 0;
  Store s;
  ASSERT_FALSE(s.open(o));
  int k = -1;
  ASSERT_FALSE(s.register_sink("k", k));
  std::mt19937 rng(11);
  std::vector<std::string> bodies(100);
  std::vector<EventIn> ev(100);
  std::vector<std::uint64_t> seqs(100);
  auto append = [&](std::size_t n, int round, bool fail) {
    for (std::size_t i = 0; i < n; ++i) {
      bodies[i] = "{\"r\":" + std::to_string(round) + ",\"i\":" + std::to_string(i) + ",\"pad\":\"" +
                  std::string(rng() % 80, 'p') + "\"}";
      ev[i] = EventIn{i % 2 ? "a" : "bb", bodies[i], round * 1000 + static_cast<std::int64_t>(i)};
      ev[i].identity = i % 3 == 0 ? std::string_view("cn=x") : std::string_view();
      ev[i].clock_unsynced = i % 5 == 0;
    }
    if (!fail) return s.append({ev.data(), n}, seqs);
    test::FaultPlan faults("sqlite_txn:2");  // its COMMIT fails: the rows roll back, their seqs come again
    return s.append({ev.data(), n}, seqs);
  };
  std::uint64_t purged = 0;
  for (int round = 0; round < 300; ++round) {
    const std::size_t n = 1 + rng() % (round % 10 == 0 ? 100 : 12);
    const bool fail = round % 7 == 3;
    EXPECT_EQ(static_cast<bool>(append(n, round, fail)), fail);
    if (rng() % 3 == 0) {  // the sink reads some: from memory when it kept up, else the table
      const std::uint32_t max = 1 + rng() % 40;
      const auto want = read_rows(s, k, max, true);
      const auto got = read_rows(s, k, max, false);
      ASSERT_EQ(got, want) << "round " << round;
      if (!got.empty()) {
        ASSERT_FALSE(s.advance_cursor(k, got.back().first));
      }
    }
    if (round % 50 == 49) {  // retention: what the sink has read goes
      std::uint64_t deleted = 0;
      ASSERT_FALSE(s.apply_retention(1'000'000'000, deleted));
      purged += deleted;
    }
  }
  while (s.cursor(k) < s.last_seq()) {
    const auto want = read_rows(s, k, 50, true);
    ASSERT_EQ(read_rows(s, k, 50, false), want);
    ASSERT_FALSE(s.advance_cursor(k, want.back().first));
  }
  EXPECT_GT(purged, 0u);
  EXPECT_GT(s.stats().cached_reads, 0u);
  EXPECT_LT(s.stats().cached_reads, s.stats().appended);  // and some came from the table
}

}  // namespace
}  // namespace bh
