// Template: a request body (or a plain-text message) with placeholders `{{ /ptr | formatter ... }}`
// that pull values out of an event, compiled at start-up into a fixed program of literal spans and
// placeholder steps, then rendered per event into a caller's buffer with no allocation and no
// exceptions. It is not a general template language: no loops, no conditionals, no expressions
// beyond one JSON Pointer and a short chain of formatters per placeholder.
//
// JSON templates (TemplateKind::json) must be JSON once every placeholder is replaced: a
// placeholder is either inside a JSON string (its value is inserted JSON-string escaped: a
// string's characters, a number's text, true/false/null, an object's or array's minified JSON) or a
// whole JSON value (the value's minified JSON: strings quoted, objects as they are). Insignificant
// whitespace between JSON tokens is dropped at compile. `{{` always opens a placeholder; write a
// literal "{{" inside a JSON string as "{\u007b".
// Text templates (TemplateKind::text, e.g. a websocket reply's `send`) are bytes with placeholders:
// values go in unescaped (a string's characters, a number's text, an object's minified JSON).
//
// Formatters, applied left to right:
//   decimal(/ptr | N[, places])  the value (a JSON number or a string holding one, exact up to 78
//                                digits: platform/shape/decimal.hpp) / 10^decimals, written
//                                fixed-point; decimals (0-77) from a pointer to an integer or
//                                string, or a literal N; trailing zeros trimmed unless `places`
//                                fixes the count, rounding half to even (1500250000, 6 ->
//                                "1500.25"). The result is a number (a bare JSON number as a whole
//                                value).
//   truncate(N)                  at most N UTF-8 code points, never splitting one; "…" appended
//                                when something was cut. Strings only.
//   lower, upper                 ASCII case. Strings only.
//   default(literal)             the value when the pointer is missing: a "string" (JSON escapes),
//                                a number, true, false or null. Other formatters pass a missing
//                                value through untouched, so its position in the chain is free.
// A missing pointer with no default fails the render ("missing /from"), as does a formatter given
// the wrong type ("not a string for truncate (/text)") or a value that does not fit ("too large").
//
// Numbers: the parsed event keeps no number text, so integers are written in decimal and other
// numbers in their shortest round-trip form ("1.5", "1e+21"); an integer beyond 64 bits arrives
// as a double (send such values as strings to keep every digit).
#pragma once
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "platform/shape/json_pointer.hpp"

namespace bh {

enum class TemplateKind : std::uint8_t {
  json,  // JSON text; values escaped inside strings, raw JSON as whole values
  text,  // plain text; values inserted as their characters
};

// Why a template did not compile (start-up only). line and column are 1-based; column counts
// UTF-8 code points from the start of the line.
struct TemplateError {
  std::size_t line = 0;
  std::size_t column = 0;
  std::string message;  // "unknown formatter \"lowr\" (known: decimal, truncate, lower, upper, default)"
  // "line 1, column 12: unknown formatter ..." (or "column 12: ..." for a one-line template).
  std::string what() const;
};

// Why a render failed. The reason text names the pointer or formatter involved.
enum class RenderFault : std::uint8_t {
  none,
  missing,       // "missing /from", "missing /d for decimal (/value)"
  too_large,     // "too large": the output buffer is full
  not_a_string,  // "not a string for truncate (/text)" (truncate, lower, upper)
  not_a_number,  // "not a number for decimal (/value)", "bad decimals for decimal (/d ...)",
                 // "out of range for decimal (/value)" (a fixed-point text over 256 bytes)
  too_deep,      // "too deep (/x)": a value nested deeper than kMaxValueDepth
};

// The outcome of Template::render: the bytes written, or a fault with its reason. Holds its reason
// text itself (no allocation, valid as long as the result).
class RenderResult {
 public:
  static constexpr std::size_t kMaxReason = 120;

  bool ok() const noexcept { return fault_ == RenderFault::none; }
  explicit operator bool() const noexcept { return ok(); }
  // Bytes written at the start of the output span (meaningful when ok()).
  std::size_t size() const noexcept { return size_; }
  RenderFault fault() const noexcept { return fault_; }
  // "" when ok; else "missing /from", "too large", "not a string for truncate (/text)", ...
  std::string_view reason() const noexcept { return {reason_, reason_len_}; }

 private:
  friend class Template;
  static RenderResult success(std::size_t n) noexcept;
  // The reason is the parts one after the other (cut to fit kMaxReason).
  static RenderResult failure(RenderFault f, std::initializer_list<std::string_view> parts) noexcept;

  std::size_t size_ = 0;
  RenderFault fault_ = RenderFault::none;
  std::uint8_t reason_len_ = 0;
  char reason_[kMaxReason] = {};
};

class Template {
 public:
  static constexpr std::size_t kMaxSource = 64 * 1024;   // template text bytes
  static constexpr std::size_t kMaxPlaceholders = 64;    // per template
  static constexpr std::size_t kMaxFormatters = 8;       // per placeholder
  static constexpr std::size_t kMaxDepth = 64;           // JSON nesting of the template itself
  static constexpr std::size_t kMaxValueDepth = 128;     // nesting of an inserted object/array
  static constexpr std::uint32_t kMaxTruncate = 1u << 20;  // truncate(N): N code points at most
  static constexpr std::uint32_t kMaxDecimals = 77;      // decimal(N) and places

  // An empty template: renders nothing.
  Template() = default;

  // Compiles `source` into `out` (start-up only; allocates). Returns false and fills `error` when
  // the text is not a template: an unterminated "{{" or string, unbalanced brackets, JSON that is
  // not JSON once placeholders are replaced (json kind), a placeholder outside a string that is not
  // a whole value (a bare object key, `"a": x{{/b}}`), a bad JSON Pointer, an unknown formatter or
  // bad formatter arguments, or more than the limits above. `out` is then left empty.
  // Example: Template t; TemplateError e;
  //          if (!Template::compile(R"({"text": "{{ /msg | truncate(4000) }}"})", TemplateKind::json, t, e))
  //            fail(e.what());
  static bool compile(std::string_view source, TemplateKind kind, Template& out, TemplateError& error);

  // Renders the template for `event` into `out`. Returns the bytes written, or a fault: a missing
  // pointer without default, a formatter given a value it cannot take, or an output that does not
  // fit `out` (the bytes already written are then garbage). Allocates nothing, never throws.
  RenderResult render(simdjson::dom::element event, std::span<char> out) const noexcept;

  TemplateKind kind() const noexcept { return kind_; }
  std::size_t placeholders() const noexcept { return slots_.size(); }

 private:
  friend class TemplateCompiler;

  enum class Where : std::uint8_t { in_string, value, text };
  enum class Op : std::uint8_t { decimal, truncate, lower, upper, fallback };
  struct Span {
    std::uint32_t off = 0, len = 0;  // into text_
  };
  struct Formatter {
    Op op = Op::lower;
    bool arg_is_string = false;   // default: a string literal (else raw JSON: number/true/false/null)
    std::int16_t pointer = -1;    // decimal: decimals from pointers_[pointer] (else `number`)
    std::uint32_t number = 0;     // truncate N, decimal N
    std::int16_t places = -1;     // decimal places (-1: trim trailing zeros)
    Span arg;                     // default: the literal (unescaped for a string); decimal: the pointer text
  };
  struct Slot {
    Span literal;                 // text written before the placeholder
    Where where = Where::text;
    std::uint16_t pointer = 0;    // into pointers_
    Span name;                    // the pointer as written, for reasons
    std::uint8_t formatters = 0;
    Formatter chain[kMaxFormatters];
  };

  struct Value;
  struct Writer;
  RenderResult place(const Slot& s, simdjson::dom::element event, Writer& w) const noexcept;
  RenderResult apply(const Slot& s, const Formatter& f, simdjson::dom::element event, Value& v) const noexcept;
  std::string_view view(Span s) const noexcept { return {text_.data() + s.off, s.len}; }

  TemplateKind kind_ = TemplateKind::json;
  std::string text_;                  // literal spans, default literals and pointer names, sized at compile
  std::vector<Slot> slots_;           // sized at compile, read-only after
  Span tail_;                         // literal text after the last placeholder
  std::vector<JsonPointer> pointers_; // sized at compile, read-only after
};

}  // namespace bh
