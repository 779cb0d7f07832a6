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
#include "platform/transport/acceptor.hpp"

namespace bh::console {

using Acceptor = asio::basic_socket_acceptor<asio::local::stream_protocol, Executor>;
using UnixSocket = asio::basic_stream_socket<asio::local::stream_protocol, Executor>;

// Binds and listens on the Unix socket `path` as a control socket (UnixListenOptions::owner_only:
// mode 0600, parents created, a stale file replaced). Errors: errc::address_in_use if a running
// process accepts on it, errc::file_exists if `path` is something other than a socket, errors of
// mkdir/bind/listen. Notes: start-up only (may allocate).
std::error_code bind_control_socket(Acceptor& acc, const std::string& path);
// A new PTY (raw): fd = its master end, slave_path = what an operator opens. Errors: errno values.
std::error_code open_pty_fd(int& fd, std::string& slave_path);
// The serial line `device` at `baud`, raw 8N1. Errors: errno values (EINVAL: a non-standard baud).
std::error_code open_serial_fd(int& fd, const std::string& device, std::uint32_t baud);

template <std::uint32_t N>
class ConsoleServer final : public AcceptOwner {
 public:
  using SessionPool = Pool<ConsoleSession, N>;
  using Lease = typename SessionPool::Lease;

  ConsoleServer(TaskPoolBase& tasks, const CommandTable& table, void* user, SessionOptions opts,
                std::string_view pool_name = "console_session") noexcept
      : tasks_(tasks), sessions_(pool_name),
        acceptor_(tasks, *this, AcceptCounters{shared_.stats.accepted, shared_.stats.refused, shared_.stats.closes}),
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
  const std::string& socket_path() const noexcept { return acceptor_.unix_path(); }

  // The control socket: mode 0600, missing parent directories created, a stale socket file
  // (nobody accepting) replaced. Errors: errc::address_in_use if a running process accepts on
  // it, errc::file_exists if `path` is something other than a socket, errors of
  // mkdir/bind/listen. Notes: start-up only (may allocate).
  std::error_code listen_unix(const std::string& path) {
    return acceptor_.listen_unix(path, UnixListenOptions{.owner_only = true});
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
    ok = acceptor_.start("console_accept") && ok;
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
    acceptor_.stop();
    for (Lease& l : fixed_) l.reset();
    sessions_.for_each_live([](ConsoleSession& s) { s.interrupt(); });
  }

  // A control-socket connection: a session slot, its descriptor, its task.
  Admission admit(bh::Acceptor& from, StreamSocket& s) noexcept override {
    Lease lease = sessions_.try_acquire(tasks_.executor(), shared_, Backend::socket);
    if (!lease) {
      if (from.evict_for(sessions_)) return Admission::evicting;
      log::warn("console: session refused, all {} sessions in use", sessions_.limit());
      return Admission::refused;
    }
    std::error_code rel;
    const int fd = s.release(rel);
    if (rel || fd < 0) return Admission::dropped;
    if (lease->attach(fd)) return Admission::dropped;  // the fd is closed; the lease returns the slot
    if (tasks_.spawn("console_session", [&] { return serve(std::move(lease)); })) return Admission::started;
    return Admission::refused;  // no task slot: the session's destructor closes the connection
  }
  std::string_view refusal() noexcept override {
    auto r = fmt::format_to_n(refusal_, sizeof refusal_,
                              "error: console busy: all {} sessions in use, try again later\n", sessions_.limit());
    return std::string_view(refusal_, r.size < sizeof refusal_ ? r.size : sizeof refusal_);
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

  static Task<void> serve(Lease lease) {
    co_await lease->run();
    bh::Acceptor::release(lease);
  }

  TaskPoolBase& tasks_;
  ConsoleShared shared_;
  SessionPool sessions_;
  bh::Acceptor acceptor_;
  // Constructing a descriptor creates Asio's descriptor service: here, at start-up, not in the
  // first session after the runtime is sealed (that would be a heap allocation).
  ConsoleSession::Descriptor descriptor_service_;
  char refusal_[96];
  std::array<Lease, 3> fixed_;  // PTY, serial, stdio sessions opened but not yet started
};

}  // namespace bh::console
