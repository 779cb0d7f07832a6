#include "platform/shape/template.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <initializer_list>

#include "platform/shape/decimal.hpp"

namespace bh {

namespace {

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026, appended by truncate
constexpr std::string_view kFormatters = "decimal, truncate, lower, upper, default";

bool is_ws(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_utf8_continuation(char c) noexcept { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence starting at s[i] (no overlong forms, no surrogates,
// nothing past U+10FFFF), or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1Fu;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0Fu;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07u;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if (!is_utf8_continuation(s[i + k])) return 0;
    cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
  }
  const std::uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// The JSON escape of byte c inside a string ("\\\"", "\\n", "\\u001f"), or 0 when c stands as it is.
std::size_t json_escape(char c, char (&seq)[6]) noexcept {
  const auto b = static_cast<unsigned char>(c);
  char short_form = 0;
  switch (c) {
    case '"': short_form = '"'; break;
    case '\\': short_form = '\\'; break;
    case '\n': short_form = 'n'; break;
    case '\r': short_form = 'r'; break;
    case '\t': short_form = 't'; break;
    case '\b': short_form = 'b'; break;
    case '\f': short_form = 'f'; break;
    default:
      if (b >= 0x20) return 0;
  }
  seq[0] = '\\';
  if (short_form != 0) {
    seq[1] = short_form;
    return 2;
  }
  constexpr char hex[] = "0123456789abcdef";
  seq[1] = 'u', seq[2] = '0', seq[3] = '0', seq[4] = hex[b >> 4], seq[5] = hex[b & 0xF];
  return 6;
}

enum class Case : std::uint8_t { none, lower, upper };

char map_case(char c, Case m) noexcept {
  if (m == Case::lower && c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  if (m == Case::upper && c >= 'a' && c <= 'z') return static_cast<char>(c - 'a' + 'A');
  return c;
}

// A JSON number's text as the parsed document can give it back (integers exact, doubles shortest).
std::size_t number_text(simdjson::dom::element e, char* buf, std::size_t cap) noexcept {
  std::to_chars_result r{buf, std::errc{}};
  switch (e.type()) {
    case simdjson::dom::element_type::INT64: r = std::to_chars(buf, buf + cap, int64_t(e.get_int64().value_unsafe())); break;
    case simdjson::dom::element_type::UINT64: r = std::to_chars(buf, buf + cap, uint64_t(e.get_uint64().value_unsafe())); break;
    case simdjson::dom::element_type::DOUBLE: {
      // Shortest text; but a double beyond the 64-bit integers whose shortest text has no '.' or
      // exponent ("184467440737095155712") would read back as an integer no 64-bit reader holds
      // (simdjson refuses it): such a one is written with its exponent.
      const double d = e.get_double().value_unsafe();
      const bool huge = d >= 18446744073709551616.0 || d < -9223372036854775808.0;
      r = huge ? std::to_chars(buf, buf + cap, d, std::chars_format::scientific) : std::to_chars(buf, buf + cap, d);
      break;
    }
    default: break;
  }
  return r.ec == std::errc{} ? static_cast<std::size_t>(r.ptr - buf) : 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Results and errors

std::string TemplateError::what() const {
  std::string out = line > 1 ? "line " + std::to_string(line) + ", column " : "column ";
  out += std::to_string(column);
  out += ": ";
  out += message;
  return out;
}

RenderResult RenderResult::success(std::size_t n) noexcept {
  RenderResult r;
  r.size_ = n;
  return r;
}

RenderResult RenderResult::failure(RenderFault f, std::initializer_list<std::string_view> parts) noexcept {
  RenderResult r;
  r.fault_ = f;
  std::size_t n = 0;
  for (std::string_view p : parts) {
    const std::size_t take = std::min(p.size(), kMaxReason - n);
    std::memcpy(r.reason_ + n, p.data(), take);
    n += take;
  }
  r.reason_len_ = static_cast<std::uint8_t>(n);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Compile

// One compile: a recursive-descent JSON reader over the template text in which `{{ ... }}` may
// stand for a whole value or inside a string. It writes the literal output (minified) to
// Template::text_ and cuts it into one span per placeholder.
class TemplateCompiler {
 public:
  TemplateCompiler(std::string_view src, TemplateKind kind, Template& t, TemplateError& e)
      : src_(src), kind_(kind), t_(t), e_(e) {}

  bool run() {
    t_.kind_ = kind_;
    if (src_.size() > Template::kMaxSource)
      return fail(0, "a template may hold at most " + std::to_string(Template::kMaxSource) + " bytes");
    t_.text_.reserve(src_.size());
    if (kind_ == TemplateKind::text) {
      while (!end()) {
        if (opens()) {
          if (!placeholder(Template::Where::text)) return false;
        } else {
          t_.text_ += src_[i_++];
        }
      }
    } else {
      if (!value(0)) return false;
      skip_ws();
      if (!end()) return fail(i_, "unexpected " + show() + " after the JSON value");
    }
    t_.tail_ = literal();
    t_.text_.shrink_to_fit();
    t_.slots_.shrink_to_fit();
    t_.pointers_.shrink_to_fit();
    return true;
  }

 private:
  using Where = Template::Where;
  using Op = Template::Op;

  // A formatter argument as written.
  struct Arg {
    enum class Kind : std::uint8_t { integer, pointer, string, raw } kind = Kind::raw;
    std::size_t at = 0;       // offset in the source
    std::uint64_t integer = 0;
    std::string text;         // pointer text, the unescaped string, or the raw literal
  };

  bool end() const { return i_ >= src_.size(); }
  bool opens() const { return src_.compare(i_, 2, "{{") == 0; }
  bool closes() const { return src_.compare(i_, 2, "}}") == 0; }
  void skip_ws() {
    while (!end() && is_ws(src_[i_])) ++i_;
  }
  void emit(std::string_view s) { t_.text_ += s; }

  // What stands at the read position, for messages.
  std::string show() const {
    if (end()) return "the end of the template";
    if (opens()) return "'{{' (a placeholder outside a string must be a whole JSON value)";
    const auto b = static_cast<unsigned char>(src_[i_]);
    if (b < 0x20 || b >= 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", b);
      return std::string("byte ") + hex;
    }
    return std::string("'") + src_[i_] + "'";
  }

  bool fail(std::size_t at, std::string message) {
    e_.line = 1, e_.column = 1;
    for (std::size_t k = 0; k < at && k < src_.size(); ++k) {
      if (src_[k] == '\n') {
        ++e_.line, e_.column = 1;
      } else if (!is_utf8_continuation(src_[k])) {
        ++e_.column;
      }
    }
    e_.message = std::move(message);
    return false;
  }

  // The literal text since the last placeholder, closed into a span.
  Template::Span literal() {
    Template::Span s{static_cast<std::uint32_t>(literal_from_), static_cast<std::uint32_t>(t_.text_.size() - literal_from_)};
    literal_from_ = t_.text_.size();
    return s;
  }
  // Keeps `s` in text_ (not as output) and returns its span.
  Template::Span keep(std::string_view s) {
    Template::Span span{static_cast<std::uint32_t>(t_.text_.size()), static_cast<std::uint32_t>(s.size())};
    t_.text_ += s;
    return span;
  }

  // --- JSON ------------------------------------------------------------------------------------

  bool value(std::size_t depth) {
    skip_ws();
    if (end()) return fail(i_, "expected a JSON value, found the end of the template");
    if (opens()) return placeholder(Where::value);
    const char c = src_[i_];
    if (c == '{' || c == '[') return container(depth + 1);
    if (c == '"') return string(t_.text_, true);
    if (c == '-' || is_digit(c)) return number();
    for (std::string_view word : {"true", "false", "null"}) {
      if (src_.compare(i_, word.size(), word) == 0) {
        emit(word);
        i_ += word.size();
        return true;
      }
    }
    return fail(i_, "expected a JSON value, found " + show());
  }

  bool container(std::size_t depth) {
    const std::size_t open = i_;
    const bool object = src_[i_] == '{';
    const char close = object ? '}' : ']';
    if (depth > Template::kMaxDepth)
      return fail(open, "nested deeper than " + std::to_string(Template::kMaxDepth) + " levels");
    emit(src_.substr(i_++, 1));
    skip_ws();
    if (!end() && src_[i_] == close) {
      emit(src_.substr(i_++, 1));
      return true;
    }
    const std::string unterminated =
        std::string("unterminated ") + (object ? "object: '{' has no '}'" : "array: '[' has no ']'");
    for (;;) {
      skip_ws();
      if (end()) return fail(open, unterminated);
      if (object) {
        if (opens())
          return fail(i_, "an object key must be a string: put the placeholder inside quotes (\"{{ ... }}\")");
        if (src_[i_] != '"') return fail(i_, "expected a string key, found " + show());
        if (!string(t_.text_, true)) return false;
        skip_ws();
        if (end()) return fail(open, unterminated);
        if (src_[i_] != ':') return fail(i_, "expected ':' after the key, found " + show());
        emit(":");
        ++i_;
      }
      if (!value(depth)) return false;
      skip_ws();
      if (end()) return fail(open, unterminated);
      if (src_[i_] == ',') {
        emit(",");
        ++i_;
        continue;
      }
      if (src_[i_] == close) {
        emit(src_.substr(i_++, 1));
        return true;
      }
      return fail(i_, std::string("expected ',' or '") + close + "', found " + show());
    }
  }

  // The JSON string at i_ ('"' there), checked (escapes, control characters, UTF-8) and appended
  // to `out` as written. With `placeholders` (out is then text_), "{{ ... }}" inside is one.
  bool string(std::string& out, bool placeholders) {
    const std::size_t open = i_;
    out += '"';
    ++i_;
    for (;;) {
      if (end()) return fail(open, "unterminated string: '\"' has no closing '\"'");
      if (placeholders && opens()) {
        if (!placeholder(Where::in_string)) return false;
        continue;
      }
      const char c = src_[i_];
      std::size_t n = 1;
      if (c == '\\') {
        n = escape_length(i_);
        if (n == 0) return false;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        return fail(i_, "a control character in a JSON string must be escaped (\\n, \\t, \\u001f)");
      } else if (c != '"') {
        n = utf8_length(src_, i_);
        if (n == 0) return fail(i_, "invalid UTF-8 in a string");
      }
      out += src_.substr(i_, n);
      i_ += n;
      if (c == '"') return true;
    }
  }

  // Four hex digits at `at` as a code unit, or -1.
  long hex4(std::size_t at) const {
    if (at + 4 > src_.size()) return -1;
    long v = 0;
    for (std::size_t k = at; k < at + 4; ++k) {
      const char c = src_[k];
      const int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  }

  // The length of the JSON escape at `at` ('\\' there): 2, 6, or 12 for a surrogate pair; 0 after
  // failing.
  std::size_t escape_length(std::size_t at) {
    const char c = at + 1 < src_.size() ? src_[at + 1] : '\0';
    if (std::string_view("\"\\/bfnrt").find(c) != std::string_view::npos && c != '\0') return 2;
    if (c != 'u') {
      fail(at, "bad escape in a string (use \\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)");
      return 0;
    }
    const long u = hex4(at + 2);
    if (u < 0) {
      fail(at, "\\u must be followed by four hex digits");
      return 0;
    }
    if (u >= 0xDC00 && u <= 0xDFFF) {
      fail(at, "a lone low surrogate in \\u escape");
      return 0;
    }
    if (u < 0xD800 || u > 0xDBFF) return 6;
    const long low = src_.compare(at + 6, 2, "\\u") == 0 ? hex4(at + 8) : -1;
    if (low < 0xDC00 || low > 0xDFFF) {
      fail(at, "a high surrogate in \\u escape must be followed by a low one (\\uDC00-\\uDFFF)");
      return 0;
    }
    return 12;
  }

  // The length of the JSON number at i_, or 0 when there is none.
  std::size_t number_length(std::size_t at) const {
    std::size_t k = at;
    auto digits = [&] {
      const std::size_t from = k;
      while (k < src_.size() && is_digit(src_[k])) ++k;
      return k - from;
    };
    if (k < src_.size() && src_[k] == '-') ++k;
    if (k >= src_.size() || !is_digit(src_[k])) return 0;
    if (src_[k] == '0') {
      ++k;
    } else {
      digits();
    }
    if (k < src_.size() && src_[k] == '.') {
      ++k;
      if (digits() == 0) return 0;
    }
    if (k < src_.size() && (src_[k] == 'e' || src_[k] == 'E')) {
      ++k;
      if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
      if (digits() == 0) return 0;
    }
    return k - at;
  }

  bool number() {
    const std::size_t n = number_length(i_);
    if (n == 0) return fail(i_, "not a JSON number");
    if (i_ + n < src_.size() && (is_digit(src_[i_ + n]) || src_[i_ + n] == '.'))
      return fail(i_, "not a JSON number (no leading zeros)");
    emit(src_.substr(i_, n));
    i_ += n;
    return true;
  }

  // --- placeholders ------------------------------------------------------------------------------

  bool placeholder(Where where) {
    const std::size_t open = i_;
    if (t_.slots_.size() == Template::kMaxPlaceholders)
      return fail(open, "more than " + std::to_string(Template::kMaxPlaceholders) + " placeholders");
    i_ += 2;
    Template::Slot s;
    s.where = where;
    s.literal = literal();
    const std::string unterminated = "unterminated placeholder: '{{' has no '}}'";
    skip_ws();
    if (end()) return fail(open, unterminated);
    if (src_[i_] != '/') return fail(i_, "a placeholder starts with a JSON Pointer such as /text, found " + show());
    const std::size_t p0 = i_;
    while (!end() && !is_ws(src_[i_]) && src_[i_] != '|' && !closes()) ++i_;
    const std::string_view name = src_.substr(p0, i_ - p0);
    if (!pointer(name, p0, s.pointer)) return false;
    s.name = keep(name);
    for (;;) {
      skip_ws();
      if (end()) return fail(open, unterminated);
      if (closes()) {
        i_ += 2;
        break;
      }
      if (src_[i_] != '|') return fail(i_, "expected '|' or '}}' in the placeholder, found " + show());
      ++i_;
      skip_ws();
      if (end()) return fail(open, unterminated);
      if (s.formatters == Template::kMaxFormatters)
        return fail(i_, "more than " + std::to_string(Template::kMaxFormatters) + " formatters in one placeholder");
      if (!formatter(s.chain[s.formatters])) return false;
      ++s.formatters;
    }
    t_.slots_.push_back(s);
    literal_from_ = t_.text_.size();
    return true;
  }

  bool pointer(std::string_view text, std::size_t at, std::uint16_t& index) {
    JsonPointer p;
    std::string why;
    if (!JsonPointer::compile(text, p, why))
      return fail(at, "bad JSON Pointer \"" + std::string(text) + "\": " + why);
    index = static_cast<std::uint16_t>(t_.pointers_.size());
    t_.pointers_.push_back(p);
    return true;
  }

  bool formatter(Template::Formatter& f) {
    const std::size_t at = i_;
    while (!end() && ((src_[i_] >= 'a' && src_[i_] <= 'z') || src_[i_] == '_')) ++i_;
    const std::string name(src_.substr(at, i_ - at));
    if (name.empty()) return fail(at, "expected a formatter name (" + std::string(kFormatters) + "), found " + show());
    std::vector<Arg> args;
    if (!end() && src_[i_] == '(' && !arguments(args)) return false;
    auto integer = [&](const Arg& a, std::uint64_t lo, std::uint64_t hi, const char* what) {
      if (a.kind == Arg::Kind::integer && a.integer >= lo && a.integer <= hi) return true;
      return fail(a.at, name + ": " + what + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    };
    if (name == "lower" || name == "upper") {
      if (!args.empty()) return fail(args[0].at, name + " takes no arguments");
      f.op = name == "lower" ? Op::lower : Op::upper;
      return true;
    }
    if (name == "truncate") {
      if (args.size() != 1) return fail(at, "truncate takes one argument: truncate(N), N code points");
      if (!integer(args[0], 1, Template::kMaxTruncate, "N")) return false;
      f.op = Op::truncate;
      f.number = static_cast<std::uint32_t>(args[0].integer);
      return true;
    }
    if (name == "decimal") {
      if (args.empty() || args.size() > 2)
        return fail(at, "decimal takes (/decimals_pointer or N[, places]): decimal(/tokenDecimal), decimal(6, 2)");
      f.op = Op::decimal;
      if (args[0].kind == Arg::Kind::pointer) {
        std::uint16_t index = 0;
        if (!pointer(args[0].text, args[0].at, index)) return false;
        f.pointer = static_cast<std::int16_t>(index);
        f.arg = keep(args[0].text);
      } else {
        if (!integer(args[0], 0, Template::kMaxDecimals, "the decimals")) return false;
        f.number = static_cast<std::uint32_t>(args[0].integer);
      }
      if (args.size() == 2) {
        if (!integer(args[1], 0, Template::kMaxDecimals, "places")) return false;
        f.places = static_cast<std::int16_t>(args[1].integer);
      }
      return true;
    }
    if (name == "default") {
      if (args.size() != 1 || args[0].kind == Arg::Kind::pointer)
        return fail(at, "default takes one literal: default(\"text\"), a number, true, false or null");
      f.op = Op::fallback;
      f.arg_is_string = args[0].kind == Arg::Kind::string;
      f.arg = keep(args[0].text);
      return true;
    }
    return fail(at, "unknown formatter \"" + name + "\" (known: " + std::string(kFormatters) + ")");
  }

  // "(" arg ("," arg)* ")" or "()".
  bool arguments(std::vector<Arg>& args) {
    const std::size_t open = i_++;
    skip_ws();
    if (!end() && src_[i_] == ')') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (end() || closes()) return fail(open, "unterminated arguments: '(' has no ')'");
      Arg a;
      if (!argument(a)) return false;
      args.push_back(std::move(a));
      skip_ws();
      if (end() || closes()) return fail(open, "unterminated arguments: '(' has no ')'");
      if (src_[i_] == ')') {
        ++i_;
        return true;
      }
      if (src_[i_] != ',') return fail(i_, "expected ',' or ')' in the arguments, found " + show());
      ++i_;
    }
  }

  bool argument(Arg& a) {
    a.at = i_;
    const char c = src_[i_];
    if (c == '/') {
      while (!end() && !is_ws(src_[i_]) && src_[i_] != ',' && src_[i_] != ')' && !closes()) ++i_;
      a.kind = Arg::Kind::pointer;
      a.text = src_.substr(a.at, i_ - a.at);
      return true;
    }
    if (c == '"') return string_literal(a);
    if (c == '-' || is_digit(c)) {
      const std::size_t n = number_length(i_);
      if (n == 0) return fail(i_, "not a JSON number");
      a.text = src_.substr(i_, n);
      i_ += n;
      a.kind = Arg::Kind::raw;
      if (a.text.size() <= 9 && std::all_of(a.text.begin(), a.text.end(), is_digit)) {
        a.kind = Arg::Kind::integer;
        a.integer = std::stoull(a.text);
      }
      return true;
    }
    for (std::string_view word : {"true", "false", "null"}) {
      if (src_.compare(i_, word.size(), word) == 0) {
        a.kind = Arg::Kind::raw;
        a.text = word;
        i_ += word.size();
        return true;
      }
    }
    return fail(i_, "expected an argument (a JSON Pointer, a number, a \"string\", true, false or null), found " + show());
  }

  // A JSON string literal, checked as the template's strings are, then unescaped by simdjson.
  bool string_literal(Arg& a) {
    a.kind = Arg::Kind::string;
    std::string raw;
    if (!string(raw, false)) return false;
    simdjson::dom::parser parser;
    std::string_view text;
    if (parser.parse(raw).get_string().get(text) != simdjson::SUCCESS) return fail(a.at, "not a JSON string");
    a.text = text;
    return true;
  }

  std::string_view src_;
  TemplateKind kind_;
  Template& t_;
  TemplateError& e_;
  std::size_t i_ = 0;
  std::size_t literal_from_ = 0;
};

bool Template::compile(std::string_view source, TemplateKind kind, Template& out, TemplateError& error) {
  Template t;
  error = TemplateError{};
  if (!TemplateCompiler(source, kind, t, error).run()) {
    out = Template{};
    return false;
  }
  out = std::move(t);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Render

// The output cursor. With `escape` set every byte goes in JSON-string escaped (a value inside a
// string of the template); a full buffer sets `full` and drops the rest.
struct Template::Writer {
  char* p;
  char* end;
  bool escape = false;
  bool full = false;

  void put(char c) noexcept {
    if (p == end) {
      full = true;
      return;
    }
    *p++ = c;
  }
  void put(std::string_view s) noexcept {
    const std::size_t n = std::min(s.size(), static_cast<std::size_t>(end - p));
    std::memcpy(p, s.data(), n);
    p += n;
    if (n < s.size()) full = true;
  }
  void emit(char c) noexcept {
    char seq[6];
    const std::size_t n = escape ? json_escape(c, seq) : 0;
    if (n == 0) {
      put(c);
    } else {
      put(std::string_view(seq, n));
    }
  }
  void emit(std::string_view s, Case m = Case::none) noexcept {
    if (!escape && m == Case::none) return put(s);
    for (char c : s) emit(map_case(c, m));
  }
  // A string's characters as JSON string content (then through emit()).
  void json_chars(std::string_view s, Case m = Case::none) noexcept {
    for (char c : s) {
      c = map_case(c, m);
      char seq[6];
      const std::size_t n = json_escape(c, seq);
      if (n == 0) {
        emit(c);
      } else {
        for (std::size_t k = 0; k < n; ++k) emit(seq[k]);
      }
      if (full) return;
    }
  }
  // `e` as minified JSON. False when nested deeper than `depth` allows.
  bool json(simdjson::dom::element e, std::size_t depth) noexcept {
    using simdjson::dom::element_type;
    if (full) return true;  // the render fails as too_large: skip the rest cheaply
    switch (e.type()) {
      case element_type::OBJECT:
      case element_type::ARRAY: {
        if (depth == 0) return false;
        const bool object = e.type() == element_type::OBJECT;
        emit(object ? '{' : '[');
        std::size_t n = 0;
        // ',' before every member but the first, the key of an object's, then the value.
        auto member = [&](const std::string_view* key, simdjson::dom::element v) {
          if (n++ > 0) emit(',');
          if (key != nullptr) {
            emit('"');
            json_chars(*key);
            emit('"');
            emit(':');
          }
          return json(v, depth - 1);
        };
        if (object) {
          for (simdjson::dom::key_value_pair kv : simdjson::dom::object(e.get_object().value_unsafe()))
            if (!member(&kv.key, kv.value)) return false;
        } else {
          for (simdjson::dom::element v : simdjson::dom::array(e.get_array().value_unsafe()))
            if (!member(nullptr, v)) return false;
        }
        emit(object ? '}' : ']');
        return true;
      }
      case element_type::STRING:
        emit('"');
        json_chars(e.get_string().value_unsafe());
        emit('"');
        return true;
      case element_type::BOOL:
        emit(e.get_bool().value_unsafe() ? "true" : "false");
        return true;
      case element_type::NULL_VALUE:
        emit("null");
        return true;
      default: {
        char buf[32];
        emit(std::string_view(buf, number_text(e, buf, sizeof buf)));
        return true;
      }
    }
  }
};

// A placeholder's value as it goes through the formatters: missing, still the element found, or
// characters (a string's, a default's, a decimal's) with case and ellipsis still to apply.
struct Template::Value {
  enum class Kind : std::uint8_t { missing, element, chars };
  Kind kind = Kind::missing;
  simdjson::dom::element element;
  std::string_view chars;
  bool quoted = false;    // chars are a string (quoted as a whole JSON value), else a number/literal
  bool ellipsis = false;  // "…" follows chars
  Case cased = Case::none;
  char buf[256];          // a decimal's text: 78 digits, sign, point, 77 places, zeros of the exponent

  // Makes a string element characters; false when the value is no string.
  bool as_string() noexcept {
    if (kind == Kind::element && element.type() == simdjson::dom::element_type::STRING) {
      kind = Kind::chars;
      chars = element.get_string().value_unsafe();
      quoted = true;
    }
    return kind == Kind::chars && quoted;
  }
};

RenderResult Template::apply(const Slot& s, const Formatter& f, simdjson::dom::element event, Value& v) const noexcept {
  if (f.op == Op::fallback) {
    if (v.kind == Value::Kind::missing) {
      v.kind = Value::Kind::chars;
      v.chars = view(f.arg);
      v.quoted = f.arg_is_string;
    }
    return RenderResult::success(0);
  }
  if (v.kind == Value::Kind::missing) return RenderResult::success(0);
  switch (f.op) {
    case Op::lower:
    case Op::upper:
      if (!v.as_string())
        return RenderResult::failure(RenderFault::not_a_string,
                                     {"not a string for ", f.op == Op::lower ? "lower" : "upper", " (", view(s.name), ")"});
      v.cased = f.op == Op::lower ? Case::lower : Case::upper;
      return RenderResult::success(0);
    case Op::truncate: {
      if (!v.as_string())
        return RenderResult::failure(RenderFault::not_a_string, {"not a string for truncate (", view(s.name), ")"});
      // Keep the first N code points; cut at the start of code point N+1 if the total (with an
      // ellipsis already there) is over N.
      std::size_t points = 0, cut = v.chars.size();
      for (std::size_t k = 0; k < v.chars.size(); ++k) {
        if (is_utf8_continuation(v.chars[k])) continue;
        if (points == f.number) cut = k;
        ++points;
      }
      if (points + (v.ellipsis ? 1 : 0) > f.number) {
        v.chars = v.chars.substr(0, cut);
        v.ellipsis = true;
      }
      return RenderResult::success(0);
    }
    case Op::decimal: {
      Decimal number;
      const bool parsed = v.kind == Value::Kind::element ? Decimal::from_json(v.element, number)
                                                         : !v.ellipsis && Decimal::parse(v.chars, number);
      if (!parsed) return RenderResult::failure(RenderFault::not_a_number, {"not a number for decimal (", view(s.name), ")"});
      std::int64_t decimals = f.number;
      if (f.pointer >= 0) {
        simdjson::dom::element at;
        if (!pointers_[static_cast<std::size_t>(f.pointer)].find(event, at))
          return RenderResult::failure(RenderFault::missing, {"missing ", view(f.arg), " for decimal (", view(s.name), ")"});
        Decimal d;
        if (!Decimal::from_json(at, d) || !d.to_int64(decimals) || decimals < 0 || decimals > kMaxDecimals)
          return RenderResult::failure(RenderFault::not_a_number,
                                       {"bad decimals for decimal (", view(f.arg), " is no integer from 0 to 77)"});
      }
      const std::size_t n = number.scaled(decimals).format(std::span<char>(v.buf, sizeof v.buf), f.places);
      if (n == 0) return RenderResult::failure(RenderFault::not_a_number, {"out of range for decimal (", view(s.name), ")"});
      v.kind = Value::Kind::chars;
      v.chars = std::string_view(v.buf, n);
      v.quoted = false;
      v.ellipsis = false;
      v.cased = Case::none;
      return RenderResult::success(0);
    }
    case Op::fallback:
      break;
  }
  return RenderResult::success(0);
}

RenderResult Template::place(const Slot& s, simdjson::dom::element event, Writer& w) const noexcept {
  Value v;
  if (pointers_[s.pointer].find(event, v.element)) v.kind = Value::Kind::element;
  for (std::size_t k = 0; k < s.formatters; ++k) {
    RenderResult r = apply(s, s.chain[k], event, v);
    if (!r) return r;
  }
  if (v.kind == Value::Kind::missing) return RenderResult::failure(RenderFault::missing, {"missing ", view(s.name)});
  w.escape = s.where == Where::in_string;
  if (v.kind == Value::Kind::chars) {
    const bool quote = s.where == Where::value && v.quoted;
    if (quote) {
      w.emit('"');
      w.json_chars(v.chars, v.cased);
      w.emit(v.ellipsis ? kEllipsis : "");
      w.emit('"');
    } else {
      w.emit(v.chars, v.cased);
      if (v.ellipsis) w.emit(kEllipsis);
    }
  } else if (s.where != Where::value && v.element.type() == simdjson::dom::element_type::STRING) {
    w.emit(v.element.get_string().value_unsafe());
  } else if (!w.json(v.element, kMaxValueDepth)) {
    return RenderResult::failure(RenderFault::too_deep, {"too deep (", view(s.name), ")"});
  }
  w.escape = false;
  return RenderResult::success(0);
}

RenderResult Template::render(simdjson::dom::element event, std::span<char> out) const noexcept {
  Writer w{out.data(), out.data() + out.size()};
  for (const Slot& s : slots_) {
    w.put(view(s.literal));
    RenderResult r = place(s, event, w);
    if (!r) return r;
    if (w.full) break;
  }
  w.put(view(tail_));
  if (w.full) return RenderResult::failure(RenderFault::too_large, {"too large"});
  return RenderResult::success(static_cast<std::size_t>(w.p - out.data()));
}

}  // namespace bh
