// Sink type "mqtt": events as MQTT 3.1.1 PUBLISHes to a broker (issue #15), over the sink's
// Connector (resolve, connect, TLS for mqtts://, timed I/O, breaker, backoff) and the in-house
// codec (platform/mqtt/codec.hpp; in-house for house rule 1: libmosquitto and Paho allocate per
// message and queue without a bound).
//
// One connection, a persistent session (clean session = false, a fixed client id). Each event the
// sink takes is encoded once into a byte ring in body_ and recorded in a fixed window of at most
// max_inflight Flights; the window is written in order and, at QoS 1, each Flight waits for its
// PUBACK. The cursor moves only over a prefix of the window that is wholly acknowledged (skipped
// and filtered events settle with it), written in steps (every 1024 events, when the window
// drains, or after 100 ms). A lost connection (EOF, reset, a PUBACK or PINGRESP not within
// read_timeout, a malformed packet) is a failed attempt for the breaker and backoff; on the next
// connection every unacknowledged PUBLISH goes again, in order, with DUP set and its packet id.
// After a restart, the first 1024 + max_inflight events past the cursor go with DUP too (the
// previous process may have sent them). A CONNACK refusal (bad credentials, not authorised, ...)
// is counted (mqtt_refusals), logged once per code, and backs off like any failed connect.
// An event the topic or body template cannot render is dead-lettered alone, once the window
// before it has drained (dead-lettering moves the cursor). Keep-alive: a PINGREQ when nothing was
// written for keep_alive / 2, its PINGRESP due within read_timeout. A stop lets a write in
// progress finish, waits a moment for the PUBACKs on their way, then says DISCONNECT (the session
// stays: what is unacknowledged goes again on the next connection). No heap after prepare().
#include "platform/delivery/sink.hpp"
#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "platform/mqtt/codec.hpp"
#include "platform/transport/connector_http.hpp"
#include "platform/util/log.hpp"
#include "hal/clock.hpp"

namespace bh {
namespace {
// Envelope bytes besides the body (as sink.cpp's kEnvelopeOverhead, plus ,"clock_synced":false).
constexpr std::size_t kEnvelopeExtra = 40 + 20 + 20 + 96 + 24;
// The parse area at the end of body_: an envelope of the largest event, with simdjson's padding.
constexpr std::size_t kParseArea = Sink::kEventBytes + kEnvelopeExtra + JsonCheck::kPadding;
// body_ = [PUBLISH ring][parse area][rendered topic].
constexpr std::size_t kRingBytes = Sink::kBodyBytes - kParseArea - Sink::kTopicBytes;
// Events read from the store per look past the window.
constexpr std::uint64_t kReadAhead = 64;
// The cursor is written when this many events settled since the last write, after 100 ms, or when
// the window drains: one UPDATE per max_inflight events made the store the limit (~2 000/s).
constexpr std::uint64_t kPersistEvents = 1024;
constexpr auto kPersistEvery = std::chrono::milliseconds(100);
// How long a stop waits for the PUBACKs of what was sent, and for the DISCONNECT's write.
constexpr auto kGoodbye = std::chrono::seconds(1);
}  // namespace

std::error_code Sink::prepare_mqtt() {
  if (opts_.qos > 1) {
    log::error("sink {}: qos {} is not supported (0 or 1)", opts_.name, opts_.qos);
    return make_error_code(std::errc::invalid_argument);
  }
  if (!opts_.password.empty() && opts_.username.empty()) {
    log::error("sink {}: a password needs a username", opts_.name);
    return make_error_code(std::errc::invalid_argument);
  }
  if (auto e = compile_shape()) return e;
  TemplateError te;
  if (!Template::compile(opts_.topic, TemplateKind::text, topic_, te)) {
    log::error("sink {}: topic: {}", opts_.name, te.what());
    return make_error_code(std::errc::invalid_argument);
  }
  topic_fixed_ = topic_.placeholders() == 0;
  if (topic_fixed_) {
    if (auto why = mqtt::topic_name_problem(opts_.topic); !why.empty() || opts_.topic.size() > kTopicBytes) {
      log::error("sink {}: topic: {}", opts_.name, why.empty() ? "longer than 1024 bytes" : why);
      return make_error_code(std::errc::invalid_argument);
    }
  }
  parse_events_ = !filter_.empty() || opts_.format == SinkFormat::templated || !topic_fixed_;
  if (parse_events_ && !json_.init(kEventBytes + kEnvelopeExtra)) return make_error_code(std::errc::not_enough_memory);
  ring_cap_ = kRingBytes;
  opts_.max_inflight = std::clamp<std::uint32_t>(opts_.max_inflight, 1, kMaxInflight);

  mqtt::Connect c;
  if (opts_.client_id.empty()) opts_.client_id = "bulkhead-" + opts_.name;
  c.client_id = opts_.client_id;
  c.clean_session = false;
  c.keep_alive = static_cast<std::uint16_t>(
      std::clamp<std::int64_t>(std::chrono::duration_cast<std::chrono::seconds>(opts_.keep_alive).count(), 1, 65535));
  c.has_username = !opts_.username.empty();
  c.username = opts_.username;
  c.has_password = !opts_.password.empty();
  c.password = opts_.password;
  mqtt_connect_.resize(64 + c.client_id.size() + c.username.size() + c.password.size());
  const std::size_t n = mqtt::encode_connect(mqtt_connect_, c);
  if (n == 0) {
    log::error("sink {}: client_id, username or password too long", opts_.name);
    return make_error_code(std::errc::invalid_argument);
  }
  mqtt_connect_.resize(n);

  ConnectorTarget t;
  if (!http_target(opts_, url_, t) || (url_.scheme != http::Scheme::mqtt && url_.scheme != http::Scheme::mqtts) ||
      url_.target != "/") {
    log::error("sink {}: url must be mqtt://host[:port] or mqtts://host[:port]", opts_.name);
    return make_error_code(std::errc::invalid_argument);
  }
  t.dns.resolv_conf = opts_.resolv_conf;
  t.dns.hosts_file = opts_.hosts_file;
  t.dns.port = opts_.dns_port;
  conns_.set_limit(1);  // one connection: one session
  t.tls_contexts = 1;
  return net_.prepare(t);
}

bool Sink::mqtt_encode(const EventOut& e) {
  if (flight_n_ >= opts_.max_inflight) return false;
  if (!routed(e.source)) {
    read_to_ = e.seq;
    return true;
  }
  const bool templated = opts_.format == SinkFormat::templated;
  simdjson::dom::element env, data;
  std::string_view why;
  if (parse_events_) {
    char* area = body_.data() + ring_cap_;
    std::size_t n = e.body.size() <= kEventBytes ? format_envelope(e, area, kEventBytes + kEnvelopeExtra) : 0;
    bool parsed = false;
    if (n > 0) {
      std::memset(area + n, ' ', JsonCheck::kPadding);
      parsed = json_.parse_object(std::string_view(area, n - 1), env) && env["data"].get(data) == simdjson::SUCCESS;
    }
    if (!filter_.empty() && !(parsed && filter_.matches(data))) {
      ++stats_.filtered;
      read_to_ = e.seq;
      return true;
    }
    if (!parsed) why = e.body.size() > kEventBytes ? "the event is larger than 64 KiB" : "the event is not JSON";
    else if (templated && !data.is_object()) why = "the event is not a JSON object";
  }
  // The topic.
  std::string_view topic = opts_.topic;
  RenderResult tr;
  if (why.empty() && !topic_fixed_) {
    char* topic_buf = body_.data() + kRingBytes + kParseArea;
    tr = topic_.render(env, std::span<char>(topic_buf, kTopicBytes));
    if (!tr.ok()) why = tr.reason();
    else if (auto p = mqtt::topic_name_problem(std::string_view(topic_buf, tr.size())); !p.empty()) why = p;
    else topic = std::string_view(topic_buf, tr.size());
  }
  // Room in the ring: the head reserve, then the payload at most `need`.
  const std::size_t reserve = mqtt::kMaxFixedHeader + 2 + topic.size() + 2;
  const std::size_t need = reserve + (templated ? kEventBytes : e.body.size() + kEnvelopeExtra);
  if (flight_n_ == 0) ring_head_ = ring_tail_ = 0;
  std::size_t off;
  if (ring_tail_ >= ring_head_) {
    if (ring_cap_ - ring_tail_ >= need) off = ring_tail_;
    else if (ring_head_ > need) off = 0;
    else return false;
  } else if (ring_head_ - ring_tail_ > need) {
    off = ring_tail_;
  } else {
    return false;
  }
  if (why.empty() && need > ring_cap_) why = "the event does not fit the sink's buffer";
  if (!why.empty()) {
    if (flight_n_ > 0) return false;  // first the window drains (dead-lettering moves the cursor)
    dead_seq_ = e.seq;
    auto r = fmt::format_to_n(reason_, sizeof reason_, "mqtt: {}", why);
    unrenderable_len_ = std::min(r.size, sizeof reason_);
    return false;
  }
  char* base = body_.data() + off;
  std::size_t plen;
  if (templated) {
    RenderResult r = template_.render(data, std::span<char>(base + reserve, need - reserve));
    if (!r.ok()) {
      if (flight_n_ > 0) return false;
      dead_seq_ = e.seq;
      auto m = fmt::format_to_n(reason_, sizeof reason_, "template: {}", r.reason());
      unrenderable_len_ = std::min(m.size, sizeof reason_);
      return false;
    }
    plen = r.size();
  } else {
    plen = format_envelope(e, base + reserve, need - reserve);
    if (plen > 0) --plen;  // the envelope line without its '\n'
  }
  mqtt::Publish p;
  p.topic = topic;
  p.qos = opts_.qos;
  if (p.qos > 0) {
    p.packet_id = next_pid_;
    next_pid_ = next_pid_ == 65535 ? 1 : static_cast<std::uint16_t>(next_pid_ + 1);
    p.dup = e.seq <= dup_until_;
  }
  // The head goes at base (the payload is then moved down against it); its size check covers
  // the payload already rendered behind the reserve.
  const std::size_t h = mqtt::encode_publish_head(std::span<char>(base, reserve + plen), p, plen);
  BH_ASSERT(h > 0 && h <= reserve);
  std::memmove(base + h, base + reserve, plen);
  Flight& f = flight(flight_n_++);
  f = Flight{e.seq, static_cast<std::uint32_t>(off), static_cast<std::uint32_t>(h + plen), p.packet_id, false, false};
  ring_tail_ = off + h + plen;
  read_to_ = e.seq;
  stats_.mqtt_inflight = flight_n_;
  return true;
}

bool Sink::mqtt_fill() {
  while (flight_n_ < opts_.max_inflight && dead_seq_ == 0) {
    const std::uint64_t from = read_to_ + 1;
    // No more rows than the window has room for: the store visits every row of the range.
    const std::uint64_t room = std::min<std::uint64_t>(kReadAhead, opts_.max_inflight - flight_n_);
    const std::uint64_t to = std::min(store_.durable_seq(), read_to_ + room);
    if (from > to) break;
    bool stop = false;
    std::uint32_t count = 0;
    std::error_code ec = store_.read_range(
        from, to,
        [&](const EventOut& e) {
          if (!stop && !mqtt_encode(e)) stop = true;
        },
        count);
    if (ec) {
      ++stats_.store_errors;
      log::error("sink {}: reading the store failed: {}", opts_.name, ec.message());
      return false;
    }
    if (stop) break;
    read_to_ = to;  // a gap (purged events) settles too
  }
  return true;
}

void Sink::mqtt_settle(bool force) {
  while (flight_n_ > 0 && flight(0).acked) {
    flight_head_ = (flight_head_ + 1) % kMaxInflight;
    --flight_n_;
    if (flight_n_ > 0) ring_head_ = flight(0).off;
  }
  stats_.mqtt_inflight = flight_n_;
  const std::uint64_t settled = flight_n_ > 0 ? flight(0).seq - 1 : read_to_;
  const auto now = Clock::now();
  if (settled <= persisted_) return;
  if (!force && flight_n_ > 0 && settled - persisted_ < kPersistEvents && now - last_persist_ < kPersistEvery)
    return;
  if (auto e = store_.advance_cursor(id_, settled)) {
    ++stats_.store_errors;
    log::error("sink {}: cursor update failed: {}", opts_.name, e.message());
    return;
  }
  persisted_ = settled;
  last_persist_ = now;
}

Task<Sink::MqttStep> Sink::mqtt_connect(SinkConn& c, std::uint32_t slot) {
  if (auto e = co_await net_.resolve()) co_return MqttStep::lost;
  if (auto e = co_await net_.open(c.link, slot)) co_return MqttStep::lost;
  rlen_ = 0;
  if (co_await mqtt_write(c, mqtt_connect_, opts_.connect_timeout)) co_return MqttStep::lost;
  if (stopping_) {  // stop() came during the write and left it alone: no session to say goodbye to yet
    c.link.close();
    co_return MqttStep::lost;
  }
  last_write_ = Clock::now();
  // The CONNACK, within connect_timeout.
  mqtt::Packet p;
  for (;;) {
    auto [ec, n] = co_await net_.read_some(c.link, std::span<char>(c.rbuf + rlen_, SinkConn::kReadBytes - rlen_),
                                           opts_.connect_timeout);
    if (ec) {
      net_.note_io_failure(TimedOp::read, ec);
      if (ec == errc::timeout) ++stats_.mqtt_ack_timeouts;
      c.link.close();
      co_return MqttStep::lost;
    }
    rlen_ += n;
    mqtt::Decoded d = mqtt::decode(std::string_view(c.rbuf, rlen_), p, SinkConn::kReadBytes);
    if (d.status == mqtt::Status::need_more) continue;
    if (d.status == mqtt::Status::malformed || p.type != mqtt::Type::connack) {
      ++stats_.protocol_errors;
      log::warn("sink {}: the broker's answer to CONNECT is not a CONNACK ({})", opts_.name,
                d.status == mqtt::Status::malformed ? d.why : "another packet");
      c.link.close();
      co_return MqttStep::lost;
    }
    break;
  }
  std::memmove(c.rbuf, c.rbuf + p.size, rlen_ - p.size);
  rlen_ -= p.size;
  stats_.last_status = p.connack_code;
  if (p.connack_code != 0) {
    ++stats_.mqtt_refusals;
    if (stats_.mqtt_refusals == 1 || refusal_logged_ != p.connack_code)
      log::error("sink {}: the broker refused the connection: {} (return code {}); retrying with backoff (repeats "
                 "are counted, not logged)",
                 opts_.name, mqtt::connack_text(p.connack_code), p.connack_code);
    refusal_logged_ = p.connack_code;
    c.link.close();
    co_return MqttStep::refused;
  }
  if (refusal_logged_ != 0) log::info("sink {}: the broker accepts the connection again", opts_.name);
  refusal_logged_ = 0;
  log::debug("sink {}: connected ({}), {} PUBLISH(es) to resend", opts_.name,
             p.session_present ? "session resumed" : "new session", flight_n_);
  co_return MqttStep::ok;
}

Task<Sink::MqttStep> Sink::mqtt_write_unsent(SinkConn& c) {
  std::uint32_t i = 0;
  while (i < flight_n_) {
    if (flight(i).sent) {
      ++i;
      continue;
    }
    // A run of unsent Flights contiguous in the ring: one write.
    const std::uint32_t first = i;
    std::size_t end = flight(i).off + flight(i).len;
    ++i;
    while (i < flight_n_ && !flight(i).sent && flight(i).off == end) end += flight(i++).len;
    const std::size_t off = flight(first).off;
    if (co_await mqtt_write(c, std::string_view(body_.data() + off, end - off), opts_.write_timeout))
      co_return MqttStep::lost;
    last_write_ = Clock::now();
    for (std::uint32_t k = first; k < i; ++k) {
      Flight& f = flight(k);
      f.sent = true;
      if (opts_.qos == 0) {  // no PUBACK comes: written is delivered
        f.acked = true;
        ++stats_.delivered;
        ++stats_.batches;
      }
    }
  }
  co_return MqttStep::ok;
}

Task<Sink::MqttStep> Sink::mqtt_read(SinkConn& c, Clock::duration d, bool want_pingresp) {
  bool got_pingresp = false;
  bool got_any = false;
  for (;;) {
    // Every whole packet buffered first.
    for (;;) {
      mqtt::Packet p;
      mqtt::Decoded dd = mqtt::decode(std::string_view(c.rbuf, rlen_), p, SinkConn::kReadBytes);
      if (dd.status == mqtt::Status::need_more) break;
      if (dd.status == mqtt::Status::malformed) {
        ++stats_.protocol_errors;
        log::warn("sink {}: malformed packet from the broker: {}", opts_.name, dd.why);
        co_return MqttStep::lost;
      }
      got_any = true;
      if (p.type == mqtt::Type::puback) {
        bool found = false;
        for (std::uint32_t k = 0; k < flight_n_ && !found; ++k) {
          Flight& f = flight(k);
          if (f.sent && !f.acked && f.pid == p.packet_id) {
            f.acked = found = true;
            ++stats_.delivered;
            ++stats_.batches;
          }
        }
        if (!found) ++stats_.mqtt_stray_acks;
      } else if (p.type == mqtt::Type::pingresp) {
        got_pingresp = true;
      } else {
        ++stats_.protocol_errors;
        log::warn("sink {}: unexpected packet type {} from the broker", opts_.name, static_cast<int>(p.type));
        co_return MqttStep::lost;
      }
      std::memmove(c.rbuf, c.rbuf + p.size, rlen_ - p.size);
      rlen_ -= p.size;
    }
    if (got_any && (!want_pingresp || got_pingresp)) {
      // Every PUBACK already in the kernel's buffer too, without a timer or a reactor round trip:
      // one cycle settles many, so the refill is one store read and one write of many PUBLISHes.
      const std::size_t more = c.link.read_ready(std::span<char>(c.rbuf + rlen_, SinkConn::kReadBytes - rlen_));
      if (more == 0) co_return MqttStep::ok;
      rlen_ += more;
      continue;
    }
    auto [ec, n] = co_await net_.read_some(c.link, std::span<char>(c.rbuf + rlen_, SinkConn::kReadBytes - rlen_), d);
    if (ec) {
      if (ec == errc::timeout && stopping_) co_return MqttStep::lost;  // the goodbye's wait ran out
      if (ec == errc::timeout) {
        ++stats_.mqtt_ack_timeouts;
        log::warn("sink {}: no {} within read_timeout; reconnecting", opts_.name, want_pingresp ? "PINGRESP" : "PUBACK");
      }
      net_.note_io_failure(TimedOp::read, ec);
      co_return MqttStep::lost;
    }
    rlen_ += n;
  }
}

Task<std::error_code> Sink::mqtt_write(SinkConn& c, std::string_view bytes, Clock::duration timeout) {
  mqtt_writing_ = true;
  const std::error_code ec = co_await net_.write_all(c.link, bytes, timeout);
  mqtt_writing_ = false;
  if (ec) {
    net_.note_io_failure(TimedOp::write, ec);
    c.link.close();  // perhaps cut mid-packet: nothing more can go on this connection
  }
  co_return ec;
}

Task<void> Sink::mqtt_goodbye(SinkConn& c) {
  const auto until = Clock::now() + std::min<Clock::duration>(opts_.write_timeout, kGoodbye);
  auto unacked = [&] {
    for (std::uint32_t k = 0; k < flight_n_; ++k)
      if (flight(k).sent && !flight(k).acked) return true;
    return false;
  };
  while (unacked() && !cancelled()) {
    const Clock::duration left = until - Clock::now();
    if (left <= Clock::duration::zero() || co_await mqtt_read(c, left, false) != MqttStep::ok) break;
  }
  if (cancelled() || !c.link.is_open()) co_return;
  char bye[2];
  mqtt::encode_empty(bye, mqtt::Type::disconnect);
  const Clock::duration left = until - Clock::now();
  (void)co_await mqtt_write(c, std::string_view(bye, 2), std::max<Clock::duration>(left, std::chrono::milliseconds(100)));
}

Task<void> Sink::run_mqtt() {
  running_ = true;
  ConnPool::Lease lease;
  while (!lease && !stopping_ && !cancelled()) {
    auto [ec, l] = co_await acquire(conns_, opts_.pool_timeout, tasks_.executor(), opts_.max_response_bytes);
    if (ec) {
      ++stats_.pool_timeouts;
      co_await pause(std::chrono::seconds(1));
      continue;
    }
    lease = std::move(l);
  }
  read_to_ = persisted_ = store_.cursor(id_);
  if (opts_.qos > 0) dup_until_ = read_to_ + kPersistEvents + opts_.max_inflight;
  bool connected = false;
  while (lease && !stopping_ && !cancelled()) {
    SinkConn& c = *lease;
    mqtt_link_ = &c.link;
    auto lost = [&] {  // the connection is gone: everything unacknowledged goes again, with DUP
      c.link.close();
      rlen_ = 0;
      connected = false;
      for (std::uint32_t k = 0; k < flight_n_; ++k) {
        Flight& f = flight(k);
        if (f.sent && !f.acked) {
          f.sent = false;
          mqtt::set_dup(std::span<char>(body_.data() + f.off, f.len));
          ++stats_.mqtt_resent;
        }
      }
      ++stats_.retries;
      return net_.failed(Clock::now());
    };
    auto now = Clock::now();
    if (!connected) {
      if (!net_.admit(now)) {
        co_await pause(net_.breaker().retry_at() - now);
        continue;
      }
      const MqttStep s = co_await mqtt_connect(c, lease.index());
      if (stopping_) break;
      if (s != MqttStep::ok) {
        co_await pause(lost());
        continue;
      }
      net_.succeeded(Clock::now());
      connected = true;
    }
    if (!mqtt_fill()) {
      co_await pause(std::chrono::seconds(1));
      continue;
    }
    if (co_await mqtt_write_unsent(c) != MqttStep::ok) {
      if (!stopping_) co_await pause(lost());
      continue;
    }
    if (stopping_) break;  // stop() came during the write: the goodbye waits for its PUBACKs
    mqtt_settle(false);
    now = Clock::now();
    const Clock::duration ping_every = opts_.keep_alive / 2;
    if (flight_n_ == 0) {
      mqtt_settle(true);
      if (dead_seq_ != 0) {  // the window before it has drained: it alone goes to the dead-letter table
        const std::string_view why(reason_, unrenderable_len_);
        ++stats_.unrenderable;
        ++stats_.dead_lettered;
        ++stats_.dead_events;
        log::warn("sink {}: seq {}: {}: moved to the dead-letter table", opts_.name, dead_seq_, why);
        if (auto e = store_.dead_letter(id_, dead_seq_, dead_seq_, 0, why, hal::unix_ms())) {
          ++stats_.store_errors;
          log::error("sink {}: dead-lettering failed: {}", opts_.name, e.message());
          co_await pause(std::chrono::seconds(1));
          continue;
        }
        read_to_ = persisted_ = dead_seq_;
        dead_seq_ = 0;
        continue;
      }
      if (now - last_write_ >= ping_every) {
        char ping[2];
        mqtt::encode_empty(ping, mqtt::Type::pingreq);
        ++stats_.mqtt_pings;
        auto ec = co_await mqtt_write(c, std::string_view(ping, 2), opts_.write_timeout);
        last_write_ = Clock::now();
        if (stopping_) break;
        if (ec || co_await mqtt_read(c, opts_.read_timeout, true) != MqttStep::ok) {
          if (!stopping_) co_await pause(lost());
        }
        continue;
      }
      // More committed than read (QoS 0 settles a window as soon as it is written, while events
      // keep arriving; the store's wake-up may have come during the write): the next window now.
      if (read_to_ < store_.durable_seq()) continue;
      co_await wake_.wait(std::min<Clock::duration>(opts_.idle_poll, last_write_ + ping_every - now));
      continue;
    }
    if (now - last_write_ >= ping_every) {  // a long wait for PUBACKs: keep the session alive
      char ping[2];
      mqtt::encode_empty(ping, mqtt::Type::pingreq);
      ++stats_.mqtt_pings;
      if (co_await mqtt_write(c, std::string_view(ping, 2), opts_.write_timeout)) {
        if (!stopping_) co_await pause(lost());
        continue;
      }
      last_write_ = Clock::now();
      if (stopping_) break;
    }
    if (co_await mqtt_read(c, opts_.read_timeout, false) != MqttStep::ok) {
      if (!stopping_) co_await pause(lost());
      continue;
    }
    mqtt_settle(false);
  }
  if (connected && lease && lease->link.is_open() && !cancelled()) co_await mqtt_goodbye(*lease);
  if (lease) lease->link.close();  // after a DISCONNECT too: MQTT 3.1.1 3.14.4, the client closes
  mqtt_settle(true);
  mqtt_link_ = nullptr;
  log_tls_summary();
  running_ = false;
}

}  // namespace bh
