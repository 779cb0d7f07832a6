// `bulkhead console [--socket PATH] [COMMAND...]`: a client of the control socket, in the manner
// of redis-cli. With a COMMAND it connects, sends that one line, prints the answer up to the next
// prompt and exits; without, it is interactive: stdin lines go to the socket, what comes back
// goes to stdout, until EOF on either side. Exit codes: 0 the command answered; 1 it answered
// `error: ...` or `usage: ...`, or the socket could not be reached or closed before the prompt;
// 2 bad client usage. The socket defaults to the embedded default config's `[console] socket`.
// A plain blocking client with poll() deadlines; it runs outside the runtime and may allocate.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>

#include "firmware/config.hpp"

namespace bh {
namespace {

constexpr std::string_view kPrompt = "bulkhead> ";
constexpr std::string_view kUsage =
    "usage: bulkhead console [--socket PATH] [COMMAND...]\n"
    "\n"
    "  With COMMAND: run it on the running bulkhead's console, print the answer, exit\n"
    "  (0 answered, 1 answered 'error:'/'usage:' or no connection, 2 bad usage).\n"
    "  Without: interactive; lines from stdin, answers to stdout, until EOF.\n"
    "  --socket PATH   the control socket (default: the default config's [console] socket, ";
constexpr int kAnswerTimeoutMs = 30'000;  // a command's whole answer (config is paged, still fast)

std::string default_socket() {
  auto r = load_config_string(default_config_toml(), kEmbeddedOrigin);
  if (auto* c = std::get_if<Config>(&r)) return c->console.socket;
  return "./var/bulkhead.sock";
}

int usage_error(std::string_view msg) {
  std::fprintf(stderr, "bulkhead: console: %.*s\n%.*s%s)\n", static_cast<int>(msg.size()), msg.data(),
               static_cast<int>(kUsage.size()), kUsage.data(), default_socket().c_str());
  return 2;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void write_out(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// The answer ends at a prompt that starts a line.
bool ends_with_prompt(const std::string& s) {
  if (s.size() < kPrompt.size() || std::string_view(s).substr(s.size() - kPrompt.size()) != kPrompt) return false;
  return s.size() == kPrompt.size() || s[s.size() - kPrompt.size() - 1] == '\n';
}

int connect_to(const std::string& path) {
  sockaddr_un sa{};
  if (path.size() >= sizeof sa.sun_path) {
    std::fprintf(stderr, "bulkhead: console: socket path too long: %s\n", path.c_str());
    return -1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::fprintf(stderr, "bulkhead: console: socket: %s\n", std::strerror(errno));
    return -1;
  }
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    std::fprintf(stderr, "bulkhead: console: cannot connect to %s: %s (is bulkhead running? see --socket)\n",
                 path.c_str(), std::strerror(errno));
    ::close(fd);
    return -1;
  }
  return fd;
}

int one_shot(int fd, const std::string& command) {
  bool sent = write_all(fd, command + "\n");
  int send_errno = errno;
  // Even if the send failed, read what the server said (a refusal line comes before the close).
  std::string answer;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAnswerTimeoutMs);
  bool prompt = false;
  while (!prompt) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      std::fprintf(stderr, "bulkhead: console: no complete answer within %d s\n", kAnswerTimeoutMs / 1000);
      write_out(1, answer);
      return 1;
    }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed (after `shutdown`, or a refusal)
    answer.append(buf, static_cast<std::size_t>(n));
    prompt = ends_with_prompt(answer);
  }
  if (prompt) answer.resize(answer.size() - kPrompt.size());
  write_out(1, answer);
  if (!sent && answer.empty()) {
    std::fprintf(stderr, "bulkhead: console: send failed: %s\n", std::strerror(send_errno));
    return 1;
  }
  if (answer.starts_with("error:") || answer.starts_with("usage:")) return 1;
  if (!prompt && !command.starts_with("shutdown")) {
    std::fprintf(stderr, "bulkhead: console: connection closed before the answer ended\n");
    return 1;
  }
  return 0;
}

int interactive(int fd) {
  // On a terminal, ask for a first prompt (an empty line answers just that).
  if (::isatty(0) == 1 && !write_all(fd, "\n")) return 1;
  bool stdin_open = true;
  char last = '\n';
  auto closing_deadline = std::chrono::steady_clock::time_point::max();
  for (;;) {
    pollfd p[2] = {{fd, POLLIN, 0}, {0, static_cast<short>(stdin_open ? POLLIN : 0), 0}};
    int timeout = -1;
    if (!stdin_open) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(closing_deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return 0;  // answers to everything sent had their time
      timeout = static_cast<int>(left.count());
    }
    int r = ::poll(p, stdin_open ? 2 : 1, timeout);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return 1;
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 0;  // the server closed (EOF after ours, `shutdown`, idle timeout)
      write_out(1, std::string_view(buf, static_cast<std::size_t>(n)));
    }
    if (stdin_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[4096];
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // EOF: finish an unterminated last line (the server never runs a partial one), then
        // half-close so the server answers what it has and closes.
        if (last != '\n') write_all(fd, "\n");
        ::shutdown(fd, SHUT_WR);
        stdin_open = false;
        closing_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kAnswerTimeoutMs);
        continue;
      }
      last = buf[n - 1];
      if (!write_all(fd, std::string_view(buf, static_cast<std::size_t>(n)))) return 1;
    }
  }
}

}  // namespace

int console_main(int argc, char** argv) {
  std::string socket_path;
  bool have_socket = false;
  int i = 0;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--socket" || a == "-s") {
      if (i + 1 >= argc) return usage_error("--socket needs a PATH");
      socket_path = argv[++i];
      have_socket = true;
    } else if (a.starts_with("--socket=")) {
      socket_path = std::string(a.substr(9));
      have_socket = true;
    } else if (a == "--help" || a == "-h") {
      std::printf("%.*s%s)\n", static_cast<int>(kUsage.size()), kUsage.data(), default_socket().c_str());
      return 0;
    } else if (a == "--") {
      ++i;
      break;
    } else if (a.starts_with("-") && a.size() > 1) {
      return usage_error("unknown option '" + std::string(a) + "'");
    } else {
      break;
    }
  }
  if (!have_socket) socket_path = default_socket();
  if (socket_path.empty()) return usage_error("no control socket configured: pass --socket PATH");
  std::string command;
  for (; i < argc; ++i) {
    if (!command.empty()) command += ' ';
    command += argv[i];
  }
  if (command.find_first_of("\r\n") != std::string::npos) return usage_error("COMMAND must be one line");

  int fd = connect_to(socket_path);
  if (fd < 0) return 1;
  int rc = command.empty() ? interactive(fd) : one_shot(fd, command);
  ::close(fd);
  return rc;
}

}  // namespace bh
