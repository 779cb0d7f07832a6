// Serial line and PTY opening: termios raw mode, speeds.
#include "hal/uart.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bh::hal {
namespace {
struct BaudRow {
  std::uint32_t baud;
  speed_t speed;
};
constexpr BaudRow kBauds[] = {
    {300, B300},         {600, B600},         {1200, B1200},       {2400, B2400},       {4800, B4800},
    {9600, B9600},       {19200, B19200},     {38400, B38400},     {57600, B57600},     {115200, B115200},
    {230400, B230400},   {460800, B460800},   {500000, B500000},   {576000, B576000},   {921600, B921600},
    {1000000, B1000000}, {1152000, B1152000}, {1500000, B1500000}, {2000000, B2000000}, {2500000, B2500000},
    {3000000, B3000000}, {3500000, B3500000}, {4000000, B4000000},
};

int fail(int fd) noexcept {
  int e = errno ? errno : EIO;
  if (fd >= 0) ::close(fd);
  return e;
}
}  // namespace

bool baud_constant(std::uint32_t baud, unsigned& speed) noexcept {
  for (const BaudRow& r : kBauds) {
    if (r.baud == baud) {
      speed = r.speed;
      return true;
    }
  }
  return false;
}

int open_serial(const char* path, std::uint32_t baud, int& fd) noexcept {
  unsigned speed = 0;
  if (!baud_constant(baud, speed)) return EINVAL;
  int f = ::open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (f < 0) return fail(-1);
  termios t{};
  if (::tcgetattr(f, &t) != 0) return fail(f);
  ::cfmakeraw(&t);
  t.c_cflag &= ~static_cast<tcflag_t>(CSIZE | PARENB | CSTOPB | CRTSCTS);
  t.c_cflag |= CS8 | CLOCAL | CREAD;
  t.c_iflag &= ~static_cast<tcflag_t>(IXON | IXOFF | IXANY);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  if (::cfsetispeed(&t, speed) != 0 || ::cfsetospeed(&t, speed) != 0) return fail(f);
  if (::tcsetattr(f, TCSANOW, &t) != 0) return fail(f);
  ::tcflush(f, TCIOFLUSH);
  fd = f;
  return 0;
}

int open_pty(int& master, char* slave_path, std::size_t cap) noexcept {
  int m = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) return fail(-1);
  if (::grantpt(m) != 0 || ::unlockpt(m) != 0) return fail(m);
  if (int e = ::ptsname_r(m, slave_path, cap); e != 0) {
    ::close(m);
    return e;
  }
  // Termios calls on the master act on the slave: raw, so neither end's line discipline echoes
  // or translates (without this the slave would echo our own output back to us).
  termios t{};
  if (::tcgetattr(m, &t) != 0) return fail(m);
  ::cfmakeraw(&t);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  if (::tcsetattr(m, TCSANOW, &t) != 0) return fail(m);
  int fl = ::fcntl(m, F_GETFL);
  if (fl < 0 || ::fcntl(m, F_SETFL, fl | O_NONBLOCK) != 0) return fail(m);
  master = m;
  return 0;
}

}  // namespace bh::hal
