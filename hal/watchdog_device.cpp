// /dev/watchdog through the Linux watchdog API (Documentation/watchdog/watchdog-api.rst).
#include "hal/watchdog_device.hpp"

#include <fcntl.h>
#include <linux/watchdog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

namespace bh::hal {
namespace {
std::error_code last_error() noexcept { return {errno, std::generic_category()}; }
}  // namespace

std::error_code LinuxWatchdogDevice::open(std::chrono::seconds timeout, std::chrono::seconds& effective) noexcept {
  effective = std::chrono::seconds::zero();
  if (fd_ >= 0) return std::make_error_code(std::errc::device_or_resource_busy);
  int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return last_error();
  fd_ = fd;
  int secs = static_cast<int>(timeout.count());
  timeout_error_ = {};
  if (::ioctl(fd_, WDIOC_SETTIMEOUT, &secs) == 0) {
    effective = std::chrono::seconds(secs);  // the driver writes back what it accepted
  } else {
    timeout_error_ = last_error();
    int cur = 0;
    if (::ioctl(fd_, WDIOC_GETTIMEOUT, &cur) == 0) effective = std::chrono::seconds(cur);
  }
  return {};
}

std::error_code LinuxWatchdogDevice::keepalive() noexcept {
  if (fd_ < 0) return std::make_error_code(std::errc::bad_file_descriptor);
  int dummy = 0;
  if (::ioctl(fd_, WDIOC_KEEPALIVE, &dummy) != 0) return last_error();
  return {};
}

void LinuxWatchdogDevice::close(bool magic) noexcept {
  if (fd_ < 0) return;
  if (magic) {
    ssize_t n;
    do n = ::write(fd_, "V", 1);
    while (n < 0 && errno == EINTR);
  }
  ::close(fd_);
  fd_ = -1;
}

}  // namespace bh::hal
