// HttpServer as a unit: routes through a derived connection's handle(), keep-alive and pipelined
// requests in order, a malformed request answered and closed, header and body size limits, a
// handler that never answers (500), the pool at N and N+1 (503, counted), and stop closing idle
// keep-alive connections with every pool at zero and FDs at baseline. Real loopback sockets, the
// reactor driven by the test (no sleeps: every wait polls a condition with a deadline).
#include "platform/net/http_server.hpp"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <string>

#include "tests/support/census.hpp"

namespace bh {
// Named, not anonymous: the connection types appear in the acceptor's coroutine frames.
namespace http_server_test {
using namespace std::chrono_literals;

struct Ctx {
  int handled = 0;
};

// GET /hello -> 200 "hi"; POST /echo -> 200 with the body; /silent -> no answer; else 404.
class TestConn final : public HttpConn {
 public:
  TestConn(Socket&& s, HttpServerShared& sh, Ctx& ctx) noexcept : HttpConn(std::move(s), sh), ctx_(ctx) {}

 protected:
  Task<void> handle() override {
    ++ctx_.handled;
    const std::string_view p = path();
    if (p == "/hello") {
      co_await respond(200, "text/plain", "hi\n");
    } else if (p == "/echo") {
      std::size_t n = 0;
      for (;;) {
        BodyRead r = co_await read_body(body_ + n, sizeof body_ - n);
        if (r.ec) {
          abandon();
          co_return;
        }
        n += r.n;
        if (r.end) break;
      }
      co_await respond(200, "text/plain", std::string_view(body_, n));
    } else if (p == "/silent") {
      co_return;
    } else {
      co_await respond(404, "application/json", "{\"error\":\"not_found\"}\n");
    }
  }

 private:
  Ctx& ctx_;
  char body_[256];
};

HttpServerOptions small_limits() {
  HttpServerOptions o;
  o.max_header_bytes = 512;
  o.max_body_bytes = 64;
  return o;
}

struct Rig {
  asio::io_context io{1};
  TaskPool<8> tasks{"t_http_task", io};
  Ctx ctx;
  HttpServer<TestConn, Ctx, 2> server{tasks, ctx, small_limits(), "t_http_conn"};

  Rig() {
    EXPECT_FALSE(server.listen(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
    EXPECT_TRUE(server.start("t_http_accept", "t_http_conn"));
  }
  void turn() {
    io.run_for(2ms);
    if (io.stopped()) io.restart();
  }
  bool until(const std::function<bool()>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (!pred() && std::chrono::steady_clock::now() < deadline) turn();
    return pred();
  }
  ~Rig() {
    server.stop();
    EXPECT_TRUE(until([&] { return tasks.live() == 0; }));
  }
};

// A client on the test thread; reads drive the rig's reactor.
struct Client {
  Rig& rig;
  int fd = -1;
  std::string buf;
  bool eof = false;

  explicit Client(Rig& r) : rig(r) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(rig.server.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  void send(std::string_view s) { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size())); }
  void pump() {
    char tmp[4096];
    for (;;) {
      ssize_t n = ::recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
      if (n > 0) {
        buf.append(tmp, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) eof = true;
      break;
    }
  }
  // Reads until `count` complete responses (head and Content-Length body) are in, or EOF.
  std::vector<std::string> responses(std::size_t count) {
    std::vector<std::string> out;
    rig.until([&] {
      pump();
      for (;;) {
        auto end = buf.find("\r\n\r\n");
        if (end == std::string::npos) break;
        std::size_t len = 0;
        auto cl = buf.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) len = std::stoul(buf.substr(cl + 16));
        if (buf.size() < end + 4 + len) break;
        out.push_back(buf.substr(0, end + 4 + len));
        buf.erase(0, end + 4 + len);
      }
      return out.size() >= count || eof;
    });
    return out;
  }
  bool closed_by_server() {
    rig.until([&] {
      pump();
      return eof;
    });
    return eof;
  }
};

bool starts(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

TEST(HttpServer, RoutesAnswerAndKeepAliveServesPipelinedRequestsInOrder) {
  test::CensusGuard census;
  Rig rig;
  {
    Client c(rig);
    c.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.responses(2);
    ASSERT_EQ(r.size(), 2u) << c.buf;
    EXPECT_TRUE(starts(r[0], "HTTP/1.1 200 ")) << r[0];
    EXPECT_NE(r[0].find("\r\n\r\nhi\n"), std::string::npos) << r[0];
    EXPECT_TRUE(starts(r[1], "HTTP/1.1 404 ")) << r[1];
    EXPECT_FALSE(c.eof);
    EXPECT_EQ(rig.server.pool().in_use(), 1u);  // kept alive
    // The same connection again; then one that asks to close.
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    r = c.responses(1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_NE(r[0].find("\r\n\r\nhello"), std::string::npos) << r[0];
    c.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    r = c.responses(1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_NE(r[0].find("Connection: close"), std::string::npos) << r[0];
    EXPECT_TRUE(c.closed_by_server());
  }
  EXPECT_TRUE(rig.until([&] { return rig.server.pool().in_use() == 0; }));
  const HttpServerStats& s = rig.server.stats();
  EXPECT_EQ(s.accepted, 1u);
  EXPECT_EQ(s.requests, 4u);
  EXPECT_EQ(s.responses_2xx, 3u);
  EXPECT_EQ(s.responses_4xx, 1u);
  EXPECT_EQ(s.closed, 1u);
  EXPECT_EQ(rig.ctx.handled, 4);
}

TEST(HttpServer, AMalformedRequestIsAnsweredWithItsStatusAndClosed) {
  test::CensusGuard census;
  Rig rig;
  {
    Client c(rig);
    c.send("GET /hello HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n");
    auto r = c.responses(1);
    ASSERT_EQ(r.size(), 1u) << c.buf;
    EXPECT_TRUE(starts(r[0], "HTTP/1.1 400 ")) << r[0];
    EXPECT_NE(r[0].find("{\"error\":\"bad_header\"}"), std::string::npos) << r[0];
    EXPECT_TRUE(c.closed_by_server());
  }
  {
    Client c(rig);
    c.send("BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n");
    auto r = c.responses(1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(starts(r[0], "HTTP/1.1 501 ")) << r[0];
    EXPECT_TRUE(c.closed_by_server());
  }
  EXPECT_EQ(rig.server.stats().bad_requests, 2u);
  EXPECT_EQ(rig.ctx.handled, 0);  // a handler never sees a malformed request
}

TEST(HttpServer, HeaderAndBodyLimitsAtNAndNPlusOne) {
  test::CensusGuard census;
  Rig rig;
  {
    Client c(rig);  // a body of max_body_bytes (64): served
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 64\r\n\r\n" + std::string(64, 'b'));
    auto r = c.responses(1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(starts(r[0], "HTTP/1.1 200 ")) << r[0];
    EXPECT_NE(r[0].find(std::string(64, 'b')), std::string::npos);
  }
  {
    Client c(rig);  // 65 declared: 413 before any of it is read
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 65\r\n\r\n");
    auto r = c.responses(1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(starts(r[0], "HTTP/1.1 413 ")) << r[0];
    EXPECT_TRUE(c.closed_by_server());
  }
  {
    Client c(rig);  // a header section over max_header_bytes (512): 431
    c.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(600, 'h') + "\r\n\r\n");
    auto r = c.responses(1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(starts(r[0], "HTTP/1.1 431 ")) << r[0];
    EXPECT_TRUE(c.closed_by_server());
  }
  EXPECT_EQ(rig.server.stats().bad_requests, 2u);
  EXPECT_EQ(rig.server.stats().responses_4xx, 2u);
}

TEST(HttpServer, AHandlerThatNeverAnswersGets500AndTheConnectionCloses) {
  test::CensusGuard census;
  Rig rig;
  Client c(rig);
  c.send("GET /silent HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = c.responses(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(starts(r[0], "HTTP/1.1 500 ")) << r[0];
  EXPECT_NE(r[0].find("no_response"), std::string::npos);
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_EQ(rig.server.stats().responses_5xx, 1u);
}

TEST(HttpServer, ThePoolAtNServesAndAtNPlusOneRefusesWith503Counted) {
  test::CensusGuard census;
  Rig rig;
  Client a(rig);
  a.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(a.responses(1).size(), 1u);
  Client b(rig);
  b.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(b.responses(1).size(), 1u);
  EXPECT_EQ(rig.server.pool().in_use(), 2u);  // N, both kept alive
  Client c(rig);                              // N+1
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_EQ(c.buf, kHttpRefusal);
  EXPECT_EQ(rig.server.stats().accepted, 3u);
  EXPECT_EQ(rig.server.stats().refused, 1u);
  EXPECT_EQ(rig.server.pool().stats().refusals, 1u);
  EXPECT_EQ(rig.server.pool().in_use(), 2u);
  // A slot given back is taken by the next connection.
  ::close(a.fd);
  a.fd = -1;
  ASSERT_TRUE(rig.until([&] { return rig.server.pool().in_use() == 1; }));
  Client d(rig);
  d.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(d.responses(1).size(), 1u);
}

TEST(HttpServer, StopClosesIdleKeepAliveConnections) {
  test::CensusGuard census;
  Rig rig;
  const int baseline = test::open_fds();
  {
    Client a(rig);
    a.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_EQ(a.responses(1).size(), 1u);
    rig.server.stop();
    EXPECT_TRUE(a.closed_by_server());
    EXPECT_TRUE(rig.until([&] { return rig.tasks.live() == 0; }));  // accept and connection tasks ended
    EXPECT_EQ(rig.server.pool().in_use(), 0u);
    EXPECT_EQ(rig.server.port(), 0);
  }
  EXPECT_EQ(test::open_fds(), baseline - 1) << "the listener closed too\n" << test::describe_fds();
}

}  // namespace http_server_test
}  // namespace bh
