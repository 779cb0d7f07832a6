// The sink side of issue #13 against the real binary and a loopback fake that checks each request
// exactly (method, path, headers, body): configured headers and method on every request (and never
// in the log), 429 answers in each real retry format (Retry-After seconds, Retry-After HTTP-date,
// Discord's JSON retry_after, Telegram's parameters.retry_after) waited out on the child's virtual
// clock before the SAME request goes again, in order, with the breaker never involved; the sink's
// own rate_limit; per-event template requests, the filter and dead letters for events the template
// cannot render. Waits on the child are bounded polls; its timers move with `clock advance`.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/eventually.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/test_sink.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;

// An HTTP-date `ahead` from now on the wall clock (what a server puts in Retry-After).
std::string http_date_in(std::chrono::seconds ahead) {
  std::time_t t = std::time(nullptr) + ahead.count();
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// GET /metrics on the admin port (Connection: close, read to EOF).
std::string metrics(const Bulkhead& b) {
  LineClient c;
  if (!c.connect(b.admin_port())) return {};
  c.send("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  std::string text;
  while (auto line = c.read_line(2000ms)) text += *line + "\n";
  return text;
}

// The value of `series` (name and labels as written) in a /metrics text; nullopt if absent.
std::optional<double> sample(const std::string& text, const std::string& series) {
  for (std::size_t at = 0; (at = text.find(series + " ", at)) != std::string::npos; at += series.size())
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
  return std::nullopt;
}

std::int64_t query_int(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  std::int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

std::string query_text(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  std::string v;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    if (auto* t = sqlite3_column_text(st, 0)) v = reinterpret_cast<const char*>(t);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// n requests have arrived, and no more can come before the test's next step: the sink is parked in
// a wait (its Retry-After, rate limit, backoff or open breaker: only the test's clock ends it) or
// has nothing left to send. Either way a premature request would already be counted.
bool exactly(Bulkhead& b, const TestSink& s, std::size_t n, const std::string& sink = "t") {
  const std::string label = "{sink=\"" + sink + "\"}";
  const bool settled = eventually([&] {
    if (s.request_count() < n) return false;
    const std::string m = metrics(b);
    return sample(m, "bulkhead_sink_wait_seconds" + label).value_or(0) > 0 ||
           sample(m, "bulkhead_sink_pending_events" + label).value_or(1) == 0;
  }, 10s);
  return settled && s.request_count() == n;
}

// ---- 429 in each retry format ---------------------------------------------------------------------

TEST(SinkJobs, EachRetryFormatIsWaitedOutThenTheSameRequestGoesAgainInOrder) {
  // Request 2k is the first try of event k (answered 429 in format k), 2k+1 its resend (200).
  TestSink sink([&](std::size_t n, const SinkRequest&) {
    SinkAnswer a{200};
    if (n == 0) a = SinkAnswer{429, 0ms, false, true, "Retry-After: 3600\r\n"};
    if (n == 2) a = SinkAnswer{429, 0ms, false, true, "Retry-After: " + http_date_in(2h) + "\r\n"};
    if (n == 4)
      a = SinkAnswer{429, 0ms, false, true, "Content-Type: application/json\r\n",
                     R"({"message": "You are being rate limited.", "retry_after": 1800.5, "global": false})"};
    if (n == 6)
      a = SinkAnswer{429, 0ms, false, true, "Content-Type: application/json\r\n",
                     R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 900","parameters":{"retry_after":900}})"};
    return a;
  });
  // One failure would open the breaker: a 429 must not count as one.
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() +
             "?k=v\"\nmethod = \"PUT\"\nheaders = [\"Authorization: Bot s3cr3t-token\", \"X-Trace:  abc \"]\n"
             "batch_events = 1\nbreaker_failures = 1\nmax_retry_after = \"3h\"\nbackoff_base = \"10ms\"\nbackoff_cap = \"20ms\"\n");
  auto seqs = send_events(b.ingest_port(), 4);
  ASSERT_EQ(seqs.size(), 4u);

  struct Step {
    std::chrono::milliseconds early, rest;  // advance `early` (no resend yet), then `rest` (resend)
  };
  const Step steps[] = {{3590s, 11s}, {7190s, 11s}, {1795s, 6s}, {895s, 6s}};
  for (std::size_t k = 0; k < 4; ++k) {
    ASSERT_TRUE(exactly(b, sink, 2 * k + 1)) << "event " << k << ": not waiting for the server's time\n" << b.log();
    ASSERT_TRUE(advance_clock(b, steps[k].early));
    ASSERT_TRUE(exactly(b, sink, 2 * k + 1)) << "event " << k << ": resent before the server's time\n" << b.log();
    ASSERT_TRUE(advance_clock(b, steps[k].rest));
    ASSERT_TRUE(eventually([&] { return sink.request_count() >= 2 * k + 2; }, 10s)) << b.log();
  }
  ASSERT_TRUE(sink.wait_delivered(4, 10s)) << b.log();
  EXPECT_EQ(sink.delivered_seqs(), seqs) << "each delivered once, in seq order";

  auto reqs = sink.requests();
  ASSERT_EQ(reqs.size(), 8u);
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    const SinkRequest& r = reqs[i];
    EXPECT_EQ(r.method, "PUT");
    EXPECT_EQ(r.target, "/ingest?k=v");
    EXPECT_EQ(r.header("Authorization"), "Bot s3cr3t-token");
    EXPECT_EQ(r.header("X-Trace"), "abc");
    EXPECT_EQ(r.content_type, "application/x-ndjson");
    ASSERT_EQ(r.lines.size(), 1u);
    EXPECT_EQ(envelope_seq(r.lines[0]), seqs[i / 2]);
    if (i % 2) {
      EXPECT_EQ(r.body, reqs[i - 1].body) << "the resend is the same request";
    }
  }

  const std::string m = metrics(b);
  EXPECT_EQ(sample(m, "bulkhead_sink_rate_limited_total{sink=\"t\"}"), 4.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_sink_retry_after_waits_total{sink=\"t\"}"), 4.0) << m;
  auto waited = sample(m, "bulkhead_sink_retry_after_wait_seconds_total{sink=\"t\"}");
  ASSERT_TRUE(waited.has_value()) << m;
  EXPECT_GE(*waited, 3600 + 7198.5 + 1800.5 + 900) << "the date's wait is 7200 s less the part of a second gone";
  EXPECT_LE(*waited, 3600 + 7200 + 1800.5 + 900);
  EXPECT_EQ(sample(m, "bulkhead_sink_breaker_transitions_total{sink=\"t\"}"), 0.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_sink_breaker_state{sink=\"t\"}"), 0.0) << m;
  EXPECT_EQ(b.log().find("s3cr3t-token"), std::string::npos) << "a header value reached the log";
  EXPECT_EQ(m.find("s3cr3t-token"), std::string::npos);
  expect_clean_stop(b);
  EXPECT_EQ(b.log().find("s3cr3t-token"), std::string::npos);
  EXPECT_EQ(query_int(b.db_path(), "SELECT count(*) FROM dead_letters"), 0);
}

TEST(SinkJobs, AServerAskingForMoreThanMaxRetryAfterWaitsTheCap) {
  TestSink sink([](std::size_t n, const SinkRequest&) {
    return n == 0 ? SinkAnswer{429, 0ms, false, true, "Retry-After: 86400\r\n"} : SinkAnswer{200};
  });
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() + "\"\nmax_retry_after = \"10m\"\n");
  ASSERT_EQ(send_events(b.ingest_port(), 1).size(), 1u);
  ASSERT_TRUE(exactly(b, sink, 1)) << b.log();
  ASSERT_TRUE(advance_clock(b, 9min));
  ASSERT_TRUE(exactly(b, sink, 1)) << b.log();
  ASSERT_TRUE(advance_clock(b, 61s));
  ASSERT_TRUE(sink.wait_delivered(1, 10s)) << "a day asked, ten minutes waited\n" << b.log();
  EXPECT_NE(b.log().find("waiting max_retry_after"), std::string::npos) << b.log();
  EXPECT_EQ(sample(metrics(b), "bulkhead_sink_retry_after_wait_seconds_total{sink=\"t\"}"), 600.0);
  expect_clean_stop(b);
}

TEST(SinkJobs, A503WithRetryAfterIsNoBreakerFailureButWithoutItIs) {
  TestSink sink([](std::size_t n, const SinkRequest&) {
    if (n == 0) return SinkAnswer{503, 0ms, false, true, "Retry-After: 120\r\n"};
    if (n == 1) return SinkAnswer{503};
    return SinkAnswer{200};
  });
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() +
             "\"\nbreaker_failures = 1\nbreaker_recovery = \"1h\"\nbackoff_base = \"10ms\"\nbackoff_cap = \"20ms\"\n");
  ASSERT_EQ(send_events(b.ingest_port(), 1).size(), 1u);
  ASSERT_TRUE(exactly(b, sink, 1)) << b.log();
  EXPECT_EQ(b.log().find("closed -> open"), std::string::npos) << b.log();
  ASSERT_TRUE(advance_clock(b, 121s));
  ASSERT_TRUE(exactly(b, sink, 2)) << b.log();
  ASSERT_TRUE(log_shows(b, "breaker t: closed -> open")) << "a plain 503 is a failure\n" << b.log();
  ASSERT_TRUE(advance_clock(b, 1h));
  ASSERT_TRUE(sink.wait_delivered(1, 10s)) << b.log();
  expect_clean_stop(b);
}

TEST(SinkJobs, AStopDuringAServersWaitIsPrompt) {
  TestSink sink([](std::size_t, const SinkRequest&) { return SinkAnswer{429, 0ms, false, true, "Retry-After: 3600\r\n"}; });
  // The harness's shutdown_grace is 3 s: a wait that sat out its hour would be cut only by the
  // grace's cancellation, 3 s after SIGTERM; one that ends at the stop exits at once.
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() + "\"\n");
  ASSERT_EQ(send_events(b.ingest_port(), 1).size(), 1u);
  ASSERT_TRUE(exactly(b, sink, 1)) << b.log();
  const auto t0 = std::chrono::steady_clock::now();
  auto code = b.stop(10s);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  if (slow_factor() == 1) {
    EXPECT_LT(took, 2500ms) << "the stop sat out the grace\n" << b.log();
  }
  EXPECT_EQ(sink.request_count(), 1u);
}

// ---- rate_limit -----------------------------------------------------------------------------------

TEST(SinkJobs, RateLimitLetsABurstThroughThenPacesRequests) {
  TestSink sink;
  // 2 requests per hour: a burst of 2, then one every 30 minutes.
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() + "\"\nbatch_events = 1\nrate_limit = 2\nrate_interval = \"1h\"\n");
  auto seqs = send_events(b.ingest_port(), 4);
  ASSERT_EQ(seqs.size(), 4u);
  ASSERT_TRUE(exactly(b, sink, 2)) << b.log();
  ASSERT_TRUE(advance_clock(b, 29min));
  ASSERT_TRUE(exactly(b, sink, 2)) << "a request before its token\n" << b.log();
  ASSERT_TRUE(advance_clock(b, 61s));
  ASSERT_TRUE(exactly(b, sink, 3)) << b.log();
  ASSERT_TRUE(advance_clock(b, 30min));
  ASSERT_TRUE(sink.wait_delivered(4, 10s)) << b.log();
  EXPECT_EQ(sink.delivered_seqs(), seqs);
  const std::string m = metrics(b);
  EXPECT_GE(sample(m, "bulkhead_sink_rate_limit_waits_total{sink=\"t\"}").value_or(0), 2.0) << m;
  EXPECT_GE(sample(m, "bulkhead_sink_rate_limit_wait_seconds_total{sink=\"t\"}").value_or(0), 1800.0) << m;
  expect_clean_stop(b);
}

// ---- template and filter --------------------------------------------------------------------------

// Sends each line as an event on one connection; returns the acked seqs (0 for a refused line).
std::vector<std::uint64_t> send_lines(std::uint16_t port, const std::vector<std::string>& lines) {
  LineClient c;
  std::vector<std::uint64_t> seqs;
  if (!c.connect(port)) return seqs;
  std::string all;
  for (auto& l : lines) all += l + "\n";
  c.send(all);
  for (auto& r : c.read_lines(lines.size())) seqs.push_back(r.rfind("ok ", 0) == 0 ? std::stoull(r.substr(3)) : 0);
  return seqs;
}

TEST(SinkJobs, TemplateRequestsOnePerEventFilteredSkippedUnrenderableDeadLettered) {
  // A Telegram Bot API stand-in: the first sendMessage is answered 429 in Telegram's format.
  TestSink sink([](std::size_t n, const SinkRequest&) {
    if (n == 0)
      return SinkAnswer{429, 0ms, false, true, "Content-Type: application/json\r\n",
                        R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}})"};
    return SinkAnswer{200, 0ms, false, true, "Content-Type: application/json\r\n", R"({"ok":true,"result":{"message_id":1}})"};
  });
  const std::string url = "http://127.0.0.1:" + std::to_string(sink.port()) + "/bot123:ABC/sendMessage";
  Bulkhead b("[[sink]]\nname = \"tg\"\nurl = \"" + url +
             "\"\nformat = \"template\"\n"
             "body = '{\"chat_id\": 42, \"text\": \"{{ /from }} sent {{ /value | decimal(/tokenDecimal) }} USDT: {{ /hash }}\"}'\n"
             "filter = 'decimal(/value, /tokenDecimal) >= 1000'\nbreaker_failures = 1\n");
  const std::vector<std::string> events{
      R"({"from":"0xa","value":"5000000","tokenDecimal":"6","hash":"h1"})",                 // 5: filtered
      R"({"from":"0xb","value":"1500250000","tokenDecimal":"6","hash":"h2"})",              // sent (after the 429)
      R"({"value":"2000000000","tokenDecimal":"6","hash":"h3"})",                           // no /from: dead letter
      R"({"from":"0x\"d","value":1000000000,"tokenDecimal":6,"hash":"h4","extra":[1,2]})",  // 1000: sent
      R"({"from":"0xe","value":"999999999","tokenDecimal":"6","hash":"h5"})",               // 999.99..: filtered
  };
  auto seqs = send_lines(b.ingest_port(), events);
  ASSERT_EQ(seqs.size(), 5u);
  ASSERT_TRUE(exactly(b, sink, 1, "tg")) << b.log();
  ASSERT_TRUE(advance_clock(b, 4s));
  ASSERT_TRUE(exactly(b, sink, 1, "tg")) << "resent before Telegram's retry_after\n" << b.log();
  ASSERT_TRUE(advance_clock(b, 2s));
  ASSERT_TRUE(exactly(b, sink, 3, "tg")) << b.log();
  ASSERT_TRUE(eventually([&] { return sample(metrics(b), "bulkhead_sink_cursor{sink=\"tg\"}").value_or(0) ==
                                      static_cast<double>(seqs[4]); }, 10s))
      << "the cursor passes the filtered tail\n" << b.log();

  auto reqs = sink.requests();
  ASSERT_EQ(reqs.size(), 3u);
  const std::string h2 = R"({"chat_id":42,"text":"0xb sent 1500.25 USDT: h2"})";
  const std::string h4 = R"({"chat_id":42,"text":"0x\"d sent 1000 USDT: h4"})";
  EXPECT_EQ(reqs[0].body, h2);
  EXPECT_EQ(reqs[1].body, h2) << "the same request after the wait";
  EXPECT_EQ(reqs[2].body, h4);
  for (auto& r : reqs) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/bot123:ABC/sendMessage");
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
  }
  EXPECT_EQ(reqs[0].first_seq, seqs[1]);
  EXPECT_EQ(reqs[2].first_seq, seqs[3]);
  EXPECT_EQ(reqs[2].last_seq, seqs[3]);

  EXPECT_EQ(query_int(b.db_path(), "SELECT count(*) FROM dead_letters"), 1);
  EXPECT_EQ(query_int(b.db_path(), "SELECT first_seq FROM dead_letters"), static_cast<std::int64_t>(seqs[2]));
  EXPECT_EQ(query_int(b.db_path(), "SELECT last_seq FROM dead_letters"), static_cast<std::int64_t>(seqs[2]));
  EXPECT_EQ(query_text(b.db_path(), "SELECT reason FROM dead_letters"), "template: missing /from");
  const std::string m = metrics(b);
  EXPECT_EQ(sample(m, "bulkhead_sink_filtered_total{sink=\"tg\"}"), 2.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_sink_unrenderable_total{sink=\"tg\"}"), 1.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_sink_delivered_total{sink=\"tg\"}"), 2.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_sink_rate_limited_total{sink=\"tg\"}"), 1.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_sink_breaker_transitions_total{sink=\"tg\"}"), 0.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_heap_allocations_after_seal_total"), 0.0) << m;
  EXPECT_NE(b.log().find("template: missing /from: moved to the dead-letter table"), std::string::npos) << b.log();
  expect_clean_stop(b);
}

TEST(SinkJobs, DiscordStyleNoContentAnswersAndAConfiguredContentType) {
  // A Discord webhook answers 204 with no body; a Content-Type header replaces the default.
  TestSink sink([](std::size_t, const SinkRequest&) { return SinkAnswer{204}; });
  const std::string url = "http://127.0.0.1:" + std::to_string(sink.port()) + "/api/webhooks/1/tok";
  Bulkhead b("[[sink]]\nname = \"dc\"\nurl = \"" + url +
             "\"\nformat = \"template\"\nheaders = [\"Content-Type: application/json; charset=utf-8\"]\n"
             "body = '{\"content\": \"{{ /msg | truncate(5) }}\"}'\nfilter = 'exists(/msg)'\n");
  auto seqs = send_lines(b.ingest_port(), {R"({"msg":"héllo wörld"})", R"({"other":1})", R"({"msg":"ok"})"});
  ASSERT_EQ(seqs.size(), 3u);
  ASSERT_TRUE(exactly(b, sink, 2, "dc")) << b.log();
  auto reqs = sink.requests();
  EXPECT_EQ(reqs[0].body, "{\"content\":\"héllo…\"}");
  EXPECT_EQ(reqs[1].body, R"({"content":"ok"})");
  for (auto& r : reqs) EXPECT_EQ(r.content_type, "application/json; charset=utf-8");
  ASSERT_TRUE(eventually([&] { return sample(metrics(b), "bulkhead_sink_cursor{sink=\"dc\"}").value_or(0) ==
                                      static_cast<double>(seqs[2]); }, 10s)) << b.log();
  EXPECT_EQ(query_int(b.db_path(), "SELECT count(*) FROM dead_letters"), 0);
  expect_clean_stop(b);
}

TEST(SinkJobs, ARefusedTemplateRequestIsDeadLetteredAloneAndReplaysAsTheSameRequest) {
  TestSink sink([](std::size_t n, const SinkRequest&) { return n == 0 ? SinkAnswer{400} : SinkAnswer{204}; });
  Bulkhead b("[[sink]]\nname = \"dc\"\nurl = \"" + sink.url() +
             "\"\nformat = \"template\"\nbody = '{\"content\": \"{{ /msg }}\"}'\n");
  auto seqs = send_lines(b.ingest_port(), {R"({"msg":"a"})", R"({"msg":"b"})"});
  ASSERT_EQ(seqs.size(), 2u);
  ASSERT_TRUE(exactly(b, sink, 2, "dc")) << b.log();
  EXPECT_EQ(query_int(b.db_path(), "SELECT first_seq FROM dead_letters"), static_cast<std::int64_t>(seqs[0]));
  EXPECT_EQ(query_int(b.db_path(), "SELECT last_seq FROM dead_letters"), static_cast<std::int64_t>(seqs[0]));
  auto [rc, out] = run_bulkhead({"console", "--socket", b.dir() + "/var/console.sock", "dlq", "replay", "all"});
  EXPECT_EQ(rc, 0) << out;
  ASSERT_TRUE(exactly(b, sink, 3, "dc")) << b.log();
  auto reqs = sink.requests();
  EXPECT_EQ(reqs[0].body, R"({"content":"a"})");
  EXPECT_EQ(reqs[1].body, R"({"content":"b"})");
  EXPECT_EQ(reqs[2].body, reqs[0].body) << "the replay is the refused request again";
  EXPECT_EQ(reqs[2].first_seq, seqs[0]);
  ASSERT_TRUE(eventually([&] { return query_text(b.db_path(), "SELECT status FROM dead_letters") == "replayed"; }, 10s))
      << b.log();
  expect_clean_stop(b);
}

TEST(SinkJobs, AFilterOnAnEnvelopeSinkSkipsEventsAndTheBatchStaysByteForByte) {
  TestSink sink;
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() + "\"\nfilter = '/level in [\"warn\", \"error\"]'\n");
  auto seqs = send_lines(b.ingest_port(), {R"({"level":"info","n":1})", R"({"level":"warn","n":2})",
                                           R"({"level":"debug","n":3})", R"({"level":"error","n":4})"});
  ASSERT_EQ(seqs.size(), 4u);
  ASSERT_TRUE(sink.wait_delivered(2, 10s)) << b.log();
  ASSERT_TRUE(eventually([&] { return sample(metrics(b), "bulkhead_sink_cursor{sink=\"t\"}").value_or(0) ==
                                      static_cast<double>(seqs[3]); }, 10s)) << b.log();
  EXPECT_EQ(sink.delivered_seqs(), (std::vector<std::uint64_t>{seqs[1], seqs[3]}));
  for (auto& r : sink.requests()) {
    EXPECT_EQ(r.content_type, "application/x-ndjson");
    for (auto& line : r.lines) {
      EXPECT_NE(line.find(R"(,"source":"ingest","data":{"level":")"), std::string::npos) << line;
      EXPECT_EQ(line.find("info"), std::string::npos) << line;
      EXPECT_EQ(line.find("debug"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(sample(metrics(b), "bulkhead_sink_filtered_total{sink=\"t\"}"), 2.0);
  expect_clean_stop(b);
}

TEST(SinkJobs, ABadFilterOrTemplateIsAConfigErrorWithFileLineAndKey) {
  TempDir d;
  const std::pair<std::string, std::string> cases[] = {
      {"format = \"template\"\nbody = '{\"a\": {{ /x | lowr }}}'\n", "sink[0].body"},
      {"filter = '/a == '\n", "sink[0].filter"},
      {"format = \"template\"\n", "sink[0].body"},
  };
  for (auto& [extra, key] : cases) {
    const std::string path = d.file("bad.toml");
    {
      std::FILE* f = std::fopen(path.c_str(), "w");
      std::fprintf(f, "[[sink]]\nname = \"t\"\nurl = \"http://127.0.0.1:9/\"\n%s", extra.c_str());
      std::fclose(f);
    }
    auto [code, out] = run_bulkhead({"check-config", path});
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("bad.toml:"), std::string::npos) << out;
    EXPECT_NE(out.find(key), std::string::npos) << out;
  }
}

// ---- config ---------------------------------------------------------------------------------------

TEST(SinkJobs, BadHeadersAreAConfigErrorThatNeverShowsTheValue) {
  TempDir d;
  for (const char* line : {"Bad Name: s3cr3t", "X-Key s3cr3t", "Host: s3cr3t"}) {
    const std::string path = d.file("bad.toml");
    {
      std::FILE* f = std::fopen(path.c_str(), "w");
      std::fprintf(f, "[[sink]]\nname = \"t\"\nurl = \"http://127.0.0.1:9/\"\nheaders = [\"Ok: 1\", \"%s\"]\n", line);
      std::fclose(f);
    }
    auto [code, out] = run_bulkhead({"check-config", path});
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("bad.toml:4"), std::string::npos) << out;
    EXPECT_NE(out.find("sink[0].headers[1]"), std::string::npos) << out;
    EXPECT_EQ(out.find("s3cr3t"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace bh::test
