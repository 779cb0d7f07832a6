// A start that fails part-way (admin, console and the watchdog are up when ingest cannot listen)
// stops and drains what it started before the services are freed: no task is resumed or cancelled
// into freed memory (under ASan that was a heap-use-after-free in the admin acceptor's cancel
// hook), and every pool is back at zero. And the harness's own answer to a port race.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "tests/support/harness.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;

// Listens on 127.0.0.1:port (the port another process took). Returns the fd, or -1.
int occupy(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST(Start, AFailedStartDrainsItsTasksBeforeItFreesTheServices) {
  Bulkhead b("", /*start_now=*/false);
  const int taken = occupy(b.ingest_port());
  ASSERT_GE(taken, 0);
  EXPECT_FALSE(b.start_once());
  auto code = b.child()->wait(10s);
  ::close(taken);
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 1) << b.log();
  const std::string log = b.log();
  // Admin was already accepting (its accept task suspended) when ingest failed.
  EXPECT_NE(log.find("admin: listening on"), std::string::npos) << log;
  EXPECT_NE(log.find("cannot start: ingest: cannot listen on"), std::string::npos) << log;
  EXPECT_NE(log.find("start abandoned: every task ended, 0 pool(s) not at zero"), std::string::npos) << log;
  EXPECT_EQ(log.find("still in use"), std::string::npos) << log;
  EXPECT_EQ(log.find("ERROR: AddressSanitizer"), std::string::npos) << log;  // not the watchdog's ASan-build notice
  EXPECT_EQ(log.find("acceptor destroyed"), std::string::npos) << log;
}

TEST(Start, TheHarnessRetriesAStartWhosePortWasTakenMeanwhile) {
  Bulkhead b("", /*start_now=*/false);
  const std::uint16_t first = b.ingest_port();
  const int taken = occupy(first);  // as if another test's process had picked the same port
  ASSERT_GE(taken, 0);
  EXPECT_TRUE(b.start()) << b.log();
  ::close(taken);
  EXPECT_NE(b.ingest_port(), first);
  EXPECT_EQ(send_events(b.ingest_port(), 1).size(), 1u);
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
}

}  // namespace
}  // namespace bh::test
