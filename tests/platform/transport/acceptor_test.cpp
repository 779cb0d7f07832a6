// Acceptor: accept within capacity, the counted refusal at N+1 (no connection slot, no task
// slot) with the slot and FD back, the Unix listener, the handshake hook, and teardown on stop
// and on cancel with every pool at zero and FDs at baseline. Real sockets on loopback; the
// reactor is driven by the test (no sleeps: every wait polls a condition with a deadline).
#include "platform/transport/acceptor.hpp"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <asio/write.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>

#include "tests/support/census.hpp"
#include "tests/support/fake_clock.hpp"

namespace bh {
// Named, not anonymous: the connection types appear in the acceptor's coroutine frames.
namespace acceptor_test {
using namespace std::chrono_literals;

struct Shared {
  int served = 0;  // run() entered
  int closed = 0;  // connections destroyed
};

// Echoes what it reads until EOF, an error or cancellation. Evicting (Base = Evictable): it waits
// on its peer, stalled since it opened, until a byte 'B' arrives; from then on it counts as busy
// for good (as an ingest connection with events in flight).
struct NotEvictable {};
template <typename Base>
class EchoConnT final : public Base {
 public:
  static constexpr bool kEvictable = std::is_base_of_v<Evictable, Base>;
  EchoConnT(StreamSocket&& s, Shared& sh) noexcept : sock_(std::move(s)), sh_(sh) {}
  ~EchoConnT() { ++sh_.closed; }
  StreamSocket& socket() noexcept { return sock_; }
  void evict() noexcept {
    std::error_code ig;
    sock_.cancel(ig);
  }
  Task<void> run() {
    ++sh_.served;
    bool is_busy = false;
    const Clock::time_point opened = Clock::now();
    for (;;) {
      if constexpr (kEvictable) {
        if (is_busy) this->busy();
        else this->waiting_since(opened);
      }
      auto [ec, n] = co_await timed_op(
          kEvictable ? Clock::duration(1h) : Clock::duration(10s),
          [&](auto h) { sock_.async_read_some(asio::buffer(buf_), std::move(h)); },
          [&] {
            std::error_code ig;
            sock_.cancel(ig);
          });
      if (ec || cancelled()) break;
      if (buf_[0] == 'B') is_busy = true;
      auto [wec, wn] = co_await timed_op(
          10s, [&](auto h) { asio::async_write(sock_, asio::buffer(buf_, n), std::move(h)); },
          [&] {
            std::error_code ig;
            sock_.cancel(ig);
          });
      (void)wn;
      if (wec) break;
    }
    if constexpr (kEvictable) {
      std::error_code ig;
      sock_.shutdown(asio::socket_base::shutdown_both, ig);
    }
  }

 private:
  StreamSocket sock_;
  Shared& sh_;
  char buf_[256];
};
using EchoConn = EchoConnT<NotEvictable>;
using StallConn = EchoConnT<Evictable>;

template <typename Conn>
struct OwnerOf final : AcceptOwner {
  Pool<Conn, 2> pool{"t_acceptor_conn"};
  Shared sh;
  Admission admit(Acceptor& from, StreamSocket& s) noexcept override {
    return from.admit_to(pool, "t_acceptor_conn", s, sh);
  }
  std::string_view refusal() noexcept override { return "busy\n"; }
};
using Owner = OwnerOf<EchoConn>;

template <std::uint32_t Tasks, typename O = Owner>
struct Rig {
  asio::io_context io{1};
  TaskPool<Tasks> tasks{"t_acceptor_task", io};
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;
  ListenerCloses closes;
  O owner;
  Acceptor acc{tasks, owner, AcceptCounters{accepted, refused, closes}};

  void turn() {
    io.run_for(2ms);
    if (io.stopped()) io.restart();
  }
  // Drives the reactor until pred() holds (or 3 s pass). Returns pred().
  bool until(const std::function<bool()>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (!pred() && std::chrono::steady_clock::now() < deadline) turn();
    return pred();
  }
  ~Rig() {
    acc.stop();
    tasks.cancel_all();
    EXPECT_TRUE(until([&] { return tasks.live() == 0; }));
  }
};

int connect_tcp(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads what the server sends until `want` bytes or EOF, driving the reactor. eof: the peer closed.
template <typename R>
std::string read_from(R& rig, int fd, std::size_t want, bool* eof = nullptr) {
  std::string got;
  bool closed = false;
  rig.until([&] {
    char tmp[256];
    for (;;) {
      ssize_t n = ::recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
      if (n > 0) {
        got.append(tmp, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
      break;
    }
    return closed || got.size() >= want;
  });
  if (eof) *eof = closed;
  return got;
}

void send_all(int fd, std::string_view s) {
  ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

TEST(Acceptor, AcceptsWithinCapacityAndRefusesTheNextConnectionCounted) {
  test::CensusGuard census;
  Rig<4> rig;
  ASSERT_FALSE(rig.acc.listen_tcp(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  const std::uint16_t port = rig.acc.port();
  ASSERT_NE(port, 0);
  ASSERT_TRUE(rig.acc.start("t_accept"));
  EXPECT_EQ(rig.tasks.live(), 1u);

  int a = connect_tcp(port);  // N-1
  ASSERT_GE(a, 0);
  ASSERT_TRUE(rig.until([&] { return rig.owner.pool.in_use() == 1; }));
  send_all(a, "one");
  EXPECT_EQ(read_from(rig, a, 3), "one");
  int b = connect_tcp(port);  // N
  ASSERT_GE(b, 0);
  ASSERT_TRUE(rig.until([&] { return rig.owner.pool.in_use() == 2; }));
  send_all(b, "two");
  EXPECT_EQ(read_from(rig, b, 3), "two");
  EXPECT_EQ(rig.accepted, 2u);
  EXPECT_EQ(rig.refused, 0u);

  const int fds_before = test::open_fds();
  int c = connect_tcp(port);  // N+1: told, closed, counted
  ASSERT_GE(c, 0);
  bool eof = false;
  EXPECT_EQ(read_from(rig, c, 100, &eof), "busy\n");
  EXPECT_TRUE(eof);
  EXPECT_EQ(rig.accepted, 3u);
  EXPECT_EQ(rig.refused, 1u);
  EXPECT_EQ(rig.owner.pool.stats().refusals, 1u);
  EXPECT_EQ(rig.owner.pool.in_use(), 2u);
  EXPECT_EQ(rig.owner.sh.served, 2);
  ::close(c);
  EXPECT_EQ(test::open_fds(), fds_before) << "the refused connection's FD is closed\n" << test::describe_fds();

  // A connection that ends gives its slot back: the next one is served.
  ::close(a);
  ASSERT_TRUE(rig.until([&] { return rig.owner.pool.in_use() == 1; }));
  int d = connect_tcp(port);
  ASSERT_GE(d, 0);
  ASSERT_TRUE(rig.until([&] { return rig.owner.pool.in_use() == 2; }));
  send_all(d, "four");
  EXPECT_EQ(read_from(rig, d, 4), "four");
  EXPECT_EQ(rig.owner.pool.stats().high_water, 2u);
  ::close(b);
  ::close(d);
}

TEST(Acceptor, NoTaskSlotIsARefusalWithTheConnectionSlotBack) {
  test::CensusGuard census;
  Rig<2> rig;  // the accept task and one connection task
  ASSERT_FALSE(rig.acc.listen_tcp(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  ASSERT_TRUE(rig.acc.start("t_accept"));
  int a = connect_tcp(rig.acc.port());
  ASSERT_TRUE(rig.until([&] { return rig.owner.pool.in_use() == 1; }));
  int b = connect_tcp(rig.acc.port());  // a connection slot is free, a task slot is not
  bool eof = false;
  EXPECT_EQ(read_from(rig, b, 100, &eof), "busy\n");
  EXPECT_TRUE(eof);
  EXPECT_EQ(rig.refused, 1u);
  EXPECT_EQ(rig.tasks.stats().refused, 1u);
  EXPECT_EQ(rig.owner.pool.in_use(), 1u);  // the slot taken for it is back
  EXPECT_EQ(rig.owner.sh.closed, 1);
  EXPECT_EQ(rig.owner.sh.served, 1);
  ::close(a);
  ::close(b);
}

TEST(Acceptor, StopEndsAcceptingAndCancelEndsEveryConnectionWithFdsAtBaseline) {
  test::CensusGuard census;
  Rig<4> rig;
  const int baseline = test::open_fds();
  ASSERT_FALSE(rig.acc.listen_tcp(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  const std::uint16_t port = rig.acc.port();
  ASSERT_TRUE(rig.acc.start("t_accept"));
  int a = connect_tcp(port);
  int b = connect_tcp(port);
  ASSERT_TRUE(rig.until([&] { return rig.owner.pool.in_use() == 2; }));

  rig.acc.stop();  // the accept task ends; connections are the owner's to end
  ASSERT_TRUE(rig.until([&] { return rig.tasks.live() == 2; }));
  EXPECT_EQ(connect_tcp(port), -1);
  EXPECT_EQ(rig.acc.port(), 0);

  rig.tasks.cancel_all();  // shutdown past its grace: every connection task ends
  ASSERT_TRUE(rig.until([&] { return rig.tasks.live() == 0; }));
  EXPECT_EQ(rig.owner.pool.in_use(), 0u);
  EXPECT_EQ(rig.owner.sh.closed, 2);
  bool eof = false;
  read_from(rig, a, 1, &eof);
  EXPECT_TRUE(eof);
  ::close(a);
  ::close(b);
  EXPECT_EQ(test::open_fds(), baseline) << test::describe_fds();
}

TEST(Acceptor, CancelEndsTheAcceptTaskToo) {
  test::CensusGuard census;
  Rig<4> rig;
  ASSERT_FALSE(rig.acc.listen_tcp(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  ASSERT_TRUE(rig.acc.start("t_accept"));
  rig.turn();
  rig.tasks.cancel_all();
  ASSERT_TRUE(rig.until([&] { return rig.tasks.live() == 0; }));
  EXPECT_EQ(rig.tasks.stats().cancelled, 1u);
}

TEST(Acceptor, ListenAddressesAreParsedOnce) {
  test::CensusGuard census;
  Rig<2> rig;
  EXPECT_EQ(rig.acc.listen("localhost:80"), std::errc::invalid_argument);  // no name resolution
  EXPECT_EQ(rig.acc.listen("127.0.0.1"), std::errc::invalid_argument);
  EXPECT_EQ(rig.acc.listen("127.0.0.1:0"), std::errc::invalid_argument);
  EXPECT_FALSE(rig.acc.is_open());
  EXPECT_TRUE(rig.acc.start("t_accept"));  // not listening: nothing to start, no error
  EXPECT_EQ(rig.tasks.live(), 0u);
}

TEST(Acceptor, UnixListenerServesAndAControlSocketIsOwnerOnly) {
  test::CensusGuard census;
  test::TempDir dir;
  const std::string path = dir.file("run/sub/ctl.sock");  // parents created (owner_only)
  {
    Rig<4> rig;
    ASSERT_FALSE(rig.acc.listen_unix(path, UnixListenOptions{.owner_only = true}));
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(rig.acc.unix_path(), path);
    EXPECT_EQ(rig.acc.port(), 0);
    ASSERT_TRUE(rig.acc.start("t_accept"));
    int a = connect_unix(path);
    ASSERT_GE(a, 0);
    send_all(a, "unix");
    EXPECT_EQ(read_from(rig, a, 4), "unix");
    {
      // A live control socket is not taken over; a plain file is not replaced.
      Owner other_owner;
      std::uint64_t n1 = 0, n2 = 0;
      ListenerCloses cl;
      Acceptor other(rig.tasks, other_owner, AcceptCounters{n1, n2, cl});
      EXPECT_EQ(other.listen_unix(path, UnixListenOptions{.owner_only = true}), std::errc::address_in_use);
      int f = ::open(dir.file("plain").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
      ::close(f);
      EXPECT_EQ(other.listen_unix(dir.file("plain"), UnixListenOptions{.owner_only = true}), std::errc::file_exists);
      EXPECT_FALSE(other.is_open());
    }
    ::close(a);
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the socket file is removed at stop";
}

// The TLS plug: runs in the connection's task before it is served; a failure closes the
// connection, counted, and gives the slot back.
struct Greeting final : Handshake {
  int calls = 0;
  std::uint32_t last_slot = 99;
  Task<std::error_code> handshake(StreamSocket& s, std::uint32_t slot, Clock::duration timeout) override {
    ++calls;
    last_slot = slot;
    if (calls == 2) co_return make_error_code(errc::protocol);
    auto [ec, n] = co_await timed_op(
        timeout, [&](auto h) { asio::async_write(s, asio::buffer("hello\n", 6), std::move(h)); },
        [&] {
          std::error_code ig;
          s.cancel(ig);
        });
    (void)n;
    co_return ec;
  }
};

TEST(Acceptor, AHandshakeRunsBeforeServingAndItsFailureIsCounted) {
  test::CensusGuard census;
  Rig<4> rig;
  Greeting hello;
  rig.acc.set_handshake(&hello, 1s);
  ASSERT_FALSE(rig.acc.listen_tcp(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  ASSERT_TRUE(rig.acc.start("t_accept"));
  int a = connect_tcp(rig.acc.port());
  EXPECT_EQ(read_from(rig, a, 6), "hello\n");
  send_all(a, "x");
  EXPECT_EQ(read_from(rig, a, 1), "x");
  EXPECT_EQ(hello.last_slot, 0u);
  int b = connect_tcp(rig.acc.port());  // its handshake fails
  bool eof = false;
  EXPECT_EQ(read_from(rig, b, 100, &eof), "");
  EXPECT_TRUE(eof);
  EXPECT_EQ(rig.acc.stats().handshake_failures, 1u);
  EXPECT_EQ(rig.owner.pool.in_use(), 1u);
  EXPECT_EQ(rig.owner.sh.served, 1);
  ::close(a);
  ::close(b);
}

}  // namespace acceptor_test
}  // namespace bh

namespace bh::acceptor_test {

// The eviction policy: at a full pool the newcomer takes the slot of the connection stalled
// longest (at least min_stall); the victim is closed and counted `evicted`; no refusal.
TEST(AcceptorEviction, TheLongestStalledConnectionMakesRoomForANewcomer) {
  test::CensusGuard census;
  Rig<6, OwnerOf<StallConn>> rig;
  ASSERT_FALSE(rig.acc.listen_tcp(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  const std::uint16_t port = rig.acc.port();
  ASSERT_TRUE(rig.acc.start("t_accept"));
  const int fds_before = test::open_fds();

  int a = connect_tcp(port);
  ASSERT_TRUE(rig.until([&] { return rig.owner.sh.served == 1; }));
  test::advance(rig.io, 100ms);
  int b = connect_tcp(port);
  ASSERT_TRUE(rig.until([&] { return rig.owner.sh.served == 2; }));
  test::advance(rig.io, rig.acc.eviction().min_stall);  // both stalled long enough; a the longest

  int c = connect_tcp(port);
  ASSERT_GE(c, 0);
  send_all(c, "c");
  EXPECT_EQ(read_from(rig, c, 1), "c") << "the newcomer is served";
  bool eof = false;
  EXPECT_EQ(read_from(rig, a, 1, &eof), "");
  EXPECT_TRUE(eof) << "the longest-stalled connection was closed";
  EXPECT_EQ(rig.closes[CloseReason::evicted], 1u);
  EXPECT_EQ(rig.refused, 0u);
  send_all(b, "b");
  EXPECT_EQ(read_from(rig, b, 1), "b") << "the other stalled connection is untouched";
  EXPECT_EQ(rig.owner.pool.in_use(), 2u);
  ::close(a);
  ::close(b);
  ::close(c);
  ASSERT_TRUE(rig.until([&] { return rig.owner.pool.in_use() == 0; }));
  EXPECT_EQ(test::open_fds(), fds_before) << test::describe_fds();
}

// A busy connection (events in flight) is never evicted, nor one stalled for less than min_stall:
// then the newcomer is refused as before.
TEST(AcceptorEviction, NeverEvictsABusyOrFreshConnection) {
  test::CensusGuard census;
  Rig<6, OwnerOf<StallConn>> rig;
  ASSERT_FALSE(rig.acc.listen_tcp(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  const std::uint16_t port = rig.acc.port();
  ASSERT_TRUE(rig.acc.start("t_accept"));

  int a = connect_tcp(port);
  ASSERT_TRUE(rig.until([&] { return rig.owner.sh.served == 1; }));
  send_all(a, "B");
  EXPECT_EQ(read_from(rig, a, 1), "B");
  test::advance(rig.io, 10 * rig.acc.eviction().min_stall);  // a: busy however long
  int b = connect_tcp(port);
  ASSERT_TRUE(rig.until([&] { return rig.owner.sh.served == 2; }));

  int c = connect_tcp(port);  // b is fresh, a busy: refused
  bool eof = false;
  EXPECT_EQ(read_from(rig, c, 100, &eof), "busy\n");
  EXPECT_TRUE(eof);
  EXPECT_EQ(rig.refused, 1u);
  EXPECT_EQ(rig.closes[CloseReason::evicted], 0u);

  test::advance(rig.io, rig.acc.eviction().min_stall);  // now b is stalled: the next one takes its slot
  int d = connect_tcp(port);
  send_all(d, "d");
  EXPECT_EQ(read_from(rig, d, 1), "d");
  EXPECT_EQ(read_from(rig, b, 1, &eof), "");
  EXPECT_TRUE(eof);
  send_all(a, "a");
  EXPECT_EQ(read_from(rig, a, 1), "a") << "the busy connection is never evicted";
  EXPECT_EQ(rig.closes[CloseReason::evicted], 1u);
  for (int fd : {a, b, c, d}) ::close(fd);
  ASSERT_TRUE(rig.until([&] { return rig.owner.pool.in_use() == 0; }));
}

// A handshake that waits for the client's first byte (a ClientHello that never comes): its deadline
// closes the connection, counted as a failure and as a `handshake_timeout` close; the slot comes back.
struct WaitsForHello final : Handshake {
  Task<std::error_code> handshake(StreamSocket& s, std::uint32_t, Clock::duration timeout) override {
    char b[1];
    auto [ec, n] = co_await timed_op(
        timeout, [&](auto h) { s.async_read_some(asio::buffer(b), std::move(h)); },
        [&] {
          std::error_code ig;
          s.cancel(ig);
        });
    (void)n;
    co_return ec;
  }
};

TEST(AcceptorEviction, AStalledHandshakeEndsAtItsDeadlineCounted) {
  test::CensusGuard census;
  Rig<4> rig;
  WaitsForHello hs;
  rig.acc.set_handshake(&hs, 2s);
  ASSERT_FALSE(rig.acc.listen_tcp(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  ASSERT_TRUE(rig.acc.start("t_accept"));
  int a = connect_tcp(rig.acc.port());
  ASSERT_TRUE(rig.until([&] { return rig.owner.pool.in_use() == 1; }));
  test::advance(rig.io, 1s);
  for (int i = 0; i < 10; ++i) rig.turn();
  char ch;
  EXPECT_EQ(::recv(a, &ch, 1, MSG_DONTWAIT), -1) << "closed before the handshake deadline";
  EXPECT_EQ(rig.owner.pool.in_use(), 1u);
  test::advance(rig.io, 1s);
  bool eof = false;
  EXPECT_EQ(read_from(rig, a, 1, &eof), "");
  EXPECT_TRUE(eof);
  EXPECT_EQ(rig.acc.stats().handshake_failures, 1u);
  EXPECT_EQ(rig.closes[CloseReason::handshake_timeout], 1u);
  EXPECT_TRUE(rig.until([&] { return rig.owner.pool.in_use() == 0; }));
  EXPECT_EQ(rig.owner.sh.served, 0);
  ::close(a);
}

}  // namespace bh::acceptor_test
