// libFuzzer target for the NDJSON line handler (platform/ingest/line_framer.hpp + json_check.hpp)
// used as the ingest connection uses it: bytes arrive in fuzzer-chosen chunks into a fixed read
// buffer with JsonCheck::kPadding bytes after it, lines are framed and validated in place, the
// buffer is compacted between reads, and EOF takes a last line without '\n'. Traps if the lines
// differ from a naive reference split of the whole input, if a partial line would leave the buffer
// no room to read (a connection stuck for good), if an event line is empty, over the limit or holds
// a '\n' (it may end in '\r': only one '\r' before the '\n' is dropped), or if validating in place
// disagrees with validating a fresh copy in a fresh parser with the same limits, or if validating
// calls operator new (the counting one every binary links: the runtime validates after sealing).
// Input: byte 0 = max line - 64, byte 1 = chunk-size seed, then the stream.
#include <simdjson.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "platform/alloc/alloc.hpp"
#include "platform/ingest/json_check.hpp"
#include "platform/ingest/line_framer.hpp"

namespace {

using bh::JsonCheck;
using bh::LineFramer;

struct Seen {
  LineFramer::Kind kind;
  std::string text;
  bool operator==(const Seen&) const = default;
};

// The contract spelled out the slow way: split at '\n', drop one '\r' before it, skip blank lines,
// a line over `max` is one too_large; a last line without '\n' counts too.
std::vector<Seen> reference(std::string_view in, std::size_t max) {
  std::vector<Seen> out;
  while (!in.empty()) {
    std::size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.size() > max)
      out.push_back({LineFramer::Kind::too_large, {}});
    else
      out.push_back({LineFramer::Kind::event, std::string(line)});
  }
  return out;
}

// One JsonCheck per line limit, sized at start-up as the runtime does (reused across inputs, as a
// connection's parser is reused across lines).
JsonCheck& checker(std::size_t max) {
  static std::unique_ptr<JsonCheck> by_max[256];
  auto& c = by_max[max - 64];
  if (!c) {
    c = std::make_unique<JsonCheck>();
    if (!c->init(max)) __builtin_trap();
  }
  return *c;
}

// The same question to a new parser with the runtime's limits (size, depth 64), on a padded copy.
bool fresh_is_object(std::string_view line, std::size_t max) {
  simdjson::dom::parser p;
  if (p.allocate(max, 64) != simdjson::SUCCESS) __builtin_trap();
  simdjson::padded_string copy(line);
  auto doc = p.parse(copy);
  return !doc.error() && doc.value_unsafe().is_object();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max = 64 + data[0];
  std::uint32_t rng = 0x9E3779B9u ^ data[1];
  const std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);

  // The tightest buffer the framer allows: a partial line is at most max + 1 bytes (its '\r' may
  // still come), so max + 2 always leaves room to read. Heap-allocated at its exact size so that
  // ASan sees any read past the padding.
  const std::size_t cap = max + 2;
  std::unique_ptr<char[]> buf(new char[cap + JsonCheck::kPadding]);
  std::memset(buf.get(), 'x', cap + JsonCheck::kPadding);
  JsonCheck& json = checker(max);

  LineFramer framer(max);
  std::vector<Seen> got;
  std::size_t filled = 0, consumed = 0, off = 0;
  bool eof = false;
  for (std::size_t guard = 0;; ++guard) {
    if (guard > 4 * in.size() + 16) __builtin_trap();  // no progress
    const std::string_view view(buf.get(), filled);
    for (;;) {
      LineFramer::Line l = framer.next(view, consumed, eof);
      if (consumed > filled) __builtin_trap();
      if (l.kind == LineFramer::Kind::need_more) break;
      if (l.kind == LineFramer::Kind::blank) continue;
      if (l.kind == LineFramer::Kind::event) {
        const std::string_view t = l.text;
        if (t.empty() || t.size() > max || t.find('\n') != std::string_view::npos) __builtin_trap();
        if (t.data() < buf.get() || t.data() + t.size() > buf.get() + filled) __builtin_trap();
        const std::uint64_t allocs = bh::alloc::count();
        const bool ok = json.is_object(t);  // in place: the padding is whatever follows in the buffer
        if (bh::alloc::count() != allocs) __builtin_trap();  // the sealed hot path allocates nothing
        if (ok != fresh_is_object(t, max)) __builtin_trap();
        if (ok) {
          std::size_t a = t.find_first_not_of(" \t\r\n"), b = t.find_last_not_of(" \t\r\n");
          if (t[a] != '{' || t[b] != '}') __builtin_trap();
        }
      }
      got.push_back({l.kind, std::string(l.text)});
    }
    if (eof) break;
    // compact(), as the connection does after answering a round
    std::memmove(buf.get(), buf.get() + consumed, filled - consumed);
    filled -= consumed;
    consumed = 0;
    if (filled == cap) __builtin_trap();  // a partial line fills the buffer: nothing can be read
    if (off == in.size()) {
      eof = true;
      continue;
    }
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    std::size_t n = 1 + rng % (2 * max);
    n = std::min({n, cap - filled, in.size() - off});
    std::memcpy(buf.get() + filled, in.data() + off, n);
    filled += n;
    off += n;
  }
  if (framer.skipping() && consumed != filled) __builtin_trap();
  if (got != reference(in, max)) __builtin_trap();
  return 0;
}
