// MqttSource: CONNECT/SUBSCRIBE, PUBLISH -> event, PUBACK after the store reported the commit.
#include "platform/sources/mqtt_source.hpp"

#include <algorithm>
#include <cstring>

#include "platform/mqtt/codec.hpp"
#include "platform/util/log.hpp"

namespace bh {

std::error_code MqttSource::prepare_mqtt() {
  if (url_.scheme != http::Scheme::mqtt && url_.scheme != http::Scheme::mqtts) {
    log::error("source {}: url must be mqtt://host[:port] or mqtts://host[:port]", opts_.name);
    return make_error_code(std::errc::invalid_argument);
  }
  if (m_.topics.empty() || m_.topics.size() > mqtt::kMaxSubscribeFilters || m_.qos > 1) {
    log::error("source {}: topics: 1 to {} topic filters, qos 0 or 1", opts_.name, mqtt::kMaxSubscribeFilters);
    return make_error_code(std::errc::invalid_argument);
  }
  std::vector<std::string_view> filters;
  for (const std::string& t : m_.topics) {
    if (auto why = mqtt::topic_filter_problem(t); !why.empty()) {
      log::error("source {}: topic filter \"{}\": {}", opts_.name, t, why);
      return make_error_code(std::errc::invalid_argument);
    }
    filters.push_back(t);
  }
  if (m_.client_id.empty()) m_.client_id = "bulkhead-" + opts_.name;
  mqtt::Connect c;
  c.client_id = m_.client_id;
  c.clean_session = false;
  c.keep_alive = static_cast<std::uint16_t>(std::clamp<std::int64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(opts_.ping_interval + opts_.pong_timeout).count(), 1, 65535));
  c.has_username = !m_.username.empty();
  c.username = m_.username;
  c.has_password = !m_.password.empty();
  c.password = m_.password;
  connect_.resize(64 + c.client_id.size() + c.username.size() + c.password.size());
  connect_.resize(mqtt::encode_connect(connect_, c));
  std::size_t sub_bytes = 16;
  for (auto f : filters) sub_bytes += f.size() + 3;
  subscribe_.resize(sub_bytes);
  subscribe_.resize(mqtt::encode_subscribe(subscribe_, 1, filters, m_.qos));
  if (connect_.empty() || subscribe_.empty() || subscribe_.size() > sizeof(SourceConn::head)) {
    log::error("source {}: client_id, username, password or topics too long", opts_.name);
    return make_error_code(std::errc::invalid_argument);
  }
  return {};
}

void MqttSource::take(SourceConn& c, std::string_view topic, std::string_view payload) noexcept {
  static constexpr std::string_view kTopic = "{\"topic\":\"";
  char* ev = c.event;
  const std::size_t cap = opts_.max_event_bytes;
  const std::size_t esc = json_escape(topic, nullptr);
  // A JSON object payload goes in as `data`: checked in place at the end of the event buffer's
  // room (with the validator's padding after it), then moved behind the prefix.
  std::size_t lead = 0;
  while (lead < payload.size() && (payload[lead] == ' ' || payload[lead] == '\n' || payload[lead] == '\r' || payload[lead] == '\t'))
    ++lead;
  const std::size_t prefix = kTopic.size() + esc + 9;  // {"topic":"…","data":
  if (lead < payload.size() && payload[lead] == '{' && prefix + payload.size() + 1 <= cap) {
    std::memcpy(ev, payload.data(), payload.size());
    std::memset(ev + payload.size(), ' ', JsonCheck::kPadding);
    if (json_.is_object(std::string_view(ev, payload.size()))) {
      std::memmove(ev + prefix, ev, payload.size());
      std::memcpy(ev, kTopic.data(), kTopic.size());
      json_escape(topic, ev + kTopic.size());
      std::memcpy(ev + kTopic.size() + esc, "\",\"data\":", 9);
      ev[prefix + payload.size()] = '}';
      const std::size_t n = prefix + payload.size() + 1;
      std::memset(ev + n, ' ', JsonCheck::kPadding);
      deliver(std::string_view(ev, n), "application/json", false);
      return;
    }
  }
  // Anything else: the payload as a JSON string (invalid UTF-8 becomes U+FFFD).
  const std::size_t tesc = json_escape(payload, nullptr);
  const std::size_t n = kTopic.size() + esc + 10 + tesc + 2;  // {"topic":"…","text":"…"}
  if (n > cap) {
    ++stats_.too_large;
    record_data_error("a message exceeds max_event_bytes {}: not stored (counted)", opts_.max_event_bytes);
    return;
  }
  std::size_t k = 0;
  std::memcpy(ev, kTopic.data(), kTopic.size());
  k += kTopic.size();
  k += json_escape(topic, ev + k);
  std::memcpy(ev + k, "\",\"text\":\"", 10);
  k += 10;
  k += json_escape(payload, ev + k);
  ev[k++] = '"';
  ev[k++] = '}';
  std::memset(ev + k, ' ', JsonCheck::kPadding);
  deliver(std::string_view(ev, k), "application/json", false);
}

Task<Source::Outcome> MqttSource::session(SourceConn& c) {
  npending_ = 0;
  if (auto ec = co_await write_all(c, connect_, opts_.connect_timeout)) {
    note_io_failure("write", ec);
    co_return Outcome::failed;
  }
  auto last_write = Clock::now();
  std::size_t have = 0;
  bool up = false;          // CONNACK accepted and SUBACK seen
  bool connacked = false;
  bool ping_out = false;
  Clock::time_point ping_at{};
  const auto setup_deadline = Clock::now() + opts_.connect_timeout;
  std::uint64_t skip = 0;  // bytes of a refused oversized PUBLISH still to read past
  for (;;) {
    // Every whole packet buffered.
    std::size_t off = 0;
    for (;;) {
      if (skip > 0) {  // discarded as they arrive, never stored
        const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(skip, have - off));
        off += k;
        skip -= k;
        if (skip > 0) break;
      }
      mqtt::Packet p;
      mqtt::Decoded d = mqtt::decode(std::string_view(c.rbuf + off, have - off), p, sizeof c.rbuf);
      if (d.status == mqtt::Status::malformed && connacked && d.why == "packet too large") {
        // A PUBLISH over the read buffer: refused like one over max_event_bytes (counted, logged
        // once, acknowledged) and read past, so it cannot wedge the subscription. Its head is
        // still checked.
        d = mqtt::decode_publish_head(std::string_view(c.rbuf + off, have - off), p);
        if (d.status == mqtt::Status::ok) {
          skip = p.size;
          ++stats_.messages;
          ++stats_.too_large;
          record_data_error("a message of {} bytes exceeds the {}-byte read buffer: not stored (counted)", p.size,
                            sizeof c.rbuf);
          if (p.publish.qos == 1) pending_[npending_++] = p.publish.packet_id;
          if (npending_ == kMaxPending) break;
          continue;
        }
      }
      if (d.status == mqtt::Status::need_more) break;
      if (d.status == mqtt::Status::malformed) {
        ++stats_.protocol_errors;
        record_error("malformed packet from {}: {}", url_.authority, d.why);
        co_return up ? Outcome::ended : Outcome::failed;
      }
      off += p.size;
      if (!connacked) {
        if (p.type != mqtt::Type::connack) {
          ++stats_.protocol_errors;
          record_error("{} did not answer CONNECT with CONNACK", url_.authority);
          co_return Outcome::failed;
        }
        if (p.connack_code != 0) {
          ++stats_.protocol_errors;
          record_error("{} refused the connection: {} (CONNACK {})", url_.authority, mqtt::connack_text(p.connack_code),
                       p.connack_code);
          co_return Outcome::failed;
        }
        connacked = true;
        if (auto ec = co_await write_all(c, subscribe_, opts_.connect_timeout)) {
          note_io_failure("write", ec);
          co_return Outcome::failed;
        }
        last_write = Clock::now();
        continue;
      }
      switch (p.type) {
        case mqtt::Type::suback:
          for (char code : p.list)
            if (static_cast<std::uint8_t>(code) == mqtt::kSubackFailure) {
              ++stats_.protocol_errors;
              record_error("{} refused a topic filter (SUBACK 0x80)", url_.authority);
              co_return Outcome::failed;
            }
          if (!up) {
            up = true;
            established();
          }
          break;
        case mqtt::Type::publish:
          if (p.publish.qos > 1) {  // we subscribed at most at 1: the broker must downgrade
            ++stats_.protocol_errors;
            record_error("{} sent a QoS 2 PUBLISH to a QoS 1 subscription", url_.authority);
            co_return Outcome::ended;
          }
          ++stats_.messages;
          take(c, p.publish.topic, p.publish.payload);
          if (p.publish.qos == 1) pending_[npending_++] = p.publish.packet_id;
          break;
        case mqtt::Type::pingresp: ping_out = false; break;
        default:
          ++stats_.protocol_errors;
          record_error("unexpected packet type {} from {}", static_cast<int>(p.type), url_.authority);
          co_return Outcome::ended;
      }
      if (npending_ == kMaxPending) break;  // acknowledge these first
    }
    std::memmove(c.rbuf, c.rbuf + off, have - off);
    have -= off;
    // PUBACKs once the store reported every event queued so far, and nothing was lost.
    if (npending_ > 0) {
      const std::uint64_t lost_before = stats_.store_errors + stats_.dropped;
      const bool ok = co_await drained(opts_.read_timeout);
      if (halted()) {
        co_await goodbye(c, lost_before);
        co_return Outcome::ended;
      }
      if (!ok || stats_.store_errors + stats_.dropped != lost_before) {
        record_error("the store did not take every message: reconnecting without acknowledging them");
        co_return Outcome::ended;
      }
      const std::size_t n = take_pubacks(c);
      if (auto ec = co_await write_all(c, std::string_view(c.ctrl, n), opts_.read_timeout)) {
        note_io_failure("write", ec);
        co_return Outcome::ended;
      }
      last_write = Clock::now();
      continue;  // more may be buffered
    }
    if (halted()) {
      co_await goodbye(c, stats_.store_errors + stats_.dropped);
      co_return Outcome::ended;
    }
    // Keep-alive, and the read's deadline.
    auto now = Clock::now();
    Clock::duration wait;
    if (!up) {
      wait = setup_deadline - now;
      if (wait <= Clock::duration::zero()) {
        ++stats_.handshake_timeouts;
        record_error("no {} from {} within connect_timeout", connacked ? "SUBACK" : "CONNACK", url_.authority);
        co_return Outcome::failed;
      }
    } else if (ping_out) {
      wait = ping_at + opts_.pong_timeout - now;
      if (wait <= Clock::duration::zero()) {
        ++stats_.pong_timeouts;
        record_error("no PINGRESP from {} within pong_timeout", url_.authority);
        co_return Outcome::ended;
      }
    } else {
      wait = last_write + opts_.ping_interval - now;
      if (wait <= Clock::duration::zero()) {
        char ping[2];
        mqtt::encode_empty(ping, mqtt::Type::pingreq);
        if (auto ec = co_await write_all(c, std::string_view(ping, 2), opts_.read_timeout)) {
          note_io_failure("write", ec);
          co_return Outcome::ended;
        }
        ++stats_.pings;
        last_write = ping_at = Clock::now();
        ping_out = true;
        continue;
      }
    }
    if (have == sizeof c.rbuf) {
      ++stats_.protocol_errors;
      record_error("a packet from {} is over {} bytes", url_.authority, sizeof c.rbuf);
      co_return up ? Outcome::ended : Outcome::failed;
    }
    auto [ec, n] = co_await read_some(c, std::span<char>(c.rbuf + have, sizeof c.rbuf - have), wait);
    if (halted()) {  // a read interrupted: nothing is pending (acknowledged before every read)
      co_await goodbye(c, stats_.store_errors + stats_.dropped);
      co_return Outcome::ended;
    }
    if (ec == errc::timeout) continue;  // the deadlines above decide
    if (ec) {
      ++stats_.peer_closes;
      note_io_failure("read", ec);
      co_return up ? Outcome::ended : Outcome::failed;
    }
    have += n;
  }
}

std::size_t MqttSource::take_pubacks(SourceConn& c) noexcept {
  std::size_t n = 0;
  for (std::uint32_t i = 0; i < npending_; ++i)
    n += mqtt::encode_ack(std::span<char>(c.ctrl + n, sizeof c.ctrl - n), mqtt::Type::puback, pending_[i]);
  npending_ = 0;
  return n;
}

Task<void> MqttSource::goodbye(SourceConn& c, std::uint64_t lost_before) {
  const Clock::duration bound = std::min<Clock::duration>(opts_.read_timeout, kGoodbye);
  const bool stored = npending_ > 0 && co_await drained(bound, true) && stats_.store_errors + stats_.dropped == lost_before;
  const std::size_t n = take_pubacks(c);
  if (stored && !cancelled() && co_await write_all(c, std::string_view(c.ctrl, n), bound)) co_return;  // link broken
  if (cancelled()) co_return;
  char bye[2];
  mqtt::encode_empty(bye, mqtt::Type::disconnect);
  (void)co_await write_all(c, std::string_view(bye, 2), bound);
}

}  // namespace bh
