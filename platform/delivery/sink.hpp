// Sink: delivery of committed events to one HTTP endpoint (docs/wire.md §2). One task per sink reads
// pending events in seq order behind the sink's cursor and sends them over keep-alive connections
// taken from the sink's own pool, in one of two shapes (`format`): `envelope` (the default) POSTs a
// batch of NDJSON envelopes; `template` sends one request per event whose body is the sink's
// Template rendered from the event's JSON. Then: 2xx advances the cursor; 408/5xx, timeouts and
// connection errors retry the SAME request after a jittered backoff (so order holds) and feed the
// circuit breaker; a 429 (or a 503 with Retry-After) is the server asking for a pause: the sink
// waits what it asked (Retry-After seconds or HTTP-date, a JSON body's retry_after or
// parameters.retry_after; platform/delivery/retry_after.hpp), at most max_retry_after, and resends
// the same request, without a breaker failure; any other 4xx moves the batch to the dead-letter
// table. Events the sink's `filter` refuses are skipped (counted) and the cursor passes them; an
// event the template cannot render is dead-lettered alone with the reason. A `rate_limit` paces
// requests (platform/delivery/rate_limit.hpp). Interim 1xx answers are skipped (RFC 9110 §15.2;
// past 8 of them, or a 101, it is a protocol error). Replays of dead letters go first. https://
// runs the same exchange over TLS (platform/net/tls.hpp): each connection slot has its own TLS
// context, set up at start-up and reset per connection; a failed handshake is a connection error
// like any other. Resolving, connecting, TLS, timed I/O, the breaker and backoff are the sink's
// Connector's (platform/transport/connector.hpp); the request and its answer go through
// connector_http.hpp. Configured request headers (platform/delivery/request_headers.hpp) go on
// every request and are never logged. Reactor thread only.
#pragma once
#include <asio/ip/tcp.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "platform/core/pool.hpp"
#include "platform/core/task.hpp"
#include "platform/delivery/rate_limit.hpp"
#include "platform/delivery/request_headers.hpp"
#include "platform/ingest/json_check.hpp"
#include "platform/net/dns.hpp"
#include "platform/net/http.hpp"
#include "platform/shape/filter.hpp"
#include "platform/shape/template.hpp"
#include "platform/store/store.hpp"
#include "platform/transport/connector.hpp"

namespace bh {

// What a request carries: a batch of NDJSON envelopes, or one event rendered by a template.
enum class SinkFormat : std::uint8_t { envelope, templated };
// The protocol: HTTP POST/PUT (the default), or MQTT 3.1.1 PUBLISH to a broker (issue #15).
enum class SinkType : std::uint8_t { http, mqtt };

struct SinkOptions {
  std::string name;
  std::string url;
  std::vector<std::string> sources;  // empty = every source
  std::uint32_t batch_events = 1000;
  std::uint64_t batch_bytes = 1 << 20;
  std::uint32_t max_connections = 2;
  Clock::duration connect_timeout = std::chrono::seconds(5);
  Clock::duration write_timeout = std::chrono::seconds(10);
  Clock::duration read_timeout = std::chrono::seconds(10);
  Clock::duration response_timeout = std::chrono::seconds(30);  // the whole response, however paced
  Clock::duration pool_timeout = std::chrono::seconds(5);
  std::chrono::milliseconds backoff_base{100};
  std::chrono::milliseconds backoff_cap{30000};
  std::uint64_t max_response_bytes = 64 * 1024;
  BreakerOptions breaker;
  Clock::duration idle_poll = std::chrono::seconds(1);  // re-check the store this often when idle
  // https:// only. The handshake has connect_timeout too.
  std::string ca_file;      // empty = the system bundle (kSystemCaBundle)
  std::string client_cert;  // with client_key: mutual TLS
  std::string client_key;
  bool tls_verify = true;
  // A host name is looked up (platform/net/dns.hpp) before each new connection when its cached
  // answer is older than min(record TTL, dns_ttl); 0 = before every new connection. The lookup's
  // deadline is connect_timeout. When it fails, the last address found is used (counted).
  Clock::duration dns_ttl = std::chrono::minutes(5);
  std::string resolv_conf = dns::kResolvConf;  // test seams: the files and the name servers' port
  std::string hosts_file = dns::kHostsFile;
  std::uint16_t dns_port = dns::kDefaultPort;
  // The request (issue #13). `method` is POST or PUT. `headers`: "Name: value" lines sent on every
  // request (RequestHeaders; a Content-Type among them replaces the format's default).
  std::string method = "POST";
  std::vector<std::string> headers;
  SinkFormat format = SinkFormat::envelope;
  std::string body;    // templated: the JSON template (platform/shape/template.hpp)
  std::string filter;  // "" = every event; else a filter expression (platform/shape/filter.hpp)
  // At most `rate_limit` requests per `rate_interval` (0 = no limit), resends included.
  std::uint32_t rate_limit = 0;
  Clock::duration rate_interval = std::chrono::seconds(1);
  // The longest wait a server's Retry-After (or JSON retry_after) gets; longer asks wait this long.
  Clock::duration max_retry_after = std::chrono::hours(1);
  // MQTT (type = mqtt, url mqtt:// or mqtts://; issue #15). One connection, a persistent session
  // (clean session = false) under `client_id`; each event is one PUBLISH to the topic rendered
  // from `topic` (a text template over the envelope: {{/source}}, {{/seq}}, {{/data/...}}); its
  // payload is the envelope (format envelope) or `body` rendered from the event (templated).
  // At most max_inflight PUBLISHes await their PUBACK; read_timeout bounds the wait for one.
  SinkType type = SinkType::http;
  std::string topic;
  std::uint8_t qos = 1;
  std::string client_id;  // "" = "bulkhead-<name>"
  std::string username;   // "" = none
  std::string password;   // "" = none (needs a username)
  std::uint32_t max_inflight = 20;
  Clock::duration keep_alive = std::chrono::seconds(60);
};

// Delivery counters (shown by the console and metrics); the connection counters (connects,
// connect/TLS/DNS failures, read/write timeouts, io_errors, breaker rejections, deadlines) are the
// ConnectorStats base's.
struct DeliveryStats : ConnectorStats {
  std::uint64_t batches = 0;      // POSTs answered 2xx
  std::uint64_t delivered = 0;    // events in them
  std::uint64_t retries = 0;      // attempts that will be repeated
  std::uint64_t dead_lettered = 0;  // batches
  std::uint64_t dead_events = 0;
  std::uint64_t replayed = 0;     // dead letters delivered on replay
  std::uint64_t pool_timeouts = 0;
  std::uint64_t protocol_errors = 0; // unparseable or oversized responses
  std::uint64_t http_retryable = 0;  // 408/429/5xx answers
  // Idle kept-alive connections found readable (bytes, EOF, reset) when taken for a request:
  // closed unused and replaced by a new one. Not failures: no retry, no breaker.
  std::uint64_t stale_closes = 0;
  std::uint64_t store_errors = 0;
  // Rate limits (issue #13): 429 answers; waits that a server's retry time (Retry-After, JSON
  // retry_after) decided and their total; waits for a token of the sink's own rate_limit.
  std::uint64_t rate_limited = 0;
  std::uint64_t retry_after_waits = 0;
  std::uint64_t retry_after_wait_ms = 0;
  std::uint64_t rate_limit_waits = 0;
  std::uint64_t rate_limit_wait_ms = 0;
  // Events the filter refused (skipped, the cursor passes them); events the template could not
  // render (dead-lettered one by one, also in dead_lettered / dead_events).
  std::uint64_t filtered = 0;
  std::uint64_t unrenderable = 0;
  int last_status = 0;  // HTTP status; MQTT: the last CONNACK return code
  // MQTT: CONNACK refusals (bad credentials, not authorised, ...; each a failed attempt for the
  // breaker and backoff), PUBLISHes resent with DUP after a reconnect, PUBLISHes awaiting a PUBACK
  // now, PINGREQs sent, waits for a PUBACK/PINGRESP/CONNACK past read_timeout (the connection is
  // dropped and the window resent), PUBACKs for no PUBLISH in flight (ignored).
  std::uint64_t mqtt_refusals = 0;
  std::uint64_t mqtt_resent = 0;
  std::uint64_t mqtt_inflight = 0;
  std::uint64_t mqtt_pings = 0;
  std::uint64_t mqtt_ack_timeouts = 0;
  std::uint64_t mqtt_stray_acks = 0;
};

// One keep-alive connection to a sink (a pool slot): the link and its HTTP buffers.
class SinkConn {
 public:
  // Responses are a status line, a few fields and a short body: 4 KiB per read is plenty (over
  // TLS one read returns at most one record's plaintext anyway). Halved from 8 KiB to pay for the
  // four TLS contexts the Sink now holds within the same budget row. The request head is formed in
  // the Sink's own buffer (one request is in flight per sink).
  static constexpr std::size_t kReadBytes = 4 * 1024;

  SinkConn(Executor ex, std::uint64_t max_response_bytes) noexcept
      : link(ex), parser(http::ParserOptions{.max_body_bytes = max_response_bytes}) {}

  Link link;  // https: its TLS context is the Sink connector's context of this slot index
  http::ResponseParser parser;
  std::uint64_t requests = 0;  // on this connection (0 = fresh)
  char rbuf[kReadBytes];
};

class Sink {
 public:
  static constexpr std::uint32_t kMaxConns = 4;
  static constexpr std::size_t kBodyBytes = 1 << 20;  // compiled batch buffer; batch_bytes is clamped to it
  // Request line, the fixed fields, the seq fields and up to RequestHeaders::kMaxBytes of configured ones.
  static constexpr std::size_t kHeadBytes = 3 * 1024;
  // The first bytes of a response body kept for the dead-letter reason and a JSON retry_after.
  static constexpr std::size_t kAnswerBytes = 1024;
  // A filter or a template reads events through a JSON parser sized for this (the largest event
  // ingest or a source stores); the event is copied to the END of the body buffer (with simdjson's
  // padding), which the requests then do not use.
  static constexpr std::size_t kEventBytes = 64 * 1024;
  // A filter or template that names `/@identity` sees the event with the member
  // "@identity":"<the event's authenticated client>" (or null) put first, so a member of that name
  // sent in the event itself is shadowed (JSON Pointer takes the first): this room holds it.
  static constexpr std::size_t kIdentityRoom = 512;
  static constexpr std::string_view kIdentityPointer = "/@identity";
  // Likewise `/@clock_synced`: false for an event stamped while the wall clock was not synced
  // (EventOut::clock_unsynced), else true; its member takes at most kClockRoom of kIdentityRoom.
  static constexpr std::string_view kClockPointer = "/@clock_synced";
  static constexpr std::size_t kClockRoom = 24;
  static constexpr std::size_t kEventArea = kEventBytes + kIdentityRoom + JsonCheck::kPadding;
  // templated: events read from the store per look for the next one to send.
  static constexpr std::uint32_t kTemplateWindow = 32;
  // MQTT: the largest in-flight window (budget::kMqttMaxInflight), the longest rendered topic.
  static constexpr std::uint32_t kMaxInflight = 64;
  static constexpr std::size_t kTopicBytes = 1024;
  using ConnPool = Pool<SinkConn, kMaxConns>;

  // `id` is the store's sink handle. `pool_name` must outlive the Sink.
  Sink(TaskPoolBase& tasks, Store& store, int id, SinkOptions opts, std::string_view pool_name) noexcept;
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  // Parses the URL, reads the host's hosts-file entry or resolv.conf (a name is looked up by the
  // task, not here: an unresolvable host is logged and retried, it does not stop start-up) and,
  // for https, loads the TLS material and sets up one TLS context per connection slot (start-up:
  // blocking and allocating are fine here). Checks the method and headers, compiles the filter
  // and the template and sizes and warms the event parser. Errors: bad URL, method, header,
  // filter or template (invalid_argument, logged), dns_errc::bad_name, tls_errc::config
  // (a CA/certificate/key file; logged with the reason).
  std::error_code prepare();
  // Spawns the delivery task. Errors: false if no task slot.
  bool start();
  // Asks the task to finish its current attempt and stop.
  void stop() noexcept;
  // New events were committed.
  void wake() noexcept { wake_.notify(); }

  const SinkOptions& options() const noexcept { return opts_; }
  const DeliveryStats& stats() const noexcept { return stats_; }
  // How long the sink's current wait still runs (a server's Retry-After, its rate limit, backoff,
  // an open breaker); zero while it is not waiting.
  Clock::duration waiting(Clock::time_point now) const noexcept {
    return wait_until_ > now ? wait_until_ - now : Clock::duration::zero();
  }
  const Breaker& breaker() const noexcept { return net_.breaker(); }
  const DnsCache& dns() const noexcept { return net_.dns(); }
  // The TLS policy of an https sink (nullptr for http).
  const TlsClientConfig* tls() const noexcept { return net_.tls(); }
  ConnPool& pool() noexcept { return conns_; }
  int id() const noexcept { return id_; }
  bool running() const noexcept { return running_; }
  // Why the last attempt that was not delivered failed or was refused ("" if none yet: "HTTP 503:
  // ...", "connect to host:1 failed: ...", "read timeout"), and when (steady clock). Cleared by
  // nothing: a later success leaves it, last_error_at() tells its age.
  std::string_view last_error() const noexcept { return {last_error_, last_error_len_}; }
  Clock::time_point last_error_at() const noexcept { return last_error_at_; }

 private:
  // throttled: the server asked for a pause (429, or 503 with Retry-After); `wait` is what it
  // asked (negative: it named no time).
  enum class Outcome : std::uint8_t { delivered, retry, dead, throttled };
  struct Attempt {
    Outcome outcome;
    int status;
    std::string_view reason;
    Clock::duration wait{-1};
  };

  Task<void> run();
  // What an event is to this sink: not for it (another source), refused by the filter (counted),
  // to send (`root` is its parsed JSON when a filter or template needs it), or, for a template,
  // not a JSON object.
  enum class Pick : std::uint8_t { skip, filtered, take, unparsed };
  Pick pick(const EventOut& e, simdjson::dom::element& root) noexcept;
  // The next request into body_: envelope, the batch behind the cursor; templated, the first event
  // to send within kTemplateWindow. count = events read from the store, first/last = the seq range
  // the request settles (skipped and filtered events included); routed = events in the request.
  std::error_code build_batch(std::uint32_t& count, std::uint64_t& first, std::uint64_t& last, std::uint32_t& routed);
  // The same for a replay of [from, to]: envelope, the whole range; templated, its next event.
  std::error_code build_range(std::uint64_t from, std::uint64_t to, std::uint64_t& first, std::uint64_t& last,
                              std::uint32_t& routed);
  void append_envelope(const EventOut& e) noexcept;
  // Writes e's body with the "@identity" and/or "@clock_synced" members put first into `area`;
  // returns its length.
  std::size_t with_identity(const EventOut& e, char* area) const noexcept;
  // The envelope JSON of `e` (with a trailing '\n') into out[0, room); its size, 0 if it does not fit.
  std::size_t format_envelope(const EventOut& e, char* out, std::size_t room) noexcept;
  // templated: visits events until one is picked, and renders it (or notes why it cannot be).
  void render_next(const EventOut& e, bool& done, std::uint64_t& first, std::uint64_t& last,
                   std::uint32_t& routed) noexcept;
  // POSTs body_ once: takes a connection (resolving the host first for a new one: the lookup's UDP
  // socket uses that slot's FD), (re)connects, writes, reads the answer.
  Task<Attempt> post();
  // MQTT (platform/delivery/sink_mqtt.cpp): the session loop instead of run()'s request loop.
  struct Flight {
    std::uint64_t seq = 0;
    std::uint32_t off = 0;  // the encoded PUBLISH in body_
    std::uint32_t len = 0;
    std::uint16_t pid = 0;
    bool acked = false;
    bool sent = false;  // written on the current connection
  };
  enum class MqttStep : std::uint8_t { ok, lost, refused };
  std::error_code prepare_mqtt();
  // Compiles `filter` and, for a templated sink, `body` (both protocols). Errors: invalid_argument (logged).
  std::error_code compile_shape();
  Task<void> run_mqtt();
  // At the end of run()/run_mqtt() on a TLS sink: one line of handshake, resumption and refusal counts.
  void log_tls_summary() const noexcept;
  Task<MqttStep> mqtt_connect(SinkConn& c, std::uint32_t slot);
  Task<MqttStep> mqtt_write_unsent(SinkConn& c);
  Task<MqttStep> mqtt_read(SinkConn& c, Clock::duration d, bool want_pingresp);
  // One whole write on the session's link; stop() does not interrupt it (a packet cut in half would
  // leave the session unable to end with a DISCONNECT). A failed write closes the link.
  Task<std::error_code> mqtt_write(SinkConn& c, std::string_view bytes, Clock::duration timeout);
  // After a stop on a live session: the PUBACKs on their way (at most a second), then DISCONNECT.
  Task<void> mqtt_goodbye(SinkConn& c);
  bool mqtt_fill();  // false: stopped on an event to dead-letter
  bool mqtt_encode(const EventOut& e);
  Flight& flight(std::uint32_t i) noexcept { return flights_[(flight_head_ + i) % kMaxInflight]; }
  void mqtt_settle(bool force);
  // One request and its answer on `c` (pool slot `slot`), connecting it first if it is closed.
  // `stale`: a kept-alive connection failed before any answer (retry once, uncounted).
  Task<Attempt> exchange(SinkConn& c, std::uint32_t slot, bool& stale);
  // Waits for `d` or a stop, whichever first (waiting() shows it meanwhile).
  Task<void> pause(Clock::duration d);
  // After a throttled attempt: how long to wait (the server's time capped by max_retry_after, or
  // the backoff when it named none); counts it.
  Clock::duration throttle_wait(const Attempt& a) noexcept;
  bool routed(std::string_view source) const noexcept;
  // Records why an attempt failed (last_error()); connect_reason: the connector's detailed text of
  // a connect-phase failure ("connect to host:1 failed: Connection refused") over its short reason.
  void note_error(std::string_view reason) noexcept;
  std::string_view connect_reason(const ConnectError& e) const noexcept;

  TaskPoolBase& tasks_;
  Store& store_;
  int id_;
  SinkOptions opts_;
  http::Url url_{};
  DeliveryStats stats_;
  char label_[80];  // "sink <name>": the connector's log prefix
  // Resolve, connect, TLS (one context per connection slot, index = the slot's pool index), timed
  // I/O, breaker, backoff. Declared before conns_ and idle_: the links in them use its contexts.
  Connector<kMaxConns> net_;
  ConnPool conns_;
  // Keep-alive: connections still open after an exchange stay leased here (they hold their FD,
  // so the pool counts them in use) and are taken first by the next POST, after a non-blocking
  // check: one on which anything arrived while idle (bytes, EOF, reset, buffered TLS records) is
  // closed and replaced (stats_.stale_closes). Declared after net_ and conns_: destroyed first.
  std::array<ConnPool::Lease, kMaxConns> idle_;
  std::uint32_t idle_n_ = 0;
  Notify wake_;
  Notify stopped_;  // pauses (backoff, breaker, Retry-After, rate_limit) end at a stop
  bool stopping_ = false;
  Clock::time_point wait_until_{};  // the end of the wait in progress (pause), or epoch
  bool running_ = false;
  std::uint64_t body_cap_;
  std::size_t body_len_ = 0;
  std::uint64_t batch_first_ = 0;  // seq range of the batch in flight (the Bulkhead-*-Seq headers)
  std::uint64_t batch_last_ = 0;
  RequestHeaders headers_;  // configured lines, packed by prepare()
  RateLimit rate_;
  Filter filter_;        // compiled by prepare(); empty = every event
  Template template_;    // compiled by prepare() (templated)
  JsonCheck json_;       // sized and warmed by prepare() when a filter or template reads events
  bool parse_events_ = false;
  bool uses_identity_ = false;  // the filter or the template names kIdentityPointer
  bool uses_clock_ = false;     // the filter or the template names kClockPointer
  bool unrenderable_ = false;  // the request being built: its event cannot be rendered (reason_)
  std::size_t unrenderable_len_ = 0;
  std::int64_t replay_id_ = 0;   // templated replay: the dead letter in progress and its next seq
  std::uint64_t replay_pos_ = 0;
  char reason_[128];
  char last_error_[160] = {};
  std::size_t last_error_len_ = 0;
  Clock::time_point last_error_at_{};
  char head_[kHeadBytes];
  char extra_[128 + RequestHeaders::kMaxBytes];  // the seq fields and the configured headers
  std::size_t answer_len_ = 0;
  char answer_[kAnswerBytes];
  // MQTT state (type = mqtt): the CONNECT packet (built by prepare), the compiled topic, the
  // in-flight window (a ring of Flights) whose PUBLISH bytes are a byte ring in body_; body_ ends
  // with the event parse area and the rendered topic (kTopicBytes).
  std::string mqtt_connect_;
  Template topic_;
  bool topic_fixed_ = true;
  std::array<Flight, kMaxInflight> flights_{};
  std::uint32_t flight_head_ = 0, flight_n_ = 0;
  std::size_t ring_cap_ = 0, ring_head_ = 0, ring_tail_ = 0;
  std::uint64_t read_to_ = 0;     // last seq read from the store (queued, skipped or filtered)
  std::uint64_t persisted_ = 0;   // the cursor as last written
  std::uint64_t dup_until_ = 0;   // events up to here may have been sent before a restart: DUP
  std::uint64_t dead_seq_ = 0;    // an event that cannot be published, waiting for the window to drain
  std::uint16_t next_pid_ = 1;
  std::uint8_t refusal_logged_ = 0;  // the CONNACK code last logged (0: none in this episode)
  Link* mqtt_link_ = nullptr;        // the session's connection, cancelled by stop() between writes
  bool mqtt_writing_ = false;        // mqtt_write() in progress
  std::size_t rlen_ = 0;          // unparsed bytes at the start of the connection's rbuf
  Clock::time_point last_write_{};
  Clock::time_point last_persist_{};
  // format_envelope's `,"ts":<ts>,"source":"<source>` for the last (ts, source) seen: the events of
  // one ingest round share them, and to_chars of a 13-digit ts cost more than the rest.
  static constexpr std::size_t kEnvSourceMax = 64;  // longer sources are written each time
  std::int64_t env_ts_ = 0;
  std::array<char, kEnvSourceMax> env_source_{};
  std::size_t env_source_len_ = 0;
  std::array<char, 48 + 6 * kEnvSourceMax> env_mid_{};
  std::size_t env_mid_len_ = 0;  // 0: nothing kept yet
  std::array<char, kBodyBytes> body_;
};

}  // namespace bh
