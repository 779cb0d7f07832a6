// libFuzzer target for filter expressions (platform/shape/filter.hpp) and the pointers and
// decimals under them. Input: an expression, a '\n', then a JSON event (the event may be absent).
// The expression is compiled as config text is: any bytes, and an error must be a value with a
// column inside the text (or one past its end). When it compiles, `!(expr)` must compile too
// unless a limit (nesting, nodes) refuses it, and it must answer the opposite on every event.
// The event is parsed as the runtime parses it (JsonCheck, sized and warmed at start-up, padded
// buffer) and evaluated by the fuzzed filter and by fixed filters that reach every operator, each
// against its own negation; evaluating must not call operator new (the sealed hot path).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "platform/alloc/alloc.hpp"
#include "platform/ingest/json_check.hpp"
#include "platform/shape/filter.hpp"

namespace {

using bh::Filter;
using bh::FilterError;

constexpr std::size_t kMaxEvent = 4096;

constexpr std::string_view kFixed[] = {
    R"(/status == "1" && decimal(/result/0/value, /result/0/tokenDecimal) >= 1000)",
    R"(lower(/result/0/tokenSymbol) in ["usdc", "usdt", 1, true, null] || starts_with(lower(/message), "no"))",
    R"(/a < /b || /a <= 1e-5 || /a > "x" || /a >= 115792089237316195423570985008687907853269984665640564039457584007913129639935)",
    R"(!exists(/a/0/b) && (/c != null || /c == false) && decimal(/d, 18) != 0)",
    R"(/ == "" || /a~1b/~0 == /x || decimal(/v, /d) < decimal(/w, 3))",
};

struct Fixed {
  Filter f;
  Filter negated;
};

Fixed* fixed() {
  static std::unique_ptr<Fixed[]> all = [] {
    std::unique_ptr<Fixed[]> a(new Fixed[std::size(kFixed)]);
    for (std::size_t i = 0; i < std::size(kFixed); ++i) {
      FilterError e;
      if (!Filter::compile(kFixed[i], a[i].f, e)) __builtin_trap();
      if (!Filter::compile("!(" + std::string(kFixed[i]) + ")", a[i].negated, e)) __builtin_trap();
    }
    return a;
  }();
  return all.get();
}

bh::JsonCheck& json() {
  static std::unique_ptr<bh::JsonCheck> j = [] {
    auto c = std::make_unique<bh::JsonCheck>();
    if (!c->init(kMaxEvent)) __builtin_trap();
    return c;
  }();
  return *j;
}

// The filter and its negation answer opposite, without allocating.
void check_pair(const Filter& f, const Filter& negated, simdjson::dom::element event) {
  const std::uint64_t before = bh::alloc::count();
  const bool yes = f.matches(event);
  const bool no = negated.matches(event);
  if (bh::alloc::count() != before) __builtin_trap();
  if (yes == no) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = in.find('\n');
  const std::string_view expr = in.substr(0, nl);
  const std::string_view event = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);

  Filter f, negated;
  FilterError e;
  const bool ok = Filter::compile(expr, f, e);
  if (!ok) {
    if (e.message.empty() || e.column < 1 || e.column > expr.size() + 1) __builtin_trap();
    if (!f.empty()) __builtin_trap();
  } else if (f.empty()) {
    __builtin_trap();  // a compiled expression always has a program
  }
  bool have_negated = false;
  if (ok) {
    FilterError ne;
    have_negated = Filter::compile("!(" + std::string(expr) + ")", negated, ne);
    if (!have_negated && ne.message.find("nested") == std::string::npos &&
        ne.message.find("too many nodes") == std::string::npos)
      __builtin_trap();  // only a limit may refuse the wrapped form of a valid expression
  }

  if (event.size() > kMaxEvent) return 0;
  // A buffer of the event's exact size plus the padding simdjson reads, as the runtime keeps.
  std::unique_ptr<char[]> buf(new char[event.size() + bh::JsonCheck::kPadding]);
  if (!event.empty()) std::memcpy(buf.get(), event.data(), event.size());
  std::memset(buf.get() + event.size(), 0, bh::JsonCheck::kPadding);
  simdjson::dom::element root;
  if (!json().parse_object(std::string_view(buf.get(), event.size()), root)) return 0;

  Fixed* all = fixed();
  for (std::size_t i = 0; i < std::size(kFixed); ++i) check_pair(all[i].f, all[i].negated, root);
  if (ok && have_negated) check_pair(f, negated, root);
  if (ok && !have_negated) {
    const std::uint64_t before = bh::alloc::count();
    (void)f.matches(root);
    if (bh::alloc::count() != before) __builtin_trap();
  }
  return 0;
}
