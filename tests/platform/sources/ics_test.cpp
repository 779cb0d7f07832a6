// platform/sources/ics.hpp through the `ics` split mode: one JSON object per VEVENT, folded lines
// (CRLF, LF, tab; at every position, inside UTF-8 characters), parameters (TZID, VALUE=DATE),
// TEXT escapes, nested components, truncated bodies, events over the buffer, lines of any length,
// and bytes in any chunking. Every event is checked to be valid JSON.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "platform/sources/splitter.hpp"
#include "tests/platform/sources/split_collect.hpp"

namespace bh {
namespace {

using test::Collect;

// Feeds `body` in pieces of `step` bytes; every event must parse as a JSON object.
Collect cut(std::string_view body, std::size_t step = 1 << 20, std::size_t cap = 4096) {
  std::vector<char> buf(cap);
  Splitter s(SplitMode::ics, buf);
  Collect c;
  for (std::size_t i = 0; i < body.size(); i += step) s.feed(body.substr(i, step), c);
  s.finish(c);
  simdjson::dom::parser p;
  for (const std::string& e : c.items) {
    simdjson::dom::element el;
    EXPECT_EQ(p.parse(e).get(el), simdjson::SUCCESS) << e;
    EXPECT_TRUE(el.is_object()) << e;
  }
  return c;
}

std::string crlf(std::string_view lf) {
  std::string out;
  for (char c : lf) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

const std::string kCal = crlf(
    "BEGIN:VCALENDAR\n"
    "VERSION:2.0\n"
    "PRODID:-//test//EN\n"
    "BEGIN:VTIMEZONE\n"
    "TZID:Europe/Berlin\n"
    "BEGIN:STANDARD\n"
    "DTSTART:19701025T030000\n"
    "TZNAME:CET\n"
    "END:STANDARD\n"
    "END:VTIMEZONE\n"
    "BEGIN:VEVENT\n"
    "UID:a1@example.com\n"
    "DTSTAMP:20261201T080000Z\n"
    "DTSTART;TZID=Europe/Berlin:20261204T100000\n"
    "DTEND;TZID=Europe/Berlin:20261204T113000\n"
    "SUMMARY:Caf\xc3\xa9 planning \xe2\x82\xac\n"
    "LOCATION:Room 1\\, Floor 2\n"
    "LAST-MODIFIED:20261201T080000Z\n"
    "SEQUENCE:2\n"
    "STATUS:CONFIRMED\n"
    "END:VEVENT\n"
    "BEGIN:VEVENT\n"
    "UID:b2@example.com\n"
    "DTSTART;VALUE=DATE:20261224\n"
    "DTEND;VALUE=DATE:20261225\n"
    "SUMMARY:Holiday\n"
    "RRULE:FREQ=YEARLY;BYMONTH=12\n"
    "END:VEVENT\n"
    "END:VCALENDAR\n");

const std::vector<std::string> kCalEvents{
    R"({"uid":"a1@example.com","tzid":"Europe/Berlin","start":"2026-12-04T10:00:00","all_day":false,)"
    R"("end":"2026-12-04T11:30:00","summary":"Caf)" "\xc3\xa9" R"( planning )" "\xe2\x82\xac"
    R"(","location":"Room 1, Floor 2","last_modified":"2026-12-01T08:00:00Z","sequence":2,"status":"CONFIRMED"})",
    R"({"uid":"b2@example.com","start":"2026-12-24","all_day":true,"end":"2026-12-25","summary":"Holiday",)"
    R"("rrule":"FREQ=YEARLY;BYMONTH=12"})",
};

TEST(Ics, EventsWithTzidAllDayAndUtc) {
  Collect c = cut(kCal);
  EXPECT_EQ(c.items, kCalEvents);
  EXPECT_TRUE(c.big.empty());
  EXPECT_TRUE(c.bad.empty());
}

TEST(Ics, LfAndCrlfAndAnyChunkingGiveTheSameEvents) {
  std::string lf = kCal;
  std::erase(lf, '\r');
  for (std::size_t step : {1u, 2u, 3u, 7u, 64u, 100000u}) {
    EXPECT_EQ(cut(kCal, step).items, kCalEvents) << step;
    EXPECT_EQ(cut(lf, step).items, kCalEvents) << step;
  }
}

TEST(Ics, FoldedAtEveryPositionIncludingInsideUtf8) {
  // Each fold (CRLF + space, CRLF + tab, LF + space) at every position of the SUMMARY line, even
  // between the bytes of é and €, and in the property name and parameter: the same events.
  const std::size_t line_at = kCal.find("SUMMARY:");
  const std::size_t line_end = kCal.find("\r\n", line_at);
  const std::size_t tz_at = kCal.find("DTSTART;TZID");
  const std::size_t tz_end = kCal.find("\r\n", tz_at);
  for (std::string_view fold : {"\r\n ", "\r\n\t", "\n "}) {
    for (auto [from, to] : {std::pair{line_at, line_end}, std::pair{tz_at, tz_end}}) {
      for (std::size_t p = from + 1; p < to; ++p) {
        std::string body = kCal;
        body.insert(p, fold);
        EXPECT_EQ(cut(body).items, kCalEvents) << "fold at " << p - from;
        EXPECT_EQ(cut(body, 1).items, kCalEvents) << "fold at " << p - from << " byte by byte";
      }
    }
  }
}

TEST(Ics, FoldDropsOnlyOneBlank) {
  Collect c = cut("BEGIN:VEVENT\r\nSUMMARY:two\r\n  words\r\nEND:VEVENT\r\n");
  EXPECT_EQ(c.items, std::vector<std::string>{R"({"summary":"two words"})"});
}

TEST(Ics, TextEscapesAndJsonEscapes) {
  Collect c = cut(
      "BEGIN:VEVENT\n"
      "DESCRIPTION:a\\nb\\Nc\\,d\\;e\\\\f \\x \"q\"\ttab\n"
      "SUMMARY:ends in a backslash\\\n"
      "END:VEVENT\n");
  ASSERT_EQ(c.items.size(), 1u);
  EXPECT_EQ(c.items[0], R"({"description":"a\nb\nc,d;e\\f \\x \"q\"\ttab","summary":"ends in a backslash\\"})");
}

TEST(Ics, QuotedTzidAndCaseInsensitiveNames) {
  Collect c = cut(
      "begin:vevent\n"
      "dtstart;x-foo=bar;tzid=\"America/New_York\";value=date-time:20260301T090000\n"
      "uid:lower\n"
      "end:vevent\n");
  EXPECT_EQ(c.items, std::vector<std::string>{
                         R"({"tzid":"America/New_York","start":"2026-03-01T09:00:00","all_day":false,"uid":"lower"})"});
}

TEST(Ics, NestedComponentsDoNotLendTheirProperties) {
  Collect c = cut(
      "BEGIN:VCALENDAR\n"
      "BEGIN:VTODO\n"
      "UID:todo\n"
      "SUMMARY:not an event\n"
      "END:VTODO\n"
      "BEGIN:VEVENT\n"
      "UID:e\n"
      "BEGIN:VALARM\n"
      "ACTION:DISPLAY\n"
      "DESCRIPTION:Reminder\n"
      "SUMMARY:alarm summary\n"
      "TRIGGER:-PT15M\n"
      "END:VALARM\n"
      "SUMMARY:event summary\n"
      "DESCRIPTION:event description\n"
      "END:VEVENT\n"
      "END:VCALENDAR\n");
  EXPECT_EQ(c.items, std::vector<std::string>{
                         R"({"uid":"e","summary":"event summary","description":"event description"})"});
}

TEST(Ics, RepeatedPropertyKeepsTheFirstAndBadValuesAreLeftOut) {
  Collect c = cut(
      "BEGIN:VEVENT\n"
      "SUMMARY:first\n"
      "SUMMARY:second\n"
      "SEQUENCE:007\n"
      "DTSTART;TZID=Europe/Berlin;VALUE=PERIOD:19970101T180000Z/PT5H30M\n"
      "DTEND:20261399\n"
      "NOT A PROPERTY LINE\n"
      "LAST-MODIFIED:20260102T030405Z\n"
      "END:VEVENT\n");
  EXPECT_EQ(c.items, std::vector<std::string>{
                         R"({"summary":"first","sequence":7,"last_modified":"2026-01-02T03:04:05Z"})"});
}

TEST(Ics, InvalidUtf8BecomesReplacementCharacter) {
  Collect c = cut("BEGIN:VEVENT\nSUMMARY:a\xff" "b\xc3(c\xe2\x82\nEND:VEVENT\n");
  EXPECT_EQ(c.items, std::vector<std::string>{R"({"summary":"a\ufffdb\ufffd(c\ufffd"})"});
}

TEST(Ics, TruncatedBodyKeepsCompleteEventsAndReportsTheRest) {
  const std::string body = kCal.substr(0, kCal.find("RRULE"));
  Collect c = cut(body);
  EXPECT_EQ(c.items, std::vector<std::string>{kCalEvents[0]});
  ASSERT_EQ(c.bad.size(), 1u);
  EXPECT_NE(c.bad[0].find("ends inside a VEVENT"), std::string::npos);
}

TEST(Ics, LastLineWithoutLineBreakCompletesTheEvent) {
  Collect c = cut("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nEND:VEVENT");
  EXPECT_EQ(c.items, std::vector<std::string>{R"({"uid":"x"})"});
  EXPECT_TRUE(c.bad.empty());
}

TEST(Ics, NotACalendarIsMalformedAndEmptyCalendarIsNot) {
  Collect html = cut("<html><body>Service unavailable</body></html>");
  EXPECT_TRUE(html.items.empty());
  EXPECT_EQ(html.bad.size(), 1u);
  Collect empty = cut("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n");
  EXPECT_TRUE(empty.items.empty());
  EXPECT_TRUE(empty.bad.empty());
}

TEST(Ics, EventOverTheBufferIsTooLargeAtEveryCap) {
  const std::string ev = "BEGIN:VEVENT\nUID:u\nSUMMARY:0123456789\nEND:VEVENT\n";
  const std::string json = R"({"uid":"u","summary":"0123456789"})";
  // N-1, N, N+1 around the event's JSON length, with the next event fitting again.
  for (std::size_t cap : {json.size() - 1, json.size(), json.size() + 1}) {
    Collect c = cut(ev + "BEGIN:VEVENT\nUID:v\nEND:VEVENT\n", 5, cap);
    if (cap < json.size()) {
      EXPECT_EQ(c.big, std::vector<std::uint64_t>{json.size()}) << cap;
      EXPECT_EQ(c.items, std::vector<std::string>{R"({"uid":"v"})"}) << cap;
    } else {
      EXPECT_TRUE(c.big.empty()) << cap;
      EXPECT_EQ(c.items, (std::vector<std::string>{json, R"({"uid":"v"})"})) << cap;
    }
  }
}

TEST(Ics, HugeLinesStreamThrough) {
  // A 2 MiB attachment line is not a property we take: the event is small. A 2 MiB description is:
  // the event is too large, and the next one is cut as usual.
  const std::string big(2 << 20, 'x');
  Collect c = cut("BEGIN:VEVENT\nATTACH;ENCODING=BASE64;VALUE=BINARY:" + big +
                      "\nUID:a\nEND:VEVENT\nBEGIN:VEVENT\nDESCRIPTION:" + big +
                      "\nEND:VEVENT\nBEGIN:VEVENT\nUID:c\nEND:VEVENT\n",
                  4096);
  EXPECT_EQ(c.items, (std::vector<std::string>{R"({"uid":"a"})", R"({"uid":"c"})"}));
  EXPECT_EQ(c.big, std::vector<std::uint64_t>{big.size() + std::string_view(R"({"description":""})").size()});
}

TEST(Ics, ResetStartsOver) {
  std::vector<char> buf(256);
  Splitter s(SplitMode::ics, buf);
  Collect c;
  s.feed("BEGIN:VEVENT\nUID:half", c);
  s.reset();
  s.feed("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:whole\nEND:VEVENT\n", c);
  s.finish(c);
  EXPECT_EQ(c.items, std::vector<std::string>{R"({"uid":"whole"})"});
  EXPECT_TRUE(c.bad.empty());
}

}  // namespace
}  // namespace bh
