// PID-1 seams: what an init has to do on a bare kernel before the application can run (mount the
// kernel filesystems, attach the console, load driver modules, bring up interfaces), what it does
// while the application runs (reap children), and the power-off at the end. Thin wrappers over
// the syscalls, each returning 0 or an errno value; firmware/init_mode.cpp decides the policy.
// Linux only. Nothing here runs in a process that is not an init (see is_pid1()).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>

namespace bh::hal {

// True when this process is PID 1 of its PID namespace.
bool is_pid1() noexcept;

// mkdir -p with `mode` for every missing component.
int make_dirs(const char* path, unsigned mode = 0755) noexcept;
// Creates `target` and mounts there; a target that already has this filesystem mounted (EBUSY)
// counts as success.
int mount_fs(const char* source, const char* target, const char* fstype, unsigned long flags = 0,
             const char* data = nullptr) noexcept;
int unmount(const char* target) noexcept;

// If fd 0, 1 or 2 is not open (the kernel found no /dev/console in the initramfs), opens `dev`
// and makes it stdin, stdout and stderr.
int attach_console(const char* dev = "/dev/console") noexcept;
// Turns the tty's echo on or off (no-op for a non-tty fd).
int set_echo(int fd, bool on) noexcept;
// Turns on output processing with LF -> CRLF (OPOST, ONLCR) on the tty (no-op for a non-tty fd).
int set_output_crlf(int fd) noexcept;

// finit_module(2) on a .ko file; a module already loaded counts as success.
int load_module(const char* path, const char* params = "") noexcept;

bool interface_exists(const char* ifname) noexcept;
// Sets IFF_UP on the interface (SIOCSIFFLAGS).
int link_up(const char* ifname) noexcept;
// Address and netmask (SIOCSIFADDR / SIOCSIFNETMASK). addr in network byte order.
int set_ipv4(const char* ifname, std::uint32_t addr, unsigned prefix_len) noexcept;
// Default route via gw (network byte order) through ifname (SIOCADDRT).
int add_default_route(const char* ifname, std::uint32_t gw) noexcept;
// "a.b.c.d" -> network byte order. False on a malformed address.
bool parse_ipv4(const std::string& s, std::uint32_t& out) noexcept;

int set_hostname(const char* name) noexcept;

// Reaps every exited child without blocking. When `watch` exits its wait status is stored in
// *watch_status and *watch_exited is set. Returns the number of children reaped.
int reap_children(pid_t watch, bool* watch_exited, int* watch_status) noexcept;

// Milliseconds since the kernel started (CLOCK_BOOTTIME).
std::uint64_t boot_ms() noexcept;

// A small text file (e.g. /proc/cmdline), trailing newline removed; "" on error.
std::string read_text(const char* path);
bool path_exists(const char* path) noexcept;

// sync(2) then reboot(2): power off, or restart. PID 1 only; returns the errno if the kernel
// refused (the caller then exits).
int power_off(bool restart) noexcept;

}  // namespace bh::hal
