// MQTT 3.1.1 codec: fixed header and remaining length, per-type field checks, encoders.
#include "platform/mqtt/codec.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace bh::mqtt {
namespace {

constexpr std::uint8_t kProtocolLevel = 4;  // 3.1.1

Decoded bad(std::string_view why) noexcept { return Decoded{Status::malformed, why}; }

// Reads from the packet's variable part; any read past the end marks it short.
struct Reader {
  std::string_view in;
  std::size_t pos = 0;
  bool shortfall = false;

  std::size_t left() const noexcept { return in.size() - pos; }
  std::uint8_t byte() noexcept {
    if (left() < 1) return shortfall = true, 0;
    return static_cast<std::uint8_t>(in[pos++]);
  }
  std::uint16_t u16() noexcept {
    if (left() < 2) return shortfall = true, 0;
    auto v = static_cast<std::uint16_t>((static_cast<std::uint8_t>(in[pos]) << 8) | static_cast<std::uint8_t>(in[pos + 1]));
    pos += 2;
    return v;
  }
  std::string_view bytes() noexcept {  // a length-prefixed field
    std::uint16_t n = u16();
    if (shortfall || left() < n) return shortfall = true, std::string_view();
    std::string_view s = in.substr(pos, n);
    pos += n;
    return s;
  }
};

// §1.5.3: well-formed UTF-8 (no surrogates, no overlongs) and no U+0000.
bool utf8_string_ok(std::string_view s) noexcept {
  if (s.empty()) return true;
  if (std::memchr(s.data(), 0, s.size()) != nullptr) return false;
  return simdjson::validate_utf8(s.data(), s.size());
}

std::uint8_t first_byte(Type t, std::uint8_t flags) noexcept {
  return static_cast<std::uint8_t>((static_cast<std::uint8_t>(t) << 4) | (flags & 0x0F));
}

// Writes the fixed header for `remaining` bytes; returns its size or 0.
std::size_t put_head(std::span<char> out, std::uint8_t first, std::size_t remaining) noexcept {
  if (remaining > kMaxRemaining || out.empty()) return 0;
  out[0] = static_cast<char>(first);
  std::size_t n = encode_remaining(out.subspan(1), static_cast<std::uint32_t>(remaining));
  if (n == 0 || 1 + n + remaining > out.size()) return 0;
  return 1 + n;
}

struct Writer {
  char* p;
  void u8(std::uint8_t v) noexcept { *p++ = static_cast<char>(v); }
  void u16(std::uint16_t v) noexcept {
    *p++ = static_cast<char>(v >> 8);
    *p++ = static_cast<char>(v & 0xFF);
  }
  void str(std::string_view s) noexcept {
    u16(static_cast<std::uint16_t>(s.size()));
    raw(s);
  }
  void raw(std::string_view s) noexcept {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
};

bool fits16(std::string_view s) noexcept { return s.size() <= 0xFFFF; }

Decoded decode_connect(Reader& r, Packet& out) noexcept {
  if (r.bytes() != "MQTT") return bad(r.shortfall ? "CONNECT cut short" : "not the MQTT protocol name");
  if (r.byte() != kProtocolLevel) return bad(r.shortfall ? "CONNECT cut short" : "unsupported protocol level");
  const std::uint8_t flags = r.byte();
  Connect& c = out.connect;
  c = Connect{};
  c.keep_alive = r.u16();
  if (r.shortfall) return bad("CONNECT cut short");
  if (flags & 0x01) return bad("CONNECT reserved flag set");
  c.clean_session = flags & 0x02;
  c.has_will = flags & 0x04;
  c.will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03);
  c.will_retain = flags & 0x20;
  c.has_password = flags & 0x40;
  c.has_username = flags & 0x80;
  if (c.will_qos == 3) return bad("bad will QoS");
  if (!c.has_will && (c.will_qos != 0 || c.will_retain)) return bad("will flags without a will");
  if (c.has_password && !c.has_username) return bad("password without user name");
  c.client_id = r.bytes();
  if (c.has_will) {
    c.will_topic = r.bytes();
    c.will_message = r.bytes();
  }
  if (c.has_username) c.username = r.bytes();
  if (c.has_password) c.password = r.bytes();
  if (r.shortfall) return bad("CONNECT cut short");
  if (r.left() != 0) return bad("bytes after CONNECT fields");
  if (!utf8_string_ok(c.client_id)) return bad("client id not UTF-8");
  if (c.client_id.empty() && !c.clean_session) return bad("empty client id needs a clean session");
  if (c.has_will && !topic_name_problem(c.will_topic).empty()) return bad("bad will topic");
  if (c.has_username && !utf8_string_ok(c.username)) return bad("user name not UTF-8");
  return Decoded{Status::ok, {}};
}

Decoded decode_publish(Reader& r, std::uint8_t flags, Packet& out) noexcept {
  Publish& p = out.publish;
  p = Publish{};
  p.dup = flags & 0x08;
  p.qos = static_cast<std::uint8_t>((flags >> 1) & 0x03);
  p.retain = flags & 0x01;
  p.topic = r.bytes();
  if (p.qos > 0) p.packet_id = r.u16();
  if (r.shortfall) return bad("PUBLISH cut short");
  if (p.qos > 0 && p.packet_id == 0) return bad("zero packet id");
  if (!topic_name_problem(p.topic).empty()) return bad("bad topic name");
  p.payload = r.in.substr(r.pos);
  return Decoded{Status::ok, {}};
}

Decoded decode_subscribe(Reader& r, Packet& out) noexcept {
  out.packet_id = r.u16();
  if (r.shortfall) return bad("SUBSCRIBE cut short");
  if (out.packet_id == 0) return bad("zero packet id");
  out.list = r.in.substr(r.pos);
  if (out.list.empty()) return bad("SUBSCRIBE without a filter");
  while (r.left() > 0) {
    std::string_view f = r.bytes();
    std::uint8_t q = r.byte();
    if (r.shortfall) return bad("SUBSCRIBE cut short");
    if (q > 2) return bad("bad requested QoS");
    if (!topic_filter_problem(f).empty()) return bad("bad topic filter");
  }
  return Decoded{Status::ok, {}};
}

}  // namespace

std::string_view connack_text(std::uint8_t code) noexcept {
  static constexpr std::array<std::string_view, 6> kText{
      "accepted",           "unacceptable protocol version", "identifier rejected",
      "server unavailable", "bad user name or password",     "not authorized"};
  return code < kText.size() ? kText[code] : "unknown return code";
}

std::string_view topic_name_problem(std::string_view t) noexcept {
  if (t.empty()) return "empty topic";
  if (t.size() > 0xFFFF) return "topic too long";
  if (!utf8_string_ok(t)) return "topic not UTF-8";
  if (t.find_first_of("+#") != std::string_view::npos) return "wildcard in a topic name";
  return {};
}

std::string_view topic_filter_problem(std::string_view f) noexcept {
  if (f.empty()) return "empty topic filter";
  if (f.size() > 0xFFFF) return "topic filter too long";
  if (!utf8_string_ok(f)) return "topic filter not UTF-8";
  for (std::size_t i = 0; i < f.size(); ++i) {
    const char ch = f[i];
    if (ch != '+' && ch != '#') continue;
    const bool starts = i == 0 || f[i - 1] == '/';
    const bool ends = i + 1 == f.size() || f[i + 1] == '/';
    if (!starts || !ends) return "wildcard not a whole level";
    if (ch == '#' && i + 1 != f.size()) return "'#' not the last level";
  }
  return {};
}

std::size_t encode_remaining(std::span<char> out, std::uint32_t v) noexcept {
  if (v > kMaxRemaining) return 0;
  std::size_t n = 0;
  do {
    if (n >= out.size()) return 0;
    std::uint8_t b = v & 0x7F;
    v >>= 7;
    if (v) b |= 0x80;
    out[n++] = static_cast<char>(b);
  } while (v);
  return n;
}

namespace {

// The fixed header at the start of `in`: type, flags (checked per type, §2.2.2) and the remaining
// length (at most 4 bytes, minimally encoded); `i` becomes the fixed header's size.
Decoded fixed_header(std::string_view in, Type& type, std::uint8_t& flags, std::uint32_t& remaining,
                     std::size_t& i) noexcept {
  if (in.empty()) return Decoded{Status::need_more, {}};
  const auto b0 = static_cast<std::uint8_t>(in[0]);
  const auto type_n = static_cast<std::uint8_t>(b0 >> 4);
  flags = b0 & 0x0F;
  if (type_n == 0 || type_n == 15 || type_n == static_cast<std::uint8_t>(Type::unsubscribe))
    return bad("unsupported packet type");
  type = static_cast<Type>(type_n);
  // §2.2.2: fixed flags per type.
  if (type == Type::publish) {
    const std::uint8_t q = (flags >> 1) & 0x03;
    if (q == 3) return bad("PUBLISH QoS 3");
    if (q == 0 && (flags & 0x08)) return bad("DUP on a QoS 0 PUBLISH");
  } else if (type == Type::pubrel || type == Type::subscribe) {
    if (flags != 0x02) return bad("bad fixed-header flags");
  } else if (flags != 0) {
    return bad("bad fixed-header flags");
  }
  // Remaining length: at most 4 bytes, minimally encoded.
  remaining = 0;
  i = 1;
  for (unsigned shift = 0;; shift += 7) {
    if (i >= in.size()) return Decoded{Status::need_more, {}};
    if (i > 4) return bad("bad remaining length");
    const auto b = static_cast<std::uint8_t>(in[i++]);
    remaining |= static_cast<std::uint32_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      if (b == 0 && i > 2) return bad("remaining length not minimal");
      break;
    }
    if (i > 4) return bad("bad remaining length");
  }
  return Decoded{Status::ok, {}};
}

}  // namespace

Decoded decode(std::string_view in, Packet& out, std::uint32_t max_packet) noexcept {
  Type type{};
  std::uint8_t flags = 0;
  std::uint32_t remaining = 0;
  std::size_t i = 0;
  if (Decoded d = fixed_header(in, type, flags, remaining, i); d.status != Status::ok) return d;
  const std::uint64_t total = i + std::uint64_t{remaining};
  if (total > max_packet) return bad("packet too large");
  // Fixed-size packets are checked before their bytes arrive.
  switch (type) {
    case Type::connack:
    case Type::puback:
    case Type::pubrec:
    case Type::pubrel:
    case Type::pubcomp:
    case Type::unsuback:
      if (remaining != 2) return bad("bad remaining length");
      break;
    case Type::pingreq:
    case Type::pingresp:
    case Type::disconnect:
      if (remaining != 0) return bad("bad remaining length");
      break;
    default: break;
  }
  if (in.size() < total) return Decoded{Status::need_more, {}};
  Reader r{in.substr(i, remaining)};
  out.type = type;
  out.size = static_cast<std::uint32_t>(total);
  out.packet_id = 0;
  out.list = {};
  switch (type) {
    case Type::connect: return decode_connect(r, out);
    case Type::connack: {
      const std::uint8_t ack = r.byte();
      out.connack_code = r.byte();
      if (ack & 0xFE) return bad("CONNACK reserved flags set");
      out.session_present = ack & 0x01;
      if (out.connack_code > 5) return bad("unknown CONNACK return code");
      if (out.connack_code != 0 && out.session_present) return bad("session present on a refusal");
      return Decoded{Status::ok, {}};
    }
    case Type::publish: return decode_publish(r, flags, out);
    case Type::puback:
    case Type::pubrec:
    case Type::pubrel:
    case Type::pubcomp:
    case Type::unsuback:
      out.packet_id = r.u16();
      if (out.packet_id == 0) return bad("zero packet id");
      return Decoded{Status::ok, {}};
    case Type::subscribe: return decode_subscribe(r, out);
    case Type::suback:
      out.packet_id = r.u16();
      if (r.shortfall) return bad("SUBACK cut short");
      if (out.packet_id == 0) return bad("zero packet id");
      out.list = r.in.substr(r.pos);
      if (out.list.empty()) return bad("SUBACK without a return code");
      for (char ch : out.list) {
        const auto c = static_cast<std::uint8_t>(ch);
        if (c > 2 && c != kSubackFailure) return bad("bad SUBACK return code");
      }
      return Decoded{Status::ok, {}};
    case Type::pingreq:
    case Type::pingresp:
    case Type::disconnect: return Decoded{Status::ok, {}};
    default: return bad("unsupported packet type");
  }
}

Decoded decode_publish_head(std::string_view in, Packet& out) noexcept {
  Type type{};
  std::uint8_t flags = 0;
  std::uint32_t remaining = 0;
  std::size_t i = 0;
  if (Decoded d = fixed_header(in, type, flags, remaining, i); d.status != Status::ok) return d;
  if (type != Type::publish) return bad("not a PUBLISH");
  // The topic's length, the topic and the packet id: only these bytes must be there.
  const std::size_t avail = std::min<std::size_t>(in.size() - i, remaining);
  if (avail < 2) return remaining < 2 ? bad("PUBLISH cut short") : Decoded{Status::need_more, {}};
  const std::size_t topic_len = (static_cast<std::size_t>(static_cast<std::uint8_t>(in[i])) << 8) |
                                static_cast<std::uint8_t>(in[i + 1]);
  const std::size_t head = 2 + topic_len + (((flags >> 1) & 0x03) > 0 ? 2 : 0);
  if (head > remaining) return bad("PUBLISH cut short");
  if (avail < head) return Decoded{Status::need_more, {}};
  Reader r{in.substr(i, head)};
  if (Decoded d = decode_publish(r, flags, out); d.status != Status::ok) return d;
  out.type = type;
  out.size = static_cast<std::uint32_t>(i + std::uint64_t{remaining});
  out.packet_id = 0;
  out.list = {};
  return Decoded{Status::ok, {}};
}

bool next_filter(std::string_view list, std::size_t& pos, std::string_view& filter, std::uint8_t& qos) noexcept {
  Reader r{list, pos};
  filter = r.bytes();
  qos = r.byte();
  if (r.shortfall) return false;
  pos = r.pos;
  return true;
}

std::size_t encode_connect(std::span<char> out, const Connect& c) noexcept {
  if (!fits16(c.client_id) || !fits16(c.username) || !fits16(c.password) || !fits16(c.will_topic) ||
      !fits16(c.will_message) || c.will_qos > 2)
    return 0;
  std::size_t rem = 10 + 2 + c.client_id.size();
  if (c.has_will) rem += 4 + c.will_topic.size() + c.will_message.size();
  if (c.has_username) rem += 2 + c.username.size();
  if (c.has_password) rem += 2 + c.password.size();
  std::size_t h = put_head(out, first_byte(Type::connect, 0), rem);
  if (h == 0) return 0;
  std::uint8_t flags = 0;
  if (c.clean_session) flags |= 0x02;
  if (c.has_will) flags |= static_cast<std::uint8_t>(0x04 | (c.will_qos << 3) | (c.will_retain ? 0x20 : 0));
  if (c.has_password) flags |= 0x40;
  if (c.has_username) flags |= 0x80;
  Writer w{out.data() + h};
  w.str("MQTT");
  w.u8(kProtocolLevel);
  w.u8(flags);
  w.u16(c.keep_alive);
  w.str(c.client_id);
  if (c.has_will) {
    w.str(c.will_topic);
    w.str(c.will_message);
  }
  if (c.has_username) w.str(c.username);
  if (c.has_password) w.str(c.password);
  return h + rem;
}

std::size_t encode_connack(std::span<char> out, bool session_present, std::uint8_t code) noexcept {
  std::size_t h = put_head(out, first_byte(Type::connack, 0), 2);
  if (h == 0) return 0;
  Writer w{out.data() + h};
  w.u8(session_present ? 1 : 0);
  w.u8(code);
  return h + 2;
}

std::size_t encode_publish_head(std::span<char> out, const Publish& p, std::size_t payload_len) noexcept {
  if (p.qos > 2 || !fits16(p.topic) || (p.qos > 0 && p.packet_id == 0) || (p.qos == 0 && p.dup)) return 0;
  const std::size_t rem = 2 + p.topic.size() + (p.qos > 0 ? 2 : 0) + payload_len;
  const auto flags =
      static_cast<std::uint8_t>((p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0));
  std::size_t h = put_head(out, first_byte(Type::publish, flags), rem);
  if (h == 0) return 0;
  Writer w{out.data() + h};
  w.str(p.topic);
  if (p.qos > 0) w.u16(p.packet_id);
  return static_cast<std::size_t>(w.p - out.data());
}

std::size_t encode_publish(std::span<char> out, const Publish& p) noexcept {
  std::size_t h = encode_publish_head(out, p, p.payload.size());
  if (h == 0) return 0;
  if (!p.payload.empty()) std::memcpy(out.data() + h, p.payload.data(), p.payload.size());
  return h + p.payload.size();
}

std::size_t encode_ack(std::span<char> out, Type type, std::uint16_t packet_id) noexcept {
  if (packet_id == 0) return 0;
  std::uint8_t flags = 0;
  switch (type) {
    case Type::pubrel: flags = 0x02; break;
    case Type::puback:
    case Type::pubrec:
    case Type::pubcomp:
    case Type::unsuback: break;
    default: return 0;
  }
  std::size_t h = put_head(out, first_byte(type, flags), 2);
  if (h == 0) return 0;
  Writer{out.data() + h}.u16(packet_id);
  return h + 2;
}

std::size_t encode_subscribe(std::span<char> out, std::uint16_t packet_id, std::span<const std::string_view> filters,
                             std::uint8_t qos) noexcept {
  if (packet_id == 0 || filters.empty() || qos > 2) return 0;
  std::size_t rem = 2;
  for (std::string_view f : filters) {
    if (!fits16(f)) return 0;
    rem += 3 + f.size();
  }
  std::size_t h = put_head(out, first_byte(Type::subscribe, 0x02), rem);
  if (h == 0) return 0;
  Writer w{out.data() + h};
  w.u16(packet_id);
  for (std::string_view f : filters) {
    w.str(f);
    w.u8(qos);
  }
  return h + rem;
}

std::size_t encode_suback(std::span<char> out, std::uint16_t packet_id, std::span<const std::uint8_t> codes) noexcept {
  if (packet_id == 0 || codes.empty()) return 0;
  std::size_t h = put_head(out, first_byte(Type::suback, 0), 2 + codes.size());
  if (h == 0) return 0;
  Writer w{out.data() + h};
  w.u16(packet_id);
  for (std::uint8_t c : codes) w.u8(c);
  return h + 2 + codes.size();
}

std::size_t encode_empty(std::span<char> out, Type type) noexcept {
  if (type != Type::pingreq && type != Type::pingresp && type != Type::disconnect) return 0;
  return put_head(out, first_byte(type, 0), 0);
}

void set_dup(std::span<char> packet) noexcept {
  if (!packet.empty()) packet[0] = static_cast<char>(static_cast<std::uint8_t>(packet[0]) | 0x08);
}

}  // namespace bh::mqtt
