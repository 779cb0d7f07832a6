// The WebSocket protocol (RFC 6455), client side, without I/O: the opening handshake request and
// its response check, masked frame writers, and an incremental reader of server frames that
// assembles messages into a caller-provided fixed buffer. No sockets, TLS, timers or reconnects
// (that is the WebSocket source), no extensions (permessage-deflate), no subprotocols, no server
// side. Nothing here allocates; errors are values.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace bh::ws {

enum class Opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

// Why the reader refused the stream. Every error ends the connection: send write_close() with
// close_code(error), then close the socket.
enum class Error : std::uint8_t {
  none,
  protocol,  // a frame breaking RFC 6455 (Reader::Event::detail says which rule)
  too_big,   // a message larger than the reader's message buffer (not read into memory)
  bad_utf8,  // a text message or close reason that is not valid UTF-8
};
const char* to_string(Error e) noexcept;  // "none", "protocol", "too_big", "bad_utf8"

// RFC 6455 §7.4.1 close codes used here.
inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseProtocolError = 1002;
inline constexpr std::uint16_t kCloseNoStatus = 1005;  // never on the wire: "the close had no code"
inline constexpr std::uint16_t kCloseBadData = 1007;   // invalid UTF-8
inline constexpr std::uint16_t kCloseTooBig = 1009;
// 1000 for none, 1002 protocol, 1007 bad_utf8, 1009 too_big.
std::uint16_t close_code(Error e) noexcept;

// Largest payload of a control frame (close, ping, pong), RFC 6455 §5.5.
inline constexpr std::size_t kMaxControlPayload = 125;
// Largest frame header: 2 + 8 (64-bit length) + 4 (mask key).
inline constexpr std::size_t kMaxFrameHeader = 14;
// Bytes write_frame() needs for a payload of n bytes.
constexpr std::size_t frame_size(std::size_t n) noexcept {
  return n + 2 + 4 + (n <= 125 ? 0 : n <= 0xffff ? 2 : 8);
}

// ---- Opening handshake (RFC 6455 §4.1)

// Writes the client's GET request into `out`:
//   GET <path_and_query> HTTP/1.1, Host (host[:port]; IPv6 hosts get brackets; the port is left
//   out when default_port), Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key (base64 of
//   `key`), Sec-WebSocket-Version: 13, User-Agent, and the blank line. No other headers.
// `key`: 16 random bytes chosen by the caller for this connection (keep them for the check below).
// Returns the bytes written, or 0 if they do not fit or host/path is empty, does not start with
// '/' (path), or contains a space or control byte. Nothing is written past `out`.
std::size_t write_handshake(std::span<char> out, std::string_view host, std::uint16_t port,
                            std::string_view path_and_query, std::span<const std::uint8_t, 16> key,
                            bool default_port) noexcept;

// The Sec-WebSocket-Accept value the server must answer for `key`:
// base64(SHA-1(base64(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), 28 characters.
void accept_for_key(std::span<const std::uint8_t, 16> key, std::span<char, 28> out) noexcept;

// Length of the response head at the start of `buf` (status line + fields + the blank line), or
// 0 if `buf` does not hold a complete head yet. Bytes after it are already WebSocket frames.
std::size_t head_length(std::string_view buf) noexcept;

// Where the handshake answer's head lies in what the server sent so far (`buf`), past the interim
// responses a server may send first (100 Continue, 103 Early Hints; RFC 9110 §15.2), skipped with
// http::skip_interim and its cap. length == 0 and error == "": no complete answer head yet, read on.
// error != "": a short static reason (too many interim responses). Bytes after offset + length are
// already WebSocket frames.
struct HandshakeHead {
  std::size_t offset = 0;
  std::size_t length = 0;
  const char* error = "";
};
HandshakeHead find_handshake_head(std::string_view buf) noexcept;

// Checks the server's response head (exactly the head: status line + header fields + the blank
// line, as head_length() cuts it). Accepted: a well-formed HTTP/1.1 101 response with
// `Upgrade: websocket`, a Connection field listing `upgrade`, Sec-WebSocket-Accept equal to
// accept_for_key(key), and no Sec-WebSocket-Extensions or Sec-WebSocket-Protocol (we ask for
// none). Field names and the upgrade token are case-insensitive.
// Returns "" if accepted, else a short static reason for the log (e.g. "status is not 101").
const char* check_handshake_response(std::string_view head, std::span<const std::uint8_t, 16> key) noexcept;

// ---- Frames, client -> server (always masked, RFC 6455 §5.3)

// Writes one complete frame (FIN=1) of `op` carrying `payload`, masked with `mask_key` (its
// big-endian bytes are the 4 masking bytes; the caller draws it from a PRNG for each frame).
// Returns the bytes written (frame_size(payload.size())), or 0 if it does not fit, `op` is
// continuation, or a control frame's payload is over 125 bytes.
std::size_t write_frame(std::span<char> out, Opcode op, std::span<const char> payload,
                        std::uint32_t mask_key) noexcept;

// Writes a close frame: `code` (big-endian) then `reason` (UTF-8, at most 123 bytes). kCloseNoStatus
// (1005) writes a close frame with an empty body. Returns the bytes written, or 0 if it does not
// fit, the reason is too long or not UTF-8, or the code may not be sent (RFC 6455 §7.4: below
// 1000, 1004, 1006, 1015, 1016..2999, 5000 and up).
std::size_t write_close(std::span<char> out, std::uint16_t code, std::string_view reason,
                        std::uint32_t mask_key) noexcept;

// ---- Frames, server -> client

// Incremental, zero-allocation reader of server frames. Feed it bytes as they arrive, in pieces
// of any size; it copies data-frame payloads into the message buffer given at construction (so the
// largest message is that buffer's size) and control-frame payloads into a 125-byte buffer of its
// own, so pings, pongs and a close may arrive between the fragments of a message without
// disturbing it.
// Rules enforced (Error::protocol): a masked frame, reserved bits set (no extension is
// negotiated), an unknown opcode, a control frame with FIN=0 or more than 125 bytes, a
// continuation without a started message, a new text/binary frame while a fragmented message is
// open, a 64-bit length with the high bit set, a close body of 1 byte or with a code that may not
// be sent. A message (all its fragments) over the buffer is Error::too_big, raised as soon as a
// frame header announces it, before its payload is read. A text message is validated as UTF-8 when
// it completes, a close reason when the close arrives (Error::bad_utf8).
// Notes: after an error, feed() keeps returning that error and consumes nothing until reset().
// After a close event, further input is discarded (consumed, Kind::none): the peer must send
// nothing after its close. Call only from one thread.
// Example:
//   Reader r(buffer);
//   while (!in.empty()) { auto ev = r.feed(in); in = in.subspan(ev.consumed);
//     if (ev.kind == Kind::none) break;  // all consumed; read more
//     if (ev.kind == Kind::message) deliver(ev.payload); ... }
class Reader {
 public:
  explicit Reader(std::span<char> message_buffer) noexcept;
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  struct Event {
    enum class Kind : std::uint8_t { none /*need more bytes*/, message, ping, pong, close, error };
    Kind kind = Kind::none;
    Opcode opcode = Opcode::continuation;  // text or binary for messages; the frame's for control
    std::string_view payload;              // message / ping / pong payload / close reason; valid until next feed
    std::uint16_t close_code = 0;          // for close (kCloseNoStatus if the close had no body)
    Error error = Error::none;             // for error: what; close with close_code(error)
    const char* detail = "";               // for error: the rule broken, static, for the log
    std::size_t consumed = 0;              // bytes of the input consumed by this call
  };
  using Kind = Event::Kind;

  // Consumes a prefix of `in` and returns at most one event; call again with the rest. Kind::none
  // means every byte of `in` was consumed and no event is complete yet.
  Event feed(std::span<const char> in) noexcept;
  // Forgets all state (a partial frame or message, an error, a close): for a new connection.
  void reset() noexcept;

  bool failed() const noexcept { return error_ != Error::none; }
  bool closed() const noexcept { return closed_; }           // a close frame has been read
  bool in_message() const noexcept { return msg_open_; }      // fragments of a message are open
  std::size_t capacity() const noexcept { return buf_.size(); }

 private:
  enum class St : std::uint8_t { header, payload };
  Event fail(Error e, const char* detail, std::size_t consumed) noexcept;
  Event header_done(std::size_t consumed) noexcept;
  Event frame_done(std::size_t consumed) noexcept;

  std::span<char> buf_;
  St st_ = St::header;
  // Frame header being read.
  unsigned char hdr_[kMaxFrameHeader] = {};
  std::uint8_t hdr_have_ = 0;
  std::uint8_t hdr_need_ = 2;
  // Current frame.
  Opcode op_ = Opcode::continuation;
  bool fin_ = false;
  bool control_ = false;
  std::uint64_t remaining_ = 0;  // payload bytes of the current frame still to come
  // Message being assembled in buf_.
  bool msg_open_ = false;
  Opcode msg_op_ = Opcode::continuation;
  std::size_t msg_len_ = 0;
  // Control frame payload.
  std::uint8_t ctrl_len_ = 0;
  char ctrl_[kMaxControlPayload] = {};
  Error error_ = Error::none;
  const char* detail_ = "";
  bool closed_ = false;
};

}  // namespace bh::ws
