// ConsoleServer helpers: the control socket file, PTY and serial descriptors.
#include "platform/console/server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "hal/uart.hpp"

namespace bh::console {
namespace {
std::error_code sys_error(int e) { return {e, std::system_category()}; }

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
}  // namespace

unsigned long path_inode(const std::string& path) noexcept {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? static_cast<unsigned long>(st.st_ino) : 0;
}

std::error_code bind_control_socket(Acceptor& acc, const std::string& path) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un{}.sun_path)) return make_error_code(std::errc::filename_too_long);
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
  asio::local::stream_protocol::endpoint ep(path);
  acc.open(ep.protocol(), ec);
  if (ec) return ec;
  // 0600 from the start: no moment where another user could connect (umask is process-wide,
  // and this runs at start-up on the only thread).
  mode_t old = ::umask(0177);
  acc.bind(ep, ec);
  ::umask(old);
  if (!ec && ::chmod(path.c_str(), 0600) != 0) ec = sys_error(errno);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::error_code ig;
    acc.close(ig);
  }
  return ec;
}

void unlink_control_socket(const std::string& path, unsigned long inode) noexcept {
  if (inode != 0 && path_inode(path) == inode) ::unlink(path.c_str());
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
