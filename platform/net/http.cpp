// HTTP/1.1 parsing and formatting: one byte-level state machine for the header section (start
// line, fields, trailers) and chunk-size lines, bulk views for body bytes. No allocation, no
// exceptions, no reads outside the bytes given. Not a general-purpose HTTP library: the grammar
// accepted is RFC 9112 minus obs-fold, transfer codings other than chunked, and HTTP/0.9 and /2.
#include "platform/net/http.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace bh::http {

// ---- Character classes (RFC 9110 §5.6.2, §5.5)

namespace {

constexpr std::array<bool, 256> make_tchar() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kTchar = make_tchar();

constexpr bool is_tchar(unsigned char c) { return kTchar[c]; }
constexpr bool is_ows(unsigned char c) { return c == ' ' || c == '\t'; }
// field-vchar / SP / HTAB, obs-text included: everything but CTLs and DEL (HTAB allowed).
constexpr bool is_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }
constexpr bool is_vchar(unsigned char c) { return c > 0x20 && c < 0x7f; }
constexpr bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alnum(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_hex(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
constexpr unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(static_cast<unsigned char>(a[i])) != lower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && is_ows(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Calls f(element) for each comma-separated list element, OWS trimmed, empty elements skipped
// (RFC 9110 §5.6.1). Stops early when f returns false; returns false then.
template <typename F>
bool for_each_element(std::string_view list, F&& f) {
  while (true) {
    std::size_t comma = list.find(',');
    std::string_view el = trim_ows(list.substr(0, comma));
    if (!el.empty() && !f(el)) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

// Captured fields: name (lower case) per Field, in enum order. Capacities are in the header.
constexpr std::array<std::string_view, kFieldCount> kFieldNames{
    "host", "content-type", "etag", "last-modified", "retry-after", "location", "upgrade", "sec-websocket-accept",
    "authorization",
};
constexpr std::array<std::uint16_t, kFieldCount> kFieldOffset = [] {
  std::array<std::uint16_t, kFieldCount> o{};
  std::uint16_t at = 0;
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    o[i] = at;
    at = static_cast<std::uint16_t>(at + kFieldCapacity[i]);
  }
  return o;
}();
static_assert(static_cast<std::size_t>(Field::authorization) + 1 == kFieldCount);

// A chunk-size line (size, extensions) longer than this is refused: bounds what a peer can make
// us scan without delivering a body byte.
constexpr std::uint16_t kMaxChunkLine = 1024;

}  // namespace

std::string_view error_name(Error e) noexcept {
  switch (e) {
    case Error::none: return "none";
    case Error::bad_start_line: return "bad_start_line";
    case Error::bad_version: return "bad_version";
    case Error::bad_status: return "bad_status";
    case Error::method_not_allowed: return "method_not_allowed";
    case Error::uri_too_long: return "uri_too_long";
    case Error::bad_header: return "bad_header";
    case Error::obs_fold: return "obs_fold";
    case Error::headers_too_large: return "headers_too_large";
    case Error::bad_content_length: return "bad_content_length";
    case Error::bad_transfer_encoding: return "bad_transfer_encoding";
    case Error::conflicting_framing: return "conflicting_framing";
    case Error::bad_chunk: return "bad_chunk";
    case Error::body_too_large: return "body_too_large";
    case Error::unexpected_eof: return "unexpected_eof";
    case Error::eof_before_message: return "eof_before_message";
  }
  return "unknown";
}

int status_for(Error e) noexcept {
  switch (e) {
    case Error::headers_too_large: return 431;
    case Error::uri_too_long: return 414;
    case Error::body_too_large: return 413;
    case Error::method_not_allowed: return 501;
    case Error::bad_transfer_encoding: return 501;
    case Error::bad_version: return 505;
    default: return 400;
  }
}

std::string_view method_name(Method m) noexcept {
  switch (m) {
    case Method::get: return "GET";
    case Method::post: return "POST";
    case Method::head: return "HEAD";
    case Method::put: return "PUT";
    case Method::del: return "DELETE";
    case Method::options: return "OPTIONS";
    case Method::none: break;
  }
  return "";
}

// ---- The parser

enum class MessageParser::St : std::uint8_t {
  line_start,  // before the start line; empty lines are skipped
  rs_version, rs_code, rs_reason,
  rq_method, rq_target, rq_version,
  f_line_start, f_name, f_ows, f_value,  // header (or trailer) section
  body_length,                           // Content-Length bytes
  body_eof,                              // until finish_eof()
  chunk_size, chunk_ws, chunk_ext,       // chunk-size line
  chunk_data, chunk_data_end,            // chunk bytes, then CRLF
  done, error,
};

enum class MessageParser::Hdr : std::uint8_t { other, content_length, transfer_encoding, connection, expect, field };

MessageParser::MessageParser(Kind kind, const ParserOptions& opt) noexcept
    : opt_(opt), kind_(kind), st_(St::line_start), hdr_(Hdr::other) {}

void MessageParser::reset_base() noexcept {
  const Kind k = kind_;
  const ParserOptions o = opt_;
  *this = MessageParser(k, o);
}

bool MessageParser::is_done() const noexcept { return st_ == St::done; }

std::optional<std::uint64_t> MessageParser::content_length() const noexcept {
  if (!has_cl_) return std::nullopt;
  return cl_;
}

bool MessageParser::keep_alive() const noexcept {
  if (error_ != Error::none || close_delimited_ || framing_conflict_ || conn_close_) return false;
  return minor_ == 1 || conn_keep_alive_;
}

std::string_view MessageParser::field(Field f) const noexcept {
  auto i = static_cast<std::size_t>(f);
  return {fields_ + kFieldOffset[i], field_len_[i]};
}

bool MessageParser::truncated(Field f) const noexcept { return field_trunc_[static_cast<std::size_t>(f)]; }

Result MessageParser::fail(Error e) noexcept {
  error_ = e;
  st_ = St::error;
  return Result::error;
}

Error MessageParser::line_error() const noexcept {
  switch (st_) {
    case St::line_start:
    case St::rs_version:
    case St::rs_code:
    case St::rs_reason:
    case St::rq_method:
    case St::rq_target:
    case St::rq_version: return Error::bad_start_line;
    default: return Error::bad_header;
  }
}

Result MessageParser::feed(std::string_view bytes, std::size_t& consumed) noexcept {
  consumed = 0;
  body_chunk_ = {};
  const char* p = bytes.data();
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  for (;;) {
    switch (st_) {
      case St::done: consumed = i; return Result::done;
      case St::error: consumed = i; return Result::error;
      case St::body_length:
      case St::chunk_data: {
        if (i == n) break;
        const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n - i, remaining_));
        body_chunk_ = {p + i, take};
        i += take;
        remaining_ -= take;
        body_total_ += take;
        if (remaining_ == 0) st_ = (st_ == St::chunk_data) ? St::chunk_data_end : St::done;
        consumed = i;
        return Result::body;
      }
      case St::body_eof: {
        if (i == n) break;
        if (body_total_ >= opt_.max_body_bytes) {
          consumed = i;
          return fail(Error::body_too_large);
        }
        const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n - i, opt_.max_body_bytes - body_total_));
        body_chunk_ = {p + i, take};
        i += take;
        body_total_ += take;
        consumed = i;
        return Result::body;
      }
      default: {
        if (i == n) break;
        const auto c = static_cast<unsigned char>(p[i++]);
        const bool chunk_line = st_ == St::chunk_size || st_ == St::chunk_ws || st_ == St::chunk_ext ||
                                st_ == St::chunk_data_end;
        const Step s = chunk_line ? chunk_byte(c) : head_byte(c);
        if (s == cont) continue;
        consumed = i;
        if (s == stop_error) return fail(error_);
        if (s == stop_headers) return headers_finished();
        st_ = St::done;  // stop_trailers
        return Result::done;
      }
    }
    consumed = n;  // every byte used: the loop broke out at i == n
    return Result::need_more;
  }
}

Result MessageParser::finish_eof() noexcept {
  body_chunk_ = {};
  switch (st_) {
    case St::done: return Result::done;
    case St::error: return Result::error;
    case St::body_eof: st_ = St::done; return Result::done;
    case St::line_start:
      if (!any_byte_) return fail(Error::eof_before_message);
      return fail(Error::unexpected_eof);
    default: return fail(Error::unexpected_eof);
  }
}

Interim skip_interim(ResponseParser& p, unsigned& seen, unsigned cap) noexcept {
  const int st = p.status();
  if (st >= 200) return Interim::final;
  if (st == 101) return Interim::switching;
  if (++seen > cap) return Interim::too_many;
  p.reset(p.response_to_head());
  return Interim::skipped;
}

// One byte of the header section (or trailer section). Counts it against the limit, handles line
// ends uniformly (CRLF; bare LF only if allowed; CR not followed by LF is an error), and passes
// other bytes to the start-line or field handlers.
MessageParser::Step MessageParser::head_byte(unsigned char c) noexcept {
  if (++head_bytes_ > opt_.max_header_bytes) return bad(Error::headers_too_large);
  if (cr_) {
    if (c != '\n') return bad(line_error());
    cr_ = false;
    return line_end();
  }
  if (c == '\r') {
    cr_ = true;
    return cont;
  }
  if (c == '\n') {
    if (!opt_.allow_bare_lf) return bad(line_error());
    return line_end();
  }
  if (st_ < St::f_line_start) return start_line_byte(c);
  return field_byte(c);
}

MessageParser::Step MessageParser::line_end() noexcept {
  switch (st_) {
    case St::line_start: return cont;  // an empty line before the message
    case St::f_line_start: return in_trailers_ ? stop_trailers : stop_headers;
    case St::f_name: return bad(Error::bad_header);  // no colon
    case St::f_ows:
    case St::f_value: return field_line_end();
    default: return start_line_end();
  }
}

namespace {
// "HTTP/1.0" -> 0, "HTTP/1.1" -> 1; another "HTTP/..." -> bad_version; anything else bad_start_line.
Error parse_version(std::string_view v, std::uint8_t& minor) {
  if (v.substr(0, 5) != "HTTP/") return Error::bad_start_line;
  if (v != "HTTP/1.0" && v != "HTTP/1.1") return Error::bad_version;
  minor = static_cast<std::uint8_t>(v[7] - '0');
  return Error::none;
}

Method classify_method(std::string_view m) {
  if (m == "GET") return Method::get;
  if (m == "POST") return Method::post;
  if (m == "HEAD") return Method::head;
  if (m == "PUT") return Method::put;
  if (m == "DELETE") return Method::del;
  if (m == "OPTIONS") return Method::options;
  return Method::none;
}
}  // namespace

MessageParser::Step MessageParser::start_line_byte(unsigned char c) noexcept {
  if (st_ == St::line_start) {
    any_byte_ = true;
    st_ = kind_ == Kind::response ? St::rs_version : St::rq_method;
  }
  switch (st_) {
    case St::rs_version:
    case St::rq_version:
      if (c == ' ' && st_ == St::rs_version) {
        const Error e = parse_version({version_buf_, version_len_}, minor_);
        if (e != Error::none) return bad(e);
        st_ = St::rs_code;
        return cont;
      }
      if (!is_vchar(c) || version_len_ == sizeof version_buf_) return bad(Error::bad_start_line);
      version_buf_[version_len_++] = static_cast<char>(c);
      return cont;
    case St::rs_code:
      if (c >= '0' && c <= '9') {
        if (++digits_ > 3) return bad(Error::bad_status);
        status_ = static_cast<std::uint16_t>(status_ * 10 + (c - '0'));
        return cont;
      }
      if (c != ' ') return bad(Error::bad_status);
      if (digits_ != 3 || status_ < 100 || status_ > 599) return bad(Error::bad_status);
      st_ = St::rs_reason;
      return cont;
    case St::rs_reason:
      if (!is_value_char(c)) return bad(Error::bad_start_line);
      if (line_len_ < kMaxTargetBytes) line_buf_[line_len_++] = static_cast<char>(c);  // cut, not refused
      return cont;
    case St::rq_method:
      if (c == ' ') {
        if (method_len_ == 0) return bad(Error::bad_start_line);
        method_ = classify_method({method_buf_, method_len_});
        if (method_ == Method::none) return bad(Error::method_not_allowed);
        st_ = St::rq_target;
        return cont;
      }
      if (!is_tchar(c)) return bad(Error::bad_start_line);
      if (method_len_ == sizeof method_buf_) return bad(Error::method_not_allowed);
      method_buf_[method_len_++] = static_cast<char>(c);
      return cont;
    case St::rq_target:
      if (c == ' ') {
        if (line_len_ == 0) return bad(Error::bad_start_line);
        st_ = St::rq_version;
        return cont;
      }
      if (!is_vchar(c)) return bad(Error::bad_start_line);
      if (line_len_ == kMaxTargetBytes) return bad(Error::uri_too_long);
      line_buf_[line_len_++] = static_cast<char>(c);
      return cont;
    default: return bad(Error::bad_start_line);
  }
}

MessageParser::Step MessageParser::start_line_end() noexcept {
  switch (st_) {
    case St::rs_code:  // "HTTP/1.1 200" with no reason and no SP: accepted
      if (digits_ != 3 || status_ < 100 || status_ > 599) return bad(Error::bad_status);
      break;
    case St::rs_reason: break;
    case St::rq_version: {
      const Error e = parse_version({version_buf_, version_len_}, minor_);
      if (e != Error::none) return bad(e);
      break;
    }
    default: return bad(Error::bad_start_line);  // incl. HTTP/0.9 "GET /"
  }
  st_ = St::f_line_start;
  return cont;
}

MessageParser::Step MessageParser::field_byte(unsigned char c) noexcept {
  switch (st_) {
    case St::f_line_start:
      if (is_ows(c)) return bad(seen_field_ ? Error::obs_fold : Error::bad_header);
      if (!is_tchar(c)) return bad(Error::bad_header);
      name_len_ = 0;
      name_long_ = false;
      st_ = St::f_name;
      [[fallthrough]];
    case St::f_name:
      if (c == ':') {
        if (name_len_ == 0 && !name_long_) return bad(Error::bad_header);
        st_ = St::f_ows;
        return begin_value();
      }
      if (!is_tchar(c)) return bad(Error::bad_header);  // incl. SP before the colon
      if (name_len_ < sizeof name_buf_) {
        name_buf_[name_len_++] = static_cast<char>(lower(c));
      } else {
        name_long_ = true;
      }
      return cont;
    case St::f_ows:
      if (is_ows(c)) return cont;
      st_ = St::f_value;
      [[fallthrough]];
    case St::f_value:
      if (!is_value_char(c)) return bad(Error::bad_header);
      value_byte(c);
      return cont;
    default: return bad(Error::bad_header);
  }
}

MessageParser::Step MessageParser::begin_value() noexcept {
  hdr_ = Hdr::other;
  scratch_len_ = 0;
  scratch_over_ = false;
  if (in_trailers_ || name_long_) return cont;  // trailer fields are checked, not used
  const std::string_view name(name_buf_, name_len_);
  if (name == "content-length") {
    hdr_ = Hdr::content_length;
  } else if (name == "transfer-encoding") {
    hdr_ = Hdr::transfer_encoding;
  } else if (name == "connection") {
    hdr_ = Hdr::connection;
  } else if (name == "expect") {
    hdr_ = Hdr::expect;
  } else {
    for (std::size_t i = 0; i < kFieldCount; ++i) {
      if (name != kFieldNames[i]) continue;
      if (field_seen_[i]) {
        // RFC 9112 §3.2: a request with more than one Host is answered 400.
        if (kind_ == Kind::request && static_cast<Field>(i) == Field::host) return bad(Error::bad_header);
        return cont;  // the first value stays
      }
      field_seen_[i] = true;
      field_idx_ = static_cast<std::uint8_t>(i);
      hdr_ = Hdr::field;
      break;
    }
  }
  return cont;
}

// Copies one value byte where the current field wants it. A value longer than its buffer is cut;
// only a non-blank byte past the end marks it truncated (trailing OWS is trimmed anyway).
void MessageParser::value_byte(unsigned char c) noexcept {
  switch (hdr_) {
    case Hdr::other: return;
    case Hdr::field: {
      const std::size_t i = field_idx_;
      if (field_len_[i] < kFieldCapacity[i]) {
        fields_[kFieldOffset[i] + field_len_[i]++] = static_cast<char>(c);
      } else if (!is_ows(c)) {
        field_trunc_[i] = true;
      }
      return;
    }
    default:
      if (scratch_len_ < sizeof scratch_) {
        scratch_[scratch_len_++] = static_cast<char>(c);
      } else if (!is_ows(c)) {
        scratch_over_ = true;
      }
      return;
  }
}

MessageParser::Step MessageParser::field_line_end() noexcept {
  seen_field_ = true;
  st_ = St::f_line_start;
  if (hdr_ == Hdr::field) {
    auto& len = field_len_[field_idx_];
    while (len > 0 && is_ows(static_cast<unsigned char>(fields_[kFieldOffset[field_idx_] + len - 1]))) --len;
    return cont;
  }
  const std::string_view v = trim_ows({scratch_, scratch_len_});
  switch (hdr_) {
    case Hdr::content_length: {
      // 1*DIGIT, or a list of identical values ("42, 42"); every line must agree.
      if (scratch_over_) return bad(Error::bad_content_length);
      bool any = false;
      const bool ok = for_each_element(v, [&](std::string_view el) {
        std::uint64_t x = 0;
        auto [ptr, ec] = std::from_chars(el.data(), el.data() + el.size(), x);
        if (ec != std::errc() || ptr != el.data() + el.size() || el[0] < '0' || el[0] > '9') return false;
        if (has_cl_ && x != cl_) return false;
        has_cl_ = true;
        cl_ = x;
        any = true;
        return true;
      });
      if (!ok || !any) return bad(Error::bad_content_length);
      return cont;
    }
    case Hdr::transfer_encoding: {
      if (scratch_over_) return bad(Error::bad_transfer_encoding);
      bool any = false;
      const bool ok = for_each_element(v, [&](std::string_view el) {
        if (!iequals(el, "chunked") || chunked_) return false;  // only one chunked, nothing else
        chunked_ = true;
        any = true;
        return true;
      });
      if (!ok || !any) return bad(Error::bad_transfer_encoding);
      has_te_ = true;
      return cont;
    }
    case Hdr::connection: {
      std::string_view list = v;
      if (scratch_over_) {  // the value was cut: drop its last, possibly partial, token
        const std::size_t last = list.rfind(',');
        list = list.substr(0, last == std::string_view::npos ? 0 : last);
      }
      for_each_element(list, [&](std::string_view el) {
        if (iequals(el, "close")) conn_close_ = true;
        if (iequals(el, "keep-alive")) conn_keep_alive_ = true;
        if (iequals(el, "upgrade")) conn_upgrade_ = true;
        return true;
      });
      return cont;
    }
    case Hdr::expect:
      if (!scratch_over_ && iequals(v, "100-continue")) expect_continue_ = true;
      return cont;
    default: return cont;
  }
}

Result MessageParser::headers_finished() noexcept {
  headers_complete_ = true;
  if (kind_ == Kind::response) {
    // RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304, whatever the fields say.
    if (head_request_ || status_ < 200 || status_ == 204 || status_ == 304) {
      st_ = St::done;
      return Result::headers_done;
    }
    if (has_te_) {
      framing_conflict_ = has_cl_;  // TE wins; the connection must not be reused
    } else if (!has_cl_) {
      close_delimited_ = true;
      st_ = St::body_eof;
      return Result::headers_done;
    }
  } else {
    if (has_te_ && has_cl_) return fail(Error::conflicting_framing);
    if (has_te_ && minor_ == 0) return fail(Error::bad_transfer_encoding);
    if (!has_te_ && !has_cl_) {
      st_ = St::done;
      return Result::headers_done;
    }
  }
  if (has_te_) {
    st_ = St::chunk_size;
    chunk_line_ = 0;
    chunk_digits_ = false;
    remaining_ = 0;
    return Result::headers_done;
  }
  if (cl_ > opt_.max_body_bytes) return fail(Error::body_too_large);
  remaining_ = cl_;
  st_ = cl_ == 0 ? St::done : St::body_length;
  return Result::headers_done;
}

// One byte of a chunk-size line (`1*HEXDIG [BWS ; ext...] CRLF`) or of the CRLF after chunk data.
MessageParser::Step MessageParser::chunk_byte(unsigned char c) noexcept {
  if (++chunk_line_ > kMaxChunkLine) return bad(Error::bad_chunk);
  if (cr_) {
    if (c != '\n') return bad(Error::bad_chunk);
    cr_ = false;
    return chunk_line_end();
  }
  if (c == '\r') {
    cr_ = true;
    return cont;
  }
  if (c == '\n') {
    if (!opt_.allow_bare_lf) return bad(Error::bad_chunk);
    return chunk_line_end();
  }
  switch (st_) {
    case St::chunk_size: {
      int h = -1;
      if (c >= '0' && c <= '9') h = c - '0';
      if (c >= 'a' && c <= 'f') h = c - 'a' + 10;
      if (c >= 'A' && c <= 'F') h = c - 'A' + 10;
      if (h >= 0) {
        if (remaining_ > (UINT64_MAX >> 4)) return bad(Error::bad_chunk);
        remaining_ = remaining_ * 16 + static_cast<unsigned>(h);
        chunk_digits_ = true;
        return cont;
      }
      if (!chunk_digits_) return bad(Error::bad_chunk);
      if (c == ';') {
        st_ = St::chunk_ext;
        return cont;
      }
      if (!is_ows(c)) return bad(Error::bad_chunk);
      st_ = St::chunk_ws;
      return cont;
    }
    case St::chunk_ws:
      if (c == ';') {
        st_ = St::chunk_ext;
        return cont;
      }
      return is_ows(c) ? cont : bad(Error::bad_chunk);
    case St::chunk_ext: return is_value_char(c) ? cont : bad(Error::bad_chunk);
    default: return bad(Error::bad_chunk);  // chunk_data_end: only CRLF may follow the data
  }
}

MessageParser::Step MessageParser::chunk_line_end() noexcept {
  if (st_ == St::chunk_data_end) {
    st_ = St::chunk_size;
    chunk_line_ = 0;
    chunk_digits_ = false;
    remaining_ = 0;
    return cont;
  }
  if (!chunk_digits_) return bad(Error::bad_chunk);
  if (remaining_ == 0) {  // last-chunk: the trailer section follows, under its own size limit
    in_trailers_ = true;
    seen_field_ = false;
    head_bytes_ = 0;
    st_ = St::f_line_start;
    return cont;
  }
  if (remaining_ > opt_.max_body_bytes - body_total_) return bad(Error::body_too_large);
  st_ = St::chunk_data;
  chunk_line_ = 0;  // the CRLF after the data counts as a fresh line
  return cont;
}

// ---- Formatting

namespace {

struct Writer {
  std::span<char> buf;
  std::size_t n = 0;
  bool ok = true;

  void put(std::string_view s) {
    if (!ok || s.empty()) return;  // memcpy from a null data() is UB even for 0 bytes
    if (s.size() > buf.size() - n) {
      ok = false;
      return;
    }
    std::memcpy(buf.data() + n, s.data(), s.size());
    n += s.size();
  }
  void num(std::uint64_t v) {
    char tmp[20];
    auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
    put({tmp, static_cast<std::size_t>(r.ptr - tmp)});
  }
  std::size_t result() const { return ok ? n : 0; }
};

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}
bool is_visible(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_vchar(static_cast<unsigned char>(c)); });
}
bool is_field_value(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return is_value_char(static_cast<unsigned char>(c)); });
}

// Checks `Name: value\r\n` lines (the last CRLF may be missing: *needs_crlf says so).
bool valid_header_lines(std::string_view lines, bool* needs_crlf) {
  *needs_crlf = false;
  while (!lines.empty()) {
    std::size_t end = lines.find("\r\n");
    std::string_view line = lines.substr(0, end);
    if (end == std::string_view::npos) {
      *needs_crlf = true;
      lines = {};
    } else {
      lines.remove_prefix(end + 2);
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return false;
    if (!is_field_value(line.substr(colon + 1))) return false;  // catches lone CR / LF
  }
  return true;
}

}  // namespace

std::size_t format_request_head(std::span<char> buf, std::string_view method, std::string_view host,
                                std::string_view target, std::string_view content_type,
                                std::optional<std::uint64_t> content_length,
                                std::string_view extra_headers) noexcept {
  bool extra_crlf = false;
  if (!is_token(method) || !is_visible(host) || !is_visible(target) || !is_field_value(content_type) ||
      !valid_header_lines(extra_headers, &extra_crlf)) {
    return 0;
  }
  Writer w{buf};
  w.put(method);
  w.put(" ");
  w.put(target);
  w.put(" HTTP/1.1\r\nHost: ");
  w.put(host);
  w.put("\r\nUser-Agent: ");
  w.put(kUserAgent);
  w.put("\r\n");
  if (!content_type.empty()) {
    w.put("Content-Type: ");
    w.put(content_type);
    w.put("\r\n");
  }
  if (content_length) {
    w.put("Content-Length: ");
    w.num(*content_length);
    w.put("\r\n");
  }
  w.put("Connection: keep-alive\r\n");
  w.put(extra_headers);
  if (extra_crlf) w.put("\r\n");
  w.put("\r\n");
  return w.result();
}

std::size_t format_response_head(std::span<char> buf, int status, std::string_view reason,
                                 std::string_view content_type, std::uint64_t content_length, bool keep_alive,
                                 std::string_view extra_headers) noexcept {
  bool extra_crlf = false;
  if (status < 100 || status > 599 || !is_field_value(reason) || !is_field_value(content_type) ||
      !valid_header_lines(extra_headers, &extra_crlf)) {
    return 0;
  }
  if (reason.empty()) reason = reason_phrase(status);
  Writer w{buf};
  w.put("HTTP/1.1 ");
  w.num(static_cast<std::uint64_t>(status));
  w.put(" ");
  w.put(reason);
  w.put("\r\n");
  if (!content_type.empty()) {
    w.put("Content-Type: ");
    w.put(content_type);
    w.put("\r\n");
  }
  if (status >= 200 && status != 204) {
    w.put("Content-Length: ");
    w.num(content_length);
    w.put("\r\n");
  }
  w.put(keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
  w.put(extra_headers);
  if (extra_crlf) w.put("\r\n");
  w.put("\r\n");
  return w.result();
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

// ---- URLs

bool parse_url(std::string_view url, Url& out) noexcept {
  for (char c : url) {
    if (!is_vchar(static_cast<unsigned char>(c))) return false;
  }
  const std::size_t sep = url.find("://");
  if (sep == std::string_view::npos) return false;
  const std::string_view scheme = url.substr(0, sep);
  if (iequals(scheme, "http")) {
    out.scheme = Scheme::http;
  } else if (iequals(scheme, "https")) {
    out.scheme = Scheme::https;
  } else if (iequals(scheme, "ws")) {
    out.scheme = Scheme::ws;
  } else if (iequals(scheme, "wss")) {
    out.scheme = Scheme::wss;
  } else if (iequals(scheme, "mqtt")) {  // MQTT sinks and sources (issue #15)
    out.scheme = Scheme::mqtt;
  } else if (iequals(scheme, "mqtts")) {
    out.scheme = Scheme::mqtts;
  } else {
    return false;
  }
  std::string_view rest = url.substr(sep + 3);
  const std::size_t auth_end = rest.find_first_of("/?#");
  const std::string_view auth = rest.substr(0, auth_end);
  std::string_view tail = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
  if (auth.empty() || auth.find('@') != std::string_view::npos) return false;  // userinfo refused

  std::string_view port_text;
  out.ipv6 = auth.front() == '[';
  if (out.ipv6) {
    const std::size_t close = auth.find(']');
    if (close == std::string_view::npos) return false;
    out.host = auth.substr(1, close - 1);
    if (out.host.empty() || out.host.find(':') == std::string_view::npos) return false;
    for (char c : out.host) {
      const auto u = static_cast<unsigned char>(c);
      if (!(is_hex(u) || c == ':' || c == '.')) return false;  // zone ids (%25) refused
    }
    const std::string_view after = auth.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      port_text = after.substr(1);
      if (port_text.empty()) return false;
    }
  } else {
    const std::size_t colon = auth.find(':');
    out.host = auth.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = auth.substr(colon + 1);
      if (port_text.empty()) return false;
    }
    if (out.host.empty()) return false;
    for (char c : out.host) {
      const auto u = static_cast<unsigned char>(c);
      if (!(is_alnum(u) || c == '-' || c == '.' || c == '_' || c == '~')) return false;
    }
  }
  if (!port_text.empty()) {
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port_text[0] < '0' || port_text[0] > '9' ||
        v == 0 || v > 65535) {
      return false;
    }
    out.port = static_cast<std::uint16_t>(v);
  } else {
    out.port = out.scheme == Scheme::mqtt ? 1883 : out.scheme == Scheme::mqtts ? 8883 : out.secure() ? 443 : 80;
  }
  out.authority = auth;

  tail = tail.substr(0, tail.find('#'));  // the fragment is the client's business
  if (tail.empty()) {
    out.target = "/";
  } else if (tail.front() == '?') {
    return false;  // "http://h?q" has no contiguous "/?q" to point at
  } else {
    out.target = tail;
  }
  return true;
}

}  // namespace bh::http
