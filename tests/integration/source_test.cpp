// The pulled sources of issue #4 against the real binary and real peers on loopback: an HTTP
// server (tests/support/peers/http_poll_peer.py) whose body changes, answers 304 to a matching
// ETag, stalls, sends 10 MiB + 1 byte, or fails with 500 until the breaker opens and then recovers
// through HALF_OPEN; a WebSocket server on Debian's python3-websockets
// (tests/support/peers/ws_peer.py) that sends messages, drops the connection, stops answering
// pings, or breaks the protocol. Events are checked in the store and at a test sink with the
// source's name in the envelope; pause/resume go through the console. Each test ends with the
// process exiting 0 (every pool at zero), no heap allocation after seal, and this process's FDs
// back at baseline.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/eventually.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/source_peers.hpp"
#include "tests/support/test_sink.hpp"
#include "tests/support/tls_peer.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kRoomy = "[watchdog]\nmemory_budget = \"1GiB\"\n";

std::string poll_source(const PyPeer& p, const std::string& extra = "", const std::string& interval = "100ms") {
  return "[[source]]\nname = \"feed\"\ntype = \"http_poll\"\nurl = \"http://127.0.0.1:" + std::to_string(p.port()) +
         "/feed\"\ninterval = \"" + interval + "\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n" + extra;
}

const std::string kFeedEvents = "bulkhead_source_events_total{source=\"feed\"}";
double feed_errors(const Bulkhead& b, const std::string& kind) {
  return metric(b, "bulkhead_source_errors_total{source=\"feed\",kind=\"" + kind + "\"}");
}

// ---- HTTP poll ---------------------------------------------------------------------------------

TEST(HttpPollSource, ChangedBodiesBecomeEventsAndUnchangedOnesDoNot) {
  CensusGuard census;
  TestSink sink;
  PyPeer peer("http_poll_peer.py", "body application/json {\"v\":1}");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + poll_source(peer) + "[[sink]]\nname = \"s\"\nurl = \"" + sink.url() + "\"\n");
  ASSERT_TRUE(eventually([&] { return metric(b, kFeedEvents) == 1; })) << b.log();
  // Later polls carry the ETag and get 304: no new event.
  ASSERT_TRUE(eventually([&] { return peer.log_lines("requests.log").size() >= 5; })) << b.log();
  EXPECT_EQ(metric(b, kFeedEvents), 1);
  EXPECT_GE(metric(b, "bulkhead_source_not_modified_total{source=\"feed\"}"), 3);
  auto reqs = peer.log_lines("requests.log");
  EXPECT_NE(reqs.back().find("\"inm\": \"\\\""), std::string::npos) << reqs.back();
  // The body changes: one more event.
  peer.set_mode("body application/json {\"v\":2}");
  ASSERT_TRUE(eventually([&] { return metric(b, kFeedEvents) == 2; })) << b.log();
  // No validators and the same body again and again: one event, then "unchanged".
  peer.set_mode("noetag application/json {\"v\":3}");
  ASSERT_TRUE(eventually([&] { return metric(b, kFeedEvents) == 3; })) << b.log();
  std::size_t seen = peer.log_lines("requests.log").size();
  ASSERT_TRUE(eventually([&] { return peer.log_lines("requests.log").size() >= seen + 3; })) << b.log();
  EXPECT_EQ(metric(b, kFeedEvents), 3);

  EXPECT_EQ(query_rows(b.db_path(), "SELECT source || ' ' || body FROM events ORDER BY seq"),
            (std::vector<std::string>{"feed {\"v\":1}", "feed {\"v\":2}", "feed {\"v\":3}"}));
  ASSERT_TRUE(sink.wait_delivered(3, slow(10s))) << b.log();
  auto reqs_at_sink = sink.requests();
  std::string all;
  for (auto& r : reqs_at_sink)
    for (auto& l : r.lines) all += l + "\n";
  EXPECT_NE(all.find("\"source\":\"feed\",\"data\":{\"v\":2}}"), std::string::npos) << all;
  expect_clean_stop(b);
}

TEST(HttpPollSource, NonJsonBodiesAreWrappedWithTheirContentType) {
  CensusGuard census;
  PyPeer peer("http_poll_peer.py", "body text/plain;charset=utf-8 temp \"21.5\"\\tC\\n");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + poll_source(peer));
  ASSERT_TRUE(eventually([&] { return metric(b, kFeedEvents) == 1; })) << b.log();
  EXPECT_EQ(query_rows(b.db_path(), "SELECT body FROM events"),
            std::vector<std::string>{
                "{\"content_type\":\"text/plain;charset=utf-8\",\"body\":\"temp \\\"21.5\\\"\\tC\\n\"}"});
  EXPECT_EQ(metric(b, "bulkhead_source_wrapped_total{source=\"feed\"}"), 1);
  expect_clean_stop(b);
}

TEST(HttpPollSource, NdjsonIsCutAsItStreamsWithOversizedLinesCounted) {
  CensusGuard census;
  // 3000 lines of ~60 bytes (180 KB, more than the source's 128 KiB ring and far more than
  // max_event_bytes): cut line by line as the bytes arrive.
  // Line 100 is not JSON, line 200 is over max_event_bytes: both counted, neither stored.
  PyPeer peer("http_poll_peer.py", "ndjson 3000 bad");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + poll_source(peer, "split = \"ndjson\"\nmax_event_bytes = 256\n", "1h"));
  ASSERT_TRUE(eventually([&] { return metric(b, kFeedEvents) == 2998; })) << b.log();
  EXPECT_EQ(query_rows(b.db_path(), "SELECT count(DISTINCT body) FROM events WHERE source = 'feed'"),
            std::vector<std::string>{"2998"});
  EXPECT_EQ(metric(b, "bulkhead_source_rejected_total{source=\"feed\",reason=\"too_large\"}"), 1);
  EXPECT_EQ(metric(b, "bulkhead_source_rejected_total{source=\"feed\",reason=\"bad_json\"}"), 1);
  EXPECT_EQ(query_rows(b.db_path(), "SELECT body FROM events ORDER BY seq DESC LIMIT 1")[0].rfind("{\"i\":2999,", 0),
            0u);
  EXPECT_EQ(metric(b, "bulkhead_source_dropped_total{source=\"feed\",reason=\"queue_full\"}"), 0);
  expect_clean_stop(b);
}

TEST(HttpPollSource, JsonArrayElementsAreEvents) {
  CensusGuard census;
  PyPeer peer("http_poll_peer.py", "body application/json [{\"a\":1},{\"b\":[2,\"],\"]},3]");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + poll_source(peer, "split = \"json_array\"\n"));
  ASSERT_TRUE(eventually([&] { return metric(b, kFeedEvents) == 2; })) << b.log();
  EXPECT_EQ(query_rows(b.db_path(), "SELECT body FROM events ORDER BY seq"),
            (std::vector<std::string>{"{\"a\":1}", "{\"b\":[2,\"],\"]}"}));
  // The scalar element is not an object: counted, not stored.
  EXPECT_EQ(metric(b, "bulkhead_source_rejected_total{source=\"feed\",reason=\"bad_json\"}"), 1);
  expect_clean_stop(b);
}

TEST(HttpPollSource, FullQueueDropsTheOldestWhileTheStoreIsBusy) {
  CensusGuard census;
  // The sink is down and the outbox takes 5 events: then the committer answers busy, the source
  // keeps retrying its queue (10 events) and drops the oldest of whatever else arrives.
  PyPeer peer("http_poll_peer.py", "ndjson 100");
  ASSERT_NE(peer.port(), 0) << peer.log();
  const std::uint16_t closed = free_port();
  Bulkhead b(kRoomy + "[store]\nmax_pending = 5\n" + poll_source(peer, "split = \"ndjson\"\nqueue = 10\n", "1h") +
             "[[sink]]\nname = \"down\"\nurl = \"http://127.0.0.1:" + std::to_string(closed) + "/\"\n");
  ASSERT_TRUE(eventually([&] {
    const double events = metric(b, kFeedEvents);
    return events == 5 && events + metric(b, "bulkhead_source_dropped_total{source=\"feed\",reason=\"queue_full\"}") +
                                  metric(b, "bulkhead_source_queue_depth{source=\"feed\"}") ==
                              100;
  })) << b.log();
  EXPECT_EQ(metric(b, kFeedEvents), 5);
  // Between 5 (all 100 came before the first commit) and 10 (later bytes refilled the queue).
  const int depth = static_cast<int>(metric(b, "bulkhead_source_queue_depth{source=\"feed\"}"));
  EXPECT_GE(depth, 5);
  EXPECT_LE(depth, 10);
  EXPECT_GE(metric(b, "bulkhead_source_store_busy_total{source=\"feed\"}"), 1);
  // Still busy a minute later (virtual time): retried, nothing more stored, nothing more dropped.
  const double busy = metric(b, "bulkhead_source_store_busy_total{source=\"feed\"}");
  ASSERT_TRUE(advance_clock(b, 1min));
  EXPECT_TRUE(eventually([&] { return metric(b, "bulkhead_source_store_busy_total{source=\"feed\"}") > busy; }))
      << "retried after the advance\n" << b.log();
  EXPECT_EQ(metric(b, kFeedEvents), 5);
  EXPECT_EQ(metric(b, "bulkhead_source_queue_depth{source=\"feed\"}"), depth);
  auto [rc, out] = console(b, {"sources"});
  EXPECT_NE(out.find("queued " + std::to_string(depth) + "/10"), std::string::npos) << out;
  expect_clean_stop(b);
  EXPECT_NE(b.log().find("source feed: " + std::to_string(depth) +
                         " queued event(s) not stored: the store stopped admitting"),
            std::string::npos)
      << b.log();
}

TEST(HttpPollSource, ReadTimeoutAndOversizedResponseAreCountedWithoutEvents) {
  CensusGuard census;
  PyPeer peer("http_poll_peer.py", "sleep 3");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + poll_source(peer, "read_timeout = \"300ms\"\nbreaker_failures = 1000\n"));
  ASSERT_TRUE(eventually([&] { return feed_errors(b, "read_timeout") >= 1; })) << b.log();
  // 10 MiB + 1 byte against the default 10 MiB cap: refused from its Content-Length.
  peer.set_mode("big " + std::to_string((10 << 20) + 1));
  ASSERT_TRUE(eventually([&] { return feed_errors(b, "response_too_large") >= 1; }, 20000ms)) << b.log();
  EXPECT_EQ(metric(b, kFeedEvents), 0);
  EXPECT_NE(b.log().find("response body over max_response_bytes 10485760"), std::string::npos) << b.log();
  EXPECT_NE(b.log().find("read timed out"), std::string::npos) << b.log();
  // Exactly at the cap is taken (a whole body of spaces is not JSON, wrapped... and too large for
  // max_event_bytes: counted as too_large, not as an oversized response).
  peer.set_mode("big " + std::to_string(10 << 20));
  ASSERT_TRUE(eventually([&] { return metric(b, "bulkhead_source_rejected_total{source=\"feed\",reason=\"too_large\"}") >= 1; }, 20000ms))
      << b.log();
  EXPECT_EQ(metric(b, kFeedEvents), 0);
  expect_clean_stop(b);
}

TEST(HttpPollSource, ConnectionRefusedIsCountedAndRetriedWithoutAllocating) {
  CensusGuard census;
  const std::uint16_t closed = free_port();  // nobody listens there
  Bulkhead b(kRoomy + "[[source]]\nname = \"feed\"\ntype = \"http_poll\"\nurl = \"http://127.0.0.1:" +
             std::to_string(closed) + "/\"\nbackoff_base = \"10ms\"\nbackoff_cap = \"30ms\"\nbreaker_failures = 1000\n");
  ASSERT_TRUE(eventually([&] { return feed_errors(b, "connect") >= 5; })) << b.log();
  EXPECT_LE(metric(b, "bulkhead_pool_in_use{pool=\"source_conn\"}"), 1);
  auto [rc, out] = console(b, {"sources"});
  EXPECT_NE(out.find("Connection refused"), std::string::npos) << out;
  // Logged once, however often it repeats.
  EXPECT_TRUE(std::regex_search(b.log(), std::regex("source feed: connect to .* failed: Connection refused")));
  std::size_t logged = 0;
  for (std::size_t at = 0; (at = b.log().find("failed: Connection refused", at)) != std::string::npos; ++at) ++logged;
  EXPECT_EQ(logged, 1u) << b.log();
  expect_clean_stop(b);  // the error texts are formatted without the heap
}

TEST(HttpPollSource, FailuresOpenTheBreakerAndItRecoversThroughHalfOpen) {
  CensusGuard census;
  PyPeer peer("http_poll_peer.py", "status 500");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + poll_source(peer, "breaker_failures = 3\nbreaker_recovery = \"1h\"\n"));
  ASSERT_TRUE(eventually([&] { return metric(b, "bulkhead_source_breaker_state{source=\"feed\"}") == 1; })) << b.log();
  EXPECT_GE(feed_errors(b, "http"), 3);
  EXPECT_EQ(metric(b, "bulkhead_source_last_http_status{source=\"feed\"}"), 500);
  // While open (half of its recovery gone by on virtual time), nothing touches the network.
  std::size_t n = peer.log_lines("requests.log").size();
  ASSERT_TRUE(advance_clock(b, 30min));
  EXPECT_FALSE(eventually([&] { return peer.log_lines("requests.log").size() > n + 1; }, 300ms));
  auto [rc, out] = console(b, {"sources"});
  EXPECT_TRUE(std::regex_search(out, std::regex("feed +http_poll +breaker open"))) << out;
  EXPECT_NE(out.find("HTTP 500"), std::string::npos) << out;
  // The server recovers: once the recovery is up the half-open probe succeeds and closes the breaker.
  peer.set_mode("body application/json {\"ok\":true}");
  ASSERT_TRUE(advance_clock(b, 30min));
  ASSERT_TRUE(eventually([&] { return metric(b, kFeedEvents) == 1; })) << b.log();
  EXPECT_EQ(metric(b, "bulkhead_source_breaker_state{source=\"feed\"}"), 0);
  expect_clean_stop(b);
  EXPECT_NE(b.log().find("breaker source feed: closed -> open"), std::string::npos) << b.log();
  EXPECT_NE(b.log().find("breaker source feed: open -> half_open"), std::string::npos) << b.log();
  EXPECT_NE(b.log().find("breaker source feed: half_open -> closed"), std::string::npos) << b.log();
}

TEST(HttpPollSource, PauseStopsPollingAndReturnsTheSlotResumeStartsAgain) {
  CensusGuard census;
  PyPeer peer("http_poll_peer.py", "body application/json {\"v\":1}");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + poll_source(peer));
  ASSERT_TRUE(eventually([&] { return metric(b, kFeedEvents) == 1; })) << b.log();
  auto [rc, out] = console(b, {"pause", "feed"});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "source 'feed' paused\n");
  std::tie(rc, out) = console(b, {"pause", "feed"});
  EXPECT_EQ(out, "source 'feed' was already paused\n");
  std::tie(rc, out) = console(b, {"pause", "nosuch"});
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(out, "error: no source named 'nosuch'\n");
  EXPECT_TRUE(eventually([&] { return metric(b, "bulkhead_pool_in_use{pool=\"source_conn\"}") == 0; })) << b.log();
  EXPECT_EQ(metric(b, "bulkhead_source_paused{source=\"feed\"}"), 1);
  std::size_t n = peer.log_lines("requests.log").size();
  ASSERT_TRUE(advance_clock(b, 1s));  // ten intervals of virtual time
  EXPECT_FALSE(eventually([&] { return peer.log_lines("requests.log").size() > n; }, 300ms)) << "polled while paused";
  std::tie(rc, out) = console(b, {"sources"});
  EXPECT_TRUE(std::regex_search(out, std::regex("feed +http_poll +paused"))) << out;
  peer.set_mode("body application/json {\"v\":2}");
  std::tie(rc, out) = console(b, {"resume", "feed"});
  EXPECT_EQ(out, "source 'feed' resumed\n");
  ASSERT_TRUE(eventually([&] { return metric(b, kFeedEvents) == 2; })) << b.log();
  expect_clean_stop(b);
}

// ---- WebSocket ---------------------------------------------------------------------------------

std::string ws_source(const PyPeer& p, const std::string& extra = "") {
  return "[[source]]\nname = \"chat\"\ntype = \"websocket\"\nurl = \"ws://127.0.0.1:" + std::to_string(p.port()) +
         "/stream?x=1\"\nbackoff_base = \"50ms\"\nbackoff_cap = \"200ms\"\n" + extra;
}
const std::string kChatEvents = "bulkhead_source_events_total{source=\"chat\"}";
double chat_errors(const Bulkhead& b, const std::string& kind) {
  return metric(b, "bulkhead_source_errors_total{source=\"chat\",kind=\"" + kind + "\"}");
}
TEST(WebSocketSource, MessagesBecomeEventsSubscribeOnEveryConnectPauseAndStopClose) {
  CensusGuard census;
  TestSink sink;
  PyPeer peer("ws_peer.py", "messages 3");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + ws_source(peer, "subscribe = '{\"op\":\"subscribe\"}'\n") + "[[sink]]\nname = \"s\"\nurl = \"" +
             sink.url() + "\"\n");
  // 3 JSON messages, one plain text (wrapped), one fragmented JSON message; the binary one is dropped.
  ASSERT_TRUE(eventually([&] { return metric(b, kChatEvents) == 5; })) << b.log() << peer.log();
  EXPECT_EQ(chat_errors(b, "binary_dropped"), 1);
  EXPECT_EQ(peer_events(peer, {"\"recv\"", "subscribe"}), 1u);
  EXPECT_EQ(peer_events(peer, {"\"connect\"", "/stream?x=1"}), 1u);
  auto rows = query_rows(b.db_path(), "SELECT source || ' ' || body FROM events ORDER BY seq");
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0], "chat {\"n\": 0, \"conn\": 1}");
  EXPECT_EQ(rows[3], "chat {\"content_type\":\"text/plain; charset=utf-8\",\"body\":\"plain text, not JSON\"}");
  EXPECT_EQ(rows[4], "chat {\"fragmented\":true}");
  ASSERT_TRUE(sink.wait_delivered(5, slow(10s))) << b.log();
  std::string all;
  for (auto& r : sink.requests())
    for (auto& l : r.lines) all += l + "\n";
  EXPECT_NE(all.find("\"source\":\"chat\",\"data\":{\"fragmented\":true}}"), std::string::npos) << all;
  // The server's pings (every 0.3 s) are answered: the connection stays up.
  std::this_thread::sleep_for(1000ms);
  EXPECT_EQ(peer_events(peer, {"\"connect\""}), 1u) << peer.log();

  // Pause: a close handshake (1000), the slot goes back; resume: connect and subscribe again.
  auto [rc, out] = console(b, {"pause", "chat"});
  EXPECT_EQ(out, "source 'chat' paused\n");
  ASSERT_TRUE(eventually([&] { return peer_events(peer, {"\"closed\"", "\"code\": 1000"}) == 1; })) << peer.log();
  ASSERT_TRUE(eventually([&] { return metric(b, "bulkhead_pool_in_use{pool=\"source_conn\"}") == 0; })) << b.log();
  std::tie(rc, out) = console(b, {"sources"});
  EXPECT_TRUE(std::regex_search(out, std::regex("chat +websocket +paused"))) << out;
  std::tie(rc, out) = console(b, {"resume", "chat"});
  EXPECT_EQ(out, "source 'chat' resumed\n");
  ASSERT_TRUE(eventually([&] { return metric(b, kChatEvents) == 10; })) << b.log();
  EXPECT_EQ(peer_events(peer, {"\"recv\"", "subscribe"}), 2u);
  expect_clean_stop(b);
  // Shutdown closes with 1001 (going away).
  EXPECT_TRUE(eventually([&] { return peer_events(peer, {"\"closed\"", "\"code\": 1001"}) == 1; }, 3000ms)) << peer.log();
}

TEST(WebSocketSource, ServerDroppingTheConnectionMeansReconnectWithBackoff) {
  CensusGuard census;
  PyPeer peer("ws_peer.py", "drop 2");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + ws_source(peer));
  ASSERT_TRUE(eventually([&] { return peer_events(peer, {"\"connect\""}) >= 3; })) << b.log() << peer.log();
  ASSERT_TRUE(eventually([&] { return metric(b, kChatEvents) >= 6; })) << b.log();
  EXPECT_GE(metric(b, "bulkhead_source_peer_closes_total{source=\"chat\"}"), 2);
  auto rows = query_rows(b.db_path(), "SELECT body FROM events ORDER BY seq LIMIT 6");
  ASSERT_EQ(rows.size(), 6u);
  for (int i = 0; i < 6; ++i)  // two messages from each of the first three connections
    EXPECT_EQ(rows[static_cast<std::size_t>(i)], "{\"n\": " + std::to_string(i % 2) + ", \"conn\": " + std::to_string(i / 2 + 1) + "}");
  EXPECT_NE(b.log().find("dropped the WebSocket connection"), std::string::npos) << b.log();
  expect_clean_stop(b);
}

TEST(WebSocketSource, InterimAnswersBeforeTheHandshakeAnswerAreSkipped) {
  CensusGuard census;
  PyPeer peer("ws_peer.py", "interim 2");  // 100 Continue and 103 Early Hints, then the 101
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + ws_source(peer));
  ASSERT_TRUE(eventually([&] { return metric(b, kChatEvents) >= 2; })) << b.log() << peer.log();
  EXPECT_EQ(chat_errors(b, "protocol"), -1) << "listed once non-zero: never\n" << b.log();
  EXPECT_EQ(b.log().find("WebSocket handshake with"), std::string::npos) << b.log();
  EXPECT_EQ(peer_events(peer, {"\"connect\""}), 1u) << peer.log();
  expect_clean_stop(b);
}

TEST(WebSocketSource, MissingPongsMeanReconnect) {
  CensusGuard census;
  PyPeer peer("ws_peer.py", "nopong 1");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + ws_source(peer, "ping_interval = \"1s\"\npong_timeout = \"300ms\"\n"));
  ASSERT_TRUE(eventually([&] { return chat_errors(b, "pong_timeout") >= 1; })) << b.log();
  ASSERT_TRUE(eventually([&] { return peer_events(peer, {"\"connect\""}) >= 2; })) << peer.log();
  EXPECT_GE(metric(b, "bulkhead_source_pings_total{source=\"chat\"}"), 1);
  EXPECT_NE(b.log().find("no pong from 127.0.0.1"), std::string::npos) << b.log();
  expect_clean_stop(b);
}

TEST(WebSocketSource, ProtocolViolationClosesWith1002AndIsCounted) {
  CensusGuard census;
  PyPeer peer("ws_peer.py", "violation");
  ASSERT_NE(peer.port(), 0) << peer.log();
  Bulkhead b(kRoomy + ws_source(peer));
  ASSERT_TRUE(eventually([&] { return chat_errors(b, "protocol_violation") == 1; })) << b.log();
  ASSERT_TRUE(eventually([&] { return peer_events(peer, {"\"closed\"", "\"conn\": 1,", "\"code\": 1002"}) == 1; }))
      << peer.log();
  // And it reconnects.
  ASSERT_TRUE(eventually([&] { return peer_events(peer, {"\"connect\"", "\"conn\": 2,"}) == 1; })) << peer.log();
  EXPECT_EQ(metric(b, kChatEvents), 0);
  EXPECT_NE(b.log().find("WebSocket protocol violation from 127.0.0.1"), std::string::npos) << b.log();
  expect_clean_stop(b);
}

// ---- TLS: https:// and wss:// ---------------------------------------------------------------------

TEST(SourceTls, HttpsPollAndWssStreamVerifiedAgainstTheTestCa) {
  CensusGuard census;
  TlsCerts certs;
  ASSERT_TRUE(certs.ok()) << certs.error();
  PyPeer poll("http_poll_peer.py", "body application/json {\"tls\":\"poll\"}", {certs.crt("server"), certs.key("server")});
  PyPeer ws("ws_peer.py", "messages 2", {certs.crt("server"), certs.key("server")});
  ASSERT_NE(poll.port(), 0) << poll.log();
  ASSERT_NE(ws.port(), 0) << ws.log();
  Bulkhead b(kRoomy + "[[source]]\nname = \"feed\"\ntype = \"http_poll\"\nurl = \"https://localhost:" +
             std::to_string(poll.port()) + "/feed\"\ninterval = \"100ms\"\nca_file = \"" + certs.crt("ca") + "\"\n" +
             "[[source]]\nname = \"chat\"\ntype = \"websocket\"\nurl = \"wss://localhost:" + std::to_string(ws.port()) +
             "/\"\nca_file = \"" + certs.crt("ca") + "\"\n" +
             // The wrong CA: every handshake is refused, counted, and retried with backoff.
             "[[source]]\nname = \"bad\"\ntype = \"http_poll\"\nurl = \"https://localhost:" + std::to_string(poll.port()) +
             "/feed\"\ninterval = \"100ms\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"50ms\"\nca_file = \"" +
             certs.crt("ca2") + "\"\n");
  ASSERT_TRUE(eventually([&] { return metric(b, kFeedEvents) == 1; })) << b.log();
  ASSERT_TRUE(eventually([&] { return metric(b, kChatEvents) == 4; }))  // 2 + text + fragmented
      << b.log() << console(b, {"sources"}).second << ws.log() << read_file(ws.file("events.log"));
  ASSERT_TRUE(eventually([&] {
    return metric(b, "bulkhead_source_errors_total{source=\"bad\",kind=\"tls\"}") >= 2;
  })) << b.log();
  EXPECT_EQ(metric(b, "bulkhead_source_events_total{source=\"bad\"}"), 0);
  EXPECT_NE(b.log().find("source bad: TLS handshake with localhost:"), std::string::npos) << b.log();
  // Polls after the first are answered 304 over TLS too.
  ASSERT_TRUE(eventually([&] { return metric(b, "bulkhead_source_not_modified_total{source=\"feed\"}") >= 2; }))
      << b.log();
  expect_clean_stop(b);
  EXPECT_TRUE(eventually([&] { return peer_events(ws, {"\"closed\"", "\"code\": 1001"}) == 1; }, 3000ms)) << ws.log();
}

}  // namespace
}  // namespace bh::test
