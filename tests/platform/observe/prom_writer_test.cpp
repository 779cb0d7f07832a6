// PromWriter: the text format 0.0.4 into a fixed buffer: HELP and TYPE per family, samples with no,
// one or two labels, label values escaped, running out of room sticky; PromValue keeps the number
// type; MetricRow tables written by write_rows (unlabelled, per object with a label, `when`,
// summaries); nothing allocated.
#include "platform/observe/prom_writer.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/census.hpp"

namespace bh {
namespace {

using Kind = PromWriter::Kind;

struct Buf {
  std::array<char, 4096> b{};
  PromWriter w{b.data(), b.size()};
  std::string text() const { return std::string(b.data(), w.size()); }
};

TEST(PromWriter, FamilyWritesHelpThenTypeForEachKind) {
  Buf o;
  o.w.family("bulkhead_a_total", Kind::counter, "Things counted.");
  o.w.value(3);
  o.w.family("bulkhead_b", Kind::gauge, "A level.");
  o.w.value(7);
  o.w.summary("bulkhead_c_seconds", "Time spent.", 1.5, 4u);
  EXPECT_EQ(o.text(),
            "# HELP bulkhead_a_total Things counted.\n# TYPE bulkhead_a_total counter\nbulkhead_a_total 3\n"
            "# HELP bulkhead_b A level.\n# TYPE bulkhead_b gauge\nbulkhead_b 7\n"
            "# HELP bulkhead_c_seconds Time spent.\n# TYPE bulkhead_c_seconds summary\n"
            "bulkhead_c_seconds_sum 1.5\nbulkhead_c_seconds_count 4\n");
  EXPECT_TRUE(o.w.ok());
}

TEST(PromWriter, OneAndTwoLabels) {
  Buf o;
  o.w.family("bulkhead_x", Kind::gauge, "X.");
  o.w.value("pool", "task", 1);
  o.w.value("sink", "t", "state", "open", 0);
  EXPECT_EQ(o.text(), "# HELP bulkhead_x X.\n# TYPE bulkhead_x gauge\nbulkhead_x{pool=\"task\"} 1\n"
                      "bulkhead_x{sink=\"t\",state=\"open\"} 0\n");
}

TEST(PromWriter, LabelValuesEscapeBackslashQuoteAndNewline) {
  Buf o;
  o.w.family("bulkhead_x", Kind::gauge, "X.");
  o.w.value("l", "a\\b\"c\nd", 1);
  o.w.value("l1", "\"", "l2", "\\\n", 2);
  EXPECT_EQ(o.text(), "# HELP bulkhead_x X.\n# TYPE bulkhead_x gauge\nbulkhead_x{l=\"a\\\\b\\\"c\\nd\"} 1\n"
                      "bulkhead_x{l1=\"\\\"\",l2=\"\\\\\\n\"} 2\n");
}

TEST(PromWriter, PromValueKeepsTheNumberType) {
  Buf o;
  o.w.family("bulkhead_x", Kind::gauge, "X.");
  o.w.value(PromValue(std::numeric_limits<std::uint64_t>::max()));
  o.w.value(PromValue(-1));
  o.w.value(PromValue(0.25));
  o.w.value(PromValue(2.0));
  o.w.value(PromValue(std::uint32_t{42}));
  EXPECT_EQ(o.text(), "# HELP bulkhead_x X.\n# TYPE bulkhead_x gauge\nbulkhead_x 18446744073709551615\n"
                      "bulkhead_x -1\nbulkhead_x 0.25\nbulkhead_x 2\nbulkhead_x 42\n");
}

// Every cut of a fixed text: up to its length it does not fit (ok() false, sticky: a later short
// write does not land either); at its length and beyond it fits exactly.
TEST(PromWriter, RunningOutOfRoomIsStickyAtEveryCapacity) {
  auto write = [](PromWriter& w) {
    w.family("bulkhead_x", Kind::counter, "X.");
    w.value("l", "a\"b", 12);
    w.value(3);
  };
  std::array<char, 256> full{};
  PromWriter ref(full.data(), full.size());
  write(ref);
  ASSERT_TRUE(ref.ok());
  const std::size_t need = ref.size();
  for (std::size_t cap = 0; cap <= need + 1; ++cap) {
    std::vector<char> b(cap + 1, '\x7f');
    PromWriter w(b.data(), cap);
    write(w);
    if (cap < need) {
      EXPECT_FALSE(w.ok()) << cap;
      const std::size_t at = w.size();
      EXPECT_LE(at, cap);
      w.one("y", Kind::gauge, "", 1);  // would fit in what is left: sticky, nothing written
      EXPECT_FALSE(w.ok());
      EXPECT_EQ(w.size(), at) << cap;
    } else {
      EXPECT_TRUE(w.ok()) << cap;
      EXPECT_EQ(std::string(b.data(), w.size()), std::string(full.data(), need));
    }
    EXPECT_EQ(b[cap], '\x7f') << "wrote past its capacity " << cap;
  }
}

// ---- Metric tables --------------------------------------------------------------------------------

struct Thing {
  std::string_view name;
  std::uint64_t n;
  bool big;
  double secs;
};
constexpr MetricRow<Thing> kThingRows[] = {
    {"bulkhead_thing_n_total", Kind::counter, "N.", [](const Thing& t) -> PromValue { return t.n; }},
    {"bulkhead_thing_big", Kind::gauge, "Only big things.", [](const Thing& t) -> PromValue { return t.n * 10; }, [](const Thing& t) { return t.big; }},
    {"bulkhead_thing_seconds", Kind::gauge, "Secs.", [](const Thing& t) -> PromValue { return t.secs; }},
};

TEST(MetricRows, ATableOverARegistryIsOneFamilyPerRowWithOneSamplePerObject) {
  test::CensusGuard census;
  const Thing a{"a", 1, false, 0.5}, b{"b\"x", 2, true, 2};
  const Thing* things[] = {&a, &b};
  Buf o;
  const std::uint64_t heap0 = test::heap_allocations();
  write_rows(o.w, kThingRows, "thing", things, [](const Thing& t) { return t.name; });
  EXPECT_EQ(test::heap_allocations(), heap0);
  EXPECT_EQ(o.text(),
            "# HELP bulkhead_thing_n_total N.\n# TYPE bulkhead_thing_n_total counter\n"
            "bulkhead_thing_n_total{thing=\"a\"} 1\nbulkhead_thing_n_total{thing=\"b\\\"x\"} 2\n"
            "# HELP bulkhead_thing_big Only big things.\n# TYPE bulkhead_thing_big gauge\n"
            "bulkhead_thing_big{thing=\"b\\\"x\"} 20\n"
            "# HELP bulkhead_thing_seconds Secs.\n# TYPE bulkhead_thing_seconds gauge\n"
            "bulkhead_thing_seconds{thing=\"a\"} 0.5\nbulkhead_thing_seconds{thing=\"b\\\"x\"} 2\n");
}

TEST(MetricRows, ARowWhoseWhenHoldsForNoObjectWritesNoFamily) {
  const Thing a{"a", 1, false, 0};
  const Thing* things[] = {&a};
  Buf o;
  write_rows(o.w, kThingRows, "thing", things, [](const Thing& t) { return t.name; });
  EXPECT_EQ(o.text().find("bulkhead_thing_big"), std::string::npos) << o.text();
  EXPECT_NE(o.text().find("bulkhead_thing_seconds{thing=\"a\"} 0\n"), std::string::npos) << o.text();
  // No objects at all: the rows without `when` still announce their family (empty), as before.
  Buf e;
  write_rows(e.w, kThingRows, "thing", std::span<const Thing* const>{}, [](const Thing& t) { return t.name; });
  EXPECT_EQ(e.text(), "# HELP bulkhead_thing_n_total N.\n# TYPE bulkhead_thing_n_total counter\n"
                      "# HELP bulkhead_thing_seconds Secs.\n# TYPE bulkhead_thing_seconds gauge\n");
}

struct Stats {
  std::uint64_t runs;
  std::uint64_t total_us;
};
constexpr MetricRow<Stats> kStatsRows[] = {
    {"bulkhead_runs_total", Kind::counter, "Runs.", [](const Stats& s) -> PromValue { return s.runs; }},
    {"bulkhead_run_seconds", Kind::summary, "Run time.", [](const Stats& s) -> PromValue { return static_cast<double>(s.total_us) / 1e6; }, nullptr, [](const Stats& s) -> PromValue { return s.runs; }},
};

TEST(MetricRows, ATableOverOneObjectIsOneUnlabelledSamplePerRowAndSummariesGetSumAndCount) {
  Buf o;
  write_rows(o.w, kStatsRows, Stats{4, 1'250'000});
  EXPECT_EQ(o.text(), "# HELP bulkhead_runs_total Runs.\n# TYPE bulkhead_runs_total counter\nbulkhead_runs_total 4\n"
                      "# HELP bulkhead_run_seconds Run time.\n# TYPE bulkhead_run_seconds summary\n"
                      "bulkhead_run_seconds_sum 1.25\nbulkhead_run_seconds_count 4\n");
}

}  // namespace
}  // namespace bh
