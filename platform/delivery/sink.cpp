// Sink delivery loop: batch building, the POST exchange (plain or TLS), outcome classification.
#include "platform/delivery/sink.hpp"
#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>

#include "platform/delivery/retry_after.hpp"
#include "platform/transport/connector_http.hpp"
#include "platform/util/log.hpp"
#include "platform/util/redact.hpp"
#include "hal/clock.hpp"

namespace bh {
namespace {
// Envelope bytes besides the body: {"seq":,"ts":,"source":"","data":}\n plus two 20-digit numbers
// and a source name of up to 64 bytes, escaped (x6 worst case is not reserved: names are plain).
constexpr std::size_t kEnvelopeOverhead = 40 + 20 + 20 + 96;
// An event's envelope at most: its body, its identity member if any ("identity":"..." with the
// identity's bytes escaped to 6 each at worst), its clock flag if any, and the fixed overhead.
constexpr std::string_view kClockUnsynced = ",\"clock_synced\":false";
std::size_t envelope_bytes(const EventOut& e) noexcept {
  return e.body.size() + kEnvelopeOverhead + (e.identity.empty() ? 0 : 16 + 6 * e.identity.size()) +
         (e.clock_unsynced ? kClockUnsynced.size() : 0);
}

using hal::unix_ms;
}  // namespace

Sink::Sink(TaskPoolBase& tasks, Store& store, int id, SinkOptions opts, std::string_view pool_name) noexcept
    : tasks_(tasks),
      store_(store),
      id_(id),
      opts_(std::move(opts)),
      net_(stats_, make_label(label_, "sink", opts_.name), opts_.name, opts_.breaker, opts_.backoff_base,
           opts_.backoff_cap, 0x5EED0000u + static_cast<std::uint64_t>(id) * 7919u + static_cast<std::uint64_t>(unix_ms())),
      conns_(pool_name),
      body_cap_(std::min<std::uint64_t>(opts_.batch_bytes, kBodyBytes)),
      rate_(opts_.rate_limit, opts_.rate_interval) {
  conns_.set_limit(std::clamp<std::uint32_t>(opts_.max_connections, 1, kMaxConns));
  if (opts_.batch_bytes > kBodyBytes)
    log::warn("sink {}: batch_bytes {} is above the compiled batch buffer; using {}", opts_.name, opts_.batch_bytes,
              kBodyBytes);
}

std::error_code Sink::prepare() {
  BH_ASSERT(on_reactor_thread());
  if (opts_.type == SinkType::mqtt) return prepare_mqtt();  // platform/delivery/sink_mqtt.cpp
  if (opts_.method != "POST" && opts_.method != "PUT") {
    log::error("sink {}: method {} is not POST or PUT", opts_.name, opts_.method);
    return make_error_code(std::errc::invalid_argument);
  }
  std::string why;
  if (!headers_.assign(opts_.headers, why)) {  // the reason never holds a value
    log::error("sink {}: {}", opts_.name, why);
    return make_error_code(std::errc::invalid_argument);
  }
  if (auto e = compile_shape()) return e;
  parse_events_ = !filter_.empty() || opts_.format == SinkFormat::templated;
  uses_identity_ = opts_.filter.find(kIdentityPointer) != std::string::npos ||
                   (opts_.format == SinkFormat::templated && opts_.body.find(kIdentityPointer) != std::string::npos);
  uses_clock_ = opts_.filter.find(kClockPointer) != std::string::npos ||
                (opts_.format == SinkFormat::templated && opts_.body.find(kClockPointer) != std::string::npos);
  if (parse_events_) {
    // The parser is sized and its tape warmed now: parsing an event later allocates nothing. The
    // event area at the end of the body buffer is not for requests.
    if (!json_.init(kEventBytes + kIdentityRoom)) return make_error_code(std::errc::not_enough_memory);
    body_cap_ = std::min<std::uint64_t>(body_cap_, kBodyBytes - kEventArea);
  }
  // A host name is looked up by the task, not here (the connector logs how).
  ConnectorTarget t;
  if (!http_target(opts_, url_, t)) return make_error_code(std::errc::invalid_argument);
  t.dns.resolv_conf = opts_.resolv_conf;
  t.dns.hosts_file = opts_.hosts_file;
  t.dns.port = opts_.dns_port;
  t.tls_contexts = conns_.limit();
  return net_.prepare(t);
}

std::error_code Sink::compile_shape() {
  if (!opts_.filter.empty()) {
    FilterError fe;
    if (!Filter::compile(opts_.filter, filter_, fe)) {
      log::error("sink {}: filter: {}", opts_.name, fe.text());
      return make_error_code(std::errc::invalid_argument);
    }
  }
  if (opts_.format == SinkFormat::templated) {
    TemplateError te;
    if (!Template::compile(opts_.body, TemplateKind::json, template_, te)) {
      log::error("sink {}: body: {}", opts_.name, te.what());
      return make_error_code(std::errc::invalid_argument);
    }
  }
  return {};
}

bool Sink::start() {
  BH_ASSERT(on_reactor_thread());
  return tasks_.spawn("sink", [this] { return opts_.type == SinkType::mqtt ? run_mqtt() : run(); });
}

void Sink::stop() noexcept {
  BH_ASSERT(on_reactor_thread());
  stopping_ = true;
  for (std::uint32_t i = 0; i < idle_n_; ++i) idle_[i].reset();  // idle keep-alive connections close
  idle_n_ = 0;
  // An MQTT session's read (or connect) ends now; a write finishes first (within write_timeout),
  // so that the session can still say DISCONNECT.
  if (mqtt_link_ && !mqtt_writing_) mqtt_link_->cancel();
  wake_.notify();
  stopped_.notify();
}

bool Sink::routed(std::string_view source) const noexcept {
  if (opts_.sources.empty()) return true;
  for (const auto& s : opts_.sources)
    if (s == source) return true;
  return false;
}

std::string_view Sink::connect_reason(const ConnectError& e) const noexcept {
  return net_.last_error().empty() ? e.reason : net_.last_error();
}

void Sink::note_error(std::string_view reason) noexcept {
  last_error_len_ = std::min(reason.size(), sizeof last_error_);
  std::memcpy(last_error_, reason.data(), last_error_len_);
  last_error_at_ = Clock::now();
}

namespace {
// Appends `text` as the inside of a JSON string at out[n..room), escaped; stops short of the end.
std::size_t put_json_chars(char* out, std::size_t n, std::size_t room, std::string_view text) noexcept {
  for (char ch : text) {
    if (n + 6 >= room) break;
    auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out[n++] = '\\';
      out[n++] = ch;
    } else if (u < 0x20) {
      n += fmt::format_to_n(out + n, room - n, "\\u{:04x}", u).size;
    } else {
      out[n++] = ch;
    }
  }
  return n;
}
}  // namespace

void Sink::append_envelope(const EventOut& e) noexcept {
  body_len_ += format_envelope(e, body_.data() + body_len_, body_cap_ - body_len_);
}

std::size_t Sink::format_envelope(const EventOut& e, char* out, std::size_t room) noexcept {
  // By hand (std::to_chars): fmt's format cost more than the rest of the envelope.
  static constexpr std::string_view kSeq = "{\"seq\":", kTs = ",\"ts\":", kSource = ",\"source\":\"";
  if (room < kSeq.size() + kTs.size() + kSource.size() + 40) return 0;  // two 20-digit numbers
  char* p = out;
  auto put = [](char* at, std::string_view s) { return static_cast<char*>(std::memcpy(at, s.data(), s.size())) + s.size(); };
  p = std::to_chars(put(p, kSeq), p + 27, e.seq).ptr;
  std::size_t n;
  if (e.source.size() <= kEnvSourceMax) {
    if (env_mid_len_ == 0 || e.ts_ms != env_ts_ || e.source != std::string_view(env_source_.data(), env_source_len_)) {
      char* m = std::to_chars(put(env_mid_.data(), kTs), env_mid_.data() + kTs.size() + 20, e.ts_ms).ptr;
      m = put(m, kSource);
      env_mid_len_ = put_json_chars(env_mid_.data(), static_cast<std::size_t>(m - env_mid_.data()), env_mid_.size(), e.source);
      env_ts_ = e.ts_ms;
      if (!e.source.empty()) std::memcpy(env_source_.data(), e.source.data(), e.source.size());
      env_source_len_ = e.source.size();
    }
    n = static_cast<std::size_t>(p - out);
    if (n + env_mid_len_ >= room) return 0;
    std::memcpy(p, env_mid_.data(), env_mid_len_);
    n += env_mid_len_;
  } else {
    p = std::to_chars(put(p, kTs), p + kTs.size() + 20, e.ts_ms).ptr;
    p = put(p, kSource);
    n = put_json_chars(out, static_cast<std::size_t>(p - out), room, e.source);  // names are plain; escaped defensively anyway
  }
  if (!e.identity.empty()) {  // only then: envelopes of events without one stay as they were
    static constexpr std::string_view kIdentity = "\",\"identity\":\"";
    if (n + kIdentity.size() < room) {
      std::memcpy(out + n, kIdentity.data(), kIdentity.size());
      n = put_json_chars(out, n + kIdentity.size(), room, e.identity);
    }
  }
  if (n < room) out[n++] = '"';
  if (e.clock_unsynced && n + kClockUnsynced.size() < room) {  // only then, as identity (wire.md)
    std::memcpy(out + n, kClockUnsynced.data(), kClockUnsynced.size());
    n += kClockUnsynced.size();
  }
  static constexpr std::string_view kData = ",\"data\":";
  if (n + kData.size() + e.body.size() + 2 > room) return 0;  // build_batch reserves room
  std::memcpy(out + n, kData.data(), kData.size());
  n += kData.size();
  std::memcpy(out + n, e.body.data(), e.body.size());
  n += e.body.size();
  out[n++] = '}';
  out[n++] = '\n';
  return n;
}

std::size_t Sink::with_identity(const EventOut& e, char* area) const noexcept {
  // {"@identity":"<id>" or null and/or "@clock_synced":true|false (as the filter or template names
  // them), then the event's own members (a body that is no object: as is).
  std::size_t at = 0;
  while (at < e.body.size() && (e.body[at] == ' ' || e.body[at] == '\t' || e.body[at] == '\r' || e.body[at] == '\n')) ++at;
  if (at == e.body.size() || e.body[at] != '{') {
    std::memcpy(area, e.body.data(), e.body.size());
    return e.body.size();
  }
  std::size_t n = 0;
  area[n++] = '{';
  if (uses_identity_) {
    static constexpr std::string_view kHead = "\"@identity\":";
    std::memcpy(area + n, kHead.data(), kHead.size());
    n += kHead.size();
    if (e.identity.empty()) {
      std::memcpy(area + n, "null", 4);
      n += 4;
    } else {
      area[n++] = '"';
      n = put_json_chars(area, n, kEventBytes + kIdentityRoom - 1 - kClockRoom - (e.body.size() - at), e.identity);
      area[n++] = '"';
    }
  }
  if (uses_clock_) {
    const std::string_view member = e.clock_unsynced ? "\"@clock_synced\":false" : "\"@clock_synced\":true";
    if (uses_identity_) area[n++] = ',';
    std::memcpy(area + n, member.data(), member.size());
    n += member.size();
  }
  std::size_t rest = at + 1;
  while (rest < e.body.size() && (e.body[rest] == ' ' || e.body[rest] == '\t' || e.body[rest] == '\r' || e.body[rest] == '\n')) ++rest;
  if (rest < e.body.size() && e.body[rest] != '}') area[n++] = ',';
  std::memcpy(area + n, e.body.data() + rest, e.body.size() - rest);
  return n + e.body.size() - rest;
}

Sink::Pick Sink::pick(const EventOut& e, simdjson::dom::element& root) noexcept {
  if (!routed(e.source)) return Pick::skip;
  if (!parse_events_) return Pick::take;
  // A copy with simdjson's padding behind it, in the event area at the end of body_.
  bool parsed = false;
  if (e.body.size() <= kEventBytes) {
    char* area = body_.data() + kBodyBytes - kEventArea;
    const bool meta = uses_identity_ || uses_clock_;
    const std::size_t n = meta ? with_identity(e, area) : e.body.size();
    if (!meta) std::memcpy(area, e.body.data(), e.body.size());
    std::memset(area + n, ' ', JsonCheck::kPadding);
    parsed = json_.parse_object(std::string_view(area, n), root);
  }
  if (!filter_.empty() && !(parsed && filter_.matches(root))) {
    ++stats_.filtered;
    return Pick::filtered;
  }
  if (!parsed && opts_.format == SinkFormat::templated) return Pick::unparsed;
  return Pick::take;
}

void Sink::render_next(const EventOut& e, bool& done, std::uint64_t& first, std::uint64_t& last,
                       std::uint32_t& routed_n) noexcept {
  if (done) return;
  if (first == 0) first = e.seq;
  last = e.seq;
  simdjson::dom::element root;
  const Pick p = pick(e, root);
  if (p == Pick::skip || p == Pick::filtered) return;
  done = true;
  std::string_view why;
  RenderResult r;
  if (p == Pick::unparsed) {
    why = e.body.size() > kEventBytes ? "the event is larger than 64 KiB" : "the event is not a JSON object";
  } else {
    r = template_.render(root, std::span<char>(body_.data(), body_cap_));
    if (r.ok()) {
      body_len_ = r.size();
      routed_n = 1;
      return;
    }
    why = r.reason();
  }
  // The reason goes to the dead-letter table: "template: missing /from".
  auto n = fmt::format_to_n(reason_, sizeof reason_, "template: {}", why);
  unrenderable_ = true;
  unrenderable_len_ = std::min(n.size, sizeof reason_);
}

std::error_code Sink::build_batch(std::uint32_t& count, std::uint64_t& first, std::uint64_t& last,
                                  std::uint32_t& routed_n) {
  body_len_ = 0;
  routed_n = 0;
  first = last = 0;
  unrenderable_ = false;
  if (opts_.format == SinkFormat::templated) {
    bool done = false;
    return store_.read_batch(
        id_, std::min(opts_.batch_events, kTemplateWindow), body_cap_,
        [&](const EventOut& e) { render_next(e, done, first, last, routed_n); }, count);
  }
  const std::uint32_t max_events = opts_.batch_events;
  std::uint64_t reserve = std::min<std::uint64_t>(body_cap_ / 2, std::uint64_t{max_events} * kEnvelopeOverhead);
  std::uint64_t max_bytes = body_cap_ - reserve;
  bool full = false;
  std::error_code ec = store_.read_batch(
      id_, max_events, max_bytes,
      [&](const EventOut& e) {
        if (full) return;
        if (body_len_ + envelope_bytes(e) > body_cap_ && routed_n > 0) {
          full = true;  // the rest is read again next time: the cursor only moves to `last`
          return;
        }
        if (first == 0) first = e.seq;
        last = e.seq;
        simdjson::dom::element root;
        if (pick(e, root) == Pick::take) {
          append_envelope(e);
          ++routed_n;
        }
      },
      count);
  return ec;
}

std::error_code Sink::build_range(std::uint64_t from, std::uint64_t to, std::uint64_t& first, std::uint64_t& last,
                                  std::uint32_t& routed_n) {
  body_len_ = 0;
  routed_n = 0;
  unrenderable_ = false;
  std::uint32_t count = 0;
  if (opts_.format == SinkFormat::templated) {
    bool done = false;
    first = last = 0;
    std::error_code ec = store_.read_range(
        from, to, [&](const EventOut& e) { render_next(e, done, first, last, routed_n); }, count);
    if (!done) first = from, last = to;  // nothing (more) to send in the range
    return ec;
  }
  first = from;
  last = to;
  return store_.read_range(
      from, to,
      [&](const EventOut& e) {
        simdjson::dom::element root;
        if (body_len_ + envelope_bytes(e) <= body_cap_ && pick(e, root) == Pick::take) {
          append_envelope(e);
          ++routed_n;
        }
      },
      count);
}

Task<void> Sink::pause(Clock::duration d) {
  // Ends early on stop() only (not on wake(): new events must not cut a server's wait short), so a
  // shutdown does not sit out an hour's Retry-After.
  if (d <= Clock::duration::zero() || stopping_) co_return;
  wait_until_ = Clock::now() + d;
  co_await stopped_.wait(d);
  wait_until_ = {};
}

Clock::duration Sink::throttle_wait(const Attempt& a) noexcept {
  if (a.wait < Clock::duration::zero()) return net_.backoff().next();  // no time named: back off
  // At least backoff_base: a server that keeps answering "retry after 0" (or a past date) is not
  // hammered in a tight loop.
  Clock::duration d = std::max<Clock::duration>(std::min(a.wait, opts_.max_retry_after), opts_.backoff_base);
  if (a.wait > opts_.max_retry_after)
    log::warn("sink {}: the server asks to wait {} s; waiting max_retry_after ({} s)", opts_.name,
              std::chrono::duration_cast<std::chrono::seconds>(a.wait).count(),
              std::chrono::duration_cast<std::chrono::seconds>(opts_.max_retry_after).count());
  ++stats_.retry_after_waits;
  stats_.retry_after_wait_ms += static_cast<std::uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(d).count());
  return d;
}

Task<void> Sink::run() {
  running_ = true;
  if (!net_.dns().is_static()) {
    // The first lookup now, so that a typo'd or unresolvable host is in the log at start-up
    // rather than at the first event; it does not stop anything: deliveries retry it with backoff.
    // The lookup's UDP socket is counted in a connection slot's FD.
    auto [ec, slot] = co_await acquire(conns_, opts_.pool_timeout, tasks_.executor(), opts_.max_response_bytes);
    if (!ec && !co_await net_.resolve()) {
      char ip[64];
      log::info("sink {}: {} is {}", opts_.name, net_.dns().host(), dns::format_ip(net_.endpoint().address(), ip));
    }
  }
  while (!stopping_ && !cancelled()) {
    DeadLetter dl;
    bool replay = false;
    std::uint32_t count = 0, routed_n = 0;
    std::uint64_t first = 0, last = 0;
    const bool per_event = opts_.format == SinkFormat::templated;
    std::error_code ec = store_.next_replay(id_, dl, replay);
    if (!ec && replay) {
      // A templated replay goes one event per request: where it got to is kept across requests.
      if (dl.id != replay_id_) replay_id_ = dl.id, replay_pos_ = dl.first_seq;
      ec = build_range(per_event ? std::max(replay_pos_, dl.first_seq) : dl.first_seq, dl.last_seq, first, last,
                       routed_n);
      count = routed_n;
    } else if (!ec) {
      ec = build_batch(count, first, last, routed_n);
    }
    if (ec) {
      ++stats_.store_errors;
      log::error("sink {}: reading the store failed: {}", opts_.name, ec.message());
      co_await pause(std::chrono::seconds(1));
      continue;
    }
    if (count == 0 && !replay) {
      co_await wake_.wait(opts_.idle_poll);
      continue;
    }
    if (unrenderable_) {  // templated: this event cannot become a request; it alone is dead-lettered
      const std::string_view why(reason_, unrenderable_len_);
      ++stats_.unrenderable;
      ++stats_.dead_lettered;
      ++stats_.dead_events;
      log::warn("sink {}: seq {}: {}: moved to the dead-letter table", opts_.name, last, why);
      if (replay) {
        store_.finish_replay(dl.id, false);
        replay_id_ = 0;
      } else if (auto e = store_.dead_letter(id_, last, last, 0, why, unix_ms())) {
        ++stats_.store_errors;
        log::error("sink {}: dead-lettering failed: {}", opts_.name, e.message());
        co_await pause(std::chrono::seconds(1));
      }
      continue;
    }
    if (routed_n == 0) {  // nothing (more) of this range is for this sink
      if (replay) {
        store_.finish_replay(dl.id, true);
        replay_id_ = 0;
      } else if (store_.advance_cursor(id_, last)) {
        ++stats_.store_errors;
      }
      continue;
    }
    // Deliver this request until it is delivered or dead-lettered: nothing newer goes first. A
    // templated request carries one event, `last`; the skipped ones before it settle with it.
    batch_first_ = per_event ? last : first;
    batch_last_ = last;
    while (!stopping_ && !cancelled()) {
      auto now = Clock::now();
      if (auto d = rate_.delay(now); d > Clock::duration::zero()) {  // the sink's own request budget
        ++stats_.rate_limit_waits;
        stats_.rate_limit_wait_ms += static_cast<std::uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(d).count());
        co_await pause(d);
        continue;
      }
      if (!net_.admit(now)) {
        co_await pause(net_.breaker().retry_at() - now);
        continue;
      }
      rate_.take(now);
      Attempt a = co_await post();
      now = Clock::now();
      stats_.last_status = a.status;
      if (a.outcome == Outcome::throttled) {
        // The server answered and asked for a pause: it is up (no breaker failure); the same
        // request goes again after the pause, so nothing newer overtakes it.
        ++stats_.retries;
        net_.breaker().on_success(now);
        auto d = throttle_wait(a);
        log::info("sink {}: seq {}..{}: {} asks to wait; resending in {} ms", opts_.name, first, last,
                  a.status == 429 ? "429 Too Many Requests" : "503 with Retry-After",
                  std::chrono::ceil<std::chrono::milliseconds>(d).count());
        co_await pause(d);
        continue;
      }
      if (a.outcome == Outcome::retry) {
        ++stats_.retries;
        note_error(a.reason);
        auto d = net_.failed(now);
        log::debug("sink {}: seq {}..{} not delivered ({}), retry in {} ms", opts_.name, first, last, a.reason, d.count());
        co_await pause(d);
        continue;
      }
      net_.succeeded(now);  // the endpoint answered: it is up, whatever it thought of the batch
      if (a.outcome == Outcome::delivered) {
        ++stats_.batches;
        stats_.delivered += routed_n;
        if (replay && per_event && last < dl.last_seq) {
          replay_pos_ = last + 1;  // the rest of the range next
        } else if (replay) {
          ++stats_.replayed;
          store_.finish_replay(dl.id, true);
          replay_id_ = 0;
        } else if (auto e = store_.advance_cursor(id_, last)) {
          // The batch is resent after a restart: at-least-once, sinks dedupe by seq.
          ++stats_.store_errors;
          log::error("sink {}: cursor update failed: {}", opts_.name, e.message());
        }
      } else {
        ++stats_.dead_lettered;
        stats_.dead_events += routed_n;
        note_error(a.reason);
        log::warn("sink {}: seq {}..{} refused with HTTP {}: moved to the dead-letter table", opts_.name, first, last,
                  a.status);
        if (replay) {
          store_.finish_replay(dl.id, false);
          replay_id_ = 0;
        } else if (auto e = store_.dead_letter(id_, batch_first_, last, a.status, a.reason, unix_ms())) {
          ++stats_.store_errors;
          log::error("sink {}: dead-lettering failed: {}", opts_.name, e.message());
        }
      }
      break;
    }
  }
  log_tls_summary();
  running_ = false;
}

void Sink::log_tls_summary() const noexcept {
  if (url_.secure())
    log::info("sink {}: TLS: {} handshake(s) ({} resumed), {} handshake error(s), {} certificate rejection(s), "
              "{} handshake timeout(s)",
              opts_.name, stats_.tls_handshakes, stats_.tls_resumed, stats_.tls_handshake_errors,
              stats_.tls_verify_errors, stats_.handshake_timeouts);
}

Task<Sink::Attempt> Sink::post() {
  ConnPool::Lease lease;
  if (idle_n_ > 0) {
    lease = std::move(idle_[--idle_n_]);
    if (lease->link.readable_while_idle()) {  // closed here; the slot's new connection is opened below
      lease->link.close();
      ++stats_.stale_closes;
    }
  } else {
    stats_.deadlines.started(TimedOp::pool_acquire);
    auto [ec, fresh] = co_await acquire(conns_, opts_.pool_timeout, tasks_.executor(), opts_.max_response_bytes);
    if (ec) {
      if (ec == errc::timeout) {
        ++stats_.pool_timeouts;
        stats_.deadlines.timed_out(TimedOp::pool_acquire);
      }
      co_return Attempt{Outcome::retry, 0, "no connection slot"};
    }
    lease = std::move(fresh);
  }
  // A new connection goes to the host's current address (from the cache unless it expired).
  if (!lease->link.is_open()) {
    if (auto e = co_await net_.resolve()) co_return Attempt{Outcome::retry, 0, connect_reason(e)};
  }
  // A kept-alive connection the server closed meanwhile fails before any answer: once, retry on
  // a fresh connection without counting it against the sink.
  bool stale = false;
  Attempt a = co_await exchange(*lease, lease.index(), stale);
  if (stale) a = co_await exchange(*lease, lease.index(), stale);
  if (lease->link.is_open() && !stopping_) idle_[idle_n_++] = std::move(lease);  // kept alive
  co_return a;
}

Task<Sink::Attempt> Sink::exchange(SinkConn& c, std::uint32_t slot, bool& stale) {
  const bool reused = c.link.is_open();
  stale = false;
  if (!reused) {
    // Any failure closes the socket; the slot goes back with the lease, the breaker and backoff
    // see a failed attempt.
    if (auto e = co_await net_.open(c.link, slot)) co_return Attempt{Outcome::retry, 0, connect_reason(e)};
    c.requests = 0;
  }

  auto xr = fmt::format_to_n(extra_, 128, "Bulkhead-First-Seq: {}\r\nBulkhead-Last-Seq: {}\r\n", batch_first_,
                             batch_last_);
  const std::string_view configured = headers_.lines();  // never logged: values may be secrets
  std::memcpy(extra_ + xr.size, configured.data(), configured.size());
  std::string_view content_type = opts_.format == SinkFormat::envelope ? "application/x-ndjson" : "application/json";
  if (headers_.has_content_type()) content_type = {};
  const HttpRequest req{opts_.method, url_.authority, url_.target, content_type, body_len_,
                        std::string_view(extra_, xr.size + configured.size()), std::string_view(body_.data(), body_len_)};
  if (std::error_code wec = co_await http_write_request(net_, c.link, head_, req, opts_.write_timeout)) {
    c.link.close();
    if (wec == errc::too_large) {
      ++stats_.protocol_errors;
      co_return Attempt{Outcome::retry, 0, "request head does not fit"};
    }
    stale = reused && wec != errc::timeout;
    if (!stale) net_.note_io_failure(TimedOp::write, wec);
    co_return Attempt{Outcome::retry, 0, wec == errc::timeout ? "write timeout" : "write failed"};
  }

  // The answer; interim 1xx answers are skipped by the reader, each read keeps read_timeout and
  // the whole answer response_timeout.
  HttpResponseReader rd(net_, c.link, c.parser, c.rbuf, opts_.read_timeout, opts_.response_timeout);
  answer_len_ = 0;
  for (bool complete = false; !complete;) {
    const HttpResponseReader::Event ev = co_await rd.next();
    switch (ev.kind) {
      case HttpResponseReader::Kind::headers: break;
      case HttpResponseReader::Kind::body: {  // the first kAnswerBytes: the reason, a JSON retry_after
        auto chunk = c.parser.body_chunk();
        std::size_t k = std::min(chunk.size(), kAnswerBytes - answer_len_);
        std::memcpy(answer_ + answer_len_, chunk.data(), k);
        answer_len_ += k;
        break;
      }
      case HttpResponseReader::Kind::done: complete = true; break;
      case HttpResponseReader::Kind::read_error:
        c.link.close();
        stale = reused && !rd.got_any() && ev.ec != errc::timeout;
        if (!stale) net_.note_io_failure(rd.response_timed_out() ? TimedOp::response : TimedOp::read, ev.ec);
        if (rd.response_timed_out()) co_return Attempt{Outcome::retry, 0, "response timeout"};
        co_return Attempt{Outcome::retry, 0, ev.ec == errc::timeout ? "read timeout" : "connection lost"};
      case HttpResponseReader::Kind::bad_response:
        c.link.close();
        ++stats_.protocol_errors;
        if (ev.interim == http::Interim::switching) co_return Attempt{Outcome::retry, 0, "101 Switching Protocols"};
        if (ev.interim == http::Interim::too_many) co_return Attempt{Outcome::retry, 0, "too many 1xx responses"};
        if (!c.parser.headers_complete()) co_return Attempt{Outcome::retry, 0, "bad response"};
        complete = true;  // e.g. an oversized body: the status stands, the connection does not
        break;
    }
  }
  ++c.requests;
  if (!c.parser.keep_alive() || rd.leftover() > 0) c.link.close();

  const int st = c.parser.status();
  answer_len_ = redact::scrub(answer_, answer_len_);  // a body echoing a secret: the reason is a dead letter's
  auto head = fmt::format_to_n(reason_, 16, "HTTP {}: ", st);
  const std::size_t reason_len = std::min<std::size_t>(answer_len_, 96);
  for (std::size_t i = 0; i < reason_len; ++i) {
    const char ch = answer_[i];
    reason_[head.size + i] = (ch >= 0x20 && ch < 0x7f) ? ch : ' ';
  }
  std::string_view reason(reason_, head.size + reason_len);
  if (st >= 200 && st < 300) co_return Attempt{Outcome::delivered, st, reason};
  if (st == 429 || st == 503) {
    // The server's time: Retry-After (seconds or an HTTP-date against the wall clock) and, on a
    // 429, a JSON body's retry_after (Discord) or parameters.retry_after (Telegram); the longest.
    ++stats_.http_retryable;
    Clock::duration wait{-1};
    if (!c.parser.truncated(http::Field::retry_after))
      if (auto h = retry_after::parse_header(c.parser.retry_after(), unix_ms())) wait = *h;
    if (st == 429) {
      ++stats_.rate_limited;
      if (auto b = retry_after::parse_json_body(std::string_view(answer_, answer_len_))) wait = std::max<Clock::duration>(wait, *b);
      co_return Attempt{Outcome::throttled, st, reason, wait};
    }
    if (wait >= Clock::duration::zero()) co_return Attempt{Outcome::throttled, st, reason, wait};
    co_return Attempt{Outcome::retry, st, reason};
  }
  if (st == 408 || st >= 500) {
    ++stats_.http_retryable;
    co_return Attempt{Outcome::retry, st, reason};
  }
  if (st >= 400) co_return Attempt{Outcome::dead, st, reason};
  // 3xx (1xx cannot get here): not followed, not lost: retried (and visible in last_status).
  co_return Attempt{Outcome::retry, st, reason};
}

}  // namespace bh
