// Console engine: the line editor (CR/LF/CRLF, backspace, NUL and control bytes, escapes,
// overlong lines, echo), the output buffer, the tokenizer and the command table (dispatch,
// subcommands, argument counts at N-1/N/N+1, usage lines, help, paging), and sessions over the
// control socket, a PTY and a serial line (a PTY slave standing in for the UART): limits,
// refusals, disconnects, idle timeout, shutdown. Every test ends with every pool at zero and FDs
// back at baseline.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "hal/uart.hpp"
#include "platform/console/command.hpp"
#include "platform/console/line_editor.hpp"
#include "platform/console/output.hpp"
#include "platform/console/server.hpp"
#include "tests/support/census.hpp"

namespace bh::console {
namespace {
using namespace std::chrono_literals;

// Feeds all of `in` and collects what happens: finished lines as text, other events as markers.
std::vector<std::string> edit(LineEditor& e, std::string_view in, Output* echo = nullptr) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < in.size()) {
    switch (e.feed(in, pos, echo)) {
      case LineEditor::Event::none: break;
      case LineEditor::Event::line: out.emplace_back(e.line()); break;
      case LineEditor::Event::overlong: out.emplace_back("<overlong>"); break;
      case LineEditor::Event::interrupt: out.emplace_back("<interrupt>"); break;
    }
  }
  return out;
}

using Lines = std::vector<std::string>;

TEST(LineEditor, CrLfAndCrlfEachEndOneLine) {
  LineEditor e(64);
  EXPECT_EQ(edit(e, "a\nb\rc\r\nd\n\re"), (Lines{"a", "b", "c", "d", ""}));
  EXPECT_EQ(edit(e, "\n"), (Lines{"e"}));  // the partial line carried over
  EXPECT_EQ(edit(e, "x\r"), (Lines{"x"}));
  EXPECT_EQ(edit(e, "\ny\n"), (Lines{"y"}));  // the LF of a CRLF split across reads
  EXPECT_EQ(edit(e, "\r\r"), (Lines{"", ""}));
  EXPECT_EQ(e.stats().lines, 10u);
}

TEST(LineEditor, BackspaceDelAndCtrlUEdit) {
  LineEditor e(64);
  EXPECT_EQ(edit(e, "stax\btus\n"), (Lines{"status"}));
  EXPECT_EQ(edit(e, "pooks\x7f\x7fls\n"), (Lines{"pools"}));
  EXPECT_EQ(edit(e, "\b\b\x7fhelp\n"), (Lines{"help"}));  // nothing to erase: harmless
  EXPECT_EQ(edit(e, "garbage\x15version\n"), (Lines{"version"}));
  EXPECT_EQ(edit(e, "a\xc3\xa9\x7f\n"), (Lines{"a"}));  // a UTF-8 character goes whole
}

TEST(LineEditor, NulControlBytesAndEscapesAreDropped) {
  LineEditor e(64);
  EXPECT_EQ(edit(e, std::string_view("st\0at\x01us\x07\n", 11)), (Lines{"status"}));
  EXPECT_EQ(edit(e, "\x1b[A\x1b[1;5Cpools\x1bOB\n"), (Lines{"pools"}));
  EXPECT_EQ(edit(e, "a\tb\n"), (Lines{"a b"}));
  EXPECT_EQ(edit(e, "\x1b[\n"), (Lines{""}));  // a stray escape never swallows the line end
  EXPECT_GT(e.stats().dropped, 0u);
  Lines got = edit(e, std::string("\x00\x02\x1f\x7fz\n", 6));
  ASSERT_EQ(got, (Lines{"z"}));
}

TEST(LineEditor, OverlongLinesAreRejectedWholeAndTheNextLineWorks) {
  LineEditor e(8);
  EXPECT_EQ(edit(e, "12345678\n"), (Lines{"12345678"}));              // N
  EXPECT_EQ(edit(e, "123456789\nok\n"), (Lines{"<overlong>", "ok"}));  // N+1
  // Arriving in pieces, with terminators far away.
  EXPECT_TRUE(edit(e, std::string(5000, 'x')).empty());
  EXPECT_TRUE(edit(e, std::string(5000, 'y')).empty());
  EXPECT_EQ(edit(e, "zz\r\nversion\r\n"), (Lines{"<overlong>", "version"}));
  EXPECT_EQ(e.stats().overlong, 2u);
  LineEditor big(100000);  // clamped to the compiled ceiling
  EXPECT_EQ(big.max_line(), LineEditor::kMaxLine);
}

TEST(LineEditor, CtrlCAbandonsTheLine) {
  LineEditor e(16);
  EXPECT_EQ(edit(e, "shutd\x03version\n"), (Lines{"<interrupt>", "version"}));
}

TEST(LineEditor, EchoesOnlyOnTerminals) {
  Output echo;
  echo.set_crlf(true);
  LineEditor term(16, true);
  edit(term, "ab\x7f\x01" "c\r", &echo);
  EXPECT_EQ(echo.view(), "ab\b \bc\r\n");
  Output none;
  LineEditor sock(16, false);
  edit(sock, "abc\n", &none);
  EXPECT_TRUE(none.empty());
}

TEST(Output, CrlfReserveAndTruncation) {
  Output o;
  o.set_crlf(true);
  o.print("a {}\n", 1);
  EXPECT_EQ(o.view(), "a 1\r\n");
  EXPECT_TRUE(o.at_line_start());
  o.clear();
  o.set_crlf(false);
  std::string big(Output::kBytes, 'x');
  o.write(big);
  EXPECT_TRUE(o.truncated());
  EXPECT_EQ(o.size(), Output::kBytes - Output::kReserve);
  EXPECT_EQ(o.room(), 0u);
  o.write_tail("\nbulkhead> ");  // the session's tail still fits
  EXPECT_TRUE(o.view().ends_with("\nbulkhead> "));
  o.clear();
  EXPECT_FALSE(o.truncated());
  EXPECT_TRUE(o.empty());
}

TEST(Tokenize, SplitsOnSpacesAndCountsOverflow) {
  std::string_view w[4];
  bool too_many = false;
  EXPECT_EQ(tokenize("  dlq   replay  7 ", w, too_many), 3u);
  EXPECT_EQ(w[0], "dlq");
  EXPECT_EQ(w[1], "replay");
  EXPECT_EQ(w[2], "7");
  EXPECT_FALSE(too_many);
  EXPECT_EQ(tokenize("a b c d e", w, too_many), 4u);
  EXPECT_TRUE(too_many);
  EXPECT_EQ(tokenize("   ", w, too_many), 0u);
}

// ---- a test table ------------------------------------------------------------------------------

struct TestState {
  int calls = 0;
  std::vector<std::string> last_args;
  bool stop = false;
  int log_fd = -1;                // `log` writes here directly, as the runtime's log does
  std::function<void()> on_stop;  // what an application's shutdown does: stop the server
};
TestState& st(CommandContext& c) { return *static_cast<TestState*>(c.user); }

void h_echo(CommandContext& c) {
  ++st(c).calls;
  st(c).last_args.assign(c.args.begin(), c.args.end());
  for (std::size_t i = 0; i < c.args.size(); ++i) c.out.print("{}{}", i ? " " : "", c.args[i]);
  c.out.push_back('\n');
}
// `count <n>`: n numbered lines, paged through the cursor.
void h_count(CommandContext& c) {
  std::uint64_t n = std::stoull(std::string(c.arg(0)));
  for (std::uint64_t i = c.cursor; i < n; ++i) {
    if (c.out.room() < 64) {
      c.more(i);
      return;
    }
    c.out.print("line {}\n", i);
  }
}
void h_flood(CommandContext& c) {
  for (int i = 0; i < 1000; ++i) c.out.write("0123456789");
}
void h_pair(CommandContext& c) { c.out.print("{}+{}\n", c.arg(0), c.arg(1)); }
void h_num(CommandContext& c) {
  if (c.arg(0).find_first_not_of("0123456789") != std::string_view::npos) return c.usage();
  c.out.print("n={}\n", c.arg(0));
}
void h_help(CommandContext& c) { c.table.help(c.out, c.args); }
void h_stop(CommandContext& c) {
  st(c).stop = true;
  c.out.write("stopping\n");
  if (st(c).on_stop) st(c).on_stop();
}
void h_log(CommandContext& c) {
  if (st(c).log_fd >= 0) {
    EXPECT_EQ(::write(st(c).log_fd, "LOG\r\n", 5), 5);
  }
  c.out.write("logged\n");
}
void h_a(CommandContext& c) { c.out.write("sub a\n"); }
void h_b(CommandContext& c) { c.out.print("sub b {}\n", c.arg(0)); }

constexpr Command kSub[] = {
    {"a", "first", "grp a", 0, 0, h_a},
    {"b", "second", "grp b <x>", 1, 1, h_b},
};
constexpr Command kTestCommands[] = {
    {"help", "help", "help [command [sub]]", 0, 2, h_help},
    {"echo", "echo up to 3 words", "echo [w [w [w]]]", 0, 3, h_echo},
    {"pair", "two words", "pair <a> <b>", 2, 2, h_pair},
    {"num", "a number", "num <n>", 1, 1, h_num},
    {"count", "n lines, paged", "count <n>", 1, 1, h_count},
    {"flood", "too much output", "flood", 0, 0, h_flood},
    {"grp", "a group", "grp a|b <x>", 0, 0, nullptr, kSub},
    {"stop", "ask the test to stop", "stop", 0, 0, h_stop},
    {"log", "write a log line", "log", 0, 0, h_log},
    {"secret", "hidden", "secret", 0, 0, h_a, {}, true},
};
constexpr CommandTable kTestTable{kTestCommands};

std::string run(std::string_view line, TestState* s = nullptr, int* pages = nullptr) {
  TestState local;
  Output o;
  std::string all;
  int flushes = 0;
  kTestTable.run(line, o, s ? s : &local, [&] {
    all += o.view();
    o.clear();
    ++flushes;
  });
  all += o.view();
  if (pages) *pages = flushes + 1;
  return all;
}

TEST(CommandTable, DispatchesWithArgumentsAfterThePath) {
  TestState s;
  EXPECT_EQ(run("echo one two", &s), "one two\n");
  EXPECT_EQ(s.calls, 1);
  EXPECT_EQ(s.last_args, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(run("grp a"), "sub a\n");
  EXPECT_EQ(run("  grp   b   7 "), "sub b 7\n");
  EXPECT_EQ(run(""), "");
  EXPECT_EQ(run("   "), "");
}

TEST(CommandTable, ArgumentCountsAtNMinusOneNAndNPlusOne) {
  TestState s;
  EXPECT_EQ(run("pair x", &s), "usage: pair <a> <b>\n");
  EXPECT_EQ(run("pair x y", &s), "x+y\n");
  EXPECT_EQ(run("pair x y z", &s), "usage: pair <a> <b>\n");
  EXPECT_EQ(run("echo a b c", &s), "a b c\n");
  EXPECT_EQ(run("echo a b c d", &s), "usage: echo [w [w [w]]]\n");
  EXPECT_EQ(s.calls, 1);  // the handler never saw a bad count
  // More words than the tokenizer keeps: a usage answer, not a silent cut.
  EXPECT_EQ(run("echo 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17"), "usage: echo [w [w [w]]]\n");
  EXPECT_EQ(run("num x"), "usage: num <n>\n");  // a value only the handler can judge
}

TEST(CommandTable, UnknownCommandsAndSubcommands) {
  EXPECT_EQ(run("nosuch"), "error: unknown command 'nosuch' (try 'help')\n");
  EXPECT_EQ(run("nosuch a b"), "error: unknown command 'nosuch' (try 'help')\n");
  EXPECT_EQ(run("grp"), "usage: grp a|b <x>\n");    // a group needs a subcommand
  EXPECT_EQ(run("grp c"), "usage: grp a|b <x>\n");  // unknown subcommand
  EXPECT_EQ(run("grp b"), "usage: grp b <x>\n");    // subcommand with a bad count
  EXPECT_EQ(run("ECHO"), "error: unknown command 'ECHO' (try 'help')\n");
}

TEST(CommandTable, HelpListsEveryVisibleCommandAndShowsOne) {
  std::string all = run("help");
  for (const Command& c : kTestCommands) {
    if (c.hidden) EXPECT_EQ(all.find(c.help), std::string::npos) << c.name;
    else EXPECT_NE(all.find(c.usage), std::string::npos) << c.name;
  }
  std::string grp = run("help grp");
  EXPECT_NE(grp.find("grp a|b <x>"), std::string::npos);
  EXPECT_NE(grp.find("grp b <x>"), std::string::npos);
  EXPECT_EQ(run("help grp b"), "grp b <x>\n  second\n");
  EXPECT_EQ(run("help nosuch"), "error: unknown command 'nosuch' (try 'help')\n");
}

TEST(CommandTable, LongAnswersArePagedAndOverflowIsFlagged) {
  int pages = 0;
  std::string all = run("count 2000", nullptr, &pages);
  EXPECT_GT(pages, 5);
  std::string expect;
  for (int i = 0; i < 2000; ++i) expect += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(all, expect);
  Output o;
  TestState s;
  kTestTable.run("flood", o, &s, [] {});
  EXPECT_TRUE(o.truncated());
  EXPECT_EQ(o.size(), Output::kBytes - Output::kReserve);
}

// ---- sessions ----------------------------------------------------------------------------------

constexpr std::string_view kPrompt = "bulkhead> ";

struct Rig {
  asio::io_context io{1};
  TaskPool<8> tasks{"t_console_task", io};
  TestState state;
  ConsoleServer<2> server;
  explicit Rig(SessionOptions o = {}) : server(tasks, kTestTable, &state, o, "t_console_session") {}
  void turn(std::chrono::milliseconds d = 2ms) {
    io.run_for(d);
    if (io.stopped()) io.restart();
  }
  // Stops the server and runs until every task ended.
  void finish() {
    server.stop();
    for (int i = 0; i < 1000 && tasks.live() > 0; ++i) turn();
    EXPECT_EQ(tasks.live(), 0u);
  }
  ~Rig() { finish(); }
};

// A peer on a raw fd: writes, then reads (driving the reactor) until the prompt or EOF.
struct Peer {
  int fd = -1;
  Rig* rig = nullptr;
  std::string buf;
  bool eof = false;

  ~Peer() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  void send(std::string_view s) const {
    ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  void pump(std::chrono::milliseconds d = 2ms) {
    rig->turn(d);
    char tmp[4096];
    for (;;) {
      ssize_t n = ::read(fd, tmp, sizeof tmp);
      if (n > 0) {
        buf.append(tmp, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) eof = true;
      break;
    }
  }
  // Everything up to and including the next prompt (the prompt is cut off), or what came before
  // EOF / the deadline.
  std::string answer(std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto at = buf.find(kPrompt);
      if (at != std::string::npos) {
        std::string a = buf.substr(0, at);
        buf.erase(0, at + kPrompt.size());
        return a;
      }
      if (eof || std::chrono::steady_clock::now() > deadline) return std::exchange(buf, {});
      pump();
    }
  }
  std::string ask(std::string_view line) {
    send(line);
    return answer();
  }
  bool closed_by_peer(std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof && std::chrono::steady_clock::now() < deadline) pump();
    return eof;
  }
};

int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST(ConsoleSocket, AnswersEveryLineThenThePromptAndSurvivesGarbage) {
  test::CensusGuard census;
  test::TempDir dir;
  const std::string path = dir.file("run/sub/console.sock");  // parent directories are created
  {
    Rig rig;
    ASSERT_FALSE(rig.server.listen_unix(path));
    struct stat sst {};
    ASSERT_EQ(::lstat(path.c_str(), &sst), 0);
    EXPECT_TRUE(S_ISSOCK(sst.st_mode));
    EXPECT_EQ(sst.st_mode & 0777, 0600u);
    ASSERT_TRUE(rig.server.start());
    Peer p{connect_unix(path), &rig};
    ASSERT_GE(p.fd, 0);
    EXPECT_EQ(p.ask("echo hi there\n"), "hi there\n");
    EXPECT_EQ(p.ask("\n"), "");  // an empty line: just the prompt
    EXPECT_EQ(p.ask("nosuch\r\n"), "error: unknown command 'nosuch' (try 'help')\n");
    EXPECT_EQ(p.ask("pair 1\r"), "usage: pair <a> <b>\n");
    // NUL bytes and control garbage vanish; the command still runs.
    EXPECT_EQ(p.ask(std::string("ec\0ho \x01" "x\x02\n", 11)), "x\n");
    // Binary garbage: one answer per line end in it, never a crash.
    std::string junk;
    for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 131 + 7) & 0xff));
    junk += "\n";
    p.send(junk);
    for (int i = 0; i < 200 && p.buf.find("echo ok") == std::string::npos; ++i) {
      if (i == 0) p.send("echo ok\n");
      p.pump(5ms);
    }
    EXPECT_NE(p.buf.find("ok\n"), std::string::npos);
    p.buf.clear();
    EXPECT_EQ(p.ask("echo a\necho b\n"), "a\n");  // pipelined: one answer each, in order
    EXPECT_EQ(p.answer(), "b\n");
    // Paged output arrives whole.
    std::string counted = p.ask("count 500\n");
    EXPECT_EQ(std::count(counted.begin(), counted.end(), '\n'), 500);
    EXPECT_NE(counted.find("line 499\n"), std::string::npos);
    // Overflow without paging is cut and says so; the prompt still follows.
    std::string flood = p.ask("flood\n");
    EXPECT_NE(flood.find("... (output truncated)\n"), std::string::npos);
    EXPECT_GT(rig.server.stats().commands, 5u);
    EXPECT_EQ(rig.server.stats().truncated, 1u);
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the socket file is removed at stop";
}

TEST(ConsoleSocket, OverlongLinesAreRejectedAndTheSessionGoesOn) {
  test::CensusGuard census;
  test::TempDir dir;
  SessionOptions o;
  o.max_line = 64;
  Rig rig(o);
  ASSERT_FALSE(rig.server.listen_unix(dir.file("c.sock")));
  ASSERT_TRUE(rig.server.start());
  Peer p{connect_unix(dir.file("c.sock")), &rig};
  EXPECT_EQ(p.ask("echo " + std::string(59, 'a') + "\n"), std::string(59, 'a') + "\n");  // 64 bytes: N
  EXPECT_EQ(p.ask("echo " + std::string(60, 'a') + "\n"), "error: line too long (max 64 bytes), discarded\n");
  // A huge line in many writes, then a normal one.
  for (int i = 0; i < 20; ++i) {
    p.send(std::string(1000, 'z'));
    p.pump();
  }
  EXPECT_EQ(p.ask("\necho fine\n"), "error: line too long (max 64 bytes), discarded\n");
  EXPECT_EQ(p.answer(), "fine\n");
  EXPECT_EQ(rig.server.stats().overlong, 2u);
}

TEST(ConsoleSocket, SessionLimitRefusesWithAMessageAndFreesOnDisconnect) {
  test::CensusGuard census;
  test::TempDir dir;
  Rig rig;
  const std::string path = dir.file("c.sock");
  ASSERT_FALSE(rig.server.listen_unix(path));
  ASSERT_TRUE(rig.server.start());
  Peer a{connect_unix(path), &rig};
  EXPECT_EQ(a.ask("echo 1\n"), "1\n");
  EXPECT_EQ(rig.server.pool().in_use(), 1u);  // N-1
  Peer b{connect_unix(path), &rig};
  EXPECT_EQ(b.ask("echo 2\n"), "2\n");
  EXPECT_EQ(rig.server.pool().in_use(), 2u);  // N
  Peer c{connect_unix(path), &rig};           // N+1
  std::string refusal = c.answer();
  EXPECT_EQ(refusal, "error: console busy: all 2 sessions in use, try again later\n");
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_EQ(rig.server.stats().refused, 1u);
  EXPECT_EQ(rig.server.pool().stats().refusals, 1u);
  a.close();
  for (int i = 0; i < 500 && rig.server.pool().in_use() > 1; ++i) rig.turn();
  EXPECT_EQ(rig.server.pool().in_use(), 1u);
  Peer d{connect_unix(path), &rig};
  EXPECT_EQ(d.ask("echo 4\n"), "4\n");
  EXPECT_EQ(rig.server.pool().stats().high_water, 2u);
}

TEST(ConsoleSocket, DisconnectMidCommandNeverRunsAPartialLine) {
  test::CensusGuard census;
  test::TempDir dir;
  Rig rig;
  const std::string path = dir.file("c.sock");
  ASSERT_FALSE(rig.server.listen_unix(path));
  ASSERT_TRUE(rig.server.start());
  {
    Peer p{connect_unix(path), &rig};
    p.send("stop");  // no line end, then gone
    p.close();
    for (int i = 0; i < 200 && rig.server.pool().in_use() > 0; ++i) rig.turn();
  }
  EXPECT_FALSE(rig.state.stop);
  {
    Peer p{connect_unix(path), &rig};  // a whole command, then gone before the answer
    p.send("count 100000\n");
    for (int i = 0; i < 3; ++i) rig.turn();
    p.close();
    for (int i = 0; i < 1000 && rig.server.pool().in_use() > 0; ++i) rig.turn();
  }
  EXPECT_EQ(rig.server.pool().in_use(), 0u);
  Peer p{connect_unix(path), &rig};
  EXPECT_EQ(p.ask("echo still here\n"), "still here\n");
}

TEST(ConsoleSocket, IdleSessionsAreClosedAfterTheTimeout) {
  test::CensusGuard census;
  test::TempDir dir;
  SessionOptions o;
  o.idle_timeout = 50ms;
  Rig rig(o);
  ASSERT_FALSE(rig.server.listen_unix(dir.file("c.sock")));
  ASSERT_TRUE(rig.server.start());
  Peer p{connect_unix(dir.file("c.sock")), &rig};
  EXPECT_EQ(p.ask("echo x\n"), "x\n");
  EXPECT_TRUE(p.closed_by_peer());
  EXPECT_EQ(rig.server.stats().idle_timeouts, 1u);
}

TEST(ConsoleSocket, StopClosesIdleSessionsAndAStaleSocketIsReplaced) {
  test::CensusGuard census;
  test::TempDir dir;
  const std::string path = dir.file("c.sock");
  {
    // A stale socket file (its process is gone) is replaced.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ::close(fd);
  }
  Rig rig;
  ASSERT_FALSE(rig.server.listen_unix(path));
  {
    // A live one is not taken over.
    asio::io_context io2;
    Acceptor other(io2.get_executor());
    EXPECT_EQ(bind_control_socket(other, path), std::errc::address_in_use);
    std::ofstream(dir.file("plain")) << "x";
    EXPECT_EQ(bind_control_socket(other, dir.file("plain")), std::errc::file_exists);
  }
  ASSERT_TRUE(rig.server.start());
  Peer p{connect_unix(path), &rig};
  EXPECT_EQ(p.ask("echo x\n"), "x\n");
  rig.server.stop();
  EXPECT_TRUE(p.closed_by_peer());
  EXPECT_EQ(connect_unix(path), -1);
}

TEST(ConsoleSocket, AStopCommandFinishesItsAnswerBeforeTheSessionEnds) {
  test::CensusGuard census;
  test::TempDir dir;
  Rig rig;
  ASSERT_FALSE(rig.server.listen_unix(dir.file("c.sock")));
  ASSERT_TRUE(rig.server.start());
  Peer p{connect_unix(dir.file("c.sock")), &rig};
  rig.state.on_stop = [&] { rig.server.stop(); };  // from inside the handler, as an app's shutdown does
  p.send("stop\necho never\n");
  EXPECT_EQ(p.answer(), "stopping\n");
  EXPECT_TRUE(rig.state.stop);
  EXPECT_TRUE(p.closed_by_peer());
  EXPECT_EQ(p.buf.find("never"), std::string::npos);
}

// ---- terminals ---------------------------------------------------------------------------------

int open_raw(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  return fd;
}

TEST(ConsolePty, EchoesEndsLinesWithCrlfAndSurvivesHangups) {
  test::CensusGuard census;
  Rig rig;
  std::string slave;
  ASSERT_FALSE(rig.server.open_pty(slave));
  ASSERT_EQ(slave.rfind("/dev/pts/", 0), 0u) << slave;
  ASSERT_TRUE(rig.server.start());
  EXPECT_EQ(rig.server.pool().in_use(), 1u);  // the PTY session holds its slot
  {
    Peer p{open_raw(slave), &rig};
    ASSERT_GE(p.fd, 0);
    termios t{};
    ASSERT_EQ(::tcgetattr(p.fd, &t), 0);
    EXPECT_EQ(t.c_lflag & (ECHO | ICANON), 0u) << "the slave is raw";
    EXPECT_EQ(p.ask(""), "") << "a terminal shows the prompt at once";
    EXPECT_EQ(p.ask("echo hi\r"), "echo hi\r\nhi\r\n");
    EXPECT_EQ(p.ask("ecj\x7fho x\r\n"), "ecj\b \bho x\r\nx\r\n");
    EXPECT_EQ(p.ask("nope\n"), "nope\r\nerror: unknown command 'nope' (try 'help')\r\n");
    p.send("ech");  // then the terminal goes away mid-line
  }
  for (int i = 0; i < 50; ++i) rig.turn(5ms);
  {
    Peer p{open_raw(slave), &rig};  // a new terminal: the half line is forgotten
    ASSERT_GE(p.fd, 0);
    p.pump(20ms);
    p.buf.clear();  // stale echo left in the slave's queue
    EXPECT_EQ(p.ask("o back\r"), "o back\r\nerror: unknown command 'o' (try 'help')\r\n");
  }
}

TEST(ConsoleSerial, RawLineOverAPtySlaveAndBadBaudRates) {
  test::CensusGuard census;
  int master = -1;
  char slave[64];
  ASSERT_EQ(hal::open_pty(master, slave, sizeof slave), 0);
  {
    Rig rig;
    EXPECT_EQ(rig.server.open_serial(slave, 12345), std::errc::invalid_argument);
    EXPECT_TRUE(rig.server.open_serial("/nonexistent/tty", 115200));
    EXPECT_EQ(rig.server.pool().in_use(), 0u);
    ASSERT_FALSE(rig.server.open_serial(slave, 115200));
    termios t{};
    int probe = ::open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
    ASSERT_GE(probe, 0);
    ASSERT_EQ(::tcgetattr(probe, &t), 0);
    ::close(probe);
    EXPECT_EQ(::cfgetospeed(&t), static_cast<speed_t>(B115200));
    EXPECT_EQ(t.c_cflag & CSIZE, static_cast<tcflag_t>(CS8));
    EXPECT_EQ(t.c_cflag & (PARENB | CSTOPB), 0u);
    EXPECT_EQ(t.c_lflag & (ECHO | ICANON), 0u);
    ASSERT_TRUE(rig.server.start());
    Peer p{master, &rig};
    EXPECT_EQ(p.ask(""), "") << "a terminal shows the prompt at once";
    EXPECT_EQ(p.ask("pair 1 2\r"), "pair 1 2\r\n1+2\r\n");
    EXPECT_EQ(p.ask(std::string("\0\0echo z\r", 9)), "echo z\r\nz\r\n");
    // A log line written while a command runs follows the whole echo, even when the line came in
    // two reads and the first part was echoed already.
    rig.state.log_fd = ::open(slave, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    ASSERT_GE(rig.state.log_fd, 0);
    p.send("lo");
    p.pump(20ms);
    EXPECT_EQ(p.ask("g\r"), "log\r\nLOG\r\nlogged\r\n");
    ::close(std::exchange(rig.state.log_fd, -1));
    p.fd = -1;  // closed below, after the session
  }
  ::close(master);
}

TEST(ConsoleStdio, BorrowsTheDescriptorsAndGivesThemBackUnchanged) {
  test::CensusGuard census;
  int in[2], out[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  int in_flags = ::fcntl(in[0], F_GETFL), out_flags = ::fcntl(out[1], F_GETFL);
  {
    Rig rig;
    ASSERT_FALSE(rig.server.open_stdio(in[0], out[1]));
    ASSERT_TRUE(rig.server.start());
    Peer p{out[0], &rig};
    ::fcntl(out[0], F_SETFL, ::fcntl(out[0], F_GETFL) | O_NONBLOCK);
    ASSERT_EQ(::write(in[1], "echo a\nnosuch\n", 14), 14);
    EXPECT_EQ(p.answer(), "a\n");  // no echo, LF line ends, no greeting on a pipe
    EXPECT_EQ(p.answer(), "error: unknown command 'nosuch' (try 'help')\n");
    ::close(in[1]);  // EOF ends the session, not the server
    for (int i = 0; i < 200 && rig.server.pool().in_use() > 0; ++i) rig.turn();
    EXPECT_EQ(rig.server.pool().in_use(), 0u);
    p.fd = -1;
  }
  // Borrowed: still open, flags as before.
  EXPECT_EQ(::fcntl(in[0], F_GETFL), in_flags);
  EXPECT_EQ(::fcntl(out[1], F_GETFL), out_flags);
  ::close(in[0]);
  ::close(out[0]);
  ::close(out[1]);
}

}  // namespace
}  // namespace bh::console
