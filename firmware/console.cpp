// ConsoleService: config -> console backends, with the application's command table.
#include "firmware/console.hpp"

#include <fmt/format.h>

#include "firmware/budget.hpp"
#include "firmware/console_commands.hpp"
#include "platform/console/server.hpp"
#include "platform/util/log.hpp"

namespace bh {

using Server = console::ConsoleServer<budget::capacity(budget::PoolId::console_session)>;

// The budget's bytes-per-slot figure holds the real session (line, output and read buffers).
static_assert(sizeof(console::ConsoleSession) <= budget::row(budget::PoolId::console_session).bytes_per_slot,
              "budget: console_session bytes");
static_assert(console::LineEditor::kMaxLine >= 4096, "[console] max_line may be 4096");

struct ConsoleService::Impl {
  RuntimeView& view;
  ConsoleState state;
  Server server;

  static console::SessionOptions options(const Config& c) {
    console::SessionOptions o;
    o.max_line = c.console.max_line;
    o.idle_timeout = c.console.idle_timeout;
    o.line_timeout = c.console.line_timeout;
    return o;
  }

  explicit Impl(RuntimeView& v)
      : view(v), server(*v.tasks, console_commands(), &state, options(*v.config)) {
    state.view = &view;
    state.config_text = render_config(*v.config);  // start-up: the `config` command pages this text
    state.console_stats = &server.stats();
    view.console_closes = &server.stats().closes;
    state.session_pool = &server.pool();
  }
};

ConsoleService::ConsoleService(RuntimeView& view) : impl_(std::make_unique<Impl>(view)) {}
ConsoleService::~ConsoleService() = default;

std::string ConsoleService::start() {
  Impl& a = *impl_;
  const ConsoleConfig& c = a.view.config->console;
  a.server.pool().set_limit(a.view.config->pool_limit(budget::PoolId::console_session));
  if (!c.socket.empty()) {
    if (auto ec = a.server.listen_unix(c.socket)) {
      if (ec == std::errc::address_in_use)
        return fmt::format("control socket {} is served by a running bulkhead", c.socket);
      return fmt::format("cannot listen on the control socket {}: {}", c.socket, ec.message());
    }
    log::info("console: control socket {} (mode 0600); attach with `bulkhead console --socket {}`", c.socket,
              c.socket);
  }
  if (c.pty) {
    std::string path;
    if (auto ec = a.server.open_pty(path)) return fmt::format("cannot create the console PTY: {}", ec.message());
    log::info("console: PTY {} (e.g. `screen {}`)", path, path);
  }
  if (!c.serial.empty()) {
    if (auto ec = a.server.open_serial(c.serial, c.baud)) {
      log::error("console: serial line {} unavailable: {}; serial console disabled", c.serial,
                 ec == std::errc::invalid_argument ? fmt::format("unsupported baud rate {}", c.baud) : ec.message());
    } else {
      log::info("console: serial line {} at {} baud, 8N1", c.serial, c.baud);
    }
  }
  if (c.stdio) {
    if (auto ec = a.server.open_stdio()) return fmt::format("cannot attach the console to stdin/stdout: {}", ec.message());
    log::info("console: on stdin/stdout");
  }
  if (!a.server.start()) return "no task slot for the console";
  return {};
}

void ConsoleService::stop() noexcept { impl_->server.stop(); }

}  // namespace bh
