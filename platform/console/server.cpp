// ConsoleServer helpers: PTY and serial descriptors.
#include "platform/console/server.hpp"

#include "hal/uart.hpp"

namespace bh::console {
namespace {
std::error_code sys_error(int e) { return {e, std::system_category()}; }
}  // namespace

std::error_code bind_control_socket(Acceptor& acc, const std::string& path) {
  int fd = -1;
  if (auto ec = listen_unix_fd(path, UnixListenOptions{.owner_only = true}, fd)) return ec;
  std::error_code ec;
  acc.assign(asio::local::stream_protocol(), fd, ec);
  if (ec) ::close(fd);
  return ec;
}

std::error_code open_pty_fd(int& fd, std::string& slave_path) {
  char name[128];
  if (int e = hal::open_pty(fd, name, sizeof name)) return sys_error(e);
  slave_path = name;
  return {};
}

std::error_code open_serial_fd(int& fd, const std::string& device, std::uint32_t baud) {
  if (int e = hal::open_serial(device.c_str(), baud, fd)) return sys_error(e);
  return {};
}

}  // namespace bh::console
