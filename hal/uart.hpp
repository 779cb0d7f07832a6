// UART seams: a serial line opened raw (termios: no echo, no line editing, no output processing,
// 8N1, no flow control, the given speed) and a pseudo-terminal whose slave end plays the part of
// a serial line for QEMU and development. Thin wrappers over the syscalls returning 0 or an errno
// value; they open descriptors and configure them, nothing else. Linux only.
#pragma once
#include <cstddef>
#include <cstdint>

namespace bh::hal {

// The termios speed constant for `baud` (e.g. 115200 -> B115200); false if it is not a standard
// speed Linux names.
bool baud_constant(std::uint32_t baud, unsigned& speed) noexcept;

// Opens `path` read-write, non-blocking, close-on-exec, not as the controlling tty, and sets it
// raw 8N1 at `baud` with CLOCAL (modem lines ignored). fd = the open descriptor on success.
// Errors: EINVAL for a non-standard baud; errno of open/tcgetattr/tcsetattr (ENOTTY for a file
// that is not a terminal). On error nothing stays open.
int open_serial(const char* path, std::uint32_t baud, int& fd) noexcept;

// Creates a pseudo-terminal: master = its master end (non-blocking, close-on-exec), slave_path =
// the slave's device path (e.g. /dev/pts/3, NUL-terminated). The slave is set raw (no echo, no
// line editing, no CR/LF translation) so a terminal program attached to it talks to the master
// byte for byte. Errors: errno of posix_openpt/grantpt/unlockpt/ptsname_r/tcsetattr; ERANGE if
// `cap` is too small. On error nothing stays open.
int open_pty(int& master, char* slave_path, std::size_t cap) noexcept;

}  // namespace bh::hal
