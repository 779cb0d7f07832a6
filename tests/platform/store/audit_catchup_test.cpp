// Audit catch-up: after a crash the audit log is brought level with the store: missing tail lines
// written from the store (same format, in order, across chunks and rotations), an incomplete or
// zero-filled last line cut away, the newest rotated file used when the current one is empty,
// nothing done when the log is up to date or the store is fresh, purged seqs counted as a gap and
// never invented, a log ahead of the store left alone. FDs back to baseline in every test.
#include "platform/store/audit_catchup.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "platform/store/audit_log.hpp"
#include "platform/store/store.hpp"
#include "tests/support/census.hpp"
#include "tests/support/files.hpp"

namespace bh {
namespace {

using test::read_file;
using test::write_file;

// The line AuditLog writes for the i-th event append_events stores (seq i).
std::string line(std::uint64_t seq) {
  return std::to_string(seq) + " " + std::to_string(1000 + seq) + " src-" + std::to_string(seq % 3) + " " +
         std::to_string(seq % 7) + "\n";
}
std::string lines(std::uint64_t first, std::uint64_t last) {
  std::string s;
  for (std::uint64_t i = first; i <= last; ++i) s += line(i);
  return s;
}

// Appends events up to seq `last` (seq i: source "src-<i%3>", body of i%7 bytes, ts 1000+i).
void append_events(Store& s, std::uint64_t last) {
  for (std::uint64_t seq = s.last_seq() + 1; seq <= last; ++seq) {
    const std::string source = "src-" + std::to_string(seq % 3);
    const std::string body(seq % 7, 'b');
    EventIn ev{source, body, static_cast<std::int64_t>(1000 + seq)};
    std::uint64_t got = 0;
    ASSERT_FALSE(s.append({&ev, 1}, {&got, 1}));
    ASSERT_EQ(got, seq);
  }
}

struct Fixture {
  test::TempDir dir;
  Store store;
  AuditLog audit;
  std::string path = dir.file("audit.log");

  explicit Fixture(std::uint64_t events) {
    StoreOptions o;
    o.path = dir.file("store.db");
    o.sync_full = false;
    o.retention_age_ms = 0;
    EXPECT_FALSE(store.open(o));
    append_events(store, events);
  }
  AuditCatchUp run(std::uint64_t rotate_bytes = 64ULL << 20) {
    EXPECT_FALSE(audit.open({.path = path, .rotate_bytes = rotate_bytes, .keep = 5}));
    AuditCatchUp r;
    auto ec = catch_up_audit(audit, store, r);
    EXPECT_FALSE(ec) << ec.message();
    audit.close();
    return r;
  }
};

TEST(AuditCatchUp, FreshStoreWithoutLogDoesNothing) {
  test::CensusGuard census;
  Fixture f(0);
  AuditCatchUp r = f.run();
  EXPECT_FALSE(r.trail);
  EXPECT_EQ(r.recovered, 0u);
  EXPECT_EQ(r.unrecoverable, 0u);
  EXPECT_EQ(read_file(f.path), "");
  EXPECT_EQ(f.audit.stats().recovered_lines, 0u);
}

// The current file's tail as a crash leaves it, against a store holding seqs 1..10.
struct TailCase {
  const char* what;
  std::string file;
  std::uint64_t trail_seq;
  std::uint64_t dropped;
};

TEST(AuditCatchUp, CurrentFileTailsAreCutAndCaughtUp) {
  test::CensusGuard census;
  const std::string partial = line(7).substr(0, 6);
  // What a power cut may leave: blocks of zeros (longer than a read block) and a line cut mid-field.
  const std::string junk = std::string(5000, '\0') + "\n" + "8 1008 src-2\n" + std::string(10, '\0');
  const TailCase cases[] = {
      {"up to date", lines(1, 10), 10, 0},
      {"missing tail lines", lines(1, 6), 6, 0},
      {"an incomplete last line", lines(1, 6) + partial, 6, partial.size()},
      {"zeros and a garbled line", lines(1, 7) + junk, 7, junk.size()},
  };
  for (const TailCase& c : cases) {
    SCOPED_TRACE(c.what);
    Fixture f(10);
    write_file(f.path, c.file);
    AuditCatchUp r = f.run();
    EXPECT_TRUE(r.trail);
    EXPECT_EQ(r.trail_seq, c.trail_seq);
    EXPECT_EQ(r.dropped_bytes, c.dropped);
    EXPECT_EQ(r.recovered, 10 - c.trail_seq);
    if (r.recovered) {
      EXPECT_EQ(r.first, c.trail_seq + 1);
      EXPECT_EQ(r.last, 10u);
    }
    EXPECT_EQ(r.unrecoverable, 0u);
    EXPECT_EQ(read_file(f.path), lines(1, 10));
    const AuditStats st = f.audit.stats();
    EXPECT_EQ(st.recovered_lines, r.recovered);
    EXPECT_EQ(st.lines, r.recovered);
    EXPECT_EQ(st.unrecoverable_seqs, 0u);
    // A second start finds the log level: nothing more.
    EXPECT_EQ(f.run().recovered, 0u);
    EXPECT_EQ(read_file(f.path), lines(1, 10));
  }
}

TEST(AuditCatchUp, OnlyAnIncompleteLineFallsBackToTheRotatedFile) {
  test::CensusGuard census;
  Fixture f(10);
  write_file(f.path + ".1", lines(1, 5));
  write_file(f.path, "6 10");  // all the current file got before the cut
  AuditCatchUp r = f.run();
  EXPECT_TRUE(r.trail);
  EXPECT_EQ(r.trail_seq, 5u);
  EXPECT_EQ(r.recovered, 5u);
  EXPECT_EQ(read_file(f.path), lines(6, 10));
  EXPECT_EQ(read_file(f.path + ".1"), lines(1, 5));  // rotated files are never changed
}

TEST(AuditCatchUp, EmptyCurrentFileUsesTheNewestRotatedOne) {
  test::CensusGuard census;
  Fixture f(9);
  write_file(f.path + ".2", lines(1, 3));
  write_file(f.path + ".1", lines(4, 6));
  write_file(f.path, "");
  AuditCatchUp r = f.run();
  EXPECT_EQ(r.trail_seq, 6u);
  EXPECT_EQ(r.recovered, 3u);
  EXPECT_EQ(read_file(f.path), lines(7, 9));
}

TEST(AuditCatchUp, PurgedSeqsAreAGapNeverInvented) {
  test::CensusGuard census;
  Fixture f(10);
  int sink = -1;
  ASSERT_FALSE(f.store.register_sink("k", sink));
  ASSERT_FALSE(f.store.advance_cursor(sink, 6));
  std::uint64_t deleted = 0;
  ASSERT_FALSE(f.store.apply_retention(1'000'000, deleted));
  ASSERT_EQ(deleted, 6u);  // 1..6 delivered and old: gone
  write_file(f.path, lines(1, 3));
  AuditCatchUp r = f.run();
  EXPECT_EQ(r.recovered, 4u);
  EXPECT_EQ(r.first, 7u);
  EXPECT_EQ(r.unrecoverable, 3u);  // 4..6
  EXPECT_EQ(read_file(f.path), lines(1, 3) + lines(7, 10));
  EXPECT_EQ(f.audit.stats().unrecoverable_seqs, 3u);
}

TEST(AuditCatchUp, ManyChunksAcrossRotationsStayInOrder) {
  test::CensusGuard census;
  const std::uint64_t n = 2 * kAuditCatchUpChunk + 17;
  Fixture f(n);
  write_file(f.path, lines(1, 2));
  AuditCatchUp r = f.run(16 * 1024);
  EXPECT_EQ(r.recovered, n - 2);
  EXPECT_EQ(r.last, n);
  EXPECT_GT(f.audit.stats().rotations, 0u);
  std::string all;
  for (int i = 5; i >= 1; --i) all += read_file(f.path + "." + std::to_string(i));
  all += read_file(f.path);
  EXPECT_EQ(all, lines(1, n));
}

TEST(AuditCatchUp, LogAheadOfTheStoreIsLeftAlone) {
  test::CensusGuard census;
  Fixture f(3);
  write_file(f.path, lines(1, 8));  // e.g. a store replaced under an old log
  AuditCatchUp r = f.run();
  EXPECT_TRUE(r.ahead);
  EXPECT_EQ(r.recovered, 0u);
  EXPECT_EQ(read_file(f.path), lines(1, 8));
}

TEST(AuditCatchUp, StoreWithoutAnyLogGetsEveryRetainedEvent) {
  test::CensusGuard census;
  Fixture f(4);
  AuditCatchUp r = f.run();
  EXPECT_FALSE(r.trail);
  EXPECT_EQ(r.recovered, 4u);
  EXPECT_EQ(read_file(f.path), lines(1, 4));
}

}  // namespace
}  // namespace bh
