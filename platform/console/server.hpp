// ConsoleServer: the console's backends and its session pool. Any of them may be enabled: the
// control Unix socket (mode 0600; one session per connection, `bulkhead console` attaches to it),
// a PTY it creates (for QEMU and development), a serial line (raw 8N1), and stdin/stdout. Every
// session is a slot of one pool; a socket connection beyond it is told so and closed, and the
// PTY, serial and stdio sessions each hold a slot for as long as the server runs. The server
// knows nothing of the commands: it is given a CommandTable and an opaque `user` pointer.
// Reactor thread only.
#pragma once
#include <asio/local/stream_protocol.hpp>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "platform/console/session.hpp"
#include "platform/util/log.hpp"
#include "platform/core/pool.hpp"
#include "platform/core/task.hpp"

namespace bh::console {

using Acceptor = asio::basic_socket_acceptor<asio::local::stream_protocol, Executor>;
using UnixSocket = asio::basic_stream_socket<asio::local::stream_protocol, Executor>;

// Binds and listens on the Unix socket `path`, mode 0600, creating missing parent directories.
// A stale socket file (nobody accepting) is replaced. Errors: errc::address_in_use if a running
// process accepts on it, errc::file_exists if `path` is something other than a socket, errors of
// mkdir/bind/listen. Notes: start-up only (may allocate).
std::error_code bind_control_socket(Acceptor& acc, const std::string& path);
// The inode of `path` (0 if it does not exist).
unsigned long path_inode(const std::string& path) noexcept;
// Removes the socket file if it is still the one we bound (same inode).
void unlink_control_socket(const std::string& path, unsigned long inode) noexcept;
// A new PTY (raw): fd = its master end, slave_path = what an operator opens. Errors: errno values.
std::error_code open_pty_fd(int& fd, std::string& slave_path);
// The serial line `device` at `baud`, raw 8N1. Errors: errno values (EINVAL: a non-standard baud).
std::error_code open_serial_fd(int& fd, const std::string& device, std::uint32_t baud);

template <std::uint32_t N>
class ConsoleServer {
 public:
  using SessionPool = Pool<ConsoleSession, N>;
  using Lease = typename SessionPool::Lease;

  ConsoleServer(TaskPoolBase& tasks, const CommandTable& table, void* user, SessionOptions opts,
                std::string_view pool_name = "console_session") noexcept
      : tasks_(tasks), sessions_(pool_name), acceptor_(tasks.executor()), spare_(tasks.executor()),
        descriptor_service_(tasks.executor()) {
    shared_.table = &table;
    shared_.user = user;
    shared_.opts = opts;
    // A peer that vanished must come back as EPIPE from a write, not kill the process (sessions
    // write to sockets and stdout as plain descriptors). The reactor does the same.
    std::signal(SIGPIPE, SIG_IGN);
  }
  ConsoleServer(const ConsoleServer&) = delete;
  ConsoleServer& operator=(const ConsoleServer&) = delete;
  ~ConsoleServer() { stop(); }

  SessionPool& pool() noexcept { return sessions_; }
  const ConsoleStats& stats() const noexcept { return shared_.stats; }
  const std::string& socket_path() const noexcept { return socket_path_; }

  // The control socket. Errors: see bind_control_socket.
  std::error_code listen_unix(const std::string& path) {
    std::error_code ec = bind_control_socket(acceptor_, path);
    if (ec) return ec;
    socket_path_ = path;
    socket_inode_ = path_inode(path);
    return {};
  }
  // A new PTY; its slave path is returned (log it: that is what an operator opens).
  // Errors: errno values of hal::open_pty, errc::pool_exhausted if no session slot is free.
  std::error_code open_pty(std::string& slave_path) {
    int fd = -1;
    if (auto ec = open_pty_fd(fd, slave_path)) return ec;
    return open_fixed(Backend::pty, fd);
  }
  // The serial line `device` at `baud`, raw 8N1. Errors: errno values of hal::open_serial
  // (EINVAL: a baud rate Linux has no constant for), errc::pool_exhausted.
  std::error_code open_serial(const std::string& device, std::uint32_t baud) {
    int fd = -1;
    if (auto ec = open_serial_fd(fd, device, baud)) return ec;
    return open_fixed(Backend::serial, fd);
  }
  // stdin/stdout (borrowed, never closed). Errors: errc::pool_exhausted, registration errors.
  std::error_code open_stdio(int in_fd = 0, int out_fd = 1) {
    Lease l = sessions_.try_acquire(tasks_.executor(), shared_, Backend::stdio);
    if (!l) return make_error_code(errc::pool_exhausted);
    if (auto ec = l->attach_stdio(in_fd, out_fd)) return ec;
    return keep(std::move(l));
  }

  // Spawns the accept loop and the PTY/serial/stdio sessions. Errors: false if a task slot
  // could not be had.
  bool start() {
    bool ok = true;
    if (acceptor_.is_open()) ok = tasks_.spawn("console_accept", [this] { return accept_loop(); }) && ok;
    for (Lease& l : fixed_) {
      if (!l) continue;
      ok = tasks_.spawn("console_session", [&] { return serve(std::move(l)); }) && ok;
      l.reset();  // (only if the spawn failed: a moved-from lease is already empty)
    }
    return ok;
  }

  // Shutdown: stop accepting, remove the socket file, interrupt idle sessions (an answer being
  // written is finished first). Idempotent.
  void stop() noexcept {
    shared_.stopping = true;
    std::error_code ec;
    acceptor_.close(ec);
    if (!socket_path_.empty()) {
      unlink_control_socket(socket_path_, socket_inode_);
      socket_path_.clear();
    }
    for (Lease& l : fixed_) l.reset();
    sessions_.for_each_live([](ConsoleSession& s) { s.interrupt(); });
  }

 private:
  std::error_code open_fixed(Backend b, int fd) {
    Lease l = sessions_.try_acquire(tasks_.executor(), shared_, b);
    if (!l) {
      ::close(fd);
      return make_error_code(errc::pool_exhausted);
    }
    if (auto ec = l->attach(fd)) return ec;
    return keep(std::move(l));
  }

  std::error_code keep(Lease l) {
    for (Lease& f : fixed_) {
      if (!f) {
        f = std::move(l);
        return {};
      }
    }
    return make_error_code(errc::pool_exhausted);
  }

  Task<void> accept_loop() {
    while (!shared_.stopping) {
      auto [ec, n] = co_await async_op([&](auto h) { acceptor_.async_accept(spare_, std::move(h)); },
                                       [&] {
                                         std::error_code ig;
                                         acceptor_.cancel(ig);
                                       });
      (void)n;
      if (shared_.stopping || ec == asio::error::operation_aborted || cancelled()) break;
      if (ec) {
        // EMFILE/ENFILE and friends: back off briefly rather than spin.
        co_await sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      std::error_code rel;
      int fd = spare_.release(rel);
      if (rel || fd < 0) continue;
      ++shared_.stats.accepted;
      Lease lease = sessions_.try_acquire(tasks_.executor(), shared_, Backend::socket);
      if (!lease) {
        ++shared_.stats.refused;
        log::warn("console: session refused, all {} sessions in use", sessions_.limit());
        refuse_session(fd, sessions_.limit());
        continue;
      }
      if (lease->attach(fd)) continue;  // the fd is closed; the lease returns the slot
      if (tasks_.spawn("console_session", [&] { return serve(std::move(lease)); })) continue;
      ++shared_.stats.refused;
      lease.reset();  // no task slot: the session's destructor closes the connection
    }
  }

  static Task<void> serve(Lease lease) { co_await lease->run(); }

  TaskPoolBase& tasks_;
  ConsoleShared shared_;
  SessionPool sessions_;
  Acceptor acceptor_;
  UnixSocket spare_;
  // Constructing a descriptor creates Asio's descriptor service: here, at start-up, not in the
  // first session after the runtime is sealed (that would be a heap allocation).
  ConsoleSession::Descriptor descriptor_service_;
  std::string socket_path_;
  unsigned long socket_inode_ = 0;
  std::array<Lease, 3> fixed_;  // PTY, serial, stdio sessions opened but not yet started
};

}  // namespace bh::console
