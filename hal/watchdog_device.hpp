// Hardware watchdog seam: a device that resets the board unless it is fed within its timeout.
// WatchdogDevice is the interface the watchdog engine feeds (tests inject a counting fake);
// LinuxWatchdogDevice drives /dev/watchdog through the kernel's watchdog API (ioctl). This is
// not the health logic (platform/observe/watchdog_checks.hpp decides when to feed), only the device.
// Not thread-safe; allocation-free after construction.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace bh::hal {

class WatchdogDevice {
 public:
  virtual ~WatchdogDevice() = default;
  // Opens (and thereby arms) the device and asks for `timeout`. `effective` receives the
  // timeout the driver accepted (drivers round), or zero if it cannot be known.
  // Errors: errno codes from open(2) (ENOENT: no such device, EBUSY: already open). A driver
  // that refuses the timeout is not an error: the device stays open with its own timeout.
  // Notes: once open, the device must be fed or closed with the magic character, or the board resets.
  virtual std::error_code open(std::chrono::seconds timeout, std::chrono::seconds& effective) noexcept = 0;
  // Feeds the device. Errors: errno codes of the keepalive (EBADF when not open).
  virtual std::error_code keepalive() noexcept = 0;
  // Closes the device. magic = true writes 'V' first: a clean shutdown that disarms the timer
  // (unless the driver is built with nowayout). magic = false leaves it armed: the board resets.
  virtual void close(bool magic) noexcept = 0;
  virtual bool is_open() const noexcept = 0;
};

// /dev/watchdog (or any watchdog character device) through WDIOC_SETTIMEOUT / WDIOC_KEEPALIVE.
// Example: LinuxWatchdogDevice dev("/dev/watchdog"); dev.open(15s, eff); ... dev.keepalive();
class LinuxWatchdogDevice final : public WatchdogDevice {
 public:
  explicit LinuxWatchdogDevice(std::string path) : path_(std::move(path)) {}
  ~LinuxWatchdogDevice() override { close(false); }
  LinuxWatchdogDevice(const LinuxWatchdogDevice&) = delete;
  LinuxWatchdogDevice& operator=(const LinuxWatchdogDevice&) = delete;

  std::error_code open(std::chrono::seconds timeout, std::chrono::seconds& effective) noexcept override;
  std::error_code keepalive() noexcept override;
  void close(bool magic) noexcept override;
  bool is_open() const noexcept override { return fd_ >= 0; }
  const std::string& path() const noexcept { return path_; }
  // The error of WDIOC_SETTIMEOUT at open (success if the driver accepted a timeout).
  std::error_code timeout_error() const noexcept { return timeout_error_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::error_code timeout_error_{};
};

}  // namespace bh::hal
