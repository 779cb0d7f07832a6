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
// A missing pong is closed 4201 by the peer: reconnected at once, and after three quick ones in a
// row only after the backoff.
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

// ---- Stream notifications: Pusher protocol 7 -----------------------------------------------------

std::string pusher_source(const PyPeer& p, const std::string& extra) {
  return "[[source]]\nname = \"kick\"\ntype = \"websocket\"\nurl = \"ws://127.0.0.1:" + std::to_string(p.port()) +
         "/app/key?protocol=7&client=js\"\nbackoff_base = \"100ms\"\nbackoff_cap = \"200ms\"\n" + extra;
}
const std::string kSubscribeReply =
    "\n[[source.reply]]\nwhen = '/event == \"pusher:connection_established\"'\n"
    "send = '{\"event\":\"pusher:subscribe\",\"data\":{\"auth\":\"\",\"channel\":\"{{ /channel | default(\"chatrooms.7\") }}\"}}'\n";
const std::string kPongReply =
    "\n[[source.reply]]\nwhen = '/event == \"pusher:ping\"'\nsend = '{\"event\":\"pusher:pong\",\"data\":{}}'\n";
const std::string kQuietReply = "\n[[source.reply]]\nwhen = 'starts_with(/event, \"pusher_internal:\")'\n";

double kick(const Bulkhead& b, const std::string& family, const std::string& label = "") {
  return metric(b, family + "{source=\"kick\"" + label + "}");
}

TEST(StreamJob, RepliesSubscribeAndPongAndCloseCodesDecideTheReconnect) {
  CensusGuard census;
  // Connection 1 closes 4100 (backoff), 2 closes 4200 (at once), 3 closes 4001 (stop); a pong must
  // come back within 2 s each time, else the peer closes 4201.
  PyPeer peer("ws_peer.py", "pusher 2000 4100 4200 4001");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + pusher_source(peer, "") + kSubscribeReply + kPongReply + kQuietReply);
  ASSERT_TRUE(eventually([&] { return kick(b, "bulkhead_source_closes_total", ",action=\"stop\"") == 1; }, 15000ms))
      << b.log() << read_file(peer.file("events.log"));
  auto dump = [&] { return b.log() + read_file(peer.file("events.log")) + console(b, {"sources"}).second; };
  // Every connection subscribed (the template's default: connection_established has no /channel)
  // and answered the ping in time; none was closed 4201.
  EXPECT_EQ(peer_events(peer, {"\"recv\"", "pusher:subscribe", "chatrooms.7"}), 3u) << dump();
  EXPECT_EQ(peer_events(peer, {"\"pong\""}), 3u) << dump();
  EXPECT_EQ(peer_events(peer, {"\"pong_late\""}), 0u) << dump();
  EXPECT_EQ(peer_events(peer, {"\"closed\"", "\"code\": 4201"}), 0u) << dump();
  // Close codes: 4100 backed off, 4200 reconnected at once, 4001 stopped the source.
  EXPECT_EQ(kick(b, "bulkhead_source_closes_total", ",action=\"backoff\""), 1) << dump();
  EXPECT_EQ(kick(b, "bulkhead_source_closes_total", ",action=\"reconnect\""), 1) << dump();
  EXPECT_EQ(kick(b, "bulkhead_source_replies_sent_total"), 6) << dump();  // subscribe + pong, 3 times
  // connection_established, subscription_succeeded and ping, 3 times: not stored. The live events are.
  EXPECT_EQ(kick(b, "bulkhead_source_protocol_messages_total"), 9) << dump();
  ASSERT_TRUE(eventually([&] { return kick(b, "bulkhead_source_events_total") == 3; })) << dump();
  const auto bodies = query_rows(b.db_path(), "SELECT body FROM events WHERE source = 'kick' ORDER BY seq");
  ASSERT_EQ(bodies.size(), 3u);
  for (const std::string& body : bodies) {
    EXPECT_NE(body.find("App\\\\Events\\\\StreamerIsLive"), std::string::npos) << body;
    EXPECT_EQ(body.find("pusher"), std::string::npos) << body;
  }
  // Stopped: shown so, and no connection 4 until the console resumes the source.
  auto [rc, out] = console(b, {"sources"});
  EXPECT_TRUE(std::regex_search(out, std::regex("kick +websocket +stopped"))) << out;
  EXPECT_NE(out.find("close codes: stop 1, reconnect 1 (throttled 0), backoff 1; replies sent 6, protocol messages 9"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("(close_codes: stop): not reconnecting until resumed"), std::string::npos) << out;
  EXPECT_FALSE(eventually([&] { return peer_events(peer, {"\"connect\"", "\"conn\": 4,"}) > 0; }, 1500ms)) << dump();
  EXPECT_EQ(console(b, {"resume", "kick"}).second, "source 'kick' resumed\n");
  ASSERT_TRUE(eventually([&] { return peer_events(peer, {"\"pong\"", "\"conn\": 4,"}) >= 1; }, 10000ms)) << dump();
  expect_clean_stop(b);
}

TEST(StreamJob, AMissingPongIsClosed4201AndQuickReconnectsAreBounded) {
  CensusGuard census;
  // No pong reply: the peer closes every connection 4201 after 200 ms; the default rules
  // reconnect at once, three times in a row, then the backoff takes over.
  PyPeer peer("ws_peer.py", "pusher 200");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + pusher_source(peer, "") + kSubscribeReply + kQuietReply);
  ASSERT_TRUE(eventually([&] { return kick(b, "bulkhead_source_closes_total", ",action=\"reconnect_throttled\"") >= 1; },
                         15000ms))
      << b.log() << read_file(peer.file("events.log"));
  // The peer logs a close once its close handshake is over, which may be after bulkhead counted it.
  EXPECT_TRUE(eventually([&] { return peer_events(peer, {"\"closed\"", "\"code\": 4201"}) >= 4u; }, 3000ms))
      << read_file(peer.file("events.log"));
  EXPECT_EQ(peer_events(peer, {"\"pong\""}), 0u);
  EXPECT_GE(kick(b, "bulkhead_source_closes_total", ",action=\"reconnect\""), 4);
  // The ping is not a reply's `when` here: stored like the live events (the filter is the source's job).
  EXPECT_GE(kick(b, "bulkhead_source_events_total"), 4);
  EXPECT_NE(b.log().find("with 4201 (close_codes: reconnect) 4 times in a row within 1000 ms: backing off"),
            std::string::npos)
      << b.log();
  expect_clean_stop(b);
}

}  // namespace
}  // namespace bh::test
