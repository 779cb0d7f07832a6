// platform/sources/: the event ring (drop_oldest, in-flight records kept, wrap-around), the body
// splitter (ndjson, json_array, whole, oversized items, bytes in any chunking) and the JSON string
// escaping used to wrap non-JSON bodies.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "platform/sources/event_ring.hpp"
#include "platform/sources/source.hpp"
#include "platform/sources/splitter.hpp"
#include "tests/platform/sources/split_collect.hpp"

namespace bh {
namespace {

std::vector<std::string> drain(EventRing& r) {
  std::vector<std::string> out;
  EventRing::Record rec;
  while (r.next_queued(rec)) {
    out.emplace_back(rec.body);
    r.mark_in_flight();
  }
  while (r.in_flight() > 0) r.pop_in_flight();
  return out;
}

TEST(EventRing, FifoAndCountLimitDropsOldest) {
  EventRing r(3);
  std::uint64_t dropped = 0;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(r.push("e" + std::to_string(i), i, dropped), EventRing::Reserve::ok);
  EXPECT_EQ(dropped, 0u);
  EXPECT_EQ(r.count(), 3u);
  ASSERT_EQ(r.push("e3", 3, dropped), EventRing::Reserve::ok);  // N+1: the oldest goes
  EXPECT_EQ(dropped, 1u);
  EXPECT_EQ(r.count(), 3u);
  EventRing::Record rec;
  ASSERT_TRUE(r.next_queued(rec));
  EXPECT_EQ(rec.body, "e1");
  EXPECT_EQ(rec.ts_ms, 1);
  EXPECT_EQ(drain(r), (std::vector<std::string>{"e1", "e2", "e3"}));
  EXPECT_EQ(r.count(), 0u);
  EXPECT_EQ(r.high_water(), 3u);
}

TEST(EventRing, InFlightRecordsAreNeverDropped) {
  EventRing r(2);
  std::uint64_t dropped = 0;
  ASSERT_EQ(r.push("a", 0, dropped), EventRing::Reserve::ok);
  ASSERT_EQ(r.push("b", 0, dropped), EventRing::Reserve::ok);
  EventRing::Record rec;
  ASSERT_TRUE(r.next_queued(rec));
  r.mark_in_flight();  // "a" is with the committer
  EXPECT_EQ(r.push("c", 0, dropped), EventRing::Reserve::blocked);
  EXPECT_EQ(dropped, 0u);
  r.pop_in_flight();  // committed
  ASSERT_EQ(r.push("c", 0, dropped), EventRing::Reserve::ok);
  EXPECT_EQ(drain(r), (std::vector<std::string>{"b", "c"}));
}

TEST(EventRing, BytesBoundWrapsAndDropsOldest) {
  EventRing r(100000);
  std::uint64_t dropped = 0;
  const std::string big(40000, 'x');
  int pushed = 0;
  std::vector<std::string> expect;
  // Many pushes of mixed sizes: the ring wraps around many times and never loses order.
  for (int i = 0; i < 200; ++i) {
    std::string body = std::to_string(i) + (i % 3 == 0 ? big : std::string(static_cast<std::size_t>(i * 37 % 5000), 'y'));
    ASSERT_EQ(r.push(body, i, dropped), EventRing::Reserve::ok) << i;
    ++pushed;
    if (i % 7 == 6) {
      // Take a few as the pump would, commit them.
      EventRing::Record rec;
      for (int k = 0; k < 2 && r.next_queued(rec); ++k) r.mark_in_flight();
      while (r.in_flight() > 0) r.pop_in_flight();
    }
  }
  EXPECT_GT(dropped, 0u);
  EXPECT_LE(r.count() * 16u, EventRing::kBytes);
  // What is left is the newest events, in order.
  auto left = drain(r);
  ASSERT_FALSE(left.empty());
  int prev = -1;
  for (auto& s : left) {
    int n = std::stoi(s);
    EXPECT_GT(n, prev);
    prev = n;
  }
  EXPECT_EQ(prev, 199);
  std::string too_big(EventRing::kBytes, 'z');
  EXPECT_EQ(r.push(too_big, 0, dropped), EventRing::Reserve::too_big);
}

TEST(EventRing, DropQueuedKeepsInFlight) {
  EventRing r(10);
  std::uint64_t dropped = 0;
  for (int i = 0; i < 5; ++i) ASSERT_EQ(r.push("e" + std::to_string(i), i, dropped), EventRing::Reserve::ok);
  EventRing::Record rec;
  ASSERT_TRUE(r.next_queued(rec));
  r.mark_in_flight();
  ASSERT_TRUE(r.next_queued(rec));
  r.mark_in_flight();
  EXPECT_EQ(r.drop_queued(), 3u);
  EXPECT_EQ(r.count(), 2u);
  EXPECT_EQ(r.queued(), 0u);
  r.pop_in_flight();
  r.pop_in_flight();
  ASSERT_EQ(r.push("new", 9, dropped), EventRing::Reserve::ok);
  EXPECT_EQ(drain(r), std::vector<std::string>{"new"});
}

using test::Collect;

// Feeds `body` in pieces of `step` bytes.
Collect split(SplitMode m, std::string_view body, std::size_t step, std::size_t cap = 64) {
  std::vector<char> buf(cap);
  Splitter s(m, buf);
  Collect c;
  for (std::size_t i = 0; i < body.size(); i += step) s.feed(body.substr(i, step), c);
  s.finish(c);
  return c;
}

TEST(Splitter, NdjsonInAnyChunking) {
  const std::string body = "{\"a\":1}\n\r\n{\"b\":2}\r\n\n{\"c\":3}";
  for (std::size_t step : {1u, 2u, 5u, 100u}) {
    Collect c = split(SplitMode::ndjson, body, step);
    EXPECT_EQ(c.items, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"})) << step;
    EXPECT_TRUE(c.big.empty());
  }
}

TEST(Splitter, NdjsonOversizedLineIsSkippedToItsEnd) {
  std::string body = "{\"a\":1}\n" + std::string(100, 'x') + "\n{\"b\":2}\n";
  Collect c = split(SplitMode::ndjson, body, 7, 16);
  EXPECT_EQ(c.items, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
  EXPECT_EQ(c.big, std::vector<std::uint64_t>{100});
}

TEST(Splitter, JsonArrayElementsWithNestingAndStrings) {
  const std::string body = R"( [ {"a":"x,]}\"y","n":[1,{"b":2}]} , {"c":3},
    "str", 42 ] )";
  for (std::size_t step : {1u, 3u, 1000u}) {
    Collect c = split(SplitMode::json_array, body, step);
    EXPECT_EQ(c.items, (std::vector<std::string>{R"({"a":"x,]}\"y","n":[1,{"b":2}]})", R"({"c":3})", "\"str\"", "42"}))
        << step;
    EXPECT_TRUE(c.bad.empty()) << c.bad[0];
  }
  EXPECT_TRUE(split(SplitMode::json_array, "[]", 1).items.empty());
  EXPECT_TRUE(split(SplitMode::json_array, "[]", 1).bad.empty());
}

TEST(Splitter, JsonArrayMalformed) {
  EXPECT_EQ(split(SplitMode::json_array, "{\"a\":1}", 4).bad.size(), 1u);
  Collect c = split(SplitMode::json_array, "[{\"a\":1},{\"b\":", 4);
  EXPECT_EQ(c.items, std::vector<std::string>{"{\"a\":1}"});
  ASSERT_EQ(c.bad.size(), 1u);
  EXPECT_EQ(c.bad[0], std::string("the JSON array is not terminated"));
  EXPECT_EQ(split(SplitMode::json_array, "[1] x", 4).bad.size(), 1u);
  EXPECT_EQ(split(SplitMode::json_array, "", 4).bad.size(), 1u);
}

TEST(Splitter, WholeBodyAtItsCapAndOver) {
  EXPECT_EQ(split(SplitMode::whole, std::string(64, 'a'), 10).items.size(), 1u);
  Collect c = split(SplitMode::whole, std::string(65, 'a'), 10);
  EXPECT_TRUE(c.items.empty());
  EXPECT_EQ(c.big, std::vector<std::uint64_t>{65});
}

std::string escape(std::string_view s) {
  std::string out(json_escape(s, nullptr), '\0');
  EXPECT_EQ(json_escape(s, out.data()), out.size());
  return out;
}

TEST(JsonEscape, ControlQuotesAndInvalidUtf8) {
  EXPECT_EQ(escape("a\"b\\c\n\t\x01"), "a\\\"b\\\\c\\n\\t\\u0001");
  EXPECT_EQ(escape("h\xc3\xa9llo \xe2\x82\xac"), "h\xc3\xa9llo \xe2\x82\xac");  // valid UTF-8 kept
  EXPECT_EQ(escape("\xff" "a\xc3"), "\\ufffda\\ufffd");                       // invalid bytes replaced
  EXPECT_EQ(escape("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");                 // a surrogate is invalid
}

}  // namespace
}  // namespace bh
