#include "platform/shape/filter.hpp"

#include "platform/shape/decimal.hpp"

namespace bh {

std::string FilterError::text() const { return "column " + std::to_string(column) + ": " + message; }

// ---- compiling (start-up) ----------------------------------------------------------------------

// Recursive descent over the grammar in filter.hpp, emitting the postfix program as it goes.
// Every error is reported once: the first one sets `failed_` and the callers unwind.
class FilterCompiler {
 public:
  FilterCompiler(std::string_view text, Filter& f, FilterError& error) : t_(text), f_(f), error_(error) {}

  bool run() {
    skip_ws();
    if (pos_ == t_.size()) return fail("empty expression", pos_);
    if (!expr()) return false;
    skip_ws();
    if (pos_ != t_.size()) return fail("unexpected " + describe_here() + " after the expression", pos_);
    return true;
  }

 private:
  using Op = Filter::Op;
  using Kind = Filter::Kind;
  using Value = Filter::Value;

  bool fail(std::string message, std::size_t at) {
    error_.message = std::move(message);
    error_.column = at + 1;
    return false;
  }
  static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  void skip_ws() {
    while (pos_ < t_.size() && is_space(t_[pos_])) ++pos_;
  }
  char peek(std::size_t ahead = 0) const { return pos_ + ahead < t_.size() ? t_[pos_ + ahead] : '\0'; }
  bool eat(std::string_view s) {
    skip_ws();
    if (t_.substr(pos_, s.size()) != s) return false;
    pos_ += s.size();
    return true;
  }
  bool expect(char c, std::string_view what) {
    skip_ws();
    if (peek() == c) {
      ++pos_;
      return true;
    }
    return fail("expected " + std::string(what) + ", found " + describe_here(), pos_);
  }
  // What stands at the cursor, for messages: "'&&'", "end of text".
  std::string describe_here() const {
    if (pos_ >= t_.size()) return "end of text";
    std::size_t end = pos_ + 1;
    if (is_word(t_[pos_]))
      while (end < t_.size() && is_word(t_[end])) ++end;
    return "'" + std::string(t_.substr(pos_, end - pos_)) + "'";
  }
  static bool is_word(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }
  std::string_view word() const {
    std::size_t end = pos_;
    while (end < t_.size() && is_word(t_[end])) ++end;
    return t_.substr(pos_, end - pos_);
  }
  // A word followed (after spaces) by '(' is a function call.
  bool call_follows(std::size_t after) const {
    while (after < t_.size() && is_space(t_[after])) ++after;
    return after < t_.size() && t_[after] == '(';
  }

  bool emit(Op op, std::uint8_t a = 0, std::uint8_t b = 0, std::uint8_t n = 0) {
    if (f_.op_count_ == Filter::kMaxOps)
      return fail("too many nodes: an expression holds at most " + std::to_string(Filter::kMaxOps) + " operations", pos_);
    f_.ops_[f_.op_count_++] = Filter::Instr{op, a, b, n};
    return true;
  }
  bool add_value(const Value& v, std::size_t at, std::uint8_t& index) {
    if (f_.value_count_ == Filter::kMaxValues)
      return fail("too many nodes: an expression holds at most " + std::to_string(Filter::kMaxValues) + " values", at);
    index = f_.value_count_;
    f_.values_[f_.value_count_++] = v;
    return true;
  }
  bool enter(std::size_t at) {
    if (++depth_ > Filter::kMaxDepth)
      return fail("nested more than " + std::to_string(Filter::kMaxDepth) + " deep", at);
    return true;
  }

  bool expr() {
    if (!enter(pos_)) return false;
    if (!conj()) return false;
    while (eat("||")) {
      if (!conj() || !emit(Op::or_)) return false;
    }
    --depth_;
    return true;
  }
  bool conj() {
    if (!unary()) return false;
    while (eat("&&")) {
      if (!unary() || !emit(Op::and_)) return false;
    }
    return true;
  }
  bool unary() {
    skip_ws();
    if (peek() == '!' && peek(1) != '=') {
      ++pos_;
      if (!enter(pos_) || !unary() || !emit(Op::not_)) return false;
      --depth_;
      return true;
    }
    if (peek() == '(') {
      ++pos_;
      if (!expr()) return false;
      return expect(')', "')'");
    }
    return pred();
  }

  bool pred() {
    skip_ws();
    const std::size_t start = pos_;
    const std::string_view w = word();
    if (w == "exists" && call_follows(pos_ + w.size())) {
      pos_ += w.size();
      expect('(', "'('");
      skip_ws();
      std::uint8_t p = 0;
      if (peek() != '/') return fail("exists() takes a JSON Pointer such as /result/0", pos_);
      if (!pointer(p) || !expect(')', "')' after the pointer")) return false;
      return emit(Op::exists, p);
    }
    if (w == "starts_with" && call_follows(pos_ + w.size())) {
      pos_ += w.size();
      expect('(', "'('");
      std::uint8_t v = 0, prefix = 0;
      if (!value(v) || !expect(',', "',' between starts_with's value and its prefix")) return false;
      skip_ws();
      if (peek() != '"') return fail("starts_with's prefix must be a \"string\"", pos_);
      if (!literal(prefix) || !expect(')', "')'")) return false;
      return emit(Op::starts_with, v, prefix);
    }
    std::uint8_t a = 0;
    if (!value(a)) return false;
    skip_ws();
    static constexpr std::pair<std::string_view, Op> kOps[] = {
        {"==", Op::eq}, {"!=", Op::ne}, {"<=", Op::le}, {">=", Op::ge}, {"<", Op::lt}, {">", Op::gt}};
    for (const auto& [text, op] : kOps) {
      if (t_.substr(pos_, text.size()) == text) {
        pos_ += text.size();
        std::uint8_t b = 0;
        if (!value(b)) return false;
        return emit(op, a, b);
      }
    }
    if (word() == "in") {
      pos_ += 2;
      if (!expect('[', "'[' after 'in'")) return false;
      std::uint8_t first = 0, n = 0;
      do {
        std::uint8_t m = 0;
        skip_ws();
        if (peek() == '/') return fail("an 'in' list holds literals, not pointers", pos_);
        if (!literal(m)) return false;
        if (n == 0) first = m;
        ++n;
      } while (eat(","));
      if (!expect(']', "',' or ']' in the 'in' list")) return false;
      return emit(Op::in, a, first, n);
    }
    if (pos_ == t_.size() || peek() == ')' || peek() == '&' || peek() == '|')
      return fail("a value alone is no test: compare it (==, !=, <, <=, >, >=), use 'in [..]' or exists()", start);
    return fail("expected a comparison (==, !=, <, <=, >, >=) or 'in', found " + describe_here(), pos_);
  }

  bool value(std::uint8_t& index) {
    skip_ws();
    const std::size_t start = pos_;
    const char c = peek();
    if (c == '/') {
      std::uint8_t p = 0;
      if (!pointer(p)) return false;
      Value v;
      v.kind = Kind::pointer;
      v.ptr = p;
      return add_value(v, start, index);
    }
    const std::string_view w = word();
    if (w == "lower" && call_follows(pos_ + w.size())) {
      pos_ += w.size();
      expect('(', "'('");
      if (!enter(start) || !value(index) || !expect(')', "')' after lower's value")) return false;
      --depth_;
      f_.values_[index].lower = true;
      return true;
    }
    if (w == "decimal" && call_follows(pos_ + w.size())) {
      pos_ += w.size();
      expect('(', "'('");
      skip_ws();
      Value v;
      v.kind = Kind::decimal;
      if (peek() != '/') return fail("decimal() takes a JSON Pointer to the value first, e.g. decimal(/value, /tokenDecimal)", pos_);
      if (!pointer(v.ptr) || !expect(',', "',' between decimal's value and its decimals")) return false;
      skip_ws();
      if (peek() == '/') {
        if (!pointer(v.scale_ptr)) return false;
      } else {
        const std::size_t at = pos_;
        std::int64_t scale = 0;
        while (peek() >= '0' && peek() <= '9') {
          scale = scale * 10 + (peek() - '0');
          ++pos_;
          if (scale > Filter::kMaxScale) break;
        }
        if (pos_ == at || scale > Filter::kMaxScale || is_word(peek()) || peek() == '.')
          return fail("decimal()'s decimals must be a /pointer or an integer 0.." + std::to_string(Filter::kMaxScale), at);
        v.scale = static_cast<std::uint16_t>(scale);
      }
      if (!expect(')', "')' after decimal's decimals")) return false;
      return add_value(v, start, index);
    }
    if (c == '"' || c == '-' || (c >= '0' && c <= '9') || w == "true" || w == "false" || w == "null") return literal(index);
    if (!w.empty() && call_follows(pos_ + w.size()))
      return fail("unknown function '" + std::string(w) + "' (known: lower, decimal, exists, starts_with)", start);
    if (!w.empty()) return fail("unknown word '" + std::string(w) + "' (strings are written in double quotes)", start);
    return fail("expected a value (a /pointer, \"string\", number, true, false, null, lower() or decimal()), found " +
                    describe_here(), start);
  }

  // lit := "string" | number | true | false | null
  bool literal(std::uint8_t& index) {
    skip_ws();
    const std::size_t start = pos_;
    Value v;
    const char c = peek();
    if (c == '"') {
      v.kind = Kind::string;
      if (!string_literal(v)) return false;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Kind::number;
      std::size_t end = pos_;
      while (end < t_.size() && ((t_[end] >= '0' && t_[end] <= '9') || t_[end] == '.' || t_[end] == 'e' ||
                                 t_[end] == 'E' || t_[end] == '-' || t_[end] == '+'))
        ++end;
      const std::string_view text = t_.substr(pos_, end - pos_);
      Decimal d;
      if (!Decimal::parse(text, d))
        return fail("'" + std::string(text) + "' is not a number (at most " + std::to_string(Decimal::kMaxDigits) +
                        " significant digits)", start);
      if (!store(text, v)) return false;
      pos_ = end;
    } else {
      const std::string_view w = word();
      if (w == "true" || w == "false") {
        v.kind = Kind::boolean;
        v.flag = w == "true";
      } else if (w == "null") {
        v.kind = Kind::null;
      } else {
        return fail("expected a literal (\"string\", number, true, false or null), found " + describe_here(), start);
      }
      pos_ += w.size();
    }
    return add_value(v, start, index);
  }

  bool store(std::string_view bytes, Value& v) {
    if (f_.arena_used_ + bytes.size() > Filter::kArenaBytes)
      return fail("literals take more than " + std::to_string(Filter::kArenaBytes) + " bytes", pos_);
    v.off = f_.arena_used_;
    v.len = static_cast<std::uint16_t>(bytes.size());
    for (char b : bytes) f_.arena_[f_.arena_used_++] = b;
    return true;
  }
  bool put(char b) {
    if (f_.arena_used_ == Filter::kArenaBytes)
      return fail("literals take more than " + std::to_string(Filter::kArenaBytes) + " bytes", pos_);
    f_.arena_[f_.arena_used_++] = b;
    return true;
  }
  bool hex4(std::size_t at, std::uint32_t& out) {
    out = 0;
    for (std::size_t i = 0; i < 4; ++i) {
      const char h = at + i < t_.size() ? t_[at + i] : '\0';
      int d = -1;
      if (h >= '0' && h <= '9') d = h - '0';
      else if (h >= 'a' && h <= 'f') d = h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') d = h - 'A' + 10;
      if (d < 0) return false;
      out = out * 16 + static_cast<std::uint32_t>(d);
    }
    return true;
  }
  // A JSON string literal, unescaped into the arena.
  bool string_literal(Value& v) {
    const std::size_t open = pos_++;
    v.off = f_.arena_used_;
    for (;;) {
      if (pos_ >= t_.size()) return fail("unterminated string literal (no closing '\"')", open);
      const char c = t_[pos_];
      if (c == '"') {
        ++pos_;
        break;
      }
      if (c != '\\') {
        if (!put(c)) return false;
        ++pos_;
        continue;
      }
      const std::size_t esc = pos_;
      const char e = peek(1);
      pos_ += 2;
      char simple = 0;
      switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default:
          return fail("invalid escape in a string literal (use \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)", esc);
      }
      if (simple != 0) {
        if (!put(simple)) return false;
        continue;
      }
      std::uint32_t cp = 0;
      if (!hex4(pos_, cp)) return fail("\\u must be followed by 4 hex digits", esc);
      pos_ += 4;
      if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("\\u escape is a lone low surrogate", esc);
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        std::uint32_t lo = 0;
        if (peek() != '\\' || peek(1) != 'u' || !hex4(pos_ + 2, lo) || lo < 0xDC00 || lo > 0xDFFF)
          return fail("\\u escape is a high surrogate without its low half", esc);
        pos_ += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      bool ok = true;
      if (cp < 0x80) {
        ok = put(static_cast<char>(cp));
      } else if (cp < 0x800) {
        ok = put(static_cast<char>(0xC0 | (cp >> 6))) && put(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        ok = put(static_cast<char>(0xE0 | (cp >> 12))) && put(static_cast<char>(0x80 | ((cp >> 6) & 0x3F))) &&
             put(static_cast<char>(0x80 | (cp & 0x3F)));
      } else {
        ok = put(static_cast<char>(0xF0 | (cp >> 18))) && put(static_cast<char>(0x80 | ((cp >> 12) & 0x3F))) &&
             put(static_cast<char>(0x80 | ((cp >> 6) & 0x3F))) && put(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      if (!ok) return false;
    }
    v.len = static_cast<std::uint16_t>(f_.arena_used_ - v.off);
    return true;
  }

  // A bare pointer token, compiled and shared with any earlier use of the same pointer.
  bool pointer(std::uint8_t& index) {
    const std::size_t start = pos_;
    std::size_t end = pos_;
    while (end < t_.size()) {
      const char c = t_[end];
      if (is_space(c) || std::string_view("()[],=!<>&|\"").find(c) != std::string_view::npos) break;
      ++end;
    }
    JsonPointer p;
    std::string why;
    if (!JsonPointer::compile(t_.substr(start, end - start), p, why)) return fail(why, start);
    pos_ = end;
    for (std::uint8_t i = 0; i < f_.pointer_count_; ++i) {
      if (f_.pointers_[i] == p) {
        index = i;
        return true;
      }
    }
    if (f_.pointer_count_ == Filter::kMaxPointers)
      return fail("more than " + std::to_string(Filter::kMaxPointers) + " different pointers in one expression", start);
    index = f_.pointer_count_;
    f_.pointers_[f_.pointer_count_++] = p;
    return true;
  }

  std::string_view t_;
  Filter& f_;
  FilterError& error_;
  std::size_t pos_ = 0;
  std::size_t depth_ = 0;
};

bool Filter::compile(std::string_view text, Filter& out, FilterError& error) {
  out = Filter{};
  Filter f;
  if (!FilterCompiler(text, f, error).run()) return false;
  out = f;
  return true;
}

// ---- evaluating (hot path: no allocation) --------------------------------------------------------

namespace {

char fold(char c, bool lower) noexcept { return lower && c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

int compare_text(std::string_view a, std::string_view b, bool lower) noexcept {
  const std::size_t n = a.size() < b.size() ? a.size() : b.size();
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(fold(a[i], lower));
    const auto y = static_cast<unsigned char>(fold(b[i], lower));
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

// Whether a three-way comparison's result `c` satisfies the comparison operator `op`.
template <typename Op>
bool holds(int c, Op op) noexcept {
  switch (op) {
    case Op::eq: return c == 0;
    case Op::ne: return c != 0;
    case Op::lt: return c < 0;
    case Op::le: return c <= 0;
    case Op::gt: return c > 0;
    case Op::ge: return c >= 0;
    default: return false;
  }
}

}  // namespace

// One operand made concrete for one event.
struct Filter::Resolved {
  enum class Type : std::uint8_t { null, boolean, number, string, other } type = Type::other;
  bool lower = false;
  bool flag = false;
  std::string_view text;  // string
  Decimal number;         // number
  // The operand as an exact number: a number, or a string holding one.
  bool as_number(Decimal& d) const noexcept {
    if (type == Type::number) {
      d = number;
      return true;
    }
    return type == Type::string && Decimal::parse(text, d);
  }
};

bool Filter::resolve(simdjson::dom::element event, const Value& v, Resolved& out) const noexcept {
  using Type = Resolved::Type;
  out.lower = v.lower;
  switch (v.kind) {
    case Kind::string:
      out.type = Type::string;
      out.text = std::string_view(arena_ + v.off, v.len);
      return true;
    case Kind::number:
      out.type = Type::number;
      return Decimal::parse(std::string_view(arena_ + v.off, v.len), out.number);
    case Kind::boolean:
      out.type = Type::boolean;
      out.flag = v.flag;
      return true;
    case Kind::null:
      out.type = Type::null;
      return true;
    case Kind::decimal: {
      simdjson::dom::element e;
      if (!pointers_[v.ptr].find(event, e) || !Decimal::from_json(e, out.number)) return false;
      std::int64_t scale = v.scale;
      if (v.scale_ptr != kNone) {
        Decimal s;
        if (!pointers_[v.scale_ptr].find(event, e) || !Decimal::from_json(e, s) || !s.to_int64(scale) || scale < 0 ||
            scale > kMaxScale)
          return false;
      }
      out.number = out.number.scaled(scale);
      out.type = Type::number;
      return true;
    }
    case Kind::pointer: {
      simdjson::dom::element e;
      if (!pointers_[v.ptr].find(event, e)) return false;
      switch (e.type()) {
        case simdjson::dom::element_type::STRING:
          out.type = Type::string;
          out.text = e.get_string().value_unsafe();
          return true;
        case simdjson::dom::element_type::INT64:
        case simdjson::dom::element_type::UINT64:
        case simdjson::dom::element_type::DOUBLE:
          out.type = Type::number;
          return Decimal::from_json(e, out.number);
        case simdjson::dom::element_type::BOOL:
          out.type = Type::boolean;
          out.flag = e.get_bool().value_unsafe();
          return true;
        case simdjson::dom::element_type::NULL_VALUE:
          out.type = Type::null;
          return true;
        default:
          out.type = Type::other;
          return true;
      }
    }
  }
  return false;
}

bool Filter::test(simdjson::dom::element event, const Instr& in) const noexcept {
  using Type = Resolved::Type;
  switch (in.op) {
    case Op::exists: {
      simdjson::dom::element e;
      return pointers_[in.a].find(event, e);
    }
    case Op::starts_with: {
      Resolved v, prefix;
      if (!resolve(event, values_[in.a], v) || !resolve(event, values_[in.b], prefix)) return false;
      if (v.type != Type::string || prefix.text.size() > v.text.size()) return false;
      return compare_text(v.text.substr(0, prefix.text.size()), prefix.text, v.lower || prefix.lower) == 0;
    }
    case Op::in: {
      Resolved v;
      if (!resolve(event, values_[in.a], v)) return false;
      for (std::uint8_t i = 0; i < in.n; ++i) {
        Resolved m;
        if (resolve(event, values_[in.b + i], m) && compare(v, m, Op::eq)) return true;
      }
      return false;
    }
    case Op::eq:
    case Op::ne:
    case Op::lt:
    case Op::le:
    case Op::gt:
    case Op::ge: {
      Resolved a, b;
      if (!resolve(event, values_[in.a], a) || !resolve(event, values_[in.b], b)) return false;
      return compare(a, b, in.op);
    }
    default:
      return false;
  }
}

bool Filter::compare(const Resolved& a, const Resolved& b, Op op) noexcept {
  using Type = Resolved::Type;
  if (a.type == Type::number || b.type == Type::number) {
    Decimal x, y;
    if (!a.as_number(x) || !b.as_number(y)) return false;
    return holds(Decimal::compare(x, y), op);
  }
  if (a.type != b.type) return false;
  switch (a.type) {
    case Type::string:
      return holds(compare_text(a.text, b.text, a.lower || b.lower), op);
    case Type::boolean:
      if (op != Op::eq && op != Op::ne) return false;
      return holds(a.flag == b.flag ? 0 : 1, op);
    case Type::null:
      if (op != Op::eq && op != Op::ne) return false;
      return holds(0, op);
    default:
      return false;
  }
}

bool Filter::matches(simdjson::dom::element event) const noexcept {
  if (op_count_ == 0) return true;
  bool stack[kMaxOps];
  std::size_t sp = 0;
  for (std::size_t i = 0; i < op_count_; ++i) {
    const Instr& in = ops_[i];
    switch (in.op) {
      case Op::not_:
        stack[sp - 1] = !stack[sp - 1];
        break;
      case Op::and_:
        --sp;
        stack[sp - 1] = stack[sp - 1] && stack[sp];
        break;
      case Op::or_:
        --sp;
        stack[sp - 1] = stack[sp - 1] || stack[sp];
        break;
      default:
        stack[sp++] = test(event, in);
        break;
    }
  }
  return sp == 1 && stack[0];
}

}  // namespace bh
