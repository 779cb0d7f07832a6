// Template (platform/shape/template.hpp): JSON and text templates compiled once and rendered per
// event. Covers insertion inside strings and as whole values (escaping of quotes, backslashes,
// control characters and non-ASCII text; numbers, literals, objects), every formatter at its edges
// (missing fields, wrong types, huge numbers, truncation at 1- to 4-byte code points), the output
// limit at N-1 and N, compile errors with their columns, the Telegram and Discord bodies, and no
// heap use while rendering.
#include "platform/shape/template.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "platform/alloc/alloc.hpp"

namespace bh {
namespace {

// A parsed event kept alive for the test.
struct Event {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  explicit Event(std::string_view json) {
    simdjson::padded_string copy(json);
    // The parser keeps its own copy of the strings: the padded input may go.
    if (parser.parse(copy).get(root) != simdjson::SUCCESS) ADD_FAILURE() << "bad test event: " << json;
  }
};

Template compiled(std::string_view src, TemplateKind kind = TemplateKind::json) {
  Template t;
  TemplateError e;
  EXPECT_TRUE(Template::compile(src, kind, t, e)) << src << "\n" << e.what();
  return t;
}

// The compile error of `src` as TemplateError::what() writes it ("" if it compiles).
std::string compile_error(std::string_view src, TemplateKind kind = TemplateKind::json) {
  Template t;
  TemplateError e;
  if (Template::compile(src, kind, t, e)) return "";
  EXPECT_EQ(t.placeholders(), 0u) << "a failed compile leaves the template empty";
  return e.what();
}

// The rendered text, or "error: <reason>".
std::string render(const Template& t, std::string_view event, std::size_t cap = 1 << 16) {
  Event ev(event);
  std::string out(cap, '\0');
  RenderResult r = t.render(ev.root, std::span<char>(out.data(), out.size()));
  if (!r) return "error: " + std::string(r.reason());
  EXPECT_TRUE(r.reason().empty());
  out.resize(r.size());
  if (t.kind() == TemplateKind::json) {
    simdjson::dom::parser p;
    simdjson::dom::element check;
    EXPECT_EQ(p.parse(simdjson::padded_string(out)).get(check), simdjson::SUCCESS) << "not JSON: " << out;
  }
  return out;
}

std::string render(std::string_view src, std::string_view event, TemplateKind kind = TemplateKind::json) {
  return render(compiled(src, kind), event);
}

// --- literal text --------------------------------------------------------------------------------

TEST(Template, LiteralJsonIsMinifiedAndKeptAsWritten) {
  EXPECT_EQ(render(" { \"a\" : [ 1 , -2.5e3 , true , false , null , \"x \\n \\u00e9 é\" ] , \"b\" : { } }\n", "{}"),
            R"({"a":[1,-2.5e3,true,false,null,"x \n \u00e9 é"],"b":{}})");
  EXPECT_EQ(render(R"("just a string")", "{}"), R"("just a string")");
  EXPECT_EQ(render("42", "{}"), "42");
  // "{{" cannot be written literally inside a string; its JSON escape is kept as written.
  EXPECT_EQ(render(R"({"t":"{\u007b not a placeholder }}"})", "{}"), R"({"t":"{\u007b not a placeholder }}"})");
}

TEST(Template, TextKindKeepsEveryByte) {
  EXPECT_EQ(render("  raw { text \"with\" } [ \n", "{}", TemplateKind::text), "  raw { text \"with\" } [ \n");
  EXPECT_EQ(render("", "{}", TemplateKind::text), "");
}

// --- values inside a JSON string -----------------------------------------------------------------

TEST(Template, StringValueIsEscapedInsideAString) {
  const Template t = compiled(R"({"text": "<{{ /s }}>"})");
  EXPECT_EQ(render(t, R"({"s": "plain"})"), R"({"text":"<plain>"})");
  EXPECT_EQ(render(t, R"({"s": "q\"uote back\\slash"})"), R"({"text":"<q\"uote back\\slash>"})");
  EXPECT_EQ(render(t, R"({"s": "nl\n cr\r tab\t bs\b ff\f nul\u0000 us\u001f del\u007f"})"),
            R"({"text":"<nl\n cr\r tab\t bs\b ff\f nul\u0000 us\u001f del)" "\x7f" R"(>"})");
  // Valid UTF-8 (2-, 3- and 4-byte, and escapes in the event) goes through as UTF-8.
  EXPECT_EQ(render(t, R"({"s": "é € 😀 \u00e9 \ud83d\ude00 / \/"})"), R"({"text":"<é € 😀 é 😀 / />"})");
  EXPECT_EQ(render(t, R"({"s": ""})"), R"({"text":"<>"})");
}

TEST(Template, ScalarsInsideAStringAreTheirText) {
  const Template t = compiled(R"({"text": "v={{ /v }}"})");
  EXPECT_EQ(render(t, R"({"v": 0})"), R"({"text":"v=0"})");
  EXPECT_EQ(render(t, R"({"v": -42})"), R"({"text":"v=-42"})");
  EXPECT_EQ(render(t, R"({"v": 18446744073709551615})"), R"({"text":"v=18446744073709551615"})");
  EXPECT_EQ(render(t, R"({"v": -9223372036854775808})"), R"({"text":"v=-9223372036854775808"})");
  EXPECT_EQ(render(t, R"({"v": 1.5})"), R"({"text":"v=1.5"})");
  EXPECT_EQ(render(t, R"({"v": 1e21})"), R"({"text":"v=1e+21"})");
  EXPECT_EQ(render(t, R"({"v": true})"), R"({"text":"v=true"})");
  EXPECT_EQ(render(t, R"({"v": false})"), R"({"text":"v=false"})");
  EXPECT_EQ(render(t, R"({"v": null})"), R"({"text":"v=null"})");
}

TEST(Template, ADoubleBeyondThe64BitIntegersKeepsItsExponent) {
  // Its shortest text would be 21 digits and no '.': an integer no 64-bit reader holds (simdjson
  // refuses it). Found by tests/fuzz/template_fuzz.cpp.
  const Template t = compiled(R"({"v": {{ /v }}, "s": "{{ /v }}"})");
  EXPECT_EQ(render(t, R"({"v": 184467440737095165157.8})"),
            R"({"v":1.8446744073709516e+20,"s":"1.8446744073709516e+20"})");
  EXPECT_EQ(render(t, R"({"v": -184467440737095165157.8})"),
            R"({"v":-1.8446744073709516e+20,"s":"-1.8446744073709516e+20"})");
  EXPECT_EQ(render(t, R"({"v": 12345678901234567000.5})"), R"({"v":12345678901234567168,"s":"12345678901234567168"})")
      << "within the unsigned 64-bit integers: the shortest text, as before";
}

TEST(Template, ObjectsInsideAStringAreEscapedMinifiedJson) {
  const Template t = compiled(R"({"text": "{{ /o }}"})");
  EXPECT_EQ(render(t, R"({"o": { "a" : [1, "x\"y", {"n\n": null}] }})"),
            R"({"text":"{\"a\":[1,\"x\\\"y\",{\"n\\n\":null}]}"})");
  EXPECT_EQ(render(t, R"({"o": []})"), R"({"text":"[]"})");
  EXPECT_EQ(render(t, R"({"o": {}})"), R"({"text":"{}"})");
}

TEST(Template, SeveralPlaceholdersInOneStringAndInAKey) {
  EXPECT_EQ(render(R"({"{{/k}}": "{{/a}}-{{/b}}{{/a}}"})", R"({"k":"key\"","a":"A","b":2})"),
            R"({"key\"":"A-2A"})");
}

// --- whole values ----------------------------------------------------------------------------------

TEST(Template, WholeValueIsTheRawJson) {
  const Template t = compiled(R"({"v": {{ /v }}, "list": [{{/v}}, {{/w}}]})");
  EXPECT_EQ(render(t, R"({"v": "s\"\n", "w": 1})"), R"({"v":"s\"\n","list":["s\"\n",1]})");
  EXPECT_EQ(render(t, R"({"v": -1.25, "w": null})"), R"({"v":-1.25,"list":[-1.25,null]})");
  EXPECT_EQ(render(t, R"({"v": {"a": [true, {"b": "é"}]}, "w": []})"),
            R"({"v":{"a":[true,{"b":"é"}]},"list":[{"a":[true,{"b":"é"}]},[]]})");
  EXPECT_EQ(render("{{ /v }}", R"({"v": [1, 2]})"), "[1,2]");
}

TEST(Template, PointersWalkObjectsAndArrays) {
  const Template t = compiled(R"(["{{ /result/0/to }}", "{{/a~1b/~0c}}", {{ /arr/1 }}])");
  EXPECT_EQ(render(t, R"({"result": [{"to": "0xabc"}], "a/b": {"~c": 7}, "arr": [1, [2]]})"),
            R"(["0xabc","7",[2]])");
}

// --- text templates --------------------------------------------------------------------------------

TEST(Template, TextKindInsertsValuesUnescaped) {
  const Template t = compiled(R"(sub {{ /s }} n={{/n}} o={{/o}} {"x": "{{/s|upper}}"})", TemplateKind::text);
  EXPECT_EQ(render(t, R"({"s": "a\"b\\c\nd", "n": 12, "o": {"k": "v\""}})"),
            "sub a\"b\\c\nd n=12 o={\"k\":\"v\\\"\"} {\"x\": \"A\"B\\C\nD\"}");
}

// --- missing ---------------------------------------------------------------------------------------

TEST(Template, MissingPointerFailsTheRenderNamingIt) {
  const Template t = compiled(R"({"text": "{{ /from }} {{ /result/3/to }}"})");
  EXPECT_EQ(render(t, R"({"x": 1})"), "error: missing /from");
  EXPECT_EQ(render(t, R"({"from": "a", "result": [{}, {}, {}, {"x": 1}]})"), "error: missing /result/3/to");
  EXPECT_EQ(render(t, R"({"from": "a", "result": [{}, {}, {}]})"), "error: missing /result/3/to");
  EXPECT_EQ(render(t, R"({"from": "a", "result": "text"})"), "error: missing /result/3/to");
  Event ev(R"({})");
  char out[64];
  RenderResult r = t.render(ev.root, out);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.fault(), RenderFault::missing);
}

// --- default ---------------------------------------------------------------------------------------

TEST(Template, DefaultStandsInForAMissingValueOnly) {
  const Template t = compiled(R"({"s": "{{ /a | default("none \"q\" \u00e9") }}", "v": {{ /a | default("n") }}})");
  EXPECT_EQ(render(t, "{}"), R"({"s":"none \"q\" é","v":"n"})");
  EXPECT_EQ(render(t, R"({"a": 5})"), R"({"s":"5","v":5})");
  EXPECT_EQ(render(t, R"({"a": null})"), R"({"s":"null","v":null})") << "null is a value, not missing";
  EXPECT_EQ(render(R"({"v": {{ /a | default(0) }}, "w": {{/a|default(null)}}, "x": "{{/a|default(-1.5)}}"})", "{}"),
            R"({"v":0,"w":null,"x":"-1.5"})");
  EXPECT_EQ(render(R"({"v": {{ /a | default(true) }}})", "{}"), R"({"v":true})");
  // A missing value passes other formatters untouched, so the default is not upper-cased.
  EXPECT_EQ(render(R"({"v": "{{ /a | upper | truncate(2) | default("none") }}"})", "{}"), R"({"v":"none"})");
  EXPECT_EQ(render(R"({"v": "{{ /a | default("none") | upper }}"})", "{}"), R"({"v":"NONE"})");
  EXPECT_EQ(render("[{{/a|default(\"\")}}]", "{}"), R"([""])");
}

// --- truncate --------------------------------------------------------------------------------------

TEST(Template, TruncateCutsAtCodePointsAndMarksTheCut) {
  const Template t = compiled(R"({"t": "{{ /s | truncate(3) }}"})");
  EXPECT_EQ(render(t, R"({"s": ""})"), R"({"t":""})");
  EXPECT_EQ(render(t, R"({"s": "ab"})"), R"({"t":"ab"})");
  EXPECT_EQ(render(t, R"({"s": "abc"})"), R"({"t":"abc"})") << "exactly N: not cut";
  EXPECT_EQ(render(t, R"({"s": "abcd"})"), R"({"t":"abc…"})");
  EXPECT_EQ(render(t, R"({"s": "ééé"})"), R"({"t":"ééé"})") << "2-byte code points count once";
  EXPECT_EQ(render(t, R"({"s": "éééé"})"), R"({"t":"ééé…"})");
  EXPECT_EQ(render(t, R"({"s": "a€€€"})"), R"({"t":"a€€…"})");
  EXPECT_EQ(render(t, R"({"s": "😀😀😀"})"), R"({"t":"😀😀😀"})");
  EXPECT_EQ(render(t, R"({"s": "😀😀😀😀"})"), R"({"t":"😀😀😀…"})");
  EXPECT_EQ(render(t, R"({"s": "ab😀x"})"), R"({"t":"ab😀…"})");
  EXPECT_EQ(render(t, R"({"s": "a\"\n\"b"})"), R"({"t":"a\"\n…"})") << "cut before escaping";
  EXPECT_EQ(render(R"({"t": "{{ /s | truncate(1) }}"})", R"({"s": "😀😀"})"), R"({"t":"😀…"})");
  // Chained: the ellipsis counts as a character of the value it was added to.
  EXPECT_EQ(render(R"({"t": "{{ /s | truncate(3) | truncate(2) }}"})", R"({"s": "abcdef"})"), R"({"t":"ab…"})");
  EXPECT_EQ(render(R"({"t": "{{ /s | truncate(3) | truncate(3) }}"})", R"({"s": "abcdef"})"), R"({"t":"abc…"})");
  EXPECT_EQ(render(R"({"t": "{{ /s | truncate(3) | truncate(4) }}"})", R"({"s": "abcdef"})"), R"({"t":"abc…"})");
  EXPECT_EQ(render(R"({"t": {{ /s | truncate(2) }}})", R"({"s": "a\"cd"})"), R"({"t":"a\"…"})") << "whole value: quoted";
  EXPECT_EQ(render(R"(<{{ /s | truncate(2) }}>)", R"({"s": "a\"cd"})", TemplateKind::text), "<a\"…>");
}

TEST(Template, TruncateAt4096CodePoints) {
  const Template t = compiled(R"({"text": "{{ /s | truncate(4096) }}"})");
  std::string exact, over;
  for (int i = 0; i < 4095; ++i) exact += i % 2 ? "é" : "a";
  exact += "😀";
  over = exact + "z";
  EXPECT_EQ(render(t, R"({"s": ")" + exact + "\"}"), R"({"text":")" + exact + "\"}");
  EXPECT_EQ(render(t, R"({"s": ")" + over + "\"}"), R"({"text":")" + exact + "…\"}");
}

TEST(Template, TruncateLowerUpperTakeStringsOnly) {
  EXPECT_EQ(render(R"({"t": "{{ /n | truncate(3) }}"})", R"({"n": 12345})"), "error: not a string for truncate (/n)");
  EXPECT_EQ(render(R"({"t": "{{ /o | truncate(3) }}"})", R"({"o": {"a": 1}})"), "error: not a string for truncate (/o)");
  EXPECT_EQ(render(R"({"t": "{{ /o | lower }}"})", R"({"o": [1]})"), "error: not a string for lower (/o)");
  EXPECT_EQ(render(R"({"t": "{{ /o | upper }}"})", R"({"o": true})"), "error: not a string for upper (/o)");
  EXPECT_EQ(render(R"({"t": "{{ /o | default(1) | upper }}"})", R"({})"), "error: not a string for upper (/o)");
}

// --- lower / upper ---------------------------------------------------------------------------------

TEST(Template, LowerAndUpperChangeAsciiLettersOnly) {
  EXPECT_EQ(render(R"({"t": "{{ /s | lower }}", "u": {{ /s | upper }}})", R"({"s": "MiXed Ünï 123 \"Q\""})"),
            R"({"t":"mixed Ünï 123 \"q\"","u":"MIXED ÜNï 123 \"Q\""})");
  EXPECT_EQ(render(R"({"t": "{{ /s | upper | lower }}"})", R"({"s": "AbC"})"), R"({"t":"abc"})") << "the last wins";
  EXPECT_EQ(render(R"({"t": "{{ /s | upper | truncate(2) }}"})", R"({"s": "abc"})"), R"({"t":"AB…"})");
}

// --- decimal ---------------------------------------------------------------------------------------

TEST(Template, DecimalScalesExactlyAndWritesFixedPoint) {
  const Template t = compiled(R"({"s": "{{ /value | decimal(/tokenDecimal) }}", "v": {{ /value | decimal(/tokenDecimal) }}})");
  EXPECT_EQ(render(t, R"({"value": "1500250000", "tokenDecimal": "6"})"), R"({"s":"1500.25","v":1500.25})");
  EXPECT_EQ(render(t, R"({"value": 1500250000, "tokenDecimal": 6})"), R"({"s":"1500.25","v":1500.25})");
  EXPECT_EQ(render(t, R"({"value": "-1500250000", "tokenDecimal": 6})"), R"({"s":"-1500.25","v":-1500.25})");
  EXPECT_EQ(render(t, R"({"value": "5", "tokenDecimal": "18"})"), R"({"s":"0.000000000000000005","v":0.000000000000000005})");
  EXPECT_EQ(render(t, R"({"value": "0", "tokenDecimal": "18"})"), R"({"s":"0","v":0})");
  EXPECT_EQ(render(t, R"({"value": "1000000", "tokenDecimal": "6"})"), R"({"s":"1","v":1})");
  EXPECT_EQ(render(t, R"({"value": 18446744073709551615, "tokenDecimal": 0})"),
            R"({"s":"18446744073709551615","v":18446744073709551615})");
  // 78 digits are exact; 79 are not a number we hold.
  const std::string d78 = "123456789012345678901234567890123456789012345678901234567890123456789012345678";
  EXPECT_EQ(render(t, R"({"value": ")" + d78 + R"(", "tokenDecimal": 18})"),
            R"({"s":"123456789012345678901234567890123456789012345678901234567890.123456789012345678","v":123456789012345678901234567890123456789012345678901234567890.123456789012345678})");
  EXPECT_EQ(render(t, R"({"value": ")" + d78 + R"(9", "tokenDecimal": 18})"), "error: not a number for decimal (/value)");

  EXPECT_EQ(render(R"(["{{ /v | decimal(6, 2) }}", "{{ /v | decimal(6, 4) }}", {{ /v | decimal(0) }}, "{{ /w | decimal(3, 2) }}"])",
                   R"({"v": "1500250000", "w": 2345})"),
            R"(["1500.25","1500.2500",1500250000,"2.34"])");
  EXPECT_EQ(render("{{ /v | decimal(2) }} ETH", R"({"v": "12345"})", TemplateKind::text), "123.45 ETH");
  EXPECT_EQ(render(R"("{{ /v | decimal(2) | decimal(1) }}")", R"({"v": "12345"})"), R"("12.345")");
  EXPECT_EQ(render(R"("{{ /v | default("0") | decimal(6) }}")", R"({})"), R"("0")");
}

TEST(Template, DecimalRefusesWhatIsNoNumber) {
  const Template t = compiled(R"("{{ /value | decimal(/d) }}")");
  EXPECT_EQ(render(t, R"({"d": 6})"), "error: missing /value");
  EXPECT_EQ(render(t, R"({"value": "1"})"), "error: missing /d for decimal (/value)");
  EXPECT_EQ(render(t, R"({"value": "12a", "d": 6})"), "error: not a number for decimal (/value)");
  EXPECT_EQ(render(t, R"({"value": true, "d": 6})"), "error: not a number for decimal (/value)");
  EXPECT_EQ(render(t, R"({"value": {"a": 1}, "d": 6})"), "error: not a number for decimal (/value)");
  EXPECT_EQ(render(t, R"({"value": "", "d": 6})"), "error: not a number for decimal (/value)");
  EXPECT_EQ(render(t, R"({"value": "1", "d": "six"})"), "error: bad decimals for decimal (/d is no integer from 0 to 77)");
  EXPECT_EQ(render(t, R"({"value": "1", "d": -1})"), "error: bad decimals for decimal (/d is no integer from 0 to 77)");
  EXPECT_EQ(render(t, R"({"value": "1", "d": 78})"), "error: bad decimals for decimal (/d is no integer from 0 to 77)");
  EXPECT_EQ(render(t, R"({"value": "1", "d": 1.5})"), "error: bad decimals for decimal (/d is no integer from 0 to 77)");
  EXPECT_EQ(render(t, R"({"value": "1", "d": null})"), "error: bad decimals for decimal (/d is no integer from 0 to 77)");
  EXPECT_EQ(render(t, R"({"value": "1", "d": 77})"), R"("0.)" + std::string(76, '0') + R"(1")");
  // A fixed-point text that does not fit the value buffer.
  EXPECT_EQ(render(t, R"({"value": "1e300", "d": 0})"), "error: out of range for decimal (/value)");
  EXPECT_EQ(render(R"("{{ /v | truncate(3) | decimal(0) }}")", R"({"v": "12345"})"), "error: not a number for decimal (/v)");
  EXPECT_EQ(render(R"("{{ /v | decimal(0) | truncate(3) }}")", R"({"v": "12345"})"), "error: not a string for truncate (/v)");
}

// --- output limit ----------------------------------------------------------------------------------

TEST(Template, OutputLimitAtNMinusOneAndN) {
  const Template t = compiled(R"({"text": "{{ /s }}", "o": {{ /o }}})");
  Event ev(R"({"s": "a\"b", "o": {"k": [1, 2, "é"]}})");
  const std::string expect = R"({"text":"a\"b","o":{"k":[1,2,"é"]}})";
  std::string out(expect.size() + 8, '#');
  for (std::size_t cap = 0; cap < expect.size(); ++cap) {
    RenderResult r = t.render(ev.root, std::span<char>(out.data(), cap));
    EXPECT_FALSE(r.ok()) << cap;
    EXPECT_EQ(r.fault(), RenderFault::too_large);
    EXPECT_EQ(r.reason(), "too large");
    EXPECT_EQ(out[cap], '#') << "wrote past the span at " << cap;
  }
  RenderResult r = t.render(ev.root, std::span<char>(out.data(), expect.size()));
  ASSERT_TRUE(r.ok()) << r.reason();
  EXPECT_EQ(std::string_view(out.data(), r.size()), expect);
  EXPECT_EQ(out[expect.size()], '#');
}

TEST(Template, A4096ByteBodyFitsA4096ByteBuffer) {
  const Template t = compiled(R"({"text":"{{ /s }}"})");
  const std::string s(4096 - std::string_view(R"({"text":""})").size(), 'x');
  Event ev(R"({"s": ")" + s + "\"}");
  std::vector<char> out(4096);
  RenderResult r = t.render(ev.root, out);
  ASSERT_TRUE(r.ok()) << r.reason();
  EXPECT_EQ(r.size(), 4096u);
  EXPECT_FALSE(t.render(ev.root, std::span<char>(out.data(), 4095)).ok());
}

// --- the bots' bodies ------------------------------------------------------------------------------

TEST(Template, TelegramSendMessageBody) {
  const Template t = compiled(R"({"chat_id": "123", "text": "{{ /from | truncate(12) }} sent {{ /value }}:\n{{ /note | default("-") | truncate(4000) }}", "disable_web_page_preview": true})");
  EXPECT_EQ(render(t, R"({"from": "0x1234567890abcdef", "value": "1500.25", "note": "gm \"fren\" 🚀"})"),
            R"({"chat_id":"123","text":"0x1234567890… sent 1500.25:\ngm \"fren\" 🚀","disable_web_page_preview":true})");
  EXPECT_EQ(render(t, R"({"from": "alice", "value": 3})"),
            R"({"chat_id":"123","text":"alice sent 3:\n-","disable_web_page_preview":true})");
  EXPECT_EQ(render(t, R"({"value": 3})"), "error: missing /from");
}

TEST(Template, DiscordWebhookBody) {
  const Template t = compiled(R"({"content": "**{{ /summary | truncate(100) }}** at {{ /location | default("somewhere") }}", "allowed_mentions": {"parse": []}})");
  EXPECT_EQ(render(t, R"({"summary": "Standup\t\"daily\"", "location": "Room 1\\2"})"),
            R"({"content":"**Standup\t\"daily\"** at Room 1\\2","allowed_mentions":{"parse":[]}})");
}

// --- compile errors --------------------------------------------------------------------------------

TEST(Template, CompileErrorsNameTheProblemAndItsColumn) {
  EXPECT_EQ(compile_error(R"({"t": "{{ /a )"), "column 8: unterminated placeholder: '{{' has no '}}'");
  EXPECT_EQ(compile_error(R"({"t": "{{ /a | lowr }}"})"),
            "column 16: unknown formatter \"lowr\" (known: decimal, truncate, lower, upper, default)");
  EXPECT_EQ(compile_error(R"({"t": "{{ a }}"})"), "column 11: a placeholder starts with a JSON Pointer such as /text, found 'a'");
  EXPECT_EQ(compile_error(R"({"t": "{{ /a~2 }}"})").substr(0, 37), "column 11: bad JSON Pointer \"/a~2\": '");
  EXPECT_EQ(compile_error(R"({"t": "{{ }}"})"), "column 11: a placeholder starts with a JSON Pointer such as /text, found '}'");
  EXPECT_EQ(compile_error(R"({"t": "{{ /a /b }}"})"), "column 14: expected '|' or '}}' in the placeholder, found '/'");
  EXPECT_EQ(compile_error(R"({"t": "{{ /a | }}"})"),
            "column 16: expected a formatter name (decimal, truncate, lower, upper, default), found '}'");
  EXPECT_EQ(compile_error(R"({"t": "abc)"), "column 7: unterminated string: '\"' has no closing '\"'");
  EXPECT_EQ(compile_error(R"({"t": "abc")"), "column 1: unterminated object: '{' has no '}'");
  EXPECT_EQ(compile_error(R"({"t": [1, 2})"), "column 12: expected ',' or ']', found '}'");
  EXPECT_EQ(compile_error(R"({"t": 1}})"), "column 9: unexpected '}' after the JSON value");
  EXPECT_EQ(compile_error(R"({{{/k}}: 1})"), "column 3: a placeholder starts with a JSON Pointer such as /text, found '{'");
  EXPECT_EQ(compile_error(R"({ {{/k}}: 1})"),
            "column 3: an object key must be a string: put the placeholder inside quotes (\"{{ ... }}\")");
  EXPECT_EQ(compile_error(R"({"t": x{{/b}}})"), "column 7: expected a JSON value, found 'x'");
  EXPECT_EQ(compile_error(R"({"t": 1{{/b}}})"),
            "column 8: expected ',' or '}', found '{{' (a placeholder outside a string must be a whole JSON value)");
  EXPECT_EQ(compile_error(R"({"t": {{/b}}x})"), "column 13: expected ',' or '}', found 'x'");
  EXPECT_EQ(compile_error("{\"t\": \"a\tb\"}"), "column 9: a control character in a JSON string must be escaped (\\n, \\t, \\u001f)");
  EXPECT_EQ(compile_error(R"({"t": "\x"})").substr(0, 32), "column 8: bad escape in a string");
  EXPECT_EQ(compile_error(R"({"t": "\ud800"})").substr(0, 39), "column 8: a high surrogate in \\u escape");
  EXPECT_EQ(compile_error(R"({"t": "\udc00"})"), "column 8: a lone low surrogate in \\u escape");
  EXPECT_EQ(compile_error("{\"t\": \"\xC3\"}"), "column 8: invalid UTF-8 in a string");
  EXPECT_EQ(compile_error(R"({"t": 01})"), "column 7: not a JSON number (no leading zeros)");
  EXPECT_EQ(compile_error(R"({"t": tru})"), "column 7: expected a JSON value, found 't'");
  EXPECT_EQ(compile_error(""), "column 1: expected a JSON value, found the end of the template");
  EXPECT_EQ(compile_error("{\n  \"a\": 1,\n  \"é\": \"{{ /x | up }}\"\n}"),
            "line 3, column 17: unknown formatter \"up\" (known: decimal, truncate, lower, upper, default)");
  EXPECT_EQ(compile_error("a {{ /x", TemplateKind::text), "column 3: unterminated placeholder: '{{' has no '}}'");
}

TEST(Template, CompileErrorsForFormatterArguments) {
  EXPECT_EQ(compile_error(R"("{{ /a | truncate }}")"), "column 10: truncate takes one argument: truncate(N), N code points");
  EXPECT_EQ(compile_error(R"("{{ /a | truncate(0) }}")"), "column 19: truncate: N must be an integer from 1 to 1048576");
  EXPECT_EQ(compile_error(R"("{{ /a | truncate(1.5) }}")"), "column 19: truncate: N must be an integer from 1 to 1048576");
  EXPECT_EQ(compile_error(R"("{{ /a | truncate("3") }}")"), "column 19: truncate: N must be an integer from 1 to 1048576");
  EXPECT_EQ(compile_error(R"("{{ /a | truncate(3 }}")"), "column 18: unterminated arguments: '(' has no ')'");
  EXPECT_EQ(compile_error(R"("{{ /a | truncate(3;) }}")"), "column 20: expected ',' or ')' in the arguments, found ';'");
  EXPECT_EQ(compile_error(R"("{{ /a | lower(1) }}")"), "column 16: lower takes no arguments");
  EXPECT_EQ(compile_error(R"("{{ /a | default }}")"),
            "column 10: default takes one literal: default(\"text\"), a number, true, false or null");
  EXPECT_EQ(compile_error(R"("{{ /a | default(/b) }}")"),
            "column 10: default takes one literal: default(\"text\"), a number, true, false or null");
  EXPECT_EQ(compile_error(R"("{{ /a | default("x) }}")"), "column 17: unterminated arguments: '(' has no ')'");
  EXPECT_EQ(compile_error(R"("{{ /a | default("x\u00") }}")"), "column 20: \\u must be followed by four hex digits");
  EXPECT_EQ(compile_error(R"("{{ /a | default(x) }}")").substr(0, 32), "column 18: expected an argument ");
  EXPECT_EQ(compile_error(R"("{{ /a | decimal }}")").substr(0, 27), "column 10: decimal takes (/");
  EXPECT_EQ(compile_error(R"("{{ /a | decimal(78) }}")"), "column 18: decimal: the decimals must be an integer from 0 to 77");
  EXPECT_EQ(compile_error(R"("{{ /a | decimal(6, 78) }}")"), "column 21: decimal: places must be an integer from 0 to 77");
  EXPECT_EQ(compile_error(R"("{{ /a | decimal(/d~) }}")").substr(0, 36), "column 18: bad JSON Pointer \"/d~\": '");
  EXPECT_EQ(compile_error(R"("{{ /a | lower() | upper() }}")"), "");
}

TEST(Template, LimitsAtNAndNPlusOne) {
  std::string at_limit = "\"", over;
  for (std::size_t i = 0; i < Template::kMaxPlaceholders; ++i) at_limit += "{{/a}}";
  over = at_limit + "{{/a}}\"";
  at_limit += "\"";
  EXPECT_EQ(compiled(at_limit).placeholders(), Template::kMaxPlaceholders);
  EXPECT_EQ(compile_error(over), "column 386: more than 64 placeholders");

  std::string chain = "\"{{ /a";
  for (std::size_t i = 0; i < Template::kMaxFormatters; ++i) chain += "|lower";
  EXPECT_EQ(compile_error(chain + "}}\""), "");
  EXPECT_EQ(compile_error(chain + "|lower}}\""), "column 56: more than 8 formatters in one placeholder");

  std::string deep(Template::kMaxDepth, '['), deep_close(Template::kMaxDepth, ']');
  EXPECT_EQ(compile_error(deep + deep_close), "");
  EXPECT_EQ(compile_error("[" + deep + deep_close + "]"), "column 65: nested deeper than 64 levels");
  EXPECT_EQ(compile_error(std::string(Template::kMaxSource - 2, ' ') + "{}"), "");
  EXPECT_EQ(compile_error(std::string(Template::kMaxSource - 1, ' ') + "{}"),
            "column 1: a template may hold at most 65536 bytes");
}

TEST(Template, ValuesNestedTooDeepAreRefused) {
  const Template t = compiled(R"({"v": {{ /v }}})");
  std::string ok_depth = std::string(Template::kMaxValueDepth, '[') + std::string(Template::kMaxValueDepth, ']');
  std::string too_deep = "[" + ok_depth + "]";
  EXPECT_EQ(render(t, R"({"v": )" + ok_depth + "}"), R"({"v":)" + ok_depth + "}");
  EXPECT_EQ(render(t, R"({"v": )" + too_deep + "}"), "error: too deep (/v)");
}

// --- no heap while rendering -----------------------------------------------------------------------

TEST(Template, RenderAllocatesNothing) {
  const Template templates[] = {
      compiled(R"({"t": "{{ /s | truncate(5) | upper }} {{ /o }} {{ /n }} {{ /d }} {{ /x | default("none") }}", "o": {{ /o }}, "s": {{ /s | lower }}})"),
      compiled(R"({"missing": "{{ /nope }}"})"),
      compiled(R"({"d": {{ /big | decimal(/dec, 4) }}, "e": "{{ /big | decimal(18) }}"})"),
      compiled(R"({"f": "{{ /n | decimal(/nope) }}"})"),
      compiled(R"({"wrong": "{{ /n | truncate(2) }}"})"),
      compiled(R"(text {{ /s }} {{ /o }})", TemplateKind::text),
  };
  Event ev(R"({"s": "Hello \"World\" 😀 é", "o": {"a": [1, 2.5, null, true, "x\n"]}, "n": 18446744073709551615, "d": -1e-7,
               "big": "123456789012345678901234567890123456789012345678901234567890", "dec": "18"})");
  char out[512];
  char tiny[8];
  alloc::seal();
  const std::uint64_t before = alloc::count();
  int ok = 0;
  for (int round = 0; round < 20; ++round) {
    for (const Template& t : templates) {
      ok += t.render(ev.root, out).ok();
      ok += t.render(ev.root, tiny).ok();
    }
  }
  const std::uint64_t after = alloc::count();
  alloc::unseal();
  EXPECT_EQ(after - before, 0u) << "heap allocations while rendering";
  EXPECT_EQ(ok, 60) << "three templates render, three fail, nothing fits 8 bytes";
}

}  // namespace
}  // namespace bh
