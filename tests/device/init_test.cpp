// Init mode (firmware/init_mode.hpp): the kernel command line, the module list, where the state
// goes without a config file, and that `bulkhead init` refuses to run when it is not PID 1. The
// PID-1 work itself (mounts, modules, network, power-off) is exercised by booting the image
// (toolchain/image/test_image.py, `make test-image`).
#include <gtest/gtest.h>

#include <variant>

#include "firmware/config.hpp"
#include "firmware/init_mode.hpp"
#include "tests/support/harness.hpp"

namespace bh {
namespace {

TEST(InitCmdline, DefaultsWhenNothingIsOurs) {
  std::vector<std::string> w;
  InitOptions o = parse_kernel_cmdline("console=ttyAMA0 panic=-1 quiet rdinit=/init", &w);
  EXPECT_EQ(o, InitOptions{});
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(o.net_if, "eth0");
  EXPECT_TRUE(o.net_addr.empty());
  EXPECT_TRUE(o.data_dev.empty());
  EXPECT_TRUE(o.echo);
  EXPECT_FALSE(o.reboot_on_failure);
}

TEST(InitCmdline, ReadsEveryOption) {
  std::vector<std::string> w;
  InitOptions o = parse_kernel_cmdline(
      "console=ttyAMA0 bulkhead.net=eth1,10.0.2.15/24,10.0.2.2 bulkhead.data=/dev/vda,ext4 "
      "bulkhead.store_size=32m bulkhead.hostname=pi bulkhead.echo=0 bulkhead.on_failure=reboot "
      "bulkhead.config=/etc/bulkhead/other.toml bulkhead.modules=/etc/bulkhead/modules-rpi.load",
      &w);
  EXPECT_TRUE(w.empty()) << w.front();
  EXPECT_EQ(o.net_if, "eth1");
  EXPECT_EQ(o.net_addr, "10.0.2.15");
  EXPECT_EQ(o.net_prefix, 24u);
  EXPECT_EQ(o.net_gateway, "10.0.2.2");
  EXPECT_EQ(o.data_dev, "/dev/vda");
  EXPECT_EQ(o.data_fs, "ext4");
  EXPECT_EQ(o.store_size, "32m");
  EXPECT_EQ(o.hostname, "pi");
  EXPECT_FALSE(o.echo);
  EXPECT_TRUE(o.reboot_on_failure);
  EXPECT_EQ(o.config, "/etc/bulkhead/other.toml");
  EXPECT_EQ(o.modules, "/etc/bulkhead/modules-rpi.load");
}

TEST(InitCmdline, AddressWithoutPrefixOrGateway) {
  InitOptions o = parse_kernel_cmdline("bulkhead.net=eth0,192.168.1.7");
  EXPECT_EQ(o.net_addr, "192.168.1.7");
  EXPECT_EQ(o.net_prefix, 24u);
  EXPECT_TRUE(o.net_gateway.empty());
  o = parse_kernel_cmdline("bulkhead.net=end0");
  EXPECT_EQ(o.net_if, "end0");
  EXPECT_TRUE(o.net_addr.empty());
}

TEST(InitCmdline, BadValuesWarnAndKeepTheDefaults) {
  std::vector<std::string> w;
  InitOptions o = parse_kernel_cmdline(
      "bulkhead.net=eth0,10.0.2.300/24 bulkhead.net=eth0,10.0.2.15/33 bulkhead.data=vda "
      "bulkhead.echo=maybe bulkhead.on_failure=halt bulkhead.config=relative.toml bulkhead.colour=blue "
      "bulkhead.store_size=lots",
      &w);
  EXPECT_EQ(o, InitOptions{});
  ASSERT_EQ(w.size(), 8u);
  EXPECT_NE(w[0].find("bulkhead.net"), std::string::npos);
  EXPECT_NE(w[6].find("unknown option"), std::string::npos);
}

TEST(InitCmdline, ConsoleAndTestWatchdog) {
  std::vector<std::string> w;
  InitOptions o = parse_kernel_cmdline("bulkhead.console=/dev/ttyS1 bulkhead.test_watchdog=stall_ms=60000,fd_budget=5",
                                       &w);
  EXPECT_TRUE(w.empty()) << w.front();
  EXPECT_EQ(o.console, "/dev/ttyS1");
  EXPECT_EQ(o.test_watchdog, "stall_ms=60000,fd_budget=5");
  EXPECT_EQ(parse_kernel_cmdline("bulkhead.console=none").console, "none");
  // Anything else keeps the defaults, with a warning each: a console that is not a device, and
  // test-hook values that are not key=value lists (they reach the runtime's environment).
  o = parse_kernel_cmdline("bulkhead.console=ttyS1 bulkhead.console=/dev/ bulkhead.test_watchdog= "
                           "bulkhead.test_watchdog=stall bulkhead.test_watchdog=stall_ms=1;reboot",
                           &w);
  EXPECT_EQ(o, InitOptions{});
  EXPECT_EQ(w.size(), 5u);
}

TEST(InitCmdline, TestAckBeforeSync) {
  std::vector<std::string> w;
  EXPECT_TRUE(parse_kernel_cmdline("bulkhead.test_ack_before_sync=1", &w).test_ack_before_sync);
  EXPECT_TRUE(w.empty());
  EXPECT_FALSE(parse_kernel_cmdline("bulkhead.test_ack_before_sync=0", &w).test_ack_before_sync);
  EXPECT_TRUE(w.empty());
  // Only 0 or 1: anything else keeps the default, with a warning.
  EXPECT_EQ(parse_kernel_cmdline("bulkhead.test_ack_before_sync=yes", &w), InitOptions{});
  EXPECT_EQ(w.size(), 1u);
}

TEST(InitConsole, TheKernelsPreferredConsoleIsTheLastActiveOne) {
  EXPECT_EQ(kernel_console_device("ttyAMA0"), "/dev/ttyAMA0");
  EXPECT_EQ(kernel_console_device("tty1 ttyS1\n"), "/dev/ttyS1");
  EXPECT_EQ(kernel_console_device(""), "");
  EXPECT_EQ(kernel_console_device("\n"), "");
}

TEST(InitConsole, TheConfigDecidesThenTheCmdlineThenTheKernel) {
  Config c;
  InitOptions o;
  EXPECT_EQ(place_console(c, o, "tty1 ttyAMA0"), "/dev/ttyAMA0");
  EXPECT_EQ(c.console.serial, "/dev/ttyAMA0");
  c = Config{};
  o.console = "/dev/ttyS0";
  EXPECT_EQ(place_console(c, o, "tty1 ttyAMA0"), "/dev/ttyS0");
  c = Config{};
  o.console = "none";
  EXPECT_EQ(place_console(c, o, "ttyAMA0"), "");
  EXPECT_TRUE(c.console.serial.empty());
  c = Config{};
  c.console.serial = "/dev/ttyUSB0";  // named in the config: kept, whatever the command line says
  o.console = "/dev/ttyS0";
  EXPECT_EQ(place_console(c, o, "ttyAMA0"), "/dev/ttyUSB0");
  c = Config{};
  c.console.stdio = true;  // the config wants stdio: no serial session besides it
  o.console.clear();
  EXPECT_EQ(place_console(c, o, "ttyAMA0"), "");
  EXPECT_TRUE(c.console.serial.empty());
  c = Config{};
  EXPECT_EQ(place_console(c, o, ""), "");  // no kernel console at all
}

TEST(InitModules, LinesCommentsAndParameters) {
  std::string path, params;
  EXPECT_FALSE(parse_module_line("", path, params));
  EXPECT_FALSE(parse_module_line("   # virtio first", path, params));
  ASSERT_TRUE(parse_module_line("/lib/modules/6.1.0/kernel/drivers/watchdog/i6300esb.ko", path, params));
  EXPECT_EQ(path, "/lib/modules/6.1.0/kernel/drivers/watchdog/i6300esb.ko");
  EXPECT_EQ(params, "");
  ASSERT_TRUE(parse_module_line("  /m/softdog.ko  soft_margin=10 nowayout=0 ", path, params));
  EXPECT_EQ(path, "/m/softdog.ko");
  EXPECT_EQ(params, "soft_margin=10 nowayout=0");
}

TEST(InitConfig, EmbeddedDefaultStateMovesUnderTheStateDir) {
  auto r = load_config_string(default_config_toml(), kEmbeddedOrigin);
  ASSERT_TRUE(std::holds_alternative<Config>(r));
  Config c = std::get<Config>(std::move(r));
  place_state_under(c, kInitStateDir, "/run/bulkhead");
  EXPECT_EQ(c.store.path, "/var/lib/bulkhead/bulkhead.db");
  EXPECT_EQ(c.audit.path, "/var/lib/bulkhead/audit.log");
  EXPECT_TRUE(c.console.socket.empty() || c.console.socket == "/run/bulkhead/bulkhead.sock");
}

TEST(InitConfig, TheImageAndPackageConfigsAreValid) {
  for (const char* f : {"/toolchain/image/bulkhead.toml", "/toolchain/package/bulkhead.toml"}) {
    auto r = load_config_file(std::string(BH_SOURCE_DIR) + f);
    const auto* e = std::get_if<ConfigError>(&r);
    EXPECT_EQ(e, nullptr) << (e ? e->to_string() : "");
  }
}

TEST(InitMode, RefusesWhenNotPid1) {
  auto [code, out] = test::run_bulkhead({"init"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("must be PID 1"), std::string::npos) << out;
  std::tie(code, out) = test::run_bulkhead({"init", "--bogus"});
  EXPECT_EQ(code, 2) << out;
}

}  // namespace
}  // namespace bh
