// libFuzzer target for bh::ws::Reader: reads the input whole and again in fuzzer-chosen chunk sizes
// and traps if the two runs disagree, if consumed leaves the piece, if a payload leaves its buffer,
// if a text message or close reason is not UTF-8, if an error or a close is not sticky, or if the
// reader stops making progress. Each message is also written with write_frame, unmasked and read
// back by a second reader. Built and run by `make test-fuzz` (tests/fuzz/CMakeLists.txt), or by hand:
//   clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/websocket_frame_fuzz.cpp \
//     platform/net/websocket.cpp platform/net/http.cpp -lmbedcrypto -lsimdjson
// Input: byte 0 = message buffer size selector (low 6 bits x 32 bytes; 0x3f = 64 KiB), byte 1 =
// chunk-size seed (chunks of 1..byte1+1 bytes, varying), then the server -> client bytes.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "platform/net/websocket.hpp"

namespace {

using namespace bh::ws;

char g_buf[65536];
char g_buf2[65536];
char g_frame[65536 + kMaxFrameHeader];

struct Summary {
  std::uint64_t hash = 1469598103934665603ull;  // FNV-1a over every event
  std::uint32_t events = 0;
  Error error = Error::none;
  void mix(std::string_view s) {
    for (unsigned char c : s) hash = (hash ^ c) * 1099511628211ull;
    hash = (hash ^ 0x100) * 1099511628211ull;
  }
  void mix(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) hash = (hash ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
  }
  bool operator==(const Summary&) const = default;
};

bool inside(std::string_view p, const char* base, std::size_t size) {
  return p.empty() || (p.data() >= base && p.data() + p.size() <= base + size);
}

// Writes `ev`'s message as a client frame, unmasks it as a server would, and reads it back.
void round_trip(const Reader::Event& ev, std::size_t cap) {
  const std::size_t n = write_frame(g_frame, ev.opcode, ev.payload, 0xa5c3e10fu);
  if (n != frame_size(ev.payload.size())) __builtin_trap();
  const std::size_t h = n - ev.payload.size();
  if ((static_cast<unsigned char>(g_frame[1]) & 0x80) == 0) __builtin_trap();  // must be masked
  g_frame[1] = static_cast<char>(g_frame[1] & 0x7f);
  const unsigned char m[4] = {0xa5, 0xc3, 0xe1, 0x0f};
  for (std::size_t i = 0; i < ev.payload.size(); ++i) g_frame[h + i] = static_cast<char>(g_frame[h + i] ^ m[i & 3]);
  // The mask key stays in the frame; drop it so the frame is a server's unmasked one.
  std::memmove(g_frame + h - 4, g_frame + h, ev.payload.size());
  Reader back(std::span<char>(g_buf2, cap));
  const Reader::Event e2 = back.feed(std::span<const char>(g_frame, n - 4));
  if (e2.kind != Reader::Kind::message || e2.opcode != ev.opcode || e2.payload != ev.payload ||
      e2.consumed != n - 4)
    __builtin_trap();
}

Summary read(std::string_view in, std::size_t cap, std::uint8_t seed, bool whole) {
  Summary s;
  Reader r(std::span<char>(g_buf, cap));
  std::uint32_t rng = seed * 2654435761u + 1;
  std::size_t guard = 4 * in.size() + 64;
  while (!in.empty()) {
    std::size_t step = in.size();
    if (!whole) {
      rng = rng * 1103515245u + 12345u;
      step = 1 + (rng >> 16) % (static_cast<std::size_t>(seed) + 1);
    }
    std::string_view piece = in.substr(0, step);
    in.remove_prefix(piece.size());
    for (;;) {
      if (--guard == 0) __builtin_trap();  // no progress
      const Reader::Event ev = r.feed(piece);
      if (ev.consumed > piece.size()) __builtin_trap();
      if (ev.kind == Reader::Kind::none) {
        if (ev.consumed != piece.size()) __builtin_trap();
        break;
      }
      if (ev.consumed == 0 && ev.kind != Reader::Kind::error) __builtin_trap();
      const std::string_view p = ev.payload;
      switch (ev.kind) {
        case Reader::Kind::message:
          if (!inside(p, g_buf, cap)) __builtin_trap();
          if (ev.opcode != Opcode::text && ev.opcode != Opcode::binary) __builtin_trap();
          if (ev.opcode == Opcode::text && !simdjson::validate_utf8(p.data(), p.size())) __builtin_trap();
          round_trip(ev, cap);
          break;
        case Reader::Kind::ping:
        case Reader::Kind::pong:
        case Reader::Kind::close:
          if (p.size() > kMaxControlPayload) __builtin_trap();
          if (!p.empty() && inside(p, g_buf, sizeof g_buf)) __builtin_trap();  // clobbered the message buffer
          if (ev.kind == Reader::Kind::close) {
            if (p.size() > kMaxControlPayload - 2 || !simdjson::validate_utf8(p.data(), p.size())) __builtin_trap();
            if (ev.close_code < 1000 || ev.close_code >= 5000) __builtin_trap();
          }
          break;
        case Reader::Kind::error:
          if (ev.error == Error::none || ev.detail == nullptr || ev.detail[0] == '\0') __builtin_trap();
          break;
        case Reader::Kind::none: break;
      }
      s.mix(static_cast<std::uint64_t>(ev.kind));
      s.mix(static_cast<std::uint64_t>(ev.opcode));
      s.mix(ev.close_code);
      s.mix(p);
      ++s.events;
      if (ev.kind == Reader::Kind::error) {
        // Sticky: nothing more is consumed, the same error comes back.
        const Reader::Event again = r.feed(in);
        if (again.kind != Reader::Kind::error || again.error != ev.error || again.consumed != 0) __builtin_trap();
        s.error = ev.error;
        return s;
      }
      if (ev.kind == Reader::Kind::close) {
        if (!r.closed()) __builtin_trap();
        piece.remove_prefix(ev.consumed);
        const Reader::Event after = r.feed(piece);
        if (after.kind != Reader::Kind::none || after.consumed != piece.size()) __builtin_trap();
        return s;
      }
      piece.remove_prefix(ev.consumed);
      if (piece.empty()) break;
    }
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const unsigned sel = data[0] & 0x3f;
  const std::size_t cap = sel == 0x3f ? sizeof g_buf : sel * 32u;
  const std::uint8_t seed = data[1];
  const std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  const Summary whole = read(in, cap, seed, true);
  const Summary split = read(in, cap, seed, false);
  if (!(whole == split)) __builtin_trap();
  return 0;
}
