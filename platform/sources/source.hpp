// Source: what the pulled event sources (HTTP poll, WebSocket) share. A source owns its event ring
// (the bounded drop_oldest queue to the store), a pump task that submits queued events to the
// Committer and keeps their bytes until each commit is reported, a circuit breaker and backoff,
// its TLS policy and context, counters, and a connection loop that takes a `source_conn` pool slot
// per connection attempt and gives it back when the attempt ends (failure, backoff, pause, stop).
// Subclasses supply one session on a connected socket. Events enter at admission exactly like
// TCP ingest lines, with the source's name. Before an item is queued the source's jobs shape it
// (deliver()): `decode` replaces string fields holding JSON text by that JSON, `filter` drops
// items that do not match, `dedupe_key` drops items whose key is in the window
// (platform/sources/dedupe.hpp); each on a per-source parser and buffers sized at start-up. Resolving, connecting, TLS, timed I/O, the breaker
// and backoff are the source's Connector's (platform/transport/connector.hpp). Not a scheduler of
// many connections: one connection at a time per source. Reactor thread only.
#pragma once
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "platform/core/pool.hpp"
#include "platform/core/task.hpp"
#include "platform/ingest/json_check.hpp"
#include "platform/net/http.hpp"
#include "platform/net/websocket.hpp"
#include "platform/shape/filter.hpp"
#include "platform/sources/dedupe.hpp"
#include "platform/sources/event_ring.hpp"
#include "platform/sources/splitter.hpp"
#include "platform/store/committer.hpp"
#include "platform/transport/connector.hpp"

namespace bh {

// Compiled bounds (the budget checks them against its rows).
inline constexpr std::uint32_t kSourceMaxEventBytes = 64 * 1024;
inline constexpr std::uint32_t kMaxSourceConns = 8;

enum class SourceKind : std::uint8_t { http_poll, websocket, mqtt };

struct SourceOptions {
  std::string name;
  SourceKind kind = SourceKind::http_poll;
  std::string url;
  Clock::duration interval = std::chrono::seconds(60);
  Clock::duration connect_timeout = std::chrono::seconds(5);  // TCP, TLS, WebSocket handshake each
  Clock::duration read_timeout = std::chrono::seconds(10);
  Clock::duration response_timeout = std::chrono::seconds(30);  // http_poll: the whole response, however paced
  std::uint64_t max_response_bytes = 10ull << 20;
  std::uint32_t max_event_bytes = 16 * 1024;  // <= kSourceMaxEventBytes
  SplitMode split = SplitMode::whole;
  std::string subscribe;
  Clock::duration ping_interval = std::chrono::seconds(30);
  Clock::duration pong_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{60000};
  std::uint32_t queue = 500;
  BreakerOptions breaker;
  std::string ca_file;
  std::string client_cert;
  std::string client_key;
  bool tls_verify = true;
  Clock::duration dns_ttl = std::chrono::minutes(5);  // the host's addresses are kept at most this long
  // Jobs (issue #13), compiled by prepare().
  std::string select;                   // http_poll: JSON Pointer of the array to split ("" = the body)
  std::string filter;                   // filter expression ("" = keep all)
  std::vector<std::string> decode;      // pointers of string fields holding JSON text
  std::vector<std::string> dedupe_key;  // pointers of the key; ["/"] = the whole event; empty = off
  std::uint32_t dedupe_window = 10000;  // keys kept (the wiring caps it by the budget)
};


// The connection counters (connects, connect/TLS/DNS failures, read/write timeouts, io_errors,
// breaker rejections, deadlines) are the ConnectorStats base's.
struct SourceStats : ConnectorStats {
  // Events.
  std::uint64_t events = 0;            // committed to the store
  std::uint64_t queued = 0;            // accepted into the queue
  std::uint64_t dropped = 0;           // queue full: the oldest went (drop_oldest)
  std::uint64_t dropped_shutdown = 0;  // still queued when the store stopped admitting
  std::uint64_t too_large = 0;         // over max_event_bytes: not queued
  std::uint64_t bad_json = 0;          // split items that are not a JSON object: not queued
  std::uint64_t wrapped = 0;           // non-JSON bodies / text messages wrapped as a JSON string
  std::uint64_t store_busy = 0;        // admissions refused `busy` (retried, not lost)
  std::uint64_t store_errors = 0;      // commits that failed (those events are lost, counted)
  // Jobs.
  std::uint64_t select_failures = 0;   // http_poll: no array/object at `select`: the poll failed
  std::uint64_t decode_errors = 0;     // a `decode` field held a string that is not JSON text: kept as is
  std::uint64_t filtered = 0;          // items `filter` did not match: not stored
  std::uint64_t deduped = 0;           // items whose dedupe key was in the window: not stored
  std::uint64_t dedupe_evictions = 0;  // keys that left the full window (oldest first)
  std::uint64_t dedupe_no_key = 0;     // items with no value at any dedupe_key pointer: stored, not deduped
  // Connections (the failures are counted in ConnectorStats).
  std::uint64_t connected = 0;  // sessions that came up
  std::uint64_t tls_errors = 0;  // handshake or certificate failures (tls_handshake_errors + tls_verify_errors)
  std::uint64_t protocol_errors = 0;  // unparseable HTTP, failed WebSocket handshake
  std::uint64_t slot_refusals = 0;    // no source_conn slot
  // http_poll.
  std::uint64_t polls = 0;
  std::uint64_t http_errors = 0;          // answers other than 2xx / 304
  std::uint64_t not_modified = 0;         // 304, same ETag, or the same body again: no event
  std::uint64_t responses_too_large = 0;  // body over max_response_bytes
  std::uint64_t malformed = 0;            // split = json_array and the body is not an array
  int last_status = 0;
  // websocket.
  std::uint64_t messages = 0;          // text messages received
  std::uint64_t binary_dropped = 0;    // binary messages: counted and dropped
  std::uint64_t pings = 0;             // pings sent
  std::uint64_t pong_timeouts = 0;     // no pong within pong_timeout: reconnect
  std::uint64_t peer_closes = 0;       // close frames / EOF from the server
  std::uint64_t protocol_violations = 0;  // frames breaking RFC 6455: closed with 1002/1007/1009
  // websocket close codes (close_codes, platform/sources/close_codes.hpp) and replies.
  std::uint64_t closes_stop = 0;           // closes mapped to stop: the source stopped reconnecting
  std::uint64_t closes_reconnect = 0;      // closes mapped to reconnect (at once, or throttled)
  std::uint64_t closes_backoff = 0;        // closes mapped to backoff (and codes no rule names)
  std::uint64_t reconnects_throttled = 0;  // reconnect closes that waited the backoff: too many quick ones in a row
  std::uint64_t replies_sent = 0;          // [[source.reply]] messages sent
  std::uint64_t reply_errors = 0;          // replies that could not be rendered (missing field, too large)
  std::uint64_t protocol_messages = 0;     // messages that matched a reply's `when`: not stored
};

// One connection of a source: a `source_conn` pool slot, constructed per attempt, destroyed (socket
// closed) when the lease goes back.
class SourceConn {
 public:
  static constexpr std::size_t kReadBytes = 16 * 1024;
  static constexpr std::size_t kHeadBytes = 2 * 1024;

  SourceConn(Executor ex, std::uint64_t max_response_bytes, std::uint32_t max_event_bytes) noexcept
      : link(ex),
        parser(http::ParserOptions{.max_body_bytes = max_response_bytes}),
        reader(std::span<char>(event, max_event_bytes)) {}

  Link link;  // https/wss: bound to the source's TLS context while connected
  http::ResponseParser parser;
  ws::Reader reader;  // websocket: messages assemble in `event`
  char head[kHeadBytes];
  char ctrl[256];  // websocket control frames we send
  char rbuf[kReadBytes];
  // One event being cut (split item, whole body, WebSocket message), with the padding the JSON
  // check reads past its end.
  alignas(8) char event[kSourceMaxEventBytes + JsonCheck::kPadding];
};
using SourceConnPool = Pool<SourceConn, kMaxSourceConns>;

class Source : public CommitClient {
 public:
  enum class State : std::uint8_t { starting, connecting, running, backoff, paused, breaker_open, stopped };

  // `json` must be sized for max_event_bytes; `conns` is shared by every source.
  Source(TaskPoolBase& tasks, Committer& committer, JsonCheck& json, SourceConnPool& conns,
         SourceOptions opts) noexcept;
  virtual ~Source() = default;
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  // Start-up: parses the URL, resolves the host, loads TLS material and sets up the TLS context;
  // compiles the jobs' pointers and sizes their parser, buffers and dedupe window.
  // Errors: bad URL, resolution failure, tls_errc::config, a bad pointer (logged with the reason).
  std::error_code prepare();
  // Start-up: a key loaded from the store into the dedupe window (oldest first).
  void preload_key(const DedupeKey& k) noexcept {
    if (!window_.contains(k)) window_.insert(k);
  }
  bool dedupes() const noexcept { return window_.capacity() > 0; }
  bool filters() const noexcept { return !filter_.empty(); }
  bool decodes() const noexcept { return ndecode_ > 0; }
  const DedupeWindow& dedupe_window() const noexcept { return window_; }
  // Spawns the connection task and the pump. Errors: false if no task slot.
  bool start();
  // Shutdown: ends the connection (WebSocket: close handshake) and lets both tasks finish.
  void stop() noexcept;
  // Pause: the connection is closed (WebSocket: close handshake) and its slot returned; queued
  // events still go to the store. Resume: connects again at once, also a source the server told
  // to stop (Outcome::stop). Returns false if unchanged.
  bool set_paused(bool paused) noexcept;
  bool paused() const noexcept { return paused_; }
  // The connection task is live (false before start() and once it ended at shutdown).
  bool running() const noexcept { return run_live_; }

  const SourceOptions& options() const noexcept { return opts_; }
  std::string_view type_name() const noexcept {
    return opts_.kind == SourceKind::http_poll ? "http_poll" : opts_.kind == SourceKind::mqtt ? "mqtt" : "websocket";
  }
  State state() const noexcept { return state_; }
  const SourceStats& stats() const noexcept { return stats_; }
  const Breaker& breaker() const noexcept { return net_.breaker(); }
  const EventRing& ring() const noexcept { return ring_; }
  // The last failure, "" if none yet; and when (steady clock).
  std::string_view last_error() const noexcept { return {last_error_, last_error_len_}; }
  Clock::time_point last_error_at() const noexcept { return last_error_at_; }
  // When the peer last answered: a poll's response, a WebSocket handshake or text message
  // (steady clock; the epoch while it never has).
  Clock::time_point last_seen_at() const noexcept { return last_seen_at_; }

  void on_committed(std::uint32_t tag, std::uint64_t seq, errc result) noexcept override;

 protected:
  enum class Outcome : std::uint8_t {
    ok,      // poll answered: breaker success, next attempt after the interval
    failed,  // never got going: breaker failure, next attempt after backoff
    ended,   // a stream that was up ended (drop, pong timeout, violation): reconnect after backoff
    reconnect,  // a stream that was up ended and asked to come back at once: no wait
    stop,    // the server asked not to come back: no reconnect until the console resumes the source
  };
  // One session on the connected (and, for TLS, handshaken) connection `c`.
  virtual Task<Outcome> session(SourceConn& c) = 0;
  // Delay after an `ok` outcome.
  virtual Clock::duration after_ok() const noexcept { return opts_.interval; }

  // For sessions: the stream is up (breaker success, backoff reset, state running).
  void established() noexcept;
  // True when the session should end now (pause or stop); the connection is then interrupted.
  bool halted() const noexcept { return stopping_ || paused_ || cancelled(); }
  bool stopping() const noexcept { return stopping_; }
  // I/O with one deadline each, plain or TLS (the connector's). Cancellation (pause/stop) comes
  // back as errc::cancelled, timeouts as errc::timeout.
  Task<std::pair<std::error_code, std::size_t>> read_some(SourceConn& c, std::span<char> buf, Clock::duration d) {
    return net_.read_some(c.link, buf, d);
  }
  Task<std::error_code> write_all(SourceConn& c, std::string_view bytes, Clock::duration d) {
    return net_.write_all(c.link, bytes, d);
  }
  // The peer answered now (a WebSocket text message; established() notes polls and handshakes).
  void seen() noexcept { last_seen_at_ = Clock::now(); }
  // Counts an I/O failure of `what` ("read", "write") by its kind and records it.
  void note_io_failure(std::string_view what, std::error_code ec) noexcept;
  // Before handing more bytes to the cutter: waits (bounded) until no event is in flight and the
  // queue has room, so cutting never meets a blocked ring.
  Task<void> settle();
  // Waits at most `d` until every event queued so far has been reported by the store (committed
  // or failed: compare stats().events / store_errors / dropped before and after). False on
  // timeout, or on a halt unless `after_halt` (a session's goodbye; then only a cancel ends it).
  // For sources that acknowledge upstream only what is durable (MQTT).
  Task<bool> drained(Clock::duration d, bool after_halt = false);
  // One complete event cut from the stream. `bytes` lies in a SourceConn::event buffer (padding
  // after it). JSON objects are queued as they are; a split item that is not one is counted
  // (bad_json); anything else is wrapped as {"content_type":..,"body":"<text>"}.
  void deliver(std::string_view bytes, std::string_view content_type, bool split_item) noexcept;
  // Records the last error (and logs it once per distinct reason until the next success).
  template <typename... Args>
  void record_error(fmt::format_string<Args...> f, Args&&... args) noexcept {
    auto r = fmt::format_to_n(last_error_, sizeof last_error_, f, std::forward<Args>(args)...);
    last_error_len_ = std::min(r.size, sizeof last_error_);
    last_error_at_ = Clock::now();
    log_error_once();
  }
  // The same for bad data (oversized or non-JSON items): each distinct reason is logged once.
  template <typename... Args>
  void record_data_error(fmt::format_string<Args...> f, Args&&... args) noexcept {
    auto r = fmt::format_to_n(last_error_, sizeof last_error_, f, std::forward<Args>(args)...);
    last_error_len_ = std::min(r.size, sizeof last_error_);
    last_error_at_ = Clock::now();
    log_data_error_once();
  }
  // Draws a random 32-bit value (WebSocket keys and masks).
  std::uint32_t random32() noexcept;

  TaskPoolBase& tasks_;
  Committer& committer_;
  JsonCheck& json_;
  SourceConnPool& conns_;
  SourceOptions opts_;
  http::Url url_{};
  SourceStats stats_;
  char label_[80];  // "source <name>": breaker and log prefix
  Connector<1> net_;  // one connection at a time: one TLS context
  JsonPointer select_;  // http_poll: compiled `select` (empty: none)

 private:
  Task<void> run();
  Task<void> pump();
  Task<Outcome> attempt(SourceConn& c);
  Task<void> wait(Clock::duration d);
  void submit_queued() noexcept;
  void interrupt() noexcept;
  void log_error_once() noexcept;
  void log_data_error_once() noexcept;
  bool queue_event(std::string_view body, std::int64_t ts, const DedupeKey* key = nullptr) noexcept;
  // The jobs on one JSON object item: false if it is not valid JSON (the caller counts it).
  bool shape(std::string_view bytes, std::int64_t ts) noexcept;
  // `decode`: the item with its JSON-text string fields replaced, in scratch_.
  std::string_view decode(std::string_view bytes) noexcept;
  static void dropped_record(void* self, const EventRing::Record& r) noexcept;
  bool queue_wrapped(std::string_view body, std::string_view content_type, std::int64_t ts) noexcept;

  // Records a connect-phase failure the connector has logged (and counted) as the last error.
  void record_connect_failure(const ConnectError& e) noexcept;

  Notify wake_;       // the connection task: stop, pause, resume
  Notify pump_wake_;  // the pump: new events, stop
  Notify room_;       // a session in settle(): a commit was reported
  SourceConn* conn_ = nullptr;  // the live connection (interrupted on pause/stop)
  State state_ = State::starting;
  bool stopping_ = false;
  bool paused_ = false;
  bool told_to_stop_ = false;  // Outcome::stop: no reconnect until resumed
  bool run_live_ = false;
  bool pump_live_ = false;
  bool busy_ = false;  // the committer refused `busy`: retry soon
  std::uint32_t tag_ = 0;
  std::uint64_t rng_;
  std::uint64_t last_hash_ = 0;  // whole-body mode: the last body queued (unchanged => no event)
  bool logged_ = false;          // last_error_ was logged in this failure episode
  char logged_reason_[64] = {};
  std::size_t logged_len_ = 0;
  char data_reason_[64] = {};
  std::size_t data_reason_len_ = 0;
  char last_error_[160] = {};
  std::size_t last_error_len_ = 0;
  Clock::time_point last_error_at_{};
  Clock::time_point last_seen_at_{};
  // Jobs: compiled by prepare().
  std::array<JsonPointer, kMaxDecodePointers> decode_{};
  std::size_t ndecode_ = 0;
  bool jobs_ = false;                // decode, filter or dedupe: items go through shape()
  std::unique_ptr<char[]> scratch_;  // decode: [event | padding][unescaped text | padding]
  simdjson::dom::parser parser_;     // jobs: sized for max_event_bytes, warmed
  Filter filter_;                    // `filter` (platform/shape/filter.hpp); empty: keeps all
  DedupeKeyer keyer_;
  DedupeWindow window_;
  EventRing ring_;
};

std::string_view source_state_name(Source::State s) noexcept;

// `decode`: copies the JSON object `in` into the first half of `work` (two halves, each at least
// in.size() + JsonCheck::kPadding) with each field at `paths` that holds a string of JSON text (an
// object or array) replaced by that JSON; a field absent or not a string stays as it is; a string
// that is not JSON text stays too and sets bit i of `failed`. Returns the new length (0: `work`
// too small). `parser` checks each text (it must be sized for in.size()). No allocation.
std::size_t decode_json_strings(std::string_view in, std::span<const JsonPointer> paths, std::span<char> work,
                               simdjson::dom::parser& parser, std::uint32_t& failed) noexcept;

// Escapes `in` as the inside of a JSON string into `out` (nullptr: only measures). Bytes that are
// not valid UTF-8 become U+FFFD. Returns the escaped length.
std::size_t json_escape(std::string_view in, char* out) noexcept;

}  // namespace bh
