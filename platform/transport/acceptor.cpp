// Acceptor: binding (TCP, Unix), the accept loop, and the refusal of a connection with no slot.
#include "platform/transport/acceptor.hpp"
#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"

#include <asio/local/stream_protocol.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "platform/net/endpoint.hpp"
#include "platform/util/log.hpp"

namespace bh {
namespace {
std::error_code sys_error(int e) { return {e, std::system_category()}; }

unsigned long path_inode(const std::string& path) noexcept {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? static_cast<unsigned long>(st.st_ino) : 0;
}

// True if a process accepts connections on the Unix socket `path` right now.
bool someone_listens(const std::string& path) noexcept {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size() < sizeof sa.sun_path ? path.size() : sizeof sa.sun_path - 1);
  bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return live;
}

// Clears the way for a control socket at `path` (see UnixListenOptions::owner_only).
std::error_code prepare_owner_only(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return ec;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return make_error_code(std::errc::file_exists);
    if (someone_listens(path)) return make_error_code(std::errc::address_in_use);
    ::unlink(path.c_str());  // stale: its process is gone
  }
  return {};
}
}  // namespace

void refuse_connection(StreamSocket& s, std::string_view line) noexcept {
  std::error_code ec;
  s.non_blocking(true, ec);
  s.write_some(asio::buffer(line.data(), line.size()), ec);
  char sink[512];
  while (!ec) s.read_some(asio::buffer(sink), ec);
  s.shutdown(asio::socket_base::shutdown_both, ec);
  s.close(ec);
}

Acceptor::Acceptor(TaskPoolBase& tasks, AcceptOwner& owner, AcceptCounters counters) noexcept
    : tasks_(tasks), owner_(owner), counters_(counters), acc_(tasks.executor()), spare_(tasks.executor()) {}

Acceptor::~Acceptor() {
  if (looping_) log::error("acceptor destroyed with its accept task still live (stop and drain first)");
  stop();
}

std::error_code Acceptor::listen_tcp(const asio::ip::tcp::endpoint& ep) {
  BH_ASSERT(on_reactor_thread());
  const asio::generic::stream_protocol::endpoint gep(ep);
  std::error_code ec;
  acc_.open(gep.protocol(), ec);
  if (!ec) acc_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc_.bind(gep, ec);
  if (!ec) acc_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::error_code ig;
    acc_.close(ig);
  }
  return ec;
}

std::error_code Acceptor::listen(std::string_view address) {
  asio::ip::tcp::endpoint ep;
  if (!parse_listen(address, ep)) return make_error_code(std::errc::invalid_argument);
  return listen_tcp(ep);
}

std::error_code listen_unix_fd(const std::string& path, UnixListenOptions o, int& fd) {
  sockaddr_un sa{};
  if (path.empty() || path.size() >= sizeof sa.sun_path) return make_error_code(std::errc::filename_too_long);
  if (o.owner_only) {
    if (auto ec = prepare_owner_only(path)) return ec;
  } else {
    ::unlink(path.c_str());
  }
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return sys_error(errno);
  // Owner-only: 0600 from the start, no moment where another user could connect (umask is
  // process-wide, and this runs at start-up on the only thread).
  const mode_t old = o.owner_only ? ::umask(0177) : 0;
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  const int bind_errno = errno;
  if (o.owner_only) ::umask(old);
  std::error_code ec;
  if (rc != 0) ec = sys_error(bind_errno);
  if (!ec && o.owner_only && ::chmod(path.c_str(), 0600) != 0) ec = sys_error(errno);
  if (!ec && ::listen(fd, SOMAXCONN) != 0) ec = sys_error(errno);
  if (ec) {
    ::close(fd);
    fd = -1;
  }
  return ec;
}

std::error_code Acceptor::listen_unix(const std::string& path, UnixListenOptions o) {
  BH_ASSERT(on_reactor_thread());
  int fd = -1;
  if (auto ec = listen_unix_fd(path, o, fd)) return ec;
  std::error_code ec;
  acc_.assign(asio::generic::stream_protocol(AF_UNIX, 0), fd, ec);
  if (ec) {
    ::close(fd);
    return ec;
  }
  unix_path_ = path;
  unix_inode_ = path_inode(path);
  return {};
}

std::uint16_t Acceptor::port() const noexcept {
  if (!acc_.is_open()) return 0;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(const_cast<Listener&>(acc_).native_handle(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
  return 0;
}

bool Acceptor::start(const char* task_name) {
  BH_ASSERT(on_reactor_thread());
  return !acc_.is_open() || tasks_.spawn(task_name, [this] { return accept_loop(); });
}

void Acceptor::stop() noexcept {
  BH_ASSERT(on_reactor_thread());
  stopping_ = true;
  std::error_code ec;
  acc_.close(ec);  // a pending accept completes with operation_aborted: the loop ends
  if (!unix_path_.empty()) {
    if (unix_inode_ != 0 && path_inode(unix_path_) == unix_inode_) ::unlink(unix_path_.c_str());
    unix_path_.clear();
  }
}

Task<void> Acceptor::accept_loop() {
  looping_ = true;
  while (!stopping_) {
    auto [ec, n] = co_await async_op([&](auto h) { acc_.async_accept(spare_, std::move(h)); },
                                     [&] {
                                       std::error_code ig;
                                       acc_.cancel(ig);
                                     });
    (void)n;
    if (stopping_ || ec == asio::error::operation_aborted || cancelled()) break;
    if (ec) {
      // EMFILE/ENFILE and friends: back off briefly rather than spin.
      ++stats_.accept_errors;
      co_await sleep_for(kAcceptBackoff);
      continue;
    }
    ++counters_.accepted;
    Admission a = owner_.admit(*this, spare_);
    // Eviction: a stalled connection is leaving; its slot comes back within a reactor turn or two.
    const Clock::time_point until = Clock::now() + eviction_.wait;
    while (a == Admission::evicting) {
      const Clock::duration left = until - Clock::now();
      if (left <= Clock::duration::zero()) {
        ++stats_.eviction_waits_timed_out;
        a = Admission::refused;
        break;
      }
      (void)co_await freed_.wait(left);
      if (stopping_ || cancelled()) break;
      a = owner_.admit(*this, spare_);
    }
    if (stopping_ || cancelled()) break;
    if (a != Admission::refused) continue;
    ++counters_.refused;
    refuse_connection(spare_, owner_.refusal());
  }
  std::error_code ig;
  spare_.close(ig);
  looping_ = false;
}

}  // namespace bh
