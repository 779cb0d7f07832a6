// HttpServer: a small HTTP/1.1 server core for operator endpoints, not a web framework: a TCP
// acceptor task, connections as pool slots with fixed buffers, each served by one task that parses
// requests with the zero-allocation RequestParser and hands each request to the connection's own
// handle(). Keep-alive and pipelined requests are served in order; a malformed request is answered
// with status_for(error) and the connection closes; connections beyond the pool get 503 and are
// closed, unless the longest-stalled connection can be evicted for them (the policy:
// platform/transport/acceptor.hpp). Every read and write has a deadline; a request head must be
// complete within header_timeout of its first byte however slowly it trickles, and a keep-alive
// connection idle for `timeout` is closed. No heap after start-up. TLS comes from the listener (a
// TlsListener as the acceptor's Handshake hook, then ByteStream); no HTTP/2, no
// routing: the derived connection class dispatches. Reactor thread only.
#pragma once
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "platform/net/byte_stream.hpp"
#include "platform/net/http.hpp"
#include "platform/core/pool.hpp"
#include "platform/core/task.hpp"
#include "platform/transport/acceptor.hpp"

namespace bh {

struct HttpServerOptions {
  // Reading one request (head and body together; a handler may extend it while it waits on
  // something other than the peer), writing one response, and a keep-alive connection's idle time.
  Clock::duration timeout = std::chrono::seconds(10);
  // The request head (request line and headers), from its first byte to its blank line: a
  // client trickling it is answered 408 and closed (at most `timeout` either way).
  Clock::duration header_timeout = std::chrono::seconds(10);
  std::uint64_t max_body_bytes = 1 << 20;  // larger bodies: 413 (declared) or an error mid-body
  std::size_t max_header_bytes = 8 * 1024;
  // After a final response (Connection: close), how long the peer's remaining bytes are drained
  // before the socket is closed, so the peer reads the response instead of a reset.
  Clock::duration linger = std::chrono::seconds(1);
};

struct HttpServerStats {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;         // beyond the pool (or no task slot): 503 and close
  std::uint64_t closed = 0;
  std::uint64_t requests = 0;        // request heads parsed
  std::uint64_t bad_requests = 0;    // malformed requests, answered status_for(error)
  std::uint64_t read_timeouts = 0;   // a request not complete within the timeout
  std::uint64_t idle_closes = 0;     // keep-alive connections closed after the idle timeout
  ListenerCloses closes;             // idle, header_timeout, body_timeout, handshake_timeout, evicted
  std::uint64_t write_timeouts = 0;
  std::uint64_t responses_2xx = 0;
  std::uint64_t responses_4xx = 0;
  std::uint64_t responses_5xx = 0;
};

// What every connection of one server shares.
struct HttpServerShared {
  HttpServerOptions opts;
  HttpServerStats stats;
  bool stopping = false;
};

// The outcome of one read_body() call: n bytes were copied; end: the body is complete after them.
// Errors: errc::timeout (the request deadline passed), errc::closed (the peer closed mid-body),
// errc::protocol (the parser refused the body: request().error() says why, e.g. body_too_large,
// bad_chunk), errc::cancelled (shutdown), or a socket error.
struct BodyRead {
  std::error_code ec;
  std::size_t n = 0;
  bool end = false;
};

// One connection: a pool slot. Derive from it and implement handle(); the derived object is what
// the server's pool holds, so its buffers are the slot's fixed memory.
class HttpConn : public Evictable {
 public:
  using Socket = StreamSocket;
  static constexpr std::size_t kReadBytes = 8 * 1024;
  static constexpr std::size_t kHeadBytes = 1024;  // response head (+ a small body copied behind it)

  HttpConn(Socket&& s, HttpServerShared& shared) noexcept;
  HttpConn(const HttpConn&) = delete;
  HttpConn& operator=(const HttpConn&) = delete;
  virtual ~HttpConn();

  // Serves requests until the peer closes, an error, a timeout, a final response or shutdown.
  Task<void> run();
  // Shutdown: wakes a connection idle between requests (one inside a request finishes it).
  void interrupt_idle() noexcept;
  // The acceptor's eviction: interrupts the wait for a request head (only ever asked then).
  void evict() noexcept;
  Socket& socket() noexcept { return sock_; }
  // After a TLS handshake: bytes go through `t`.
  void use_tls(TlsStream* t) noexcept { io_.use_tls(t); }

 protected:
  // Serves one request whose head is parsed (request() is readable). Must answer with exactly
  // one respond()/respond_head() (or the server answers 500). The body, if any, may be read with
  // read_body(); whatever is left unread is discarded after the response (or the connection
  // closes). Runs as a nested coroutine of the connection task: keep big buffers in the slot.
  virtual Task<void> handle() = 0;

  const http::RequestParser& request() const noexcept { return parser_; }
  // The request target without its query string.
  std::string_view path() const noexcept;
  bool stopping() const noexcept { return sh_.stopping; }
  const HttpServerOptions& options() const noexcept { return sh_.opts; }
  HttpServerShared& shared() noexcept { return sh_; }

  // Copies up to `cap` body bytes into dst (never more than already arrived, unless nothing has:
  // then it waits for the peer, within the request deadline). Sends `100 Continue` first if the
  // client asked for it.
  Task<BodyRead> read_body(char* dst, std::size_t cap);
  // Moves the request deadline later by d (for time spent waiting on something else).
  void extend_deadline(Clock::duration d) noexcept { deadline_ += d; }

  // Answers with a complete response: head plus body (no body for HEAD requests; Content-Length
  // is the body's either way). `extra_headers`: complete `Name: value\r\n` lines.
  // Returns false if the write failed (the connection will close).
  Task<bool> respond(int status, std::string_view content_type, std::string_view body,
                     std::string_view extra_headers = {});
  // As respond(), when `body` sits in the caller's buffer right after `room` free bytes
  // (body.data() - room .. body.data()): the head is copied in front of it and both go out in
  // one write. Falls back to two writes if the head is longer than room.
  Task<bool> respond_in_place(int status, std::string_view content_type, std::string_view body,
                              std::size_t room, std::string_view extra_headers = {});
  // Starts a response whose body the handler then streams with send_body() (exactly
  // content_length bytes in total; nothing for HEAD requests).
  Task<bool> respond_head(int status, std::string_view content_type, std::uint64_t content_length,
                          std::string_view extra_headers = {});
  Task<bool> send_body(std::string_view bytes);
  // The response being written is the last one on this connection (Connection: close).
  void close_after() noexcept { close_after_ = true; }
  // The peer is gone (or shutdown cut the request): close without answering.
  void abandon() noexcept { responded_ = write_failed_ = true; }
  bool head_request() const noexcept { return parser_.method() == http::Method::head; }
  // The TLS client certificate's identity (empty: none).
  std::string_view peer_identity() const noexcept { return io_.identity(); }

 private:
  enum class Phase : std::uint8_t { idle, request, responding, done };
  // Reads what the peer sent into rbuf_, by `until` at the latest (else errc::timeout).
  Task<std::error_code> fill(Clock::time_point until);
  Task<std::error_code> write_all(std::string_view a, std::string_view b = {});
  Task<void> answer_error(http::Error e);
  Task<void> discard_body();
  Task<void> linger_close();
  bool keep_alive_now() const noexcept;
  // Marks the response begun (counted, keep-alive decided) and formats its head into head_.
  // Returns the head's length, or 0 (logged, the connection marked failed) if it cannot be formed.
  std::size_t start_response(int status, std::string_view content_type, std::uint64_t body_size,
                             std::string_view extra_headers) noexcept;
  void count_status(int status) noexcept;

  Socket sock_;
  ByteStream io_{sock_};
  HttpServerShared& sh_;
  http::RequestParser parser_;
  Phase phase_ = Phase::idle;
  bool close_after_ = false;
  bool responded_ = false;
  bool continue_sent_ = false;
  bool write_failed_ = false;
  Clock::time_point deadline_{};       // the request's (head and body), or the idle deadline
  Clock::time_point head_deadline_{};  // the request head's
  std::size_t rpos_ = 0;  // rbuf_[rpos_, rlen_) is read but not yet parsed
  std::size_t rlen_ = 0;
  char head_[kHeadBytes];
  char rbuf_[kReadBytes];
};

// What a connection beyond the pool is answered before it is closed.
inline constexpr std::string_view kHttpRefusal =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 29\r\n"
    "Connection: close\r\nRetry-After: 1\r\n\r\n{\"error\":\"connection_limit\"}\n";
static_assert(kHttpRefusal.size() - kHttpRefusal.find("\r\n\r\n") - 4 == 29, "Content-Length must match the body");

// The acceptor and the connection pool. Conn derives from HttpConn and is constructible from
// (HttpConn::Socket&&, HttpServerShared&, Ctx&): Ctx is whatever the handler needs (a service).
template <typename Conn, typename Ctx, std::uint32_t N>
class HttpServer final : public AcceptOwner {
 public:
  using ConnPool = Pool<Conn, N>;

  // `pool_name` names the connection pool in the registry (and so in /metrics and `pools`); it
  // must outlive the server.
  HttpServer(TaskPoolBase& tasks, Ctx& ctx, HttpServerOptions opts, std::string_view pool_name) noexcept
      : ctx_(ctx), conns_(pool_name),
        acc_(tasks, *this, AcceptCounters{shared_.stats.accepted, shared_.stats.refused, shared_.stats.closes}) {
    shared_.opts = opts;
  }

  ConnPool& pool() noexcept { return conns_; }
  const HttpServerStats& stats() const noexcept { return shared_.stats; }
  Acceptor& acceptor() noexcept { return acc_; }  // its Handshake hook makes it a TLS listener

  // Binds the listener. Errors: from open/bind/listen (address in use, bad address).
  std::error_code listen(const asio::ip::tcp::endpoint& ep) { return acc_.listen_tcp(ep); }
  std::uint16_t port() const { return acc_.port(); }

  // Spawns the accept loop; each connection runs as a task named conn_task_name. Both names
  // must be string literals. Errors: false if no task slot.
  bool start(const char* accept_task_name, const char* conn_task_name) {
    conn_task_name_ = conn_task_name;
    return acc_.start(accept_task_name);
  }

  // Stops accepting; idle keep-alive connections close, requests in progress finish.
  void stop() noexcept {
    shared_.stopping = true;
    acc_.stop();
    conns_.for_each_live([](Conn& c) { c.interrupt_idle(); });
  }

  Admission admit(Acceptor& from, StreamSocket& s) noexcept override {
    return from.admit_to(conns_, conn_task_name_, s, shared_, ctx_);
  }
  std::string_view refusal() noexcept override { return kHttpRefusal; }

 private:
  Ctx& ctx_;
  HttpServerShared shared_;
  ConnPool conns_;
  Acceptor acc_;
  const char* conn_task_name_ = "http_conn";
};

}  // namespace bh
