// Filter: every operator and function of the grammar on real parsed events, the edges (missing
// fields, wrong types, 78-digit numbers, numeric strings, escapes, precedence, parentheses), the
// compile errors with their columns and limits, and evaluation that allocates nothing.
#include "platform/shape/filter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "platform/ingest/json_check.hpp"
#include "tests/support/census.hpp"

namespace bh {
namespace {

// An event parsed once, kept alive with its parser.
class Event {
 public:
  explicit Event(std::string_view json) : text_(json) {
    EXPECT_EQ(parser_.parse(text_).get(root_), simdjson::SUCCESS) << json;
  }
  simdjson::dom::element root() const { return root_; }

 private:
  simdjson::padded_string text_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

Filter compiled(std::string_view expr) {
  Filter f;
  FilterError e;
  EXPECT_TRUE(Filter::compile(expr, f, e)) << expr << " -> " << e.text();
  return f;
}

bool match(std::string_view expr, std::string_view json) { return compiled(expr).matches(Event(json).root()); }

FilterError error_of(std::string_view expr) {
  Filter f;
  FilterError e;
  EXPECT_FALSE(Filter::compile(expr, f, e)) << expr;
  EXPECT_TRUE(f.empty()) << "a refused expression leaves the output matching everything";
  return e;
}

// The message of a compile error, checked to contain `part` and to point at `column`.
void expect_error(std::string_view expr, std::string_view part, std::size_t column) {
  const FilterError e = error_of(expr);
  EXPECT_NE(e.message.find(part), std::string::npos) << expr << " -> " << e.text();
  EXPECT_EQ(e.column, column) << expr << " -> " << e.text();
}

constexpr std::string_view kTx = R"({
  "status": "1", "message": "OK",
  "result": [
    {"from": "0xAbC0000000000000000000000000000000000001", "to": "0xdef", "value": "1500250000",
     "tokenDecimal": "6", "tokenSymbol": "USDT", "confirmations": 12, "isError": false, "input": null,
     "gas": 21000.5, "tags": ["a", "b"], "meta": {"k": 1}}
  ],
  "a/b": "slash", "m~n": "tilde", "count": 3, "neg": -7, "big": 18446744073709551615
})";

TEST(Filter, DefaultMatchesEverything) {
  Filter f;
  EXPECT_TRUE(f.empty());
  EXPECT_TRUE(f.matches(Event(kTx).root()));
  EXPECT_FALSE(compiled("/count == 3").empty());
}

TEST(Filter, EqualityOnEveryType) {
  EXPECT_TRUE(match(R"(/status == "1")", kTx));
  EXPECT_FALSE(match(R"(/status == "2")", kTx));
  EXPECT_TRUE(match(R"(/message != "NOTOK")", kTx));
  EXPECT_FALSE(match(R"(/message != "OK")", kTx));
  EXPECT_TRUE(match("/count == 3", kTx));
  EXPECT_TRUE(match("/count != 4", kTx));
  EXPECT_TRUE(match("/result/0/isError == false", kTx));
  EXPECT_FALSE(match("/result/0/isError == true", kTx));
  EXPECT_TRUE(match("/result/0/isError != true", kTx));
  EXPECT_TRUE(match("/result/0/input == null", kTx));
  EXPECT_FALSE(match("/result/0/input != null", kTx));
  EXPECT_TRUE(match("/neg == -7", kTx));
  EXPECT_TRUE(match("/big == 18446744073709551615", kTx));
  EXPECT_TRUE(match("/result/0/gas == 21000.5", kTx));
  EXPECT_TRUE(match("/result/0/gas == 210005e-1", kTx));
  EXPECT_TRUE(match("/a~1b == \"slash\" && /m~0n == \"tilde\"", kTx));
  EXPECT_TRUE(match("/count == /count", kTx));
  EXPECT_TRUE(match("1 == 1", kTx));
  EXPECT_FALSE(match("\"a\" == \"b\"", kTx));
}

TEST(Filter, Ordering) {
  EXPECT_TRUE(match("/count < 4", kTx));
  EXPECT_FALSE(match("/count < 3", kTx));
  EXPECT_TRUE(match("/count <= 3", kTx));
  EXPECT_FALSE(match("/count <= 2.999", kTx));
  EXPECT_TRUE(match("/count > 2.999", kTx));
  EXPECT_FALSE(match("/count > 3", kTx));
  EXPECT_TRUE(match("/count >= 3", kTx));
  EXPECT_FALSE(match("/count >= 3.0000000000000000000000000001", kTx));
  EXPECT_TRUE(match("/neg < 0", kTx));
  EXPECT_TRUE(match("/neg > -7.5", kTx));
  // Two strings: byte order.
  EXPECT_TRUE(match(R"(/message < "OL")", kTx));
  EXPECT_TRUE(match(R"(/message > "O")", kTx));
  EXPECT_TRUE(match(R"(/message >= "OK" && /message <= "OK")", kTx));
  EXPECT_TRUE(match(R"("B" < "a")", kTx)) << "byte order, not case-folded";
  // Booleans and nulls have no order.
  EXPECT_FALSE(match("/result/0/isError < true", kTx));
  EXPECT_FALSE(match("/result/0/isError >= false", kTx));
  EXPECT_FALSE(match("/result/0/input <= null", kTx));
}

TEST(Filter, NumericStringsCompareAsNumbers) {
  EXPECT_TRUE(match("/result/0/value > 1000", kTx));
  EXPECT_TRUE(match("/result/0/value == 1500250000", kTx));
  EXPECT_TRUE(match("/result/0/value == 1.50025e9", kTx));
  EXPECT_TRUE(match("/status == 1", kTx));
  EXPECT_TRUE(match("/status == 1.0", kTx));
  EXPECT_TRUE(match(R"(/count == "3")", kTx)) << "a JSON number against a numeric string literal";
  EXPECT_TRUE(match(R"(/count == "3.00")", kTx));
  EXPECT_FALSE(match(R"(/count == "three")", kTx)) << "no number in the string: a mismatch";
  EXPECT_FALSE(match(R"(/count != "three")", kTx)) << "a mismatch is false for != too";
  EXPECT_FALSE(match("/message == 0", kTx));
  EXPECT_FALSE(match("/message != 0", kTx));
  // Two strings stay strings, even when both hold numbers.
  EXPECT_FALSE(match(R"(/status == "1.0")", kTx));
  EXPECT_TRUE(match(R"("9" > "10")", kTx));
  EXPECT_FALSE(match("9 > 10", kTx));
}

TEST(Filter, SeventyEightDigitNumbersAreExact) {
  const std::string max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  const std::string below = "115792089237316195423570985008687907853269984665640564039457584007913129639934";
  const std::string event = R"({"v":")" + max + R"(","w":")" + below + R"("})";
  EXPECT_TRUE(match("/v == " + max, event));
  EXPECT_TRUE(match("/v > " + below, event));
  EXPECT_TRUE(match("/w < " + max, event));
  EXPECT_FALSE(match("/w == " + max, event));
  EXPECT_TRUE(match("/w < /v", event)) << "two strings compare as bytes (equal lengths here, so in numeric order)";
  EXPECT_FALSE(match("/w == /v", event));
  EXPECT_TRUE(match("decimal(/w, 0) < /v", event)) << "decimal() makes the comparison numeric";
  EXPECT_TRUE(match("/v > 115792089237316195423570985008687907853269984665640564039457584007913129639.934", event));
  // 79 digits are no number we compare exactly: the literal is refused, the field never matches.
  expect_error("/v == 1" + max, "not a number", 7);
  EXPECT_FALSE(match("/v > 0", R"({"v":")" + max + R"(1"})"));
}

TEST(Filter, DecimalScalesByAFieldOrAnInteger) {
  EXPECT_TRUE(match("decimal(/result/0/value, /result/0/tokenDecimal) == 1500.25", kTx));
  EXPECT_TRUE(match("decimal(/result/0/value, /result/0/tokenDecimal) >= 1000", kTx));
  EXPECT_FALSE(match("decimal(/result/0/value, /result/0/tokenDecimal) > 1500.25", kTx));
  EXPECT_TRUE(match("decimal(/result/0/value, 6) == 1500.25", kTx));
  EXPECT_TRUE(match("decimal(/result/0/value, 0) == 1500250000", kTx));
  EXPECT_TRUE(match("decimal(/count, 2) == 0.03", kTx));
  EXPECT_TRUE(match(R"(decimal(/v, /d) == "0.000000000000000001")", R"({"v":1,"d":18})"));
  EXPECT_TRUE(match("decimal(/v, /d) < 1", R"({"v":"999999999999999999","d":"18"})"));
  // Missing, non-numeric and out-of-range pieces make the predicate false.
  EXPECT_FALSE(match("decimal(/nope, 6) > 0", kTx));
  EXPECT_FALSE(match("decimal(/result/0/value, /nope) > 0", kTx));
  EXPECT_FALSE(match("decimal(/message, 6) > 0", kTx));
  EXPECT_FALSE(match("decimal(/v, /d) > 0", R"({"v":1,"d":"x"})"));
  EXPECT_FALSE(match("decimal(/v, /d) > 0", R"({"v":1,"d":1.5})"));
  EXPECT_FALSE(match("decimal(/v, /d) > 0", R"({"v":1,"d":-1})"));
  EXPECT_FALSE(match("decimal(/v, /d) > 0", R"({"v":1,"d":1001})"));
  EXPECT_TRUE(match("decimal(/v, /d) > 0", R"({"v":1,"d":1000})"));
}

TEST(Filter, MissingFieldsAndWrongTypesAreFalse) {
  for (std::string_view expr : {"/nope == 1", "/nope != 1", "/nope < 1", "/nope == null", R"(/nope != "x")",
                                "/nope in [1, 2]", R"(starts_with(/nope, "a"))", "/result/5/to == \"0xdef\"",
                                "/result/0/to/x == 1", "/result/0/meta == 1", R"(/result/0/tags == "a")",
                                "/result/0/meta != 1", "/result/0/tags != null", "/result/0/meta == /result/0/meta",
                                "/status == true", "/result/0/isError == 0", "/result/0/input == 0",
                                R"(/result/0/input == "null")", R"(starts_with(/count, "3"))"}) {
    EXPECT_FALSE(match(expr, kTx)) << expr;
  }
  EXPECT_TRUE(match("!(/nope == 1)", kTx)) << "negate the test to match where it is missing";
}

TEST(Filter, Exists) {
  EXPECT_TRUE(match("exists(/status)", kTx));
  EXPECT_TRUE(match("exists(/result/0/input)", kTx)) << "a null is present";
  EXPECT_TRUE(match("exists(/result/0/tags/1)", kTx));
  EXPECT_FALSE(match("exists(/result/0/tags/2)", kTx));
  EXPECT_FALSE(match("exists(/nope)", kTx));
  EXPECT_TRUE(match("!exists(/nope)", kTx));
  EXPECT_TRUE(match("exists ( /status )", kTx));
}

TEST(Filter, InSets) {
  EXPECT_TRUE(match(R"(/result/0/tokenSymbol in ["USDC", "USDT"])", kTx));
  EXPECT_FALSE(match(R"(/result/0/tokenSymbol in ["USDC", "DAI"])", kTx));
  EXPECT_TRUE(match(R"(/count in [1, 2, 3])", kTx));
  EXPECT_TRUE(match(R"(/status in [0, 1])", kTx)) << "numeric string against numbers";
  EXPECT_TRUE(match(R"(/count in ["3"])", kTx));
  EXPECT_TRUE(match(R"(/result/0/input in [false, null])", kTx));
  EXPECT_TRUE(match(R"(/result/0/isError in [false])", kTx));
  EXPECT_FALSE(match(R"(/result/0/isError in [0, "false", null])", kTx));
  EXPECT_TRUE(match(R"(/message in ["OK"])", kTx));
  EXPECT_TRUE(match(R"(lower(/result/0/tokenSymbol) in ["usdt"])", kTx));
  EXPECT_TRUE(match(R"(decimal(/result/0/value, 6) in [1500.25, 2])", kTx));
  EXPECT_TRUE(match("/count in[3]", kTx));
}

TEST(Filter, StartsWith) {
  EXPECT_TRUE(match(R"(starts_with(/result/0/from, "0xAbC"))", kTx));
  EXPECT_FALSE(match(R"(starts_with(/result/0/from, "0xabc"))", kTx));
  EXPECT_TRUE(match(R"(starts_with(lower(/result/0/from), "0xabc"))", kTx));
  EXPECT_TRUE(match(R"(starts_with(lower(/result/0/from), "0XABC"))", kTx)) << "lower() folds both sides";
  EXPECT_TRUE(match(R"(starts_with(/message, ""))", kTx));
  EXPECT_TRUE(match(R"(starts_with(/message, "OK"))", kTx));
  EXPECT_FALSE(match(R"(starts_with(/message, "OKAY"))", kTx));
  EXPECT_FALSE(match(R"(starts_with(/result/0/meta, ""))", kTx));
}

TEST(Filter, LowerComparesCaseInsensitively) {
  EXPECT_TRUE(match(R"(lower(/result/0/tokenSymbol) == "usdt")", kTx));
  EXPECT_TRUE(match(R"(lower(/result/0/tokenSymbol) == "USDT")", kTx));
  EXPECT_TRUE(match(R"(/result/0/tokenSymbol == lower("uSdT"))", kTx));
  EXPECT_FALSE(match(R"(/result/0/tokenSymbol == "usdt")", kTx));
  EXPECT_TRUE(match(R"(lower(/result/0/from) == "0xabc0000000000000000000000000000000000001")", kTx));
  EXPECT_TRUE(match(R"(lower(lower(/message)) == "ok")", kTx));
  EXPECT_TRUE(match("lower(/count) == 3", kTx)) << "lower() leaves numbers alone";
  EXPECT_FALSE(match(R"(lower(/a) == "école")", R"({"a":"École"})")) << "ASCII only: É is not folded";
  EXPECT_TRUE(match(R"(lower(/a) == "ÉCOLE")", R"({"a":"École"})"));
  EXPECT_TRUE(match(R"(lower(/a) == "éCOLE")", R"({"a":"école"})"));
  EXPECT_TRUE(match(R"(lower(/a) > "b")", R"({"a":"Cherry"})")) << "ordering is case-folded too";
  EXPECT_FALSE(match(R"(/a > "b")", R"({"a":"Cherry"})"));
}

TEST(Filter, StringLiteralEscapes) {
  EXPECT_TRUE(match(R"(/q == "say \"hi\"")", R"({"q":"say \"hi\""})"));
  EXPECT_TRUE(match(R"(/q == "back\\slash")", R"({"q":"back\\slash"})"));
  EXPECT_TRUE(match(R"(/q == "a\/b")", R"({"q":"a/b"})"));
  EXPECT_TRUE(match(R"(/q == "t\tn\nr\rb\bf\f")", R"({"q":"t\tn\nr\rb\bf\f"})"));
  EXPECT_TRUE(match(R"(/q == "caf\u00e9")", R"({"q":"café"})"));
  EXPECT_TRUE(match(R"(/q == "\u20AC")", R"({"q":"€"})"));
  EXPECT_TRUE(match(R"(/q == "\ud83d\ude00")", R"({"q":"😀"})")) << "a surrogate pair";
  EXPECT_TRUE(match(R"(/q == "\u0041")", R"({"q":"A"})"));
  EXPECT_TRUE(match(R"(/q == "with && || ( ) [ ] , in")", R"({"q":"with && || ( ) [ ] , in"})"));
  EXPECT_TRUE(match(R"(/q == "")", R"({"q":""})"));
  EXPECT_TRUE(match("/q == \"\\u0000\"", std::string("{\"q\":\"\\u0000\"}")));
}

TEST(Filter, PrecedenceAndParentheses) {
  // && binds tighter than ||: T || F && F is T || (F && F) = T; (T || F) && F = F.
  EXPECT_TRUE(match("/count == 3 || /count == 4 && /count == 5", kTx));
  EXPECT_FALSE(match("(/count == 3 || /count == 4) && /count == 5", kTx));
  EXPECT_TRUE(match("/count == 4 && /count == 5 || /count == 3", kTx));
  EXPECT_FALSE(match("/count == 4 && (/count == 5 || /count == 3)", kTx));
  // ! binds tightest.
  EXPECT_TRUE(match("!/count == 4", kTx));
  EXPECT_FALSE(match("!/count == 3 || /count == 4", kTx));
  EXPECT_TRUE(match("!(/count == 3 && /count == 4)", kTx));
  EXPECT_TRUE(match("!!(/count == 3)", kTx));
  EXPECT_FALSE(match("!!!(/count == 3)", kTx));
  EXPECT_TRUE(match("((((/count == 3))))", kTx));
  EXPECT_TRUE(match("/count==3&&/status==\"1\"", kTx)) << "no spaces needed";
  EXPECT_TRUE(match("  /count\t==\n3  ", kTx));
  // Chains.
  EXPECT_TRUE(match("/count == 1 || /count == 2 || /count == 3", kTx));
  EXPECT_FALSE(match("/count == 3 && /status == 1 && /message == \"NO\"", kTx));
  EXPECT_TRUE(match("(/count == 1 || /count == 3) && !(/status == 0)", kTx));
}

TEST(Filter, CompileErrorsNameTheProblemAndTheColumn) {
  expect_error("", "empty expression", 1);
  expect_error("   ", "empty expression", 4);
  expect_error(R"(/a == "open)", "unterminated string", 7);
  expect_error(R"(/a == 1 && /b == "x)", "unterminated string", 18);
  expect_error("frobnicate(/a) == 1", "unknown function 'frobnicate'", 1);
  expect_error("/a == upper(/b)", "unknown function 'upper'", 7);
  expect_error("/a == yes", "unknown word 'yes'", 7);
  expect_error("/a", "a value alone is no test", 1);
  expect_error("/a == 1 && /b", "a value alone is no test", 12);
  expect_error("/a = 1", "expected a comparison", 4);
  expect_error("/a == 1 &", "unexpected '&'", 9);
  expect_error("/a == 1 /b == 2", "unexpected '/'", 9);
  expect_error("(/a == 1", "expected ')'", 9);
  expect_error("/a == 1)", "unexpected ')'", 8);
  expect_error("/a ==", "expected a value", 6);
  expect_error("/a == 1 ||", "expected a value", 11);
  expect_error("/a in 1", "'[' after 'in'", 7);
  expect_error("/a in [1, 2", "',' or ']'", 12);
  expect_error("/a in []", "expected a literal", 8);
  expect_error("/a in [/b]", "literals, not pointers", 8);
  expect_error("/a == 1.2.3", "'1.2.3' is not a number", 7);
  expect_error("/a == 1-", "'1-' is not a number", 7);
  expect_error("/a~2 == 1", "'~'", 1);
  expect_error(R"(/a == "\q")", "invalid escape", 8);
  expect_error(R"(/a == "\u12")", "4 hex digits", 8);
  expect_error(R"(/a == "\udc00")", "lone low surrogate", 8);
  expect_error(R"(/a == "\ud800x")", "high surrogate", 8);
  expect_error("exists(a)", "exists() takes a JSON Pointer", 8);
  expect_error("exists(/a", "')' after the pointer", 10);
  expect_error(R"(starts_with(/a, /b))", "prefix must be a \"string\"", 17);
  expect_error(R"(starts_with(/a "x"))", "','", 16);
  expect_error("decimal(5, 6) > 1", "decimal() takes a JSON Pointer", 9);
  expect_error("decimal(/v, 1001) > 1", "integer 0..1000", 13);
  expect_error("decimal(/v, -1) > 1", "integer 0..1000", 13);
  expect_error("decimal(/v, 1.5) > 1", "integer 0..1000", 13);
  expect_error("decimal(/v, 6 > 1", "')' after decimal's decimals", 15);
  expect_error("lower(/a == \"x\"", "')' after lower's value", 10);
  EXPECT_EQ(error_of(R"(/a == "open)").text(), "column 7: unterminated string literal (no closing '\"')");
}

TEST(Filter, OperationLimitAtNAndNPlusOne) {
  // n predicates joined by || are 2n - 1 operations; a leading ! adds one.
  auto chain = [](int n) {
    std::string s = "exists(/a)";
    for (int i = 1; i < n; ++i) s += " || exists(/a)";
    return s;
  };
  const std::string exactly = "!(" + chain(32) + ")";  // 32 + 31 + 1 = 64
  EXPECT_FALSE(match(exactly, R"({"a":1})"));
  EXPECT_TRUE(match(exactly, R"({"b":1})"));
  const std::string over = "!!(" + chain(32) + ")";  // 65: the outer ! is emitted last, at the end
  expect_error(over, "too many nodes", over.size() + 1);
  EXPECT_NE(error_of(over).message.find("at most 64 operations"), std::string::npos);
}

TEST(Filter, ValueLimitAtNAndNPlusOne) {
  auto set = [](int n) {
    std::string s = "/a in [";
    for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(i);
    return s + "]";
  };
  EXPECT_TRUE(match(set(63), R"({"a":62})")) << "/a and 63 members are 64 values";
  EXPECT_FALSE(match(set(63), R"({"a":63})"));
  EXPECT_NE(error_of(set(64)).message.find("at most 64 values"), std::string::npos);
}

TEST(Filter, PointerLimitAndSharing) {
  std::string eight, nine;
  for (int i = 0; i < 8; ++i) eight += (i ? " && exists(/p" : "exists(/p") + std::to_string(i) + ")";
  nine = eight + " && exists(/p8)";
  EXPECT_TRUE(match(eight, R"({"p0":0,"p1":1,"p2":2,"p3":3,"p4":4,"p5":5,"p6":6,"p7":7})"));
  expect_error(nine, "more than 8 different pointers", nine.size() - 3);
  // The same pointer used many times counts once.
  std::string same = "exists(/a)";
  for (int i = 0; i < 20; ++i) same += " && /a == 1";
  EXPECT_TRUE(match(same, R"({"a":1})"));
}

TEST(Filter, ArenaLimitAtNAndNPlusOne) {
  const std::string fits = "/a == \"" + std::string(Filter::kArenaBytes, 'x') + "\"";
  EXPECT_TRUE(match(fits, "{\"a\":\"" + std::string(Filter::kArenaBytes, 'x') + "\"}"));
  const std::string over = "/a == \"" + std::string(Filter::kArenaBytes - 1, 'x') + "\" || /a == \"yy\"";
  EXPECT_NE(error_of(over).message.find("more than 2048 bytes"), std::string::npos);
}

TEST(Filter, NestingLimit) {
  const std::string deep32 = std::string(31, '(') + "/a == 1" + std::string(31, ')');
  EXPECT_TRUE(match(deep32, R"({"a":1})"));
  const std::string deep33 = std::string(32, '(') + "/a == 1" + std::string(32, ')');
  expect_error(deep33, "nested more than 32 deep", 33);
  EXPECT_NE(error_of(std::string(100000, '(')).message.find("nested"), std::string::npos);
  EXPECT_NE(error_of(std::string(100000, '!') + "/a == 1").message.find("nested"), std::string::npos);
  std::string lowers = "/a == ";
  for (int i = 0; i < 40; ++i) lowers += "lower(";
  EXPECT_NE(error_of(lowers + "\"x\"" + std::string(40, ')')).message.find("nested"), std::string::npos);
}

TEST(Filter, MatchesAllocatesNothing) {
  JsonCheck json;
  ASSERT_TRUE(json.init(4096));
  const std::string line = std::string(kTx) + std::string(JsonCheck::kPadding, '\0');
  const std::string_view text(line.data(), kTx.size());
  const std::vector<Filter> filters = {
      compiled(R"(/status == "1" && decimal(/result/0/value, /result/0/tokenDecimal) >= 1000)"),
      compiled(R"(lower(/result/0/tokenSymbol) in ["usdc", "usdt"] || starts_with(/message, "NO"))"),
      compiled(R"(!exists(/nope) && /result/0/value > 115792089237316195423570985008687907853269984665640564039457584007913)"),
      compiled(R"(/result/0/gas < 1e6 && /big > /count && !(/result/0/meta == null))"),
  };
  const std::uint64_t before = test::heap_allocations();
  int hits = 0;
  for (int round = 0; round < 50; ++round) {
    simdjson::dom::element root;
    ASSERT_TRUE(json.parse_object(text, root));
    for (const Filter& f : filters) hits += f.matches(root) ? 1 : 0;
  }
  EXPECT_EQ(test::heap_allocations() - before, 0u) << "parsing or matching allocated";
  EXPECT_EQ(hits, 50 * 3);
}

}  // namespace
}  // namespace bh
