// Secrets end to end against the real binary: two sink URLs carry tokens, one from ${env:…} and
// one from ${file:…} found through $CREDENTIALS_DIRECTORY. One sink refuses (HTTP 400: a dead
// letter with a reason), the other is down (connect errors logged). Then every output surface is
// searched for the tokens: the process's log, `config`/`sinks`/`status` over the console,
// `print-config` and `check-config`, /metrics, the admin dead-letter listing and the audit log.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/support/eventually.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/scoped_env.hpp"
#include "tests/support/test_sink.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;

bool has(const std::string& hay, std::string_view needle) { return hay.find(needle) != std::string::npos; }

// GET `path` on the admin port; the whole response (head and body), "" on failure.
std::string admin_get(const Bulkhead& b, const std::string& path) {
  LineClient c;
  if (!c.connect(b.admin_port()) || !c.send("GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")) return "";
  std::string out;
  while (auto l = c.read_line(3s)) out += *l + "\n";
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Polls `probe` until it holds `needle` (each probe is a real request; 20 ms between them).
template <class Probe>
std::string wait_for(Probe probe, std::string_view needle, std::chrono::milliseconds timeout = 10s) {
  std::string got;
  eventually([&] { return has(got = probe(), needle); }, timeout, 20ms);
  return got;
}

// `bulkhead console --socket ... <cmd>`: what it printed.
std::string console_out(const Bulkhead& b, std::vector<std::string> cmd) {
  cmd.insert(cmd.begin(), {"console", "--socket", b.dir() + "/var/console.sock"});
  return run_bulkhead(cmd).second;
}

TEST(Secrets, NoOutputShowsATokenFromTheEnvironmentOrAFile) {
  CensusGuard census;
  const std::string env_token = "env-secret-7f3a9c2e41";
  const std::string file_token = "file-secret-0b8d6e5a93";
  TempDir creds;
  std::ofstream(creds.file("hook")) << file_token << "\n";
  ScopedEnv tok("BH_IT_BOT_TOKEN", env_token.c_str());
  ScopedEnv cd("CREDENTIALS_DIRECTORY", creds.path().c_str());

  TestSink refusing([](std::size_t, const SinkRequest&) { return SinkAnswer{400}; });
  const std::uint16_t down = free_port();  // nothing listens there
  const std::string down_at = "127.0.0.1:" + std::to_string(down);
  Bulkhead b("[[sink]]\nname = \"refusing\"\nurl = \"http://127.0.0.1:" + std::to_string(refusing.port()) +
             "/bot${env:BH_IT_BOT_TOKEN}/sendMessage\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n"
             "[[sink]]\nname = \"down\"\nurl = \"http://" + down_at +
             "/api/webhooks/1/${file:hook}\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n");
  ASSERT_EQ(send_events(b.ingest_port(), 3, "s").size(), 3u) << b.log();

  // The refusing sink saw the expanded token in its path: the reference was really expanded.
  eventually([&] { return refusing.request_count() > 0; });
  auto reqs = refusing.requests();
  ASSERT_FALSE(reqs.empty()) << b.log();
  EXPECT_EQ(reqs[0].target, "/bot" + env_token + "/sendMessage");

  std::string dlq = wait_for([&] { return admin_get(b, "/v1/dlq"); }, "\"http_status\":400");
  EXPECT_TRUE(has(dlq, "refusing")) << dlq;
  std::string log = wait_for([&] { return b.log(); }, "connect to " + down_at);

  auto console = [&](std::vector<std::string> cmd) { return console_out(b, std::move(cmd)); };
  std::string config = console({"config"});
  EXPECT_TRUE(has(config, "/bot${env:BH_IT_BOT_TOKEN}/sendMessage\"")) << config;
  EXPECT_TRUE(has(config, "/api/webhooks/1/${file:hook}\"")) << config;
  EXPECT_TRUE(has(config, "[pools]")) << config;  // the whole text, every page
  std::string sinks = console({"sinks"});
  EXPECT_TRUE(has(sinks, "sink refusing  http://127.0.0.1:" + std::to_string(refusing.port()) + "/***")) << sinks;
  EXPECT_TRUE(has(sinks, "sink down  http://" + down_at + "/***")) << sinks;
  std::string status = console({"status"});
  std::string dlq_console = console({"dlq", "list"});
  std::string metrics = admin_get(b, "/metrics");
  EXPECT_TRUE(has(metrics, "sink=\"down\"")) << metrics;
  auto [print_rc, printed] = run_bulkhead({"print-config", b.config_path()});
  EXPECT_EQ(print_rc, 0) << printed;
  auto [check_rc, checked] = run_bulkhead({"check-config", b.config_path()});
  EXPECT_EQ(check_rc, 0) << checked;

  ASSERT_EQ(b.stop(), 0) << b.log();
  log = b.log();
  std::string audit = read_file(b.dir() + "/var/audit.log");
  EXPECT_TRUE(has(audit, " ingest ")) << audit;  // the audit log is written, and searched below

  const std::vector<std::pair<std::string, std::string>> surfaces{
      {"log", log},          {"console config", config},  {"console sinks", sinks}, {"console status", status},
      {"console dlq", dlq_console}, {"/metrics", metrics}, {"/v1/dlq", dlq},       {"print-config", printed},
      {"check-config", checked},    {"audit log", audit}};
  for (const auto& [name, text] : surfaces) {
    EXPECT_FALSE(text.empty()) << name;
    EXPECT_FALSE(has(text, env_token)) << name << " shows the ${env:} token:\n" << text;
    EXPECT_FALSE(has(text, file_token)) << name << " shows the ${file:} token:\n" << text;
  }
}

// check-config on a file holding a literal bot URL: valid (exit 0) with a warning naming the file and
// the key while group or others can read it, silent at mode 0600; never the URL's path.
TEST(Secrets, CheckConfigWarnsAboutALiteralSecretInAReadableFile) {
  TempDir dir;
  const std::string path = dir.file("bot.toml");
  std::ofstream(path) << "[[sink]]\nname = \"tg\"\nurl = \"https://api.telegram.org/bot4242:literal-token-x/sendMessage\"\n";
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  auto [rc, out] = run_bulkhead({"check-config", path});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(has(out, "bulkhead: warning: " + path + ": sink[0].url: holds a literal secret")) << out;
  EXPECT_TRUE(has(out, path + ": ok")) << out;
  EXPECT_FALSE(has(out, "literal-token-x")) << out;
  auto [print_rc, printed] = run_bulkhead({"print-config", path});
  EXPECT_EQ(print_rc, 0) << printed;
  EXPECT_TRUE(has(printed, "url = \"***\"")) << printed;
  EXPECT_FALSE(has(printed, "literal-token-x")) << printed;
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  std::tie(rc, out) = run_bulkhead({"check-config", path});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_FALSE(has(out, "warning")) << out;
}


// Every kind of secret at once, with the log at debug: the admin token (${file:}), a sink URL
// token (${env:}), sink header values from ${env:} and ${file:} and a literal one (a credential
// header), a source URL token (${env:}).
// The sink refuses with 400 and a body that echoes the request's secrets back (a dead letter
// whose reason is listed); the source's server fails its first polls the same way. The admin API
// is called with the right token and with wrong ones. Then every output surface is searched for
// every value: the process's log, the console's config/status/sinks/sources/dlq, print-config,
// check-config, /metrics, /healthz, /v1/dlq, the audit log, and every admin answer.
TEST(Secrets, NoOutputShowsTheAdminTokenHeaderValuesOrASourceToken) {
  CensusGuard census;
  const std::vector<std::string> secrets{"admin-secret-9d2f4b7c1a", "sinkurl-secret-3e8a1f6b", "hdr-env-secret-7c4d2e9f",
                                         "hdr-file-secret-1a5b8c3d", "src-secret-6f0e2d4c8b", "literal-hdr-secret-55aa77"};
  const std::string& admin_token = secrets[0];
  TempDir creds;
  std::ofstream(creds.file("admin")) << admin_token << "\n";
  std::ofstream(creds.file("apikey")) << secrets[3] << "\n";
  ScopedEnv cd("CREDENTIALS_DIRECTORY", creds.path().c_str());
  ScopedEnv sink_tok("BH_IT_SINK_TOKEN", secrets[1].c_str());
  ScopedEnv hdr("BH_IT_HDR", secrets[2].c_str());
  ScopedEnv src("BH_IT_SRC_TOKEN", secrets[4].c_str());

  // Both servers answer errors that quote what they were sent (target and headers).
  auto echo = [](const SinkRequest& r) {
    return "{\"error\":\"bad request\",\"target\":\"" + r.target + "\",\"auth\":\"" + r.header("authorization") +
           "\",\"key\":\"" + r.header("x-api-key") +
           "\",\"literal\":\"" + r.header("x-auth-token") + "\"}";
  };
  TestSink hook([&](std::size_t, const SinkRequest& r) { return SinkAnswer{.status = 400, .body = echo(r)}; });
  TestSink feed([&](std::size_t n, const SinkRequest& r) {
    return n < 2 ? SinkAnswer{.status = 503, .body = echo(r)} : SinkAnswer{.status = 200, .body = "{\"k\":1}"};
  });
  Bulkhead b("[runtime]\nlog_level = \"debug\"\n"
             "[admin]\ntoken = \"${file:admin}\"\n"
             "[[sink]]\nname = \"hook\"\nurl = \"http://127.0.0.1:" + std::to_string(hook.port()) +
             "/hook/${env:BH_IT_SINK_TOKEN}\"\nheaders = [\"Authorization: Bearer ${env:BH_IT_HDR}\", \"X-Api-Key: ${file:apikey}\", \"X-Auth-Token: literal-hdr-secret-55aa77\"]\n"
             "backoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n"
             "[[source]]\nname = \"feed\"\ntype = \"http_poll\"\nurl = \"http://127.0.0.1:" + std::to_string(feed.port()) +
             "/poll?key=${env:BH_IT_SRC_TOKEN}\"\ninterval = \"100ms\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n");
  ASSERT_EQ(send_events(b.ingest_port(), 2, "s").size(), 2u) << b.log();

  // The references were really expanded and sent.
  eventually([&] { return hook.request_count() > 0 && feed.request_count() >= 3; });
  ASSERT_FALSE(hook.requests().empty()) << b.log();
  ASSERT_GE(feed.requests().size(), 3u) << b.log();
  const SinkRequest sent = hook.requests()[0];
  EXPECT_EQ(sent.target, "/hook/" + secrets[1]);
  EXPECT_EQ(sent.header("authorization"), "Bearer " + secrets[2]);
  EXPECT_EQ(sent.header("x-api-key"), secrets[3]);
  EXPECT_EQ(sent.header("x-auth-token"), secrets[5]);
  EXPECT_EQ(feed.requests()[0].target, "/poll?key=" + secrets[4]);

  // The admin API, right and wrong tokens; every answer is an output too.
  std::string answers;
  auto call = [&](const std::string& method, const std::string& path, const std::string& auth, const std::string& body) {
    LineClient c;
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n" + (auth.empty() ? "" : "Authorization: " + auth + "\r\n") + "\r\n" + body;
    std::string out;
    if (c.connect(b.admin_port()) && c.send(req))
      while (auto l = c.read_line(3s)) out += *l + "\n";
    answers += out;
    return out;
  };
  EXPECT_TRUE(has(call("POST", "/v1/events", "Bearer " + admin_token, "{\"a\":1}\n"), "200 OK")) << answers;
  EXPECT_TRUE(has(call("POST", "/v1/events", "Bearer " + admin_token + "x", "{\"a\":2}\n"), "401 Unauthorized")) << answers;
  EXPECT_TRUE(has(call("POST", "/v1/dlq/replay?all", "Basic " + admin_token, ""), "401 Unauthorized")) << answers;
  std::string dlq = wait_for([&] { return admin_get(b, "/v1/dlq"); }, "\"http_status\":400");
  EXPECT_TRUE(has(dlq, "hook")) << dlq;
  EXPECT_TRUE(has(dlq, "bad request")) << dlq;  // the reason quotes the answer, scrubbed
  std::string healthz = admin_get(b, "/healthz");
  std::string metrics = admin_get(b, "/metrics");
  EXPECT_TRUE(has(metrics, "source=\"feed\"")) << metrics;

  auto console = [&](std::vector<std::string> cmd) { return console_out(b, std::move(cmd)); };
  std::string config = console({"config"});
  EXPECT_TRUE(has(config, "token = \"${file:admin}\"")) << config;
  EXPECT_TRUE(has(config, "\"X-Api-Key: ${file:apikey}\"")) << config;
  std::string status = console({"status"}), sinks = console({"sinks"}), sources = console({"sources"});
  std::string dlq_console = console({"dlq", "list"});
  EXPECT_TRUE(has(sources, "feed")) << sources;
  auto [print_rc, printed] = run_bulkhead({"print-config", b.config_path()});
  EXPECT_EQ(print_rc, 0) << printed;
  auto [check_rc, checked] = run_bulkhead({"check-config", b.config_path()});
  EXPECT_EQ(check_rc, 0) << checked;

  ASSERT_EQ(b.stop(), 0) << b.log();
  const std::string log = b.log();
  EXPECT_TRUE(has(log, "debug")) << log;  // the debug lines are there to be searched
  const std::string audit = read_file(b.dir() + "/var/audit.log");
  EXPECT_TRUE(has(audit, " ingest ")) << audit;
  const std::vector<std::pair<std::string, std::string>> surfaces{
      {"log", log},           {"console config", config},    {"console status", status}, {"console sinks", sinks},
      {"console sources", sources}, {"console dlq", dlq_console}, {"/metrics", metrics},  {"/healthz", healthz},
      {"/v1/dlq", dlq},       {"admin answers", answers},    {"print-config", printed},  {"check-config", checked},
      {"audit log", audit}};
  for (const auto& [name, text] : surfaces) {
    EXPECT_FALSE(text.empty()) << name;
    for (const std::string& secret : secrets) EXPECT_FALSE(has(text, secret)) << name << " shows " << secret << ":\n" << text;
  }
}

}  // namespace
}  // namespace bh::test
