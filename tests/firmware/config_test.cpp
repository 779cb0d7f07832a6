// Tests for the config loader (firmware/config.hpp): defaults, the embedded default, a full config,
// render → load round trips, every error class with its file/line/key, value syntax, pool limits,
// and the generated reference. Not tested here: what the runtime does with the values.
#include "firmware/config.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <string_view>

#include "tests/support/census.hpp"
#include "tests/support/scoped_env.hpp"

namespace {

using bh::Config;
using bh::ConfigError;
using bh::Millis;
using LoadResult = std::variant<Config, ConfigError>;

// A config with every section and mostly non-default values. Line numbers matter to no test.
constexpr std::string_view kFullConfig = R"toml(# full config
[ingest]
listen = "[::1]:7800"
unix_socket = "/run/bulkhead/ingest.sock"
max_event_bytes = "32KiB"
idle_timeout = "2m"
max_connections = 16

[store]
path = "/var/lib/bulkhead/events.db"
synchronous = "normal"
max_batch = 512
max_pending = 50000
overflow = "drop_oldest"
retention_age = "3d"
retention_bytes = "2GiB"
sqlite_heap_limit = "16MiB"
cache_kib = 4096

[audit]
enabled = false
path = "/var/log/bulkhead/audit.log"
rotate_bytes = "10MB"
keep = 3

[[source]]
name = "prices"
type = "websocket"
url = "wss://stream.example.com/v1"
subscribe = '{"op":"subscribe","channel":"prices"}'
ping_interval = "15s"
pong_timeout = "5s"
backoff_base = "500ms"
backoff_cap = "30s"
queue = 1000
max_event_bytes = 8192
ca_file = "/etc/ssl/custom.pem"
dns_ttl = 0

[[source]]
name = "orders"
type = "http_poll"
url = "https://api.example.com/orders"
interval = "30s"
split = "json_array"
max_response_bytes = "5MiB"
connect_timeout = 2000
read_timeout = "20s"
breaker_failures = 3
breaker_recovery = "1m"
client_cert = "/etc/bulkhead/client.pem"
client_key = "/etc/bulkhead/client.key"
tls_verify = false

[[sink]]
name = "archive"
url = "https://archive.example.com/ingest"
batch_events = 500
batch_bytes = "512KiB"
max_connections = 4
connect_timeout = "3s"
write_timeout = "20s"
read_timeout = "20s"
pool_timeout = "1s"
backoff_base = "200ms"
backoff_cap = "1m"
max_response_bytes = "128KiB"
breaker_failures = 10
breaker_recovery = "45s"
breaker_probes = 2
ca_file = "/etc/ssl/archive-ca.pem"
client_cert = "/etc/bulkhead/sink.pem"
client_key = "/etc/bulkhead/sink.key"
tls_verify = true

[[sink]]
name = "analytics"
url = "http://10.0.0.5:8080/events"
sources = ["ingest", "orders"]

[admin]
enabled = false
listen = "0.0.0.0:9000"
max_body_bytes = "4MiB"
timeout = "30s"

[console]
socket = "/run/bulkhead/console.sock"
serial = "/dev/ttyS1"
baud = 9600
pty = true
stdio = true
max_line = 1024

[watchdog]
period = "500ms"
grace = "20s"
warn_ratio = 0.9
loop_lag = "100ms"
device = "/dev/watchdog0"
timeout = "30s"
memory_budget = "64MiB"
notify = "/run/systemd/notify"

[runtime]
shutdown_grace = "10s"
log_level = "debug"

[pools]
ingest_conn = 32
sink_conn = 8
source_conn = 4
)toml";

// n "[[sink]]" tables named s0.., 4 lines each (the i-th header is on line 4*i + 1).
std::string sinks(int n, int max_connections = 1) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += "[[sink]]\nname = \"s" + std::to_string(i) + "\"\nurl = \"http://127.0.0.1:9\"\nmax_connections = " +
           std::to_string(max_connections) + "\n";
  return out;
}

// n "[[source]]" tables named f0.., 4 lines each.
std::string sources(int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += "[[source]]\nname = \"f" + std::to_string(i) + "\"\ntype = \"http_poll\"\nurl = \"http://127.0.0.1:9\"\n";
  return out;
}

class ConfigFixture : public ::testing::Test {
 protected:
  // Writes `text` to a fresh file in the temp dir and loads it with load_config_file.
  LoadResult load(std::string_view text) {
    path_ = dir_.file("bulkhead-" + std::to_string(++files_) + ".toml");
    std::ofstream(path_, std::ios::binary) << text;
    return bh::load_config_file(path_);
  }

  Config ok(std::string_view text) {
    LoadResult r = load(text);
    if (auto* e = std::get_if<ConfigError>(&r)) {
      ADD_FAILURE() << "unexpected error: " << e->to_string() << "\nin:\n" << text;
      return Config{};
    }
    return std::get<Config>(std::move(r));
  }

  // The error for `text`, checked for this file, `line` and `key`, and a message containing `needle`.
  ::testing::AssertionResult fails(std::string_view text, std::uint32_t line, std::string_view key, std::string_view needle) {
    LoadResult r = load(text);
    const auto* e = std::get_if<ConfigError>(&r);
    if (!e) return ::testing::AssertionFailure() << "loaded without error:\n" << text;
    std::string where = e->to_string();
    if (e->file != path_) return ::testing::AssertionFailure() << "file " << e->file << " in " << where;
    if (e->line != line) return ::testing::AssertionFailure() << "line " << e->line << " (want " << line << ") in " << where;
    if (e->line && e->column == 0) return ::testing::AssertionFailure() << "no column in " << where;
    if (e->key != key) return ::testing::AssertionFailure() << "key '" << e->key << "' (want '" << key << "') in " << where;
    if (e->message.find(needle) == std::string::npos)
      return ::testing::AssertionFailure() << "message lacks \"" << needle << "\": " << where;
    std::string prefix = path_ + ":" + std::to_string(line) + ":";
    if (where.rfind(prefix, 0) != 0) return ::testing::AssertionFailure() << "to_string() lacks the prefix " << prefix << ": " << where;
    return ::testing::AssertionSuccess() << where;
  }

  ConfigError error_of(std::string_view text) {
    LoadResult r = load(text);
    if (auto* e = std::get_if<ConfigError>(&r)) return *e;
    ADD_FAILURE() << "loaded without error:\n" << text;
    return {};
  }

  bh::test::CensusGuard census_;
  bh::test::TempDir dir_;
  std::string path_;
  int files_ = 0;
};

class ConfigDefaults : public ConfigFixture {};
class ConfigLoad : public ConfigFixture {};
class ConfigRender : public ConfigFixture {};
class ConfigErrors : public ConfigFixture {};
class ConfigValues : public ConfigFixture {};
class ConfigPools : public ConfigFixture {};

// ---- defaults ----------------------------------------------------------------------------------

TEST_F(ConfigDefaults, StructDefaultsAreTheDocumentedOnes) {
  Config c;
  EXPECT_EQ(c.ingest.listen, "127.0.0.1:7700");
  EXPECT_EQ(c.ingest.unix_socket, "");
  EXPECT_EQ(c.ingest.max_event_bytes, 16384u);
  EXPECT_EQ(c.ingest.idle_timeout, Millis{60000});
  EXPECT_EQ(c.ingest.max_connections, bh::budget::capacity(bh::budget::PoolId::ingest_conn));
  EXPECT_EQ(c.store.path, "./var/bulkhead.db");
  EXPECT_EQ(c.store.synchronous, bh::SyncLevel::full);
  EXPECT_EQ(c.store.max_batch, 1024u);
  EXPECT_EQ(c.store.max_pending, 1'000'000u);
  EXPECT_EQ(c.store.overflow, bh::Overflow::reject);
  EXPECT_EQ(c.store.retention_age, std::chrono::days{7});
  EXPECT_EQ(c.store.retention_bytes, 1ull << 30);
  EXPECT_EQ(c.store.sqlite_heap_limit, 8ull << 20);
  EXPECT_EQ(c.store.cache_kib, 1024u);
  EXPECT_TRUE(c.audit.enabled);
  EXPECT_EQ(c.audit.rotate_bytes, 64ull << 20);
  EXPECT_EQ(c.audit.keep, 5u);
  EXPECT_TRUE(c.sinks.empty());
  EXPECT_TRUE(c.sources.empty());
  bh::SinkConfig sink;
  EXPECT_EQ(sink.batch_events, 1000u);
  EXPECT_EQ(sink.batch_bytes, 1ull << 20);
  EXPECT_EQ(sink.max_connections, 2u);
  EXPECT_EQ(sink.backoff_cap, Millis{30000});
  EXPECT_EQ(sink.max_response_bytes, 64u * 1024);
  EXPECT_TRUE(sink.tls_verify);
  bh::SourceConfig source;
  EXPECT_EQ(source.interval, Millis{60000});
  EXPECT_EQ(source.max_response_bytes, 10ull << 20);
  EXPECT_EQ(source.queue, 500u);
  EXPECT_EQ(source.dns_ttl, Millis{300000});
  EXPECT_EQ(c.admin.listen, "127.0.0.1:7701");
  EXPECT_EQ(c.admin.max_body_bytes, 1ull << 20);
  EXPECT_EQ(c.console.socket, "./var/bulkhead.sock");
  EXPECT_EQ(c.console.baud, 115200u);
  EXPECT_EQ(c.console.max_line, 512u);
  EXPECT_EQ(c.watchdog.warn_ratio, 0.8);
  EXPECT_EQ(c.watchdog.timeout, Millis{15000});
  EXPECT_EQ(c.watchdog.memory_budget, 32ull << 20);
  EXPECT_EQ(c.watchdog.notify, "auto");
  EXPECT_EQ(c.runtime.shutdown_grace, Millis{5000});
  EXPECT_EQ(c.runtime.log_level, "info");
  for (std::size_t i = 0; i < bh::budget::kPools.size(); ++i) {
    EXPECT_EQ(c.pool_limits[i], bh::budget::kPools[i].capacity);
    EXPECT_EQ(c.pool_limit(bh::budget::kPools[i].name), bh::budget::kPools[i].capacity);
  }
  EXPECT_EQ(c.pool_limit(bh::budget::PoolId::sink_conn), bh::budget::capacity(bh::budget::PoolId::sink_conn));
  EXPECT_EQ(c.pool_limit("no_such_pool"), 0u);
}

TEST_F(ConfigDefaults, EmptyFileLoadsTheDefaults) {
  Config c = ok("");
  Config want;
  want.origin = path_;
  EXPECT_EQ(c, want);
  EXPECT_EQ(c.origin, path_);
}

TEST_F(ConfigDefaults, EmbeddedDefaultLoadsToTheDefaults) {
  std::string_view text = bh::default_config_toml();
  auto r = bh::load_config_string(text, bh::kEmbeddedOrigin);
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << std::get<ConfigError>(r).to_string();
  Config want;
  want.origin = std::string(bh::kEmbeddedOrigin);
  EXPECT_EQ(std::get<Config>(r), want);
  // Commented: every key appears (sink and source as commented-out examples).
  for (const std::string& key : bh::config_keys()) {
    std::string name = key.substr(key.find('.') + 1);
    EXPECT_NE(text.find(name + " = "), std::string_view::npos) << key;
  }
  EXPECT_NE(text.find("# [[sink]]"), std::string_view::npos);
  EXPECT_NE(text.find("# [[source]]"), std::string_view::npos);
  // The same text loaded from a file behaves the same.
  Config from_file = ok(text);
  want.origin = path_;
  EXPECT_EQ(from_file, want);
}

// ---- a full config -----------------------------------------------------------------------------

TEST_F(ConfigLoad, FullConfigWithEverySection) {
  Config c = ok(kFullConfig);
  EXPECT_EQ(c.origin, path_);
  EXPECT_EQ(c.ingest.listen, "[::1]:7800");
  EXPECT_EQ(c.ingest.unix_socket, "/run/bulkhead/ingest.sock");
  EXPECT_EQ(c.ingest.max_event_bytes, 32u * 1024);
  EXPECT_EQ(c.ingest.idle_timeout, Millis{120000});
  EXPECT_EQ(c.ingest.max_connections, 16u);
  EXPECT_EQ(c.store.synchronous, bh::SyncLevel::normal);
  EXPECT_EQ(c.store.max_batch, 512u);
  EXPECT_EQ(c.store.max_pending, 50000u);
  EXPECT_EQ(c.store.overflow, bh::Overflow::drop_oldest);
  EXPECT_EQ(c.store.retention_age, std::chrono::days{3});
  EXPECT_EQ(c.store.retention_bytes, 2ull << 30);
  EXPECT_EQ(c.store.sqlite_heap_limit, 16ull << 20);
  EXPECT_EQ(c.store.cache_kib, 4096u);
  EXPECT_FALSE(c.audit.enabled);
  EXPECT_EQ(c.audit.rotate_bytes, 10'000'000u);
  EXPECT_EQ(c.audit.keep, 3u);

  ASSERT_EQ(c.sources.size(), 2u);
  EXPECT_EQ(c.sources[0].name, "prices");
  EXPECT_EQ(c.sources[0].type, "websocket");
  EXPECT_EQ(c.sources[0].subscribe, R"({"op":"subscribe","channel":"prices"})");
  EXPECT_EQ(c.sources[0].ping_interval, Millis{15000});
  EXPECT_EQ(c.sources[0].pong_timeout, Millis{5000});
  EXPECT_EQ(c.sources[0].backoff_base, Millis{500});
  EXPECT_EQ(c.sources[0].queue, 1000u);
  EXPECT_EQ(c.sources[0].max_event_bytes, 8192u);
  EXPECT_EQ(c.sources[0].dns_ttl, Millis{0});
  EXPECT_EQ(c.sources[0].interval, Millis{60000});  // untouched default
  EXPECT_EQ(c.sources[1].name, "orders");
  EXPECT_EQ(c.sources[1].split, "json_array");
  EXPECT_EQ(c.sources[1].max_response_bytes, 5ull << 20);
  EXPECT_EQ(c.sources[1].connect_timeout, Millis{2000});
  EXPECT_EQ(c.sources[1].breaker_failures, 3u);
  EXPECT_EQ(c.sources[1].client_key, "/etc/bulkhead/client.key");
  EXPECT_FALSE(c.sources[1].tls_verify);

  ASSERT_EQ(c.sinks.size(), 2u);
  EXPECT_EQ(c.sinks[0].name, "archive");
  EXPECT_EQ(c.sinks[0].url, "https://archive.example.com/ingest");
  EXPECT_TRUE(c.sinks[0].sources.empty());
  EXPECT_EQ(c.sinks[0].batch_events, 500u);
  EXPECT_EQ(c.sinks[0].batch_bytes, 512u * 1024);
  EXPECT_EQ(c.sinks[0].max_connections, 4u);
  EXPECT_EQ(c.sinks[0].pool_timeout, Millis{1000});
  EXPECT_EQ(c.sinks[0].backoff_cap, Millis{60000});
  EXPECT_EQ(c.sinks[0].breaker_probes, 2u);
  EXPECT_EQ(c.sinks[0].ca_file, "/etc/ssl/archive-ca.pem");
  EXPECT_EQ(c.sinks[1].name, "analytics");
  EXPECT_EQ(c.sinks[1].sources, (bh::StringList{"ingest", "orders"}));
  EXPECT_EQ(c.sinks[1].max_connections, 2u);

  EXPECT_FALSE(c.admin.enabled);
  EXPECT_EQ(c.admin.listen, "0.0.0.0:9000");
  EXPECT_EQ(c.admin.max_body_bytes, 4ull << 20);
  EXPECT_EQ(c.console.serial, "/dev/ttyS1");
  EXPECT_EQ(c.console.baud, 9600u);
  EXPECT_TRUE(c.console.pty);
  EXPECT_TRUE(c.console.stdio);
  EXPECT_EQ(c.console.max_line, 1024u);
  EXPECT_EQ(c.watchdog.period, Millis{500});
  EXPECT_EQ(c.watchdog.warn_ratio, 0.9);
  EXPECT_EQ(c.watchdog.device, "/dev/watchdog0");
  EXPECT_EQ(c.watchdog.memory_budget, 64ull << 20);
  EXPECT_EQ(c.watchdog.notify, "/run/systemd/notify");
  EXPECT_EQ(c.runtime.shutdown_grace, Millis{10000});
  EXPECT_EQ(c.runtime.log_level, "debug");
  EXPECT_EQ(c.pool_limit("ingest_conn"), 32u);
  EXPECT_EQ(c.pool_limit("sink_conn"), 8u);
  EXPECT_EQ(c.pool_limit("source_conn"), 4u);
  for (const auto& p : bh::budget::kPools) {
    if (p.name != "ingest_conn" && p.name != "sink_conn" && p.name != "source_conn") {
      EXPECT_EQ(c.pool_limit(p.name), p.capacity) << p.name;
    }
  }
}

TEST_F(ConfigLoad, StringOriginNamesErrorsAndConfig) {
  auto r = bh::load_config_string("[store]\nmax_batch = 0\n", "inline.toml");
  ASSERT_TRUE(std::holds_alternative<ConfigError>(r));
  const auto& e = std::get<ConfigError>(r);
  EXPECT_EQ(e.file, "inline.toml");
  EXPECT_EQ(e.to_string(), "inline.toml:2:13: store.max_batch: 0 is below the minimum 1");
  auto good = bh::load_config_string("", "inline.toml");
  ASSERT_TRUE(std::holds_alternative<Config>(good));
  EXPECT_EQ(std::get<Config>(good).origin, "inline.toml");
}

// ---- render → load -----------------------------------------------------------------------------

// A literal value in a secret key of `c` (sink[0].url, source[1].client_key, sink[0].headers[1]).
std::string secret_literal(const Config& c, const std::string& key) {
  std::size_t i = std::stoul(key.substr(key.find('[') + 1));
  std::string name = key.substr(key.find('.') + 1);
  bool sink = key.rfind("sink[", 0) == 0;
  if (name == "url") return sink ? c.sinks.at(i).url : c.sources.at(i).url;
  if (name == "client_key") return sink ? c.sinks.at(i).client_key : c.sources.at(i).client_key;
  if (name.rfind("headers[", 0) == 0 && sink) return c.sinks.at(i).headers.at(std::stoul(name.substr(8)));
  ADD_FAILURE() << "no test lookup for the secret key " << key;
  return "";
}

// render_config's text with each literal secret's "***" (in literal_secret_keys order, which is
// the order rendered) put back, so that it loads again: the round trips check everything else.
std::string reveal(std::string text, const Config& c) {
  std::size_t at = 0;
  for (const std::string& key : bh::literal_secret_keys(c)) {
    at = text.find("\"***\"", at);
    if (at == std::string::npos) {
      ADD_FAILURE() << key << " is not rendered as \"***\"";
      break;
    }
    std::string v = secret_literal(c, key);  // test values need no TOML escaping
    text.replace(at, 5, "\"" + v + "\"");
    at += v.size();
  }
  return text;
}

TEST_F(ConfigRender, FullConfigRoundTrips) {
  Config c = ok(kFullConfig);
  std::string text = reveal(bh::render_config(c), c);
  Config back = ok(text);
  back.origin = c.origin;
  EXPECT_EQ(back, c) << text;
}

TEST_F(ConfigRender, DefaultsRoundTrip) {
  Config c;
  Config back = ok(bh::render_config(c));
  back.origin.clear();
  EXPECT_EQ(back, c);
}

TEST_F(ConfigRender, AwkwardValuesRoundTrip) {
  Config c;
  c.store.path = "dir with \"quotes\"\\and\ttabs\x01/\xc3\xa9t\xc3\xa9.db";  // escapes + UTF-8
  c.ingest.idle_timeout = Millis{1500};       // not a whole second
  c.store.retention_bytes = 3 * 1000 * 1000 * 1000ull;  // not a power-of-two multiple
  c.watchdog.warn_ratio = 1.0;                 // renders as a float
  c.watchdog.grace = Millis{0};
  c.sources.push_back({.name = "w", .type = "websocket", .url = "ws://[::1]:9/x", .subscribe = "line1\nline2"});
  c.sinks.push_back({.name = "k", .url = "http://h/", .sources = {"ingest", "w"}});
  c.watchdog.device = "$${not a reference}, ${neither} $";  // written back as "$$${not…", "$${neither}"
  std::string text = reveal(bh::render_config(c), c);
  Config back = ok(text);
  back.origin.clear();
  EXPECT_EQ(back, c) << text;
}

TEST_F(ConfigRender, ListsEveryKey) {
  Config c = ok(kFullConfig);
  std::string text = bh::render_config(c);
  for (const std::string& key : bh::config_keys()) {
    std::string section = key.substr(0, key.find('.'));
    std::string name = key.substr(key.find('.') + 1);
    std::size_t at = text.find("[" + section + "]");
    ASSERT_NE(at, std::string::npos) << key;
    EXPECT_NE(text.find("\n" + name + " = ", at), std::string::npos) << key;
  }
  // Every key line is one config_keys() entry (sinks and sources counted per element).
  std::size_t lines = 0;
  for (std::size_t p = text.find(" = "); p != std::string::npos; p = text.find(" = ", p + 1)) ++lines;
  std::size_t sink_keys = 0, source_keys = 0;
  for (const std::string& key : bh::config_keys()) {
    sink_keys += key.rfind("sink.", 0) == 0;
    source_keys += key.rfind("source.", 0) == 0;
  }
  EXPECT_EQ(lines, bh::config_keys().size() + sink_keys + source_keys);  // 2 sinks, 2 sources
}

TEST_F(ConfigRender, ConfigKeysCoverEverySection) {
  auto keys = bh::config_keys();
  for (std::string_view s : {"ingest.", "store.", "audit.", "sink.", "source.", "admin.", "console.", "watchdog.",
                             "runtime.", "pools."}) {
    EXPECT_TRUE(std::any_of(keys.begin(), keys.end(), [&](const std::string& k) { return k.rfind(s, 0) == 0; })) << s;
  }
  EXPECT_NE(std::find(keys.begin(), keys.end(), "pools.ingest_conn"), keys.end());
  EXPECT_NE(std::find(keys.begin(), keys.end(), "sink.breaker_probes"), keys.end());
}

// ---- errors ------------------------------------------------------------------------------------

TEST_F(ConfigErrors, SyntaxErrorHasPosition) {
  EXPECT_TRUE(fails("[ingest]\nlisten = \n", 2, "", ""));
  EXPECT_TRUE(fails("[store]\npath = \"x\"\npath = \"y\"\n", 3, "", ""));  // redefinition
  EXPECT_FALSE(error_of("[ingest\n").message.empty());
}

TEST_F(ConfigErrors, FileThatCannotBeOpened) {
  std::string missing = dir_.file("missing.toml");
  auto r = bh::load_config_file(missing);
  ASSERT_TRUE(std::holds_alternative<ConfigError>(r));
  const auto& e = std::get<ConfigError>(r);
  EXPECT_EQ(e.file, missing);
  EXPECT_EQ(e.line, 0u);
  EXPECT_NE(e.message.find("cannot open"), std::string::npos);
  EXPECT_EQ(e.to_string().rfind(missing + ": cannot open", 0), 0u) << e.to_string();
}

TEST_F(ConfigErrors, UnknownSectionAndKey) {
  EXPECT_TRUE(fails("[ingest]\n\n[bogus]\nx = 1\n", 3, "bogus", "unknown section"));
  EXPECT_TRUE(fails("[[bogus]]\nx = 1\n", 1, "bogus", "unknown section"));
  EXPECT_TRUE(fails("\ndebug = true\n", 2, "debug", "unknown key"));
  EXPECT_TRUE(fails("[store]\npath = \"x\"\nbogus = 1\n", 3, "store.bogus", "unknown key"));
  EXPECT_TRUE(fails("[ingest.tls]\nx = 1\n", 1, "ingest.tls", "unknown key"));
  EXPECT_TRUE(fails(sinks(2) + "colour = \"red\"\n", 9, "sink[1].colour", "unknown key"));
}

TEST_F(ConfigErrors, WrongType) {
  EXPECT_TRUE(fails("[store]\nmax_batch = \"5\"\n", 2, "store.max_batch", "expected an integer, got a string"));
  EXPECT_TRUE(fails("[audit]\nenabled = 1\n", 2, "audit.enabled", "expected a boolean, got an integer"));
  EXPECT_TRUE(fails("[ingest]\nlisten = 7700\n", 2, "ingest.listen", "expected a string, got an integer"));
  EXPECT_TRUE(fails("[store]\noverflow = 1\n", 2, "store.overflow", "expected a string (one of \"reject\", \"drop_oldest\")"));
  EXPECT_TRUE(fails("[watchdog]\nwarn_ratio = \"high\"\n", 2, "watchdog.warn_ratio", "expected a number"));
  EXPECT_TRUE(fails("ingest = 5\n", 1, "ingest", "expected a table [ingest], got an integer"));
  EXPECT_TRUE(fails("[sink]\nname = \"a\"\n", 1, "sink", "expected an array of tables [[sink]], got a table"));
  EXPECT_TRUE(fails("[pools]\ntask = 1.5\n", 2, "pools.task", "expected an integer, got a float"));
  EXPECT_TRUE(fails(sinks(1) + "sources = \"ingest\"\n", 5, "sink[0].sources", "expected an array of strings"));
  EXPECT_TRUE(fails(sinks(1) + "sources = [\"ingest\", 3]\n", 5, "sink[0].sources[1]", "expected a string, got an integer"));
}

TEST_F(ConfigErrors, OutOfRange) {
  EXPECT_TRUE(fails("[audit]\nkeep = 0\n", 2, "audit.keep", "0 is below the minimum 1"));
  EXPECT_TRUE(fails("[audit]\nkeep = 101\n", 2, "audit.keep", "101 exceeds the maximum 100"));
  EXPECT_TRUE(fails("[store]\nmax_pending = -1\n", 2, "store.max_pending", "-1 is below the minimum 1"));
  EXPECT_TRUE(fails("[ingest]\nidle_timeout = \"50ms\"\n", 2, "ingest.idle_timeout", "50ms is below the minimum 100ms"));
  EXPECT_TRUE(fails("[ingest]\nidle_timeout = \"2d\"\n", 2, "ingest.idle_timeout", "2d exceeds the maximum 1d"));
  EXPECT_TRUE(fails("[admin]\nmax_body_bytes = \"1GiB\"\n", 2, "admin.max_body_bytes", "1GiB exceeds the maximum 64MiB"));
  EXPECT_TRUE(fails("[ingest]\nhandshake_timeout = \"11m\"\n", 2, "ingest.handshake_timeout", "11m exceeds the maximum 10m"));
  EXPECT_TRUE(fails("[admin]\nhandshake_timeout = \"10ms\"\n", 2, "admin.handshake_timeout", "10ms is below the minimum 100ms"));
  EXPECT_TRUE(fails("[watchdog]\nwarn_ratio = 1.5\n", 2, "watchdog.warn_ratio", "1.5 is out of range [0.1, 1.0]"));
  EXPECT_TRUE(fails("[console]\nbaud = 9999999999\n", 2, "console.baud", "exceeds the maximum 4000000"));
  EXPECT_TRUE(fails("[ingest]\nunix_socket = \"/" + std::string(200, 'x') + "\"\n", 2, "ingest.unix_socket", "at most 107"));
}

TEST_F(ConfigErrors, EnumValueNotAllowed) {
  EXPECT_TRUE(fails("[store]\noverflow = \"drop_newest\"\n", 2, "store.overflow",
                    "\"drop_newest\" is not allowed; expected one of \"reject\", \"drop_oldest\""));
  EXPECT_TRUE(fails("[store]\nsynchronous = \"off\"\n", 2, "store.synchronous", "expected one of \"full\", \"normal\""));
  EXPECT_TRUE(fails("[runtime]\nlog_level = \"verbose\"\n", 2, "runtime.log_level", "\"debug\", \"info\", \"warn\", \"error\", \"off\""));
  EXPECT_TRUE(fails("[[source]]\nname = \"a\"\ntype = \"ftp\"\nurl = \"ftp://x\"\n", 3, "source[0].type",
                    "expected one of \"http_poll\", \"websocket\""));
  EXPECT_TRUE(fails(sources(1) + "split = \"csv\"\n", 5, "source[0].split", "expected one of \"\", \"ndjson\", \"json_array\""));
  EXPECT_TRUE(fails("[watchdog]\nnotify = \"yes\"\n", 2, "watchdog.notify", "is not \"auto\", \"off\""));
}

TEST_F(ConfigErrors, LimitAboveCompiledCapacity) {
  auto e = error_of("[ingest]\nmax_connections = 100\n");
  EXPECT_EQ(e.to_string(), path_ + ":2:19: ingest.max_connections: 100 exceeds the compiled capacity 64 of pool 'ingest_conn'");
  EXPECT_EQ(ok("[ingest]\nmax_connections = 64\n").ingest.max_connections, 64u);
  EXPECT_EQ(ok("[ingest]\nmax_connections = 63\n").ingest.max_connections, 63u);
  EXPECT_TRUE(fails("[ingest]\nmax_connections = 65\n", 2, "ingest.max_connections", "65 exceeds the compiled capacity 64 of pool 'ingest_conn'"));
  EXPECT_TRUE(fails("[ingest]\nmax_connections = 0\n", 2, "ingest.max_connections", "0 is below the minimum 1"));
}

TEST_F(ConfigErrors, EventBytesAndBatchAboveCompiledLimits) {
  EXPECT_EQ(ok("[ingest]\nmax_event_bytes = 65536\n").ingest.max_event_bytes, 65536u);
  EXPECT_TRUE(fails("[ingest]\nmax_event_bytes = 65537\n", 2, "ingest.max_event_bytes",
                    "65537 exceeds the compiled limit 64KiB (budget::kMaxEventBytes)"));
  EXPECT_TRUE(fails("[ingest]\nmax_event_bytes = \"1MiB\"\n", 2, "ingest.max_event_bytes", "1MiB exceeds the compiled limit 64KiB"));
  EXPECT_TRUE(fails(sources(1) + "max_event_bytes = \"65KiB\"\n", 5, "source[0].max_event_bytes", "budget::kMaxEventBytes"));
  EXPECT_EQ(ok("[store]\nmax_batch = 4096\n").store.max_batch, 4096u);
  EXPECT_TRUE(fails("[store]\nmax_batch = 4097\n", 2, "store.max_batch", "4097 exceeds the compiled limit 4096 (budget::kMaxBatch)"));
}

TEST_F(ConfigErrors, SinkConnectionsAbovePerSinkLimit) {
  EXPECT_EQ(ok(sinks(1, 4)).sinks[0].max_connections, 4u);
  EXPECT_TRUE(fails(sinks(2, 5), 4, "sink[0].max_connections", "5 exceeds the compiled limit 4 (budget::kSinkConnsPerSink)"));
}

TEST_F(ConfigErrors, TooManySinksAndSources) {
  EXPECT_EQ(ok(sinks(4)).sinks.size(), 4u);
  EXPECT_TRUE(fails(sinks(5), 17, "sink[4]", "5 sinks exceed the compiled limit 4 (budget::kMaxSinks)"));
  EXPECT_EQ(ok(sources(8)).sources.size(), 8u);
  EXPECT_TRUE(fails(sources(9), 33, "source[8]", "9 sources exceed the compiled limit 8 (budget::kMaxSources)"));
}

TEST_F(ConfigErrors, MissingRequiredKeys) {
  EXPECT_TRUE(fails("[[sink]]\nurl = \"http://a\"\n", 1, "sink[0].name", "missing required key"));
  EXPECT_TRUE(fails(sinks(1) + "[[sink]]\nname = \"b\"\n", 5, "sink[1].url", "missing required key"));
  EXPECT_TRUE(fails("\n[[source]]\ntype = \"http_poll\"\nurl = \"http://a\"\n", 2, "source[0].name", "missing required key"));
  EXPECT_TRUE(fails("[[source]]\nname = \"a\"\nurl = \"http://a\"\n", 1, "source[0].type", "missing required key"));
  EXPECT_TRUE(fails("[[source]]\nname = \"a\"\ntype = \"websocket\"\n", 1, "source[0].url", "missing required key"));
}

TEST_F(ConfigErrors, DuplicateAndReservedNames) {
  EXPECT_TRUE(fails(sinks(1) + "[[sink]]\nname = \"s0\"\nurl = \"http://b\"\n", 6, "sink[1].name", "duplicate sink name \"s0\""));
  EXPECT_TRUE(fails(sources(2) + "[[source]]\nname = \"f1\"\ntype = \"http_poll\"\nurl = \"http://b\"\n", 10, "source[2].name",
                    "duplicate source name \"f1\""));
  EXPECT_TRUE(fails("[[source]]\nname = \"ingest\"\ntype = \"http_poll\"\nurl = \"http://b\"\n", 2, "source[0].name", "reserved"));
  EXPECT_TRUE(fails("[[sink]]\nname = \"has space\"\nurl = \"http://b\"\n", 2, "sink[0].name", "may only contain"));
  EXPECT_TRUE(fails("[[sink]]\nname = \"\"\nurl = \"http://b\"\n", 2, "sink[0].name", "1..64 characters"));
}

TEST_F(ConfigErrors, UrlSchemes) {
  EXPECT_TRUE(fails("[[sink]]\nname = \"a\"\nurl = \"ftp://x\"\n", 3, "sink[0].url", "must start with http:// or https://"));
  EXPECT_TRUE(fails("[[sink]]\nname = \"a\"\nurl = \"ws://x\"\n", 3, "sink[0].url", "must start with http:// or https://"));
  EXPECT_TRUE(fails("[[sink]]\nname = \"a\"\nurl = \"https://\"\n", 3, "sink[0].url", "names no host"));
  EXPECT_TRUE(fails("[[source]]\nname = \"a\"\ntype = \"websocket\"\nurl = \"https://x\"\n", 4, "source[0].url",
                    "must start with ws:// or wss://"));
  EXPECT_TRUE(fails("[[source]]\nname = \"a\"\ntype = \"http_poll\"\nurl = \"wss://x\"\n", 4, "source[0].url",
                    "must start with http:// or https://"));
  Config c = ok("[[source]]\nname = \"a\"\ntype = \"websocket\"\nurl = \"wss://x/feed\"\n"
                "[[source]]\nname = \"b\"\ntype = \"websocket\"\nurl = \"ws://x\"\n");
  EXPECT_EQ(c.sources[1].url, "ws://x");
}

TEST_F(ConfigErrors, ListenAddresses) {
  EXPECT_EQ(ok("[ingest]\nlisten = \"[::1]:7700\"\n").ingest.listen, "[::1]:7700");
  EXPECT_EQ(ok("[ingest]\nlisten = \"0.0.0.0:1\"\n").ingest.listen, "0.0.0.0:1");
  EXPECT_EQ(ok("[admin]\nlisten = \"[fe80::1]:65535\"\n").admin.listen, "[fe80::1]:65535");
  struct Bad {
    const char* value;
    const char* needle;
  };
  for (const Bad& b : {Bad{"localhost:7700", "host \"localhost\" is not a numeric IPv4 address"},
                       Bad{"127.0.0.1", "missing ':port'"},
                       Bad{"127.0.0.1:0", "port \"0\" is not in 1..65535"},
                       Bad{"127.0.0.1:65536", "port \"65536\" is not in 1..65535"},
                       Bad{"127.0.0.1:http", "is not in 1..65535"},
                       Bad{"::1:7700", "an IPv6 host goes in brackets"},
                       Bad{"[::1]", "missing ':port'"},
                       Bad{"[::1:7700", "missing ']'"},
                       Bad{"[zz]:7700", "not a numeric IPv6 address"},
                       Bad{"", "missing ':port'"}}) {
    EXPECT_TRUE(fails(std::string("[ingest]\nlisten = \"") + b.value + "\"\n", 2, "ingest.listen", b.needle));
    EXPECT_TRUE(fails(std::string("[admin]\n\nlisten = \"") + b.value + "\"\n", 3, "admin.listen", "is not a listen address"));
  }
}

TEST_F(ConfigErrors, SinkSourcesMustExist) {
  Config c = ok(sources(1) + "[[sink]]\nname = \"k\"\nurl = \"http://a\"\nsources = [\"ingest\", \"f0\"]\n");
  EXPECT_EQ(c.sinks[0].sources, (bh::StringList{"ingest", "f0"}));
  EXPECT_TRUE(fails(sources(1) + "[[sink]]\nname = \"k\"\nurl = \"http://a\"\nsources = [\"ingest\", \"nope\"]\n", 8, "sink[0].sources[1]",
                    "unknown source \"nope\""));
  EXPECT_TRUE(fails("[[sink]]\nname = \"k\"\nurl = \"http://a\"\nsources = [\"f0\"]\n", 4, "sink[0].sources[0]", "unknown source \"f0\""));
}

TEST_F(ConfigErrors, RulesAcrossKeys) {
  EXPECT_TRUE(fails(sinks(1) + "client_cert = \"/c.pem\"\n", 5, "sink[0].client_cert", "client_cert and client_key must be set together"));
  EXPECT_TRUE(fails(sources(1) + "client_key = \"/k.pem\"\n", 5, "source[0].client_key", "must be set together"));
  EXPECT_TRUE(fails(sinks(1) + "backoff_base = \"2s\"\nbackoff_cap = \"1s\"\n", 6, "sink[0].backoff_cap", "1s is shorter than backoff_base 2s"));
  EXPECT_TRUE(fails(sinks(1, 2) + "breaker_probes = 3\n", 5, "sink[0].breaker_probes", "3 exceeds this sink's max_connections 2"));
  EXPECT_TRUE(fails("[store]\nsqlite_heap_limit = \"32MiB\"\n", 2, "store.sqlite_heap_limit", "must be below watchdog.memory_budget 32MiB"));
  EXPECT_TRUE(fails("[store]\ncache_kib = 16384\n", 2, "store.cache_kib", "does not fit in store.sqlite_heap_limit 8MiB"));
  // A default that breaks a rule is reported at its section.
  EXPECT_TRUE(fails("[watchdog]\nperiod = \"20s\"\n", 1, "watchdog.timeout", "15s must be longer than watchdog.period 20s"));
}

TEST_F(ConfigErrors, FirstErrorIsTheEarliestInTheFile) {
  // toml++ iterates keys sorted by name; the loader still reports the one written first.
  EXPECT_TRUE(fails("[store]\nzz = 1\n[audit]\nkeep = 0\n", 2, "store.zz", "unknown key"));
  EXPECT_TRUE(fails("[watchdog]\nperiod = \"2h\"\n[audit]\nkeep = 0\n", 2, "watchdog.period", "exceeds the maximum 1m"));
}

// ---- value syntax ------------------------------------------------------------------------------

TEST_F(ConfigValues, ParseDuration) {
  struct Case {
    const char* text;
    long long ms;
  };
  for (const Case& c : {Case{"250ms", 250}, Case{"5s", 5000}, Case{"2m", 120000}, Case{"1h", 3600000},
                        Case{"7d", 604800000}, Case{"0ms", 0}, Case{"90s", 90000}}) {
    Millis d{-1};
    EXPECT_TRUE(bh::parse_duration(c.text, d)) << c.text;
    EXPECT_EQ(d.count(), c.ms) << c.text;
  }
  for (const char* bad : {"", "5", "ms", "5x", "5 s", " 5s", "-5s", "5S", "1.5s", "5sec", "5ms5", "99999999999999999999d",
                          "999999999999999d"}) {
    Millis d{};
    EXPECT_FALSE(bh::parse_duration(bad, d)) << bad;
  }
}

TEST_F(ConfigValues, ParseSize) {
  struct Case {
    const char* text;
    std::uint64_t bytes;
  };
  for (const Case& c : {Case{"512", 512}, Case{"512B", 512}, Case{"16KiB", 16384}, Case{"10MiB", 10ull << 20},
                        Case{"1GiB", 1ull << 30}, Case{"1TiB", 1ull << 40}, Case{"16KB", 16000}, Case{"10MB", 10'000'000},
                        Case{"1GB", 1'000'000'000}, Case{"2TB", 2'000'000'000'000}, Case{"0", 0}}) {
    std::uint64_t v = 1;
    EXPECT_TRUE(bh::parse_size(c.text, v)) << c.text;
    EXPECT_EQ(v, c.bytes) << c.text;
  }
  for (const char* bad : {"", "KiB", "16kib", "16 KiB", "16KIB", "-1", "1.5MiB", "16XB", "16K", "99999999999TiB",
                          "99999999999999999999"}) {
    std::uint64_t v = 0;
    EXPECT_FALSE(bh::parse_size(bad, v)) << bad;
  }
}

TEST_F(ConfigValues, FormatShortestExactForm) {
  EXPECT_EQ(bh::format_duration(Millis{604800000}), "7d");
  EXPECT_EQ(bh::format_duration(Millis{90000}), "90s");
  EXPECT_EQ(bh::format_duration(Millis{1500}), "1500ms");
  EXPECT_EQ(bh::format_duration(Millis{0}), "0ms");
  EXPECT_EQ(bh::format_size(16384), "16KiB");
  EXPECT_EQ(bh::format_size(1ull << 30), "1GiB");
  EXPECT_EQ(bh::format_size(1000), "1000");
  EXPECT_EQ(bh::format_size(0), "0");
}

TEST_F(ConfigValues, DurationsAndSizesInTheFile) {
  Config c = ok("[ingest]\nidle_timeout = 250\n[store]\nretention_bytes = \"3GB\"\n[audit]\nrotate_bytes = 1048576\n"
                "[watchdog]\nwarn_ratio = 1\nloop_lag = \"1m\"\ntimeout = \"2m\"\n");
  EXPECT_EQ(c.ingest.idle_timeout, Millis{250});
  EXPECT_EQ(c.store.retention_bytes, 3'000'000'000u);
  EXPECT_EQ(c.audit.rotate_bytes, 1u << 20);
  EXPECT_EQ(c.watchdog.warn_ratio, 1.0);
  EXPECT_EQ(c.watchdog.loop_lag, Millis{60000});
  EXPECT_TRUE(fails("[ingest]\nidle_timeout = \"5x\"\n", 2, "ingest.idle_timeout", "bad duration \"5x\": expected an integer followed by ms, s, m, h or d"));
  EXPECT_TRUE(fails("[ingest]\nidle_timeout = \"60\"\n", 2, "ingest.idle_timeout", "bad duration \"60\""));
  EXPECT_TRUE(fails("[ingest]\nidle_timeout = 1.5\n", 2, "ingest.idle_timeout", "expected an integer (milliseconds) or a duration string"));
  EXPECT_TRUE(fails("[store]\nretention_bytes = \"2 GiB\"\n", 2, "store.retention_bytes", "bad size \"2 GiB\""));
  EXPECT_TRUE(fails("[store]\nretention_bytes = \"2gb\"\n", 2, "store.retention_bytes", "bad size \"2gb\""));
  EXPECT_TRUE(fails("[store]\nretention_bytes = true\n", 2, "store.retention_bytes", "expected an integer (bytes) or a size string"));
  // Size strings only where the key is a size: a count stays a plain integer.
  EXPECT_TRUE(fails("[store]\nmax_batch = \"1KiB\"\n", 2, "store.max_batch", "expected an integer, got a string"));
}

// ---- pools -------------------------------------------------------------------------------------

TEST_F(ConfigPools, LowerLimitsAndIngestFollows) {
  Config c = ok("[pools]\ningest_conn = 8\nsink_conn = 5\nsource_conn = 1\n");
  EXPECT_EQ(c.pool_limit("ingest_conn"), 8u);
  EXPECT_EQ(c.pool_limit(bh::budget::PoolId::sink_conn), 5u);
  EXPECT_EQ(c.pool_limit("source_conn"), 1u);
  EXPECT_EQ(c.pool_limit("admin_conn"), bh::budget::capacity(bh::budget::PoolId::admin_conn));
  EXPECT_EQ(c.ingest.max_connections, 8u);  // follows the pool when not set
  EXPECT_EQ(ok("[ingest]\nmax_connections = 4\n[pools]\ningest_conn = 8\n").ingest.max_connections, 4u);
  EXPECT_EQ(ok("[ingest]\nmax_connections = 8\n[pools]\ningest_conn = 8\n").ingest.max_connections, 8u);
}

TEST_F(ConfigPools, CapacityBoundaries) {
  for (const auto& p : bh::budget::kPools) {
    std::string name(p.name);
    EXPECT_EQ(ok("[pools]\n" + name + " = " + std::to_string(p.capacity) + "\n").pool_limit(name), p.capacity) << name;
    if (p.capacity > 1) {
      EXPECT_EQ(ok("[pools]\n" + name + " = " + std::to_string(p.capacity - 1) + "\n").pool_limit(name), p.capacity - 1) << name;
    }
    EXPECT_TRUE(fails("[pools]\n" + name + " = " + std::to_string(p.capacity + 1) + "\n", 2, "pools." + name,
                      std::to_string(p.capacity + 1) + " exceeds the compiled capacity " + std::to_string(p.capacity) +
                          " of pool '" + name + "'"));
    EXPECT_TRUE(fails("[pools]\n" + name + " = 0\n", 2, "pools." + name, "0 is below the minimum 1"));
  }
}

TEST_F(ConfigPools, UnknownPool) {
  EXPECT_TRUE(fails("[pools]\nsink_conn = 10\nfoo = 3\n", 3, "pools.foo", "unknown pool 'foo' (pools: ingest_conn, sink, sink_conn"));
}

TEST_F(ConfigPools, IngestConnectionsAbovePoolLimit) {
  EXPECT_TRUE(fails("[ingest]\nmax_connections = 32\n[pools]\ningest_conn = 16\n", 2, "ingest.max_connections",
                    "32 exceeds the [pools] ingest_conn limit 16"));
}

TEST_F(ConfigPools, SinkAndSourceConnectionsWithinPools) {
  EXPECT_EQ(ok("[pools]\nsink_conn = 4\n" + sinks(2, 2)).sinks.size(), 2u);
  EXPECT_TRUE(fails("[pools]\nsink_conn = 3\n" + sinks(2, 2), 10, "sink[1].max_connections",
                    "sinks need 4 connections in total, above the [pools] sink_conn limit 3"));
  EXPECT_EQ(ok("[pools]\nsource_conn = 2\n" + sources(2)).sources.size(), 2u);
  EXPECT_TRUE(fails("[pools]\nsource_conn = 2\n" + sources(3), 11, "source[2]", "3 sources need one connection each; the [pools] source_conn limit is 2"));
}

// ---- docs --------------------------------------------------------------------------------------

TEST(ConfigReference, MarkdownListsEveryKey) {
  std::string md = bh::config_reference_markdown();
  for (const std::string& key : bh::config_keys()) {
    std::string section = key.substr(0, key.find('.'));
    std::string name = key.substr(key.find('.') + 1);
    std::size_t at = md.find("## [" + section + "]");
    if (at == std::string::npos) at = md.find("## [[" + section + "]]");
    ASSERT_NE(at, std::string::npos) << "no heading for " << section;
    std::size_t end = md.find("\n## ", at + 1);
    // A key row, or for [pools] the pool named in the list of keys (budget.md has their table).
    std::size_t row = md.find(section == "pools" ? "`" + name + "` (" : "| `" + name + "` |", at);
    EXPECT_TRUE(row != std::string::npos && row < end) << key << " missing from the reference";
  }
  for (std::string_view must : {"KiB", "powers of 1000", "\"7d\"", "Rules across keys"})
    EXPECT_NE(md.find(must), std::string::npos) << must;
}

// ---- secrets: references, rendering, warnings ---------------------------------------------------

using bh::test::ScopedEnv;

class ConfigSecrets : public ConfigFixture {
 protected:
  // A sink whose url is `url` as written.
  static std::string sink_with(std::string_view url) { return "[[sink]]\nname = \"t\"\nurl = \"" + std::string(url) + "\"\n"; }
  void write_file(const std::string& path, std::string_view content) { std::ofstream(path, std::ios::binary) << content; }
  // The error for `text`, checked as fails() does, and that neither it nor its to_string() holds `secret`.
  ::testing::AssertionResult fails_quietly(std::string_view text, std::uint32_t line, std::string_view key,
                                           std::string_view needle, std::string_view secret) {
    auto r = fails(text, line, key, needle);
    if (!r) return r;
    ConfigError e = error_of(text);
    if (e.to_string().find(secret) != std::string::npos) return ::testing::AssertionFailure() << "the error shows the secret: " << e.to_string();
    return r;
  }
  ScopedEnv creds_{"CREDENTIALS_DIRECTORY", nullptr};
};

constexpr const char* kToken = "123456:AAH-secret-bot-token";

TEST_F(ConfigSecrets, EnvReferenceInsideAString) {
  ScopedEnv tok("BH_TEST_TOKEN", kToken);
  Config c = ok(sink_with("https://api.telegram.org/bot${env:BH_TEST_TOKEN}/sendMessage"));
  EXPECT_EQ(c.sinks[0].url, std::string("https://api.telegram.org/bot") + kToken + "/sendMessage");
  ASSERT_EQ(c.references.size(), 1u);
  EXPECT_EQ(c.references[0].key, "sink[0].url");
  EXPECT_EQ(c.references[0].text, "https://api.telegram.org/bot${env:BH_TEST_TOKEN}/sendMessage");
  EXPECT_EQ(c.secret_values, std::vector<std::string>{kToken});
}

TEST_F(ConfigSecrets, SeveralReferencesAndLiteralDollars) {
  ScopedEnv a("BH_TEST_A", "alpha"), b("BH_TEST_B", "beta");
  Config c = ok("[store]\npath = \"/x/${env:BH_TEST_A}/$5/${env:BH_TEST_B}$\"\n");
  EXPECT_EQ(c.store.path, "/x/alpha/$5/beta$");
  EXPECT_EQ(c.secret_values, (std::vector<std::string>{"alpha", "beta"}));
}

TEST_F(ConfigSecrets, EnvDefault) {
  ScopedEnv unset("BH_TEST_UNSET", nullptr), empty("BH_TEST_EMPTY", ""), set("BH_TEST_SET", "from-env");
  Config c = ok("[store]\npath = \"${env:BH_TEST_UNSET:-/var/lib/x.db}\"\n[audit]\npath = \"${env:BH_TEST_EMPTY:-/d/a:b}\"\n"
                "[watchdog]\ndevice = \"${env:BH_TEST_SET:-/dev/watchdog}\"\n[console]\nserial = \"${env:BH_TEST_UNSET:-}\"\n");
  EXPECT_EQ(c.store.path, "/var/lib/x.db");
  EXPECT_EQ(c.audit.path, "/d/a:b");  // unset or empty: the default
  EXPECT_EQ(c.watchdog.device, "from-env");
  EXPECT_EQ(c.console.serial, "");
  EXPECT_EQ(c.references.size(), 4u);
  // Defaults are written in the file, not secrets: only what the environment gave is.
  EXPECT_EQ(c.secret_values, std::vector<std::string>{"from-env"});
}

TEST_F(ConfigSecrets, EnvSetButEmptyWithoutDefaultIsEmpty) {
  ScopedEnv empty("BH_TEST_EMPTY", "");
  EXPECT_EQ(ok("[console]\nserial = \"${env:BH_TEST_EMPTY}\"\n").console.serial, "");
}

TEST_F(ConfigSecrets, EnvErrors) {
  ScopedEnv unset("BH_TEST_UNSET", nullptr);
  EXPECT_TRUE(fails("\n" + sink_with("${env:BH_TEST_UNSET}"), 4, "sink[0].url",
                    "${env:BH_TEST_UNSET}: environment variable BH_TEST_UNSET is not set"));
  EXPECT_TRUE(fails(sink_with("http://h/${env:1X}"), 3, "sink[0].url", "\"1X\" is not an environment variable name"));
  EXPECT_TRUE(fails(sink_with("http://h/${env:}"), 3, "sink[0].url", "\"\" is not an environment variable name"));
  EXPECT_TRUE(fails(sink_with("http://h/${env:A B}"), 3, "sink[0].url", "is not an environment variable name"));
  EXPECT_TRUE(fails(sink_with("http://h/${env:A:default}"), 3, "sink[0].url", "is not an environment variable name"));
}

TEST_F(ConfigSecrets, SyntaxErrors) {
  ScopedEnv tok("BH_TEST_TOKEN", kToken);
  EXPECT_TRUE(fails_quietly(sink_with("http://h/${env:BH_TEST_TOKEN"), 3, "sink[0].url", "unterminated \"${\"", kToken));
  EXPECT_TRUE(fails(sink_with("http://h/${env:BH_TEST_TOKEN}/${"), 3, "sink[0].url", "unterminated \"${\""));
  EXPECT_TRUE(fails(sink_with("http://h/${vault:x}"), 3, "sink[0].url", "${vault:x}: unknown reference"));
  EXPECT_TRUE(fails(sink_with("http://h/${BH_TEST_TOKEN}"), 3, "sink[0].url", "${BH_TEST_TOKEN}: unknown reference"));
  EXPECT_TRUE(fails(sink_with("http://h/${}"), 3, "sink[0].url", "${}: unknown reference"));
  EXPECT_TRUE(fails(sink_with("http://h/${file:}"), 3, "sink[0].url", "${file:}: names no file"));
}

TEST_F(ConfigSecrets, EscapedDollarBraceIsLiteral) {
  Config c = ok("[store]\npath = \"$${env:HOME} and $$${x\"\n");
  EXPECT_EQ(c.store.path, "${env:HOME} and $${x");
  EXPECT_TRUE(c.references.empty());
  EXPECT_TRUE(c.secret_values.empty());
  std::string text = bh::render_config(c);
  EXPECT_NE(text.find("path = \"$${env:HOME} and $$${x\""), std::string::npos) << text;
  Config back = ok(text);
  EXPECT_EQ(back.store.path, c.store.path);
}

TEST_F(ConfigSecrets, FileNextToTheConfig) {
  write_file(dir_.file("token"), std::string(kToken) + "\n\n");
  write_file(dir_.file("crlf"), "line1\nline2\r\n");
  Config c = ok(sink_with("http://h/bot${file:token}/x") + "[store]\npath = \"${file:crlf}\"\n");
  EXPECT_EQ(c.sinks[0].url, std::string("http://h/bot") + kToken + "/x");
  EXPECT_EQ(c.store.path, "line1\nline2");  // trailing newlines go, inner ones stay
  EXPECT_EQ(c.secret_values, (std::vector<std::string>{kToken, "line1\nline2"}));
}

TEST_F(ConfigSecrets, FileInCredentialsDirectoryAndAbsolute) {
  bh::test::TempDir creds;
  write_file(creds.file("token"), "from-credentials\n");
  write_file(dir_.file("token"), "next-to-config\n");
  write_file(dir_.file("abs"), "absolute\n");
  {
    ScopedEnv cd("CREDENTIALS_DIRECTORY", creds.path().c_str());
    Config c = ok("[store]\npath = \"${file:token}\"\n[audit]\npath = \"${file:" + dir_.file("abs") + "}\"\n");
    EXPECT_EQ(c.store.path, "from-credentials");
    EXPECT_EQ(c.audit.path, "absolute");
  }
  EXPECT_EQ(ok("[store]\npath = \"${file:token}\"\n").store.path, "next-to-config");
}

TEST_F(ConfigSecrets, FileErrors) {
  EXPECT_TRUE(fails(sink_with("http://h/${file:missing}"), 3, "sink[0].url", "${file:missing}: cannot open " + dir_.file("missing")));
  EXPECT_TRUE(fails(sink_with("http://h/${file:" + dir_.path() + "}"), 3, "sink[0].url", "cannot read"));  // a directory
  write_file(dir_.file("big"), std::string(64 * 1024 + 1, 'x'));
  EXPECT_TRUE(fails(sink_with("http://h/${file:big}"), 3, "sink[0].url", "is larger than 64KiB"));
  write_file(dir_.file("fits"), std::string(64 * 1024, 'x'));
  Config c = ok("[[source]]\nname = \"w\"\ntype = \"websocket\"\nurl = \"ws://h/\"\nsubscribe = \"${file:fits}\"\n");
  EXPECT_EQ(c.sources.at(0).subscribe.size(), 64u * 1024);
}

TEST_F(ConfigSecrets, ListItemsDurationsSizesAndChoices) {
  ScopedEnv src("BH_TEST_SRC", "orders"), iv("BH_TEST_IV", "45s"), sz("BH_TEST_SZ", "2MiB"), ov("BH_TEST_OV", "drop_oldest");
  Config c = ok("[store]\noverflow = \"${env:BH_TEST_OV}\"\nretention_bytes = \"${env:BH_TEST_SZ:-1GiB}\"\n"
                "[[source]]\nname = \"orders\"\ntype = \"http_poll\"\nurl = \"http://h/\"\ninterval = \"${env:BH_TEST_IV}\"\n"
                "[[sink]]\nname = \"t\"\nurl = \"http://h/\"\nsources = [\"ingest\", \"${env:BH_TEST_SRC}\"]\n");
  EXPECT_EQ(c.store.overflow, bh::Overflow::drop_oldest);
  EXPECT_EQ(c.store.retention_bytes, 2 * bh::cfg::MiB);
  EXPECT_EQ(c.sources[0].interval, Millis{45'000});
  EXPECT_EQ(c.sinks[0].sources, (bh::StringList{"ingest", "orders"}));
  std::string text = bh::render_config(c);
  for (std::string_view shown : {"overflow = \"${env:BH_TEST_OV}\"", "retention_bytes = \"${env:BH_TEST_SZ:-1GiB}\"",
                                 "interval = \"${env:BH_TEST_IV}\"", "sources = [\"ingest\", \"${env:BH_TEST_SRC}\"]"})
    EXPECT_NE(text.find(shown), std::string::npos) << shown << " in\n" << text;
  Config back = ok(reveal(text, c));  // references round-trip (the literal URLs are "***")
  back.origin = c.origin;
  EXPECT_EQ(back, c);
}

// An error about an expanded value shows the reference as written, never the value.
TEST_F(ConfigSecrets, ErrorsNeverShowTheValue) {
  const char* url = "ftp://secret-host.example/bot-secret-123456";
  ScopedEnv u("BH_TEST_URL", url), iv("BH_TEST_IV", "999999d"), bad("BH_TEST_BAD", "5 parsecs"), name("BH_TEST_NAME", "bad name!");
  EXPECT_TRUE(fails_quietly(sink_with("${env:BH_TEST_URL}"), 3, "sink[0].url",
                            "\"${env:BH_TEST_URL}\" (expanded) must start with http:// or https://", url));
  EXPECT_TRUE(fails_quietly("[[source]]\nname = \"a\"\ntype = \"websocket\"\nurl = \"${env:BH_TEST_URL}\"\n", 4, "source[0].url",
                            "\"${env:BH_TEST_URL}\" (expanded) must start with ws:// or wss://", url));
  EXPECT_TRUE(fails_quietly("[ingest]\nidle_timeout = \"${env:BH_TEST_IV}\"\n", 2, "ingest.idle_timeout",
                            "\"${env:BH_TEST_IV}\" (expanded) exceeds the maximum 1d", "999999"));
  EXPECT_TRUE(fails_quietly("[ingest]\nidle_timeout = \"${env:BH_TEST_BAD}\"\n", 2, "ingest.idle_timeout",
                            "bad duration \"${env:BH_TEST_BAD}\" (expanded)", "parsecs"));
  EXPECT_TRUE(fails_quietly("[store]\noverflow = \"${env:BH_TEST_BAD}\"\n", 2, "store.overflow",
                            "\"${env:BH_TEST_BAD}\" (expanded) is not allowed", "parsecs"));
  EXPECT_TRUE(fails_quietly("[ingest]\nlisten = \"${env:BH_TEST_BAD}\"\n", 2, "ingest.listen",
                            "\"${env:BH_TEST_BAD}\" (expanded) is not a listen address (expected", "parsecs"));
  EXPECT_TRUE(fails_quietly("[[sink]]\nname = \"${env:BH_TEST_NAME}\"\nurl = \"http://h/\"\n", 2, "sink[0].name",
                            "\"${env:BH_TEST_NAME}\" (expanded) may only contain", "bad name"));
  // A literal in a secret key: scheme and host only.
  EXPECT_TRUE(fails_quietly(sink_with("ftp://h.example/bot-secret-123456"), 3, "sink[0].url",
                            "\"ftp://h.example/***\" must start with http:// or https://", "bot-secret"));
}

TEST_F(ConfigSecrets, RenderShowsReferencesAndHidesSecretLiterals) {
  ScopedEnv tok("BH_TEST_TOKEN", kToken);
  write_file(dir_.file("hook"), "https://discord.example/api/webhooks/1/very-secret-hook\n");
  Config c = ok("[watchdog]\ndevice = \"/dev/watchdog1\"\n"
                "[[source]]\nname = \"feed\"\ntype = \"http_poll\"\nurl = \"https://api.example/q?apikey=literal-api-key-1\"\n"
                "client_cert = \"/etc/c.pem\"\nclient_key = \"/etc/secret-key.pem\"\n"
                "[[sink]]\nname = \"tg\"\nurl = \"https://api.telegram.org/bot${env:BH_TEST_TOKEN}/sendMessage\"\n"
                "[[sink]]\nname = \"discord\"\nurl = \"${file:hook}\"\n"
                "[[sink]]\nname = \"plain\"\nurl = \"http://127.0.0.1:9/literal-path-secret\"\n");
  std::string text = bh::render_config(c);
  for (std::string_view hidden : {std::string_view(kToken), std::string_view("very-secret-hook"), std::string_view("literal-api-key-1"),
                                   std::string_view("secret-key.pem"), std::string_view("literal-path-secret")})
    EXPECT_EQ(text.find(hidden), std::string::npos) << hidden << " shown in\n" << text;
  for (std::string_view shown : {"url = \"https://api.telegram.org/bot${env:BH_TEST_TOKEN}/sendMessage\"", "url = \"${file:hook}\"",
                                 "url = \"***\"", "client_key = \"***\"", "client_cert = \"/etc/c.pem\"", "device = \"/dev/watchdog1\""})
    EXPECT_NE(text.find(shown), std::string::npos) << shown << " not in\n" << text;
  // Empty secret keys are shown as they are.
  EXPECT_NE(text.find("client_key = \"\""), std::string::npos) << text;
  EXPECT_EQ(bh::literal_secret_keys(c),
            (std::vector<std::string>{"sink[2].url", "source[0].url", "source[0].client_key"}));
}

TEST_F(ConfigSecrets, CheckConfigWarnsAboutReadableLiteralSecrets) {
  ScopedEnv tok("BH_TEST_TOKEN", kToken);
  Config literal = ok(sink_with("https://api.telegram.org/bot123456:literal/sendMessage"));
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  auto w = bh::config_warnings(literal);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find(path_ + ": sink[0].url: holds a literal secret and the file is readable by others (mode 0644)"),
            std::string::npos) << w[0];
  EXPECT_EQ(w[0].find("literal/sendMessage"), std::string::npos) << w[0];
  ASSERT_EQ(::chmod(path_.c_str(), 0640), 0);
  ASSERT_EQ(bh::config_warnings(literal).size(), 1u);
  EXPECT_NE(bh::config_warnings(literal)[0].find("readable by its group (mode 0640)"), std::string::npos);
  ASSERT_EQ(::chmod(path_.c_str(), 0600), 0);
  EXPECT_TRUE(bh::config_warnings(literal).empty());
  // References in a readable file are fine.
  Config refs = ok(sink_with("https://api.telegram.org/bot${env:BH_TEST_TOKEN}/sendMessage"));
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  EXPECT_TRUE(bh::config_warnings(refs).empty());
  EXPECT_TRUE(bh::literal_secret_keys(refs).empty());
}

TEST_F(ConfigSecrets, AdminTokenIsASecretWithAShapeAndAScope) {
  ScopedEnv tok("BH_TEST_ADMIN_TOKEN", "admin-token-0123456789abcdef");
  Config c = ok("[admin]\ntoken = \"${env:BH_TEST_ADMIN_TOKEN}\"\ntoken_required_for = \"all\"\n");
  EXPECT_EQ(c.admin.token, "admin-token-0123456789abcdef");
  EXPECT_EQ(c.admin.token_required_for, "all");
  EXPECT_EQ(c.secret_values, std::vector<std::string>{"admin-token-0123456789abcdef"});
  std::string text = bh::render_config(c);
  EXPECT_NE(text.find("token = \"${env:BH_TEST_ADMIN_TOKEN}\""), std::string::npos) << text;
  EXPECT_EQ(text.find("admin-token-0123456789abcdef"), std::string::npos) << text;
  EXPECT_EQ(Config{}.admin.token_required_for, "mutations");
  EXPECT_TRUE(Config{}.admin.token.empty());
  // A literal token is never shown, and is a literal secret for check-config.
  Config literal = ok("[admin]\ntoken = \"literal-admin-token-42\"\n");
  EXPECT_EQ(bh::render_config(literal).find("literal-admin-token-42"), std::string::npos);
  EXPECT_EQ(bh::literal_secret_keys(literal), std::vector<std::string>{"admin.token"});
  // A token that could never be sent, or is too short to resist guessing: refused, never quoted.
  EXPECT_TRUE(fails_quietly("[admin]\ntoken = \"short-secret\"\n", 2, "admin.token", "shorter than 16", "short-secret"));
  EXPECT_TRUE(fails_quietly("[admin]\ntoken = \"spaced secret value 1\"\n", 2, "admin.token", "outside A-Z", "spaced secret"));
  EXPECT_TRUE(fails("[admin]\ntoken_required_for = \"reads\"\n", 2, "admin.token_required_for", "expected one of"));
}

TEST_F(ConfigSecrets, LiteralSecretValuesAreTheTokenAndCredentialHeaderValues) {
  ScopedEnv tok("BH_TEST_TOKEN", kToken);
  Config c = ok("[admin]\ntoken = \"literal-admin-token-42\"\n"
                "[[sink]]\nname = \"t\"\nurl = \"http://h/literal-url-part\"\nheaders = [\"Authorization: Bearer lit-bearer-1\", "
                "\"Content-Type: application/json\", \"X-Api-Key:  lit-key-2\", \"X-Ref-Token: ${env:BH_TEST_TOKEN}\"]\n");
  EXPECT_EQ(bh::literal_secret_values(c),
            (std::vector<std::string>{"literal-admin-token-42", "Bearer lit-bearer-1", "lit-bearer-1", "lit-key-2"}));
  ScopedEnv admin("BH_TEST_ADMIN_TOKEN", "admin-token-0123456789abcdef");
  EXPECT_TRUE(bh::literal_secret_values(ok("[admin]\ntoken = \"${env:BH_TEST_ADMIN_TOKEN}\"\n")).empty());
}

// (No literal secrets in these files: the listener warning is the only one whatever their mode.)
TEST_F(ConfigSecrets, CheckConfigWarnsAboutAnOpenAdminListenerWithoutAToken) {
  for (const char* listen : {"0.0.0.0:7701", "192.168.1.10:7701", "[::]:7701"}) {
    Config open = ok(std::string("[admin]\nlisten = \"") + listen + "\"\n");
    auto w = bh::config_warnings(open);
    ASSERT_EQ(w.size(), 1u) << listen;
    EXPECT_NE(w[0].find(path_ + ": admin.listen: " + listen + " is not a loopback address and neither admin.token nor admin.tls_client_ca is set"),
              std::string::npos) << w[0];
  }
  ScopedEnv tok("BH_TEST_ADMIN_TOKEN", "admin-token-0123456789abcdef");
  for (const std::string text : {"[admin]\nlisten = \"0.0.0.0:7701\"\ntoken = \"${env:BH_TEST_ADMIN_TOKEN}\"\n",
                                 "[admin]\nlisten = \"127.0.0.1:7701\"\n", "[admin]\nlisten = \"[::1]:7701\"\n",
                                 "[admin]\nlisten = \"0.0.0.0:7701\"\nenabled = false\n"}) {
    Config c = ok(text);
    EXPECT_TRUE(bh::config_warnings(c).empty()) << text;
  }
}

TEST(ConfigSecretsReference, MarkdownExplainsReferencesAndMarksSecrets) {
  std::string md = bh::config_reference_markdown();
  for (std::string_view must : {"${env:NAME}", "${env:NAME:-default}", "${file:PATH}", "$CREDENTIALS_DIRECTORY", "`$${`"})
    EXPECT_NE(md.find(must), std::string::npos) << must;
  std::size_t sink = md.find("## [[sink]]");
  std::size_t url = md.find("| `url` |", sink);
  ASSERT_NE(url, std::string::npos);
  EXPECT_NE(md.substr(url, md.find('\n', url) - url).find("**secret**"), std::string::npos);
}

// ---- websocket jobs: close_codes, [[source.reply]], split = "ics" --------------------------------

const std::string kWsSource = "[[source]]\nname = \"kick\"\ntype = \"websocket\"\nurl = \"wss://ws.example/app/k?protocol=7\"\n";

TEST_F(ConfigLoad, CloseCodesRepliesAndIcsSplit) {
  Config c = ok(kWsSource +
                "close_codes = [\"4000-4099=stop\", \"4200-4299=reconnect\"]\n"
                "\n[[source.reply]]\nwhen = '/event == \"pusher:ping\"'\nsend = '{\"event\":\"pusher:pong\",\"data\":{}}'\n"
                "\n[[source.reply]]\nwhen = 'starts_with(/event, \"pusher_internal:\")'\n"
                "\n[[source]]\nname = \"cal\"\ntype = \"http_poll\"\nurl = \"https://cal.example/a.ics\"\nsplit = \"ics\"\n");
  ASSERT_EQ(c.sources.size(), 2u);
  EXPECT_EQ(c.sources[0].close_codes, (bh::StringList{"4000-4099=stop", "4200-4299=reconnect"}));
  ASSERT_EQ(c.sources[0].reply.size(), 2u);
  EXPECT_EQ(c.sources[0].reply[0].when, "/event == \"pusher:ping\"");
  EXPECT_EQ(c.sources[0].reply[0].send, "{\"event\":\"pusher:pong\",\"data\":{}}");
  EXPECT_EQ(c.sources[0].reply[1].send, "");  // nothing sent: the message is only kept out
  EXPECT_TRUE(c.sources[1].reply.empty());
  EXPECT_EQ(c.sources[1].split, "ics");
  // Rendered and loaded again: the same config, replies after their source.
  std::string text = bh::render_config(c);
  EXPECT_NE(text.find("\n[[source.reply]]\nwhen = "), std::string::npos) << text;
  Config back = ok(reveal(text, c));  // the literal URLs are rendered "***"
  back.origin = c.origin;
  EXPECT_EQ(back, c) << text;
}

TEST_F(ConfigErrors, CloseCodesAndReplies) {
  EXPECT_TRUE(fails(kWsSource + "close_codes = [\"4000-4099=stop\", \"4100=later\"]\n", 5, "source[0].close_codes[1]",
                    "\"4100=later\" is not a close-code rule: the action is not"));
  EXPECT_TRUE(fails(kWsSource + "close_codes = [\"4099-4000=stop\"]\n", 5, "source[0].close_codes[0]",
                    "the range ends below its start"));
  std::string many = kWsSource + "close_codes = [";
  for (int i = 0; i < 17; ++i) many += "\"" + std::to_string(4000 + i) + "=stop\", ";
  EXPECT_TRUE(fails(many + "]\n", 5, "source[0].close_codes", "17 rules; at most 16 allowed"));
  EXPECT_TRUE(fails(kWsSource + "\n[[source.reply]]\nsend = \"x\"\n", 6, "source[0].reply[0].when", "missing required key"));
  EXPECT_TRUE(fails(kWsSource + "\n[[source.reply]]\nwhen = '/a == 1'\ncolour = 1\n", 8, "source[0].reply[0].colour",
                    "unknown key"));
  EXPECT_TRUE(fails(kWsSource + "reply = \"x\"\n", 5, "source[0].reply", "expected an array of tables"));
  std::string nine = kWsSource;
  for (int i = 0; i < 9; ++i) nine += "[[source.reply]]\nwhen = '/a == 1'\n";
  EXPECT_TRUE(fails(nine, 21, "source[0].reply[8]", "9 reply tables exceed the limit 8"));
  EXPECT_TRUE(fails(kWsSource + "\n[[source.reply]]\nwhen = '/a =='\n", 7, "source[0].reply[0].when",
                    "not a filter: column"));
  EXPECT_TRUE(fails(kWsSource + "\n[[source.reply]]\nwhen = '/a == 1'\nsend = '{{ /a | lowr }}'\n", 8,
                    "source[0].reply[0].send", "not a template: "));
  EXPECT_TRUE(fails("[[source]]\nname = \"p\"\ntype = \"http_poll\"\nurl = \"http://x\"\n[[source.reply]]\nwhen = '/a == 1'\n",
                    5, "source[0].reply", "only websocket sources reply"));
  // [[sink]] has no sub-arrays.
  EXPECT_TRUE(fails("[[sink]]\nname = \"a\"\nurl = \"http://x\"\n[[sink.reply]]\nwhen = '/a == 1'\n", 4, "sink[0].reply",
                    "unknown key"));
}

}  // namespace
