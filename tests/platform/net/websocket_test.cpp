// Tests for platform/net/websocket: the RFC 6455 §5.7 example frames, every protocol rule the
// reader enforces, input split at every byte boundary, message size limits at N-1/N/N+1, UTF-8
// checks, control frames between fragments, the opening handshake (RFC §1.3 example key) and its
// response check, masked frame writers round-tripped, and zero heap allocations.
// Not tested here: sockets, TLS, ping timers, reconnects (the WebSocket source does those).
#include "platform/net/websocket.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "platform/net/http.hpp"
#include "tests/support/census.hpp"

namespace bh::ws {
namespace {

using Kind = Reader::Kind;

// A server frame (unmasked unless mask is given), with the shortest length encoding unless
// `len_bytes` forces 0 (7-bit), 2 or 8.
std::string frame(unsigned b0, std::string_view payload, int len_bytes = -1, const unsigned char* mask = nullptr) {
  std::string f;
  f += static_cast<char>(b0);
  const std::uint64_t n = payload.size();
  if (len_bytes < 0) len_bytes = n <= 125 ? 0 : n <= 0xffff ? 2 : 8;
  const unsigned m = mask ? 0x80 : 0;
  if (len_bytes == 0) {
    f += static_cast<char>(m | n);
  } else if (len_bytes == 2) {
    f += static_cast<char>(m | 126);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n & 0xff);
  } else {
    f += static_cast<char>(m | 127);
    for (int i = 7; i >= 0; --i) f += static_cast<char>((n >> (8 * i)) & 0xff);
  }
  if (mask) {
    f.append(reinterpret_cast<const char*>(mask), 4);
    for (std::size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ mask[i & 3]);
  } else {
    f += payload;
  }
  return f;
}

std::string bytes(std::initializer_list<unsigned> b) {
  std::string s;
  for (unsigned c : b) s += static_cast<char>(c);
  return s;
}

std::string describe(const Reader::Event& ev) {
  std::string p(ev.payload);
  if (p.size() > 40) p = std::to_string(p.size()) + "B";
  switch (ev.kind) {
    case Kind::none: return "none";
    case Kind::message: return std::string(ev.opcode == Opcode::text ? "text " : "binary ") + p;
    case Kind::ping: return "ping " + p;
    case Kind::pong: return "pong " + p;
    case Kind::close: return "close " + std::to_string(ev.close_code) + " " + p;
    case Kind::error: return std::string("error ") + to_string(ev.error) + ": " + ev.detail;
  }
  return "?";
}

// Feeds `in` in pieces of `step` bytes and lists every event, stopping after an error. Checks the
// reader's contract on the way: consumed within the piece, none only when the piece is used up,
// payloads inside the message buffer or outside the input.
std::vector<std::string> run(Reader& r, std::string_view in, std::size_t step, std::span<char> buf = {}) {
  std::vector<std::string> out;
  while (!in.empty()) {
    std::string_view piece = in.substr(0, step);
    in.remove_prefix(piece.size());
    for (;;) {
      const Reader::Event ev = r.feed(piece);
      EXPECT_LE(ev.consumed, piece.size());
      piece.remove_prefix(ev.consumed);
      if (ev.kind == Kind::none) {
        EXPECT_TRUE(piece.empty());
        break;
      }
      if (ev.kind == Kind::message && !buf.empty() && !ev.payload.empty()) {
        EXPECT_GE(ev.payload.data(), buf.data());
        EXPECT_LE(ev.payload.data() + ev.payload.size(), buf.data() + buf.size());
      }
      out.push_back(describe(ev));
      if (ev.kind == Kind::error) return out;
      if (piece.empty()) break;
    }
  }
  return out;
}

using Strings = std::vector<std::string>;

// Runs the input whole and at every step size 1..8, expecting the same events each time.
Strings run_all_splits(std::string_view in, std::size_t buffer_size = 1024) {
  std::vector<char> buf(buffer_size);
  Reader whole(buf);
  const Strings expect = run(whole, in, in.size() + 1, buf);
  for (std::size_t step = 1; step <= 8; ++step) {
    Reader r(buf);
    EXPECT_EQ(run(r, in, step, buf), expect) << "step " << step;
  }
  return expect;
}

const unsigned char kRfcMask[4] = {0x37, 0xfa, 0x21, 0x3d};

// ---- RFC 6455 §5.7 examples

TEST(WsReader, RfcSingleFrameUnmaskedText) {
  EXPECT_EQ(run_all_splits(bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f})), Strings{"text Hello"});
}

TEST(WsReader, RfcMaskedTextFromServerIsProtocolError) {
  const std::string f = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  EXPECT_EQ(run_all_splits(f), Strings{"error protocol: masked frame from server"});
}

TEST(WsReader, RfcFragmentedText) {
  const std::string in = bytes({0x01, 0x03, 0x48, 0x65, 0x6c}) + bytes({0x80, 0x02, 0x6c, 0x6f});
  EXPECT_EQ(run_all_splits(in), Strings{"text Hello"});
}

TEST(WsReader, RfcPingAndPong) {
  EXPECT_EQ(run_all_splits(bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}) + bytes({0x8a, 0x00})),
            (Strings{"ping Hello", "pong "}));
}

TEST(WsReader, Rfc256BytesAnd64KiB) {
  std::string p256(256, '\0'), p64k(65536, '\0');
  for (std::size_t i = 0; i < p256.size(); ++i) p256[i] = static_cast<char>(i);
  for (std::size_t i = 0; i < p64k.size(); ++i) p64k[i] = static_cast<char>(i * 7);
  const std::string f256 = frame(0x82, p256);
  ASSERT_EQ(f256.substr(0, 4), bytes({0x82, 0x7e, 0x01, 0x00}));
  const std::string f64k = frame(0x82, p64k);
  ASSERT_EQ(f64k.substr(0, 10), bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}));
  std::vector<char> buf(65536);
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{1000}, std::size_t{1 << 20}}) {
    Reader r(buf);
    const std::string all = f256 + f64k;
    std::string_view in = all;
    std::vector<std::string> got;
    while (!in.empty()) {
      std::string_view piece = in.substr(0, step);
      in.remove_prefix(piece.size());
      while (true) {
        const auto ev = r.feed(piece);
        piece.remove_prefix(ev.consumed);
        if (ev.kind == Kind::none) break;
        ASSERT_EQ(ev.kind, Kind::message);
        EXPECT_EQ(ev.opcode, Opcode::binary);
        got.emplace_back(ev.payload);
        if (piece.empty()) break;
      }
    }
    ASSERT_EQ(got.size(), 2u) << "step " << step;
    EXPECT_EQ(got[0], p256);
    EXPECT_EQ(got[1], p64k);
  }
}

// Non-minimal length encodings are accepted (RFC 6455 asks senders, not receivers, for minimal).
TEST(WsReader, LongLengthFormsOfShortPayloads) {
  EXPECT_EQ(run_all_splits(frame(0x81, "abc", 2) + frame(0x81, "de", 8) + frame(0x82, "", 8)),
            (Strings{"text abc", "text de", "binary "}));
}

// ---- Events one at a time, consumed counts, interleaving

TEST(WsReader, OneEventPerFeedWithConsumed) {
  std::vector<char> buf(64);
  Reader r(buf);
  const std::string a = frame(0x81, "one"), b = frame(0x89, "p"), c = frame(0x82, "two");
  const std::string in = a + b + c;
  auto ev = r.feed(in);
  EXPECT_EQ(describe(ev), "text one");
  EXPECT_EQ(ev.consumed, a.size());
  ev = r.feed(std::string_view(in).substr(a.size()));
  EXPECT_EQ(describe(ev), "ping p");
  EXPECT_EQ(ev.consumed, b.size());
  ev = r.feed(std::string_view(in).substr(a.size() + b.size()));
  EXPECT_EQ(describe(ev), "binary two");
  EXPECT_EQ(ev.consumed, c.size());
  ev = r.feed({});
  EXPECT_EQ(ev.kind, Kind::none);
  EXPECT_EQ(ev.consumed, 0u);
}

TEST(WsReader, ControlFramesBetweenFragmentsKeepTheMessage) {
  const std::string in = frame(0x01, "Hel") + frame(0x89, "ping-data") + frame(0x00, "l") +
                         frame(0x8a, "pong-data") + frame(0x80, "o world");
  EXPECT_EQ(run_all_splits(in), (Strings{"ping ping-data", "pong pong-data", "text Hello world"}));
  // A close in the middle ends the stream; the open message is never delivered.
  EXPECT_EQ(run_all_splits(frame(0x02, "ab") + frame(0x88, bytes({0x03, 0xe8}) + "bye") + frame(0x80, "cd")),
            Strings{"close 1000 bye"});
}

TEST(WsReader, EmptyFragmentsAndManyFragments) {
  std::string in = frame(0x01, "") + frame(0x00, "");
  std::string expect;
  for (int i = 0; i < 50; ++i) {
    in += frame(0x00, std::string(1, static_cast<char>('a' + i % 26)));
    expect += static_cast<char>('a' + i % 26);
  }
  in += frame(0x80, "");
  EXPECT_EQ(run_all_splits(in), Strings{"text 50B"});
  std::vector<char> buf(64);
  Reader r(buf);
  std::string_view v = in;
  Reader::Event ev;
  do {
    ev = r.feed(v);
    v.remove_prefix(ev.consumed);
  } while (ev.kind == Kind::none && !v.empty());
  ASSERT_EQ(ev.kind, Kind::message);
  EXPECT_EQ(ev.payload, expect);
}

// ---- Protocol errors, each one

TEST(WsReader, ProtocolErrors) {
  struct Case {
    std::string in;
    const char* want;
  };
  const Case cases[] = {
      {frame(0xc1, "x"), "error protocol: reserved bits set"},        // RSV1
      {frame(0xa1, "x"), "error protocol: reserved bits set"},        // RSV2
      {frame(0x91, "x"), "error protocol: reserved bits set"},        // RSV3
      {frame(0x83, "x"), "error protocol: unknown opcode"},           // 3: reserved data opcode
      {frame(0x87, "x"), "error protocol: unknown opcode"},
      {frame(0x8b, "x"), "error protocol: unknown opcode"},           // 11: reserved control opcode
      {frame(0x8f, "x"), "error protocol: unknown opcode"},
      {frame(0x82, "x", 0, kRfcMask), "error protocol: masked frame from server"},
      {frame(0x09, "x"), "error protocol: fragmented control frame"},  // ping with FIN=0
      {frame(0x08, ""), "error protocol: fragmented control frame"},
      {frame(0x89, std::string(126, 'p')), "error protocol: control frame over 125 bytes"},
      {frame(0x8a, "p", 2), "error protocol: control frame over 125 bytes"},  // 126 length form
      {frame(0x80, "x"), "error protocol: continuation without a started message"},
      {frame(0x00, "x"), "error protocol: continuation without a started message"},
      {frame(0x01, "a") + frame(0x81, "b"), "error protocol: new message inside a fragmented message"},
      {frame(0x02, "a") + frame(0x02, "b"), "error protocol: new message inside a fragmented message"},
      {bytes({0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1}), "error protocol: 64-bit length with the high bit set"},
      {bytes({0x88, 0x01, 0x03}), "error protocol: close body of 1 byte"},
      {frame(0x88, bytes({0x03, 0xec})), "error protocol: invalid close code"},  // 1004
      {frame(0x88, bytes({0x03, 0xed})), "error protocol: invalid close code"},  // 1005
      {frame(0x88, bytes({0x03, 0xee})), "error protocol: invalid close code"},  // 1006
      {frame(0x88, bytes({0x03, 0xe7})), "error protocol: invalid close code"},  // 999
      {frame(0x88, bytes({0x0b, 0xb7})), "error protocol: invalid close code"},  // 2999
      {frame(0x88, bytes({0x13, 0x88})), "error protocol: invalid close code"},  // 5000
  };
  for (const Case& c : cases) EXPECT_EQ(run_all_splits(c.in), Strings{c.want}) << testing::PrintToString(c.in);
}

// A valid frame before the bad one is delivered; the error stops everything after it.
TEST(WsReader, ErrorAfterGoodFramesAndSticky) {
  std::vector<char> buf(64);
  Reader r(buf);
  EXPECT_EQ(run(r, frame(0x81, "ok") + frame(0xc1, "x") + frame(0x81, "never"), 1),
            (Strings{"text ok", "error protocol: reserved bits set"}));
  EXPECT_TRUE(r.failed());
  const std::string more = frame(0x81, "later");
  const auto ev = r.feed(more);
  EXPECT_EQ(ev.kind, Kind::error);
  EXPECT_EQ(ev.error, Error::protocol);
  EXPECT_EQ(ev.consumed, 0u) << "a failed reader consumes nothing";
  r.reset();
  EXPECT_FALSE(r.failed());
  EXPECT_EQ(run(r, more, 2), Strings{"text later"});
}

TEST(WsReader, ErrorCodes) {
  EXPECT_EQ(close_code(Error::none), 1000);
  EXPECT_EQ(close_code(Error::protocol), 1002);
  EXPECT_EQ(close_code(Error::bad_utf8), 1007);
  EXPECT_EQ(close_code(Error::too_big), 1009);
  EXPECT_STREQ(to_string(Error::too_big), "too_big");
  EXPECT_STREQ(to_string(Error::bad_utf8), "bad_utf8");
  EXPECT_STREQ(to_string(Error::protocol), "protocol");
  EXPECT_STREQ(to_string(Error::none), "none");
}

// ---- Size limit: N-1, N, N+1, single frame and across fragments

TEST(WsReader, MessageSizeLimit) {
  constexpr std::size_t N = 16;
  for (std::size_t n : {N - 1, N}) {
    EXPECT_EQ(run_all_splits(frame(0x82, std::string(n, 'z')), N), Strings{"binary " + std::string(n, 'z')});
    EXPECT_EQ(run_all_splits(frame(0x02, std::string(n - 5, 'z')) + frame(0x80, "zzzzz"), N),
              Strings{"binary " + std::string(n, 'z')});
  }
  EXPECT_EQ(run_all_splits(frame(0x82, std::string(N + 1, 'z')), N),
            Strings{"error too_big: message larger than the buffer"});
  EXPECT_EQ(run_all_splits(frame(0x02, std::string(N - 4, 'z')) + frame(0x80, "zzzzz"), N),
            Strings{"error too_big: message larger than the buffer"});
  // Control frames do not count against the message buffer.
  EXPECT_EQ(run_all_splits(frame(0x89, std::string(125, 'p')), N), Strings{"ping 125B"});
}

// too_big is raised from the header alone: the payload is never read, even a 2^62-byte one.
TEST(WsReader, TooBigIsRefusedAtTheHeader) {
  std::vector<char> buf(1024);
  Reader r(buf);
  const std::string hdr = bytes({0x82, 0x7f, 0x40, 0, 0, 0, 0, 0, 0, 0});
  const auto ev = r.feed(hdr + "trailing payload bytes");
  EXPECT_EQ(ev.kind, Kind::error);
  EXPECT_EQ(ev.error, Error::too_big);
  EXPECT_EQ(ev.consumed, hdr.size());
  EXPECT_EQ(close_code(ev.error), 1009);
  Reader z(std::span<char>{});  // a zero-byte buffer takes only empty messages
  EXPECT_EQ(run(z, frame(0x81, ""), 1), Strings{"text "});
  EXPECT_EQ(run(z, frame(0x81, "x"), 1), Strings{"error too_big: message larger than the buffer"});
}

// ---- UTF-8

TEST(WsReader, Utf8IsValidatedOnCompletion) {
  EXPECT_EQ(run_all_splits(frame(0x81, "\xc3\x28")), Strings{"error bad_utf8: text message is not valid UTF-8"});
  EXPECT_EQ(run_all_splits(frame(0x81, "\xed\xa0\x80")),  // a surrogate
            Strings{"error bad_utf8: text message is not valid UTF-8"});
  // A code point split across fragments is fine: validated only on completion.
  EXPECT_EQ(run_all_splits(frame(0x01, "caf\xc3") + frame(0x80, "\xa9")), Strings{"text caf\xc3\xa9"});
  // A truncated sequence at the end of the message is not.
  EXPECT_EQ(run_all_splits(frame(0x01, "caf") + frame(0x80, "\xc3")),
            Strings{"error bad_utf8: text message is not valid UTF-8"});
  // Binary messages are not text.
  EXPECT_EQ(run_all_splits(frame(0x82, "\xc3\x28")), Strings{"binary \xc3\x28"});
  // Close reasons are UTF-8 too.
  EXPECT_EQ(run_all_splits(frame(0x88, bytes({0x03, 0xe8}) + "\xff")),
            Strings{"error bad_utf8: close reason is not valid UTF-8"});
}

// ---- Close

TEST(WsReader, CloseFrames) {
  EXPECT_EQ(run_all_splits(frame(0x88, "")), Strings{"close 1005 "});
  EXPECT_EQ(run_all_splits(frame(0x88, bytes({0x03, 0xe8}))), Strings{"close 1000 "});
  EXPECT_EQ(run_all_splits(frame(0x88, bytes({0x03, 0xe9}) + "going away")), Strings{"close 1001 going away"});
  EXPECT_EQ(run_all_splits(frame(0x88, bytes({0x0f, 0xa0}) + "app")), Strings{"close 4000 app"});
  EXPECT_EQ(run_all_splits(frame(0x88, bytes({0x03, 0xf4}))), Strings{"close 1012 "});
  // After a close, the rest of the input is discarded, even garbage.
  std::vector<char> buf(64);
  Reader r(buf);
  const std::string close = frame(0x88, bytes({0x03, 0xe8}));
  auto ev = r.feed(close + "garbage");
  EXPECT_EQ(ev.kind, Kind::close);
  EXPECT_EQ(ev.consumed, close.size());
  EXPECT_TRUE(r.closed());
  ev = r.feed(std::string_view("garbage"));
  EXPECT_EQ(ev.kind, Kind::none);
  EXPECT_EQ(ev.consumed, 7u);
  r.reset();
  EXPECT_FALSE(r.closed());
  EXPECT_EQ(run(r, frame(0x81, "again"), 3), Strings{"text again"});
}

// reset() drops a half-read frame and an open message (a new connection starts clean).
TEST(WsReader, ResetMidFrame) {
  std::vector<char> buf(64);
  Reader r(buf);
  const std::string partial = frame(0x01, "abc") + frame(0x80, "defgh").substr(0, 4);
  EXPECT_EQ(r.feed(partial).kind, Kind::none);
  EXPECT_TRUE(r.in_message());
  r.reset();
  EXPECT_FALSE(r.in_message());
  EXPECT_EQ(run(r, frame(0x81, "fresh"), 1), Strings{"text fresh"});
}

// ---- Writers

// Decodes one masked client frame; returns the payload, or "<bad>".
std::string unmask(std::string_view f, unsigned expect_b0) {
  if (f.size() < 6 || static_cast<unsigned char>(f[0]) != expect_b0) return "<bad b0>";
  const unsigned b1 = static_cast<unsigned char>(f[1]);
  if (!(b1 & 0x80)) return "<not masked>";
  std::uint64_t n = b1 & 0x7f;
  std::size_t h = 2;
  if (n == 126) {
    n = (std::uint64_t{static_cast<unsigned char>(f[2])} << 8) | static_cast<unsigned char>(f[3]);
    h = 4;
    if (n <= 125) return "<not minimal>";
  } else if (n == 127) {
    n = 0;
    for (int i = 2; i < 10; ++i) n = (n << 8) | static_cast<unsigned char>(f[i]);
    h = 10;
    if (n <= 0xffff) return "<not minimal>";
  }
  const std::string_view mask = f.substr(h, 4);
  h += 4;
  if (f.size() != h + n) return "<bad length>";
  std::string p(f.substr(h));
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<char>(p[i] ^ mask[i & 3]);
  return p;
}

TEST(WsWriter, RfcMaskedHelloExactBytes) {
  std::array<char, 64> out{};
  const std::string_view hello = "Hello";
  std::size_t n = write_frame(out, Opcode::text, hello, 0x37fa213d);
  EXPECT_EQ(std::string(out.data(), n), bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  n = write_frame(out, Opcode::pong, hello, 0x37fa213d);
  EXPECT_EQ(std::string(out.data(), n), bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
}

TEST(WsWriter, MaskingRoundTripAtEveryLengthForm) {
  std::mt19937 rng(42);
  std::vector<char> out(70000);
  for (std::size_t len : {0u, 1u, 3u, 4u, 5u, 125u, 126u, 127u, 65535u, 65536u, 65537u}) {
    std::string p(len, '\0');
    for (auto& c : p) c = static_cast<char>(rng());
    const std::uint32_t mask = static_cast<std::uint32_t>(rng());
    const std::size_t n = write_frame(out, Opcode::binary, p, mask);
    ASSERT_EQ(n, frame_size(len)) << len;
    EXPECT_EQ(unmask({out.data(), n}, 0x82), p) << len;
    // The exact fit works, one byte less does not and writes nothing.
    std::vector<char> tight(n + 1, '#');
    EXPECT_EQ(write_frame(std::span<char>(tight.data(), n), Opcode::binary, p, mask), n);
    EXPECT_EQ(tight[n], '#');
    std::vector<char> small(n, '#');
    EXPECT_EQ(write_frame(std::span<char>(small.data(), n - 1), Opcode::binary, p, mask), 0u);
    EXPECT_EQ(small[0], '#');
  }
}

TEST(WsWriter, RefusedFrames) {
  std::array<char, 512> out{};
  const std::string p125(125, 'p'), p126(126, 'p');
  EXPECT_EQ(write_frame(out, Opcode::ping, p125, 1), frame_size(125));
  EXPECT_EQ(unmask({out.data(), frame_size(125)}, 0x89), p125);
  EXPECT_EQ(write_frame(out, Opcode::ping, p126, 1), 0u);
  EXPECT_EQ(write_frame(out, Opcode::pong, p126, 1), 0u);
  EXPECT_EQ(write_frame(out, Opcode::close, p126, 1), 0u);
  EXPECT_EQ(write_frame(out, Opcode::continuation, std::string_view("x"), 1), 0u);
  EXPECT_EQ(write_frame(out, Opcode::binary, p126, 1), frame_size(126));  // data frames may be longer
}

TEST(WsWriter, Close) {
  std::array<char, 256> out{};
  std::size_t n = write_close(out, 1000, "bye", 0xdeadbeef);
  ASSERT_GT(n, 0u);
  EXPECT_EQ(unmask({out.data(), n}, 0x88), bytes({0x03, 0xe8}) + "bye");
  n = write_close(out, kCloseNoStatus, "", 7);
  EXPECT_EQ(unmask({out.data(), n}, 0x88), "");
  n = write_close(out, close_code(Error::too_big), "", 7);
  EXPECT_EQ(unmask({out.data(), n}, 0x88), bytes({0x03, 0xf1}));
  EXPECT_GT(write_close(out, 4999, std::string(123, 'r'), 1), 0u);
  EXPECT_EQ(write_close(out, 1000, std::string(124, 'r'), 1), 0u) << "reason over 123 bytes";
  EXPECT_EQ(write_close(out, 1000, "\xc3\x28", 1), 0u) << "reason not UTF-8";
  EXPECT_EQ(write_close(out, kCloseNoStatus, "x", 1), 0u) << "1005 carries no reason";
  for (std::uint16_t bad : {0, 999, 1004, 1006, 1015, 2000, 2999, 5000})
    EXPECT_EQ(write_close(out, bad, "", 1), 0u) << bad;
  EXPECT_EQ(write_close(std::span<char>(out.data(), 8), 1000, "x", 1), 0u) << "does not fit";
  EXPECT_EQ(write_close(std::span<char>(out.data(), 9), 1000, "x", 1), 9u);
  // What we write, our reader (with the mask removed, as a server would see it) reads back.
  n = write_close(out, 1001, "going", 0x01020304);
  std::string f(out.data(), n);
  const std::string payload = unmask(f, 0x88);
  std::vector<char> buf(16);
  Reader r(buf);
  EXPECT_EQ(run(r, frame(0x88, payload), 1), Strings{"close 1001 going"});
}

// ---- Handshake

// RFC 6455 §1.3: the key "dGhlIHNhbXBsZSBub25jZQ==" is base64 of these 16 bytes.
constexpr std::array<std::uint8_t, 16> kRfcKey = {'t', 'h', 'e', ' ', 's', 'a', 'm', 'p',
                                                  'l', 'e', ' ', 'n', 'o', 'n', 'c', 'e'};

TEST(WsHandshake, AcceptForRfcKey) {
  std::array<char, 28> acc{};
  accept_for_key(kRfcKey, acc);
  EXPECT_EQ(std::string(acc.data(), acc.size()), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsHandshake, RequestText) {
  std::array<char, 512> out{};
  std::size_t n = write_handshake(out, "server.example.com", 80, "/chat?x=1", kRfcKey, true);
  const std::string want =
      "GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
      "User-Agent: bulkhead/0.1.0\r\n\r\n";
  EXPECT_EQ(std::string(out.data(), n), want);
  n = write_handshake(out, "10.0.0.5", 8080, "/", kRfcKey, false);
  EXPECT_NE(std::string(out.data(), n).find("GET / HTTP/1.1\r\nHost: 10.0.0.5:8080\r\n"), std::string::npos);
  n = write_handshake(out, "::1", 9001, "/ws", kRfcKey, false);
  EXPECT_NE(std::string(out.data(), n).find("\r\nHost: [::1]:9001\r\n"), std::string::npos);
  n = write_handshake(out, "[::1]", 443, "/ws", kRfcKey, true);
  EXPECT_NE(std::string(out.data(), n).find("\r\nHost: [::1]\r\n"), std::string::npos);
  // Fits exactly at N; N-1 writes 0.
  std::vector<char> tight(want.size());
  EXPECT_EQ(write_handshake(tight, "server.example.com", 80, "/chat?x=1", kRfcKey, true), want.size());
  EXPECT_EQ(write_handshake(std::span<char>(tight.data(), want.size() - 1), "server.example.com", 80, "/chat?x=1",
                            kRfcKey, true),
            0u);
  // Injection and empty parts are refused.
  EXPECT_EQ(write_handshake(out, "h", 80, "/a\r\nX: y", kRfcKey, true), 0u);
  EXPECT_EQ(write_handshake(out, "h", 80, "/a b", kRfcKey, true), 0u);
  EXPECT_EQ(write_handshake(out, "h\nx", 80, "/", kRfcKey, true), 0u);
  EXPECT_EQ(write_handshake(out, "", 80, "/", kRfcKey, true), 0u);
  EXPECT_EQ(write_handshake(out, "h", 80, "", kRfcKey, true), 0u);
  EXPECT_EQ(write_handshake(out, "h", 80, "chat", kRfcKey, true), 0u);
}

const std::string kGoodResponse =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

TEST(WsHandshake, ResponseAccepted) {
  EXPECT_STREQ(check_handshake_response(kGoodResponse, kRfcKey), "");
  // Case-insensitive names and tokens, a Connection list, extra fields, an empty extensions field.
  EXPECT_STREQ(check_handshake_response("HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
                                        "Server: x\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                        "Sec-WebSocket-Extensions: \r\n\r\n",
                                        kRfcKey),
               "");
}

TEST(WsHandshake, ResponseRejected) {
  auto with = [](std::string_view from, std::string_view to) {
    std::string s = kGoodResponse;
    const auto p = s.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    if (p != std::string::npos) s.replace(p, from.size(), to);
    return s;
  };
  auto check = [](const std::string& head) { return std::string(check_handshake_response(head, kRfcKey)); };
  EXPECT_EQ(check(with("101 Switching Protocols", "200 OK")), "status is not 101 Switching Protocols");
  EXPECT_EQ(check("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"), "status is not 101 Switching Protocols");
  EXPECT_EQ(check(with("HTTP/1.1", "HTTP/1.0")), "response is not HTTP/1.1");
  EXPECT_EQ(check(with("Upgrade: websocket\r\n", "")), "missing Upgrade: websocket");
  EXPECT_EQ(check(with("Upgrade: websocket", "Upgrade: h2c")), "missing Upgrade: websocket");
  EXPECT_EQ(check(with("Connection: Upgrade", "Connection: keep-alive")), "missing Connection: Upgrade");
  EXPECT_EQ(check(with("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", "")),
            "missing Sec-WebSocket-Accept");
  EXPECT_EQ(check(with("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "s3pPLMBiTxaQ9kYGzzhZRbK+xOp=")),
            "Sec-WebSocket-Accept does not match the key");
  EXPECT_EQ(check(with("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=x")),
            "Sec-WebSocket-Accept does not match the key");
  EXPECT_EQ(check(with("\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")),
            "server chose an extension we did not offer");
  EXPECT_EQ(check(with("\r\n\r\n", "\r\nsec-websocket-protocol: chat\r\n\r\n")),
            "server chose a subprotocol we did not offer");
  EXPECT_EQ(check(with("\r\n\r\n", "\r\n")), "incomplete response head");
  EXPECT_EQ(check(kGoodResponse + "\x81"), "bytes after the response head");  // frames are not part of the head
  EXPECT_EQ(check("garbage\r\n\r\n"), "malformed response head");
  EXPECT_EQ(check(with("Upgrade: websocket", "Upgrade : websocket")), "malformed response head");
  // The accept is computed from this key, not any key.
  std::array<std::uint8_t, 16> other = kRfcKey;
  other[0] ^= 1;
  EXPECT_STREQ(check_handshake_response(kGoodResponse, other), "Sec-WebSocket-Accept does not match the key");
}

TEST(WsHandshake, HeadLength) {
  EXPECT_EQ(head_length(kGoodResponse), kGoodResponse.size());
  EXPECT_EQ(head_length(kGoodResponse + "\x81\x02hi"), kGoodResponse.size());
  EXPECT_EQ(head_length(kGoodResponse.substr(0, kGoodResponse.size() - 1)), 0u);
  EXPECT_EQ(head_length(""), 0u);
}

TEST(WsHandshake, InterimAnswersBeforeThe101AreSkipped) {
  // RFC 9110 §15.2: any number of 1xx answers may come first (capped as for HTTP clients).
  const std::string k100 = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string k103 = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n";
  const std::string frames = "\x81\x02hi";
  HandshakeHead h = find_handshake_head(kGoodResponse + frames);
  EXPECT_EQ(h.offset, 0u);
  EXPECT_EQ(h.length, kGoodResponse.size());
  EXPECT_STREQ(h.error, "");
  const std::string two = k100 + k103 + kGoodResponse + frames;
  h = find_handshake_head(two);
  EXPECT_EQ(h.offset, k100.size() + k103.size());
  EXPECT_EQ(h.length, kGoodResponse.size());
  EXPECT_STREQ(check_handshake_response(std::string_view(two).substr(h.offset, h.length), kRfcKey), "");
  // Split at every offset: never a wrong head, only "read on" until the 101's head is complete.
  for (std::size_t n = 0; n < two.size(); ++n) {
    h = find_handshake_head(std::string_view(two).substr(0, n));
    const bool complete = n >= k100.size() + k103.size() + kGoodResponse.size();
    EXPECT_EQ(h.length, complete ? kGoodResponse.size() : 0u) << n;
    EXPECT_STREQ(h.error, "") << n;
  }
  // A final answer after an interim one is what the check sees (and refuses).
  const std::string refused = k100 + "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
  h = find_handshake_head(refused);
  EXPECT_EQ(h.offset, k100.size());
  EXPECT_STREQ(check_handshake_response(std::string_view(refused).substr(h.offset, h.length), kRfcKey),
               "status is not 101 Switching Protocols");
  // Past the cap: refused, whatever follows.
  std::string many;
  for (unsigned i = 0; i <= http::kMaxInterimResponses; ++i) many += k100;
  EXPECT_STREQ(find_handshake_head(many + kGoodResponse).error, "too many interim (1xx) responses");
  std::string at_cap;
  for (unsigned i = 0; i < http::kMaxInterimResponses; ++i) at_cap += k100;
  EXPECT_STREQ(find_handshake_head(at_cap + kGoodResponse).error, "");
}

// ---- No heap

TEST(WsAlloc, NothingAllocates) {
  std::vector<char> buf(4096);
  Reader r(buf);
  std::string stream;
  for (int i = 0; i < 20; ++i) {
    stream += frame(0x01, "frag-") + frame(0x89, "p") + frame(0x80, "end \xc3\xa9");
    stream += frame(0x82, std::string(300, 'b'));
  }
  stream += frame(0x88, bytes({0x03, 0xe8}) + "bye");
  const std::string bad = frame(0xc1, "x");
  std::array<char, 1024> out{};
  std::array<char, 28> acc{};
  const std::string payload(200, 'x');
  // Warm up once: simdjson picks its UTF-8 implementation on first use.
  (void)run(r, stream, 7);
  r.reset();
  std::size_t events = 0, written = 0;
  const std::uint64_t before = test::heap_allocations();
  for (int round = 0; round < 50; ++round) {
    for (std::size_t step : {std::size_t{1}, std::size_t{13}, std::size_t{1 << 16}}) {
      r.reset();
      std::string_view in = stream;
      while (!in.empty()) {
        std::string_view piece = in.substr(0, step);
        in.remove_prefix(piece.size());
        for (;;) {
          const auto ev = r.feed(piece);
          piece.remove_prefix(ev.consumed);
          if (ev.kind == Kind::none) break;
          ++events;
          if (piece.empty() || ev.kind == Kind::error) break;  // an error is sticky: stop feeding
        }
      }
      r.reset();
      events += r.feed(bad).kind == Kind::error ? 1 : 0;
    }
    written += write_frame(out, Opcode::text, payload, 0x12345678u + static_cast<unsigned>(round));
    written += write_close(out, 1000, "bye", 1);
    written += write_handshake(out, "example.com", 443, "/feed", kRfcKey, true);
    accept_for_key(kRfcKey, acc);
    written += std::strlen(check_handshake_response(kGoodResponse, kRfcKey));
  }
  const std::uint64_t after = test::heap_allocations();
  EXPECT_EQ(after - before, 0u) << "heap allocations in the WebSocket layer";
  const std::string control(64, 'x');  // the counter does count
  EXPECT_GT(test::heap_allocations(), after);
  EXPECT_EQ(events, 50u * 3u * (20u * 3u + 1u + 1u));
  EXPECT_GT(written, 0u);
}

}  // namespace
}  // namespace bh::ws
