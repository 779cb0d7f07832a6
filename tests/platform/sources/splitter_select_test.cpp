// platform/sources/splitter.hpp with a select path (a JsonPointer): the streaming cursor that finds the value there (nested keys, escaped keys, indices, arrays in
// arrays, strings holding brackets), the elements of the array there cut as items (or the object
// there as one), a target of another type or an absent one reported once and before any item,
// and every result the same whatever the chunking (every split point of the body).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "platform/sources/splitter.hpp"
#include "tests/support/census.hpp"

namespace bh {
namespace {

struct Collect final : Splitter::Sink {
  std::vector<std::string> items;
  std::vector<std::string> failed;
  std::vector<std::string> bad;
  void item(std::string_view b) noexcept override { items.emplace_back(b); }
  void too_large(std::uint64_t) noexcept override { bad.emplace_back("too large"); }
  void malformed(const char* why) noexcept override { bad.emplace_back(why); }
  void select_failed(const char* why) noexcept override {
    // A failure is found at the target's first byte: before any item of the body.
    EXPECT_TRUE(items.empty()) << why;
    failed.emplace_back(why);
  }
};

JsonPointer path(std::string_view p) {
  JsonPointer s;
  std::string why;
  EXPECT_TRUE(JsonPointer::compile(p, s, why)) << p << ": " << why;
  return s;
}

Collect run(std::string_view ptr, std::string_view body, std::size_t cut1 = std::string_view::npos,
            std::size_t cut2 = std::string_view::npos) {
  JsonPointer sp = path(ptr);
  std::vector<char> buf(256);
  Splitter s(SplitMode::json_array, buf, &sp);
  Collect c;
  // Up to three pieces: [0, cut1), [cut1, cut2), [cut2, end).
  std::size_t a = std::min(cut1, body.size()), b = std::max(a, std::min(cut2, body.size()));
  s.feed(body.substr(0, a), c);
  s.feed(body.substr(a, b - a), c);
  s.feed(body.substr(b), c);
  s.finish(c);
  return c;
}

// The same result for the whole body and for it cut in two (and three) at every offset.
void expect_every_chunking(std::string_view ptr, std::string_view body, const std::vector<std::string>& items,
                           std::size_t failures) {
  Collect whole = run(ptr, body);
  EXPECT_EQ(whole.items, items) << body;
  EXPECT_EQ(whole.failed.size(), failures) << body;
  EXPECT_TRUE(whole.bad.empty()) << whole.bad[0];
  for (std::size_t i = 0; i <= body.size(); ++i) {
    Collect c = run(ptr, body, i);
    ASSERT_EQ(c.items, items) << "cut at " << i;
    ASSERT_EQ(c.failed, whole.failed) << "cut at " << i;
    Collect c3 = run(ptr, body, i / 2, i);
    ASSERT_EQ(c3.items, items) << "cuts at " << i / 2 << "," << i;
  }
}

TEST(SplitterSelect, IndicesAreDecimalWithoutLeadingZeros) {
  expect_every_chunking("/a/10", R"({"a":[0,1,2,3,4,5,6,7,8,9,[{"x":10}]]})", {R"({"x":10})"}, 0);
  expect_every_chunking("/a/01", R"({"a":[0,[1]]})", {}, 1);  // "01" names no element
  expect_every_chunking("/a/-", R"({"a":[[1]]})", {}, 1);
}

TEST(SplitterSelect, EtherscanResultArray) {
  expect_every_chunking("/result", R"({"status":"1","message":"OK","result":[{"hash":"0x1"}, {"hash":"0x2"} ]})",
                        {R"({"hash":"0x1"})", R"({"hash":"0x2"})"}, 0);
}

TEST(SplitterSelect, RateLimitAnswerIsAFailureWithNoItem) {
  expect_every_chunking("/result", R"({"status":"0","message":"NOTOK","result":"Max rate limit reached"})", {}, 1);
  EXPECT_EQ(run("/result", R"({"status":"0","result":"x"})").failed[0],
            std::string("select: the value at the pointer is not an array or object"));
  expect_every_chunking("/result", R"({"status":"0","result":null})", {}, 1);
  expect_every_chunking("/result", R"({"status":"0","result":12})", {}, 1);
}

TEST(SplitterSelect, EmptyArrayIsAnEmptyPollNotAFailure) {
  expect_every_chunking("/result", R"({"status":"0","message":"No transactions found","result":[]})", {}, 0);
}

TEST(SplitterSelect, AbsentKeyOrIndex) {
  expect_every_chunking("/result", R"({"status":"0","message":"NOTOK"})", {}, 1);
  expect_every_chunking("/result", R"({})", {}, 1);
  expect_every_chunking("/a/3", R"({"a":[[1],[2]]})", {}, 1);
  expect_every_chunking("/a/b", R"({"a":"scalar on the path"})", {}, 1);
  expect_every_chunking("/a", R"([1,2])", {}, 1);  // a key asked of an array: no index "a"
  EXPECT_EQ(run("/result", R"({"status":"0")").failed.size(), 1u);  // ended before the value
  EXPECT_EQ(run("/result", "").failed.size(), 1u);
  EXPECT_EQ(run("/result", "not json").failed.size(), 1u);
}

TEST(SplitterSelect, NestedPointersSkipOtherValues) {
  const std::string body = R"({"skip":{"result":[{"no":1}],"s":"]}[{\"x"},"n":-1.5e3,"t":true,"data":)"
                           R"({"list":[0,{"items":[{"a":1}]}],"items":[{"b":"[x]"},{"c":{"d":[1,[2]]}}]}})";
  expect_every_chunking("/data/items", body, {R"({"b":"[x]"})", R"({"c":{"d":[1,[2]]}})"}, 0);
  expect_every_chunking("/data/list/1/items", body, {R"({"a":1})"}, 0);
  expect_every_chunking("/data/list/1", body, {R"({"items":[{"a":1}]})"}, 0);  // an object: one item
}

TEST(SplitterSelect, ArraysInArrays) {
  expect_every_chunking("/1/0", R"([[{"a":1}],[[{"b":2},{"c":3}],5],7])", {R"({"b":2})", R"({"c":3})"}, 0);
  expect_every_chunking("/0", R"([ [ [1,2], "]" , {"k":[]} ] ])", {"[1,2]", R"("]")", R"({"k":[]})"}, 0);
}

TEST(SplitterSelect, EscapedKeys) {
  // Keys are compared unescaped: \" \\ \/ \n \u escapes (a surrogate pair too) and the pointer's ~0 ~1.
  expect_every_chunking("/a~1b", R"({"a\/b":[{"x":1}]})", {R"({"x":1})"}, 0);
  expect_every_chunking("/q\"k", R"({"q\"k":[1]})", {"1"}, 0);
  expect_every_chunking("/m~0n", R"({"m~n":[2]})", {"2"}, 0);
  expect_every_chunking("/\xc3\xa9", R"({"\u00e9":[3],"\u00E9x":[4]})", {"3"}, 0);
  expect_every_chunking("/\xf0\x9f\x98\x80", R"({"\ud83d\ude00":[5]})", {"5"}, 0);
  expect_every_chunking("/a\\b", R"({"a\\b":[6],"ab":[7]})", {"6"}, 0);
  // A key with an escaped quote that looks like the wanted key is not it.
  expect_every_chunking("/result", R"({"result\"":[1],"result":[2]})", {"2"}, 0);
}

TEST(SplitterSelect, StringsContainingBracketsAndQuotes) {
  expect_every_chunking("/r", R"({"x":"{[\"]}","r":[{"s":"],[{}\\"},"]"]})", {R"({"s":"],[{}\\"})", R"("]")"}, 0);
}

TEST(SplitterSelect, BytesAfterTheArrayAreNotLookedAt) {
  Collect c = run("/r", R"({"r":[1],"after":{"broken")");
  EXPECT_EQ(c.items, std::vector<std::string>{"1"});
  EXPECT_TRUE(c.failed.empty());
  EXPECT_TRUE(c.bad.empty());
}

TEST(SplitterSelect, UnterminatedTargetArrayIsMalformedAfterItsItems) {
  Collect c = run("/r", R"({"r":[{"a":1},{"b")");
  EXPECT_EQ(c.items, std::vector<std::string>{R"({"a":1})"});
  EXPECT_TRUE(c.failed.empty());
  ASSERT_EQ(c.bad.size(), 1u);
}

TEST(SplitterSelect, NoHeapWhileCutting) {
  JsonPointer sp = path("/data/items");
  std::vector<char> buf(256);
  Splitter s(SplitMode::json_array, buf, &sp);
  struct Count final : Splitter::Sink {
    int n = 0;
    void item(std::string_view) noexcept override { ++n; }
    void too_large(std::uint64_t) noexcept override {}
    void malformed(const char*) noexcept override {}
  } c;
  const std::string body = R"({"skip":{"a":[1,2,"]"]},"data":{"items":[{"a":1},{"b":2},[3]]}})";
  const std::uint64_t before = test::heap_allocations();
  for (int i = 0; i < 100; ++i) {
    s.reset();
    for (std::size_t k = 0; k < body.size(); k += 7) s.feed(std::string_view(body).substr(k, 7), c);
    s.finish(c);
  }
  EXPECT_EQ(test::heap_allocations() - before, 0u);
  EXPECT_EQ(c.n, 300);
}

}  // namespace
}  // namespace bh
