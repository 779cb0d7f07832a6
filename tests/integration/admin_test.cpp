// docs/wire.md §3 against the real binary: /healthz, /metrics (checked by a real Prometheus parser,
// `promtool check metrics`), POST /v1/events (good, bad, mixed, too large, busy, streamed), and
// the admin server's limits: malformed requests, the connection pool, keep-alive, timeouts; and the
// status surface: GET /v1/status against the runtime's own counters, the page (GET /), source actions.
// Each test ends with the process exiting 0 on SIGTERM (every pool back at zero).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>

#include "tests/support/eventually.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/scoped_env.hpp"
#include "tests/support/test_sink.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- A tiny blocking HTTP/1.1 client with deadlines ---------------------------------------------

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  // The admin listener may come up a moment after the ingest one the harness waits for: retry.
  bool connect(std::uint16_t port, std::chrono::milliseconds timeout = 3000ms) { return c_.connect(port, timeout); }
  bool send(const std::string& s) { return c_.send(s); }
  int fd() const { return c_.fd(); }
  void close() { c_.close(); }

  // Reads one response (a `100 Continue` before it is skipped). nullopt on timeout, EOF or junk.
  std::optional<Response> read(std::chrono::milliseconds timeout = 10000ms) {
    auto until = Clock::now() + timeout;
    for (;;) {
      Response r;
      std::size_t head_end;
      while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos)
        if (!fill(until)) return std::nullopt;
      std::string head = buf_.substr(0, head_end);
      buf_.erase(0, head_end + 4);
      std::size_t eol = head.find("\r\n");
      std::string status_line = head.substr(0, eol);
      if (status_line.rfind("HTTP/1.1 ", 0) != 0 || status_line.size() < 12) return std::nullopt;
      r.status = std::stoi(status_line.substr(9, 3));
      std::size_t pos = eol == std::string::npos ? head.size() : eol + 2;
      while (pos < head.size()) {
        std::size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string line = head.substr(pos, e - pos);
        pos = e + 2;
        auto colon = line.find(':');
        if (colon == std::string::npos) return std::nullopt;
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        r.headers[name] = value;
      }
      if (r.status == 100) continue;
      std::size_t len = r.headers.count("content-length") ? std::stoull(r.headers["content-length"]) : 0;
      if (!head_only_) {
        while (buf_.size() < len)
          if (!fill(until)) return std::nullopt;
        r.body = buf_.substr(0, len);
        buf_.erase(0, len);
      }
      return r;
    }
  }
  void head_only(bool h) { head_only_ = h; }

  // True if the server closed the connection (EOF or reset) within the timeout, with no data.
  bool wait_closed(std::chrono::milliseconds timeout) {
    if (!buf_.empty()) return false;
    auto until = Clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{c_.fd(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char b[4096];
      ssize_t n = ::recv(c_.fd(), b, sizeof b, 0);
      if (n <= 0) return true;
      return false;
    }
  }

 private:
  bool fill(Clock::time_point until) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{c_.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char b[65536];
    ssize_t n = ::recv(c_.fd(), b, sizeof b, 0);
    if (n <= 0) return false;
    buf_.append(b, static_cast<std::size_t>(n));
    return true;
  }

  LineClient c_;
  std::string buf_;
  bool head_only_ = false;
};

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n" + extra + "\r\n";
}
std::string post(const std::string& path, const std::string& body, const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-ndjson\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}
// Chunked encoding of body in pieces of `piece` bytes.
std::string chunked(const std::string& body, std::size_t piece) {
  std::string out;
  char hex[32];
  for (std::size_t i = 0; i < body.size(); i += piece) {
    std::size_t n = std::min(piece, body.size() - i);
    std::snprintf(hex, sizeof hex, "%zx\r\n", n);
    out += hex + body.substr(i, n) + "\r\n";
  }
  return out + "0\r\n\r\n";
}

// One request on a fresh connection.
std::optional<Response> request(std::uint16_t port, const std::string& raw) {
  HttpClient c;
  if (!c.connect(port)) return std::nullopt;
  if (!c.send(raw)) return std::nullopt;
  return c.read();
}

std::string metrics_text(Bulkhead& b) {
  auto r = request(b.admin_port(), get("/metrics"));
  EXPECT_TRUE(r.has_value()) << b.log();
  if (!r) return {};
  EXPECT_EQ(r->status, 200) << r->body;
  return r->body;
}

// The value of the sample `series` (name plus labels, exactly as written), or nullopt.
std::optional<double> sample(const std::string& text, const std::string& series) {
  std::size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
    at += series.size();
  }
  return std::nullopt;
}

bool has_family(const std::string& text, const std::string& name) {
  return text.find("# TYPE " + name + " ") != std::string::npos && text.find("# HELP " + name + " ") != std::string::npos;
}

// `promtool check metrics` on text: {exit code, output}. The test FAILS (not skips) without it.
std::pair<int, std::string> promtool_check(const std::string& text) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    ADD_FAILURE() << "promtool not found: the /metrics tests need a real Prometheus parser. Install the Debian "
                     "package `prometheus` (toolchain/deps.sh, `make deps`).";
    return {-1, "promtool missing"};
  }
  TempDir d;
  {
    std::ofstream f(d.file("metrics.txt"));
    f << text;
  }
  std::string cmd = "promtool check metrics < " + d.file("metrics.txt") + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::string out;
  char b[4096];
  std::size_t n;
  while ((n = std::fread(b, 1, sizeof b, p)) > 0) out.append(b, n);
  int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

int count_of(const std::string& s, const std::string& what) {
  int n = 0;
  for (std::size_t at = 0; (at = s.find(what, at)) != std::string::npos; at += what.size()) ++n;
  return n;
}

std::vector<std::uint64_t> seqs_in(const std::string& json) {
  std::vector<std::uint64_t> out;
  static const std::regex re("\"seq\":([0-9]+)");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back(std::stoull((*it)[1].str()));
  return out;
}

// Checks that must hold for /healthz to say ok whatever the build: sanitizer builds run far
// above the default 32 MiB memory budget.
const std::string kRoomy = "[watchdog]\nmemory_budget = \"1GiB\"\n";

// ---- /healthz ------------------------------------------------------------------------------------

TEST(Admin, HealthzIsOkWhileTheChecksHold) {
  CensusGuard census;
  Bulkhead b(kRoomy);
  auto r = request(b.admin_port(), get("/healthz"));
  ASSERT_TRUE(r.has_value()) << b.log();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok\n");
  EXPECT_EQ(r->header("content-type").rfind("text/plain", 0), 0u);
  // HEAD: the same head, no body.
  HttpClient c;
  ASSERT_TRUE(c.connect(b.admin_port()));
  c.head_only(true);
  ASSERT_TRUE(c.send("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto h = c.read();
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->header("content-length"), "3");
  c.close();
  expect_clean_stop(b);
}

TEST(Admin, HealthzIs503NamingTheFailingCheck) {
  CensusGuard census;
  // RSS is far above 4 MiB: the watchdog's memory check fails on its first tick.
  Bulkhead b("[watchdog]\nperiod = \"50ms\"\nmemory_budget = \"4MiB\"\n"
             "[store]\nsqlite_heap_limit = \"1MiB\"\ncache_kib = 64\n");
  std::optional<Response> r;
  for (auto until = Clock::now() + 5s; Clock::now() < until; std::this_thread::sleep_for(50ms)) {
    r = request(b.admin_port(), get("/healthz"));
    if (r && r->status == 503) break;
  }
  ASSERT_TRUE(r.has_value()) << b.log();
  EXPECT_EQ(r->status, 503) << r->body << b.log();
  EXPECT_NE(r->body.find("memory"), std::string::npos) << r->body;
  std::string m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_healthy"), 0.0);
  expect_clean_stop(b);
}

// ---- /metrics ------------------------------------------------------------------------------------

const char* const kRequiredFamilies[] = {
    "bulkhead_build_info", "bulkhead_uptime_seconds", "bulkhead_start_time_seconds", "bulkhead_healthy",
    "bulkhead_loop_lag_seconds", "bulkhead_open_fds", "bulkhead_fd_budget", "bulkhead_fd_ceiling",
    "bulkhead_resident_memory_bytes", "bulkhead_heap_allocations_after_seal_total",
    // pools
    "bulkhead_pool_capacity", "bulkhead_pool_limit", "bulkhead_pool_in_use", "bulkhead_pool_high_water",
    "bulkhead_pool_acquisitions_total", "bulkhead_pool_refusals_total", "bulkhead_pool_waits_total",
    "bulkhead_pool_wait_timeouts_total",
    // tasks
    "bulkhead_tasks_live", "bulkhead_tasks_spawned_total", "bulkhead_tasks_completed_total",
    "bulkhead_tasks_refused_total", "bulkhead_tasks_escaped_total",
    // sinks
    "bulkhead_sink_delivered_total", "bulkhead_sink_retries_total", "bulkhead_sink_dead_lettered_total",
    "bulkhead_sink_batches_total", "bulkhead_sink_connect_errors_total", "bulkhead_sink_connect_timeouts_total",
    "bulkhead_sink_write_timeouts_total", "bulkhead_sink_read_timeouts_total", "bulkhead_sink_pool_timeouts_total",
    "bulkhead_sink_io_errors_total", "bulkhead_sink_protocol_errors_total", "bulkhead_sink_http_retryable_total",
    "bulkhead_sink_breaker_state", "bulkhead_sink_breaker_status", "bulkhead_sink_breaker_consecutive_failures",
    "bulkhead_sink_pending_events",
    // store
    "bulkhead_store_last_seq", "bulkhead_store_pending_events", "bulkhead_store_delivered_seq",
    "bulkhead_store_appended_total",
    "bulkhead_store_batches_total", "bulkhead_store_commit_errors_total", "bulkhead_store_dropped_total",
    "bulkhead_store_purged_total", "bulkhead_store_database_bytes", "bulkhead_sqlite_memory_used_bytes",
    "bulkhead_sqlite_memory_high_water_bytes", "bulkhead_sqlite_heap_limit_bytes",
    // committer
    "bulkhead_committer_batches_total", "bulkhead_committer_events_total", "bulkhead_committer_refusals_total",
    "bulkhead_committer_commit_duration_seconds",
    // ingest
    "bulkhead_ingest_connections_accepted_total", "bulkhead_ingest_connections_refused_total",
    "bulkhead_ingest_connections_closed_total", "bulkhead_ingest_lines_total", "bulkhead_ingest_events_total",
    "bulkhead_ingest_idle_timeouts_total",
    // admin
    "bulkhead_admin_requests_total", "bulkhead_admin_events_total", "bulkhead_admin_metrics_overflows_total",
};

TEST(Admin, MetricsPassPromtoolAndCarryEveryFamily) {
  CensusGuard census;
  TestSink sink;
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() + "\"\n");
  auto r = request(b.admin_port(), get("/metrics"));
  ASSERT_TRUE(r.has_value()) << b.log();
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  auto [code, out] = promtool_check(r->body);
  EXPECT_EQ(code, 0) << out << "\n" << r->body;
  for (const char* f : kRequiredFamilies) EXPECT_TRUE(has_family(r->body, f)) << "missing family " << f;
  // Every TYPE line has a HELP line and every name carries the prefix.
  EXPECT_EQ(count_of(r->body, "# TYPE "), count_of(r->body, "# HELP "));
  EXPECT_EQ(count_of(r->body, "# TYPE bulkhead_"), count_of(r->body, "# TYPE "));
  // Labels for pools and sinks.
  for (const char* pool : {"task", "ingest_conn", "admin_conn", "store_conn"})
    EXPECT_TRUE(sample(r->body, std::string("bulkhead_pool_capacity{pool=\"") + pool + "\"}")) << pool;
  EXPECT_TRUE(sample(r->body, "bulkhead_pool_in_use{pool=\"sink_conn.t\"}"));
  EXPECT_EQ(sample(r->body, "bulkhead_sink_breaker_state{sink=\"t\"}"), 0.0);
  EXPECT_EQ(sample(r->body, "bulkhead_sink_breaker_status{sink=\"t\",state=\"closed\"}"), 1.0);
  EXPECT_EQ(sample(r->body, "bulkhead_pool_in_use{pool=\"admin_conn\"}"), 1.0) << "this very request";
  EXPECT_EQ(sample(r->body, "bulkhead_heap_allocations_after_seal_total"), 0.0);
  EXPECT_EQ(sample(r->body, "bulkhead_fd_ceiling"), 256.0);
  expect_clean_stop(b);
}

TEST(Admin, MetricsReflectIngest) {
  CensusGuard census;
  Bulkhead b;
  std::string before = metrics_text(b);
  EXPECT_EQ(sample(before, "bulkhead_ingest_events_total{result=\"ok\"}"), 0.0);
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  ASSERT_TRUE(c.send("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\nnope\n"));
  ASSERT_EQ(c.read_lines(4).size(), 4u);
  std::string after = metrics_text(b);
  EXPECT_EQ(sample(after, "bulkhead_ingest_events_total{result=\"ok\"}"), 3.0) << after;
  EXPECT_EQ(sample(after, "bulkhead_ingest_events_total{result=\"bad_json\"}"), 1.0);
  EXPECT_EQ(sample(after, "bulkhead_ingest_lines_total"), 4.0);
  // The harness's readiness probe was the first connection.
  EXPECT_EQ(*sample(after, "bulkhead_ingest_connections_accepted_total"),
            *sample(before, "bulkhead_ingest_connections_accepted_total") + 1);
  EXPECT_EQ(sample(after, "bulkhead_ingest_connections_open"), 1.0);
  EXPECT_EQ(sample(after, "bulkhead_store_appended_total"), 3.0);
  EXPECT_EQ(sample(after, "bulkhead_committer_events_total"), 3.0);
  EXPECT_GE(*sample(after, "bulkhead_store_last_seq"), 3.0);
  EXPECT_EQ(sample(after, "bulkhead_pool_in_use{pool=\"ingest_conn\"}"), 1.0);
  c.close();
  expect_clean_stop(b);
}

TEST(Admin, MetricsFitTheBufferForTheLargestConfig) {
  CensusGuard census;
  // Four sinks (the compiled maximum) with 64-character names: the longest labels there can be.
  std::string toml;
  for (char n : {'a', 'b', 'c', 'd'}) {
    std::string name(64, n);
    toml += "[[sink]]\nname = \"" + name + "\"\nurl = \"http://127.0.0.1:" + std::to_string(free_port()) +
            "/x\"\nmax_connections = 4\nbackoff_base = \"1s\"\n";
  }
  Bulkhead b(toml);
  std::string m = metrics_text(b);
  ASSERT_FALSE(m.empty()) << b.log();
  auto [code, out] = promtool_check(m);
  EXPECT_EQ(code, 0) << out;
  for (char n : {'a', 'b', 'c', 'd'})
    EXPECT_TRUE(sample(m, "bulkhead_sink_delivered_total{sink=\"" + std::string(64, n) + "\"}")) << n;
  EXPECT_EQ(sample(m, "bulkhead_admin_metrics_overflows_total"), 0.0);
  // Headroom: a quarter of the buffer stays free for sources, their pools and queues.
  double buffer = *sample(m, "bulkhead_admin_metrics_buffer_bytes");
  EXPECT_LT(static_cast<double>(m.size()), buffer * 3 / 4) << m.size() << " of " << buffer;
  expect_clean_stop(b);
}

// ---- POST /v1/events -----------------------------------------------------------------------------

TEST(Admin, PostGoodEventsAreCommittedWithSeqs) {
  CensusGuard census;
  Bulkhead b;
  auto r = request(b.admin_port(), post("/v1/events", "{\"a\":1}\n{\"a\":2}\r\n{\"a\":3}"));
  ASSERT_TRUE(r.has_value()) << b.log();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->header("content-type"), "application/json");
  auto seqs = seqs_in(r->body);
  ASSERT_EQ(seqs.size(), 3u) << r->body;
  EXPECT_LT(seqs[0], seqs[1]);
  EXPECT_LT(seqs[1], seqs[2]);
  EXPECT_EQ(r->body, "{\"ok\":3,\"errors\":0,\"results\":[{\"line\":1,\"seq\":" + std::to_string(seqs[0]) +
                         "},{\"line\":2,\"seq\":" + std::to_string(seqs[1]) + "},{\"line\":3,\"seq\":" +
                         std::to_string(seqs[2]) + "}]}\n");
  // The same store and seq space as TCP ingest.
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  ASSERT_TRUE(c.send("{\"tcp\":1}\n"));
  auto line = c.read_line();
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, "ok " + std::to_string(seqs[2] + 1));
  c.close();
  std::string m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_admin_events_total{result=\"ok\"}"), 3.0);
  EXPECT_EQ(sample(m, "bulkhead_store_appended_total"), 4.0);
  expect_clean_stop(b);
}

TEST(Admin, PostEveryLineBadIs400WithTheLineNumbers) {
  CensusGuard census;
  Bulkhead b;
  auto r = request(b.admin_port(), post("/v1/events", "not json\n\n[1,2]\n{\"a\":\n"));
  ASSERT_TRUE(r.has_value()) << b.log();
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body,
            "{\"ok\":0,\"errors\":3,\"error\":\"bad_json\",\"results\":[{\"line\":1,\"error\":\"bad_json\"},"
            "{\"line\":3,\"error\":\"bad_json\"},{\"line\":4,\"error\":\"bad_json\"}]}\n");
  EXPECT_EQ(r->header("connection"), "keep-alive");
  std::string m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_store_appended_total"), 0.0);
  EXPECT_EQ(sample(m, "bulkhead_admin_events_total{result=\"bad_json\"}"), 3.0);
  expect_clean_stop(b);
}

TEST(Admin, PostMixedIs200WithPerLineResults) {
  CensusGuard census;
  Bulkhead b;
  std::string big = "{\"x\":\"" + std::string(20000, 'a') + "\"}";  // over ingest.max_event_bytes (16 KiB)
  auto r = request(b.admin_port(), post("/v1/events", "{\"a\":1}\nbad\n\n" + big + "\n{\"a\":2}\n{\"a\":3}\n\n"));
  ASSERT_TRUE(r.has_value()) << b.log();
  EXPECT_EQ(r->status, 200) << r->body;
  auto seqs = seqs_in(r->body);
  ASSERT_EQ(seqs.size(), 3u) << r->body;
  EXPECT_EQ(r->body, "{\"ok\":3,\"errors\":2,\"results\":[{\"line\":1,\"seq\":" + std::to_string(seqs[0]) +
                         "},{\"line\":2,\"error\":\"bad_json\"},{\"line\":4,\"error\":\"too_large\"},{\"line\":5,"
                         "\"seq\":" + std::to_string(seqs[1]) + "},{\"line\":6,\"seq\":" + std::to_string(seqs[2]) +
                         "}]}\n");
  expect_clean_stop(b);
}

TEST(Admin, PostAnEmptyBodyIs200WithNoResults) {
  CensusGuard census;
  Bulkhead b;
  auto r = request(b.admin_port(), post("/v1/events", ""));
  ASSERT_TRUE(r.has_value()) << b.log();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"ok\":0,\"errors\":0,\"results\":[]}\n");
  expect_clean_stop(b);
}

TEST(Admin, PostOverMaxBodyBytesIs413AndCloses) {
  CensusGuard census;
  Bulkhead b("[admin]\nmax_body_bytes = \"4KiB\"\n");
  std::string body;
  while (body.size() <= 4096) body += "{\"a\":12345678}\n";
  // Declared too large: refused before anything is read or stored.
  HttpClient c;
  ASSERT_TRUE(c.connect(b.admin_port()));
  ASSERT_TRUE(c.send(post("/v1/events", body)));
  auto r = c.read();
  ASSERT_TRUE(r.has_value()) << b.log();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c.wait_closed(3s));
  c.close();
  std::string m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_store_appended_total"), 0.0);
  // Chunked past the limit: the lines before the limit were processed, the answer says which.
  HttpClient d;
  ASSERT_TRUE(d.connect(b.admin_port()));
  ASSERT_TRUE(d.send("POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, 1000)));
  auto r2 = d.read();
  ASSERT_TRUE(r2.has_value()) << b.log();
  EXPECT_EQ(r2->status, 413) << r2->body;
  EXPECT_NE(r2->body.find("\"error\":\"body_too_large\""), std::string::npos) << r2->body;
  EXPECT_NE(r2->body.find("\"unprocessed_from_line\":"), std::string::npos) << r2->body;
  std::size_t stored = seqs_in(r2->body).size();
  EXPECT_LT(stored * 16, 4096u + 16);
  EXPECT_TRUE(d.wait_closed(3s));
  m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_store_appended_total"), static_cast<double>(stored));
  expect_clean_stop(b);
}

TEST(Admin, PostALargeBodyIsStreamedLineByLine) {
  CensusGuard census;
  Bulkhead b(kRoomy);
  // ~900 KB, 20000 lines: far more than the slot's line buffer, so many rounds of commits.
  std::string body;
  for (int i = 0; i < 20000; ++i) body += "{\"i\":" + std::to_string(i) + ",\"pad\":\"0123456789012345678\"}\n";
  ASSERT_LT(body.size(), 1u << 20);
  for (bool use_chunked : {false, true}) {
    HttpClient c;
    ASSERT_TRUE(c.connect(b.admin_port()));
    ASSERT_TRUE(c.send(use_chunked ? "POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                         chunked(body, 7000)
                                   : post("/v1/events", body)));
    auto r = c.read(30s);
    ASSERT_TRUE(r.has_value()) << b.log();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body.rfind("{\"ok\":20000,\"errors\":0,\"results\":[{\"line\":1,\"seq\":", 0), 0u)
        << r->body.substr(0, 200);
    auto seqs = seqs_in(r->body);
    ASSERT_EQ(seqs.size(), 20000u);
    EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
    EXPECT_EQ(std::adjacent_find(seqs.begin(), seqs.end()), seqs.end());
    EXPECT_NE(r->body.find("{\"line\":20000,\"seq\":"), std::string::npos);
    // Keep-alive holds after a large POST.
    ASSERT_TRUE(c.send(get("/healthz")));
    auto h = c.read();
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->status, 200);
    c.close();
  }
  std::string m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_store_appended_total"), 40000.0);
  expect_clean_stop(b);
}

TEST(Admin, PostWhenTheStoreIsFullIsBusy) {
  CensusGuard census;
  // A sink nobody listens on: nothing is delivered, so pending grows to max_pending.
  Bulkhead b("[store]\nmax_pending = 3\n[[sink]]\nname = \"down\"\nurl = \"http://127.0.0.1:" +
             std::to_string(free_port()) + "/x\"\nbackoff_base = \"1s\"\n");
  auto r = request(b.admin_port(), post("/v1/events", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n{\"a\":5}\n"));
  ASSERT_TRUE(r.has_value()) << b.log();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(seqs_in(r->body).size(), 3u) << r->body;
  EXPECT_NE(r->body.find("{\"line\":4,\"error\":\"busy\"},{\"line\":5,\"error\":\"busy\"}"), std::string::npos)
      << r->body;
  auto r2 = request(b.admin_port(), post("/v1/events", "{\"a\":6}\nbad\n"));
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->status, 503) << r2->body;
  EXPECT_EQ(r2->header("retry-after"), "1");
  EXPECT_EQ(r2->body, "{\"ok\":0,\"errors\":2,\"error\":\"busy\",\"results\":[{\"line\":1,\"error\":\"busy\"},"
                      "{\"line\":2,\"error\":\"bad_json\"}]}\n");
  std::string m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_admin_events_total{result=\"busy\"}"), 3.0);
  EXPECT_EQ(sample(m, "bulkhead_committer_refusals_total{reason=\"busy\"}"), 3.0);
  expect_clean_stop(b);
}

TEST(Admin, PostWithExpectContinueGets100First) {
  CensusGuard census;
  Bulkhead b;
  HttpClient c;
  ASSERT_TRUE(c.connect(b.admin_port()));
  std::string body = "{\"a\":1}\n";
  ASSERT_TRUE(c.send("POST /v1/events HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n"));
  char buf[64] = {};
  pollfd p{c.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 3000), 1);
  ssize_t n = ::recv(c.fd(), buf, sizeof buf - 1, MSG_PEEK);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)).rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u);
  ASSERT_TRUE(c.send(body));
  auto r = c.read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(seqs_in(r->body).size(), 1u);
  c.close();
  expect_clean_stop(b);
}

// ---- The server's limits -------------------------------------------------------------------------

TEST(Admin, MalformedRequestsGet400AndTheConnectionCloses) {
  CensusGuard census;
  Bulkhead b;
  struct Case {
    std::string raw;
    int status;
  };
  const Case cases[] = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n", 400},
      {"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"POST /v1/events HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"GET /healthz HTTP/1.1\r\nX: " + std::string(9000, 'x') + "\r\n\r\n", 431},
      {"BREW /healthz HTTP/1.1\r\n\r\n", 501},
      {"GET /healthz HTTP/2.0\r\n\r\n", 505},
  };
  for (const Case& k : cases) {
    HttpClient c;
    ASSERT_TRUE(c.connect(b.admin_port()));
    ASSERT_TRUE(c.send(k.raw));
    auto r = c.read();
    ASSERT_TRUE(r.has_value()) << k.raw.substr(0, 40);
    EXPECT_EQ(r->status, k.status) << k.raw.substr(0, 40);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.wait_closed(3s)) << k.raw.substr(0, 40);
  }
  std::string m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_admin_bad_requests_total"), 7.0);
  // Unknown paths and wrong methods are well-formed requests: answered, connection kept.
  HttpClient c;
  ASSERT_TRUE(c.connect(b.admin_port()));
  ASSERT_TRUE(c.send(get("/nope")));
  auto r = c.read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 404);
  ASSERT_TRUE(c.send(post("/healthz", "x")));
  r = c.read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("allow"), "GET, HEAD");
  ASSERT_TRUE(c.send(get("/v1/events")));
  r = c.read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("allow"), "POST");
  c.close();
  expect_clean_stop(b);
}

TEST(Admin, ConnectionsBeyondThePoolGet503AndAreClosed) {
  CensusGuard census;
  Bulkhead b("[pools]\nadmin_conn = 2\n" + kRoomy);
  HttpClient c1, c2, c3;
  for (HttpClient* c : {&c1, &c2}) {
    ASSERT_TRUE(c->connect(b.admin_port()));
    ASSERT_TRUE(c->send(get("/healthz")));
    auto r = c->read();
    ASSERT_TRUE(r.has_value()) << b.log();
    EXPECT_EQ(r->status, 200);
  }
  ASSERT_TRUE(c3.connect(b.admin_port()));
  auto refusal = c3.read(3s);  // answered at once, before any request
  ASSERT_TRUE(refusal.has_value()) << b.log();
  EXPECT_EQ(refusal->status, 503);
  EXPECT_EQ(refusal->header("connection"), "close");
  EXPECT_TRUE(c3.wait_closed(1s));
  // The served connections keep working; a freed slot takes a new connection.
  ASSERT_TRUE(c1.send(get("/healthz")));
  auto r = c1.read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  c2.close();
  std::optional<Response> again;
  for (auto until = Clock::now() + 3s; Clock::now() < until; std::this_thread::sleep_for(20ms)) {
    again = request(b.admin_port(), get("/metrics"));
    if (again && again->status == 200) break;
  }
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(sample(again->body, "bulkhead_pool_limit{pool=\"admin_conn\"}"), 2.0);
  EXPECT_GE(*sample(again->body, "bulkhead_admin_connections_refused_total"), 1.0);
  EXPECT_GE(*sample(again->body, "bulkhead_pool_refusals_total{pool=\"admin_conn\"}"), 1.0);
  c1.close();
  c3.close();
  expect_clean_stop(b);
}

TEST(Admin, KeepAliveAndPipelinedRequestsAreServedInOrder) {
  CensusGuard census;
  Bulkhead b(kRoomy);
  HttpClient c;
  ASSERT_TRUE(c.connect(b.admin_port()));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(get("/healthz")));
    auto r = c.read();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("connection"), "keep-alive");
  }
  // Three requests in one write: three answers, in order.
  ASSERT_TRUE(c.send(get("/healthz") + post("/v1/events", "{\"p\":1}\n") + get("/nope")));
  auto a = c.read(), p = c.read(), n = c.read();
  ASSERT_TRUE(a && p && n);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(p->status, 200);
  EXPECT_EQ(seqs_in(p->body).size(), 1u);
  EXPECT_EQ(n->status, 404);
  // Connection: close is honoured.
  ASSERT_TRUE(c.send(get("/healthz", "Connection: close\r\n")));
  auto last = c.read();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->header("connection"), "close");
  EXPECT_TRUE(c.wait_closed(2s));
  c.close();
  // HTTP/1.0 without keep-alive: one request per connection.
  HttpClient d;
  ASSERT_TRUE(d.connect(b.admin_port()));
  ASSERT_TRUE(d.send("GET /healthz HTTP/1.0\r\n\r\n"));
  auto r10 = d.read();
  ASSERT_TRUE(r10.has_value());
  EXPECT_EQ(r10->status, 200);
  EXPECT_TRUE(d.wait_closed(2s));
  d.close();
  expect_clean_stop(b);
}

TEST(Admin, IdleAndSlowConnectionsAreClosedAtTheTimeout) {
  CensusGuard census;
  Bulkhead b("[admin]\ntimeout = \"10m\"\n" + kRoomy);
  HttpClient idle, slow;
  ASSERT_TRUE(idle.connect(b.admin_port()));
  ASSERT_TRUE(slow.connect(b.admin_port()));
  ASSERT_TRUE(slow.send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));  // never finished
  EXPECT_FALSE(idle.wait_closed(200ms)) << "closed before the timeout";
  ASSERT_TRUE(advance_clock(b, 10min));  // the timeout passes on virtual time
  auto t0 = Clock::now();
  EXPECT_TRUE(idle.wait_closed(3s));
  EXPECT_LT(Clock::now() - t0, 2s);
  auto r = slow.read(3s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(slow.wait_closed(3s));
  std::string m = metrics_text(b);
  EXPECT_GE(*sample(m, "bulkhead_admin_idle_closes_total"), 1.0);
  EXPECT_GE(*sample(m, "bulkhead_admin_read_timeouts_total"), 1.0);
  idle.close();
  slow.close();
  expect_clean_stop(b);
}

TEST(Admin, ShutdownClosesIdleKeepAliveConnections) {
  CensusGuard census;
  Bulkhead b(kRoomy);
  HttpClient c;
  ASSERT_TRUE(c.connect(b.admin_port()));
  ASSERT_TRUE(c.send(get("/healthz")));
  ASSERT_TRUE(c.read().has_value());
  // The connection stays open and idle; SIGTERM must not wait for it.
  auto t0 = Clock::now();
  expect_clean_stop(b);
  EXPECT_LT(Clock::now() - t0, 2s) << "an idle admin connection held up the shutdown";
  EXPECT_TRUE(c.wait_closed(1s));
}

int child_fds(int pid) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); ++it)
    ++n;
  return n;
}

TEST(Admin, FdsReturnToBaselineAfterConnectionChurn) {
  CensusGuard census;
  Bulkhead b(kRoomy);
  ASSERT_TRUE(log_shows(b, kRunning)) << b.log();
  ASSERT_TRUE(request(b.admin_port(), get("/healthz")).has_value());
  // The baseline once the request's connection is closed: two readings in a row agree (the
  // watchdog's own /proc reads hold an FD for a moment; one reading may catch it).
  int base = -1;
  ASSERT_TRUE(eventually([&] {
    const int n = child_fds(b.child()->pid());
    const bool settled = n == base;
    base = n;
    return settled;
  }, 3000ms, 20ms));
  for (int round = 0; round < 5; ++round) {
    // Ten at once against a pool of eight: eight served, the rest refused; all closed after.
    std::vector<HttpClient> cs(10);
    int served = 0, refused = 0;
    for (auto& c : cs) ASSERT_TRUE(c.connect(b.admin_port()));
    for (auto& c : cs) ASSERT_TRUE(c.send(post("/v1/events", "{\"r\":1}\n")));
    for (auto& c : cs) {
      auto r = c.read();
      ASSERT_TRUE(r.has_value());
      (r->status == 200 ? served : refused) += 1;
      EXPECT_TRUE(r->status == 200 || r->status == 503) << r->status;
    }
    EXPECT_EQ(served, 8);
    EXPECT_EQ(refused, 2);
    cs.clear();
    // Every connection of the round is closed (and its slot free) before the next round starts.
    int now = -1;
    for (auto until = Clock::now() + 3s; Clock::now() < until; std::this_thread::sleep_for(20ms))
      if ((now = child_fds(b.child()->pid())) == base) break;
    EXPECT_EQ(now, base) << "round " << round;
  }
  std::string m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_admin_events_total{result=\"ok\"}"), 40.0);
  EXPECT_EQ(sample(m, "bulkhead_pool_high_water{pool=\"admin_conn\"}"), 8.0);
  expect_clean_stop(b);
}

// ---- Dead letters --------------------------------------------------------------------------------

TEST(Admin, DeadLettersAreListedReplayedAndPurged) {
  CensusGuard census;
  // The first two POSTs are refused with 400 (two dead letters); everything after is accepted.
  TestSink sink([](std::size_t n, const SinkRequest&) { return n < 2 ? SinkAnswer{400} : SinkAnswer{200}; });
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() +
             "\"\nbatch_events = 3\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n");
  const std::uint16_t port = b.admin_port();
  auto empty = request(port, get("/v1/dlq"));
  ASSERT_TRUE(empty.has_value()) << b.log();
  EXPECT_EQ(empty->status, 200);
  EXPECT_EQ(empty->body, "{\"dead_letters\":[],\"next_after\":null}\n");

  std::vector<std::uint64_t> seqs;
  for (int i = 0; i < 2; ++i) {  // one batch at a time, so each is its own dead letter
    LineClient c;
    ASSERT_TRUE(c.connect(b.ingest_port()));
    ASSERT_TRUE(c.send("{\"d\":" + std::to_string(i) + "}\n"));
    auto ack = c.read_line();
    ASSERT_TRUE(ack && ack->rfind("ok ", 0) == 0);
    seqs.push_back(std::stoull(ack->substr(3)));
    // Its dead letter is recorded (not only its request seen by the sink) before the next is sent.
    EXPECT_TRUE(eventually([&] {
      auto l = request(port, get("/v1/dlq"));
      return l && count_of(l->body, "\"id\":") == i + 1;
    }, 5000ms)) << b.log();
  }
  auto list = request(port, get("/v1/dlq"));
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(list->status, 200);
  EXPECT_EQ(count_of(list->body, "\"id\":"), 2) << list->body;
  EXPECT_NE(list->body.find("\"sink\":\"t\",\"first_seq\":" + std::to_string(seqs[0]) + ",\"last_seq\":" +
                            std::to_string(seqs[0]) + ",\"events\":1,\"status\":\"dead\",\"http_status\":400"),
            std::string::npos)
      << list->body;
  EXPECT_NE(list->body.find("\"next_after\":null"), std::string::npos);
  // Paging: after the first id only the second is listed.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(list->body, m, std::regex("\"id\":([0-9]+)")));
  const std::string first_id = m[1];
  auto page = request(port, get("/v1/dlq?after=" + first_id));
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(count_of(page->body, "\"id\":"), 1) << page->body;
  EXPECT_EQ(page->body.find("\"id\":" + first_id + ","), std::string::npos) << page->body;

  // Bad requests change nothing.
  EXPECT_EQ(request(port, post("/v1/dlq/replay", ""))->status, 400);
  EXPECT_EQ(request(port, post("/v1/dlq/replay?seq=x", ""))->status, 400);
  EXPECT_EQ(request(port, post("/v1/dlq/purge?id=0", ""))->status, 400);
  EXPECT_EQ(request(port, get("/v1/dlq/replay"))->status, 405);
  EXPECT_EQ(request(port, post("/v1/dlq", ""))->status, 405);
  EXPECT_EQ(request(port, get("/v1/dlq?after=-1"))->status, 400);
  auto none = request(port, post("/v1/dlq/replay?seq=999999", ""));
  EXPECT_EQ(none->status, 404) << none->body;

  // Replay the first by seq: it reaches the sink (the sink now answers 200), the second stays dead.
  auto rp = request(port, post("/v1/dlq/replay?seq=" + std::to_string(seqs[0]), ""));
  ASSERT_TRUE(rp.has_value());
  EXPECT_EQ(rp->status, 200);
  EXPECT_EQ(rp->body, "{\"replayed\":1}\n");
  ASSERT_TRUE(sink.wait_delivered(1, 10s)) << b.log();
  EXPECT_EQ(sink.delivered_seqs(), std::vector<std::uint64_t>{seqs[0]});
  for (auto until = Clock::now() + 5s; Clock::now() < until; std::this_thread::sleep_for(20ms))
    if (request(port, get("/v1/dlq"))->body.find("\"status\":\"replayed\"") != std::string::npos) break;
  auto after = request(port, get("/v1/dlq"));
  EXPECT_NE(after->body.find("\"status\":\"replayed\""), std::string::npos) << after->body;
  EXPECT_NE(after->body.find("\"status\":\"dead\""), std::string::npos) << after->body;

  // Purge all: the table is empty, and says how many went.
  auto pg = request(port, post("/v1/dlq/purge?all", ""));
  ASSERT_TRUE(pg.has_value());
  EXPECT_EQ(pg->status, 200);
  EXPECT_EQ(pg->body, "{\"purged\":2}\n");
  EXPECT_EQ(request(port, get("/v1/dlq"))->body, "{\"dead_letters\":[],\"next_after\":null}\n");
  EXPECT_EQ(request(port, post("/v1/dlq/purge?id=" + first_id, ""))->status, 404);
  expect_clean_stop(b);
}

TEST(Admin, TimeoutsAreCountedPerOperationWithAViolationRate) {
  CensusGuard census;
  // The first answer comes after the 300 ms read timeout; the retry is answered at once.
  TestSink sink([](std::size_t n, const SinkRequest&) { return n == 0 ? SinkAnswer{200, 1500ms} : SinkAnswer{200}; });
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() +
             "\"\nread_timeout = \"300ms\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n");
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  ASSERT_TRUE(c.send("{\"t\":1}\n"));
  ASSERT_TRUE(c.read_line().has_value());
  ASSERT_TRUE(sink.wait_delivered(1, 15s)) << b.log();
  c.close();
  std::string m = metrics_text(b);
  const std::string read = "{sink=\"t\",op=\"read\"}";
  auto ops = sample(m, "bulkhead_sink_timed_operations_total" + read);
  auto timeouts = sample(m, "bulkhead_sink_timeouts_total" + read);
  auto ratio = sample(m, "bulkhead_sink_timeout_ratio" + read);
  ASSERT_TRUE(ops && timeouts && ratio) << m;
  EXPECT_EQ(*timeouts, 1.0);
  EXPECT_GE(*ops, 2.0);  // the timed-out read and the retry's
  EXPECT_DOUBLE_EQ(*ratio, *timeouts / *ops);
  EXPECT_EQ(sample(m, "bulkhead_sink_timeouts_total{sink=\"t\",op=\"connect\"}"), 0.0);
  EXPECT_GE(*sample(m, "bulkhead_sink_timed_operations_total{sink=\"t\",op=\"connect\"}"), 1.0);
  EXPECT_EQ(promtool_check(m).first, 0) << promtool_check(m).second;
  expect_clean_stop(b);
}

TEST(Admin, DisabledAdminBindsNothing) {
  CensusGuard census;
  Bulkhead b("[admin]\nenabled = false\n");
  HttpClient c;
  EXPECT_FALSE(c.connect(b.admin_port(), 300ms));
  expect_clean_stop(b);
}


// ---- [admin] token ---------------------------------------------------------------------------------

const std::string kAdminToken = "it-admin-token-4f9c1d7e2b";
std::string bearer(const std::string& token) { return "Authorization: Bearer " + token + "\r\n"; }
std::string token_config(const std::string& scope = "mutations") {
  return "[admin]\ntoken = \"${env:BH_IT_ADMIN_TOKEN}\"\ntoken_required_for = \"" + scope + "\"\n";
}

// 401 with the Bearer challenge and a JSON error, and the connection closed after it.
void expect_401(const std::optional<Response>& r, const std::string& what) {
  ASSERT_TRUE(r.has_value()) << what;
  EXPECT_EQ(r->status, 401) << what << ": " << r->body;
  EXPECT_EQ(r->header("www-authenticate").rfind("Bearer realm=\"bulkhead\"", 0), 0u) << what;
  EXPECT_EQ(r->body.rfind("{\"error\":\"unauthorized\"", 0), 0u) << what << ": " << r->body;
  EXPECT_EQ(r->header("connection"), "close") << what;
}

TEST(AdminToken, MutationsWithoutTheRightTokenGet401AndChangeNothing) {
  CensusGuard census;
  ScopedEnv tok("BH_IT_ADMIN_TOKEN", kAdminToken.c_str());
  // The first batch is refused (a dead letter); later ones are taken.
  TestSink sink([](std::size_t n, const SinkRequest&) { return n == 0 ? SinkAnswer{400} : SinkAnswer{200}; });
  Bulkhead b(token_config() + "[[sink]]\nname = \"t\"\nurl = \"" + sink.url() +
             "\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n");
  const std::uint16_t port = b.admin_port();
  ASSERT_EQ(send_events(b.ingest_port(), 1, "d"), std::vector<std::uint64_t>{1});
  ASSERT_TRUE(eventually([&] {
    auto l = request(port, get("/v1/dlq"));  // reads need no token in "mutations" mode
    return l && l->status == 200 && count_of(l->body, "\"status\":\"dead\"") == 1;
  }, 10000ms)) << b.log();

  // Five refusals (one short of the backoff): no token, a wrong one, another scheme, every
  // mutating route and a method no route serves.
  expect_401(request(port, post("/v1/events", "{\"x\":1}\n")), "events, no token");
  auto wrong = request(port, post("/v1/events", "{\"x\":2}\n", bearer("it-admin-token-4f9c1d7e2c")));
  expect_401(wrong, "events, wrong token");
  EXPECT_NE(wrong->header("www-authenticate").find("error=\"invalid_token\""), std::string::npos);
  expect_401(request(port, post("/v1/dlq/replay?all", "", bearer(kAdminToken.substr(1)))), "replay, a prefix");
  expect_401(request(port, post("/v1/dlq/purge?all", "", "Authorization: Basic " + kAdminToken + "\r\n")), "purge, Basic");
  expect_401(request(port, "DELETE /v1/dlq HTTP/1.1\r\nHost: h\r\n\r\n"), "DELETE, no token");

  // Nothing changed: the dead letter is still there and still dead, the sink saw no replay, and
  // the next event committed is seq 2 (no refused POST stored a line).
  auto list = request(port, get("/v1/dlq"));
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(count_of(list->body, "\"status\":\"dead\""), 1) << list->body;
  EXPECT_EQ(sink.request_count(), 1u);  // no replay reached it
  std::string m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_admin_auth_failures_total{reason=\"missing\"}"), 3.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_admin_auth_failures_total{reason=\"wrong\"}"), 2.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_admin_auth_token_configured"), 1.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_admin_auth_ok_total"), 0.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_admin_event_posts_total"), 0.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_admin_auth_peers_refused"), 0.0) << m;

  // With the token every route works.
  auto ok = request(port, post("/v1/events", "{\"x\":3}\n", bearer(kAdminToken)));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(seqs_in(ok->body), std::vector<std::uint64_t>{2}) << ok->body;
  auto pg = request(port, post("/v1/dlq/purge?all", "", bearer(kAdminToken)));
  ASSERT_TRUE(pg.has_value());
  EXPECT_EQ(pg->status, 200) << pg->body;
  EXPECT_EQ(pg->body, "{\"purged\":1}\n");
  ASSERT_TRUE(sink.wait_delivered(1, 10s)) << b.log();
  EXPECT_EQ(sink.delivered_seqs(), std::vector<std::uint64_t>{2});
  m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_admin_auth_ok_total"), 2.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_admin_auth_peers_tracked"), 0.0) << m;  // success forgets the peer
  EXPECT_NE(b.log().find("token required for changes"), std::string::npos) << b.log();
  EXPECT_EQ(b.log().find(kAdminToken), std::string::npos) << b.log();
  expect_clean_stop(b);
}

TEST(AdminToken, AllModeProtectsMetricsHealthzAndTheDeadLetterList) {
  CensusGuard census;
  ScopedEnv tok("BH_IT_ADMIN_TOKEN", kAdminToken.c_str());
  Bulkhead b(token_config("all") + kRoomy);
  const std::uint16_t port = b.admin_port();
  expect_401(request(port, get("/metrics")), "/metrics");
  expect_401(request(port, get("/healthz")), "/healthz");
  expect_401(request(port, get("/v1/dlq", bearer("not-" + kAdminToken))), "/v1/dlq");
  for (const char* path : {"/metrics", "/healthz", "/v1/dlq"}) {
    auto r = request(port, get(path, bearer(kAdminToken)));
    ASSERT_TRUE(r.has_value()) << path;
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
  }
  auto m = request(port, get("/metrics", bearer(kAdminToken)));
  EXPECT_EQ(sample(m->body, "bulkhead_admin_auth_failures_total{reason=\"missing\"}"), 2.0) << m->body;
  EXPECT_EQ(sample(m->body, "bulkhead_admin_auth_failures_total{reason=\"wrong\"}"), 1.0) << m->body;
  EXPECT_EQ(promtool_check(m->body).first, 0) << promtool_check(m->body).second;
  expect_clean_stop(b);
}

// The throttle against the real server: the sixth failure in a row puts the peer in backoff (1 s),
// during which even the right token gets 429 with Retry-After; once the (virtual) second has
// passed, the right token works again.
TEST(AdminToken, RepeatedFailuresAreRefusedUntilTheBackoffEnds) {
  CensusGuard census;
  ScopedEnv tok("BH_IT_ADMIN_TOKEN", kAdminToken.c_str());
  Bulkhead b(token_config());
  const std::uint16_t port = b.admin_port();
  for (int i = 0; i < 6; ++i) expect_401(request(port, post("/v1/events", "{}\n", bearer("guess-" + std::to_string(i)))), "guess");
  for (const std::string& auth : {bearer("guess-6"), bearer(kAdminToken)}) {
    auto r = request(port, post("/v1/events", "{\"x\":1}\n", auth));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 429) << r->body;
    EXPECT_EQ(r->header("retry-after"), "1");
    EXPECT_EQ(r->body, "{\"error\":\"too_many_auth_failures\"}\n");
  }
  std::string m = metrics_text(b);  // reads stay open in "mutations" mode, even for this peer
  EXPECT_EQ(sample(m, "bulkhead_admin_auth_throttled_total"), 2.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_admin_auth_backoffs_total"), 1.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_admin_auth_peers_refused"), 1.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_admin_auth_failures_total{reason=\"wrong\"}"), 6.0) << m;
  EXPECT_EQ(sample(m, "bulkhead_admin_event_posts_total"), 0.0) << m;
  EXPECT_NE(b.log().find("admin: 127.0.0.1 refused for 1000 ms"), std::string::npos) << b.log();

  ASSERT_TRUE(advance_clock(b, 1s));
  auto r = request(port, post("/v1/events", "{\"x\":1}\n", bearer(kAdminToken)));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(seqs_in(r->body), std::vector<std::uint64_t>{1}) << r->body;  // nothing before it was stored
  expect_clean_stop(b);
}

// ---- GET /v1/status and the status page (GET /) ---------------------------------------------------

// /v1/status parsed (the test process may allocate; the server may not).
struct Status {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string text;
  std::uint64_t u(const char* pointer) const {
    auto r = root.at_pointer(pointer).get_uint64();
    EXPECT_FALSE(r.error()) << pointer << " in " << text;
    return r.error() ? ~0ull : r.value();
  }
  double d(const char* pointer) const {
    auto r = root.at_pointer(pointer).get_double();
    EXPECT_FALSE(r.error()) << pointer << " in " << text;
    return r.error() ? -1 : r.value();
  }
  std::string s(const char* pointer) const {
    auto r = root.at_pointer(pointer).get_string();
    EXPECT_FALSE(r.error()) << pointer << " in " << text;
    return r.error() ? std::string("?") : std::string(r.value());
  }
  bool is_null(const char* pointer) const { return root.at_pointer(pointer).is_null(); }
};

std::unique_ptr<Status> status_of(Bulkhead& b) {
  auto st = std::make_unique<Status>();
  auto r = request(b.admin_port(), get("/v1/status"));
  EXPECT_TRUE(r.has_value()) << b.log();
  if (!r) return nullptr;
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->header("content-type"), "application/json");
  st->text = r->body;
  if (auto e = st->parser.parse(st->text).get(st->root)) {
    ADD_FAILURE() << "not JSON (" << simdjson::error_message(e) << "): " << st->text;
    return nullptr;
  }
  return st;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

TEST(Status, EveryFieldMatchesTheRuntimesOwnCounters) {
  CensusGuard census;
  TestSink sink;
  Bulkhead b(kRoomy + "[[sink]]\nname = \"t\"\nurl = \"" + sink.url() + "\"\nbackoff_base = \"20ms\"\n");
  constexpr int kEvents = 25;
  ASSERT_EQ(send_events(b.ingest_port(), kEvents).size(), static_cast<std::size_t>(kEvents));
  ASSERT_TRUE(sink.wait_delivered(kEvents, 10s));
  // Delivered and the cursor persisted: /metrics says pending 0 before the status is read.
  ASSERT_TRUE(eventually([&] { return sample(metrics_text(b), "bulkhead_sink_pending_events{sink=\"t\"}") == 0.0; }));
  // Two ticks of the watchdog at least, so the lag history has samples.
  ASSERT_TRUE(eventually([&] { return *sample(metrics_text(b), "bulkhead_watchdog_ticks_total") >= 2; }));
  auto st = status_of(b);
  const std::string m = metrics_text(b);  // read right after: only gauges that move on their own differ
  ASSERT_TRUE(st);
  EXPECT_EQ(st->s("/version"), BH_VERSION);
  EXPECT_EQ(st->s("/state"), "running");
  EXPECT_EQ(st->s("/auth"), "none");
  EXPECT_GT(st->d("/uptime_s"), 0.0);
  EXPECT_LE(st->d("/uptime_s"), *sample(m, "bulkhead_uptime_seconds"));
  EXPECT_NEAR(static_cast<double>(st->u("/time_ms")) / 1000.0,
              std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(), 5.0);
  // Health: the watchdog's verdict and every check, in the watchdog's order.
  EXPECT_TRUE(st->root.at_pointer("/health/ok").get_bool().value());
  EXPECT_TRUE(st->root.at_pointer("/health/feeding").get_bool().value());
  EXPECT_TRUE(st->is_null("/health/failing"));
  auto checks = st->root.at_pointer("/health/checks").get_array().value();
  std::vector<std::string> names;
  for (auto c : checks) names.emplace_back(c["name"].get_string().value());
  EXPECT_EQ(names, (std::vector<std::string>{"loop_lag", "pools", "fds", "memory", "sqlite_memory", "tasks", "audit"}));
  for (const auto& n : names) EXPECT_EQ(sample(m, "bulkhead_watchdog_check_ok{check=\"" + n + "\"}"), 1.0) << n;
  // Events: the committer's, ingest's and the sink's counters.
  EXPECT_EQ(st->u("/events/in"), kEvents);
  EXPECT_EQ(static_cast<double>(st->u("/events/in")), *sample(m, "bulkhead_ingest_lines_total"));
  EXPECT_EQ(static_cast<double>(st->u("/events/acked")), *sample(m, "bulkhead_committer_events_total"));
  EXPECT_EQ(st->u("/events/acked"), kEvents);
  EXPECT_EQ(st->u("/events/delivered"), kEvents);
  EXPECT_EQ(st->u("/events/pending"), 0u);
  EXPECT_TRUE(st->is_null("/events/oldest_pending_age_s"));
  // Loop lag: the history is the watchdog's per-tick ring.
  auto hist = st->root.at_pointer("/loop_lag/history_ms").get_array().value();
  EXPECT_GE(hist.size(), 2u);
  EXPECT_LE(hist.size(), *sample(m, "bulkhead_watchdog_ticks_total"));
  EXPECT_EQ(st->d("/loop_lag/period_ms"), 1000.0);
  EXPECT_LE(st->d("/loop_lag/max_ms"), *sample(m, "bulkhead_loop_lag_max_seconds") * 1000.0 + 0.001);
  // The sink.
  EXPECT_EQ(st->s("/sinks/0/name"), "t");
  EXPECT_EQ(st->s("/sinks/0/breaker"), "closed");
  EXPECT_EQ(st->u("/sinks/0/pending"), 0u);
  EXPECT_EQ(static_cast<double>(st->u("/sinks/0/delivered")), *sample(m, "bulkhead_sink_delivered_total{sink=\"t\"}"));
  EXPECT_EQ(st->u("/sinks/0/delivered"), kEvents);
  EXPECT_EQ(st->u("/sinks/0/last_status"), 200u);
  EXPECT_EQ(st->u("/sinks/0/dead_lettered"), 0u);
  EXPECT_EQ(st->s("/sinks/0/last_error"), "");
  EXPECT_TRUE(st->is_null("/sinks/0/last_error_age_s"));
  EXPECT_EQ(st->root.at_pointer("/sources").get_array().value().size(), 0u);
  // Every pool of /metrics, with its limit and capacity.
  auto pools = st->root.at_pointer("/pools").get_array().value();
  EXPECT_GE(pools.size(), 5u);
  for (auto p : pools) {
    const std::string name(p["name"].get_string().value());
    EXPECT_EQ(static_cast<double>(p["limit"].get_uint64().value()), sample(m, "bulkhead_pool_limit{pool=\"" + name + "\"}")) << name;
    EXPECT_EQ(static_cast<double>(p["capacity"].get_uint64().value()), sample(m, "bulkhead_pool_capacity{pool=\"" + name + "\"}")) << name;
    EXPECT_LE(p["in_use"].get_uint64().value(), p["high_water"].get_uint64().value()) << name;
  }
  // FDs, memory and the store against the budget and the store's own figures.
  EXPECT_EQ(static_cast<double>(st->u("/fds/budget")), *sample(m, "bulkhead_fd_budget"));
  EXPECT_EQ(static_cast<double>(st->u("/fds/limit")), *sample(m, "bulkhead_fd_limit"));
  EXPECT_GT(st->u("/fds/open"), 0u);
  EXPECT_EQ(st->u("/memory/budget_bytes"), 1024ull * 1024 * 1024);
  EXPECT_GT(st->u("/memory/rss_bytes"), 0u);
  EXPECT_EQ(st->u("/memory/heap_allocations_after_seal"), 0u);
  EXPECT_EQ(static_cast<double>(st->u("/store/last_seq")), *sample(m, "bulkhead_store_last_seq"));
  EXPECT_EQ(st->u("/store/last_seq"), kEvents);
  EXPECT_EQ(static_cast<double>(st->u("/store/db_bytes")), *sample(m, "bulkhead_store_database_bytes"));
  EXPECT_EQ(st->u("/store/pending"), 0u);
  EXPECT_EQ(static_cast<double>(st->u("/store/max_pending")), *sample(m, "bulkhead_store_max_pending_events"));
  // Not measured yet: absent, not zero.
  EXPECT_EQ(st->root["flash_written_today_bytes"].error(), simdjson::NO_SUCH_FIELD);
  // The wall clock: unchecked by default (sync_check "off"), as /metrics says (-1), no jump.
  std::string_view clock_state;
  ASSERT_EQ(st->root["clock"]["state"].get(clock_state), simdjson::SUCCESS);
  EXPECT_EQ(clock_state, "unchecked");
  EXPECT_EQ(*sample(m, "bulkhead_clock_synced"), -1);
  EXPECT_EQ(st->u("/clock/jumps"), static_cast<std::uint64_t>(*sample(m, "bulkhead_clock_jumps_total")));
  // Only GET and HEAD.
  auto r = request(b.admin_port(), post("/v1/status", ""));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  expect_clean_stop(b);
}

TEST(Status, AFailingSinkShowsItsBreakerBacklogAndLastError) {
  CensusGuard census;
  TestSink sink([](std::size_t, const SinkRequest&) { return SinkAnswer{.status = 503, .body = "down for maintenance"}; });
  Bulkhead b(kRoomy + "[[sink]]\nname = \"t\"\nurl = \"" + sink.url() +
             "\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"50ms\"\nbreaker_failures = 2\nbreaker_recovery = \"1h\"\n");
  ASSERT_EQ(send_events(b.ingest_port(), 5).size(), 5u);
  std::unique_ptr<Status> st;
  ASSERT_TRUE(eventually([&] {
    st = status_of(b);
    return st && st->s("/sinks/0/breaker") == "open";
  })) << (st ? st->text : "");
  EXPECT_EQ(st->u("/sinks/0/pending"), 5u);
  EXPECT_EQ(st->u("/events/pending"), 5u);
  EXPECT_EQ(st->u("/events/delivered"), 0u);
  EXPECT_EQ(st->u("/sinks/0/last_status"), 503u);
  EXPECT_GE(st->u("/sinks/0/consecutive_failures"), 2u);
  EXPECT_NE(st->s("/sinks/0/last_error").find("503"), std::string::npos) << st->text;
  EXPECT_GE(st->d("/sinks/0/last_error_age_s"), 0.0);
  EXPECT_GE(st->d("/events/oldest_pending_age_s"), 0.0);
  EXPECT_LT(st->d("/events/oldest_pending_age_s"), 60.0);
  const std::string m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_sink_breaker_status{sink=\"t\",state=\"open\"}"), 1.0);
  EXPECT_EQ(static_cast<double>(st->u("/sinks/0/retries")), *sample(m, "bulkhead_sink_retries_total{sink=\"t\"}"));
  expect_clean_stop(b);
}

TEST(Status, FitsItsBufferForTheLargestConfig) {
  CensusGuard census;
  // Four sinks and eight sources (the compiled maxima) with 64-character names, every one failing
  // (a nonexistent port): the longest document there can be, last errors included.
  std::string toml = kRoomy;
  for (char n : {'a', 'b', 'c', 'd'})
    toml += "[[sink]]\nname = \"" + std::string(64, n) + "\"\nurl = \"http://127.0.0.1:" + std::to_string(free_port()) +
            "/x\"\nbackoff_base = \"50ms\"\n";
  for (char n : {'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'})
    toml += "[[source]]\nname = \"" + std::string(64, n) + "\"\ntype = \"http_poll\"\nurl = \"http://127.0.0.1:" +
            std::to_string(free_port()) + "/\"\nbackoff_base = \"50ms\"\n";
  Bulkhead b(toml);
  ASSERT_EQ(send_events(b.ingest_port(), 3).size(), 3u);
  std::unique_ptr<Status> st;
  ASSERT_TRUE(eventually([&] {
    st = status_of(b);
    return st && !st->s("/sinks/3/last_error").empty() && !st->s("/sources/7/last_error").empty();
  })) << (st ? st->text : b.log());
  EXPECT_EQ(st->s("/sources/7/name"), std::string(64, 'l'));
  const double buffer = *sample(metrics_text(b), "bulkhead_admin_metrics_buffer_bytes");
  EXPECT_LT(static_cast<double>(st->text.size()), buffer / 4) << st->text.size() << " of " << buffer;
  expect_clean_stop(b);
}

TEST(Status, ThePageIsServedWholeFromStaticMemory) {
  CensusGuard census;
  Bulkhead b(kRoomy);
  const std::string file = read_file(std::string(BH_SOURCE_DIR) + "/firmware/admin/status_page.html");
  ASSERT_GT(file.size(), 1000u);
  EXPECT_LT(file.size(), 64u * 1024u);
  HttpClient c;
  ASSERT_TRUE(c.connect(b.admin_port()));
  // Many times each over one keep-alive connection: the page, the status, both again.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(c.send(get("/") + get("/v1/status")));
    auto page = c.read();
    ASSERT_TRUE(page) << b.log();
    EXPECT_EQ(page->status, 200);
    EXPECT_EQ(page->header("content-type"), "text/html; charset=utf-8");
    EXPECT_EQ(page->body, file);
    EXPECT_EQ(page->header("cache-control"), "no-cache");
    const std::string csp = page->header("content-security-policy");
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("script-src 'sha256-"), std::string::npos) << csp;
    EXPECT_NE(csp.find("style-src 'sha256-"), std::string::npos) << csp;
    EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
    auto st = c.read();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->status, 200);
    EXPECT_EQ(st->body.front(), '{');
  }
  // No external assets: no URL but the SVG namespace's name, no src= (the CSP enforces it too).
  std::string urls = file;
  for (std::size_t at; (at = urls.find("http://www.w3.org/2000/svg")) != std::string::npos;) urls.erase(at, 26);
  EXPECT_EQ(urls.find("http://"), std::string::npos);
  EXPECT_EQ(urls.find("https://"), std::string::npos);
  EXPECT_EQ(urls.find(" src="), std::string::npos);
  // HEAD: the length, no body.
  HttpClient h;
  h.head_only(true);
  ASSERT_TRUE(h.connect(b.admin_port()));
  ASSERT_TRUE(h.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto hr = h.read();
  ASSERT_TRUE(hr);
  EXPECT_EQ(hr->header("content-length"), std::to_string(file.size()));
  auto r = request(b.admin_port(), post("/", "x"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  const std::string m = metrics_text(b);
  EXPECT_EQ(sample(m, "bulkhead_heap_allocations_after_seal_total"), 0.0);
  EXPECT_EQ(sample(m, "bulkhead_admin_page_requests_total"), 21.0);  // 20 GETs and the HEAD
  EXPECT_EQ(sample(m, "bulkhead_admin_status_requests_total"), 20.0);
  c.close();
  h.close();
  expect_clean_stop(b);
}

TEST(Status, SourcesArePausedAndResumedOverHttp) {
  CensusGuard census;
  const std::uint16_t closed = free_port();  // nothing listens: the source keeps retrying
  Bulkhead b(kRoomy + "[[source]]\nname = \"feed\"\ntype = \"http_poll\"\nurl = \"http://127.0.0.1:" +
             std::to_string(closed) + "/\"\nbackoff_base = \"10ms\"\nbackoff_cap = \"30ms\"\n");
  auto st = status_of(b);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->s("/sources/0/name"), "feed");
  EXPECT_EQ(st->s("/sources/0/type"), "http_poll");
  EXPECT_FALSE(st->root.at_pointer("/sources/0/paused").get_bool().value());
  EXPECT_TRUE(eventually([&] {
    st = status_of(b);
    return st && st->s("/sources/0/last_error").find("refused") != std::string::npos;
  })) << (st ? st->text : "");
  EXPECT_TRUE(st->is_null("/sources/0/last_seen_age_s"));  // it never answered

  auto r = request(b.admin_port(), post("/v1/sources/feed/pause", ""));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"source\":\"feed\",\"paused\":true,\"changed\":true}\n");
  st = status_of(b);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->root.at_pointer("/sources/0/paused").get_bool().value());
  EXPECT_EQ(st->s("/sources/0/state"), "paused");
  EXPECT_EQ(sample(metrics_text(b), "bulkhead_source_paused{source=\"feed\"}"), 1.0);
  r = request(b.admin_port(), post("/v1/sources/feed/pause", ""));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "{\"source\":\"feed\",\"paused\":true,\"changed\":false}\n");
  r = request(b.admin_port(), post("/v1/sources/feed/resume", ""));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"source\":\"feed\",\"paused\":false,\"changed\":true}\n");
  EXPECT_EQ(sample(metrics_text(b), "bulkhead_source_paused{source=\"feed\"}"), 0.0);
  // Refusals: unknown, the built-in ingest, a GET, a bad verb.
  r = request(b.admin_port(), post("/v1/sources/nope/pause", ""));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = request(b.admin_port(), post("/v1/sources/ingest/pause", ""));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = request(b.admin_port(), get("/v1/sources/feed/pause"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  r = request(b.admin_port(), post("/v1/sources/feed/stop", ""));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  expect_clean_stop(b);
}

}  // namespace
}  // namespace bh::test
