// libFuzzer target for Template (platform/shape/template.hpp), both ways round:
// - byte 0 even: the rest is a template (bit 1: text kind, else JSON). Compiling must not crash;
//   a template that compiles renders on a few fixed events, and a JSON template's output must be
//   valid JSON.
// - byte 0 odd: the rest is an event. Fixed templates render on it, and the output is checked
//   against the event: a string inserted inside a string reads back as the same string, any other
//   value inside a string reads back as JSON equal to it, a whole value reads back equal, truncate
//   and upper agree with a slow reference, a missing pointer is reported as missing.
// Every render must allocate nothing (the counting operator new every binary links), write only
// inside its span, succeed with exactly the bytes it needs and fail as too_large with one less.
#include <simdjson.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "platform/alloc/alloc.hpp"
#include "platform/shape/decimal.hpp"
#include "platform/shape/template.hpp"

namespace {

using bh::RenderFault;
using bh::RenderResult;
using bh::Template;
using bh::TemplateError;
using bh::TemplateKind;
using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::size_t kMaxEvent = 1 << 16;
constexpr std::size_t kOut = 1 << 18;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

Template compile_or_trap(std::string_view src, TemplateKind kind = TemplateKind::json) {
  Template t;
  TemplateError e;
  check(Template::compile(src, kind, t, e));
  return t;
}

// Structural equality of two parsed values (doubles by value: the renderer writes them round-trip).
bool same(element a, element b) {
  const auto ta = a.type(), tb = b.type();
  auto number = [](element e, double& d) {
    switch (e.type()) {
      case element_type::INT64: d = double(int64_t(e.get_int64().value_unsafe())); return true;
      case element_type::UINT64: d = double(uint64_t(e.get_uint64().value_unsafe())); return true;
      case element_type::DOUBLE: d = double(e.get_double().value_unsafe()); return true;
      default: return false;
    }
  };
  double da = 0, db = 0;
  if (number(a, da) && number(b, db)) {
    if (ta == tb && ta == element_type::INT64) return int64_t(a.get_int64().value_unsafe()) == int64_t(b.get_int64().value_unsafe());
    if (ta == tb && ta == element_type::UINT64) return uint64_t(a.get_uint64().value_unsafe()) == uint64_t(b.get_uint64().value_unsafe());
    return da == db;
  }
  if (ta != tb) return false;
  switch (ta) {
    case element_type::STRING: return a.get_string().value_unsafe() == b.get_string().value_unsafe();
    case element_type::BOOL: return bool(a.get_bool().value_unsafe()) == bool(b.get_bool().value_unsafe());
    case element_type::NULL_VALUE: return true;
    case element_type::ARRAY: {
      simdjson::dom::array x = a.get_array().value_unsafe(), y = b.get_array().value_unsafe();
      if (x.size() != y.size()) return false;
      auto i = x.begin(), j = y.begin();
      for (; i != x.end(); ++i, ++j)
        if (!same(*i, *j)) return false;
      return true;
    }
    case element_type::OBJECT: {
      simdjson::dom::object x = a.get_object().value_unsafe(), y = b.get_object().value_unsafe();
      if (x.size() != y.size()) return false;
      auto i = x.begin(), j = y.begin();  // the renderer keeps member order
      for (; i != x.end(); ++i, ++j)
        if (i.key() != j.key() || !same(i.value(), j.value())) return false;
      return true;
    }
    default: return false;
  }
}

// Renders `t` on `event` and checks the render contract; returns the output ("" on a fault, with
// `fault` set).
std::string render(const Template& t, element event, RenderFault& fault) {
  static std::unique_ptr<char[]> out(new char[kOut + 1]);
  out[kOut] = '#';
  const std::uint64_t before = bh::alloc::count();
  RenderResult r = t.render(event, std::span<char>(out.get(), kOut));
  check(bh::alloc::count() == before);
  check(out[kOut] == '#');
  fault = r.fault();
  check(r.ok() == r.reason().empty());
  if (!r.ok()) return {};
  check(r.size() <= kOut);
  std::string text(out.get(), r.size());
  // Exactly the bytes it needs: one less is too_large and stays inside the span.
  std::unique_ptr<char[]> exact(new char[r.size() + 1]);
  exact[r.size()] = '#';
  const std::uint64_t before2 = bh::alloc::count();
  RenderResult r2 = t.render(event, std::span<char>(exact.get(), r.size()));
  check(r2.ok() && r2.size() == r.size() && std::memcmp(exact.get(), text.data(), r.size()) == 0);
  if (r.size() > 0) {
    RenderResult r3 = t.render(event, std::span<char>(exact.get(), r.size() - 1));
    check(!r3.ok() && r3.fault() == RenderFault::too_large && r3.reason() == "too large");
  }
  check(bh::alloc::count() == before2);
  check(exact[r.size()] == '#');
  return text;
}

simdjson::dom::parser& output_parser() {
  static simdjson::dom::parser p;
  return p;
}

// The output of a JSON template, parsed (traps if it is not JSON).
element parse_output(const std::string& text, simdjson::padded_string& keep) {
  keep = simdjson::padded_string(text);
  element root;
  check(output_parser().parse(keep).get(root) == simdjson::SUCCESS);
  return root;
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// truncate(N) the slow way.
std::string truncated(std::string_view s, std::size_t n) {
  if (code_points(s) <= n) return std::string(s);
  std::size_t k = 0, seen = 0;
  for (; k < s.size(); ++k) {
    if ((static_cast<unsigned char>(s[k]) & 0xC0) != 0x80 && seen++ == n) break;
  }
  return std::string(s.substr(0, k)) + "\xE2\x80\xA6";
}

// A run of 19 digits or more, or an exponent of 3 digits or more: a JSON number the template may
// hold (RFC 8259 sets no range) but simdjson, the checker here, refuses beyond 64-bit integers
// (-9223372036854775809 has only 19 digits) and beyond a double's range (1E222222).
bool has_big_integer(std::string_view s) {
  std::size_t run = 0;
  bool exponent = false;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      ++run;
      if (run >= 19 || (exponent && run >= 3)) return true;
    } else {
      exponent = (c == 'e' || c == 'E') || (exponent && run == 0 && (c == '+' || c == '-'));
      run = 0;
    }
  }
  return false;
}

const std::vector<simdjson::padded_string>& fixed_events() {
  static const std::vector<simdjson::padded_string> events = [] {
    std::vector<simdjson::padded_string> v;
    for (const char* e : {R"({"a": "x\"y\n\u00e9😀", "b": 12, "c": {"d": [1, 2.5, null, true]}, "s": "AbC"})",
                          R"({"a": 1e300, "b": -9223372036854775808, "v": "1500250000", "d": 6})",
                          R"({"x": [[[[[]]]]], "": {"": ""}, "a~b": {"c/d": "e"}})"})
      v.emplace_back(std::string_view(e));
    return v;
  }();
  return events;
}

void fuzz_template(std::string_view src, TemplateKind kind) {
  Template t;
  TemplateError e;
  if (!Template::compile(src, kind, t, e)) {
    check(!e.message.empty() && e.line >= 1 && e.column >= 1 && t.placeholders() == 0);
    return;
  }
  check(t.placeholders() <= Template::kMaxPlaceholders);
  static simdjson::dom::parser event_parser;
  for (const auto& ev : fixed_events()) {
    element root;
    check(event_parser.parse(ev).get(root) == simdjson::SUCCESS);
    RenderFault fault = RenderFault::none;
    const std::string out = render(t, root, fault);
    if (fault == RenderFault::none && kind == TemplateKind::json && !has_big_integer(out)) {
      simdjson::padded_string keep;
      parse_output(out, keep);
    }
  }
}

void fuzz_event(std::string_view json) {
  static simdjson::dom::parser parser;
  static bool sized = parser.allocate(kMaxEvent, 64) == simdjson::SUCCESS;
  check(sized);
  if (json.size() > kMaxEvent) return;
  simdjson::padded_string copy(json);
  element event;
  if (parser.parse(copy).get(event) != simdjson::SUCCESS) return;

  static const Template inside = compile_or_trap(R"({"s": "{{ /s }}", "v": {{ /v }}, "k": ["{{ /k/0 }}"]})");
  static const Template cut = compile_or_trap(R"({"t": "{{ /s | truncate(5) }}", "u": "{{ /s | upper }}"})");
  static const Template fallback = compile_or_trap(R"({"m": {{ /m | default("none") }}, "n": "{{ /m | default(null) }}"})");
  static const Template text = compile_or_trap("<{{ /s }}|{{ /v }}>", TemplateKind::text);
  static const Template scaled = compile_or_trap(R"({"d": "{{ /v | decimal(2) }}", "e": {{ /v | decimal(0, 1) }}})");

  auto found = [&](const char* ptr, element& out) { return event.at_pointer(ptr).get(out) == simdjson::SUCCESS; };
  element s, v, k0, m;
  const bool has_s = found("/s", s), has_v = found("/v", v), has_k0 = found("/k/0", k0), has_m = found("/m", m);

  RenderFault fault = RenderFault::none;
  simdjson::padded_string keep;
  std::string out = render(inside, event, fault);
  if (!has_s || !has_v || !has_k0) {
    check(fault == RenderFault::missing || fault == RenderFault::too_deep || fault == RenderFault::too_large);
  } else if (fault == RenderFault::none) {
    element o = parse_output(out, keep);
    element os = o["s"].value_unsafe(), ov = o["v"].value_unsafe(), ok = o["k"].at(0).value_unsafe();
    check(os.is_string() && ok.is_string());
    for (auto [got, want] : {std::pair{os, s}, std::pair{ok, k0}}) {
      if (want.is_string()) {
        check(got.get_string().value_unsafe() == want.get_string().value_unsafe());
      } else {
        // Anything else inside a string is its JSON text.
        simdjson::dom::parser p;
        element back;
        check(p.parse(simdjson::padded_string(got.get_string().value_unsafe())).get(back) == simdjson::SUCCESS);
        check(same(back, want));
      }
    }
    check(same(ov, v));
  } else {
    check(fault == RenderFault::too_deep || fault == RenderFault::too_large);
  }

  out = render(cut, event, fault);
  if (!has_s) {
    check(fault == RenderFault::missing);
  } else if (!s.is_string()) {
    check(fault == RenderFault::not_a_string);
  } else {
    check(fault == RenderFault::none);
    element o = parse_output(out, keep);
    const std::string_view str = s.get_string().value_unsafe();
    check(o["t"].get_string().value_unsafe() == truncated(str, 5));
    std::string up(str);
    for (char& c : up) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
    check(o["u"].get_string().value_unsafe() == up);
  }

  out = render(fallback, event, fault);
  if (fault == RenderFault::none) {
    element o = parse_output(out, keep);
    if (!has_m) {
      check(o["m"].get_string().value_unsafe() == std::string_view("none") && o["n"].get_string().value_unsafe() == std::string_view("null"));
    } else {
      check(same(o["m"].value_unsafe(), m));
    }
  } else {
    check(has_m && (fault == RenderFault::too_deep || fault == RenderFault::too_large));
  }

  out = render(scaled, event, fault);
  bh::Decimal want;
  if (!has_v) {
    check(fault == RenderFault::missing);
  } else if (!bh::Decimal::from_json(v, want)) {
    check(fault == RenderFault::not_a_number);
  } else if (fault == RenderFault::none) {
    // Fixed-point text (no exponent) equal to the value / 100, and the value to one place.
    element o = parse_output(out, keep);
    const std::string_view d = o["d"].get_string().value_unsafe();
    check(d.find_first_of("eE") == std::string_view::npos);
    bh::Decimal got;
    check(bh::Decimal::parse(d, got) && got == want.scaled(2));
    check(o["e"].is_number());
  } else {
    check(fault == RenderFault::not_a_number);  // a fixed-point text over the value buffer
  }

  out = render(text, event, fault);
  if (fault == RenderFault::none && s.is_string()) {
    const std::string_view str = s.get_string().value_unsafe();
    check(out.size() > str.size() + 1 && out.compare(1, str.size(), str) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    fuzz_event(rest);
  } else {
    fuzz_template(rest, data[0] & 2 ? TemplateKind::text : TemplateKind::json);
  }
  return 0;
}
