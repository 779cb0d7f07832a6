// Config: the TOML file read once at start-up into plain structs and checked against the compiled
// budget (firmware/budget.hpp). Every key is ONE row in the BH_CONFIG_* tables below (name, type,
// default, bounds, help); the structs, the loader, render_config (the `config` console command) and
// the generated reference docs all expand the same rows, in the manner of Redis `static_configs[]`.
// Not a live store: nothing re-reads the file at runtime, and config never raises a compiled capacity.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "firmware/budget.hpp"

namespace bh {

using Millis = std::chrono::milliseconds;
using StringList = std::vector<std::string>;

// What ingest does when the store's outbox is at store.max_pending.
enum class Overflow : std::uint8_t { reject, drop_oldest };
inline constexpr std::array<std::string_view, 2> kOverflowNames{"reject", "drop_oldest"};
// SQLite `PRAGMA synchronous` level: `full` survives power loss, `normal` survives a crash.
enum class SyncLevel : std::uint8_t { full, normal };
inline constexpr std::array<std::string_view, 2> kSyncLevelNames{"full", "normal"};

// The vocabulary of the key tables: what a row's `spec` column may say. A Spec is a constexpr
// builder: spec().sizes().range(64, 1 * MiB). Rows are only expanded inside config.cpp, with
// bh::cfg in scope, so the tables below use these names unqualified.
namespace cfg {

inline constexpr std::uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB, TiB = 1024 * GiB;
inline constexpr std::uint64_t kSecond = 1000, kMinute = 60 * kSecond, kHour = 60 * kMinute,
                               kDay = 24 * kHour;  // durations in the tables are milliseconds

inline constexpr std::array<std::string_view, 5> kLogLevels{"debug", "info", "warn", "error", "off"};
inline constexpr std::array<std::string_view, 3> kSourceTypes{"http_poll", "websocket", "mqtt"};
inline constexpr std::array<std::string_view, 4> kSplitModes{"", "ndjson", "json_array", "ics"};
inline constexpr std::array<std::string_view, 2> kSinkMethods{"POST", "PUT"};
inline constexpr std::array<std::string_view, 2> kSinkFormats{"envelope", "template"};
inline constexpr std::array<std::string_view, 2> kTokenScopes{"mutations", "all"};
inline constexpr std::array<std::string_view, 2> kSinkTypes{"http", "mqtt"};
inline constexpr std::array<std::string_view, 2> kMqttQos{"0", "1"};
inline constexpr std::array<std::string_view, 2> kClockSyncChecks{"off", "kernel"};

// Value checks beyond type and range.
enum class Check : std::uint8_t {
  none,
  listen,    // "host:port": numeric IPv4 or [IPv6] host, port 1..65535
  http_url,  // starts with http:// or https:// and names a host
  name,      // 1..64 of [A-Za-z0-9_.-] (sink and source names, used as console arguments)
  notify,    // "auto" ($NOTIFY_SOCKET if set), "off", or an absolute / "@abstract" socket path
  http_header,  // "Name: value": token name, no CR/LF/control bytes (platform/delivery/request_headers.hpp)
  close_rule,  // "LO-HI=stop|backoff|reconnect" (platform/sources/close_codes.hpp)
  bearer_token,  // empty, or 16..256 token68 characters (RFC 6750: A-Z a-z 0-9 - . _ ~ + /, then '='s)
};
// Where `max` comes from, for the error message when a value exceeds it.
enum class Cap : std::uint8_t { none, pool, limit };

struct Spec {
  std::uint64_t min = 0;                                       // integers, sizes, durations (ms)
  std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  double fmin = 0.0, fmax = 0.0;                               // floats
  bool size_strings = false;                                   // also "16KiB"-style strings
  bool required = false;                                       // key must be present
  bool implied = false;  // default follows another key; the embedded default leaves it commented out
  std::uint32_t max_len = 0;                                   // strings; 0 = unbounded
  Cap cap = Cap::none;
  std::string_view cap_name;                                   // pool name or budget constant
  std::span<const std::string_view> choices;                   // enums and string enums
  Check check = Check::none;
  // A secret by nature (URLs carrying tokens, keys, headers): render_config shows a literal value
  // as "***" (a ${env:…}/${file:…} reference as written), and check-config warns when such a
  // literal sits in a file that group or others can read.
  bool is_secret = false;

  constexpr Spec range(std::uint64_t lo, std::uint64_t hi) const { Spec s = *this; s.min = lo; s.max = hi; return s; }
  constexpr Spec at_least(std::uint64_t lo) const { Spec s = *this; s.min = lo; return s; }
  constexpr Spec frange(double lo, double hi) const { Spec s = *this; s.fmin = lo; s.fmax = hi; return s; }
  constexpr Spec sizes() const { Spec s = *this; s.size_strings = true; return s; }
  constexpr Spec req() const { Spec s = *this; s.required = true; return s; }
  constexpr Spec implied_default() const { Spec s = *this; s.implied = true; return s; }
  constexpr Spec len(std::uint32_t n) const { Spec s = *this; s.max_len = n; return s; }
  constexpr Spec with(Check c) const { Spec s = *this; s.check = c; return s; }
  constexpr Spec one_of(std::span<const std::string_view> c) const { Spec s = *this; s.choices = c; return s; }
  constexpr Spec secret() const { Spec s = *this; s.is_secret = true; return s; }
  // max = the compiled capacity of a budget pool.
  constexpr Spec pool(budget::PoolId id) const {
    Spec s = *this; s.max = budget::capacity(id); s.cap = Cap::pool; s.cap_name = budget::row(id).name; return s;
  }
  // max = another compiled limit from budget.hpp, named for the message.
  constexpr Spec limit(std::uint64_t hi, std::string_view name) const {
    Spec s = *this; s.max = hi; s.cap = Cap::limit; s.cap_name = name; return s;
  }
};
constexpr Spec spec() { return {}; }

}  // namespace cfg

// ---- The key tables. K(key, C++ type, default, spec, help). The key is the TOML name and the
// struct member. Type decides the TOML form: bool, std::string, integers (uint32/uint64; plus
// size strings with .sizes()), Millis (integer ms or "5s"), double, Overflow/SyncLevel (their
// names), StringList (array of strings). Adding a key is adding a row; nothing else changes.

#define BH_CONFIG_INGEST(K)                                                                       \
  K(listen, std::string, "127.0.0.1:7700", spec().with(Check::listen), "TCP ingest listen address: numeric IPv4 or [IPv6] host and port") \
  K(unix_socket, std::string, "", spec().len(107), "Unix socket path for ingest as well; empty = none") \
  K(max_event_bytes, std::uint32_t, 16 * cfg::KiB, spec().sizes().at_least(64).limit(budget::kMaxEventBytes, "budget::kMaxEventBytes"), "Longest event line; longer ones get `err too_large`") \
  K(idle_timeout, Millis, Millis{60'000}, spec().range(100, kDay), "Close an ingest connection idle this long") \
  K(max_connections, std::uint32_t, budget::capacity(budget::PoolId::ingest_conn), spec().at_least(1).pool(budget::PoolId::ingest_conn).implied_default(), "Concurrent ingest connections; defaults to the `[pools] ingest_conn` limit and may not exceed it") \
  K(line_timeout, Millis, Millis{10'000}, spec().range(100, kHour), "A line must end (its `\\n`) within this of its first byte, however slowly it trickles; else the connection is closed (counted `line_timeout`)") \
  K(tls_cert, std::string, "", spec().len(4096), "PEM certificate (then its chain) for TLS on the TCP listener; with tls_key turns TLS on (TLS 1.2, ECDHE + AEAD suites only); the Unix socket stays plain") \
  K(tls_key, std::string, "", spec().len(4096), "PEM private key for tls_cert (unencrypted); refused if readable by group or others") \
  K(tls_client_ca, std::string, "", spec().len(4096), "PEM CA bundle: every ingest client must present a certificate it signed (mutual TLS); its subject CN (else first SAN DNS name) is stored with each event as its identity") \
  K(handshake_timeout, Millis, Millis{10'000}, spec().range(100, 10 * kMinute), "With TLS: a connection's TLS handshake must complete within this of its accept; else it is closed (counted `handshake_timeout`)")

#define BH_CONFIG_STORE(K)                                                                        \
  K(path, std::string, "./var/bulkhead.db", spec().len(4096), "SQLite database file") \
  K(synchronous, SyncLevel, SyncLevel::full, spec().one_of(kSyncLevelNames), "`full` survives power loss, `normal` survives a process crash") \
  K(max_batch, std::uint32_t, 1024, spec().at_least(1).limit(budget::kMaxBatch, "budget::kMaxBatch"), "Most events committed in one transaction") \
  K(max_pending, std::uint64_t, 1'000'000, spec().range(1, 1'000'000'000), "Outbox cap: undelivered events kept before `overflow` applies") \
  K(overflow, Overflow, Overflow::reject, spec().one_of(kOverflowNames), "At `max_pending`: `reject` new events (`err busy`) or `drop_oldest` undelivered ones") \
  K(retention_age, Millis, Millis{7 * cfg::kDay}, spec().range(kMinute, 3650 * kDay), "Delete delivered events older than this") \
  K(retention_bytes, std::uint64_t, 1 * cfg::GiB, spec().sizes().range(1 * MiB, 16 * TiB), "Delete oldest delivered events when the database grows beyond this") \
  K(sqlite_heap_limit, std::uint64_t, 8 * cfg::MiB, spec().sizes().range(1 * MiB, 1 * GiB), "sqlite3_hard_heap_limit64; must be below watchdog.memory_budget") \
  K(cache_kib, std::uint32_t, 1024, spec().range(64, 1024 * 1024), "SQLite page cache in KiB (sinks read new rows from memory); must fit in sqlite_heap_limit") \
  K(checkpoint_thread, bool, true, spec(), "Copy the WAL into the database on a thread of its own instead of inside commits (SQLite's auto-checkpoint); see docs/architecture.md") \
  K(checkpoint_pages, std::uint32_t, 256, spec().range(16, 1'000'000), "WAL pages (4 KiB) that start a checkpoint: the checkpointer thread's trigger, or SQLite's auto-checkpoint inside a commit") \
  K(sync_thread, bool, true, spec(), "With synchronous = \"full\": fsync the WAL on a thread of its own while the reactor gathers the next batch (acks wait for it); false: SQLite syncs inside each commit; see docs/architecture.md") \
  K(commit_window, Millis, Millis{0}, spec().range(0, 10'000), "How long a batch waits for more events before its commit and fsync (0 = commit every reactor turn); fewer flash writes per event for up to this much ack latency (lines pipelined on a connection meanwhile join the waiting batch): 50ms-1s on SD cards") \
  K(ack_log, bool, false, spec(), "With synchronous = \"full\" and the sync thread: make small batches durable in a block-aligned log next to the database (one 4 KiB flash block per fsync) and commit them to SQLite every 30 s at most (other connections see them then): about half the flash writes per event at low rates; see docs/architecture.md")

#define BH_CONFIG_AUDIT(K)                                                                        \
  K(enabled, bool, true, spec(), "Write the audit log") \
  K(path, std::string, "./var/audit.log", spec().len(4096), "Audit log file") \
  K(rotate_bytes, std::uint64_t, 64 * cfg::MiB, spec().sizes().range(64 * KiB, 64 * GiB), "Rotate the audit log at this size") \
  K(keep, std::uint32_t, 5, spec().range(1, 100), "Rotated audit files kept")

#define BH_CONFIG_SINK(K)                                                                         \
  K(name, std::string, "", spec().req().with(Check::name), "Sink name (required, unique)") \
  K(url, std::string, "", spec().req().len(2048).secret(), "Endpoint, http:// or https:// (required); with type = \"mqtt\", mqtt://host[:port] (1883) or mqtts://host[:port] (8883)") \
  K(sources, StringList, {}, spec().with(Check::name), "Sources routed to this sink (`ingest` is the TCP/HTTP ingest source); empty = all") \
  K(batch_events, std::uint32_t, 1000, spec().range(1, 100'000), "Most events per POST") \
  K(batch_bytes, std::uint64_t, 1 * cfg::MiB, spec().sizes().range(1 * KiB, 64 * MiB), "Most bytes per POST body") \
  K(max_connections, std::uint32_t, 2, spec().at_least(1).limit(budget::kSinkConnsPerSink, "budget::kSinkConnsPerSink"), "Connections to this sink; all sinks together share `[pools] sink_conn`") \
  K(connect_timeout, Millis, Millis{5'000}, spec().range(100, 10 * kMinute), "TCP + TLS connect timeout") \
  K(write_timeout, Millis, Millis{10'000}, spec().range(100, 10 * kMinute), "Request write timeout") \
  K(read_timeout, Millis, Millis{10'000}, spec().range(100, 10 * kMinute), "Response read timeout") \
  K(pool_timeout, Millis, Millis{5'000}, spec().range(100, 10 * kMinute), "Wait for a free connection slot") \
  K(backoff_base, Millis, Millis{100}, spec().range(1, 10 * kMinute), "First retry delay (exponential, with jitter)") \
  K(backoff_cap, Millis, Millis{30'000}, spec().range(1, kDay), "Longest retry delay; at least backoff_base") \
  K(max_response_bytes, std::uint64_t, 64 * cfg::KiB, spec().sizes().range(1 * KiB, 16 * MiB), "Longest response read from the sink") \
  K(breaker_failures, std::uint32_t, 5, spec().range(1, 1000), "Consecutive failures that open the circuit breaker") \
  K(breaker_recovery, Millis, Millis{30'000}, spec().range(100, kDay), "Open breaker half-opens after this") \
  K(breaker_probes, std::uint32_t, 1, spec().at_least(1).limit(budget::kSinkConnsPerSink, "budget::kSinkConnsPerSink"), "Requests let through when half-open; at most max_connections") \
  K(ca_file, std::string, "", spec().len(4096), "CA bundle (PEM); empty = the system bundle") \
  K(client_cert, std::string, "", spec().len(4096), "Client certificate (PEM) for mutual TLS; needs client_key") \
  K(client_key, std::string, "", spec().len(4096).secret(), "Client private key (PEM); needs client_cert") \
  K(tls_verify, bool, true, spec(), "Verify the server certificate and host name") \
  K(dns_ttl, Millis, Millis{300'000}, spec().range(0, kDay), "Re-resolve the host after this (0 = on every connect)") \
  K(method, std::string, "POST", spec().one_of(kSinkMethods), "HTTP method of every request: `POST` or `PUT`") \
  K(headers, StringList, {}, spec().with(Check::http_header).secret(), "Request header lines `\"Name: value\"` sent on every request (at most 16, 1 KiB in all; values are never logged); a `Content-Type` here replaces the format's") \
  K(format, std::string, "envelope", spec().one_of(kSinkFormats), "`envelope`: batches of NDJSON envelopes; `template`: one request per event, its body rendered from `body` (`Content-Type: application/json`)") \
  K(body, std::string, "", spec().len(64 * KiB), "With format = \"template\": the JSON request body, with `{{ /pointer | formatter }}` placeholders filled from the event") \
  K(filter, std::string, "", spec().len(4 * KiB), "Deliver only the events that match this filter expression; the others are skipped (counted); empty = every event") \
  K(rate_limit, std::uint32_t, 0, spec().range(0, 1'000'000), "Most requests per `rate_interval` (resends included): a token bucket of this many; 0 = no limit") \
  K(rate_interval, Millis, Millis{1'000}, spec().range(1, kDay), "The interval of `rate_limit`") \
  K(max_retry_after, Millis, Millis{cfg::kHour}, spec().range(kSecond, kDay), "Longest wait granted when a 429 (or a 503) names a retry time (Retry-After, JSON `retry_after`)") \
  K(response_timeout, Millis, Millis{30'000}, spec().range(100, kHour), "The whole response (status line, headers, body) must arrive within this of the request being sent, however slowly the server trickles it; else the attempt fails as a timeout and is retried") \
  K(type, std::string, "http", spec().one_of(kSinkTypes), "`http` (the default): HTTP requests; `mqtt`: one MQTT 3.1.1 PUBLISH per event to a broker, persistent session") \
  K(topic, std::string, "", spec().len(1024), "mqtt: the topic, a text template over the envelope (`site/{{/source}}/events`, `{{/data/room}}`); required with type = \"mqtt\"") \
  K(qos, std::string, "1", spec().one_of(kMqttQos), "mqtt: `1` (the default): the cursor moves only over PUBACKed events; `0`: fire and forget") \
  K(client_id, std::string, "", spec().len(256), "mqtt: the session's client id (fixed: the broker keeps the session); empty = `bulkhead-<name>`") \
  K(username, std::string, "", spec().len(1024).secret(), "mqtt: user name; empty = none") \
  K(password, std::string, "", spec().len(1024).secret(), "mqtt: password (use `${env:...}` or `${file:...}`); needs username") \
  K(max_inflight, std::uint32_t, 20, spec().at_least(1).limit(budget::kMqttMaxInflight, "budget::kMqttMaxInflight"), "mqtt: most PUBLISHes awaiting their PUBACK") \
  K(keep_alive, Millis, Millis{60'000}, spec().range(kSecond, 65535 * kSecond), "mqtt: the session's keep-alive; a PINGREQ after half of it without a write, its PINGRESP within read_timeout")

#define BH_CONFIG_SOURCE(K)                                                                       \
  K(name, std::string, "", spec().req().with(Check::name), "Source name (required, unique, not `ingest`)") \
  K(type, std::string, "", spec().req().one_of(kSourceTypes), "`http_poll`, `websocket` or `mqtt` (required)") \
  K(url, std::string, "", spec().req().len(2048).secret(), "http(s):// for http_poll, ws(s):// for websocket, mqtt(s):// for mqtt (required)") \
  K(interval, Millis, Millis{60'000}, spec().range(100, kDay), "http_poll: time between polls") \
  K(connect_timeout, Millis, Millis{5'000}, spec().range(100, 10 * kMinute), "TCP + TLS (+ WebSocket handshake) timeout") \
  K(read_timeout, Millis, Millis{10'000}, spec().range(100, 10 * kMinute), "Response / frame read timeout") \
  K(max_response_bytes, std::uint64_t, 10 * cfg::MiB, spec().sizes().range(1 * KiB, 256 * MiB), "http_poll: longest response body") \
  K(max_event_bytes, std::uint32_t, 16 * cfg::KiB, spec().sizes().at_least(64).limit(budget::kMaxEventBytes, "budget::kMaxEventBytes"), "Longest single event (message or split item)") \
  K(split, std::string, "", spec().one_of(kSplitModes), "How a response splits into events: empty = the whole response is one event, `ndjson`, `json_array`, `ics` (one JSON object per VEVENT of an iCalendar feed)") \
  K(subscribe, std::string, "", spec().len(64 * 1024), "websocket: message sent after connecting; empty = none") \
  K(ping_interval, Millis, Millis{30'000}, spec().range(kSecond, kHour), "websocket: ping period") \
  K(pong_timeout, Millis, Millis{10'000}, spec().range(100, 10 * kMinute), "websocket: reconnect if no pong within this") \
  K(backoff_base, Millis, Millis{1'000}, spec().range(1, 10 * kMinute), "First reconnect delay (exponential, with jitter)") \
  K(backoff_cap, Millis, Millis{60'000}, spec().range(1, kDay), "Longest reconnect delay; at least backoff_base") \
  K(queue, std::uint32_t, 500, spec().range(1, 100'000), "Events buffered between the source and the store") \
  K(breaker_failures, std::uint32_t, 5, spec().range(1, 1000), "Consecutive failures that open the circuit breaker") \
  K(breaker_recovery, Millis, Millis{30'000}, spec().range(100, kDay), "Open breaker half-opens after this") \
  K(ca_file, std::string, "", spec().len(4096), "CA bundle (PEM); empty = the system bundle") \
  K(client_cert, std::string, "", spec().len(4096), "Client certificate (PEM) for mutual TLS; needs client_key") \
  K(client_key, std::string, "", spec().len(4096).secret(), "Client private key (PEM); needs client_cert") \
  K(tls_verify, bool, true, spec(), "Verify the server certificate and host name") \
  K(dns_ttl, Millis, Millis{300'000}, spec().range(0, kDay), "Re-resolve the host after this (0 = on every connect)") \
  K(select, std::string, "", spec().len(256), "http_poll: JSON Pointer of the array whose elements are the events (`/result`), or of one object; a response without an array or object there is a failed poll (counted, backoff, no event); implies `split = \"json_array\"`") \
  K(decode, StringList, {}, spec().len(256), "JSON Pointers of string fields holding JSON text (Pusher's `/data`): replaced by that JSON; a string that is not JSON text is kept as is (counted)") \
  K(filter, std::string, "", spec().len(4096), "Filter expression: items that do not match are not stored (counted); empty = keep all") \
  K(dedupe_key, StringList, {}, spec().len(256), "JSON Pointers whose values make an item's dedupe key; `[\"/\"]` = the whole event; empty = no dedupe") \
  K(dedupe_window, std::uint32_t, 10'000, spec().at_least(1).limit(budget::kMaxDedupeWindow, "budget::kMaxDedupeWindow"), "Dedupe keys remembered (and persisted) per source; when full the oldest go (counted)") \
  K(close_codes, StringList, {}, spec().with(Check::close_rule), "websocket: what a server's close code does, rules \"LO-HI=stop\" / \"=backoff\" / \"=reconnect\", first match wins (at most 16); empty = 4000-4099 stop, 4100-4199 backoff, 4200-4299 reconnect, others backoff") \
  K(response_timeout, Millis, Millis{30'000}, spec().range(100, kHour), "http_poll: the whole response (status line, headers, body) must arrive within this, however slowly the server trickles it; else the poll fails as a timeout") \
  K(topics, StringList, {}, spec().len(1024), "mqtt: topic filters subscribed to (`site/+/events`, `alarms/#`; at most 16); required with type = \"mqtt\"") \
  K(qos, std::string, "1", spec().one_of(kMqttQos), "mqtt: the subscription's QoS: `1` (the default): each message is acknowledged only once it is in the store; `0`: at most once") \
  K(client_id, std::string, "", spec().len(256), "mqtt: the session's client id (fixed: the broker keeps the session and its messages while bulkhead is away); empty = `bulkhead-<name>`") \
  K(username, std::string, "", spec().len(1024).secret(), "mqtt: user name; empty = none") \
  K(password, std::string, "", spec().len(1024).secret(), "mqtt: password (use `${env:...}` or `${file:...}`); needs username")

// A sub-array of [[source]]: `[[source.reply]]` tables after a [[source]] belong to it.
#define BH_CONFIG_SOURCE_REPLY(K)                                                                 \
  K(when, std::string, "", spec().req().len(4096), "Filter expression on an incoming message (required); a message that matches gets `send` back and is not stored") \
  K(send, std::string, "", spec().len(4096), "Text sent back, a text template (`{{ /ptr }}` placeholders); empty = send nothing, only keep the message out of the store")

#define BH_CONFIG_ADMIN(K)                                                                        \
  K(enabled, bool, true, spec(), "Serve the admin HTTP API (/healthz, /metrics, /v1/events)") \
  K(listen, std::string, "127.0.0.1:7701", spec().with(Check::listen), "Admin listen address: numeric IPv4 or [IPv6] host and port") \
  K(max_body_bytes, std::uint64_t, 1 * cfg::MiB, spec().sizes().range(1 * KiB, 64 * MiB), "Largest request body") \
  K(timeout, Millis, Millis{10'000}, spec().range(100, 10 * kMinute), "Per-request timeout") \
  K(token, std::string, "", spec().len(256).with(Check::bearer_token).secret(), "Bearer token the admin API requires (`Authorization: Bearer <token>`), normally `\"${file:PATH}\"` or `\"${env:NAME}\"`; a wrong or missing one gets 401, repeated failures from one address 429; empty = no token") \
  K(token_required_for, std::string, "mutations", spec().one_of(kTokenScopes), "With a token: `mutations` = every request but GET/HEAD (POST /v1/events, /v1/dlq/replay, /v1/dlq/purge...); `all` = every request, /metrics and /healthz too") \
  K(header_timeout, Millis, Millis{10'000}, spec().range(100, 10 * kMinute), "A request head (request line and headers) must be complete within this of its first byte; else `408` and the connection closes. `timeout` bounds the whole request and a keep-alive connection's idle time") \
  K(tls_cert, std::string, "", spec().len(4096), "PEM certificate (then its chain) for HTTPS on the admin listener; with tls_key turns TLS on (TLS 1.2, ECDHE + AEAD suites only)") \
  K(tls_key, std::string, "", spec().len(4096), "PEM private key for tls_cert (unencrypted); refused if readable by group or others") \
  K(tls_client_ca, std::string, "", spec().len(4096), "PEM CA bundle: every admin client must present a certificate it signed (mutual TLS); its subject CN (else first SAN DNS name) is stored with each event it posts as its identity") \
  K(handshake_timeout, Millis, Millis{10'000}, spec().range(100, 10 * kMinute), "With TLS: a connection's TLS handshake must complete within this of its accept; else it is closed (counted `handshake_timeout`)")

#define BH_CONFIG_CONSOLE(K)                                                                      \
  K(socket, std::string, "./var/bulkhead.sock", spec().len(107), "Control Unix socket; empty = none") \
  K(serial, std::string, "", spec().len(4096), "Serial device for the console; empty = none") \
  K(baud, std::uint32_t, 115'200, spec().range(300, 4'000'000), "Serial line speed") \
  K(pty, bool, false, spec(), "Open a PTY for the console and log its path") \
  K(stdio, bool, false, spec(), "Console on stdin/stdout") \
  K(max_line, std::uint32_t, 512, spec().range(64, 4096), "Longest command line") \
  K(idle_timeout, Millis, Millis{600'000}, spec().range(100, kDay), "Close a control-socket session with no command for this long (PTY, serial and stdio sessions never time out)") \
  K(line_timeout, Millis, Millis{30'000}, spec().range(100, kHour), "A control-socket command line must be complete within this of its first byte; else the session closes")

#define BH_CONFIG_WATCHDOG(K)                                                                     \
  K(period, Millis, Millis{1'000}, spec().range(10, kMinute), "How often the checks run and the watchdog is fed") \
  K(grace, Millis, Millis{10'000}, spec().range(0, 10 * kMinute), "How long a check may fail before feeding stops") \
  K(warn_ratio, double, 0.8, spec().frange(0.1, 1.0), "Warn when a pool or budget reaches this fraction") \
  K(loop_lag, Millis, Millis{250}, spec().range(1, kMinute), "Event-loop lag that fails the health check") \
  K(device, std::string, "", spec().len(4096), "Hardware watchdog device (e.g. /dev/watchdog); empty = none") \
  K(timeout, Millis, Millis{15'000}, spec().range(kSecond, 10 * kMinute), "Hardware watchdog timeout; longer than period") \
  K(memory_budget, std::uint64_t, 32 * cfg::MiB, spec().sizes().range(4 * MiB, 1 * TiB), "RSS above this fails the health check") \
  K(notify, std::string, "auto", spec().len(107).with(Check::notify), "sd_notify socket: `auto` ($NOTIFY_SOCKET if set), `off`, or a path")

#define BH_CONFIG_RUNTIME(K)                                                                      \
  K(shutdown_grace, Millis, Millis{5'000}, spec().range(0, 10 * kMinute), "Drain time on shutdown before connections are cut") \
  K(log_level, std::string, "info", spec().one_of(kLogLevels), "Initial log level (the console's `log level` changes it)")

#define BH_CONFIG_CLOCK(K)                                                                        \
  K(sync_check, std::string, "off", spec().one_of(kClockSyncChecks), "`kernel`: ask adjtimex whether the wall clock is synchronised (NTP); events stamped while it is not are stored and delivered with \"clock_synced\":false. `off`: unchecked (some VMs report unsynchronised although right)")

#define BH_CONFIG_MEMBER(key, type, def, sp, help) type key = def;

struct IngestConfig { BH_CONFIG_INGEST(BH_CONFIG_MEMBER) bool operator==(const IngestConfig&) const = default; };
struct StoreConfig { BH_CONFIG_STORE(BH_CONFIG_MEMBER) bool operator==(const StoreConfig&) const = default; };
struct AuditConfig { BH_CONFIG_AUDIT(BH_CONFIG_MEMBER) bool operator==(const AuditConfig&) const = default; };
struct SinkConfig { BH_CONFIG_SINK(BH_CONFIG_MEMBER) bool operator==(const SinkConfig&) const = default; };
struct SourceReplyConfig { BH_CONFIG_SOURCE_REPLY(BH_CONFIG_MEMBER) bool operator==(const SourceReplyConfig&) const = default; };
struct SourceConfig {
  BH_CONFIG_SOURCE(BH_CONFIG_MEMBER)
  std::vector<SourceReplyConfig> reply;  // [[source.reply]], at most kMaxSourceReplies
  bool operator==(const SourceConfig&) const = default;
};
inline constexpr std::size_t kMaxSourceReplies = 8;
struct AdminConfig { BH_CONFIG_ADMIN(BH_CONFIG_MEMBER) bool operator==(const AdminConfig&) const = default; };
struct ConsoleConfig { BH_CONFIG_CONSOLE(BH_CONFIG_MEMBER) bool operator==(const ConsoleConfig&) const = default; };
struct WatchdogConfig { BH_CONFIG_WATCHDOG(BH_CONFIG_MEMBER) bool operator==(const WatchdogConfig&) const = default; };
struct RuntimeConfig { BH_CONFIG_RUNTIME(BH_CONFIG_MEMBER) bool operator==(const RuntimeConfig&) const = default; };
struct ClockConfig { BH_CONFIG_CLOCK(BH_CONFIG_MEMBER) bool operator==(const ClockConfig&) const = default; };

#undef BH_CONFIG_MEMBER

using PoolLimits = std::array<std::uint32_t, budget::kPools.size()>;

constexpr PoolLimits compiled_pool_limits() {
  PoolLimits l{};
  for (std::size_t i = 0; i < budget::kPools.size(); ++i) l[i] = budget::kPools[i].capacity;
  return l;
}

// A string value written with references (`${env:NAME}`, `${env:NAME:-default}`, `${file:PATH}`):
// the key it sits under and its text as written. render_config shows `text`, never the value.
struct ConfigReference {
  std::string key;   // as in ConfigError::key: "sink[0].url", "sink[0].sources[1]"
  std::string text;  // as written, e.g. "https://api.telegram.org/bot${env:TELEGRAM_BOT_TOKEN}/sendMessage"
  bool operator==(const ConfigReference&) const = default;
};

struct Config {
  IngestConfig ingest;
  StoreConfig store;
  AuditConfig audit;
  std::vector<SinkConfig> sinks;      // at most budget::kMaxSinks
  std::vector<SourceConfig> sources;  // at most budget::kMaxSources; "ingest" is implicit
  AdminConfig admin;
  ConsoleConfig console;
  WatchdogConfig watchdog;
  RuntimeConfig runtime;
  ClockConfig clock;
  PoolLimits pool_limits = compiled_pool_limits();  // [pools]: 1..capacity, indexed like kPools
  std::string origin;  // file path, or kEmbeddedOrigin
  // Every value that came from an expansion, by key (see ConfigReference).
  std::vector<ConfigReference> references;
  // The values those references produced from the environment or a file (not `:-` defaults, which
  // are written in the file): secrets, registered at start-up with platform/util/redact.hpp so the
  // log writer scrubs them. Never rendered.
  std::vector<std::string> secret_values;

  // The configured limit of a pool (≤ its compiled capacity); 0 for an unknown pool name.
  std::uint32_t pool_limit(std::string_view pool_name) const;
  std::uint32_t pool_limit(budget::PoolId id) const { return pool_limits[static_cast<std::size_t>(id)]; }

  bool operator==(const Config&) const = default;
};

inline constexpr std::string_view kEmbeddedOrigin = "<embedded default>";
// The name of the TCP/HTTP ingest source; it always exists and no [[source]] may take it.
inline constexpr std::string_view kIngestSourceName = "ingest";

struct ConfigError {
  std::string file;        // path or origin
  std::uint32_t line = 0;  // 1-based; 0 = no position (e.g. the file could not be read)
  std::uint32_t column = 0;
  std::string key;         // dotted: "store.overflow", "sink[1].batch_events" (0-based index)
  std::string message;
  // "FILE:LINE:COL: KEY: message" (position and key left out when absent).
  std::string to_string() const;
};

// Reads and validates a config file. Returns the config or the FIRST error (the earliest in the
// file for per-key errors; cross-key rules are checked after every key is valid). Never throws.
// Errors: file unreadable, TOML syntax, unknown section/key/pool, wrong type, out of range,
// value not one of the allowed names, a limit above a compiled capacity, missing required keys,
// duplicate names, bad URL scheme, bad listen address, unknown sink source, a bad reference.
//
// References: every TOML string value (list items too, and duration/size strings) is expanded at
// load, left to right:
//   ${env:NAME}            the environment variable NAME ([A-Za-z_][A-Za-z0-9_]*); unset is an error
//   ${env:NAME:-DEFAULT}   NAME, or DEFAULT (any text without '}') when NAME is unset or empty
//   ${file:PATH}           the file's content, trailing '\n'/'\r' stripped, at most 64 KiB; a relative
//                          PATH is in $CREDENTIALS_DIRECTORY when set (systemd LoadCredential=), else
//                          next to the config file
//   $${                    a literal "${"; any other '$' is literal
// A reference ends at the first '}' and does not nest. Errors (unset variable, unreadable file,
// unterminated "${", unknown provider, bad name) name the reference, never a value; an error
// about an expanded value shows the text as written. Integer, float and boolean keys take no
// strings, so no references.
std::variant<Config, ConfigError> load_config_file(const std::string& path);
// As load_config_file, from text; `origin` names it in errors and in Config::origin.
std::variant<Config, ConfigError> load_config_string(std::string_view toml, std::string_view origin);

// The embedded default config: commented TOML (every key with its help), valid, and it loads to
// Config{} (origin aside). Example [[sink]] / [[source]] blocks are commented out.
std::string_view default_config_toml();

// The effective config as TOML text, every key of every section (the `config` console command).
// A value that came from a reference is shown as written ("${env:TELEGRAM_BOT_TOKEN}"); a literal
// value in a secret key (Spec::is_secret) is shown as "***"; a literal "${" is written "$${".
// Notes: loading the output gives back an equal Config (origin aside) unless a secret key holds a
// literal value.
std::string render_config(const Config& c);

// The keys of secret keys (Spec::is_secret) that hold a non-empty literal value, not a reference:
// "sink[0].url", "sink[1].headers[0]". In file order of sections and rows.
std::vector<std::string> literal_secret_keys(const Config& c);

// Literal secrets the log scrubber can hold whole (registered with Config::secret_values at
// start-up): admin.token, and the value of a literal sink header line named like a credential
// (Authorization, Proxy-Authorization, Cookie, or a name holding "token", "key", "secret",
// "auth" or "pass"; not Content-Type and the like, whose values are common words). The secret part
// of a literal URL cannot be told apart, so URLs are not here: write them with references.
std::vector<std::string> literal_secret_values(const Config& c);

// `check-config` warnings, one line each ("FILE: KEY: ..."): the admin listener on a non-loopback
// address without admin.token or admin.tls_client_ca; ingest on one without ingest.tls_client_ca;
// a literal value in a secret key while the file (c.origin) is readable by group or others
// (mode & 077; not checked when the file cannot be stat'ed).
std::vector<std::string> config_warnings(const Config& c);

// The configuration reference in Markdown (every key: type, default, bounds, meaning), generated
// from the key tables; docs/configuration.md is this text.
std::string config_reference_markdown();

// Every key as "section.key" ("sink.url", "pools.ingest_conn"), in table order.
std::vector<std::string> config_keys();

// Value syntax shared with the console. parse_duration: "250ms", "5s", "2m", "1h", "7d".
// parse_size: "512", "512B", "16KiB", "10MiB", "1GiB", "1TiB", and "16KB"/"10MB"/"1GB"/"1TB" as
// powers of 1000. Both return false on a bad number, a bad unit, or overflow.
bool parse_duration(std::string_view s, Millis& out);
bool parse_size(std::string_view s, std::uint64_t& out);
// The shortest exact form: 604800000 ms -> "7d", 250 -> "250ms"; 16384 -> "16KiB", 1000 -> "1000".
std::string format_duration(Millis d);
std::string format_size(std::uint64_t bytes);

}  // namespace bh
