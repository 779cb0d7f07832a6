// HTTP/1.1 message parsing and formatting without heap allocation: push parsers for responses
// (sink client, poll source) and requests (admin server) that take untrusted bytes in chunks of
// any size and hand body bytes back as views into the caller's input; head formatters that write
// into caller buffers; an http/https/ws/wss URL splitter. Not a client or server: no sockets, no
// TLS, no content codings (gzip), no HTTP/2. Errors are values (Error), never exceptions.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace bh::http {

// What feed()/finish_eof() report. After headers_done or body, call feed() again with the rest of
// the input (from `consumed` on). need_more is returned only when every input byte was consumed.
enum class Result : std::uint8_t {
  need_more,     // all of the input was consumed; give more bytes (or finish_eof() on EOF)
  headers_done,  // start line and header fields parsed: status/method and fields are readable
  body,          // body_chunk() holds body bytes (a view into the input just fed)
  done,          // the message is complete; bytes after `consumed` belong to the next one
  error,         // error() says why; the connection cannot be reused (keep_alive() is false)
};

// Error codes, one per way a message can be refused. status_for() maps them to a server answer.
enum class Error : std::uint8_t {
  none,
  bad_start_line,         // malformed status line or request line (incl. NUL / control bytes)
  bad_version,            // a version other than HTTP/1.0 or HTTP/1.1
  bad_status,             // status code not three digits in 100..599
  method_not_allowed,     // request method outside GET POST HEAD PUT DELETE OPTIONS (answer 501)
  uri_too_long,           // request target longer than kMaxTargetBytes (answer 414)
  bad_header,             // bad field name, space before colon, missing colon, control byte, 2nd Host
  obs_fold,               // obsolete line folding (a field line starting with SP/HTAB)
  headers_too_large,      // header section (or trailer section) over max_header_bytes (answer 431)
  bad_content_length,     // non-digits, empty, overflow, or differing duplicates
  bad_transfer_encoding,  // a coding other than a single `chunked`, or TE in an HTTP/1.0 request
  conflicting_framing,    // a request with both Content-Length and Transfer-Encoding (smuggling)
  bad_chunk,              // bad chunk-size line, extension, or missing CRLF after chunk data
  body_too_large,         // declared or received body over max_body_bytes (answer 413)
  unexpected_eof,         // the connection closed inside a message
  eof_before_message,     // the connection closed cleanly before any byte of a message
};

std::string_view error_name(Error e) noexcept;
// The status a server should answer a request refused with `e`: 400, 413, 414, 431, 501 or 505.
int status_for(Error e) noexcept;

// Limits and leniency, fixed per parser (kept across reset()).
struct ParserOptions {
  // Start line + fields + the blank line; the trailer section of a chunked body separately.
  std::size_t max_header_bytes = 8 * 1024;
  // Content-Length over this fails at once; chunked and read-until-close bodies fail as soon as
  // the declared/received total passes it.
  std::uint64_t max_body_bytes = UINT64_MAX;
  // Accept a bare LF as a line end (RFC 9112 §2.2 "MAY"). Off: only CRLF; a bare LF is an error.
  bool allow_bare_lf = false;
};

// Header fields whose values are copied into fixed buffers inside a parser. A longer value is
// cut at the capacity and truncated(f) says so: never follow a truncated Location. A repeated
// field keeps its first value (a second Host in a request is an error).
enum class Field : std::uint8_t {
  host,
  content_type,
  etag,
  last_modified,
  retry_after,
  location,
  upgrade,
  sec_websocket_accept,
  authorization,  // requests: `Bearer <token>` (platform/net/bearer_auth.hpp); room for a 256-byte token
};
inline constexpr std::size_t kFieldCount = 9;
// Capacity in bytes, indexed by Field. Names are in http.cpp, next to the matcher.
inline constexpr std::array<std::uint16_t, kFieldCount> kFieldCapacity{272, 128, 128, 64, 32, 1024, 64, 64, 272};
inline constexpr std::size_t kFieldStorageBytes = [] {
  std::size_t n = 0;
  for (auto c : kFieldCapacity) n += c;
  return n;
}();

// Request targets longer than this are refused with uri_too_long; response reasons are cut here.
inline constexpr std::size_t kMaxTargetBytes = 1024;

enum class Method : std::uint8_t { none, get, post, head, put, del, options };
std::string_view method_name(Method m) noexcept;

// The machinery shared by ResponseParser and RequestParser: the header section, the body framing
// and the captured fields. Not used on its own (protected constructor).
// Notes: after headers_done (and after an error raised at the end of the headers, such as
// body_too_large) every accessor below is valid until reset(). body_chunk() is valid only until
// the bytes handed to the last feed() are released by the caller.
class MessageParser {
 public:
  // Parses as much of `bytes` as the next event needs; `consumed` says how many bytes were used.
  // Call again with the unconsumed rest until need_more. Never reads outside `bytes`.
  Result feed(std::string_view bytes, std::size_t& consumed) noexcept;
  // The peer closed the connection. done if the body is read-until-close (or the message was
  // already complete), error eof_before_message if no byte of a message arrived, else
  // error unexpected_eof.
  Result finish_eof() noexcept;

  std::string_view body_chunk() const noexcept { return body_chunk_; }
  Error error() const noexcept { return error_; }
  std::string_view error_name() const noexcept { return http::error_name(error_); }
  bool headers_complete() const noexcept { return headers_complete_; }
  bool is_done() const noexcept;

  int http_minor() const noexcept { return minor_; }  // 0 or 1
  std::optional<std::uint64_t> content_length() const noexcept;
  bool chunked() const noexcept { return chunked_; }
  // True when the connection may carry another message: HTTP/1.1 unless `Connection: close`,
  // HTTP/1.0 only with `Connection: keep-alive`; never after an error, for a read-until-close
  // body, or for a response that carried both Content-Length and Transfer-Encoding.
  bool keep_alive() const noexcept;
  bool connection_close() const noexcept { return conn_close_; }
  bool connection_upgrade() const noexcept { return conn_upgrade_; }
  // Body bytes delivered so far (chunked: excluding framing).
  std::uint64_t body_bytes() const noexcept { return body_total_; }

  std::string_view field(Field f) const noexcept;
  bool truncated(Field f) const noexcept;
  std::string_view content_type() const noexcept { return field(Field::content_type); }

  const ParserOptions& options() const noexcept { return opt_; }

 protected:
  enum class Kind : std::uint8_t { request, response };
  MessageParser(Kind kind, const ParserOptions& opt) noexcept;
  void reset_base() noexcept;

  // Start line results.
  std::uint16_t status_ = 0;
  Method method_ = Method::none;
  std::uint8_t method_len_ = 0;
  char method_buf_[8] = {};
  std::uint16_t line_len_ = 0;  // target (request) or reason (response)
  char line_buf_[kMaxTargetBytes] = {};
  bool head_request_ = false;  // response: the request was HEAD (no body)
  bool expect_continue_ = false;

 private:
  enum class St : std::uint8_t;
  enum class Hdr : std::uint8_t;
  enum Step : std::uint8_t { cont, stop_headers, stop_error, stop_trailers };

  Result fail(Error e) noexcept;
  Step head_byte(unsigned char c) noexcept;
  Step line_end() noexcept;
  Step start_line_byte(unsigned char c) noexcept;
  Step start_line_end() noexcept;
  Step field_byte(unsigned char c) noexcept;
  Step field_line_end() noexcept;
  Step begin_value() noexcept;
  void value_byte(unsigned char c) noexcept;
  Step chunk_byte(unsigned char c) noexcept;
  Step chunk_line_end() noexcept;
  Step bad(Error e) noexcept {
    error_ = e;
    return stop_error;
  }
  Result headers_finished() noexcept;
  Error line_error() const noexcept;

  ParserOptions opt_;
  Kind kind_;
  St st_;
  Error error_ = Error::none;
  bool cr_ = false;                  // a CR was seen; the next byte must be LF
  bool any_byte_ = false;            // a byte of this message arrived
  bool headers_complete_ = false;
  bool in_trailers_ = false;
  bool seen_field_ = false;          // a field line was parsed (for obs-fold vs bad first line)
  std::uint8_t minor_ = 1;
  std::size_t head_bytes_ = 0;

  // Current field line.
  Hdr hdr_;
  std::uint8_t name_len_ = 0;
  bool name_long_ = false;
  char name_buf_[24] = {};
  std::uint8_t field_idx_ = 0;
  std::uint16_t scratch_len_ = 0;
  bool scratch_over_ = false;
  char scratch_[256] = {};
  std::uint8_t version_len_ = 0;
  std::uint8_t digits_ = 0;          // status code digits seen
  char version_buf_[8] = {};

  // Framing.
  bool has_cl_ = false;
  bool has_te_ = false;
  bool chunked_ = false;
  bool conn_close_ = false;
  bool conn_keep_alive_ = false;
  bool conn_upgrade_ = false;
  bool close_delimited_ = false;
  bool framing_conflict_ = false;  // response with CL and TE: TE wins, connection not reusable
  std::uint64_t cl_ = 0;
  std::uint64_t remaining_ = 0;    // Content-Length or current chunk data still to come
  std::uint64_t body_total_ = 0;
  std::uint16_t chunk_line_ = 0;   // bytes in the current chunk-size line
  bool chunk_digits_ = false;
  std::string_view body_chunk_;

  // Captured fields.
  std::array<std::uint16_t, kFieldCount> field_len_{};
  std::array<bool, kFieldCount> field_seen_{};
  std::array<bool, kFieldCount> field_trunc_{};
  char fields_[kFieldStorageBytes] = {};
};

// Parses one response at a time. Example (client loop):
//   ResponseParser p({.max_body_bytes = 10 << 20});
//   p.reset(/*response_to_head=*/false);
//   for (;;) { size_t n; auto r = p.feed(in, n); in.remove_prefix(n);
//     if (r == Result::need_more) { in = read_more(); if (eof) r = p.finish_eof(); else continue; }
//     if (r == Result::body) consume(p.body_chunk()); ... if (r == Result::done) break; }
// Notes: a 1xx response (100 Continue, 101 Switching Protocols) is a complete message with no
// body: after done, reset() and feed the rest for the final response (or, after 101, the rest is
// the upgraded protocol's); skip_interim() below does this for a client, with a cap. A response
// with Transfer-Encoding and Content-Length is read as chunked and keep_alive() is false. With
// neither, the body runs until finish_eof().
class ResponseParser : public MessageParser {
 public:
  explicit ResponseParser(const ParserOptions& opt = {}) noexcept : MessageParser(Kind::response, opt) {}
  // Ready for the next response on the connection. `response_to_head`: the request was HEAD, so
  // the response has no body whatever its Content-Length says.
  void reset(bool response_to_head = false) noexcept {
    reset_base();
    head_request_ = response_to_head;
  }
  // What reset() was last given: the request was HEAD.
  bool response_to_head() const noexcept { return head_request_; }
  int status() const noexcept { return status_; }
  std::string_view reason() const noexcept { return {line_buf_, line_len_}; }  // cut at 1 KiB
  std::string_view etag() const noexcept { return field(Field::etag); }
  std::string_view last_modified() const noexcept { return field(Field::last_modified); }
  std::string_view retry_after() const noexcept { return field(Field::retry_after); }
  std::string_view location() const noexcept { return field(Field::location); }
  std::string_view upgrade() const noexcept { return field(Field::upgrade); }
  std::string_view sec_websocket_accept() const noexcept { return field(Field::sec_websocket_accept); }
};

// ---- Interim responses (client side)

// RFC 9110 §15.2: a client skips any number of interim (1xx) responses before the final one, on
// the same connection. 101 Switching Protocols is not interim: the connection leaves HTTP, which
// a client that asked for no upgrade cannot follow. The cap bounds how long a peer can string a
// client along with interim responses.
inline constexpr unsigned kMaxInterimResponses = 8;

enum class Interim : std::uint8_t {
  final,      // a final response (status 200..599): the parser holds it
  skipped,    // an interim response: the parser was reset for the next response on the connection;
              // feed it the bytes after `consumed`, then read on
  too_many,   // an interim response past the cap: treat as a protocol error (do not reuse)
  switching,  // 101 Switching Protocols: treat as a protocol error (do not reuse)
};

// Call each time feed() returns done. `seen` counts the interim responses skipped for this request
// (start it at 0); the (cap+1)th is too_many. Keeps response_to_head() across the reset.
// Example: see the loop in ResponseParser's notes, with
//   if (r == Result::done) { if (skip_interim(p, seen) == Interim::skipped) continue; ... }
Interim skip_interim(ResponseParser& p, unsigned& seen, unsigned cap = kMaxInterimResponses) noexcept;

// Parses one request at a time (server side). Requests never read until close: no Content-Length
// and no Transfer-Encoding means no body. Leading empty lines before a request line are skipped.
// Lenient by design: a missing Host on HTTP/1.1 is accepted (host() is empty); an absolute-form
// or `*` target is kept as is. Strict by design: CL together with TE, TE on HTTP/1.0, a coding
// other than chunked, a second Host, and differing Content-Lengths are errors.
// Notes: on expect_continue() answer `HTTP/1.1 100 Continue` before reading the body, or a final
// status (e.g. 413 from body_too_large, raised before headers_done) and close.
class RequestParser : public MessageParser {
 public:
  explicit RequestParser(const ParserOptions& opt = {}) noexcept : MessageParser(Kind::request, opt) {}
  void reset() noexcept { reset_base(); }
  Method method() const noexcept { return method_; }
  std::string_view method_token() const noexcept { return {method_buf_, method_len_}; }
  std::string_view target() const noexcept { return {line_buf_, line_len_}; }
  std::string_view host() const noexcept { return field(Field::host); }
  bool expect_continue() const noexcept { return expect_continue_; }
};

// ---- Formatting: into a caller buffer; returns the bytes written, or 0 if they do not fit or an
// argument would inject a line (CR, LF or another control byte). Nothing is written past buf.

// Keep in step with project(VERSION) in the top CMakeLists.txt (a test checks it).
inline constexpr std::string_view kUserAgent = "bulkhead/0.1.0";

// `METHOD target HTTP/1.1`, then Host, User-Agent, Content-Type (if not empty), Content-Length
// (if given), `Connection: keep-alive`, the extra header lines, and the blank line.
// `extra_headers`: complete `Name: value\r\n` lines (a missing final CRLF is added); validated.
std::size_t format_request_head(std::span<char> buf, std::string_view method, std::string_view host,
                                std::string_view target, std::string_view content_type,
                                std::optional<std::uint64_t> content_length,
                                std::string_view extra_headers = {}) noexcept;

// `HTTP/1.1 status reason` (reason_phrase(status) if `reason` is empty), Content-Type (if not
// empty), Content-Length (left out for 1xx and 204), `Connection: keep-alive` or `close`, the
// extra header lines (as for requests), and the blank line.
std::size_t format_response_head(std::span<char> buf, int status, std::string_view reason,
                                 std::string_view content_type, std::uint64_t content_length,
                                 bool keep_alive, std::string_view extra_headers = {}) noexcept;

// The standard reason phrase for a status ("Not Found"), or "" for an unknown code.
std::string_view reason_phrase(int status) noexcept;

// ---- URLs

enum class Scheme : std::uint8_t { http, https, ws, wss, mqtt, mqtts };

// Every view points into the string given to parse_url().
struct Url {
  Scheme scheme = Scheme::http;
  std::string_view host;       // without brackets for IPv6 (what a resolver takes)
  std::string_view authority;  // host[:port] as written, brackets kept (what Host: carries)
  std::uint16_t port = 0;      // explicit, or 80 (http, ws) / 443 (https, wss) / 1883 (mqtt) / 8883 (mqtts)
  std::string_view target;     // path and query, "/" when the URL has no path; fragment dropped
  bool ipv6 = false;
  bool secure() const noexcept { return scheme == Scheme::https || scheme == Scheme::wss || scheme == Scheme::mqtts; }
};

// Splits `scheme://host[:port][/path][?query][#fragment]`. Scheme case-insensitive.
// Errors (returns false, `out` unspecified): other schemes, userinfo (`user@`), an empty or
// malformed host, a port that is empty, not digits, 0 or over 65535, a query without a path
// (`http://h?q`: write `http://h/?q`), spaces or control bytes anywhere.
bool parse_url(std::string_view url, Url& out) noexcept;

}  // namespace bh::http
