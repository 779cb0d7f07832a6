// MqttSource (`[[source]] type = "mqtt"`, issue #15): an MQTT 3.1.1 subscriber over the source's
// Connector (mqtt:// or mqtts://), with the in-house codec (platform/mqtt/codec.hpp; in-house for
// house rule 1: libmosquitto and Paho allocate per message and queue without a bound).
// On every connect: CONNECT with a persistent session (clean session = false, the fixed
// `client_id`) within connect_timeout, its CONNACK (a refusal, e.g. bad credentials, is a failed
// attempt: recorded, counted in protocol_errors, backoff and breaker), then SUBSCRIBE to `topics`
// at `qos`; a refused filter (SUBACK 0x80) fails the session the same way.
// Each PUBLISH becomes one event of this source: {"topic":"<topic>","data":<payload>} when the
// payload is a JSON object, else {"topic":"<topic>","text":"<payload as a JSON string>"} (so
// filters and templates read /topic). At-least-once: the PUBACK for a QoS 1 message is written
// only once every event queued before it is committed to the store (Source::drained); while the
// store is behind, the socket is not read (the broker's own in-flight window then holds the rest).
// If an event is not stored (store error, queue drop), no PUBACK goes and the session ends: the
// broker sends the unacknowledged messages again on the next connection. Messages never stored on
// purpose (filtered, deduped, over max_event_bytes: counted) are acknowledged. So is a PUBLISH
// over the 16 KiB read buffer (counted as too_large, logged once): its head is decoded, the rest of
// its bytes read past in buffer-sized chunks and dropped, so one poison message cannot wedge the
// session in a reconnect/redeliver loop.
// Keep-alive: a PINGREQ after ping_interval without a write; its PINGRESP within pong_timeout.
// A stop or pause acknowledges what was stored and sends DISCONNECT (goodbye()).
// Reactor thread only; no heap after prepare_mqtt().
#pragma once
#include <array>
#include <string>
#include <vector>

#include "platform/sources/source.hpp"

namespace bh {

struct MqttSourceOptions {
  std::vector<std::string> topics;  // topic filters (wildcards allowed)
  std::uint8_t qos = 1;             // 0 or 1
  std::string client_id;            // "" = "bulkhead-<source name>"
  std::string username;
  std::string password;
};

class MqttSource final : public Source {
 public:
  // PUBLISHes received and not yet acknowledged (the broker's window is usually 20).
  static constexpr std::uint32_t kMaxPending = 64;

  MqttSource(TaskPoolBase& tasks, Committer& committer, JsonCheck& json, SourceConnPool& conns, SourceOptions opts,
             MqttSourceOptions m) noexcept
      : Source(tasks, committer, json, conns, std::move(opts)), m_(std::move(m)) {}

  // Start-up, after prepare(): checks the URL scheme and topic filters, builds the CONNECT and
  // SUBSCRIBE packets. Errors: invalid_argument (logged).
  std::error_code prepare_mqtt();
  const MqttSourceOptions& mqtt_options() const noexcept { return m_; }

 private:
  Task<Outcome> session(SourceConn& c) override;
  Clock::duration after_ok() const noexcept override { return Clock::duration::zero(); }
  // One PUBLISH as an event (deliver()), built in c.event.
  void take(SourceConn& c, std::string_view topic, std::string_view payload) noexcept;
  // A stop or pause ends the session politely: the PUBACKs for what the store took (the broker
  // would send those messages again to the next session: duplicates), then DISCONNECT. Each step
  // within kGoodbye (at most read_timeout); a cancel (the shutdown's grace is over) ends it.
  // `lost_before`: the source's store_errors + dropped when the pending messages were taken.
  Task<void> goodbye(SourceConn& c, std::uint64_t lost_before);
  // The PUBACKs of every pending message, encoded into c.ctrl (their bytes returned); none pending after.
  std::size_t take_pubacks(SourceConn& c) noexcept;
  static constexpr Clock::duration kGoodbye = std::chrono::seconds(1);

  MqttSourceOptions m_;
  std::string connect_;    // the CONNECT packet
  std::string subscribe_;  // the SUBSCRIBE packet
  std::array<std::uint16_t, kMaxPending> pending_{};
  std::uint32_t npending_ = 0;
};

}  // namespace bh
