// Filter: a boolean expression over one JSON event ("/status == \"1\" && decimal(/value, 6) >= 1000"),
// compiled at start-up into a fixed postfix program inside the object and evaluated on parsed
// simdjson DOM events with no allocation. It is not a query language: no arithmetic, no
// variables, no regex, no side effects; it only says yes or no about one event.
//
// Grammar (the `filter` keys of [[source]] and [[sink]], `when` in [[source.reply]]):
//   expr  := or ;  or := and ('||' and)* ;  and := unary ('&&' unary)*
//   unary := '!' unary | '(' expr ')' | pred
//   pred  := value op value | value 'in' '[' lit (',' lit)* ']' | 'exists' '(' ptr ')'
//          | 'starts_with' '(' value ',' string ')'
//   op    := '==' | '!=' | '<' | '<=' | '>' | '>='
//   value := ptr | lit | 'lower' '(' value ')' | 'decimal' '(' ptr ',' (ptr | int) ')'
//   ptr   := an RFC 6901 JSON Pointer written bare, starting with '/' (/result/0/to, ~0 ~1
//            escapes); it ends at whitespace or any of ( ) [ ] , = ! < > & | "
//   lit   := "string" (JSON escapes, \uXXXX included) | number | true | false | null
// Meaning:
// - A missing pointer makes its predicate false (`exists(/p)` tests presence; a JSON null is
//   present). Every predicate is false when its operands cannot be compared, `!=` included:
//   `/n != 5` is false when /n is missing or a string like "abc"; write `!(/n == 5)` for "not 5".
// - A number on either side (a JSON number, a number literal or decimal()) makes the comparison
//   numeric and exact (platform/shape/decimal.hpp, up to 78 digits): a string holding a number
//   compares as that number ("1500250000" > 1000, "5.0" == 5); a string that is no number is a
//   mismatch. Two strings compare as bytes (`<` is byte order); two booleans or two nulls allow
//   only == and !=; objects and arrays compare with nothing.
// - lower(x) makes every string comparison involving x ASCII case-insensitive, `in` and
//   starts_with included; on a number it changes nothing.
// - decimal(/v, /d) is /v divided by 10^/d (decimals as a JSON integer or an integer string,
//   0..1000, else the predicate is false); decimal(/v, 6) takes the decimals as written.
// Limits (compile errors past them): 64 operations (predicates, !, &&, ||), 64 values (operands
// and set members), 8 distinct pointers, 2048 bytes of literal text, nesting 32 deep.
#pragma once
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "platform/shape/json_pointer.hpp"

namespace bh {

// Why an expression did not compile: a message and the 1-based column (byte) in the expression
// text where the problem starts. The config loader prefixes file:line:key.
struct FilterError {
  std::string message;
  std::size_t column = 0;
  // "column 12: unterminated string literal"
  std::string text() const;
};

class Filter {
 public:
  static constexpr std::size_t kMaxOps = 64;
  static constexpr std::size_t kMaxValues = 64;
  static constexpr std::size_t kMaxPointers = 8;
  static constexpr std::size_t kArenaBytes = 2048;
  static constexpr std::size_t kMaxDepth = 32;
  static constexpr std::int64_t kMaxScale = 1000;  // decimal()'s decimals

  // A filter that matches every event (no `filter` key).
  Filter() noexcept = default;

  // Compiles `text` into `out` (start-up only). Errors: false with `error` set (message and
  // column) for a syntax error, an unknown function, a bad pointer/number/string literal or a
  // limit passed; `out` is then left matching everything. Empty text is an error ("empty
  // expression"): callers treat an absent or empty key as "no filter" themselves.
  // Example: Filter f; FilterError e;
  //          if (!Filter::compile("/result/0/to == \"0xabc\"", f, e)) fail(key + ": " + e.text());
  static bool compile(std::string_view text, Filter& out, FilterError& error);

  // True if `event` satisfies the expression (always true for a default Filter). Allocates
  // nothing and never fails: missing fields and type mismatches make predicates false.
  // Notes: parse events with JsonCheck::parse_object (platform/ingest/json_check.hpp), whose
  // parser is sized and warmed at start-up; `event` must stay valid during the call only.
  bool matches(simdjson::dom::element event) const noexcept;

  // True for a filter that matches everything (default constructed).
  bool empty() const noexcept { return op_count_ == 0; }

 private:
  friend class FilterCompiler;
  enum class Op : std::uint8_t { eq, ne, lt, le, gt, ge, in, exists, starts_with, not_, and_, or_ };
  enum class Kind : std::uint8_t { pointer, string, number, boolean, null, decimal };
  struct Value {
    Kind kind = Kind::null;
    bool lower = false;            // lower() applied
    bool flag = false;             // a boolean literal's value
    std::uint8_t ptr = 0;          // pointers_ index: pointer, decimal()'s value
    std::uint8_t scale_ptr = kNone;  // decimal(): pointers_ index of the decimals, or kNone
    std::uint16_t scale = 0;       // decimal(): literal decimals
    std::uint16_t off = 0;         // string / number literal text in arena_
    std::uint16_t len = 0;
  };
  // Postfix: a predicate pushes its result, ! pops one, && and || pop two.
  struct Instr {
    Op op = Op::eq;
    std::uint8_t a = 0;  // value index (exists: pointers_ index)
    std::uint8_t b = 0;  // second value, first set member (in), prefix (starts_with)
    std::uint8_t n = 0;  // set members (in)
  };
  static constexpr std::uint8_t kNone = 0xff;

  struct Resolved;
  bool resolve(simdjson::dom::element event, const Value& v, Resolved& out) const noexcept;
  bool test(simdjson::dom::element event, const Instr& in) const noexcept;
  static bool compare(const Resolved& a, const Resolved& b, Op op) noexcept;  // op: eq..ge

  Instr ops_[kMaxOps] = {};
  Value values_[kMaxValues] = {};
  JsonPointer pointers_[kMaxPointers] = {};
  char arena_[kArenaBytes] = {};
  std::uint8_t op_count_ = 0;
  std::uint8_t value_count_ = 0;
  std::uint8_t pointer_count_ = 0;
  std::uint16_t arena_used_ = 0;
};

}  // namespace bh
