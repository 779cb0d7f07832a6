// Init mode: bulkhead as PID 1 of a device or QEMU image (`/init` of the initramfs, or `init=`).
// `bulkhead init [--config FILE]`, or any start as PID 1, does:
//   1. the PID-1 duties (hal/init.hpp): mount /dev (devtmpfs), /proc, /sys, /run, /tmp, devpts;
//      attach the kernel's console as stdin/stdout/stderr; load the driver modules listed in
//      /etc/bulkhead/modules.load (finit_module); bring up `lo` and the network device; mount the
//      data disk or a tmpfs at /var/lib/bulkhead for the store;
//   2. the normal run, in a child process, with /etc/bulkhead/bulkhead.toml if present, else the
//      embedded default with its state moved under /var/lib/bulkhead. Unless the config names a
//      serial or stdio console, the console engine gets the kernel's console device (the serial
//      line, see place_console);
//   3. while it runs: reap every child, turn SIGTERM/SIGPWR into SIGTERM for the runtime (the
//      console's `shutdown` stops the runtime itself);
//   4. when the runtime exits: sync, unmount, and power off (reboot when asked to, or after a
//      failure when bulkhead.on_failure=reboot).
// Device settings come from the kernel command line (bulkhead.KEY=VALUE), because the config file
// is the runtime's and has no place for them: see parse_kernel_cmdline.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "firmware/config.hpp"

namespace bh {

inline constexpr std::string_view kInitConfigPath = "/etc/bulkhead/bulkhead.toml";
inline constexpr std::string_view kInitStateDir = "/var/lib/bulkhead";
inline constexpr std::string_view kInitModulesList = "/etc/bulkhead/modules.load";

struct InitOptions {
  std::string config;                // bulkhead.config=FILE (default kInitConfigPath)
  std::string modules;               // bulkhead.modules=FILE (default kInitModulesList)
  std::string net_if = "eth0";       // bulkhead.net=IF[,ADDR/PREFIX[,GATEWAY]]
  std::string net_addr;              //   empty: the link is brought up without an address
  unsigned net_prefix = 24;
  std::string net_gateway;
  std::string data_dev;              // bulkhead.data=DEV[,FSTYPE]: the store's disk; empty = tmpfs
  std::string data_fs = "ext4";
  std::string store_size = "64m";    // bulkhead.store_size=SIZE: the tmpfs size (mount syntax)
  std::string hostname = "bulkhead"; // bulkhead.hostname=NAME
  bool echo = true;                  // bulkhead.echo=0: no echo on the serial console
  bool reboot_on_failure = false;    // bulkhead.on_failure=reboot|poweroff
  std::string console;               // bulkhead.console=/dev/DEV|none; empty: the kernel's console
  // bulkhead.test_watchdog=KEY=V[,KEY=V]: BH_TEST_WATCHDOG for the runtime (BH_TEST_HOOKS builds
  // only, e.g. stall_ms=60000 to stall the reactor and see the hardware watchdog reset the board).
  std::string test_watchdog;
  // bulkhead.test_ack_before_sync=1: BH_TEST_ACK_BEFORE_SYNC=1 for the runtime (BH_TEST_HOOKS
  // builds only): a deliberately broken committer that acks before the fsync, for the power-cut
  // test's self-check (toolchain/image/power_cut.py).
  bool test_ack_before_sync = false;
  bool operator==(const InitOptions&) const = default;
};

// Reads the bulkhead.* words of a kernel command line; other words are ignored. Unknown
// bulkhead.* keys and malformed values are described in `warnings` (the defaults stay).
InitOptions parse_kernel_cmdline(std::string_view cmdline, std::vector<std::string>* warnings = nullptr);

// For a config that did not come from a file: the store, the audit log and the control socket
// move under state_dir / run_dir (the embedded default's paths are relative to the cwd).
void place_state_under(Config& c, std::string_view state_dir, std::string_view run_dir);

// The device behind /dev/console from /sys/class/tty/console/active ("tty1 ttyAMA0": the last
// word is the kernel's preferred console): "/dev/ttyAMA0", or "" when the list is empty.
std::string kernel_console_device(std::string_view active_consoles);

// Where the console engine's serial session goes when init runs the runtime. A config that names
// `[console] serial` or `stdio` decides itself; otherwise bulkhead.console=DEV, or none with
// bulkhead.console=none, or else the kernel's console (active_consoles as above). Returns the
// device now in c.console.serial ("" = no serial console).
std::string place_console(Config& c, const InitOptions& o, std::string_view active_consoles);

// One line of /etc/bulkhead/modules.load: "PATH [PARAMS...]"; blank lines and '#' comments are
// skipped (false).
bool parse_module_line(std::string_view line, std::string& path, std::string& params);

// `bulkhead init ...` and PID 1. argv is main's (argv[1] may be "init"). As PID 1 it never returns
// normally: it powers off or reboots. Not PID 1: exits 2 with a message.
int init_main(int argc, char** argv);

}  // namespace bh
