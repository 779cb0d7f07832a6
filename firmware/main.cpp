// bulkhead entry point: subcommand dispatch. Usage errors exit 2, config errors exit 2 naming the
// file, line and key; a runtime that cannot start exits 1.
#include <fmt/format.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "firmware/app.hpp"
#include "firmware/budget.hpp"
#include "firmware/config.hpp"
#include "firmware/init_mode.hpp"
#include "platform/util/fault.hpp"
#include "platform/util/log.hpp"

namespace bh {
// firmware/console_client.cpp: `bulkhead console [--socket PATH] [COMMAND...]`.
int console_main(int argc, char** argv);
}  // namespace bh

namespace {

constexpr std::string_view kUsage =
    "usage: bulkhead <command> [options]\n"
    "\n"
    "commands:\n"
    "  run [--config FILE] [--console stdio]\n"
    "                            run the runtime (embedded default config without --config);\n"
    "                            --console stdio: the console on stdin/stdout\n"
    "  check-config FILE         validate a config file and exit (0 valid, 2 invalid)\n"
    "  print-config [FILE]       print the effective config (default: the embedded one)\n"
    "  console [--socket PATH] [COMMAND...]\n"
    "                            attach to a running bulkhead's console, or run one command\n"
    "  config-reference          print the config reference (markdown, as in docs/configuration.md)\n"
    "  budget-reference          print the resource budget table (markdown, as in docs/budget.md)\n"
    "  init [--config FILE]      be the device's PID 1: mount, modules, network, run, power off\n"
    "  version                   print the version\n"
    "  help                      this text\n";

int usage_error(std::string_view msg) {
  std::fprintf(stderr, "bulkhead: %.*s\n\n%.*s", static_cast<int>(msg.size()), msg.data(),
               static_cast<int>(kUsage.size()), kUsage.data());
  return 2;
}

std::optional<bh::Config> load(const std::string* path) {
  auto r = path ? bh::load_config_file(*path) : bh::load_config_string(bh::default_config_toml(), bh::kEmbeddedOrigin);
  if (auto* err = std::get_if<bh::ConfigError>(&r)) {
    std::fprintf(stderr, "bulkhead: config error: %s\n", err->to_string().c_str());
    return std::nullopt;
  }
  return std::get<bh::Config>(std::move(r));
}

int cmd_run(int argc, char** argv) {
  std::optional<std::string> config_path;
  bool console_stdio = false;
  for (int i = 0; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.starts_with("--config=")) {
      config_path = std::string(a.substr(9));
    } else if ((a == "--console" && i + 1 < argc) || a.starts_with("--console=")) {
      std::string_view v = a == "--console" ? std::string_view(argv[++i]) : a.substr(10);
      if (v != "stdio") return usage_error(fmt::format("run: --console takes 'stdio', not '{}'", v));
      console_stdio = true;
    } else {
      return usage_error(fmt::format("run: unknown option '{}'", a));
    }
  }
  auto cfg = load(config_path ? &*config_path : nullptr);
  if (!cfg) return 2;
  if (console_stdio) cfg->console.stdio = true;
  std::string fault_plan;
#ifdef BH_TEST_HOOKS
  // Test hook: a fault plan (platform/util/fault.hpp), e.g. BH_TEST_FAULTS="sqlite_step:3-4,write:2".
  // Checked here, armed once start-up is done so that call numbers count from the first served call.
  if (const char* plan = std::getenv("BH_TEST_FAULTS"); plan && *plan) {
    fault_plan = plan;
    if (std::string err = bh::fault::arm(fault_plan); !err.empty()) return usage_error("BH_TEST_FAULTS: " + err);
    bh::fault::disarm();
    bh::fault::set_planned(true);
  }
#endif
  auto app = std::make_unique<bh::App>(std::move(*cfg));
  // With the console on stdout, the budget table would land in the console's output.
  if (std::string err = app->start(bh::RunOptions{.print_budget = !console_stdio}); !err.empty()) {
    bh::log::error("cannot start: {}", err);
    return 1;
  }
#ifdef BH_TEST_HOOKS
  if (!fault_plan.empty()) {
    (void)bh::fault::arm(fault_plan);
    bh::log::warn("TEST HOOK: fault plan armed: {}", fault_plan);
  }
#endif
  return app->run();
}

}  // namespace

int main(int argc, char** argv) {
  if (::getpid() == 1 || (argc >= 2 && std::string_view(argv[1]) == "init")) return bh::init_main(argc, argv);
  if (argc < 2) return usage_error("missing command");
  std::string_view cmd = argv[1];
  if (cmd == "run") return cmd_run(argc - 2, argv + 2);
  if (cmd == "console") return bh::console_main(argc - 2, argv + 2);
  if (cmd == "version" || cmd == "--version") {
    if (argc != 2) return usage_error("version takes no arguments");
    std::printf("bulkhead %s\n", BH_VERSION);
    return 0;
  }
  if (cmd == "check-config") {
    if (argc != 3) return usage_error("check-config takes one FILE");
    std::string path = argv[2];
    auto cfg = load(&path);
    if (!cfg) return 2;
    // Warnings (a literal secret in a file others can read) leave the exit code at 0.
    for (const std::string& w : bh::config_warnings(*cfg)) std::fprintf(stderr, "bulkhead: warning: %s\n", w.c_str());
    std::printf("%s: ok\n", argv[2]);
    return 0;
  }
  if (cmd == "print-config") {
    if (argc > 3) return usage_error("print-config takes at most one FILE");
    std::string path = argc == 3 ? argv[2] : "";
    auto cfg = load(argc == 3 ? &path : nullptr);
    if (!cfg) return 2;
    std::string out = bh::render_config(*cfg);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }
  if (cmd == "config-reference") {
    if (argc != 2) return usage_error("config-reference takes no arguments");
    std::string out = bh::config_reference_markdown();
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }
  if (cmd == "budget-reference") {
    if (argc != 2) return usage_error("budget-reference takes no arguments");
    std::string out = bh::budget::reference_markdown();
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
    return 0;
  }
  return usage_error(fmt::format("unknown command '{}'", cmd));
}
