// TestSink implementation.
#include "tests/support/test_sink.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <sstream>

#include "tests/support/poll.hpp"

namespace bh::test {

std::string SinkRequest::header(const std::string& name) const {
  for (auto& [n, v] : headers)
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      return v;
  return {};
}

std::uint64_t envelope_seq(const std::string& line) {
  auto p = line.find("\"seq\":");
  return p == std::string::npos ? 0 : std::stoull(line.substr(p + 6));
}

TestSink::TestSink(std::function<SinkAnswer(std::size_t, const SinkRequest&)> script, std::uint16_t port)
    : script_(std::move(script)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  ::listen(listen_fd_, 64);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TestSink::~TestSink() { stop(); }

void TestSink::stop() {
  if (stop_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> l(mu_);  // a delay's wait sees stop_ or gets the notify
  }
  stopping_.notify_all();
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : conn_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
}

void TestSink::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++conns_total_;
    std::lock_guard<std::mutex> l(mu_);
    conn_fds_.push_back(fd);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void TestSink::serve(int fd) {
  bool counted = true;
  int c = ++conc_;
  int m = max_conc_.load();
  while (c > m && !max_conc_.compare_exchange_weak(m, c)) {
  }
  std::string buf;
  auto fill = [&](std::size_t want) {  // read until buf has `want` bytes; false on EOF/stop
    while (buf.size() < want) {
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, 50);
      if (stop_) return false;
      if (r <= 0) continue;
      char tmp[65536];
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(n));
    }
    return true;
  };
  for (;;) {
    std::size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos)
      if (!fill(buf.size() + 1)) goto out;
    {
      SinkRequest req;
      req.at = std::chrono::steady_clock::now();
      std::istringstream head(buf.substr(0, end));
      std::string line;
      std::getline(head, line);
      std::istringstream start(line);
      start >> req.method >> req.target;
      std::size_t clen = 0;
      while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon), value = line.substr(colon + 2);
        req.headers.emplace_back(name, value);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        if (name == "content-length") clen = std::stoull(value);
        if (name == "content-type") req.content_type = value;
        if (name == "bulkhead-first-seq") req.first_seq = std::stoull(value);
        if (name == "bulkhead-last-seq") req.last_seq = std::stoull(value);
      }
      if (!fill(end + 4 + clen)) goto out;
      std::string body = buf.substr(end + 4, clen);
      buf.erase(0, end + 4 + clen);
      req.body = body;
      std::istringstream bs(body);
      while (std::getline(bs, line))
        if (!line.empty()) req.lines.push_back(line);
      std::size_t n;
      {
        std::lock_guard<std::mutex> l(mu_);
        n = requests_.size();
        requests_.push_back(req);
      }
      SinkAnswer a = script_ ? script_(n, req) : SinkAnswer{};
      if (a.delay.count()) {
        std::unique_lock<std::mutex> l(mu_);
        stopping_.wait_for(l, a.delay, [this] { return stop_.load(); });
      }
      if (a.drop || stop_) goto out;
      if (a.status >= 200 && a.status < 300) {
        std::lock_guard<std::mutex> l(mu_);
        for (auto& ln : req.lines) delivered_.push_back(envelope_seq(ln));
      }
      // 204 No Content carries no body and no Content-Length (a Discord webhook's answer).
      const std::string answer_body = a.status == 204 ? "" : a.body.empty() ? "ok" : a.body;
      std::string resp = "HTTP/1.1 " + std::to_string(a.status) + " X\r\n" +
                         (a.status == 204 ? "" : "Content-Length: " + std::to_string(answer_body.size()) + "\r\n") +
                         a.headers + (a.keep_alive ? "" : "Connection: close\r\n") + "\r\n" + answer_body;
      // A closing answer ends the connection for the client as soon as it is read: it may connect
      // again before this thread gets to `out`, so it stops counting as concurrent first.
      if (!a.keep_alive) counted = false, --conc_;
      ::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL);
      if (!a.keep_alive) goto out;
    }
  }
out:
  if (counted) --conc_;
  {
    std::lock_guard<std::mutex> l(mu_);
    conn_fds_.erase(std::remove(conn_fds_.begin(), conn_fds_.end(), fd), conn_fds_.end());
  }
  ::close(fd);
}

std::vector<std::uint64_t> TestSink::delivered_seqs() const {
  std::lock_guard<std::mutex> l(mu_);
  return delivered_;
}
std::vector<SinkRequest> TestSink::requests() const {
  std::lock_guard<std::mutex> l(mu_);
  return requests_;
}
std::size_t TestSink::request_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return requests_.size();
}

bool TestSink::wait_delivered(std::size_t n, std::chrono::milliseconds timeout) {
  return poll_until([&] {
    std::lock_guard<std::mutex> l(mu_);
    return delivered_.size() >= n;
  }, timeout, std::chrono::milliseconds(10));
}

}  // namespace bh::test
