// Tests for platform/net/http: response and request parsing under every framing and every chunk
// split, limits at N-1/N/N+1, malformed input giving the right error, head formatting round trips,
// URL splitting, and zero heap allocations across a parse/format loop.
// Not tested here: sockets, TLS, the sink client or admin server that use these parsers.
#include "platform/net/http.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "tests/support/census.hpp"

namespace bh::http {
namespace {

// What a parse ended with, as one comparable line.
template <typename P>
std::string describe(const P& p, Result last, const std::string& body, std::size_t used, int headers_events) {
  std::string s = "last=" + std::to_string(static_cast<int>(last)) + " err=" + std::string(p.error_name()) +
                  " used=" + std::to_string(used) + " hd=" + std::to_string(headers_events);
  if (p.headers_complete()) {
    s += " minor=" + std::to_string(p.http_minor());
    s += " cl=" + (p.content_length() ? std::to_string(*p.content_length()) : std::string("-"));
    s += " chunked=" + std::to_string(p.chunked()) + " ka=" + std::to_string(p.keep_alive());
    s += " ct=" + std::string(p.content_type());
  }
  if constexpr (std::is_same_v<P, ResponseParser>) {
    s += " status=" + std::to_string(p.status()) + " reason=" + std::string(p.reason());
    s += " etag=" + std::string(p.etag()) + " lm=" + std::string(p.last_modified());
    s += " ra=" + std::string(p.retry_after()) + " loc=" + std::string(p.location());
    s += " up=" + std::string(p.upgrade()) + " swa=" + std::string(p.sec_websocket_accept());
  } else {
    s += " method=" + std::string(p.method_token()) + " target=" + std::string(p.target());
    s += " host=" + std::string(p.host()) + " expect=" + std::to_string(p.expect_continue());
  }
  s += " body=[" + body + "]";
  return s;
}

// Feeds `pieces` in order until done/error (or the input runs out; then finish_eof() if `eof`).
template <typename P>
std::string run(P& p, const std::vector<std::string_view>& pieces, bool eof = false) {
  std::string body;
  std::size_t used = 0;
  int headers_events = 0;
  Result r = Result::need_more;
  for (std::string_view in : pieces) {
    for (;;) {
      std::size_t n = 0;
      r = p.feed(in, n);
      EXPECT_LE(n, in.size());
      in.remove_prefix(n);
      used += n;
      if (r == Result::headers_done) ++headers_events;
      if (r == Result::body) {
        EXPECT_FALSE(p.body_chunk().empty());
        body += p.body_chunk();
      }
      if (r == Result::need_more) {
        EXPECT_TRUE(in.empty());
        break;
      }
      if (r == Result::done || r == Result::error) return describe(p, r, body, used, headers_events);
    }
  }
  if (eof) r = p.finish_eof();
  return describe(p, r, body, used, headers_events);
}

template <typename P>
std::string run_whole(std::string_view msg, bool eof = false, const ParserOptions& opt = {}) {
  P p(opt);
  return run(p, {msg}, eof);
}

// Parses `msg` whole, then split in two at every offset, then one byte at a time: all must agree.
template <typename P>
void expect_split_invariant(std::string_view msg, bool eof = false, const ParserOptions& opt = {}) {
  const std::string whole = run_whole<P>(msg, eof, opt);
  for (std::size_t k = 0; k <= msg.size(); ++k) {
    P p(opt);
    ASSERT_EQ(run(p, {msg.substr(0, k), msg.substr(k)}, eof), whole) << "split at " << k << " of:\n" << msg;
  }
  std::vector<std::string_view> bytes;
  for (std::size_t k = 0; k < msg.size(); ++k) bytes.push_back(msg.substr(k, 1));
  P p(opt);
  ASSERT_EQ(run(p, bytes, eof), whole) << "byte at a time:\n" << msg;
}

// ---- Responses

TEST(HttpResponse, ContentLengthBodyAndCapturedFields) {
  const std::string_view msg =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: application/json\r\n"
      "ETag: \"abc\"\r\n"
      "Last-Modified: Tue, 15 Nov 1994 12:45:26 GMT\r\n"
      "Retry-After: 120   \r\n"
      "Location: https://example.com/next\r\n"
      "X-Other: ignored\r\n"
      "Content-Length: 5\r\n"
      "\r\n"
      "hello";
  ResponseParser p;
  std::size_t n = 0;
  ASSERT_EQ(p.feed(msg, n), Result::headers_done);
  EXPECT_EQ(msg.substr(n), "hello");
  EXPECT_EQ(p.status(), 200);
  EXPECT_EQ(p.reason(), "OK");
  EXPECT_EQ(p.http_minor(), 1);
  EXPECT_EQ(p.content_type(), "application/json");
  EXPECT_EQ(p.etag(), "\"abc\"");
  EXPECT_EQ(p.last_modified(), "Tue, 15 Nov 1994 12:45:26 GMT");
  EXPECT_EQ(p.retry_after(), "120");
  EXPECT_EQ(p.location(), "https://example.com/next");
  EXPECT_FALSE(p.truncated(Field::location));
  EXPECT_EQ(p.content_length(), 5u);
  EXPECT_FALSE(p.chunked());
  EXPECT_TRUE(p.keep_alive());
  std::size_t m = 0;
  ASSERT_EQ(p.feed(msg.substr(n), m), Result::body);
  EXPECT_EQ(p.body_chunk(), "hello");
  EXPECT_EQ(p.body_chunk().data(), msg.data() + n);  // a view into the input, not a copy
  EXPECT_EQ(m, 5u);
  EXPECT_EQ(p.feed({}, m), Result::done);
  EXPECT_EQ(m, 0u);
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(p.body_bytes(), 5u);
}

TEST(HttpResponse, FieldNamesAreCaseInsensitive) {
  ResponseParser p;
  EXPECT_EQ(run(p, {"HTTP/1.1 200 OK\r\ncONTENT-lENGTH: 2\r\nETAG: x\r\nconnection: CLOSE\r\n\r\nhi"}),
            run_whole<ResponseParser>("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: x\r\nConnection: close\r\n\r\nhi"));
  EXPECT_EQ(p.etag(), "x");
  EXPECT_TRUE(p.connection_close());
  EXPECT_FALSE(p.keep_alive());
}

TEST(HttpResponse, ChunkedWithExtensionsAndTrailers) {
  const std::string_view msg =
      "HTTP/1.1 200 OK\r\n"
      "Transfer-Encoding: chunked\r\n"
      "\r\n"
      "5;name=value;q=\"x y\"\r\nhello\r\n"
      "1 ; ext\r\n \r\n"
      "A\r\n0123456789\r\n"
      "0\r\n"
      "Trailer-One: 1\r\n"
      "Content-Length: 99\r\n"  // trailers never change framing or captured fields
      "\r\n"
      "NEXT";
  ResponseParser p;
  const std::string d = run(p, {msg});
  EXPECT_NE(d.find("body=[hello 0123456789]"), std::string::npos) << d;
  EXPECT_TRUE(p.is_done());
  EXPECT_TRUE(p.chunked());
  EXPECT_FALSE(p.content_length().has_value());
  EXPECT_TRUE(p.keep_alive());
  EXPECT_EQ(p.body_bytes(), 16u);
  EXPECT_NE(d.find("used=" + std::to_string(msg.size() - 4)), std::string::npos) << d;  // "NEXT" is left
}

TEST(HttpResponse, ReadUntilClose) {
  for (std::string_view msg : {std::string_view("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it"),
                               std::string_view("HTTP/1.0 200 OK\r\n\r\nall of it")}) {
    ResponseParser p;
    const std::string d = run(p, {msg}, /*eof=*/true);
    EXPECT_NE(d.find("body=[all of it]"), std::string::npos) << d;
    EXPECT_TRUE(p.is_done());
    EXPECT_FALSE(p.keep_alive());
    expect_split_invariant<ResponseParser>(msg, true);
  }
  ResponseParser p;
  std::size_t n = 0;
  ASSERT_EQ(p.feed("HTTP/1.1 200 OK\r\n\r\n", n), Result::headers_done);
  EXPECT_EQ(p.feed({}, n), Result::need_more);  // no byte yet, no end yet
  EXPECT_EQ(p.finish_eof(), Result::done);       // an empty body
  EXPECT_EQ(p.body_bytes(), 0u);
}

TEST(HttpResponse, NoBodyForHeadAnd204And304And1xx) {
  const char* with_len = "HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n";
  for (int status : {100, 101, 204, 304}) {
    char buf[128];
    std::snprintf(buf, sizeof buf, with_len, status);
    ResponseParser p;
    std::size_t n = 0;
    ASSERT_EQ(p.feed(buf, n), Result::headers_done) << status;
    EXPECT_EQ(n, std::strlen(buf));
    EXPECT_EQ(p.feed({}, n), Result::done) << status;
  }
  ResponseParser p;
  p.reset(/*response_to_head=*/true);
  std::size_t n = 0;
  const std::string_view two = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\n";
  ASSERT_EQ(p.feed(two, n), Result::headers_done);
  EXPECT_EQ(p.content_length(), 10u);
  EXPECT_EQ(p.feed(two.substr(n), n), Result::done);
  EXPECT_EQ(n, 0u);
  p.reset();  // the HEAD flag does not stick
  EXPECT_NE(run(p, {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"}).find("body=[z]"), std::string::npos);
}

TEST(HttpResponse, InterimContinueThenFinal) {
  const std::string_view in = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  ResponseParser p;
  std::size_t n = 0;
  ASSERT_EQ(p.feed(in, n), Result::headers_done);
  EXPECT_EQ(p.status(), 100);
  std::string_view rest = in.substr(n);
  ASSERT_EQ(p.feed(rest, n), Result::done);
  p.reset();
  const std::string d = run(p, {rest});
  EXPECT_NE(d.find("status=201 reason=Created "), std::string::npos) << d;
  EXPECT_NE(d.find("body=[ok]"), std::string::npos) << d;
}

// A client's read loop with skip_interim(): `in` arrives in pieces of `step` bytes.
struct FinalAnswer {
  Interim k = Interim::final;
  int status = 0;
  std::string body;
  unsigned seen = 0;
  std::string rest;  // bytes after the final response (the next one's)
  bool done = false;
};
FinalAnswer read_final(ResponseParser& p, std::string_view in, std::size_t step, unsigned cap = kMaxInterimResponses) {
  FinalAnswer a;
  while (!in.empty()) {
    std::string_view piece = in.substr(0, step);
    in.remove_prefix(piece.size());
    for (;;) {
      std::size_t n = 0;
      const Result r = p.feed(piece, n);
      piece.remove_prefix(n);
      if (r == Result::need_more) break;
      if (r == Result::body) a.body += p.body_chunk();
      if (r == Result::error) {
        ADD_FAILURE() << p.error_name();
        return a;
      }
      if (r != Result::done) continue;
      a.k = skip_interim(p, a.seen, cap);
      if (a.k == Interim::skipped) continue;
      a.status = p.status();
      a.done = true;
      a.rest = std::string(piece) + std::string(in);
      return a;
    }
  }
  return a;
}

TEST(HttpResponse, SkipInterimResponsesBeforeTheFinalOne) {
  const std::string in =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
      "HTTP/1.1 100 Continue\r\nContent-Length: 7\r\n\r\n"  // 1xx: no body, whatever the fields say
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
      "HTTP/1.1 204 No Content\r\n\r\n";
  for (std::size_t step = 1; step <= in.size(); ++step) {
    ResponseParser p;
    const FinalAnswer a = read_final(p, in, step);
    ASSERT_TRUE(a.done) << "step " << step;
    EXPECT_EQ(a.k, Interim::final) << "step " << step;
    EXPECT_EQ(a.status, 200) << "step " << step;
    EXPECT_EQ(a.body, "ok") << "step " << step;
    EXPECT_EQ(a.seen, 3u) << "step " << step;
    EXPECT_EQ(a.rest, "HTTP/1.1 204 No Content\r\n\r\n") << "step " << step;
    EXPECT_TRUE(p.keep_alive());
  }
  // A final status right away: nothing skipped, the parser untouched.
  for (int st : {200, 204, 304, 404, 503}) {
    ResponseParser p;
    const std::string msg = "HTTP/1.1 " + std::to_string(st) + " X\r\nContent-Length: 0\r\n\r\n";
    const FinalAnswer a = read_final(p, msg, msg.size());
    EXPECT_EQ(a.k, Interim::final) << st;
    EXPECT_EQ(a.status, st);
    EXPECT_EQ(a.seen, 0u);
    EXPECT_TRUE(p.is_done());
  }
}

TEST(HttpResponse, SkipInterimKeepsTheHeadFlag) {
  ResponseParser p;
  p.reset(/*response_to_head=*/true);
  const FinalAnswer a =
      read_final(p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nNEXT", 4096);
  EXPECT_EQ(a.k, Interim::final);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "");  // HEAD: no body, whatever Content-Length says
  EXPECT_EQ(a.rest, "NEXT");
  EXPECT_TRUE(p.response_to_head());
}

TEST(HttpResponse, SkipInterimCapAndSwitchingProtocols) {
  std::string interims;
  for (unsigned i = 0; i < kMaxInterimResponses; ++i) interims += "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string final200 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  {  // exactly the cap: the final response still counts
    ResponseParser p;
    const FinalAnswer a = read_final(p, interims + final200, 5);
    EXPECT_EQ(a.k, Interim::final);
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.seen, kMaxInterimResponses);
  }
  {  // one more: too many, whatever follows
    ResponseParser p;
    const FinalAnswer a = read_final(p, interims + "HTTP/1.1 103 Early Hints\r\n\r\n" + final200, 5);
    EXPECT_EQ(a.k, Interim::too_many);
    EXPECT_EQ(a.status, 103);
    EXPECT_EQ(a.seen, kMaxInterimResponses + 1);
    EXPECT_EQ(a.rest, final200);
  }
  {  // a caller's own cap; 0 = no interim response at all
    ResponseParser p;
    EXPECT_EQ(read_final(p, "HTTP/1.1 100 Continue\r\n\r\n" + final200, 4096, 0).k, Interim::too_many);
  }
  for (const std::string prefix : {"", "HTTP/1.1 100 Continue\r\n\r\n"}) {  // 101 is not interim
    ResponseParser p;
    const FinalAnswer a =
        read_final(p, prefix + "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n" + final200,
                   4096);
    EXPECT_EQ(a.k, Interim::switching) << prefix;
    EXPECT_EQ(a.status, 101);
    EXPECT_EQ(a.seen, prefix.empty() ? 0u : 1u);
  }
}

TEST(HttpAlloc, ZeroHeapAllocationsSkippingInterimResponses) {
  const std::string_view in =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  ResponseParser p;
  int finals = 0;
  const std::uint64_t before = bh::test::heap_allocations();
  for (int round = 0; round < 50; ++round) {
    p.reset();
    unsigned seen = 0;
    std::string_view rest = in;
    for (;;) {
      std::size_t n = 0;
      const Result r = p.feed(rest.substr(0, 3), n);
      rest.remove_prefix(n);
      if (r == Result::done && skip_interim(p, seen) == Interim::final) {
        ++finals;
        break;
      }
      if (r == Result::error || (r == Result::need_more && rest.empty())) break;
    }
  }
  EXPECT_EQ(bh::test::heap_allocations(), before);
  EXPECT_EQ(finals, 50);
}

TEST(HttpResponse, WebSocketUpgrade) {
  const std::string_view in =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05hello";
  ResponseParser p;
  std::size_t n = 0;
  ASSERT_EQ(p.feed(in, n), Result::headers_done);
  EXPECT_EQ(p.status(), 101);
  EXPECT_EQ(p.upgrade(), "websocket");
  EXPECT_TRUE(p.connection_upgrade());
  EXPECT_EQ(p.sec_websocket_accept(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(in.substr(n), "\x81\x05hello");  // frames are left for the WebSocket layer
  EXPECT_EQ(p.feed(in.substr(n), n), Result::done);
}

TEST(HttpResponse, KeepAliveRules) {
  auto ka = [](std::string_view msg) {
    ResponseParser p;
    run(p, {msg}, true);
    return p.keep_alive();
  };
  EXPECT_TRUE(ka("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_FALSE(ka("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_FALSE(ka("HTTP/1.1 200 OK\r\nConnection: foo, Close\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_FALSE(ka("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_TRUE(ka("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_FALSE(ka("HTTP/1.1 200 OK\r\n\r\nbody"));  // read until close
  EXPECT_FALSE(ka("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"));  // error (EOF inside)
  // CL and TE in a response: TE wins, but the connection is not reusable.
  ResponseParser p;
  const std::string d = run(p, {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"});
  EXPECT_NE(d.find("body=[ab]"), std::string::npos) << d;
  EXPECT_TRUE(p.is_done());
  EXPECT_FALSE(p.keep_alive());
}

TEST(HttpResponse, KeepAliveReuseWithReset) {
  ResponseParser p({.max_body_bytes = 64});
  for (int i = 0; i < 3; ++i) {
    p.reset();
    const std::string d = run(p, {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", "ETag: e", std::to_string(i), "\r\n\r\nabc"});
    EXPECT_NE(d.find("etag=e" + std::to_string(i)), std::string::npos) << d;
    EXPECT_NE(d.find("body=[abc]"), std::string::npos) << d;
    EXPECT_TRUE(p.keep_alive());
  }
  p.reset();
  EXPECT_EQ(p.status(), 0);
  EXPECT_EQ(p.etag(), "");
  EXPECT_FALSE(p.headers_complete());
  EXPECT_EQ(p.options().max_body_bytes, 64u);  // options survive reset
}

TEST(HttpResponse, PipelinedInOneBuffer) {
  const std::string_view in =
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
      "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n"
      "HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nfour";
  std::string_view rest = in;
  ResponseParser p;
  std::vector<std::string> seen;
  while (!rest.empty()) {
    p.reset();
    std::string body;
    for (;;) {
      std::size_t n = 0;
      const Result r = p.feed(rest, n);
      rest.remove_prefix(n);
      if (r == Result::body) body += p.body_chunk();
      if (r == Result::done) break;
      ASSERT_NE(r, Result::error) << p.error_name();
      ASSERT_NE(r, Result::need_more);
    }
    seen.push_back(std::to_string(p.status()) + ":" + body + ":" + std::string(p.retry_after()));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"200:one:", "202:two:", "204::", "503:four:7"}));
}

// ---- Every split

TEST(HttpSplit, EveryOffsetGivesTheSameResponse) {
  const std::string_view cases[] = {
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: \"v1\"\r\nContent-Length: 11\r\n\r\nhello world",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n",
      "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n",
      "HTTP/1.0 301 Moved\r\nLocation: http://a/b\r\n\r\nmoved body",
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",  // error
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcdX",    // error: no CRLF
      "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",                              // error: obs-fold
      "HTTP/1.1 2x0 OK\r\n\r\n",                                            // error
  };
  for (std::string_view msg : cases) expect_split_invariant<ResponseParser>(msg, /*eof=*/true);
}

TEST(HttpSplit, EveryOffsetGivesTheSameRequest) {
  const std::string_view cases[] = {
      "POST /v1/events HTTP/1.1\r\nHost: localhost:7701\r\nContent-Type: application/x-ndjson\r\n"
      "Content-Length: 14\r\n\r\n{\"a\":1}\n{\"b\":2}",
      "\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
      "7\r\n{\"a\":1}\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",  // error
      "GET /a b HTTP/1.1\r\n\r\n",                                                  // error
  };
  for (std::string_view msg : cases) expect_split_invariant<RequestParser>(msg, /*eof=*/true);
}

// ---- Limits (N-1, N, N+1)

TEST(HttpLimits, HeaderSection) {
  const std::string msg = "HTTP/1.1 200 OK\r\nX-Pad: " + std::string(100, 'p') + "\r\nContent-Length: 0\r\n\r\n";
  const std::size_t n = msg.size();
  for (std::size_t limit : {n - 1, n, n + 1}) {
    ResponseParser p({.max_header_bytes = limit});
    const std::string d = run(p, {msg});
    if (limit < n) {
      EXPECT_EQ(p.error(), Error::headers_too_large) << d;
      EXPECT_EQ(status_for(p.error()), 431);
    } else {
      EXPECT_TRUE(p.is_done()) << d;
    }
  }
  // Trailers have their own budget of the same size.
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: " + std::string(100, 't') + "\r\n\r\n";
  ResponseParser p({.max_header_bytes = 100});
  run(p, {chunked});
  EXPECT_EQ(p.error(), Error::headers_too_large);
  ResponseParser q({.max_header_bytes = 108});
  run(q, {chunked});
  EXPECT_TRUE(q.is_done()) << q.error_name();
}

TEST(HttpLimits, BodyByContentLength) {
  for (std::uint64_t limit : {9u, 10u, 11u}) {
    ResponseParser p({.max_body_bytes = limit});
    std::size_t n = 0;
    const Result r = p.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", n);  // known before any body byte
    if (limit < 10) {
      EXPECT_EQ(r, Result::error);
      EXPECT_EQ(p.error(), Error::body_too_large);
      EXPECT_EQ(p.status(), 200);  // the head stays readable
      EXPECT_TRUE(p.headers_complete());
      EXPECT_FALSE(p.keep_alive());
    } else {
      EXPECT_EQ(r, Result::headers_done);
    }
  }
  RequestParser rq({.max_body_bytes = 1024});
  std::size_t n = 0;
  ASSERT_EQ(rq.feed("POST /v1/events HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1025\r\n\r\n", n),
            Result::error);
  EXPECT_EQ(rq.error(), Error::body_too_large);
  EXPECT_EQ(status_for(rq.error()), 413);
  EXPECT_TRUE(rq.expect_continue());
}

TEST(HttpLimits, BodyChunkedAndUntilClose) {
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n6\r\nefghij\r\n0\r\n\r\n";
  for (std::uint64_t limit : {9u, 10u, 11u}) {
    ResponseParser p({.max_body_bytes = limit});
    const std::string d = run(p, {chunked});
    if (limit < 10) {
      EXPECT_EQ(p.error(), Error::body_too_large) << d;
      EXPECT_EQ(p.body_bytes(), 4u);  // refused at the second size line, before its data
    } else {
      EXPECT_TRUE(p.is_done()) << d;
    }
  }
  const std::string eof = "HTTP/1.1 200 OK\r\n\r\n0123456789";
  for (std::uint64_t limit : {9u, 10u, 11u}) {
    ResponseParser p({.max_body_bytes = limit});
    const std::string d = run(p, {eof}, true);
    if (limit < 10) {
      EXPECT_EQ(p.error(), Error::body_too_large) << d;
      EXPECT_EQ(p.body_bytes(), limit);
    } else {
      EXPECT_TRUE(p.is_done()) << d;
    }
  }
}

TEST(HttpLimits, UriLength) {
  for (std::size_t len : {kMaxTargetBytes - 1, kMaxTargetBytes, kMaxTargetBytes + 1}) {
    const std::string msg = "GET /" + std::string(len - 1, 'u') + " HTTP/1.1\r\nHost: h\r\n\r\n";
    RequestParser p;
    run(p, {msg});
    if (len > kMaxTargetBytes) {
      EXPECT_EQ(p.error(), Error::uri_too_long);
      EXPECT_EQ(status_for(p.error()), 414);
    } else {
      EXPECT_TRUE(p.is_done()) << p.error_name();
      EXPECT_EQ(p.target().size(), len);
    }
  }
}

TEST(HttpLimits, LongFieldValuesAreTruncatedAndFlagged) {
  const std::string loc(1500, 'L');
  ResponseParser p;
  run(p, {"HTTP/1.1 302 Found\r\nLocation: " + loc + "\r\nETag: " + std::string(128, 'e') + "      \r\nContent-Length: 0\r\n\r\n"});
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(p.location(), loc.substr(0, kFieldCapacity[static_cast<int>(Field::location)]));
  EXPECT_TRUE(p.truncated(Field::location));
  EXPECT_EQ(p.etag().size(), 128u);
  EXPECT_FALSE(p.truncated(Field::etag));  // only trailing blanks were past the end
  // Connection tokens past the scratch buffer: whole tokens before the cut still count.
  ResponseParser q;
  run(q, {"HTTP/1.1 200 OK\r\nConnection: close, " + std::string(300, 'x') + "\r\nContent-Length: 0\r\n\r\n"});
  EXPECT_TRUE(q.is_done());
  EXPECT_TRUE(q.connection_close());
}

// ---- Malformed input

struct Bad {
  std::string_view input;
  Error error;
};

TEST(HttpMalformed, ResponsesGiveTheRightError) {
  using std::string_view_literals::operator""sv;
  const Bad cases[] = {
      {"HTTP/1.1200 OK\r\n\r\n", Error::bad_start_line},
      {"HTP/1.1 200 OK\r\n\r\n", Error::bad_start_line},
      {"<html>\r\n", Error::bad_start_line},
      {"HTTP/2 200 OK\r\n\r\n", Error::bad_version},
      {"HTTP/1.2 200 OK\r\n\r\n", Error::bad_version},
      {"HTTP/1.1 20 OK\r\n\r\n", Error::bad_status},
      {"HTTP/1.1 2000 OK\r\n\r\n", Error::bad_status},
      {"HTTP/1.1 099 Low\r\n\r\n", Error::bad_status},
      {"HTTP/1.1 600 High\r\n\r\n", Error::bad_status},
      {"HTTP/1.1 200 O\x01K\r\n\r\n", Error::bad_start_line},
      {"HTTP/1.1\0 200 OK\r\n\r\n"sv, Error::bad_start_line},
      {"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n"sv, Error::bad_header},
      {"HTTP/1.1 200 OK\r\nX\0: ab\r\n\r\n"sv, Error::bad_header},
      {"HTTP/1.1 200 OK\r\nX : a\r\n\r\n", Error::bad_header},
      {"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", Error::bad_header},
      {"HTTP/1.1 200 OK\r\n: empty\r\n\r\n", Error::bad_header},
      {"HTTP/1.1 200 OK\r\n Leading: ws\r\n\r\n", Error::bad_header},
      {"HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n", Error::obs_fold},
      {"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", Error::bad_header},  // bare CR
      {"HTTP/1.1 200 OK\nContent-Length: 0\n\n", Error::bad_start_line},  // bare LF, strict
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", Error::bad_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", Error::bad_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", Error::bad_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", Error::bad_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n", Error::bad_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", Error::bad_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n", Error::bad_content_length},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Error::bad_transfer_encoding},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Error::bad_transfer_encoding},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZ\r\n", Error::bad_chunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", Error::bad_chunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", Error::bad_chunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", Error::bad_chunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 x\r\n", Error::bad_chunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;\x01\r\n", Error::bad_chunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", Error::bad_chunk},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: \x7f\r\n\r\n", Error::bad_header},
  };
  for (const Bad& c : cases) {
    ResponseParser p;
    const std::string d = run(p, {c.input}, true);
    EXPECT_EQ(p.error(), c.error) << d << "\ninput: " << c.input;
    EXPECT_FALSE(p.keep_alive());
  }
  // A chunk-size line is bounded.
  ResponseParser p;
  run(p, {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(2000, 'e') + "\r\n"});
  EXPECT_EQ(p.error(), Error::bad_chunk);
}

TEST(HttpMalformed, BareLfWhenAllowed) {
  ResponseParser p({.allow_bare_lf = true});
  const std::string d = run(p, {"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n"});
  EXPECT_TRUE(p.is_done()) << d;
  EXPECT_NE(d.find("body=[abc]"), std::string::npos);
  ResponseParser q({.allow_bare_lf = true});
  run(q, {"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"});  // a bare CR is never a line end
  EXPECT_EQ(q.error(), Error::bad_header);
}

TEST(HttpMalformed, EndOfStream) {
  ResponseParser fresh;
  EXPECT_EQ(fresh.finish_eof(), Result::error);
  EXPECT_EQ(fresh.error(), Error::eof_before_message);
  for (std::string_view cut : {"HTTP/1.1 20", "HTTP/1.1 200 OK\r\nContent-Le", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
                               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"}) {
    ResponseParser p;
    run(p, {cut}, true);
    EXPECT_EQ(p.error(), Error::unexpected_eof) << cut;
  }
  ResponseParser done;
  run(done, {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"});
  EXPECT_EQ(done.finish_eof(), Result::done);
}

// ---- Requests

TEST(HttpRequest, PostWithContentLength) {
  const std::string_view msg =
      "POST /v1/events?x=1 HTTP/1.1\r\nHost: 127.0.0.1:7701\r\nContent-Type: application/x-ndjson\r\n"
      "Expect: 100-Continue\r\nContent-Length: 8\r\n\r\n{\"a\":1}\n";
  RequestParser p;
  std::size_t n = 0;
  ASSERT_EQ(p.feed(msg, n), Result::headers_done);
  EXPECT_EQ(p.method(), Method::post);
  EXPECT_EQ(method_name(p.method()), "POST");
  EXPECT_EQ(p.target(), "/v1/events?x=1");
  EXPECT_EQ(p.host(), "127.0.0.1:7701");
  EXPECT_EQ(p.content_type(), "application/x-ndjson");
  EXPECT_TRUE(p.expect_continue());
  EXPECT_EQ(p.content_length(), 8u);
  EXPECT_TRUE(p.keep_alive());
  ASSERT_EQ(p.feed(msg.substr(n), n), Result::body);
  EXPECT_EQ(p.body_chunk(), "{\"a\":1}\n");
  EXPECT_EQ(p.feed({}, n), Result::done);
}

TEST(HttpRequest, AuthorizationIsCapturedAndALongOneFlagged) {
  RequestParser p;
  std::size_t n = 0;
  const std::string msg = "POST /v1/dlq/purge HTTP/1.1\r\nAuthorization:  Bearer abc.def  \r\nauthorization: Bearer second\r\n\r\n";
  ASSERT_EQ(p.feed(msg, n), Result::headers_done);
  EXPECT_EQ(p.field(Field::authorization), "Bearer abc.def");  // OWS trimmed, the first value kept
  EXPECT_FALSE(p.truncated(Field::authorization));
  RequestParser q;
  const std::string token(kFieldCapacity[static_cast<int>(Field::authorization)], 'a');
  const std::string big = "GET /metrics HTTP/1.1\r\nAuthorization: Bearer " + token + "\r\n\r\n";
  ASSERT_EQ(q.feed(big, n), Result::headers_done);
  EXPECT_TRUE(q.truncated(Field::authorization));
}

TEST(HttpRequest, MethodsAndNoBodyWithoutFraming) {
  const std::pair<std::string_view, Method> methods[] = {{"GET", Method::get},   {"POST", Method::post},
                                                         {"HEAD", Method::head}, {"PUT", Method::put},
                                                         {"DELETE", Method::del}, {"OPTIONS", Method::options}};
  for (auto [name, m] : methods) {
    RequestParser p;
    const std::string msg = std::string(name) + " /healthz HTTP/1.1\r\nHost: h\r\n\r\nGET";
    std::size_t n = 0;
    ASSERT_EQ(p.feed(msg, n), Result::headers_done) << name;
    EXPECT_EQ(p.method(), m);
    EXPECT_EQ(msg.substr(n), "GET");  // no CL, no TE: no body; the rest is the next request
    EXPECT_EQ(p.feed({}, n), Result::done);
  }
}

TEST(HttpRequest, LenientAndPipelined) {
  // Missing Host on HTTP/1.1 is accepted; leading empty lines are skipped; HTTP/1.0 defaults to close.
  const std::string_view in =
      "GET /metrics HTTP/1.1\r\n\r\n"
      "\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n";
  std::string_view rest = in;
  RequestParser p;
  run(p, {rest});
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(p.host(), "");
  EXPECT_TRUE(p.keep_alive());
  std::size_t n = 0;
  p.reset();
  ASSERT_EQ(p.feed(rest.substr(25), n), Result::headers_done);
  EXPECT_EQ(p.target(), "/healthz");
  EXPECT_FALSE(p.keep_alive());
  EXPECT_EQ(p.http_minor(), 0);
  // Only empty lines, then EOF: a clean close, not a broken message.
  RequestParser idle;
  EXPECT_EQ(idle.feed("\r\n", n), Result::need_more);
  EXPECT_EQ(idle.finish_eof(), Result::error);
  EXPECT_EQ(idle.error(), Error::eof_before_message);
}

TEST(HttpRequest, ChunkedBody) {
  RequestParser p({.max_body_bytes = 100});
  const std::string d = run(p, {"POST /v1/events HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n"});
  EXPECT_TRUE(p.is_done()) << d;
  EXPECT_NE(d.find("body=[{}\n]"), std::string::npos);
}

TEST(HttpMalformed, RequestsGiveTheRightError) {
  using std::string_view_literals::operator""sv;
  const Bad cases[] = {
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", Error::conflicting_framing},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", Error::conflicting_framing},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", Error::bad_transfer_encoding},
      {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", Error::bad_content_length},
      {"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", Error::bad_content_length},
      {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", Error::bad_content_length},
      {"PATCH / HTTP/1.1\r\n\r\n", Error::method_not_allowed},
      {"get / HTTP/1.1\r\n\r\n", Error::method_not_allowed},
      {"CONNECTXYZ / HTTP/1.1\r\n\r\n", Error::method_not_allowed},
      {"GET / HTTP/2.0\r\n\r\n", Error::bad_version},
      {"GET /\r\n\r\n", Error::bad_start_line},  // HTTP/0.9
      {"GET  / HTTP/1.1\r\n\r\n", Error::bad_start_line},
      {"GET / HTTP/1.1 \r\n\r\n", Error::bad_start_line},
      {"GET /a\0b HTTP/1.1\r\n\r\n"sv, Error::bad_start_line},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Error::bad_header},
      {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Error::bad_header},
      {"GET / HTTP/1.1\r\nX: \x1b[31m\r\n\r\n", Error::bad_header},
      {"GET / HTTP/1.1\r\nX: a\r\n  b\r\n\r\n", Error::obs_fold},
      {"GET / HTTP/1.1\nHost: h\n\n", Error::bad_start_line},
  };
  for (const Bad& c : cases) {
    RequestParser p;
    const std::string d = run(p, {c.input}, true);
    EXPECT_EQ(p.error(), c.error) << d << "\ninput: " << c.input;
  }
  // Equal duplicates are one Content-Length.
  RequestParser p;
  run(p, {"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok"});
  EXPECT_TRUE(p.is_done()) << p.error_name();
  EXPECT_EQ(status_for(Error::method_not_allowed), 501);
  EXPECT_EQ(status_for(Error::bad_version), 505);
  EXPECT_EQ(status_for(Error::conflicting_framing), 400);
}

TEST(HttpMalformed, ErrorNames) {
  EXPECT_EQ(error_name(Error::headers_too_large), "headers_too_large");
  EXPECT_EQ(error_name(Error::body_too_large), "body_too_large");
  EXPECT_EQ(error_name(Error::uri_too_long), "uri_too_long");
  for (int e = 0; e <= static_cast<int>(Error::eof_before_message); ++e) {
    EXPECT_NE(error_name(static_cast<Error>(e)), "unknown") << e;
  }
}

// ---- Formatting

TEST(HttpFormat, RequestRoundTrip) {
  std::array<char, 512> buf{};
  const std::size_t n = format_request_head(buf, "POST", "sink.example:8443", "/ingest?x=1", "application/x-ndjson", 15,
                                            "Bulkhead-First-Seq: 1\r\nBulkhead-Last-Seq: 2");
  ASSERT_GT(n, 0u);
  const std::string head(buf.data(), n);
  EXPECT_EQ(head,
            "POST /ingest?x=1 HTTP/1.1\r\nHost: sink.example:8443\r\nUser-Agent: " + std::string(kUserAgent) +
                "\r\nContent-Type: application/x-ndjson\r\nContent-Length: 15\r\nConnection: keep-alive\r\n"
                "Bulkhead-First-Seq: 1\r\nBulkhead-Last-Seq: 2\r\n\r\n");
  RequestParser p;
  const std::string d = run(p, {head, "{\"a\":1}\n{\"b\":2}"});
  EXPECT_TRUE(p.is_done()) << d;
  EXPECT_EQ(p.method(), Method::post);
  EXPECT_EQ(p.target(), "/ingest?x=1");
  EXPECT_EQ(p.host(), "sink.example:8443");
  EXPECT_EQ(p.content_type(), "application/x-ndjson");
  EXPECT_EQ(p.content_length(), 15u);
  EXPECT_TRUE(p.keep_alive());
  EXPECT_NE(d.find("body=[{\"a\":1}\n{\"b\":2}]"), std::string::npos);

  const std::size_t g = format_request_head(buf, "GET", "feed", "/", "", std::nullopt);
  EXPECT_EQ(std::string(buf.data(), g),
            "GET / HTTP/1.1\r\nHost: feed\r\nUser-Agent: " + std::string(kUserAgent) + "\r\nConnection: keep-alive\r\n\r\n");
}

TEST(HttpFormat, UserAgentCarriesTheProjectVersion) {
#ifdef BH_VERSION
  EXPECT_EQ(kUserAgent, "bulkhead/" BH_VERSION);
#endif
  EXPECT_TRUE(kUserAgent.starts_with("bulkhead/"));
}

TEST(HttpFormat, ResponseRoundTrip) {
  std::array<char, 256> buf{};
  std::size_t n = format_response_head(buf, 503, "", "text/plain", 7, false, "Retry-After: 5\r\n");
  ASSERT_GT(n, 0u);
  std::string head(buf.data(), n);
  EXPECT_EQ(head, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n"
                  "Connection: close\r\nRetry-After: 5\r\n\r\n");
  ResponseParser p;
  run(p, {head, "failing"});
  EXPECT_TRUE(p.is_done());
  EXPECT_EQ(p.status(), 503);
  EXPECT_EQ(p.retry_after(), "5");
  EXPECT_FALSE(p.keep_alive());

  n = format_response_head(buf, 204, "", "", 0, true);
  EXPECT_EQ(std::string(buf.data(), n), "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
  n = format_response_head(buf, 299, "", "", 0, true);
  EXPECT_EQ(std::string(buf.data(), n), "HTTP/1.1 299 \r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
  ResponseParser q;
  run(q, {std::string(buf.data(), n)});
  EXPECT_TRUE(q.is_done());
  EXPECT_EQ(q.reason(), "");
}

TEST(HttpFormat, ReasonPhrases) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(503), "Service Unavailable");
  EXPECT_EQ(reason_phrase(799), "");
}

TEST(HttpFormat, ZeroWhenItDoesNotFitAndNothingPastTheBuffer) {
  std::array<char, 512> big{};
  const std::size_t need = format_request_head(big, "GET", "h", "/x", "", std::nullopt);
  ASSERT_GT(need, 0u);
  for (std::size_t cap : {need - 1, need, need + 1}) {
    std::vector<char> buf(cap + 8, '#');
    const std::size_t n = format_request_head(std::span<char>(buf.data(), cap), "GET", "h", "/x", "", std::nullopt);
    EXPECT_EQ(n, cap >= need ? need : 0u) << cap;
    for (std::size_t i = cap; i < buf.size(); ++i) ASSERT_EQ(buf[i], '#') << "wrote past the end at " << i;
  }
  const std::size_t rneed = format_response_head(big, 200, "", "text/plain", 1234, true);
  EXPECT_EQ(format_response_head(std::span<char>(big.data(), rneed - 1), 200, "", "text/plain", 1234, true), 0u);
  EXPECT_EQ(format_response_head(std::span<char>(big.data(), rneed), 200, "", "text/plain", 1234, true), rneed);
}

TEST(HttpFormat, RefusesLineInjection) {
  std::array<char, 512> buf{};
  EXPECT_EQ(format_request_head(buf, "GET", "h\r\nX: y", "/", "", std::nullopt), 0u);
  EXPECT_EQ(format_request_head(buf, "GET", "h", "/a b", "", std::nullopt), 0u);
  EXPECT_EQ(format_request_head(buf, "GET", "h", "", "", std::nullopt), 0u);
  EXPECT_EQ(format_request_head(buf, "G T", "h", "/", "", std::nullopt), 0u);
  EXPECT_EQ(format_request_head(buf, "GET", "h", "/", "text/plain\r\n", std::nullopt), 0u);
  EXPECT_EQ(format_request_head(buf, "GET", "h", "/", "", std::nullopt, "A: 1\r\n\r\nGET /evil HTTP/1.1\r\n"), 0u);
  EXPECT_EQ(format_request_head(buf, "GET", "h", "/", "", std::nullopt, "A: 1\nB: 2"), 0u);
  EXPECT_EQ(format_request_head(buf, "GET", "h", "/", "", std::nullopt, "NoColon\r\n"), 0u);
  EXPECT_EQ(format_response_head(buf, 200, "OK\r\nX: y", "", 0, true), 0u);
  EXPECT_EQ(format_response_head(buf, 42, "", "", 0, true), 0u);
}

// ---- URLs

TEST(HttpUrl, Accepted) {
  struct Case {
    std::string_view url;
    Scheme scheme;
    std::string_view host, authority;
    std::uint16_t port;
    std::string_view target;
    bool ipv6;
  };
  const Case cases[] = {
      {"http://example.com", Scheme::http, "example.com", "example.com", 80, "/", false},
      {"HTTPS://Example.com/a/b?c=d#frag", Scheme::https, "Example.com", "Example.com", 443, "/a/b?c=d", false},
      {"http://127.0.0.1:8080/ingest", Scheme::http, "127.0.0.1", "127.0.0.1:8080", 8080, "/ingest", false},
      {"ws://h:1/", Scheme::ws, "h", "h:1", 1, "/", false},
      {"wss://feed.example/stream", Scheme::wss, "feed.example", "feed.example", 443, "/stream", false},
      {"https://[::1]:65535/x", Scheme::https, "::1", "[::1]:65535", 65535, "/x", true},
      {"http://[2001:db8::1]", Scheme::http, "2001:db8::1", "[2001:db8::1]", 80, "/", true},
      {"http://h#only-fragment", Scheme::http, "h", "h", 80, "/", false},
      {"http://h/?q", Scheme::http, "h", "h", 80, "/?q", false},
  };
  for (const Case& c : cases) {
    Url u;
    ASSERT_TRUE(parse_url(c.url, u)) << c.url;
    EXPECT_EQ(u.scheme, c.scheme) << c.url;
    EXPECT_EQ(u.host, c.host) << c.url;
    EXPECT_EQ(u.authority, c.authority) << c.url;
    EXPECT_EQ(u.port, c.port) << c.url;
    EXPECT_EQ(u.target, c.target) << c.url;
    EXPECT_EQ(u.ipv6, c.ipv6) << c.url;
    EXPECT_EQ(u.secure(), c.scheme == Scheme::https || c.scheme == Scheme::wss);
  }
}

TEST(HttpUrl, Refused) {
  for (std::string_view url : {"", "example.com", "ftp://h/", "http:/h", "http://", "http:///path", "http://user@h/",
                               "http://user:pw@h/", "http://h:/", "http://h:0/", "http://h:65536/", "http://h:8x/",
                               "http://h:-1/", "http://h:+80/", "http://h?q", "http://h /", "http://h/a b",
                               "http://h/\x01", "http://[::1/", "http://[]/", "http://[::1]x/", "http://[fe80::1%25eth0]/",
                               "http://[1.2.3.4]/", "http://h%41/", "http://h,i/"}) {
    Url u;
    EXPECT_FALSE(parse_url(url, u)) << url;
  }
}

// ---- Allocation

TEST(HttpAlloc, ZeroHeapAllocationsOverAParseLoop) {
  const std::string_view responses =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: \"v\"\r\nLocation: /x\r\nContent-Length: 5\r\n\r\nhello"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n";
  const std::string_view requests =
      "POST /v1/events HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
      "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n";
  ResponseParser rp({.max_body_bytes = 1 << 20});
  RequestParser qp;
  std::array<char, 512> buf{};
  std::uint64_t body_bytes = 0;
  int messages = 0;
  int errors = 0;
  std::size_t formatted = 0;
  const auto parse_all = [&](MessageParser& p, auto reset, std::string_view in, std::size_t step) {
    reset();
    std::string_view rest = in;
    for (;;) {
      std::string_view piece = rest.substr(0, step);
      std::size_t n = 0;
      const Result r = p.feed(piece, n);
      if (r == Result::need_more && n == rest.size()) return;
      rest.remove_prefix(n);
      if (r == Result::body) body_bytes += p.body_chunk().size();
      if (r == Result::done) {
        ++messages;
        reset();
      }
      if (r == Result::error) {
        ++errors;
        return;
      }
    }
  };
  const std::uint64_t before = bh::test::heap_allocations();
  for (int round = 0; round < 50; ++round) {
    for (std::size_t step : {std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
      parse_all(rp, [&] { rp.reset(); }, responses, step);
      parse_all(qp, [&] { qp.reset(); }, requests, step);
    }
    formatted += format_request_head(buf, "POST", "h", "/x", "application/x-ndjson", 42, "A: b\r\n");
    formatted += format_response_head(buf, 200, "", "text/plain", 5, true);
    Url u;
    errors += parse_url("https://[::1]:8443/a?b#c", u) ? 0 : 1;
  }
  const std::uint64_t after = bh::test::heap_allocations();
  EXPECT_EQ(after, before);
  const std::string control(static_cast<std::size_t>(messages), 'x');  // the counter does count
  EXPECT_GT(bh::test::heap_allocations(), after);
  EXPECT_EQ(control.size(), 750u);
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(messages, 50 * 3 * 5);
  EXPECT_EQ(body_bytes, 50u * 3u * (5 + 3 + 3));
  EXPECT_GT(formatted, 0u);
}

}  // namespace
}  // namespace bh::http
