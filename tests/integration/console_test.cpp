// docs/wire.md §4 against the real binary: every command through the control socket (a raw client and
// `bulkhead console`, one-shot and interactive), a PTY session, a serial line (a PTY slave the
// test holds the master of), unknown commands, bad arguments, overlong lines, NUL bytes,
// disconnects mid-command, the session limit, dead letters listed/replayed/purged, and
// `shutdown`. Each test ends with the process exiting 0 (its exit check: every pool at zero).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.hpp"
#include "tests/support/test_sink.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kPrompt = "bulkhead> ";

std::string sock_path(const Bulkhead& b) { return b.dir() + "/var/console.sock"; }

// A console peer on a raw fd (socket or PTY/serial master) with deadlines.
class Peer {
 public:
  explicit Peer(int fd = -1) : fd_(fd) {}
  ~Peer() { close(); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  bool connect(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }
  bool send(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::write(fd_, s.data(), s.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, 100);
        continue;
      }
      if (n <= 0) return false;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // The answer up to the next prompt (the prompt cut off); what came before EOF or the deadline
  // otherwise (then `complete` is false).
  std::string answer(std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      auto at = buf_.find(kPrompt);
      if (at != std::string::npos) {
        std::string a = buf_.substr(0, at);
        buf_.erase(0, at + kPrompt.size());
        complete = true;
        return a;
      }
      if (eof_ || !read_some(deadline)) {
        complete = false;
        return std::exchange(buf_, {});
      }
    }
  }
  std::string ask(std::string_view line) {
    send(line);
    return answer();
  }
  bool closed_by_peer(std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = Clock::now() + timeout;
    while (!eof_ && read_some(deadline)) {
    }
    return eof_;
  }
  // Reads whatever arrives within `d` (for stale bytes).
  std::string drain(std::chrono::milliseconds d) {
    read_some(Clock::now() + d);
    return std::exchange(buf_, {});
  }
  bool complete = false;

 private:
  bool read_some(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r <= 0) return r < 0 && errno == EINTR;
    char tmp[8192];
    ssize_t n = ::read(fd_, tmp, sizeof tmp);
    if (n > 0) {
      buf_.append(tmp, static_cast<std::size_t>(n));
      return true;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    eof_ = true;
    return false;
  }
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

// Connects to the control socket, waiting for it to appear: the harness's start() returns once
// the ingest port accepts, which can be a moment before the console is bound.
bool connect_console(Peer& p, const Bulkhead& b) {
  for (int i = 0; i < 250; ++i) {
    if (p.connect(sock_path(b))) return true;
    p.close();
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

void wait_console(const Bulkhead& b) {
  Peer p;
  EXPECT_TRUE(connect_console(p, b));
}

bool has(const std::string& hay, std::string_view needle) { return hay.find(needle) != std::string::npos; }

// Waits until the process's log holds `text` (start-up logs trail the listeners a little).
bool log_has(const Bulkhead& b, std::string_view text) {
  for (int i = 0; i < 250; ++i) {
    if (has(b.log(), text)) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

void expect_clean_exit(Bulkhead& b, std::optional<int> code) {
  ASSERT_TRUE(code.has_value()) << "bulkhead did not exit\n" << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_TRUE(has(b.log(), "0 pool(s) not at zero")) << b.log();
  EXPECT_TRUE(has(b.log(), "0 heap allocation(s) after seal")) << b.log();
}

std::pair<int, std::string> console(const Bulkhead& b, std::vector<std::string> cmd) {
  std::vector<std::string> args{"console", "--socket", sock_path(b)};
  args.insert(args.end(), cmd.begin(), cmd.end());
  return run_bulkhead(args);
}

TEST(Console, EveryCommandAnswersThenThePrompt) {
  Bulkhead b;
  Peer p;
  ASSERT_TRUE(connect_console(p, b)) << b.log();
  struct Case {
    std::string line;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {"help", {"commands:", "status", "pools", "dlq list|replay <seq|all>|purge <id|all>", "shutdown"}},
      {"help dlq", {"dlq replay <seq|all>", "dlq purge <id|all>"}},
      {"status", {"version      " BH_VERSION, "uptime", "health", "events       in 0  acked 0  delivered 0", "loop lag"}},
      {"pools", {"pool", "in use", "high", "refusals", "console_session", "1/4", "ingest_conn", "task", "["}},
      {"tasks", {"live of", "console_accept", "console_session", "ingest_accept"}},
      {"sources", {"ingest", "built-in", "running"}},
      {"sinks", {"no sinks configured"}},
      {"store", {"database", "seq", "last 0", "pending", "audit"}},
      {"fds", {"open of budget", "sockets", "files", "pipes", "other"}},
      {"mem", {"rss", "sqlite", "allocation(s) after seal"}},
      {"watchdog", {}},
      {"watchdog reset-hwm", {"reset the high-water marks of"}},
      {"dlq list", {"no dead letters"}},
      {"dlq replay all", {"0 dead letter(s) marked for replay"}},
      {"dlq purge all", {"0 dead letter(s) purged"}},
      {"pause foo", {"error: no source named 'foo'"}},
      {"resume foo", {"error: no source named 'foo'"}},
      {"log level", {"log level info"}},
      {"log level debug", {"log level debug (was info)"}},
      {"log level info", {"log level info (was debug)"}},
      {"config", {"[ingest]", "[store]", "[console]", "max_line = 512", "[watchdog]"}},
      {"version", {"bulkhead " BH_VERSION}},
  };
  for (const Case& c : cases) {
    std::string a = p.ask(c.line + "\n");
    EXPECT_TRUE(p.complete) << c.line << ": no prompt after\n" << a;
    EXPECT_FALSE(a.empty()) << c.line;
    EXPECT_EQ(a.back(), '\n') << c.line << ": the prompt starts a line";
    for (const std::string& e : c.expect) EXPECT_TRUE(has(a, e)) << c.line << ": missing '" << e << "' in\n" << a;
  }
  std::string wd = p.ask("watchdog\n");
  EXPECT_TRUE(has(wd, "health") || has(wd, "watchdog: not running")) << wd;
  EXPECT_EQ(p.ask("shutdown\n"), "shutting down\n");
  EXPECT_TRUE(p.closed_by_peer()) << "the session closes once shutdown begins";
  expect_clean_exit(b, b.child()->wait(15000ms));
  EXPECT_TRUE(has(b.log(), "shutdown requested (console)")) << b.log();
}

TEST(Console, UnknownCommandsAndBadArgumentsAnswerAndTheSessionGoesOn) {
  Bulkhead b;
  Peer p;
  ASSERT_TRUE(connect_console(p, b)) << b.log();
  EXPECT_EQ(p.ask("frobnicate\n"), "error: unknown command 'frobnicate' (try 'help')\n");
  EXPECT_EQ(p.ask("frobnicate now please\n"), "error: unknown command 'frobnicate' (try 'help')\n");
  EXPECT_EQ(p.ask("help frob\n"), "error: unknown command 'frob' (try 'help')\n");
  EXPECT_EQ(p.ask("status extra\n"), "usage: status\n");
  EXPECT_EQ(p.ask("dlq\n"), "usage: dlq list|replay <seq|all>|purge <id|all>\n");
  EXPECT_EQ(p.ask("dlq bogus\n"), "usage: dlq list|replay <seq|all>|purge <id|all>\n");
  EXPECT_EQ(p.ask("dlq replay\n"), "usage: dlq replay <seq|all>\n");
  EXPECT_EQ(p.ask("dlq replay 1 2\n"), "usage: dlq replay <seq|all>\n");
  EXPECT_EQ(p.ask("dlq replay seven\n"), "usage: dlq replay <seq|all>\n");
  EXPECT_EQ(p.ask("dlq replay 0\n"), "usage: dlq replay <seq|all>\n");
  EXPECT_EQ(p.ask("dlq purge x\n"), "usage: dlq purge <id|all>\n");
  EXPECT_EQ(p.ask("dlq replay 12345\n"), "error: no dead letter holds seq 12345\n");
  EXPECT_EQ(p.ask("dlq purge 7\n"), "error: no dead letter with id 7\n");
  EXPECT_EQ(p.ask("pause\n"), "usage: pause <source>\n");
  EXPECT_EQ(p.ask("resume a b\n"), "usage: resume <source>\n");
  EXPECT_EQ(p.ask("log\n"), "usage: log level [debug|info|warn|error|off]\n");
  EXPECT_EQ(p.ask("log level loud\n"), "usage: log level [debug|info|warn|error|off]\n");
  EXPECT_EQ(p.ask("watchdog now\n"), "usage: watchdog [reset-hwm]\n");
  EXPECT_EQ(p.ask("version 2\n"), "usage: version\n");
  EXPECT_EQ(p.ask("\n"), "");
  EXPECT_EQ(p.ask("   \t  \n"), "");
  EXPECT_EQ(p.ask("version\n"), "bulkhead " BH_VERSION "\n");
  p.close();
  expect_clean_stop(b);
}

TEST(Console, UntrustedInputNulBytesGarbageAndOverlongLines) {
  Bulkhead b("[console]\nmax_line = 64\n");
  Peer p;
  ASSERT_TRUE(connect_console(p, b)) << b.log();
  EXPECT_EQ(p.ask(std::string("ver\0si\0on\n", 10)), "bulkhead " BH_VERSION "\n");
  EXPECT_EQ(p.ask("\x1b[A\x01\x02version\x7f\x7f\x7f\x7f\x7f\x7f\x7fversion\r\n"), "bulkhead " BH_VERSION "\n");
  EXPECT_EQ(p.ask("help " + std::string(59, 'x') + "\n"),
            "error: unknown command '" + std::string(59, 'x') + "' (try 'help')\n");  // 64 bytes: the limit
  EXPECT_EQ(p.ask("help " + std::string(60, 'x') + "\n"), "error: line too long (max 64 bytes), discarded\n");
  // A megabyte without a line end, in pieces, then one: rejected once, and the session goes on.
  std::string chunk(64 * 1024, 'A');
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(p.send(chunk));
  EXPECT_EQ(p.ask("\nversion\n"), "error: line too long (max 64 bytes), discarded\n");
  EXPECT_EQ(p.answer(), "bulkhead " BH_VERSION "\n");
  // Random bytes: every line end gets an answer and a prompt, nothing crashes.
  std::string junk;
  std::uint32_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    x = x * 1103515245u + 12345u;
    junk.push_back(static_cast<char>(x >> 24));
  }
  ASSERT_TRUE(p.send(junk + "\nversion\n"));
  for (int i = 0; i < 2000; ++i) {
    std::string a = p.answer();
    ASSERT_TRUE(p.complete) << a;
    if (a == "bulkhead " BH_VERSION "\n") break;
  }
  EXPECT_EQ(p.ask("status\n").find("version"), 0u);
  p.close();
  expect_clean_stop(b);
}

TEST(Console, DisconnectsMidCommandLeaveNothingBehind) {
  Bulkhead b;
  for (int i = 0; i < 10; ++i) {
    Peer p;
    ASSERT_TRUE(connect_console(p, b)) << b.log();
    switch (i % 5) {
      case 0: p.send("shutdo"); break;            // half a command, then gone: never run
      case 1: p.send("config\ntasks\n"); break;   // whole commands, gone before the answers
      case 2: p.send(std::string(100000, 'q')); break;
      case 3: p.send(std::string("\0\0\0", 3)); break;
      case 4: break;                              // connect and vanish
    }
  }
  Peer p;
  ASSERT_TRUE(connect_console(p, b));
  EXPECT_TRUE(has(p.ask("status\n"), "state        running")) << b.log();
  // Every earlier session has ended (only this one is left).
  std::string pools;
  for (int i = 0; i < 100; ++i) {
    pools = p.ask("pools\n");
    if (std::regex_search(pools, std::regex("console_session +1/4"))) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(std::regex_search(pools, std::regex("console_session +1/4"))) << pools;
  p.close();
  expect_clean_stop(b);
}

TEST(Console, SessionsBeyondThePoolAreToldSoAndClosed) {
  Bulkhead b;
  std::vector<std::unique_ptr<Peer>> peers;
  for (int i = 0; i < 4; ++i) {  // N-1, N
    peers.push_back(std::make_unique<Peer>());
    ASSERT_TRUE(connect_console(*peers.back(), b));
    EXPECT_EQ(peers.back()->ask("version\n"), "bulkhead " BH_VERSION "\n") << i;
  }
  // N+1 while every session has just been answered: none has stalled long enough to be evicted
  // (the acceptor's policy; SlowClients.Console* covers the eviction), so the newcomer is refused.
  for (auto& p : peers) EXPECT_EQ(p->ask("version\n"), "bulkhead " BH_VERSION "\n");
  Peer extra;
  ASSERT_TRUE(connect_console(extra, b));
  EXPECT_EQ(extra.answer(), "error: console busy: all 4 sessions in use, try again later\n");
  EXPECT_TRUE(extra.closed_by_peer());
  std::string pools = peers[0]->ask("pools\n");
  EXPECT_TRUE(std::regex_search(pools, std::regex("console_session +4/4 +4 +4 +1 "))) << pools;
  peers.pop_back();
  Peer again;
  bool ok = false;
  for (int i = 0; i < 50 && !ok; ++i) {  // the freed slot comes back as the session ends
    Peer q;
    ASSERT_TRUE(connect_console(q, b));
    ok = q.ask("version\n") == "bulkhead " BH_VERSION "\n";
    if (!ok) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(ok);
  peers.clear();
  expect_clean_stop(b);
}

TEST(Console, OneShotClientPrintsTheAnswerAndExits) {
  Bulkhead b;
  wait_console(b);
  auto [rc, out] = console(b, {"status"});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(has(out, "uptime")) << out;
  EXPECT_FALSE(has(out, kPrompt)) << out;
  std::tie(rc, out) = console(b, {"dlq", "list"});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "    id sink                                seqs  events status     http          age  reason\n"
                 "no dead letters\n");
  std::tie(rc, out) = console(b, {"config"});
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(has(out, "[console]")) << out;
  std::tie(rc, out) = console(b, {"nosuch"});
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(out, "error: unknown command 'nosuch' (try 'help')\n");
  std::tie(rc, out) = console(b, {"dlq", "replay"});
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(out, "usage: dlq replay <seq|all>\n");
  std::tie(rc, out) = run_bulkhead({"console", "--socket", b.dir() + "/nope.sock", "status"});
  EXPECT_EQ(rc, 1);
  EXPECT_TRUE(has(out, "cannot connect to " + b.dir() + "/nope.sock")) << out;
  std::tie(rc, out) = run_bulkhead({"console", "--bogus"});
  EXPECT_EQ(rc, 2);
  EXPECT_TRUE(has(out, "usage: bulkhead console")) << out;
  std::tie(rc, out) = run_bulkhead({"console", "--socket"});
  EXPECT_EQ(rc, 2);
  std::tie(rc, out) = console(b, {"shutdown"});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "shutting down\n");
  expect_clean_exit(b, b.child()->wait(15000ms));
}

TEST(Console, InteractiveClientRunsLinesFromStdinUntilEof) {
  Bulkhead b;
  wait_console(b);
  TempDir d;
  {
    std::ofstream in(d.file("in.txt"));
    in << "version\nnosuch\r\n\nstatus";  // the last line has no line end: the client ends it
  }
  Child c({"/bin/sh", "-c", std::string("exec '") + BH_BINARY + "' console --socket '" + sock_path(b) + "' < '" +
                                d.file("in.txt") + "'"},
          d.file("out.txt"));
  auto rc = c.wait(20000ms);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0);
  std::ifstream f(d.file("out.txt"));
  std::string out((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(out.find("bulkhead " BH_VERSION "\nbulkhead> error: unknown command 'nosuch' (try 'help')\nbulkhead> "
                     "bulkhead> version"),
            0u)
      << out;
  EXPECT_TRUE(has(out, "uptime")) << out;
  EXPECT_TRUE(out.ends_with(kPrompt)) << out;
  expect_clean_stop(b);
}

TEST(Console, ControlSocketIsPrivateAndRemovedAtExit) {
  Bulkhead b;
  wait_console(b);
  struct stat st {};
  ASSERT_EQ(::lstat(sock_path(b).c_str(), &st), 0) << b.log();
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  expect_clean_stop(b);
  EXPECT_NE(::access(sock_path(b).c_str(), F_OK), 0);
  // A second start finds the file gone (or stale) and binds again.
  ASSERT_TRUE(b.start());
  wait_console(b);
  auto [rc, out] = console(b, {"version"});
  EXPECT_EQ(rc, 0) << out << b.log();
  expect_clean_stop(b);
}

std::string pty_from_log(Bulkhead& b) {
  std::smatch m;
  for (int i = 0; i < 100; ++i) {
    std::string log = b.log();
    if (std::regex_search(log, m, std::regex("console: PTY (/dev/pts/[0-9]+)"))) return m[1];
    std::this_thread::sleep_for(20ms);
  }
  return {};
}

TEST(Console, PtySessionEchoesAndAnswersWithCrlf) {
  Bulkhead b("[console]\npty = true\n");
  std::string path = pty_from_log(b);
  ASSERT_FALSE(path.empty()) << b.log();
  int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path;
  Peer p(fd);
  termios t{};
  ASSERT_EQ(::tcgetattr(fd, &t), 0);
  EXPECT_EQ(t.c_lflag & (ECHO | ICANON), 0u) << "the console PTY is raw";
  EXPECT_EQ(p.ask(""), "") << "a terminal shows the prompt at once";
  EXPECT_EQ(p.ask("version\r"), "version\r\nbulkhead " BH_VERSION "\r\n");
  std::string status = p.ask("status\r");
  EXPECT_TRUE(has(status, "\r\nuptime")) << status;
  EXPECT_EQ(p.ask(std::string("\0nope\0\r", 7)), "nope\r\nerror: unknown command 'nope' (try 'help')\r\n");
  EXPECT_EQ(p.ask("verz\x7fsion\r"), "verz\b \bsion\r\nbulkhead " BH_VERSION "\r\n");
  std::string pools = p.ask("pools\r");
  EXPECT_TRUE(has(pools, "console_session")) << pools;
  EXPECT_EQ(p.ask("shutdown\r"), "shutdown\r\nshutting down\r\n");
  expect_clean_exit(b, b.child()->wait(15000ms));
}

TEST(Console, SerialLineAtTheConfiguredBaud) {
  int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0);
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  char slave[64];
  ASSERT_EQ(::ptsname_r(master, slave, sizeof slave), 0);
  Bulkhead b(std::string("[console]\nserial = \"") + slave + "\"\nbaud = 9600\n");
  wait_console(b);
  ASSERT_TRUE(log_has(b, "console: serial line")) << b.log();
  termios t{};
  ASSERT_EQ(::tcgetattr(master, &t), 0);
  EXPECT_EQ(::cfgetospeed(&t), static_cast<speed_t>(B9600));
  Peer p(master);
  EXPECT_EQ(p.ask(""), "") << "the serial line shows the prompt at once";
  EXPECT_EQ(p.ask("version\r"), "version\r\nbulkhead " BH_VERSION "\r\n");
  EXPECT_EQ(p.ask("frob\r\n"), "frob\r\nerror: unknown command 'frob' (try 'help')\r\n");
  expect_clean_stop(b);
}

TEST(Console, MissingSerialDeviceIsReportedNotFatal) {
  Bulkhead b("[console]\nserial = \"/dev/does-not-exist\"\n");
  wait_console(b);
  EXPECT_TRUE(log_has(b, "serial line /dev/does-not-exist unavailable")) << b.log();
  auto [rc, out] = console(b, {"version"});
  EXPECT_EQ(rc, 0) << out;
  expect_clean_stop(b);
}

std::string sink_toml(const TestSink& s) {
  return "[[sink]]\nname = \"t\"\nurl = \"" + s.url() +
         "\"\nbatch_events = 10\nbackoff_base = \"20ms\"\nbackoff_cap = \"100ms\"\n";
}

TEST(Console, DeadLettersAreListedReplayedAndPurged) {
  TestSink sink([](std::size_t n, const SinkRequest&) { return n == 0 ? SinkAnswer{400} : SinkAnswer{200}; });
  Bulkhead b(sink_toml(sink));
  LineClient c;
  ASSERT_TRUE(c.connect(b.ingest_port()));
  ASSERT_TRUE(c.send("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"));
  auto acks = c.read_lines(3);
  ASSERT_EQ(acks.size(), 3u);
  std::uint64_t first = std::stoull(acks[0].substr(3)), last = std::stoull(acks[2].substr(3));
  Peer p;
  ASSERT_TRUE(connect_console(p, b));
  std::string list;
  for (int i = 0; i < 200; ++i) {
    list = p.ask("dlq list\n");
    if (has(list, " 400 ")) break;
    std::this_thread::sleep_for(20ms);
  }
  std::string range = std::to_string(first) + "-" + std::to_string(last);
  EXPECT_TRUE(std::regex_search(list, std::regex("\\n +1 t +" + range + " +3 dead +400 "))) << list;
  std::string sinks = p.ask("sinks\n");
  EXPECT_TRUE(has(sinks, "sink t  http://127.0.0.1:" + std::to_string(sink.port()) + "/***")) << sinks;  // no path: it may hold a token
  EXPECT_TRUE(has(sinks, "dead letters 1 (3 events)")) << sinks;
  EXPECT_TRUE(has(sinks, "breaker closed")) << sinks;
  EXPECT_EQ(p.ask("dlq replay " + std::to_string(last) + "\n"), "1 dead letter(s) marked for replay\n");
  ASSERT_TRUE(sink.wait_delivered(3, 10s)) << b.log();
  for (int i = 0; i < 200; ++i) {
    list = p.ask("dlq list\n");
    if (has(list, " replayed ")) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(has(list, " replayed ")) << list;
  EXPECT_EQ(p.ask("dlq purge 1\n"), "1 dead letter(s) purged\n");
  EXPECT_TRUE(has(p.ask("dlq list\n"), "no dead letters"));
  p.close();
  c.close();
  expect_clean_stop(b);
}

#ifdef BH_TEST_HOOKS
// The fake clock's lever in the real binary (tests/support/fake_clock.hpp): hidden from help,
// checked like any command, and moving the monotonic clock the runtime's timers and ages use.
TEST(Console, ClockAdvanceIsAHiddenTestHook) {
  Bulkhead b;
  wait_console(b);
  auto [rc, out] = console(b, {"clock", "advance", "soon"});
  EXPECT_TRUE(has(out, "usage: clock advance <duration>")) << out;
  std::tie(rc, out) = console(b, {"clock", "advance", "0s"});
  EXPECT_TRUE(has(out, "usage: clock advance <duration>")) << out;
  std::tie(rc, out) = console(b, {"help"});
  EXPECT_FALSE(has(out, "clock")) << out;
  std::tie(rc, out) = console(b, {"clock", "advance", "2h"});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(has(out, "clock advanced 7200000 ms")) << out;
  std::tie(rc, out) = console(b, {"status"});
  EXPECT_TRUE(std::regex_search(out, std::regex("uptime +02:00:"))) << "uptime is an age on the same clock\n" << out;
  std::tie(rc, out) = console(b, {"status"});
  EXPECT_FALSE(has(out, "FAILING: loop_lag")) << "the advance is no loop lag\n" << out;
  expect_clean_stop(b);
}
#endif

}  // namespace
}  // namespace bh::test
