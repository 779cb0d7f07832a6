// sd_notify over a raw AF_UNIX SOCK_DGRAM socket (see sd_notify(3) for the protocol).
#include "hal/notify.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace bh::hal {

std::error_code Notifier::open(std::string_view address) noexcept {
  close();
  if (address.empty() || (address[0] != '/' && address[0] != '@') || address.size() >= sizeof addr_.sun_path)
    return std::make_error_code(std::errc::invalid_argument);
  addr_ = {};
  addr_.sun_family = AF_UNIX;
  std::memcpy(addr_.sun_path, address.data(), address.size());
  if (address[0] == '@') addr_.sun_path[0] = '\0';  // abstract namespace: no trailing NUL counted
  addr_len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + (address[0] == '@' ? 0 : 1));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return {errno, std::generic_category()};
  fd_ = fd;
  return {};
}

void Notifier::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::error_code Notifier::send(std::string_view message) noexcept {
  if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  ssize_t n;
  do n = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    ++errors_;
    return {errno, std::generic_category()};
  }
  ++sent_;
  return {};
}

std::error_code Notifier::status(std::string_view text) noexcept {
  char buf[7 + 200];
  std::memcpy(buf, "STATUS=", 7);
  std::size_t n = text.size() < 200 ? text.size() : 200;
  for (std::size_t i = 0; i < n; ++i) buf[7 + i] = (text[i] == '\n' || text[i] == '\r') ? ' ' : text[i];
  return send(std::string_view(buf, 7 + n));
}

}  // namespace bh::hal
