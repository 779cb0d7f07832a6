// MQTT 3.1.1 packet codec (OASIS mqtt-v3.1.1, §2-3): the bytes of the control packets an MQTT
// sink and source exchange with a broker, encoded into the caller's buffer and decoded from a
// byte span. It is not a client: no connection, no session, no retries, no timers; the sink
// (platform/delivery/sink.hpp) and the source keep the protocol state in fixed tables.
//
// Why in-house, not libmosquitto or Eclipse Paho: house rule 1 (no heap on the hot path).
// Both libraries allocate per message (a struct and a payload copy for each PUBLISH, in and
// out) and queue outgoing QoS 1 messages without a bound while the broker is away; bulkhead's
// backlog is its store, so the in-flight window must be a fixed table whose cursor only moves on
// PUBACK. The codec is small because 3.1.1 is: fixed header, remaining length, a few fields.
//
// Packets: CONNECT, CONNACK, PUBLISH (DUP, QoS 0/1/2, RETAIN, packet id), PUBACK, PUBREC, PUBREL,
// PUBCOMP, SUBSCRIBE, SUBACK, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT. UNSUBSCRIBE and AUTH (5.0)
// are not decoded (malformed: "unsupported packet type").
// Decoding is strict: every reserved bit, flag combination, length, string (UTF-8, no U+0000,
// §1.5.3), topic name (no wildcards), topic filter (wildcards whole levels, '#' last), QoS,
// return code and packet id (non-zero) is checked, the remaining length must be minimally
// encoded (at most 4 bytes) and the packet must hold exactly its fields. A packet that is cut
// short is `need_more` (read more, call again with the longer span); any violation is
// `malformed` (close the connection: §4.8). Decoded views point into the input span.
// No heap, no exceptions; any thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace bh::mqtt {

enum class Type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
};

// The remaining length's largest value (4 varint bytes, §2.2.3).
inline constexpr std::uint32_t kMaxRemaining = 268'435'455;
// Fixed header (1) + the longest remaining length (4).
inline constexpr std::size_t kMaxFixedHeader = 5;
inline constexpr std::size_t kMaxSubscribeFilters = 16;

// CONNACK return codes (§3.2.2.3).
enum class ConnackCode : std::uint8_t {
  accepted = 0,
  bad_protocol = 1,
  identifier_rejected = 2,
  server_unavailable = 3,
  bad_credentials = 4,
  not_authorized = 5,
};
// "accepted", "unacceptable protocol version", ..., "not authorized"; "unknown" above 5.
std::string_view connack_text(std::uint8_t code) noexcept;

// SUBACK return code for a refused filter.
inline constexpr std::uint8_t kSubackFailure = 0x80;

struct Connect {
  std::string_view client_id;
  std::string_view username;   // used when has_username
  std::string_view password;   // binary; used when has_password (needs has_username, §3.1.2.9)
  std::string_view will_topic;  // used when has_will
  std::string_view will_message;
  std::uint16_t keep_alive = 60;  // seconds, 0 = none
  std::uint8_t will_qos = 0;
  bool has_username = false;
  bool has_password = false;
  bool has_will = false;
  bool will_retain = false;
  bool clean_session = true;
};

struct Publish {
  std::string_view topic;
  std::string_view payload;
  std::uint16_t packet_id = 0;  // QoS 1 and 2 only (non-zero)
  std::uint8_t qos = 0;
  bool dup = false;
  bool retain = false;
};

// A decoded packet. Which fields hold what depends on `type`; views point into the decoded span.
struct Packet {
  Type type = Type::pingreq;
  std::uint32_t size = 0;  // bytes of the whole packet (fixed header included)
  Connect connect;         // connect
  Publish publish;         // publish
  std::uint16_t packet_id = 0;  // puback, pubrec, pubrel, pubcomp, subscribe, suback, unsuback
  std::uint8_t connack_code = 0;  // connack
  bool session_present = false;   // connack
  // subscribe: the raw filter list (length-prefixed filter + QoS byte each, already validated);
  // suback: the return codes. Walk a subscribe's with next_filter().
  std::string_view list;
};

enum class Status : std::uint8_t { ok, need_more, malformed };

struct Decoded {
  Status status = Status::malformed;
  std::string_view why;  // malformed: a short static reason ("bad remaining length", ...)
};

// Decodes the packet at the start of `in`. ok: `out` holds it and out.size bytes of `in` are
// used (the rest is the next packet's). need_more: `in` is a prefix of a packet that may still
// be valid. malformed: `why` says what. A packet longer than `max_packet` is malformed ("packet
// too large") as soon as its remaining length is read.
// Example: for (;;) { Decoded d = decode(buf, p, 64 * 1024);
//            if (d.status == Status::need_more) break;  // read more
//            if (d.status == Status::malformed) return close(d.why);
//            handle(p); buf = buf.substr(p.size); }
Decoded decode(std::string_view in, Packet& out, std::uint32_t max_packet = kMaxRemaining + kMaxFixedHeader) noexcept;

// The head of a PUBLISH too long to buffer (decode() said "packet too large"): the fixed header,
// topic and packet id are checked as decode() checks them, and only their bytes need be in `in`.
// ok: out.publish holds qos, dup, retain, topic and packet_id, its payload is empty, and out.size
// is the whole packet's size (the caller reads past its remaining bytes). need_more: read more.
// malformed: not a PUBLISH, or its head is bad.
Decoded decode_publish_head(std::string_view in, Packet& out) noexcept;

// One filter of a decoded SUBSCRIBE's list: the next (filter, qos) at `pos`; false at the end.
bool next_filter(std::string_view list, std::size_t& pos, std::string_view& filter, std::uint8_t& qos) noexcept;

// Checks a topic name (PUBLISH: UTF-8, 1..65535 bytes, no U+0000, no '+' or '#') or a topic
// filter (SUBSCRIBE: the same, with '+' a whole level and '#' a whole last level). Returns ""
// when it is one, else why not.
std::string_view topic_name_problem(std::string_view t) noexcept;
std::string_view topic_filter_problem(std::string_view f) noexcept;

// Encoders: write one packet at the start of `out` and return its size, or 0 when it does not fit
// or a field is out of range (a string over 65535 bytes, QoS 3, a zero packet id with QoS > 0,
// remaining length past kMaxRemaining). They do not validate strings (the decoder does).
std::size_t encode_connect(std::span<char> out, const Connect& c) noexcept;
std::size_t encode_connack(std::span<char> out, bool session_present, std::uint8_t code) noexcept;
std::size_t encode_publish(std::span<char> out, const Publish& p) noexcept;
// The fixed header, topic and packet id of a PUBLISH whose payload (payload_len bytes) the
// caller writes right after; returns the header's size (0: does not fit / out of range).
std::size_t encode_publish_head(std::span<char> out, const Publish& p, std::size_t payload_len) noexcept;
// PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: the 4-byte acknowledgements.
std::size_t encode_ack(std::span<char> out, Type type, std::uint16_t packet_id) noexcept;
// SUBSCRIBE of `filters`, each at `qos`.
std::size_t encode_subscribe(std::span<char> out, std::uint16_t packet_id, std::span<const std::string_view> filters,
                             std::uint8_t qos) noexcept;
std::size_t encode_suback(std::span<char> out, std::uint16_t packet_id, std::span<const std::uint8_t> codes) noexcept;
// PINGREQ, PINGRESP, DISCONNECT: two bytes.
std::size_t encode_empty(std::span<char> out, Type type) noexcept;
// Sets the DUP flag of an encoded QoS > 0 PUBLISH (a resend, §3.3.1.1).
void set_dup(std::span<char> publish_packet) noexcept;

// The remaining-length varint: encode (1-4 bytes; 0 when v > kMaxRemaining or out is short).
std::size_t encode_remaining(std::span<char> out, std::uint32_t v) noexcept;

}  // namespace bh::mqtt
