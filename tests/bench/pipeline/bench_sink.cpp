// BenchSink implementation: blocking HTTP/1.1 keep-alive server, envelope bookkeeping.
#include "tests/bench/pipeline/bench_sink.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace bh::bench {
namespace {

bool parse_u64(std::string_view s, std::uint64_t& v) {
  if (s.empty() || s.size() > 19) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

bool iequal_prefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char a = line[i], b = name[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// The seq and producer tag of one envelope line; false if it does not look like one.
// {"seq":N,"ts":T,"source":"...","data":{"c":"CC","i":"IIIIIIIIIIII",...}}
bool parse_envelope(std::string_view line, std::uint64_t& seq, std::uint64_t& tag) {
  constexpr std::string_view kSeq = "{\"seq\":";
  if (line.substr(0, kSeq.size()) != kSeq) return false;
  std::size_t end = line.find(',', kSeq.size());
  if (end == std::string_view::npos || !parse_u64(line.substr(kSeq.size(), end - kSeq.size()), seq) || seq == 0)
    return false;
  constexpr std::string_view kData = "\"data\":{\"c\":\"";
  std::size_t d = line.find(kData, end);
  if (d == std::string_view::npos) return false;
  d += kData.size();
  constexpr std::string_view kI = "\",\"i\":\"";
  std::uint64_t c = 0, i = 0;
  if (line.size() < d + 2 + kI.size() + 12 || !parse_u64(line.substr(d, 2), c) ||
      line.substr(d + 2, kI.size()) != kI || !parse_u64(line.substr(d + 2 + kI.size(), 12), i))
    return false;
  tag = make_tag(static_cast<std::uint32_t>(c), i);
  return true;
}

}  // namespace

bool BenchSink::start(std::string& err) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 16) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    err = std::string("sink: cannot listen: ") + std::strerror(errno);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    return false;
  }
  port_ = ntohs(a.sin_port);
  tags_.assign(1 << 20, 0);
  acceptor_ = std::thread([this] { accept_loop(); });
  return true;
}

void BenchSink::stop() {
  if (stop_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> ts;
  {
    std::lock_guard lk(mu_);
    ts.swap(threads_);
  }
  for (auto& t : ts) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

SinkTotals BenchSink::totals() const {
  std::lock_guard lk(mu_);
  return totals_;
}

std::vector<std::uint64_t> BenchSink::tags() const {
  std::lock_guard lk(mu_);
  return tags_;
}

void BenchSink::accept_loop() {
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lk(mu_);
    ++totals_.connections;
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void BenchSink::record_body(const char* p, std::size_t n) {
  std::lock_guard lk(mu_);
  ++totals_.requests;
  std::string_view body(p, n);
  std::uint64_t added = 0;
  while (!body.empty()) {
    std::size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl == std::string_view::npos ? body.size() : nl + 1);
    if (line.empty()) continue;
    std::uint64_t seq = 0, tag = 0;
    if (!parse_envelope(line, seq, tag)) {
      ++totals_.bad_lines;
      continue;
    }
    ++totals_.envelopes;
    if (seq >= tags_.size()) tags_.resize(std::max<std::size_t>(tags_.size() * 2, seq + 1), 0);
    if (tags_[seq] != 0) {
      ++totals_.duplicates;
      if (tags_[seq] != tag) ++totals_.tag_mismatch;
      continue;
    }
    if (seq < totals_.max_seq) ++totals_.out_of_order;
    tags_[seq] = tag;
    totals_.max_seq = std::max(totals_.max_seq, seq);
    ++added;
  }
  totals_.distinct += added;
  distinct_.fetch_add(added, std::memory_order_relaxed);
}

void BenchSink::serve(int fd) {
  std::vector<char> buf(2 << 20);
  std::size_t have = 0;
  static constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  static constexpr std::string_view kBad = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  while (!stop_.load()) {
    // Head.
    std::size_t head_end = std::string_view::npos;
    for (;;) {
      head_end = std::string_view(buf.data(), have).find("\r\n\r\n");
      if (head_end != std::string_view::npos || stop_.load()) break;
      if (have == buf.size()) buf.resize(buf.size() * 2);
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t r = ::recv(fd, buf.data() + have, buf.size() - have, 0);
      if (r <= 0) {
        ::close(fd);
        return;
      }
      have += static_cast<std::size_t>(r);
    }
    if (head_end == std::string_view::npos) break;
    std::string_view head(buf.data(), head_end);
    std::uint64_t clen = 0;
    bool has_len = false, ndjson = false;
    const bool post = head.substr(0, 5) == "POST ";
    while (!head.empty()) {
      std::size_t nl = head.find("\r\n");
      std::string_view h = head.substr(0, nl);
      head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 2);
      if (iequal_prefix(h, "content-length:")) has_len = parse_u64(trim(h.substr(15)), clen);
      if (iequal_prefix(h, "content-type:")) ndjson = trim(h.substr(13)) == "application/x-ndjson";
    }
    const std::size_t body_at = head_end + 4;
    if (!post || !has_len || !ndjson) {
      {
        std::lock_guard lk(mu_);
        ++totals_.bad_requests;
      }
      send_all(fd, kBad.data(), kBad.size());
      break;
    }
    // Body.
    if (body_at + clen > buf.size()) buf.resize(body_at + clen);
    while (have < body_at + clen && !stop_.load()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t r = ::recv(fd, buf.data() + have, buf.size() - have, 0);
      if (r <= 0) {
        ::close(fd);
        return;
      }
      have += static_cast<std::size_t>(r);
    }
    if (have < body_at + clen) break;
    record_body(buf.data() + body_at, clen);
    if (!send_all(fd, kOk.data(), kOk.size())) break;
    const std::size_t used = body_at + clen;
    std::memmove(buf.data(), buf.data() + used, have - used);
    have -= used;
  }
  ::close(fd);
}

}  // namespace bh::bench
