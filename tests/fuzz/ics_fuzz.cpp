// libFuzzer target for the ICS splitter (platform/sources/ics.hpp through Splitter's `ics` mode),
// used as an http_poll source uses it: the body arrives in fuzzer-chosen chunks into a Splitter
// with a fixed event buffer. Traps if an event is not one valid JSON object (simdjson, which also
// checks UTF-8) or is longer than the buffer, if a too-large report is not over the buffer, if
// cutting calls operator new (the runtime cuts after sealing), or if the events, reports and the
// malformed verdict differ from cutting the same body in one piece and byte by byte.
// Input: byte 0 = buffer size seed (16..2056 bytes), byte 1 = chunk-size seed, then the body.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "platform/alloc/alloc.hpp"
#include "platform/sources/splitter.hpp"

namespace {

struct Out final : bh::Splitter::Sink {
  std::size_t cap = 0;
  std::string log;  // reserved up front: recording allocates nothing
  void item(std::string_view b) noexcept override {
    if (b.empty() || b.size() > cap || b.front() != '{' || b.back() != '}') __builtin_trap();
    log.append("E:").append(b).push_back('\n');
  }
  void too_large(std::uint64_t n) noexcept override {
    if (n <= cap) __builtin_trap();
    log.append("T\n");
  }
  void malformed(const char* why) noexcept override {
    if (!why || !*why) __builtin_trap();
    log.append("M:").append(why).push_back('\n');
  }
};

std::string cut(std::string_view body, std::size_t cap, std::size_t chunk) {
  std::vector<char> buf(cap);
  bh::Splitter s(bh::SplitMode::ics, buf);
  Out o;
  o.cap = cap;
  // JSON is at most a few bytes per body byte (an invalid byte becomes \ufffd, a date line grows
  // by its keys): 8 per byte is ample, so the log never reallocates while cutting.
  o.log.reserve(8 * body.size() + 8192);
  const std::uint64_t allocs = bh::alloc::count();
  for (std::size_t i = 0; i < body.size(); i += chunk) s.feed(body.substr(i, chunk), o);
  s.finish(o);
  if (bh::alloc::count() != allocs) __builtin_trap();
  return o.log;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t cap = 16 + static_cast<std::size_t>(data[0]) * 8;
  const std::size_t chunk = 1 + data[1] % 61;
  const std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::string log = cut(body, cap, chunk);
  if (log != cut(body, cap, body.size() + 1) || log != cut(body, cap, 1)) __builtin_trap();
  // Every event is one JSON object.
  static simdjson::dom::parser parser;
  std::string_view rest = log;
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    if (!line.starts_with("E:")) continue;
    // An event never holds a raw '\n' (escaped in JSON strings), so the line is the event.
    line.remove_prefix(2);
    simdjson::dom::element el;
    if (parser.parse(std::string(line)).get(el) != simdjson::SUCCESS || !el.is_object()) __builtin_trap();
  }
  return 0;
}
