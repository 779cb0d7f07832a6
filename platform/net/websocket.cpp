// RFC 6455 client side without I/O: handshake text, masked frames, and the server frame reader.
// The reader is a byte-exact state machine over (frame header | payload) that copies payloads
// into fixed buffers, so it never needs more input than it was given and never allocates.
#include "platform/net/websocket.hpp"

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>
#include <simdjson.h>

#include <algorithm>
#include <cstring>

#include "platform/net/http.hpp"

namespace bh::ws {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

// A space or control byte would split or inject a request line.
bool clean(std::string_view s) noexcept {
  for (unsigned char c : s)
    if (c <= 0x20 || c == 0x7f) return false;
  return true;
}

// Appends into a fixed span; remembers overflow instead of writing past the end.
struct Out {
  std::span<char> buf;
  std::size_t n = 0;
  bool over = false;
  void put(std::string_view s) noexcept {
    if (over || s.size() > buf.size() - n) {
      over = true;
      return;
    }
    if (!s.empty()) std::memcpy(buf.data() + n, s.data(), s.size());
    n += s.size();
  }
  void put_uint(unsigned v) noexcept {
    char tmp[10];
    std::size_t i = sizeof tmp;
    do {
      tmp[--i] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    put({tmp + i, sizeof tmp - i});
  }
};

// Base64 of the 16-byte key: 24 characters.
void key_base64(std::span<const std::uint8_t, 16> key, char (&out)[25]) noexcept {
  std::size_t olen = 0;
  mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out), sizeof out, &olen, key.data(), key.size());
}

// Codes an endpoint may put on the wire (RFC 6455 §7.4.1/§7.4.2 and the IANA registry: 1012..1014
// were registered later). 1004, 1005, 1006 and 1015 are reserved and never sent.
bool sendable_close_code(std::uint16_t c) noexcept {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

bool utf8_ok(const char* p, std::size_t n) noexcept { return n == 0 || simdjson::validate_utf8(p, n); }

// Writes the frame header for a FIN=1 frame of `op` with `n` payload bytes and `mask` into out.
std::size_t put_header(char* out, Opcode op, std::size_t n, const unsigned char (&mask)[4]) noexcept {
  std::size_t h = 0;
  out[h++] = static_cast<char>(0x80 | static_cast<unsigned>(op));
  if (n <= 125) {
    out[h++] = static_cast<char>(0x80 | n);
  } else if (n <= 0xffff) {
    out[h++] = static_cast<char>(0x80 | 126);
    out[h++] = static_cast<char>(n >> 8);
    out[h++] = static_cast<char>(n & 0xff);
  } else {
    out[h++] = static_cast<char>(0x80 | 127);
    const std::uint64_t v = n;
    for (int i = 7; i >= 0; --i) out[h++] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::memcpy(out + h, mask, 4);
  return h + 4;
}

void mask_copy(char* dst, const char* src, std::size_t n, const unsigned char (&mask)[4]) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    dst[i] = static_cast<char>(static_cast<unsigned char>(src[i]) ^ mask[i & 3]);
}

void mask_bytes(std::uint32_t key, unsigned char (&mask)[4]) noexcept {
  mask[0] = static_cast<unsigned char>(key >> 24);
  mask[1] = static_cast<unsigned char>(key >> 16);
  mask[2] = static_cast<unsigned char>(key >> 8);
  mask[3] = static_cast<unsigned char>(key);
}

bool is_control(Opcode op) noexcept { return static_cast<unsigned>(op) >= 8; }

}  // namespace

const char* to_string(Error e) noexcept {
  switch (e) {
    case Error::none: return "none";
    case Error::protocol: return "protocol";
    case Error::too_big: return "too_big";
    case Error::bad_utf8: return "bad_utf8";
  }
  return "unknown";
}

std::uint16_t close_code(Error e) noexcept {
  switch (e) {
    case Error::none: return kCloseNormal;
    case Error::protocol: return kCloseProtocolError;
    case Error::too_big: return kCloseTooBig;
    case Error::bad_utf8: return kCloseBadData;
  }
  return kCloseProtocolError;
}

// ---- Handshake

std::size_t write_handshake(std::span<char> out, std::string_view host, std::uint16_t port,
                            std::string_view path_and_query, std::span<const std::uint8_t, 16> key,
                            bool default_port) noexcept {
  if (host.empty() || path_and_query.empty() || path_and_query.front() != '/') return 0;
  if (!clean(host) || !clean(path_and_query)) return 0;
  char k[25];
  key_base64(key, k);
  // An IPv6 literal needs brackets in Host (RFC 9110 §7.2); accept it with or without them.
  const bool bracket = host.find(':') != std::string_view::npos && host.front() != '[';
  Out o{out};
  o.put("GET ");
  o.put(path_and_query);
  o.put(" HTTP/1.1\r\nHost: ");
  if (bracket) o.put("[");
  o.put(host);
  if (bracket) o.put("]");
  if (!default_port) {
    o.put(":");
    o.put_uint(port);
  }
  o.put("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
  o.put({k, 24});
  o.put("\r\nSec-WebSocket-Version: 13\r\nUser-Agent: ");
  o.put(http::kUserAgent);
  o.put("\r\n\r\n");
  return o.over ? 0 : o.n;
}

void accept_for_key(std::span<const std::uint8_t, 16> key, std::span<char, 28> out) noexcept {
  char k[25];
  key_base64(key, k);
  unsigned char text[24 + kGuid.size()];
  std::memcpy(text, k, 24);
  std::memcpy(text + 24, kGuid.data(), kGuid.size());
  unsigned char digest[20];
  mbedtls_sha1_ret(text, sizeof text, digest);
  unsigned char b64[29];
  std::size_t olen = 0;
  mbedtls_base64_encode(b64, sizeof b64, &olen, digest, sizeof digest);
  std::memcpy(out.data(), b64, 28);
}

std::size_t head_length(std::string_view buf) noexcept {
  const std::size_t p = buf.find("\r\n\r\n");
  return p == std::string_view::npos ? 0 : p + 4;
}

HandshakeHead find_handshake_head(std::string_view buf) noexcept {
  http::ResponseParser p;
  unsigned seen = 0;
  for (std::size_t off = 0;;) {
    const std::size_t len = head_length(buf.substr(off));
    if (len == 0) return {off, 0, ""};
    // A 1xx head is a whole message (no body): headers_done, then done on the empty rest.
    std::size_t n = 0;
    p.reset();
    http::Result r = p.feed(buf.substr(off, len), n);
    if (r == http::Result::headers_done && n == len) r = p.feed(std::string_view(), n);
    if (r != http::Result::done) return {off, len, ""};  // a final or malformed head: the check says which
    switch (http::skip_interim(p, seen)) {
      case http::Interim::skipped: off += len; continue;
      case http::Interim::too_many: return {off, len, "too many interim (1xx) responses"};
      case http::Interim::final:
      case http::Interim::switching: return {off, len, ""};
    }
  }
}

const char* check_handshake_response(std::string_view head, std::span<const std::uint8_t, 16> key) noexcept {
  http::ResponseParser p;
  std::size_t n = 0;
  const http::Result r = p.feed(head, n);
  if (r == http::Result::error) return "malformed response head";
  if (r != http::Result::headers_done) return "incomplete response head";
  if (n != head.size()) return "bytes after the response head";
  if (p.status() != 101) return "status is not 101 Switching Protocols";
  if (p.http_minor() != 1) return "response is not HTTP/1.1";
  if (!iequals(p.upgrade(), "websocket")) return "missing Upgrade: websocket";
  if (!p.connection_upgrade()) return "missing Connection: Upgrade";
  if (p.sec_websocket_accept().empty()) return "missing Sec-WebSocket-Accept";
  char want[28];
  accept_for_key(key, want);
  if (p.truncated(http::Field::sec_websocket_accept) || p.sec_websocket_accept() != std::string_view(want, 28))
    return "Sec-WebSocket-Accept does not match the key";
  // The parser does not capture these two fields; the head is well-formed, so plain CRLF-separated
  // `name: value` lines follow the status line.
  std::string_view rest = head.substr(head.find("\r\n") + 2);
  while (!rest.empty()) {
    const std::size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    if (value.empty()) continue;
    const std::string_view name = line.substr(0, colon);
    if (iequals(name, "sec-websocket-extensions")) return "server chose an extension we did not offer";
    if (iequals(name, "sec-websocket-protocol")) return "server chose a subprotocol we did not offer";
  }
  return "";
}

// ---- Frame writers

std::size_t write_frame(std::span<char> out, Opcode op, std::span<const char> payload,
                        std::uint32_t mask_key) noexcept {
  if (op == Opcode::continuation) return 0;
  if (is_control(op) && payload.size() > kMaxControlPayload) return 0;
  const std::size_t total = frame_size(payload.size());
  if (total > out.size() || total < payload.size()) return 0;
  unsigned char mask[4];
  mask_bytes(mask_key, mask);
  const std::size_t h = put_header(out.data(), op, payload.size(), mask);
  mask_copy(out.data() + h, payload.data(), payload.size(), mask);
  return h + payload.size();
}

std::size_t write_close(std::span<char> out, std::uint16_t code, std::string_view reason,
                        std::uint32_t mask_key) noexcept {
  if (code == kCloseNoStatus) {
    if (!reason.empty()) return 0;
    return write_frame(out, Opcode::close, {}, mask_key);
  }
  if (!sendable_close_code(code) || reason.size() > kMaxControlPayload - 2) return 0;
  if (!utf8_ok(reason.data(), reason.size())) return 0;
  char body[kMaxControlPayload];
  body[0] = static_cast<char>(code >> 8);
  body[1] = static_cast<char>(code & 0xff);
  if (!reason.empty()) std::memcpy(body + 2, reason.data(), reason.size());
  return write_frame(out, Opcode::close, {body, reason.size() + 2}, mask_key);
}

// ---- Reader

Reader::Reader(std::span<char> message_buffer) noexcept : buf_(message_buffer) {}

void Reader::reset() noexcept {
  st_ = St::header;
  hdr_have_ = 0;
  hdr_need_ = 2;
  op_ = Opcode::continuation;
  fin_ = false;
  control_ = false;
  remaining_ = 0;
  msg_open_ = false;
  msg_op_ = Opcode::continuation;
  msg_len_ = 0;
  ctrl_len_ = 0;
  error_ = Error::none;
  detail_ = "";
  closed_ = false;
}

Reader::Event Reader::fail(Error e, const char* detail, std::size_t consumed) noexcept {
  error_ = e;
  detail_ = detail;
  Event ev;
  ev.kind = Kind::error;
  ev.error = e;
  ev.detail = detail;
  ev.consumed = consumed;
  return ev;
}

// The fixed 2-byte part of a header is in: check every rule that it alone decides, and size the rest.
Reader::Event Reader::header_done(std::size_t consumed) noexcept {
  if (hdr_have_ == 2) {
    const unsigned b0 = hdr_[0], b1 = hdr_[1];
    fin_ = (b0 & 0x80) != 0;
    const unsigned op = b0 & 0x0f;
    if ((b0 & 0x70) != 0) return fail(Error::protocol, "reserved bits set", consumed);
    if (op != 0 && op != 1 && op != 2 && op != 8 && op != 9 && op != 10)
      return fail(Error::protocol, "unknown opcode", consumed);
    op_ = static_cast<Opcode>(op);
    control_ = is_control(op_);
    if ((b1 & 0x80) != 0) return fail(Error::protocol, "masked frame from server", consumed);
    const unsigned len7 = b1 & 0x7f;
    if (control_) {
      if (!fin_) return fail(Error::protocol, "fragmented control frame", consumed);
      if (len7 > kMaxControlPayload) return fail(Error::protocol, "control frame over 125 bytes", consumed);
    } else if (op_ == Opcode::continuation) {
      if (!msg_open_) return fail(Error::protocol, "continuation without a started message", consumed);
    } else if (msg_open_) {
      return fail(Error::protocol, "new message inside a fragmented message", consumed);
    }
    hdr_need_ = static_cast<std::uint8_t>(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0));
    if (hdr_need_ > 2) return {};  // the extended length follows
  }
  // The whole header is in.
  std::uint64_t len = hdr_[1] & 0x7f;
  if (len == 126) {
    len = (std::uint64_t{hdr_[2]} << 8) | hdr_[3];
  } else if (len == 127) {
    if ((hdr_[2] & 0x80) != 0) return fail(Error::protocol, "64-bit length with the high bit set", consumed);
    len = 0;
    for (int i = 2; i < 10; ++i) len = (len << 8) | hdr_[i];
  }
  if (control_) {
    ctrl_len_ = 0;
  } else {
    // Refuse before reading: a too-big message is never copied anywhere.
    const std::size_t have = op_ == Opcode::continuation ? msg_len_ : 0;
    if (len > buf_.size() - have) return fail(Error::too_big, "message larger than the buffer", consumed);
    if (op_ != Opcode::continuation) {
      msg_open_ = true;
      msg_op_ = op_;
      msg_len_ = 0;
    }
  }
  remaining_ = len;
  st_ = St::payload;
  if (remaining_ == 0) return frame_done(consumed);
  return {};
}

// The current frame's payload is complete: start the next header, and report what completed.
Reader::Event Reader::frame_done(std::size_t consumed) noexcept {
  st_ = St::header;
  hdr_have_ = 0;
  hdr_need_ = 2;
  Event ev;
  ev.consumed = consumed;
  ev.opcode = op_;
  switch (op_) {
    case Opcode::continuation:
    case Opcode::text:
    case Opcode::binary:
      if (!fin_) return {};
      msg_open_ = false;
      if (msg_op_ == Opcode::text && !utf8_ok(buf_.data(), msg_len_))
        return fail(Error::bad_utf8, "text message is not valid UTF-8", consumed);
      ev.kind = Kind::message;
      ev.opcode = msg_op_;
      ev.payload = {buf_.data(), msg_len_};
      return ev;
    case Opcode::ping:
    case Opcode::pong:
      ev.kind = op_ == Opcode::ping ? Kind::ping : Kind::pong;
      ev.payload = {ctrl_, ctrl_len_};
      return ev;
    case Opcode::close:
      if (ctrl_len_ == 1) return fail(Error::protocol, "close body of 1 byte", consumed);
      ev.kind = Kind::close;
      ev.close_code = kCloseNoStatus;
      if (ctrl_len_ >= 2) {
        ev.close_code = static_cast<std::uint16_t>((static_cast<unsigned char>(ctrl_[0]) << 8) |
                                                   static_cast<unsigned char>(ctrl_[1]));
        if (!sendable_close_code(ev.close_code)) return fail(Error::protocol, "invalid close code", consumed);
        if (!utf8_ok(ctrl_ + 2, ctrl_len_ - 2u))
          return fail(Error::bad_utf8, "close reason is not valid UTF-8", consumed);
        ev.payload = {ctrl_ + 2, ctrl_len_ - 2u};
      }
      closed_ = true;
      return ev;
  }
  return fail(Error::protocol, "unknown opcode", consumed);  // not reached: checked in the header
}

Reader::Event Reader::feed(std::span<const char> in) noexcept {
  if (error_ != Error::none) {
    Event ev;
    ev.kind = Kind::error;
    ev.error = error_;
    ev.detail = detail_;
    return ev;
  }
  Event ev;
  if (closed_) {
    ev.consumed = in.size();
    return ev;
  }
  std::size_t pos = 0;
  for (;;) {
    if (st_ == St::header) {
      while (hdr_have_ < hdr_need_) {
        if (pos == in.size()) {
          ev.consumed = pos;
          return ev;
        }
        hdr_[hdr_have_++] = static_cast<unsigned char>(in[pos++]);
        if (hdr_have_ == hdr_need_) {
          Event r = header_done(pos);
          if (r.kind != Kind::none) return r;
        }
      }
      continue;  // the header is complete: header_done moved to St::payload or finished the frame
    }
    // St::payload
    const std::size_t avail = in.size() - pos;
    const std::size_t take = remaining_ < avail ? static_cast<std::size_t>(remaining_) : avail;
    if (take != 0) {
      char* dst = control_ ? ctrl_ + ctrl_len_ : buf_.data() + msg_len_;
      std::memcpy(dst, in.data() + pos, take);
      if (control_) {
        ctrl_len_ = static_cast<std::uint8_t>(ctrl_len_ + take);
      } else {
        msg_len_ += take;
      }
      pos += take;
      remaining_ -= take;
    }
    if (remaining_ != 0) {
      ev.consumed = pos;
      return ev;
    }
    Event r = frame_done(pos);
    if (r.kind != Kind::none) return r;
  }
}

}  // namespace bh::ws
