// libFuzzer target for bh::http::ResponseParser: parses the input whole and again in chunks of a
// fuzzer-chosen size (pipelined responses included) and traps if the two runs disagree, if a
// body view leaves the input, or if the parser stops making progress. Built and run by
// `make test-fuzz` (tests/fuzz/CMakeLists.txt, tests/fuzz/run.sh).
// Input: byte 0 = options (bit0 small header limit, bit1 small body limit, bit2 bare LF,
// bit3 response to HEAD, bit4 finish with EOF), byte 1 = chunk size - 1, then the response bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "platform/net/http.hpp"

namespace {

using namespace bh::http;

struct Summary {
  std::uint64_t hash = 1469598103934665603ull;  // FNV-1a over everything observed
  std::uint32_t messages = 0;
  Error error = Error::none;
  // Body bytes: no separator, so the hash does not depend on where chunks were cut.
  void mix_bytes(std::string_view s) {
    for (unsigned char c : s) hash = (hash ^ c) * 1099511628211ull;
  }
  void mix(std::string_view s) {
    mix_bytes(s);
    hash = (hash ^ 0xff) * 1099511628211ull;
  }
  void mix(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) hash = (hash ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
  }
  bool operator==(const Summary&) const = default;
};

void record_head(Summary& s, const ResponseParser& p) {
  s.mix(p.status());
  s.mix(p.reason());
  s.mix(p.content_length().value_or(~0ull));
  s.mix(p.chunked());
  s.mix(p.http_minor());
  for (std::size_t f = 0; f < kFieldCount; ++f) {
    s.mix(p.field(static_cast<Field>(f)));
    s.mix(p.truncated(static_cast<Field>(f)));
  }
}

Summary parse(std::string_view in, const ParserOptions& opt, bool head, bool eof, std::size_t step) {
  Summary s;
  ResponseParser p(opt);
  p.reset(head);
  std::size_t guard = 4 * in.size() + 64;
  Result r = Result::need_more;
  for (;;) {
    if (--guard == 0) __builtin_trap();  // no progress
    const std::string_view piece = in.substr(0, step);
    std::size_t n = 0;
    r = p.feed(piece, n);
    if (n > piece.size()) __builtin_trap();
    if (r == Result::body) {
      const std::string_view b = p.body_chunk();
      if (b.empty() || b.data() < piece.data() || b.data() + b.size() > piece.data() + n) __builtin_trap();
      s.mix_bytes(b);
    } else if (!p.body_chunk().empty()) {
      __builtin_trap();
    }
    in.remove_prefix(n);
    if (r == Result::headers_done) {
      if (!p.headers_complete()) __builtin_trap();
      record_head(s, p);
    }
    if (r == Result::done) {
      s.mix(p.keep_alive());
      s.mix(p.body_bytes());
      ++s.messages;
      p.reset(head);
      continue;
    }
    if (r == Result::error) break;
    if (r == Result::need_more && in.empty()) {
      if (n != piece.size()) __builtin_trap();
      if (eof) r = p.finish_eof();
      break;
    }
  }
  if (r == Result::error && p.keep_alive()) __builtin_trap();
  s.error = p.error();
  s.mix(p.body_bytes());
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t cfg = data[0];
  const std::size_t step = static_cast<std::size_t>(data[1]) + 1;
  const std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  const ParserOptions opt{.max_header_bytes = (cfg & 1) ? 200u : 8192u,
                          .max_body_bytes = (cfg & 2) ? 64u : UINT64_MAX,
                          .allow_bare_lf = (cfg & 4) != 0};
  const bool head = (cfg & 8) != 0;
  const bool eof = (cfg & 16) != 0;
  const Summary whole = parse(in, opt, head, eof, in.size() + 1);
  const Summary split = parse(in, opt, head, eof, step);
  if (!(whole == split)) __builtin_trap();
  return 0;
}
