// systemd notification (sd_notify protocol) without libsystemd: one AF_UNIX datagram socket,
// opened once and kept, and one sendto(2) per message to the service manager's socket
// ("/run/..." path, or "@name" in the abstract namespace). Messages are "KEY=value" lines:
// READY=1, WATCHDOG=1, STATUS=..., STOPPING=1. Sending never blocks (a full receiver drops the
// datagram, counted). Not the policy of when to send: that is the watchdog's.
// Not thread-safe; allocation-free after open().
#pragma once
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string_view>
#include <system_error>

namespace bh::hal {

class Notifier {
 public:
  Notifier() = default;
  ~Notifier() { close(); }
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Opens the socket for `address`: an absolute path, or '@' followed by an abstract name.
  // Errors: std::errc::invalid_argument (empty, too long, relative), errno codes of socket(2).
  // Notes: the receiver need not exist yet; a missing receiver shows as send errors.
  std::error_code open(std::string_view address) noexcept;
  void close() noexcept;
  bool is_open() const noexcept { return fd_ >= 0; }

  // Sends one datagram (one or more "KEY=value" lines). Errors: EBADF when not open, errno codes
  // of sendto(2) (ENOENT/ECONNREFUSED: no receiver, EAGAIN: receiver full). Counted.
  std::error_code send(std::string_view message) noexcept;
  std::error_code ready() noexcept { return send("READY=1"); }
  std::error_code watchdog() noexcept { return send("WATCHDOG=1"); }
  std::error_code stopping() noexcept { return send("STOPPING=1"); }
  // Sends "STATUS=<text>" (text cut at 200 bytes, newlines replaced by spaces).
  std::error_code status(std::string_view text) noexcept;

  std::uint64_t sent() const noexcept { return sent_; }
  std::uint64_t errors() const noexcept { return errors_; }

 private:
  int fd_ = -1;
  sockaddr_un addr_{};
  socklen_t addr_len_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t errors_ = 0;
};

}  // namespace bh::hal
