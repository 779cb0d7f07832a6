// JsonCheck: exactly one JSON object per line (UTF-8, depth limit), and nothing allocated after
// init() whatever the line holds — bare scalars included, which simdjson would copy to the heap.
#include "platform/ingest/json_check.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/census.hpp"

namespace bh {
namespace {

// The line copied into a buffer with the padding simdjson reads past its end.
struct Padded {
  std::string buf;
  std::size_t n;
  explicit Padded(const std::string& s) : buf(s + std::string(JsonCheck::kPadding, '\0')), n(s.size()) {}
  std::string_view view() const { return {buf.data(), n}; }
};

TEST(JsonCheck, OnlyOneObjectPasses) {
  JsonCheck j;
  ASSERT_TRUE(j.init(4096, 8));
  const std::vector<std::pair<std::string, bool>> cases = {
      {"{}", true},
      {"{\"a\":1,\"b\":[1,2,{\"c\":null}]}", true},
      {"  \t{\"a\":\"\\u00e9\"}\r", true},
      {"3", false},
      {"-1.5e3", false},
      {"\"text\"", false},
      {"true", false},
      {"null", false},
      {"[1,2]", false},
      {"", false},
      {"   ", false},
      {"{\"a\":1}{\"b\":2}", false},
      {"{\"a\":1", false},
      {"{\"bad\":\"\xff\xfe\"}", false},
      {std::string("{\"nul\":\"a\0b\"}", 13), false},
      {"{\"d\":[[[[[[[[[[1]]]]]]]]]]}", false},  // deeper than 8
      {"{\"d\":[[[[[[1]]]]]]}", true},
  };
  for (const auto& [line, ok] : cases) EXPECT_EQ(j.is_object(Padded(line).view()), ok) << line;
}

TEST(JsonCheck, NothingAllocatesAfterInit) {
  JsonCheck j;
  ASSERT_TRUE(j.init(16 * 1024));
  std::vector<Padded> lines;
  for (const char* s : {"3", "-1.5e3", "12345678901234567890", "\"str\"", "true", "[1,2,3]", "{\"a\":[1,2.5,\"x\"]}",
                        "{\"big\":1e308}", "nope", "{\"a\":"})
    lines.emplace_back(s);
  lines.emplace_back("{\"pad\":\"" + std::string(16000, 'p') + "\"}");
  const auto before = test::heap_allocations();
  int passed = 0;
  for (int round = 0; round < 50; ++round)
    for (const Padded& p : lines) passed += j.is_object(p.view()) ? 1 : 0;
  EXPECT_EQ(test::heap_allocations() - before, 0u);
  EXPECT_EQ(passed, 50 * 3);
}

TEST(JsonCheck, ParseObjectLendsTheDocumentUntilTheNextCall) {
  JsonCheck j;
  ASSERT_TRUE(j.init(4096, 8));
  simdjson::dom::element root;
  const Padded first("{\"a\":{\"b\":[1,\"two\"]}}");
  ASSERT_TRUE(j.parse_object(first.view(), root));
  EXPECT_EQ(std::string_view(root["a"]["b"].at(1).get_string().value_unsafe()), "two");
  EXPECT_FALSE(j.parse_object(Padded("[1]").view(), root));
  EXPECT_FALSE(j.parse_object(Padded("{\"a\":").view(), root));
  const Padded second("{\"c\":3}");
  const auto before = test::heap_allocations();
  ASSERT_TRUE(j.parse_object(second.view(), root));
  EXPECT_EQ(test::heap_allocations() - before, 0u);
  EXPECT_EQ(root["c"].get_int64().value_unsafe(), 3);
}

}  // namespace
}  // namespace bh
