// JsonPointer: RFC 6901 text compiled into fixed storage (escapes, limits at N and N+1, errors as
// values) and looked up in DOM documents by key and array index, allocating nothing.
#include "platform/shape/json_pointer.hpp"

#include <gtest/gtest.h>

#include <string>

#include "platform/alloc/alloc.hpp"

namespace bh {
namespace {

JsonPointer ptr(std::string_view text) {
  JsonPointer p;
  std::string error;
  EXPECT_TRUE(JsonPointer::compile(text, p, error)) << text << ": " << error;
  return p;
}

std::string compile_error(std::string_view text) {
  JsonPointer p;
  std::string error;
  EXPECT_FALSE(JsonPointer::compile(text, p, error)) << text;
  EXPECT_TRUE(p.empty()) << "a refused pointer leaves the output empty";
  return error;
}

// The RFC 6901 section 5 example document.
constexpr std::string_view kRfcDoc = R"({
  "foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4,
  "i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8, "nested": {"x": {"y": [10, [20, 21]]}}, "01": "key"
})";

class Doc {
 public:
  explicit Doc(std::string_view json) : text_(json) {
    EXPECT_EQ(parser_.parse(text_).get(root_), simdjson::SUCCESS);
  }
  simdjson::dom::element root() const { return root_; }
  // The raw JSON of what `pointer` finds, or "<missing>".
  std::string at(std::string_view pointer) const {
    simdjson::dom::element e;
    if (!ptr(pointer).find(root_, e)) return "<missing>";
    return simdjson::minify(e);
  }

 private:
  simdjson::padded_string text_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

TEST(JsonPointer, Rfc6901Examples) {
  Doc d(kRfcDoc);
  EXPECT_EQ(d.at("/foo"), R"(["bar","baz"])");
  EXPECT_EQ(d.at("/foo/0"), R"("bar")");
  EXPECT_EQ(d.at("/"), "0") << "a bare '/' is the member whose key is empty";
  EXPECT_EQ(d.at("/a~1b"), "1");
  EXPECT_EQ(d.at("/c%d"), "2");
  EXPECT_EQ(d.at("/e^f"), "3");
  EXPECT_EQ(d.at("/g|h"), "4");
  EXPECT_EQ(d.at("/i\\j"), "5");
  EXPECT_EQ(d.at("/k\"l"), "6");
  EXPECT_EQ(d.at("/ "), "7");
  EXPECT_EQ(d.at("/m~0n"), "8");
}

TEST(JsonPointer, EmptyTextIsTheWholeDocument) {
  Doc d(R"({"a":1})");
  EXPECT_EQ(d.at(""), R"({"a":1})");
  EXPECT_TRUE(JsonPointer{}.empty());
}

TEST(JsonPointer, NestedObjectsAndArrays) {
  Doc d(kRfcDoc);
  EXPECT_EQ(d.at("/nested/x/y/0"), "10");
  EXPECT_EQ(d.at("/nested/x/y/1/1"), "21");
  EXPECT_EQ(d.at("/nested/x/y/1"), "[20,21]");
}

TEST(JsonPointer, MissingStepsAreNotFound) {
  Doc d(kRfcDoc);
  EXPECT_EQ(d.at("/nope"), "<missing>");
  EXPECT_EQ(d.at("/foo/2"), "<missing>") << "past the end of the array";
  EXPECT_EQ(d.at("/foo/-"), "<missing>") << "'-' names the element after the last";
  EXPECT_EQ(d.at("/foo/01"), "<missing>") << "an index has no leading zeros";
  EXPECT_EQ(d.at("/foo/+1"), "<missing>");
  EXPECT_EQ(d.at("/foo/x"), "<missing>");
  EXPECT_EQ(d.at("/foo/"), "<missing>") << "an empty token is no array index";
  EXPECT_EQ(d.at("/foo/0/x"), "<missing>") << "a string has no members";
  EXPECT_EQ(d.at("/a~1b/0"), "<missing>") << "a number has no elements";
  EXPECT_EQ(d.at("/a/b"), "<missing>") << "'/' is a separator; the key \"a/b\" is written a~1b";
  EXPECT_EQ(d.at("/FOO"), "<missing>") << "keys compare exactly";
  EXPECT_EQ(d.at("/foo/99999999999"), "<missing>") << "an index too large to hold";
}

TEST(JsonPointer, DigitTokensAreKeysInObjects) {
  Doc d(R"({"0":"zero","01":"leading","arr":[{"5":"five"}]})");
  EXPECT_EQ(d.at("/0"), R"("zero")");
  EXPECT_EQ(d.at("/01"), R"("leading")");
  EXPECT_EQ(d.at("/arr/0/5"), R"("five")");
}

TEST(JsonPointer, EscapedKeysInTheDocumentAreMatchedUnescaped) {
  Doc d(R"({"caf\u00e9":1,"tab\there":2})");
  EXPECT_EQ(d.at("/café"), "1");
  EXPECT_EQ(d.at("/tab\there"), "2");
}

TEST(JsonPointer, TokensAreUnescapedAndTextRoundTrips) {
  JsonPointer p = ptr("/a~1b/~0~1/0/");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p.token(0), "a/b");
  EXPECT_EQ(p.token(1), "~/");
  EXPECT_EQ(p.token(2), "0");
  EXPECT_EQ(p.token(3), "");
  EXPECT_EQ(p.text(), "/a~1b/~0~1/0/");
  EXPECT_EQ(ptr("/").size(), 1u);
  EXPECT_EQ(ptr("//").size(), 2u);
  EXPECT_EQ(ptr("").text(), "");
}

TEST(JsonPointer, BadTextIsAnErrorValue) {
  EXPECT_NE(compile_error("a/b").find("must be empty or start with '/'"), std::string::npos);
  EXPECT_NE(compile_error("/a~2").find("'~'"), std::string::npos);
  EXPECT_NE(compile_error("/a~").find("'~'"), std::string::npos);
  EXPECT_NE(compile_error("/~x").find("'~'"), std::string::npos);
}

TEST(JsonPointer, TokenCountLimitAtNAndNPlusOne) {
  std::string at_limit;
  for (std::size_t i = 0; i < JsonPointer::kMaxTokens; ++i) at_limit += "/k";
  EXPECT_EQ(ptr(at_limit).size(), JsonPointer::kMaxTokens);
  EXPECT_NE(compile_error(at_limit + "/k").find("at most 16 tokens"), std::string::npos);
}

TEST(JsonPointer, ByteLimitAtNAndNPlusOne) {
  // Escapes count once: "~0" is one byte of token.
  std::string at_limit = "/" + std::string(JsonPointer::kMaxBytes - 2, 'x') + "~0";
  EXPECT_EQ(ptr(at_limit).token(0).size(), JsonPointer::kMaxBytes - 1);
  std::string full = "/" + std::string(JsonPointer::kMaxBytes, 'x');
  EXPECT_EQ(ptr(full).token(0).size(), JsonPointer::kMaxBytes);
  EXPECT_NE(compile_error(full + "x").find("at most 256 bytes"), std::string::npos);
  // Separators are not token bytes: 16 tokens of 16 bytes fit.
  std::string many;
  for (int i = 0; i < 16; ++i) many += "/" + std::string(16, 'a' + i);
  EXPECT_EQ(ptr(many).size(), 16u);
}

TEST(JsonPointer, FindAllocatesNothing) {
  Doc d(kRfcDoc);
  const JsonPointer hits[] = {ptr("/nested/x/y/1/0"), ptr("/m~0n"), ptr("/foo/1"), ptr("/nope/x"), ptr("")};
  simdjson::dom::element e;
  const std::uint64_t before = alloc::count();
  int found = 0;
  for (int round = 0; round < 100; ++round)
    for (const JsonPointer& p : hits) found += p.find(d.root(), e) ? 1 : 0;
  EXPECT_EQ(alloc::count(), before) << "find() allocated";
  EXPECT_EQ(found, 400);
}

}  // namespace
}  // namespace bh
