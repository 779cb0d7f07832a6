// LoadGen implementation: one ppoll loop over every connection.
#include "tests/bench/pipeline/load_gen.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string_view>

#include "tests/bench/pipeline/bench_sink.hpp"

namespace bh::bench {
namespace {

std::uint64_t now_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// A 200-byte JSON object; "c" (2 digits) and "i" (12 digits) are overwritten per line.
constexpr std::string_view kHead = "{\"c\":\"00\",\"i\":\"000000000000\",\"device\":\"sensor-17\",\"kind\":\"temperature\","
                                   "\"unit\":\"C\",\"values\":[21.5,21.6,21.4],\"ok\":true,\"tags\":{\"site\":\"lab\",\"rack\":7},"
                                   "\"pad\":\"";
constexpr std::string_view kTail = "\"}";
constexpr std::size_t kConnAt = 6;  // offset of the 2 digits of "c"
constexpr std::size_t kLineAt = 15; // offset of the 12 digits of "i"
static_assert(kHead.size() + kTail.size() < LoadGen::kEventBytes);
static_assert(kHead.substr(kConnAt - 1, 1) == "\"" && kHead.substr(kLineAt - 1, 1) == "\"");

void put_digits(char* p, std::uint64_t v, int width) noexcept {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

void write_event(char* p, std::uint32_t conn, std::uint64_t line) noexcept {
  static const std::string kTemplate = [] {
    std::string t(kHead);
    t.append(LoadGen::kEventBytes - kHead.size() - kTail.size(), 'x');
    t.append(kTail);
    t.push_back('\n');
    return t;
  }();
  std::memcpy(p, kTemplate.data(), LoadGen::kLineBytes);
  put_digits(p + kConnAt, conn, 2);
  put_digits(p + kLineAt, line, 12);
}

// A connection answered `err busy` sends nothing new for this long (it keeps reading replies).
constexpr std::uint64_t kBusyPauseNs = 10'000'000;

bool parse_u64(std::string_view s, std::uint64_t& v) {
  if (s.empty() || s.size() > 19) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

}  // namespace

struct LoadGen::Conn {
  int fd = -1;
  std::uint32_t idx = 0;
  std::uint64_t queued = 0;      // lines written into `out` (their line numbers are 0..queued-1)
  std::uint64_t bytes_sent = 0;  // cumulative
  std::uint64_t replies = 0;     // replies received (ok or err), cumulative
  std::uint64_t last_seq = 0;
  std::uint64_t phase_queued = 0;
  std::uint64_t pause_until = 0;  // after `err busy`: hold off new lines until then
  std::vector<char> out;
  std::size_t out_off = 0;
  std::vector<char> in;
  std::size_t in_len = 0;
  std::vector<std::uint64_t> t_sent, t_sched;  // rings indexed by line & mask
  std::uint64_t mask = 0;
  std::uint64_t sent_lines() const { return bytes_sent / kLineBytes; }
  std::uint64_t in_flight() const { return queued - replies; }
  bool has_output() const { return out_off < out.size(); }
};

std::string LoadGen::event_text(std::uint32_t conn, std::uint64_t line) {
  std::string s(kLineBytes, ' ');
  write_event(s.data(), conn, line);
  s.pop_back();
  return s;
}

LoadGen::LoadGen(std::uint32_t connections, std::uint32_t window) : n_(connections), window_(window) {
  acked_tags_.assign(1 << 20, 0);
}

LoadGen::~LoadGen() {
  for (Conn* c : conns_) {
    if (c->fd >= 0) ::close(c->fd);
    delete c;
  }
}

bool LoadGen::connect(std::uint16_t port, std::string& err) {
  std::uint64_t ring = 1;
  while (ring < 2ull * window_) ring <<= 1;
  for (std::uint32_t i = 0; i < n_; ++i) {
    auto* c = new Conn;
    conns_.push_back(c);
    c->idx = i;
    c->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = ::connect(c->fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (r != 0 && errno == EINPROGRESS) {
      pollfd p{c->fd, POLLOUT, 0};
      int soerr = 0;
      socklen_t len = sizeof soerr;
      r = (::poll(&p, 1, 5000) == 1 && ::getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0) ? 0 : -1;
    }
    if (r != 0) {
      err = "load: connect failed: " + std::string(std::strerror(errno));
      return false;
    }
    int one = 1;
    ::setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->mask = ring - 1;
    c->t_sent.assign(ring, 0);
    c->t_sched.assign(ring, 0);
    c->out.reserve(std::size_t{window_} * kLineBytes);
    c->in.resize(1 << 16);
  }
  return true;
}

PhaseResult LoadGen::run(const PhaseOptions& o, const std::function<std::uint64_t()>& sink_distinct) {
  PhaseResult res;
  const std::uint64_t t_start = now_ns();
  const std::uint64_t t_win0 = t_start + static_cast<std::uint64_t>(o.warmup_seconds * 1e9);
  std::uint64_t t_win1 = t_win0 + static_cast<std::uint64_t>(o.seconds * 1e9);  // earlier at max_events
  const double per_conn_rate = o.rate > 0 ? o.rate / n_ : 0;      // lines/s per connection
  const double slot_ns = per_conn_rate > 0 ? 1e9 / per_conn_rate : 0;
  bool in_window = false, sending = true;
  std::uint64_t sink0 = 0, t_drain0 = 0;
  if (per_conn_rate > 0) res.lat_sched_ns.reserve(static_cast<std::size_t>(o.rate * o.seconds * 1.1));
  res.lat_ns.reserve(static_cast<std::size_t>(std::max(1.0, o.rate > 0 ? o.rate : 150'000.0) * o.seconds * 1.1));
  res.sent_ns.reserve(res.lat_ns.capacity());
  for (Conn* c : conns_) c->phase_queued = 0;
  std::vector<pollfd> fds(n_);

  auto fail = [&](std::string why) {
    if (res.failure.empty()) res.failure = std::move(why);
  };

  auto flush = [&](Conn& c) {
    while (c.has_output()) {
      const std::uint64_t t = now_ns();
      ssize_t w = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
          fail("load: send on connection " + std::to_string(c.idx) + ": " + std::strerror(errno));
        return;
      }
      const std::uint64_t before = c.sent_lines();
      c.bytes_sent += static_cast<std::uint64_t>(w);
      c.out_off += static_cast<std::size_t>(w);
      for (std::uint64_t ln = before; ln < c.sent_lines(); ++ln) {
        c.t_sent[ln & c.mask] = t;
        if (per_conn_rate > 0 && in_window && t > c.t_sched[ln & c.mask] + 1'000'000) ++res.behind_schedule;
      }
    }
    c.out.clear();
    c.out_off = 0;
  };

  auto on_replies = [&](Conn& c) {
    for (;;) {
      ssize_t r = ::recv(c.fd, c.in.data() + c.in_len, c.in.size() - c.in_len, 0);
      if (r == 0) {
        fail("load: bulkhead closed connection " + std::to_string(c.idx));
        return;
      }
      if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
          fail("load: recv on connection " + std::to_string(c.idx) + ": " + std::strerror(errno));
        return;
      }
      c.in_len += static_cast<std::size_t>(r);
      const std::uint64_t t = now_ns();
      const bool count = t >= t_win0 && t < t_win1;
      std::string_view data(c.in.data(), c.in_len);
      std::size_t used = 0;
      for (;;) {
        std::size_t nl = data.find('\n', used);
        if (nl == std::string_view::npos) break;
        std::string_view line = data.substr(used, nl - used);
        used = nl + 1;
        const std::uint64_t ln = c.replies++;
        if (ln >= c.sent_lines()) {
          fail("load: a reply arrived before its line was sent (connection " + std::to_string(c.idx) + ")");
          continue;
        }
        if (line.substr(0, 3) == "ok ") {
          std::uint64_t seq = 0;
          if (!parse_u64(line.substr(3), seq) || seq <= c.last_seq) {
            fail("load: bad or non-increasing seq in '" + std::string(line) + "'");
            continue;
          }
          c.last_seq = seq;
          if (seq >= acked_tags_.size()) acked_tags_.resize(std::max<std::size_t>(acked_tags_.size() * 2, seq + 1), 0);
          acked_tags_[seq] = make_tag(c.idx, ln);
          ++acked_total_;
          if (count) {
            ++res.acked;
            res.lat_ns.push_back(t - c.t_sent[ln & c.mask]);
            res.sent_ns.push_back(c.t_sent[ln & c.mask]);
            if (per_conn_rate > 0) res.lat_sched_ns.push_back(t - c.t_sched[ln & c.mask]);
          }
        } else if (line.substr(0, 4) == "err ") {
          if (line.substr(4, 5) == "busy ") c.pause_until = t + kBusyPauseNs;  // back off like a real producer
          if (count) {
            ++res.errors;
            if (line.substr(4, 5) == "busy ") ++res.err_busy;
            else if (line.substr(4, 8) == "storage ") ++res.err_storage;
            else ++res.err_other;
          }
          if (line.substr(4, 5) != "busy " && line.substr(4, 8) != "storage ")
            fail("load: unexpected refusal '" + std::string(line) + "'");
        } else {
          fail("load: unexpected reply '" + std::string(line) + "'");
        }
      }
      std::memmove(c.in.data(), c.in.data() + used, c.in_len - used);
      c.in_len -= used;
    }
  };

  while (res.failure.empty()) {
    std::uint64_t now = now_ns();
    if (!in_window && now >= t_win0) {
      in_window = true;
      sink0 = sink_distinct();
    }
    if (sending && (now >= t_win1 || (o.max_events && in_window && res.acked >= o.max_events))) {
      sending = false;
      t_win1 = now;
      res.sink_in_window = sink_distinct() - sink0;
      res.window_s = static_cast<double>(now - t_win0) / 1e9;
      t_drain0 = now;
    }
    if (!sending) {
      bool idle = true;
      for (Conn* c : conns_) idle = idle && c->in_flight() == 0;
      if (idle) {
        res.drained = true;
        break;
      }
      if (now - t_drain0 > static_cast<std::uint64_t>(o.drain_seconds * 1e9)) break;
    }
    std::uint64_t next_due = ~0ull;
    for (Conn* c : conns_) {
      if (!sending) break;
      std::uint64_t room = window_ - c->in_flight();
      std::uint64_t want = room;
      if (per_conn_rate > 0) {
        // Connection i's slots are offset by i/n of a slot: the producers take turns (at 100 ev/s over
        // 8 connections one line every 10 ms, not 8 at once every 80 ms).
        const std::uint64_t c_start = t_start + static_cast<std::uint64_t>(slot_ns * c->idx / n_);
        const auto due = now < c_start ? 0 : static_cast<std::uint64_t>(static_cast<double>(now - c_start) / slot_ns) + 1;
        want = std::min(room, due > c->phase_queued ? due - c->phase_queued : 0);
        if (room > want) {
          next_due = std::min(next_due, c_start + static_cast<std::uint64_t>(static_cast<double>(c->phase_queued + want) * slot_ns));
        }
      }
      if (c->pause_until > now) {
        next_due = std::min(next_due, c->pause_until);
        want = 0;
      }
      if (want == 0) continue;
      std::size_t at = c->out.size();
      c->out.resize(at + want * kLineBytes);
      for (std::uint64_t k = 0; k < want; ++k) {
        const std::uint64_t ln = c->queued++;
        write_event(c->out.data() + at + k * kLineBytes, c->idx, ln);
        c->t_sched[ln & c->mask] =
            per_conn_rate > 0 ? t_start + static_cast<std::uint64_t>(slot_ns * c->idx / n_ + static_cast<double>(c->phase_queued) * slot_ns) : 0;
        ++c->phase_queued;
      }
      if (in_window) res.sent += want;
      flush(*c);
    }
    // Sleep until a reply, writable space, the next scheduled line or a window edge.
    std::uint64_t wake = now + 100'000'000;
    if (next_due != ~0ull) wake = std::min(wake, next_due);
    if (!in_window) wake = std::min(wake, t_win0);
    if (sending) wake = std::min(wake, t_win1);
    std::uint64_t wait = wake > now ? wake - now : 0;
    timespec ts{static_cast<time_t>(wait / 1'000'000'000u), static_cast<long>(wait % 1'000'000'000u)};
    for (std::uint32_t i = 0; i < n_; ++i)
      fds[i] = pollfd{conns_[i]->fd, static_cast<short>(POLLIN | (conns_[i]->has_output() ? POLLOUT : 0)), 0};
    int r = ::ppoll(fds.data(), n_, &ts, nullptr);
    if (r < 0 && errno != EINTR) {
      fail(std::string("load: ppoll: ") + std::strerror(errno));
      break;
    }
    for (std::uint32_t i = 0; r > 0 && i < n_; ++i) {
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) on_replies(*conns_[i]);
      if (fds[i].revents & POLLOUT) flush(*conns_[i]);
    }
  }
  if (res.window_s == 0) res.window_s = o.seconds;
  res.drain_s = static_cast<double>(now_ns() - (t_drain0 ? t_drain0 : now_ns())) / 1e9;
  return res;
}

}  // namespace bh::bench
