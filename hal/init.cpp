// PID-1 seams: raw syscalls, no policy.
#include "hal/init.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace bh::hal {
namespace {
int err() noexcept { return errno ? errno : EIO; }

// An AF_INET datagram socket for the interface ioctls; closed by the guard.
struct IoctlSocket {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ~IoctlSocket() {
    if (fd >= 0) ::close(fd);
  }
};

bool copy_ifname(char (&dst)[IFNAMSIZ], const char* name) noexcept {
  if (std::strlen(name) >= IFNAMSIZ) return false;
  std::strncpy(dst, name, IFNAMSIZ - 1);
  dst[IFNAMSIZ - 1] = '\0';
  return true;
}

void set_sin(sockaddr& sa, std::uint32_t addr) noexcept {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = addr;
  std::memcpy(&sa, &sin, sizeof sin);
}
}  // namespace

bool is_pid1() noexcept { return ::getpid() == 1; }

int make_dirs(const char* path, unsigned mode) noexcept {
  char buf[4096];
  std::size_t n = std::strlen(path);
  if (n == 0 || n >= sizeof buf) return EINVAL;
  std::memcpy(buf, path, n + 1);
  for (std::size_t i = 1; i <= n; ++i) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char saved = buf[i];
    buf[i] = '\0';
    if (::mkdir(buf, mode) != 0 && errno != EEXIST) return err();
    buf[i] = saved;
  }
  return 0;
}

int mount_fs(const char* source, const char* target, const char* fstype, unsigned long flags,
             const char* data) noexcept {
  if (int e = make_dirs(target); e != 0) return e;
  if (::mount(source, target, fstype, flags, data) == 0) return 0;
  return errno == EBUSY ? 0 : err();
}

int unmount(const char* target) noexcept { return ::umount2(target, 0) == 0 ? 0 : err(); }

int attach_console(const char* dev) noexcept {
  bool missing = false;
  for (int fd = 0; fd <= 2; ++fd) missing |= ::fcntl(fd, F_GETFD) < 0;
  if (!missing) return 0;
  int fd = ::open(dev, O_RDWR | O_NOCTTY);
  if (fd < 0) return err();
  for (int i = 0; i <= 2; ++i) {
    if (fd != i) ::dup2(fd, i);
  }
  if (fd > 2) ::close(fd);
  return 0;
}

int set_echo(int fd, bool on) noexcept {
  termios t{};
  if (::tcgetattr(fd, &t) != 0) return errno == ENOTTY ? 0 : err();
  if (on) {
    t.c_lflag |= ECHO | ECHOE | ECHOK;
  } else {
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHOE | ECHOK | ECHONL);
  }
  return ::tcsetattr(fd, TCSANOW, &t) == 0 ? 0 : err();
}

int set_output_crlf(int fd) noexcept {
  termios t{};
  if (::tcgetattr(fd, &t) != 0) return errno == ENOTTY ? 0 : err();
  t.c_oflag |= OPOST | ONLCR;
  return ::tcsetattr(fd, TCSANOW, &t) == 0 ? 0 : err();
}

int load_module(const char* path, const char* params) noexcept {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return err();
  long r = ::syscall(SYS_finit_module, fd, params ? params : "", 0);
  int e = r == 0 ? 0 : err();
  ::close(fd);
  return e == EEXIST ? 0 : e;
}

bool interface_exists(const char* ifname) noexcept { return ::if_nametoindex(ifname) != 0; }

int link_up(const char* ifname) noexcept {
  IoctlSocket s;
  if (s.fd < 0) return err();
  ifreq ifr{};
  if (!copy_ifname(ifr.ifr_name, ifname)) return ENAMETOOLONG;
  if (::ioctl(s.fd, SIOCGIFFLAGS, &ifr) != 0) return err();
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  return ::ioctl(s.fd, SIOCSIFFLAGS, &ifr) == 0 ? 0 : err();
}

int set_ipv4(const char* ifname, std::uint32_t addr, unsigned prefix_len) noexcept {
  if (prefix_len > 32) return EINVAL;
  IoctlSocket s;
  if (s.fd < 0) return err();
  ifreq ifr{};
  if (!copy_ifname(ifr.ifr_name, ifname)) return ENAMETOOLONG;
  set_sin(ifr.ifr_addr, addr);
  if (::ioctl(s.fd, SIOCSIFADDR, &ifr) != 0) return err();
  std::uint32_t mask = prefix_len == 0 ? 0 : htonl(~std::uint32_t{0} << (32 - prefix_len));
  set_sin(ifr.ifr_netmask, mask);
  return ::ioctl(s.fd, SIOCSIFNETMASK, &ifr) == 0 ? 0 : err();
}

int add_default_route(const char* ifname, std::uint32_t gw) noexcept {
  IoctlSocket s;
  if (s.fd < 0) return err();
  char dev[IFNAMSIZ];
  if (!copy_ifname(dev, ifname)) return ENAMETOOLONG;
  rtentry rt{};
  set_sin(rt.rt_dst, 0);
  set_sin(rt.rt_genmask, 0);
  set_sin(rt.rt_gateway, gw);
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  rt.rt_dev = dev;
  if (::ioctl(s.fd, SIOCADDRT, &rt) == 0) return 0;
  return errno == EEXIST ? 0 : err();
}

bool parse_ipv4(const std::string& s, std::uint32_t& out) noexcept {
  in_addr a{};
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  out = a.s_addr;
  return true;
}

int set_hostname(const char* name) noexcept {
  return ::sethostname(name, std::strlen(name)) == 0 ? 0 : err();
}

int reap_children(pid_t watch, bool* watch_exited, int* watch_status) noexcept {
  int n = 0;
  for (;;) {
    int st = 0;
    pid_t p = ::waitpid(-1, &st, WNOHANG);
    if (p <= 0) break;
    ++n;
    if (p == watch) {
      if (watch_exited) *watch_exited = true;
      if (watch_status) *watch_status = st;
    }
  }
  return n;
}

std::uint64_t boot_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1'000'000;
}

std::string read_text(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0 || out.size() > 64 * 1024) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\0')) out.pop_back();
  return out;
}

bool path_exists(const char* path) noexcept {
  struct stat st{};
  return ::stat(path, &st) == 0;
}

int power_off(bool restart) noexcept {
  ::sync();
  if (::reboot(restart ? RB_AUTOBOOT : RB_POWER_OFF) == 0) return 0;
  return err();
}

}  // namespace bh::hal
