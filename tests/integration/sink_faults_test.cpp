// docs/wire.md §2 against the real binary and a misbehaving plain-HTTP sink: answers that are not HTTP
// (a greeting, a TLS alert, random bytes, a bad status), responses cut short (FIN or RST in the
// status line, the head or the body), and bad or oversized heads and bodies over the sink's
// max_response_bytes, each followed by a sink that behaves again. For every fault: bulkhead does
// not crash, sends the SAME batch again (nothing newer first), closes the broken connection and
// never writes to it again (the fake sink numbers its connections), and once the sink behaves
// every acked event has been answered 2xx exactly once, in seq order (the broken batch may have
// reached the sink more than once). The census ends each test: bulkhead's FDs and sink slots back
// at the baseline taken after a warm-up delivery, the test's FDs back at theirs, exit 0 on SIGTERM
// with every pool at zero. Besides: interim (1xx) responses before the final one, idle kept-alive
// connections the sink answered or closed meanwhile (not reused), and the same 1xx handling for the
// http_poll source (the fake sink answers its GETs too).
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.hpp"
#include "tests/support/scoped_env.hpp"
#include "tests/support/test_sink.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- a sink that answers raw bytes ---------------------------------------------------------------

enum class End { keep, fin, rst };  // after the answer: keep reading, half-close, or reset

struct Answer {
  std::string bytes;
  End end = End::keep;
  std::chrono::milliseconds pause{0};  // between the bytes and the end
  bool delivered = false;              // a complete 2xx status: bulkhead moves on, else resends
  bool ok = false;                     // a well-formed keep-alive 200: the connection stays usable
  int protocol = 0, io = 0, retryable = 0;  // what it adds to bulkhead_sink_*_total
  std::vector<std::string> then;          // more bytes, each `gap` after the previous (own segments)
  std::chrono::milliseconds gap{30};
  // Once the connection has been idle for `idle_after` (after `end`): these bytes, then idle_end.
  std::optional<std::string> idle;
  End idle_end = End::keep;
  std::chrono::milliseconds idle_after{100};
};

Answer ok() { return {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", End::keep, 0ms, true, true}; }
Answer bad(std::string bytes, End end = End::keep) { return {std::move(bytes), end, 0ms, false, false, 1}; }
Answer cut(std::string bytes, End end) { return {std::move(bytes), end, 50ms, false, false, 0, 1}; }
// `a`'s bytes split: the first part now, the others `gap` apart.
Answer in_parts(Answer a, std::vector<std::string> parts) {
  a.bytes = parts.front();
  a.then.assign(parts.begin() + 1, parts.end());
  return a;
}
// `a`, then on the idle connection `bytes` and `end`.
Answer then_idle(Answer a, std::string bytes, End end) {
  a.idle = std::move(bytes);
  a.idle_end = end;
  return a;
}

const std::string k200 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
std::string interims(int n, const std::string& one = "HTTP/1.1 100 Continue\r\n\r\n") {
  std::string s;
  for (int i = 0; i < n; ++i) s += one;
  return s;
}

struct Post {
  std::size_t conn = 0;  // 0-based, in accept order
  std::uint64_t first = 0, last = 0;
  std::vector<std::uint64_t> seqs;
  std::string body;
};

// Answers request n with script[n] (ok() past its end). One thread per connection.
class RawSink {
 public:
  explicit RawSink(std::vector<Answer> script) : script_(std::move(script)) {
    listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listen_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(listen_, 16) != 0 ||
        ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      ADD_FAILURE() << "sink listen failed";
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~RawSink() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : threads_) t.join();
    ::close(listen_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/in"; }
  const Answer& answer(std::size_t n) const { return n < script_.size() ? script_[n] : kOk; }
  std::size_t script_size() const { return script_.size(); }
  std::vector<Post> posts() const {
    std::lock_guard l(mu_);
    return posts_;
  }
  std::size_t connections() const {
    std::lock_guard l(mu_);
    return closed_.size();
  }
  // Answers whose idle bytes/end have been sent.
  int idle_sent() const { return idle_sent_; }
  // bulkhead closed (or reset) connection i.
  bool closed_by_bulkhead(std::size_t i) const {
    std::lock_guard l(mu_);
    return i < closed_.size() && closed_[i];
  }
  // The seqs of every post answered with a complete 2xx, in arrival order.
  std::vector<std::uint64_t> delivered() const {
    std::lock_guard l(mu_);
    std::vector<std::uint64_t> out;
    for (std::size_t n = 0; n < posts_.size(); ++n)
      if (answer(n).delivered) out.insert(out.end(), posts_[n].seqs.begin(), posts_[n].seqs.end());
    return out;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard l(mu_);
      closed_.push_back(false);
      threads_.emplace_back([this, fd, id = closed_.size() - 1] { serve(fd, id); });
    }
  }
  // Appends what arrives to buf; false on EOF, reset, or stop.
  bool fill(int fd, std::string& buf) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char tmp[16384];
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(n));
      return true;
    }
    return false;
  }
  static std::uint64_t header(std::string head, const std::string& name) {  // name in lower case
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
    auto at = head.find("\r\n" + name + ":");
    return at == std::string::npos ? 0 : std::stoull(head.substr(at + name.size() + 3));
  }
  static void send_all(int fd, const std::string& bytes) {
    for (std::size_t off = 0; off < bytes.size();) {  // bulkhead may close mid-way: stop sending
      ssize_t w = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (w <= 0) break;
      off += static_cast<std::size_t>(w);
    }
  }
  void serve(int fd, std::size_t id) {
    std::string buf;
    bool reset = false;
    int one = 1;  // parts of an answer go out as separate segments
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
      std::size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos)
        if (!fill(fd, buf)) goto out;
      const std::string head = buf.substr(0, end + 2);
      const std::size_t clen = header(head, "content-length");
      while (buf.size() < end + 4 + clen)
        if (!fill(fd, buf)) goto out;
      Post post{id, header(head, "bulkhead-first-seq"), header(head, "bulkhead-last-seq"), {},
                buf.substr(end + 4, clen)};
      std::istringstream body(buf.substr(end + 4, clen));
      buf.erase(0, end + 4 + clen);
      for (std::string line; std::getline(body, line);)
        if (!line.empty()) post.seqs.push_back(envelope_seq(line));
      std::size_t n;
      {
        std::lock_guard l(mu_);
        n = posts_.size();
        posts_.push_back(std::move(post));
      }
      const Answer& a = answer(n);
      send_all(fd, a.bytes);
      for (const std::string& part : a.then) {
        std::this_thread::sleep_for(a.gap);
        send_all(fd, part);
      }
      if (a.pause.count()) std::this_thread::sleep_for(a.pause);
      if (a.end == End::rst) {
        linger lg{1, 0};  // close() now sends RST
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        reset = true;
        goto out;
      }
      if (a.end == End::fin) ::shutdown(fd, SHUT_WR);
      if (a.idle) {
        std::this_thread::sleep_for(a.idle_after);
        send_all(fd, *a.idle);
        if (a.idle_end == End::rst) {
          linger lg{1, 0};
          ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
          reset = true;
          ++idle_sent_;
          goto out;
        }
        if (a.idle_end == End::fin) ::shutdown(fd, SHUT_WR);
        ++idle_sent_;
      }
      // Keep reading: a request arriving here after a fault is a reused broken connection.
    }
  out:
    if (!stop_ && !reset) {
      std::lock_guard l(mu_);
      closed_[id] = true;
    }
    ::close(fd);
  }

  static inline const Answer kOk = ok();
  std::vector<Answer> script_;
  int listen_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> idle_sent_{0};
  mutable std::mutex mu_;
  std::vector<Post> posts_;
  std::vector<bool> closed_;  // per connection
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// ---- bulkhead from outside -----------------------------------------------------------------------

// The value of one /metrics series (name and labels as written), -1 if absent or no answer.
double metric(Bulkhead& b, const std::string& series) {
  LineClient c;
  if (!c.connect(b.admin_port()) || !c.send("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")) return -1;
  while (auto l = c.read_line(3s))
    if (l->rfind(series + " ", 0) == 0) return std::stod(l->substr(series.size() + 1));
  return -1;
}
double sink_metric(Bulkhead& b, const std::string& name) {
  return metric(b, "bulkhead_sink_" + name + "_total{sink=\"t\"}");
}

int fd_count(int pid) {
  int n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

// bulkhead's FDs and the sink's slots in use, once no ingest connection is open any more.
struct Census {
  int fds = -1;
  double sink_slots = -1;
  bool operator==(const Census&) const = default;
};
Census census(Bulkhead& b) {
  for (auto until = Clock::now() + slow(3000ms); Clock::now() < until; std::this_thread::sleep_for(20ms))
    if (metric(b, "bulkhead_pool_in_use{pool=\"ingest_conn\"}") == 0) break;
  std::this_thread::sleep_for(50ms);  // the scrape's own connection closes on bulkhead's side too
  return {fd_count(b.child()->pid()), metric(b, "bulkhead_pool_in_use{pool=\"sink_conn.t\"}")};
}

// The leak check every test ends with: bulkhead's FDs and sink slots back at `base` (waiting up to
// 3 s for closes to land), then a clean SIGTERM exit with every pool at zero and no heap use.
void expect_back_at(Bulkhead& b, const Census& base) {
  Census now = census(b);
  for (auto until = Clock::now() + slow(3000ms); Clock::now() < until && !(now == base); now = census(b)) {
  }
  EXPECT_EQ(now.fds, base.fds) << "bulkhead's FDs are not back at the baseline";
  EXPECT_EQ(now.sink_slots, base.sink_slots) << "sink connection slots are not back at the baseline";
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << "bulkhead did not exit after SIGTERM\n" << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_NE(b.log().find("0 pool(s) not at zero"), std::string::npos) << b.log();
  EXPECT_NE(b.log().find(" 0 heap allocation(s) after seal"), std::string::npos) << b.log();
}

// ---- the run every test makes --------------------------------------------------------------------

// A warm-up event answered ok() (its keep-alive connection is part of the baseline), then 40
// events in batches of at most 4 against `faults` (answers to posts 1, 2, ...), then the checks.
// `also` runs on the live process after the checks (more metrics to check), before the census.
void run_faults(std::vector<Answer> faults, const std::string& extra_sink_keys = "",
                const std::function<void(Bulkhead&)>& also = {}) {
  CensusGuard guard;  // the test's own FDs (the sink's sockets) and pools, checked last
  faults.insert(faults.begin(), ok());
  RawSink sink(faults);
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() +
             "\"\nbatch_events = 4\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\nread_timeout = \"2s\"\n" +
             extra_sink_keys);
  ASSERT_TRUE(b.child()->running()) << b.log();
  auto want = send_events(b.ingest_port(), 1, "warm");
  for (auto until = Clock::now() + slow(10000ms); Clock::now() < until && sink.delivered().empty();)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(sink.delivered(), want) << b.log();
  const Census base = census(b);
  ASSERT_GT(base.fds, 0);
  ASSERT_EQ(base.sink_slots, 1.0) << "the warm-up's connection is kept alive";

  const auto seqs = send_events(b.ingest_port(), 40, "e");
  want.insert(want.end(), seqs.begin(), seqs.end());
  for (auto until = Clock::now() + slow(10000ms); Clock::now() < until; std::this_thread::sleep_for(10ms))
    if (sink.delivered().size() >= want.size()) break;
  ASSERT_TRUE(b.child()->running()) << "bulkhead died\n" << b.log();
  const auto posts = sink.posts();
  ASSERT_GE(posts.size(), sink.script_size()) << "fewer posts than scripted answers: not every fault was served";

  // Every acked event answered 2xx exactly once, in seq order.
  EXPECT_EQ(sink.delivered(), want) << b.log();
  // After a fault, the same batch again, on a new connection; the broken one closed by bulkhead
  // and never written to again. After a 2xx, the next batch.
  std::map<std::size_t, std::size_t> fault_on_conn;  // conn -> post that broke it
  std::size_t broken = 0, resent = 0;
  int protocol = 0, io = 0, retryable = 0;
  for (std::size_t n = 0; n < posts.size(); ++n) {
    const Post& p = posts[n];
    const Answer& a = sink.answer(n);
    ASSERT_FALSE(p.seqs.empty()) << "post " << n;
    EXPECT_EQ(p.first, p.seqs.front()) << "post " << n;
    EXPECT_EQ(p.last, p.seqs.back()) << "post " << n;
    EXPECT_TRUE(std::is_sorted(p.seqs.begin(), p.seqs.end())) << "post " << n;
    EXPECT_EQ(fault_on_conn.count(p.conn), 0u)
        << "post " << n << " reused connection " << p.conn << ", broken by post " << fault_on_conn[p.conn];
    if (!a.ok) {
      fault_on_conn[p.conn] = n;
      ++broken;
    }
    protocol += a.protocol, io += a.io, retryable += a.retryable;
    if (n + 1 == posts.size()) break;
    const Post& next = posts[n + 1];
    if (a.delivered) {
      auto at = std::find(want.begin(), want.end(), p.last);
      ASSERT_NE(at, want.end());
      ASSERT_NE(at + 1, want.end()) << "a post after the last event was delivered";
      EXPECT_EQ(next.first, *(at + 1)) << "post " << n + 1 << " is not the batch after post " << n;
    } else {
      ++resent;
      EXPECT_EQ(next.seqs, p.seqs) << "post " << n + 1 << " is not post " << n << "'s batch again";
    }
    if (!a.ok) {
      EXPECT_NE(next.conn, p.conn) << "post " << n + 1 << " on the connection post " << n << " broke";
    }
  }
  for (auto [conn, n] : fault_on_conn) {
    if (sink.answer(n).end == End::rst) continue;  // the sink closed it itself
    for (auto until = Clock::now() + slow(2000ms); Clock::now() < until && !sink.closed_by_bulkhead(conn);)
      std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(sink.closed_by_bulkhead(conn)) << "bulkhead kept connection " << conn << " open after post " << n;
  }
  // One connection for the warm-up and the good answers, one more after each fault.
  EXPECT_EQ(sink.connections(), 1 + broken);
  EXPECT_EQ(sink_metric(b, "connects"), static_cast<double>(sink.connections()));
  EXPECT_EQ(sink_metric(b, "retries"), static_cast<double>(resent));
  EXPECT_EQ(sink_metric(b, "protocol_errors"), static_cast<double>(protocol));
  EXPECT_EQ(sink_metric(b, "io_errors"), static_cast<double>(io));
  EXPECT_EQ(sink_metric(b, "http_retryable"), static_cast<double>(retryable));
  EXPECT_EQ(sink_metric(b, "read_timeouts"), 0.0) << "every fault was seen at once, not by the read deadline";
  if (also) also(b);

  // The census: back to the baseline (the last good answer's connection is kept alive, like the
  // warm-up's), then a clean exit with every pool at zero.
  expect_back_at(b, base);
}

std::string random_bytes(std::size_t n) {
  std::mt19937 rng(7);  // fixed: the same bytes every run
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// ---- the faults ----------------------------------------------------------------------------------

TEST(SinkFaults, GarbageInsteadOfAnHttpResponse) {
  run_faults({
      bad("HELLO\r\n\r\n"),  // on the warm-up's kept-alive connection
      ok(),
      // Three faults in a row on one batch: a TLS server's alert then FIN, random bytes, a NUL.
      bad(std::string("\x15\x03\x03\x00\x02\x02\x46", 7), End::fin),
      bad(random_bytes(512)),
      bad(random_bytes(512).insert(0, "\x00", 1), End::fin),
      ok(),
      bad("HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok"),  // a status that is not a number
      ok(),
      // A good answer with garbage behind it: delivered, but that connection is done.
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHELLO\r\n\r\n", End::keep, 0ms, true, false},
      ok(),
      {"SSH-2.0-OpenSSH_9.2\r\n", End::rst, 20ms, false, false, 1},  // read before the RST comes
  });
}

TEST(SinkFaults, ResponseCutShortByResetOrClose) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
  run_faults({
      cut(head + "abc", End::rst),  // 3 of 100 body bytes, then RST
      ok(),
      cut(head + "abc", End::fin),  // then FIN
      ok(),
      cut("HTTP/1.1 200 O", End::rst),  // inside the status line
      cut("HTTP/1.1 200 OK\r\nContent-Le", End::fin),  // inside the head
      ok(),
      cut("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", End::fin),  // inside a chunk
      ok(),
      {head + "abc", End::rst, 0ms, false, false, 0, 1},  // RST right behind the bytes
  });
}

// A sink that sends its answer one byte at a time, each well within read_timeout (2 s): the whole
// response's deadline (response_timeout) cuts it off, the connection is closed and the batch is
// sent again on a new one; counted as a response timeout, not a read timeout.
TEST(SinkFaults, ATrickledResponseIsCutOffByTheResponseDeadline) {
  std::vector<std::string> bytes;
  for (char ch : k200) bytes.emplace_back(1, ch);  // 40 bytes, 30 ms apart: 1.2 s in all
  Answer trickled = in_parts({"", End::keep, 0ms, false, false}, bytes);
  run_faults({trickled, ok(), trickled}, "response_timeout = \"300ms\"\n", [](Bulkhead& b) {
    EXPECT_EQ(sink_metric(b, "response_timeouts"), 2.0);
    EXPECT_EQ(metric(b, "bulkhead_sink_timeouts_total{sink=\"t\",op=\"response\"}"), 2.0);
  });
}

TEST(SinkFaults, BadOrOversizedHeadOrBodyThenBehaves) {
  // max_response_bytes is the least allowed (1 KiB): bodies past it are refused by the parser.
  const std::string kib4(4096, 'x');
  run_faults(
      {
          // A head over the parser's 8 KiB.
          bad("HTTP/1.1 200 OK\r\nX-Big: " + std::string(9000, 'h') + "\r\nContent-Length: 2\r\n\r\nok"),
          ok(),
          bad("HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok"),
          ok(),
          bad("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"),
          ok(),
          // A 5xx with a body over the limit: its status stands (retry), the connection does not.
          {"HTTP/1.1 503 Busy\r\nContent-Length: 1048576\r\n\r\n" + kib4, End::keep, 0ms, false, false, 1, 0, 1},
          {"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + kib4 + "\r\n0\r\n\r\n", End::keep, 0ms,
           false, false, 1, 0, 1},
          ok(),
          // A 200 with a read-until-close body over the limit: delivered (the status stands), but
          // the connection is closed and not reused.
          {"HTTP/1.1 200 OK\r\n\r\n" + kib4, End::keep, 0ms, true, false, 1},
          ok(),
      },
      "max_response_bytes = \"1KiB\"\n");
}

TEST(SinkFaults, InterimResponsesBeforeTheFinalOne) {
  const std::string hints = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload; as=style\r\n\r\n";
  const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
  auto skipped = [](std::string bytes) {  // interim responses skipped, then the 200: delivered, kept alive
    Answer a = ok();
    a.bytes = std::move(bytes);
    return a;
  };
  run_faults({
      // 103 Early Hints and two 100 Continue, then the 200, all in one segment.
      skipped(cont + hints + cont + k200),
      // The same, each in its own segment (the 200's head cut in two), 30 ms apart: read on.
      in_parts(ok(), {cont, hints, cont, "HTTP/1.1 200 OK\r\nConte", "nt-Length: 2\r\n\r\nok"}),
      // Exactly the cap (8) of interim responses.
      skipped(interims(7) + hints + k200),
      // One more than the cap: a protocol error, the same batch again on a new connection.
      bad(interims(9) + k200),
      ok(),
      bad(interims(8, hints) + cont),  // the 9th is the last byte: bulkhead does not wait for more
      // ... and nine spread over four segments.
      in_parts(bad(cont), {cont, interims(5), interims(3), k200}),
      ok(),
      // 101 is not an interim response: a sink cannot switch protocols.
      bad("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
      bad(cont + "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n" + k200),
      ok(),
      // An interim response and then the sink closes: the connection lost mid-response.
      {cont, End::fin, 50ms, false, false, 0, 1},
      // An interim response then a 503: retried as a 503.
      {cont + "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", End::keep, 0ms, false, true, 0, 0, 1},
  });
}

// Between two batches the sink talks on (or closes) the idle kept-alive connection: a 408 and a
// close, a reset, a 408 with the connection left open. Each time the next batch goes out on a new
// connection, is delivered once, and no retry or failure is counted: the stale connection is
// closed unused (bulkhead_sink_stale_connections_total), never read as the next batch's answer.
TEST(SinkFaults, IdleKeptAliveConnectionTheSinkGaveUpIsNotReused) {
  CensusGuard guard;
  const std::string k408 = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  RawSink sink({
      then_idle(ok(), k408, End::fin),  // the warm-up's connection (0)
      then_idle(ok(), "", End::rst),
      then_idle(ok(), "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n", End::keep),
      ok(),
  });
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() +
             "\"\nbatch_events = 4\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\nread_timeout = \"2s\"\n");
  ASSERT_TRUE(b.child()->running()) << b.log();
  std::vector<std::uint64_t> want;
  auto deliver = [&](int n, const std::string& tag) {
    const auto seqs = send_events(b.ingest_port(), n, tag);
    want.insert(want.end(), seqs.begin(), seqs.end());
    for (auto until = Clock::now() + slow(10000ms); Clock::now() < until; std::this_thread::sleep_for(10ms))
      if (sink.delivered().size() >= want.size()) break;
    ASSERT_EQ(sink.delivered(), want) << b.log();
  };
  auto sink_went_idle = [&](int n) {
    for (auto until = Clock::now() + slow(5000ms); Clock::now() < until && sink.idle_sent() < n;)
      std::this_thread::sleep_for(10ms);
    ASSERT_EQ(sink.idle_sent(), n);
    std::this_thread::sleep_for(50ms);  // the bytes, FIN or RST are at bulkhead's end
  };
  deliver(1, "warm");
  const Census base = census(b);
  ASSERT_EQ(base.sink_slots, 1.0) << "the warm-up's connection is kept alive";
  for (int round = 1; round <= 3; ++round) {
    sink_went_idle(round);
    deliver(4, "r" + std::to_string(round));
    if (HasFatalFailure()) return;
  }
  const auto posts = sink.posts();
  ASSERT_EQ(posts.size(), 4u) << "a batch was sent twice";
  for (std::size_t n = 0; n < posts.size(); ++n) EXPECT_EQ(posts[n].conn, n) << "post " << n;
  EXPECT_EQ(sink.connections(), 4u);
  for (auto until = Clock::now() + slow(2000ms); Clock::now() < until && !sink.closed_by_bulkhead(2);)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(sink.closed_by_bulkhead(0)) << "bulkhead kept the half-closed connection open";
  EXPECT_TRUE(sink.closed_by_bulkhead(2)) << "bulkhead kept the connection with the unasked-for 408 open";
  EXPECT_EQ(sink_metric(b, "stale_connections"), 3.0);
  EXPECT_EQ(sink_metric(b, "connects"), 4.0);
  EXPECT_EQ(sink_metric(b, "retries"), 0.0);
  EXPECT_EQ(sink_metric(b, "http_retryable"), 0.0);
  EXPECT_EQ(sink_metric(b, "io_errors"), 0.0);
  EXPECT_EQ(sink_metric(b, "protocol_errors"), 0.0);
  EXPECT_EQ(metric(b, "bulkhead_sink_last_http_status{sink=\"t\"}"), 200.0);

  expect_back_at(b, base);
}

// The http_poll source reads its GET answers the same way: interim responses skipped, more than
// 8 or a 101 fail the poll as a protocol error (not as an HTTP status error). The fake sink
// serves the GETs; a second one takes the deliveries.
// A config polling `feed` every 100 ms (source "feed", plus `extra_source_keys`) into sink "t" at `out`.
std::string feed_config(const RawSink& feed, const RawSink& out, const std::string& extra_source_keys = "") {
  return "[watchdog]\nmemory_budget = \"1GiB\"\n[[source]]\nname = \"feed\"\ntype = \"http_poll\"\nurl = \"" +
         feed.url() + "\"\ninterval = \"100ms\"\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n" +
         extra_source_keys + "[[sink]]\nname = \"t\"\nurl = \"" + out.url() + "\"\n";
}
// Every body the sink `out` was posted, in order.
std::string bodies_of(const RawSink& out) {
  std::string all;
  for (const Post& p : out.posts()) all += p.body;
  return all;
}

TEST(SourceHttpPollInterim, InterimResponsesAreSkippedTooManyFailThePoll) {
  CensusGuard guard;
  auto json200 = [](const std::string& body, const std::string& etag) {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: \"" + etag +
           "\"\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string hints = "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n";
  const std::string k304 = "HTTP/1.1 304 Not Modified\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  std::vector<Answer> script{
      {cont + hints + cont + json200("{\"v\":1}", "a"), End::fin},
      {interims(9) + json200("{\"v\":2}", "b"), End::fin},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", End::fin},
      in_parts({"", End::fin}, {hints, interims(7), json200("{\"v\":3}", "c")}),
  };
  for (int i = 0; i < 200; ++i) script.push_back({k304, End::fin});  // then nothing new
  RawSink feed(script);
  RawSink out({});
  Bulkhead b(feed_config(feed, out));
  ASSERT_TRUE(b.child()->running()) << b.log();
  auto bodies = [&] { return bodies_of(out); };
  for (auto until = Clock::now() + slow(10000ms); Clock::now() < until; std::this_thread::sleep_for(20ms))
    if (feed.posts().size() >= 6 && bodies().find("{\"v\":3}") != std::string::npos) break;
  const std::string all = bodies();
  EXPECT_NE(all.find("\"source\":\"feed\",\"data\":{\"v\":1}}"), std::string::npos) << all << b.log();
  EXPECT_EQ(all.find("{\"v\":2}"), std::string::npos) << all;
  EXPECT_NE(all.find("\"source\":\"feed\",\"data\":{\"v\":3}}"), std::string::npos) << all << b.log();
  EXPECT_LT(all.find("{\"v\":1}"), all.find("{\"v\":3}"));
  EXPECT_EQ(metric(b, "bulkhead_source_events_total{source=\"feed\"}"), 2.0);
  EXPECT_EQ(metric(b, "bulkhead_source_errors_total{source=\"feed\",kind=\"protocol\"}"), 2.0);
  EXPECT_EQ(metric(b, "bulkhead_source_errors_total{source=\"feed\",kind=\"http\"}"), -1.0) << "listed once non-zero";
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << "bulkhead did not exit after SIGTERM\n" << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_NE(b.log().find("0 pool(s) not at zero"), std::string::npos) << b.log();
  EXPECT_NE(b.log().find(" 0 heap allocation(s) after seal"), std::string::npos) << b.log();
}

// An http_poll feed that sends its answer one byte at a time (each byte well within read_timeout):
// response_timeout cuts the poll off (no event from it, counted), the next poll is answered whole.
TEST(SourceHttpPollTrickle, ATrickledResponseFailsThePollAtTheResponseDeadline) {
  CensusGuard guard;
  auto json200 = [](const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  std::vector<std::string> bytes;
  for (char ch : json200("{\"v\":1}")) bytes.emplace_back(1, ch);  // 30 ms apart: about 3 s in all
  const std::string k304 = "HTTP/1.1 304 Not Modified\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  std::vector<Answer> script{in_parts({"", End::fin}, bytes), {json200("{\"v\":2}"), End::fin}};
  for (int i = 0; i < 200; ++i) script.push_back({k304, End::fin});
  RawSink feed(script);
  RawSink out({});
  Bulkhead b(feed_config(feed, out, "read_timeout = \"2s\"\nresponse_timeout = \"300ms\"\n"));
  ASSERT_TRUE(b.child()->running()) << b.log();
  auto bodies = [&] { return bodies_of(out); };
  for (auto until = Clock::now() + slow(10000ms); Clock::now() < until; std::this_thread::sleep_for(20ms))
    if (bodies().find("{\"v\":2}") != std::string::npos) break;
  const std::string all = bodies();
  EXPECT_NE(all.find("\"source\":\"feed\",\"data\":{\"v\":2}}"), std::string::npos) << all << b.log();
  EXPECT_EQ(all.find("{\"v\":1}"), std::string::npos) << "the trickled answer was taken: " << all;
  EXPECT_EQ(metric(b, "bulkhead_source_events_total{source=\"feed\"}"), 1.0);
  EXPECT_EQ(metric(b, "bulkhead_source_errors_total{source=\"feed\",kind=\"response_timeout\"}"), 1.0);
  EXPECT_EQ(metric(b, "bulkhead_source_timeouts_total{source=\"feed\",op=\"response\"}"), 1.0);
  EXPECT_EQ(metric(b, "bulkhead_source_errors_total{source=\"feed\",kind=\"read_timeout\"}"), -1.0) << "listed once non-zero";
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << "bulkhead did not exit after SIGTERM\n" << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_NE(b.log().find("0 pool(s) not at zero"), std::string::npos) << b.log();
}

// A 400 whose body echoes the request path, token included (some APIs do): the dead letter's
// reason shows "***" where the token was, on the admin API and in the log (the secret registry,
// platform/util/redact.hpp, filled from the ${env:} reference in the sink's URL).
TEST(SinkFaults, DeadLetterReasonHidesAnEchoedSecret) {
  CensusGuard guard;
  const std::string token = "echo-secret-5c1d9e77";
  ScopedEnv env("BH_IT_ECHO_TOKEN", token.c_str());
  const std::string body = "{\"ok\":false,\"description\":\"no route /in/bot" + token + "/send\"}";
  RawSink sink({{"HTTP/1.1 400 Bad Request\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body}});
  Bulkhead b("[[sink]]\nname = \"t\"\nurl = \"" + sink.url() + "/bot${env:BH_IT_ECHO_TOKEN}/send\"\n");
  ASSERT_EQ(send_events(b.ingest_port(), 1, "d").size(), 1u) << b.log();
  std::string dlq;
  for (auto until = Clock::now() + slow(10000ms); Clock::now() < until; std::this_thread::sleep_for(20ms)) {
    LineClient c;
    dlq.clear();
    if (c.connect(b.admin_port()) && c.send("GET /v1/dlq HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
      while (auto l = c.read_line(3s)) dlq += *l + "\n";
    if (dlq.find("\"http_status\":400") != std::string::npos) break;
  }
  ASSERT_FALSE(sink.posts().empty());
  EXPECT_NE(dlq.find("HTTP 400: {\\\"ok\\\":false,\\\"description\\\":\\\"no route /in/bot***/send\\\"}"), std::string::npos) << dlq;
  EXPECT_EQ(dlq.find(token), std::string::npos) << dlq;
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_EQ(b.log().find(token), std::string::npos) << b.log();
}

}  // namespace
}  // namespace bh::test
