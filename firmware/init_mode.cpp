// Init mode: the PID-1 policy on top of hal/init.hpp. See init_mode.hpp for the sequence.
#include "firmware/init_mode.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>
#include <variant>

#include "firmware/app.hpp"
#include "hal/init.hpp"
#include "platform/util/log.hpp"

namespace bh {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

bool parse_bool(std::string_view v, bool& out) {
  if (v == "1" || v == "on" || v == "yes" || v == "true") return out = true, true;
  if (v == "0" || v == "off" || v == "no" || v == "false") return out = false, true;
  return false;
}

bool valid_ipv4(std::string_view s) {
  std::uint32_t a = 0;
  return hal::parse_ipv4(std::string(s), a);
}

void warn_to(std::vector<std::string>* w, std::string msg) {
  if (w) w->push_back(std::move(msg));
}

const char* errstr(int e) { return std::strerror(e); }

}  // namespace

InitOptions parse_kernel_cmdline(std::string_view cmdline, std::vector<std::string>* warnings) {
  InitOptions o;
  constexpr std::string_view kPrefix = "bulkhead.";
  for (std::string_view word : split(cmdline, ' ')) {
    word = trim(word);
    if (!word.starts_with(kPrefix)) continue;
    word.remove_prefix(kPrefix.size());
    auto eq = word.find('=');
    std::string_view key = word.substr(0, eq);
    std::string_view val = eq == std::string_view::npos ? std::string_view() : word.substr(eq + 1);
    auto bad = [&] { warn_to(warnings, fmt::format("bulkhead.{}: bad value '{}'", key, val)); };
    if (key == "config" || key == "modules") {
      if (!val.starts_with("/")) bad();
      else (key == "config" ? o.config : o.modules) = std::string(val);
    } else if (key == "net") {
      auto parts = split(val, ',');
      if (parts.size() > 3 || parts[0].empty() || parts[0].size() >= 16) { bad(); continue; }
      InitOptions n = o;
      n.net_if = std::string(parts[0]);
      n.net_addr.clear();
      n.net_gateway.clear();
      if (parts.size() >= 2) {
        auto slash = parts[1].find('/');
        std::string_view addr = parts[1].substr(0, slash);
        unsigned prefix = 24;
        if (slash != std::string_view::npos) {
          std::string p(parts[1].substr(slash + 1));
          char* end = nullptr;
          unsigned long v = std::strtoul(p.c_str(), &end, 10);
          if (p.empty() || *end != '\0' || v > 32) { bad(); continue; }
          prefix = static_cast<unsigned>(v);
        }
        if (!valid_ipv4(addr)) { bad(); continue; }
        n.net_addr = std::string(addr);
        n.net_prefix = prefix;
      }
      if (parts.size() == 3) {
        if (!valid_ipv4(parts[2])) { bad(); continue; }
        n.net_gateway = std::string(parts[2]);
      }
      o = std::move(n);
    } else if (key == "data") {
      auto parts = split(val, ',');
      if (parts.size() > 2 || !parts[0].starts_with("/dev/") || (parts.size() == 2 && parts[1].empty())) { bad(); continue; }
      o.data_dev = std::string(parts[0]);
      if (parts.size() == 2) o.data_fs = std::string(parts[1]);
    } else if (key == "store_size") {
      if (val.empty() || val.find_first_not_of("0123456789kmgKMG%") != std::string_view::npos) bad();
      else o.store_size = std::string(val);
    } else if (key == "hostname") {
      if (val.empty() || val.size() > 64) bad(); else o.hostname = std::string(val);
    } else if (key == "echo") {
      if (!parse_bool(val, o.echo)) bad();
    } else if (key == "on_failure") {
      if (val == "reboot") o.reboot_on_failure = true;
      else if (val == "poweroff") o.reboot_on_failure = false;
      else bad();
    } else if (key == "console") {
      if (val != "none" && (!val.starts_with("/dev/") || val.size() <= 5)) bad();
      else o.console = std::string(val);
    } else if (key == "test_watchdog") {
      // Handed to the runtime's environment as is: keep it to what BH_TEST_WATCHDOG parses.
      if (val.empty() || val.find('=') == std::string_view::npos ||
          val.find_first_not_of("abcdefghijklmnopqrstuvwxyz_0123456789=,") != std::string_view::npos) bad();
      else o.test_watchdog = std::string(val);
    } else if (key == "test_ack_before_sync") {
      if (val != "1" && val != "0") bad();
      else o.test_ack_before_sync = val == "1";
    } else {
      warn_to(warnings, fmt::format("bulkhead.{}: unknown option (known: config, modules, net, data, store_size, "
                                    "hostname, echo, on_failure, console, test_watchdog, "
                                    "test_ack_before_sync)", key));
    }
  }
  return o;
}

void place_state_under(Config& c, std::string_view state_dir, std::string_view run_dir) {
  c.store.path = fmt::format("{}/bulkhead.db", state_dir);
  c.audit.path = fmt::format("{}/audit.log", state_dir);
  if (!c.console.socket.empty()) c.console.socket = fmt::format("{}/bulkhead.sock", run_dir);
}

std::string kernel_console_device(std::string_view active_consoles) {
  std::string_view s = trim(active_consoles);
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  auto sp = s.find_last_of(" \n");
  std::string_view last = sp == std::string_view::npos ? s : s.substr(sp + 1);
  return last.empty() ? std::string() : fmt::format("/dev/{}", last);
}

std::string place_console(Config& c, const InitOptions& o, std::string_view active_consoles) {
  if (!c.console.serial.empty() || c.console.stdio) return c.console.serial;
  if (o.console == "none") return {};
  c.console.serial = o.console.empty() ? kernel_console_device(active_consoles) : o.console;
  return c.console.serial;
}

bool parse_module_line(std::string_view line, std::string& path, std::string& params) {
  line = trim(line);
  if (line.empty() || line.front() == '#') return false;
  auto sp = line.find_first_of(" \t");
  path = std::string(line.substr(0, sp));
  params = sp == std::string_view::npos ? std::string() : std::string(trim(line.substr(sp + 1)));
  return true;
}

namespace {

constexpr const char* kRunDir = "/run/bulkhead";

// Step 1: the machine. Failures are logged and the boot goes on: a missing NIC or watchdog
// driver must not keep the runtime from starting (it reports what it lacks).
struct Machine {
  bool data_mounted = false;
};

Machine bring_up(const InitOptions& o) {
  Machine m;
  auto must = [](const char* what, int e) {
    if (e != 0) log::error("init: {}: {}", what, errstr(e));
  };
  must("mount /proc", hal::mount_fs("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC));
  must("mount /sys", hal::mount_fs("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC));
  must("mount /dev/pts", hal::mount_fs("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"));
  must("mount /run", hal::mount_fs("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=8m"));
  must("mount /tmp", hal::mount_fs("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=16m"));
  must("mkdir /run/bulkhead", hal::make_dirs(kRunDir, 0750));
  must("sethostname", hal::set_hostname(o.hostname.c_str()));

  // Driver modules, in the order the image builder resolved (dependencies first).
  std::string list_path = o.modules.empty() ? std::string(kInitModulesList) : o.modules;
  std::string list = hal::read_text(list_path.c_str());
  int loaded = 0, failed = 0;
  for (std::string_view line : split(list, '\n')) {
    std::string path, params;
    if (!parse_module_line(line, path, params)) continue;
    if (int e = hal::load_module(path.c_str(), params.c_str()); e != 0) {
      ++failed;
      log::warn("init: module {}: {}", path, errstr(e));
    } else {
      ++loaded;
    }
  }
  if (loaded + failed > 0) log::info("init: {} module(s) from {} loaded, {} failed", loaded, list_path, failed);

  // Loopback first: the runtime's listeners default to 127.0.0.1.
  must("lo up", hal::link_up("lo"));
  // A NIC driver registers its interface during the module's probe, normally before
  // finit_module returns; give a slow bus a moment anyway.
  bool have_if = false;
  for (int i = 0; i < 40 && !(have_if = hal::interface_exists(o.net_if.c_str())); ++i) {
    if (list.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!have_if) {
    log::info("init: no network interface {}", o.net_if);
  } else if (int e = hal::link_up(o.net_if.c_str()); e != 0) {
    log::error("init: {} up: {}", o.net_if, errstr(e));
  } else if (o.net_addr.empty()) {
    log::info("init: {} up (no address: bulkhead.net=IF,ADDR/PREFIX[,GW] sets one)", o.net_if);
  } else {
    std::uint32_t addr = 0, gw = 0;
    hal::parse_ipv4(o.net_addr, addr);
    int e = hal::set_ipv4(o.net_if.c_str(), addr, o.net_prefix);
    if (e == 0 && !o.net_gateway.empty() && hal::parse_ipv4(o.net_gateway, gw)) {
      e = hal::add_default_route(o.net_if.c_str(), gw);
    }
    if (e != 0) log::error("init: {} {}/{}: {}", o.net_if, o.net_addr, o.net_prefix, errstr(e));
    else log::info("init: {} {}/{}{}{}", o.net_if, o.net_addr, o.net_prefix, o.net_gateway.empty() ? "" : " via ", o.net_gateway);
  }

  // The hardware watchdog is only looked at, never opened: opening it starts the countdown,
  // and feeding it is the runtime's watchdog's job.
  log::info("init: /dev/watchdog {}", hal::path_exists("/dev/watchdog") ? "present" : "absent");

  // The store: the data disk if one is named and mounts, else a size-limited tmpfs.
  std::string state(kInitStateDir);
  if (!o.data_dev.empty()) {
    for (int i = 0; i < 60 && !hal::path_exists(o.data_dev.c_str()); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    int e = hal::mount_fs(o.data_dev.c_str(), state.c_str(), o.data_fs.c_str(), MS_NOATIME | MS_NOSUID | MS_NODEV);
    if (e == 0) {
      m.data_mounted = true;
      log::info("init: store on {} ({}) at {}", o.data_dev, o.data_fs, state);
    } else {
      log::error("init: mount {} ({}) at {}: {}; the store falls back to tmpfs (lost at power-off)",
                 o.data_dev, o.data_fs, state, errstr(e));
    }
  }
  if (!m.data_mounted) {
    std::string opts = fmt::format("mode=0750,size={}", o.store_size);
    if (int e = hal::mount_fs("tmpfs", state.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()); e != 0) {
      log::error("init: mount tmpfs at {}: {}", state, errstr(e));
    } else {
      log::info("init: store on tmpfs ({}) at {}", o.store_size, state);
    }
  }
  return m;
}

std::optional<Config> load_init_config(const std::string& path) {
  std::variant<Config, ConfigError> r;
  bool from_file = hal::path_exists(path.c_str());
  if (from_file) {
    r = load_config_file(path);
  } else {
    r = load_config_string(default_config_toml(), kEmbeddedOrigin);
  }
  if (auto* e = std::get_if<ConfigError>(&r)) {
    log::error("init: config error: {}", e->to_string());
    return std::nullopt;
  }
  Config c = std::get<Config>(std::move(r));
  if (!from_file) place_state_under(c, kInitStateDir, kRunDir);
  log::info("init: config {}", from_file ? path : std::string(kEmbeddedOrigin));
  return c;
}

// Step 2: the runtime, as `bulkhead run` runs it, in the child.
[[noreturn]] void run_child(Config cfg, const InitOptions& o) {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::setsid();
  if (::chdir(std::string(kInitStateDir).c_str()) != 0) log::warn("init: chdir {}: {}", kInitStateDir, errstr(errno));
  if (!o.test_watchdog.empty()) {
#ifdef BH_TEST_HOOKS
    ::setenv("BH_TEST_WATCHDOG", o.test_watchdog.c_str(), 1);
    log::warn("init: TEST HOOK: BH_TEST_WATCHDOG={} for the runtime (bulkhead.test_watchdog)", o.test_watchdog);
#else
    log::warn("init: bulkhead.test_watchdog ignored: this build has no test hooks");
#endif
  }
  if (o.test_ack_before_sync) {
#ifdef BH_TEST_HOOKS
    ::setenv("BH_TEST_ACK_BEFORE_SYNC", "1", 1);
    log::warn("init: TEST HOOK: BH_TEST_ACK_BEFORE_SYNC=1 for the runtime (bulkhead.test_ack_before_sync)");
#else
    log::warn("init: bulkhead.test_ack_before_sync ignored: this build has no test hooks");
#endif
  }
  int code = 1;
  {
    auto app = std::make_unique<App>(std::move(cfg));
    if (std::string err = app->start(); !err.empty()) {
      log::error("cannot start: {}", err);
    } else {
      // The serial console is now raw (no output processing). When it is the kernel's console,
      // the log lines on stderr share it and end in a bare LF: turn LF -> CRLF back on (the
      // session's own CRLF then reaches the terminal as CR CR LF, which shows the same).
      hal::set_output_crlf(2);
      code = app->run();
    }
  }
  std::fflush(nullptr);
  std::exit(code);
}

enum class Ending { poweroff, reboot };

std::string describe_status(int st) {
  if (WIFEXITED(st)) return fmt::format("exit code {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return fmt::format("killed by signal {} ({})", WTERMSIG(st), strsignal(WTERMSIG(st)));
  return fmt::format("wait status {}", st);
}

// Step 3: supervise until the runtime exits. Returns how to end.
Ending supervise(pid_t child, bool reboot_on_failure) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPWR, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  int sfd = ::signalfd(-1, &set, SFD_CLOEXEC);
  std::optional<Ending> requested;
  auto stop = [&](Ending how, std::string_view why) {
    if (!requested) log::info("init: {}: stopping bulkhead", why);
    requested = how;
    ::kill(child, SIGTERM);
  };
  int status = 0;
  bool exited = false;
  while (!exited) {
    pollfd fds[1] = {{sfd, POLLIN, 0}};
    int n = ::poll(fds, 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log::error("init: poll: {}", errstr(errno));
      break;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si{};
      while (::read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        switch (si.ssi_signo) {
          case SIGCHLD: hal::reap_children(child, &exited, &status); break;
          case SIGINT: stop(Ending::reboot, "SIGINT (ctrl-alt-del)"); break;
          case SIGTERM: case SIGPWR: case SIGUSR2: stop(Ending::poweroff, strsignal(static_cast<int>(si.ssi_signo))); break;
          default: break;
        }
        if (exited) break;
      }
      // A signalfd can coalesce SIGCHLDs: reap on every wake-up.
      hal::reap_children(child, &exited, &status);
    }
  }
  if (sfd >= 0) ::close(sfd);
  bool clean = exited && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  log::info("init: bulkhead exited: {}", exited ? describe_status(status) : std::string("unknown"));
  if (requested) return *requested;
  return !clean && reboot_on_failure ? Ending::reboot : Ending::poweroff;
}

}  // namespace

int init_main(int argc, char** argv) {
  bool pid1 = hal::is_pid1();
  std::string config_path;
  int i = 1;
  if (i < argc && std::string_view(argv[i]) == "init") ++i;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a.starts_with("--config=")) {
      config_path = std::string(a.substr(9));
    } else if (!pid1) {
      std::fprintf(stderr, "bulkhead: init: unknown option '%.*s'\n", static_cast<int>(a.size()), a.data());
      return 2;
    }  // as PID 1, words the kernel passed on are not ours: ignored
  }
  if (!pid1) {
    std::fprintf(stderr,
                 "bulkhead: init: must be PID 1 (the initramfs's /init, or init= on the kernel command "
                 "line); to run the runtime use `bulkhead run`\n");
    return 2;
  }

  // The console first, so that everything after can be seen.
  int dev_err = hal::mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  hal::attach_console();
  log::info("init: bulkhead {} is PID 1, {} ms after the kernel started", BH_VERSION, hal::boot_ms());
  if (dev_err != 0) log::error("init: mount /dev: {}", errstr(dev_err));

  // Signals are taken through a signalfd in supervise(); block them before anything can arrive.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGPWR, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);

  std::vector<std::string> warnings;
  std::string cmdline = hal::read_text("/proc/cmdline");
  if (cmdline.empty()) {  // /proc is not mounted yet: mount it for the read (bring_up keeps it)
    hal::mount_fs("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    cmdline = hal::read_text("/proc/cmdline");
  }
  InitOptions opts = parse_kernel_cmdline(cmdline, &warnings);
  for (const auto& w : warnings) log::warn("init: {}", w);
  if (int e = hal::set_echo(0, opts.echo); e != 0) log::warn("init: console echo: {}", errstr(e));

  Machine machine = bring_up(opts);
  if (config_path.empty()) config_path = opts.config.empty() ? std::string(kInitConfigPath) : opts.config;
  std::optional<Config> cfg = load_init_config(config_path);

  Ending ending = Ending::poweroff;
  if (cfg) {
    std::string tty = place_console(*cfg, opts, hal::read_text("/sys/class/tty/console/active"));
    if (cfg->console.stdio) log::info("init: console on stdin/stdout (config)");
    else if (tty.empty()) log::warn("init: no serial console (bulkhead.console=none, or no kernel console)");
    else log::info("init: console on {}", tty);
    log::info("init: ready {} ms after the kernel started; starting bulkhead", hal::boot_ms());
    std::fflush(nullptr);
    pid_t child = ::fork();
    if (child == 0) run_child(std::move(*cfg), opts);
    if (child < 0) {
      log::error("init: fork: {}", errstr(errno));
    } else {
      ending = supervise(child, opts.reboot_on_failure);
    }
  } else {
    log::error("init: no valid config: powering off (fix {} or boot without it for the default)", config_path);
  }

  // Step 4: nothing else runs now. Reap what is left, flush, unmount, power off.
  ::kill(-1, SIGKILL);
  hal::reap_children(0, nullptr, nullptr);
  ::sync();
  if (machine.data_mounted) {
    if (int e = hal::unmount(std::string(kInitStateDir).c_str()); e != 0) {
      log::warn("init: unmount {}: {}", kInitStateDir, errstr(e));
    }
  }
  log::info("init: {}", ending == Ending::reboot ? "rebooting" : "powering off");
  int e = hal::power_off(ending == Ending::reboot);
  log::error("init: reboot(2): {}", errstr(e));
  return 1;
}

}  // namespace bh
