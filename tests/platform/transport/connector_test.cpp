// The connector alone, against loopback peers made in the test: a connect that succeeds (the
// kernel completes it from a listening socket's backlog, nobody needs to accept), a refused one, a
// connect that times out (the backlog is full: the SYN is dropped), the fault-plan seam, TLS
// handshakes that time out and that fail on garbage, read deadlines, the breaker and backoff
// hooks. Counters, deadline accounting and "each cause logged once" are checked after each step.
// Deadlines are short and real (the test awaits them, it never sleeps).
#include "platform/transport/connector.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <asio/read.hpp>
#include <asio/write.hpp>

#include <string>
#include <thread>

#include "platform/alloc/alloc.hpp"
#include "platform/util/fault.hpp"
#include "platform/util/log.hpp"
#include "tests/support/harness.hpp"

namespace bh {
namespace {
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

std::size_t op(TimedOp o) { return static_cast<std::size_t>(o); }

// A listening socket on 127.0.0.1 that never accepts on its own: connections wait in its backlog.
struct Listener {
  asio::io_context io;
  tcp::acceptor acc{io};
  explicit Listener(int backlog = 8) {
    acc.open(tcp::v4());
    acc.bind(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
    acc.listen(backlog);
  }
  std::uint16_t port() const { return acc.local_endpoint().port(); }
};

class ConnectorTest : public ::testing::Test {
 protected:
  ConnectorTest() { log::set_level(log::Level::warn); }
  ~ConnectorTest() override {
    log::set_level(log::Level::info);
    fault::disarm();
  }

  // Prepares the connector for 127.0.0.1:port (TLS without verification when `tls`).
  void prepare(std::uint16_t port, bool tls = false, Clock::duration connect_timeout = 5s) {
    authority_ = "127.0.0.1:" + std::to_string(port);
    ConnectorTarget t;
    t.host = "127.0.0.1";
    t.port = port;
    t.authority = authority_;
    t.url = authority_;
    t.secure = tls;
    t.tls.verify = false;
    t.connect_timeout = connect_timeout;
    ASSERT_FALSE(net_.prepare(t));
  }
  // Runs `body` as a task on the reactor until it ends.
  template <typename F>
  void run(F body) {
    ASSERT_TRUE(tasks_.spawn("connector_test", std::move(body)));
    io_.run();
    io_.restart();
  }

  asio::io_context io_{1};
  TaskPool<1> tasks_{"t_connector", io_};
  ConnectorStats stats_;
  Connector<1> net_{stats_, "test peer", "", BreakerOptions{.failures = 2, .recovery = 1h}, 10ms, 80ms, 7};
  Link link_{io_.get_executor()};
  std::string authority_;
};

TEST_F(ConnectorTest, ConnectsWritesAndReadsWithoutTheHeap) {
  Listener l;
  prepare(l.port());
  tcp::socket peer(l.io);
  std::string got;
  std::uint64_t allocs = 0;
  // Only the connector's calls are measured (the test's peer allocates as it likes); the first
  // round warms Asio's per-descriptor state up, as start-up does for the runtime.
  auto measured = [&allocs](auto&& f) {
    alloc::seal();
    f();
    allocs += alloc::since_seal();
    alloc::unseal();
  };
  run([&]() -> Task<void> {
    for (int round = 0; round < 2; ++round) {
      if (round == 1) allocs = 0;
      alloc::seal();
      ConnectError re = co_await net_.resolve();  // a numeric host: no lookup
      ConnectError oe = co_await net_.open(link_, 0);
      std::error_code we = co_await net_.write_all(link_, std::string_view("ping"), 1s);
      allocs += alloc::since_seal();
      alloc::unseal();
      EXPECT_FALSE(re);
      EXPECT_FALSE(oe);
      EXPECT_FALSE(we);
      EXPECT_TRUE(link_.is_open());
      EXPECT_EQ(link_.tls, nullptr);
      if (peer.is_open()) peer.close();
      l.acc.accept(peer);  // already connected: waiting in the backlog
      asio::write(peer, asio::buffer(std::string_view("hello")));
      char buf[16];
      alloc::seal();
      auto [ec, n] = co_await net_.read_some(link_, buf, 1s);
      allocs += alloc::since_seal();
      alloc::unseal();
      EXPECT_FALSE(ec) << ec.message();
      got.assign(buf, n);
      if (round == 0) measured([&] { link_.close(); });
    }
  });
  EXPECT_EQ(got, "hello");
  EXPECT_EQ(allocs, 0u) << "connect, write and read allocate nothing";
  char in[4];
  asio::read(peer, asio::buffer(in));
  EXPECT_EQ(std::string_view(in, 4), "ping");
  EXPECT_EQ(stats_.connects, 2u);
  EXPECT_EQ(stats_.connect_errors + stats_.connect_timeouts, 0u);
  EXPECT_EQ(stats_.deadlines.ops[op(TimedOp::connect)], 2u);
  EXPECT_EQ(stats_.deadlines.ops[op(TimedOp::write)], 2u);
  EXPECT_EQ(stats_.deadlines.ops[op(TimedOp::read)], 2u);
  EXPECT_EQ(stats_.deadlines.ops[op(TimedOp::handshake)], 0u);
  // A peer that has closed is seen by the idle check (a kept-alive connection is then not reused).
  EXPECT_FALSE(link_.readable_while_idle());
  peer.close();
  pollfd p{link_.sock.native_handle(), POLLIN, 2000};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  EXPECT_TRUE(link_.readable_while_idle());
  link_.close();
  EXPECT_FALSE(link_.is_open());
}

TEST_F(ConnectorTest, RefusedConnectsAreCountedAndEachCauseIsLoggedOnce) {
  const std::uint16_t closed = test::free_port();  // nobody listens there
  prepare(closed);
  const auto warns = log::emitted(log::Level::warn);
  run([&]() -> Task<void> {
    for (int i = 0; i < 3; ++i) {
      ConnectError e = co_await net_.open(link_, 0);
      EXPECT_EQ(e.ec, asio::error::connection_refused) << e.ec.message();
      EXPECT_EQ(e.op, TimedOp::connect);
      EXPECT_EQ(e.reason, "connect failed");
      EXPECT_FALSE(link_.is_open()) << "a failed connect leaves the link closed";
    }
  });
  EXPECT_EQ(stats_.connects, 3u);
  EXPECT_EQ(stats_.connect_errors, 3u);
  EXPECT_EQ(stats_.connect_timeouts, 0u);
  EXPECT_EQ(stats_.deadlines.ops[op(TimedOp::connect)], 3u);
  EXPECT_EQ(stats_.deadlines.timeouts[op(TimedOp::connect)], 0u);
  EXPECT_EQ(std::string(net_.last_error()), "connect to " + authority_ + " failed: Connection refused");
  EXPECT_EQ(log::emitted(log::Level::warn) - warns, 1u) << "repeats are counted, not logged";

  // A success ends the episode: the same cause is logged again next time.
  Listener l;
  prepare(l.port());
  run([&]() -> Task<void> { EXPECT_FALSE(co_await net_.open(link_, 0)); });
  link_.close();
  prepare(closed);
  run([&]() -> Task<void> { EXPECT_TRUE(co_await net_.open(link_, 0)); });
  EXPECT_EQ(log::emitted(log::Level::warn) - warns, 2u);
  EXPECT_EQ(stats_.connects, 5u);
  EXPECT_EQ(stats_.connect_errors, 4u);
}

TEST_F(ConnectorTest, ConnectTimeoutIsCountedAgainstTheDeadline) {
  // Backlog 0 holds one connection; with it taken the kernel drops the next SYN: no answer at all.
  Listener l(0);
  tcp::socket filler(l.io);
  filler.connect(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), l.port()));
  prepare(l.port(), false, 150ms);
  ConnectError e;
  run([&]() -> Task<void> { e = co_await net_.open(link_, 0); });
  EXPECT_EQ(e.ec, errc::timeout) << e.ec.message();
  EXPECT_EQ(e.reason, "connect timeout");
  EXPECT_FALSE(link_.is_open());
  EXPECT_EQ(stats_.connects, 1u);
  EXPECT_EQ(stats_.connect_timeouts, 1u);
  EXPECT_EQ(stats_.connect_errors, 0u);
  EXPECT_EQ(stats_.deadlines.timeouts[op(TimedOp::connect)], 1u);
  EXPECT_DOUBLE_EQ(stats_.deadlines.rate(op(TimedOp::connect)), 1.0);
  EXPECT_EQ(std::string(net_.last_error()), "connect to " + authority_ + " timed out");
}

TEST_F(ConnectorTest, TheFaultPlanFailsAConnectLikeARefusal) {
  Listener l;
  prepare(l.port());
  ASSERT_EQ(fault::arm("connect:1"), "");
  run([&]() -> Task<void> {
    EXPECT_EQ((co_await net_.open(link_, 0)).ec, asio::error::connection_refused);
    EXPECT_FALSE(co_await net_.open(link_, 0));  // the 2nd is real
  });
  EXPECT_EQ(fault::injected(fault::Op::connect), 1u);
  EXPECT_EQ(stats_.connects, 2u);
  EXPECT_EQ(stats_.connect_errors, 1u);
}

TEST_F(ConnectorTest, SilentTlsPeerTimesOutTheHandshake) {
  Listener l;  // connects from the backlog, never answers the ClientHello
  prepare(l.port(), true, 150ms);
  ASSERT_NE(net_.tls(), nullptr);
  ConnectError e;
  run([&]() -> Task<void> { e = co_await net_.open(link_, 0); });
  EXPECT_EQ(e.ec, errc::timeout);
  EXPECT_EQ(e.op, TimedOp::handshake);
  EXPECT_EQ(e.reason, "TLS handshake timeout");
  EXPECT_FALSE(link_.is_open());
  EXPECT_EQ(link_.tls, nullptr);
  EXPECT_EQ(stats_.connects, 1u);
  EXPECT_EQ(stats_.handshake_timeouts, 1u);
  EXPECT_EQ(stats_.tls_handshakes + stats_.tls_handshake_errors + stats_.tls_verify_errors, 0u);
  EXPECT_EQ(stats_.deadlines.ops[op(TimedOp::handshake)], 1u);
  EXPECT_EQ(stats_.deadlines.timeouts[op(TimedOp::handshake)], 1u);
  EXPECT_EQ(stats_.deadlines.timeouts[op(TimedOp::connect)], 0u);
  EXPECT_NE(net_.last_error().find("no handshake within connect_timeout"), std::string_view::npos) << net_.last_error();
  EXPECT_EQ(tls_streams_active(), 0u);
}

TEST_F(ConnectorTest, GarbageFromATlsPeerFailsTheHandshakeAndIsCounted) {
  Listener l;
  prepare(l.port(), true, 5s);
  // The peer: accepts (within a bounded wait), answers the ClientHello with plain HTTP, closes.
  std::thread server([&] {
    pollfd p{l.acc.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return;
    tcp::socket s(l.io);
    l.acc.accept(s);
    std::error_code ec;
    asio::write(s, asio::buffer(std::string_view("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")), ec);
    s.shutdown(tcp::socket::shutdown_send, ec);
    char sink[512];
    while (!ec) s.read_some(asio::buffer(sink), ec);  // until the client closes
  });
  ConnectError e;
  run([&]() -> Task<void> { e = co_await net_.open(link_, 0); });
  server.join();
  EXPECT_TRUE(e.ec == tls_errc::handshake_failed || e.ec == tls_errc::closed) << e.ec.message();
  EXPECT_EQ(e.op, TimedOp::handshake);
  EXPECT_FALSE(link_.is_open());
  EXPECT_EQ(stats_.tls_handshake_errors, 1u);
  EXPECT_EQ(stats_.handshake_timeouts + stats_.tls_verify_errors + stats_.tls_handshakes, 0u);
  EXPECT_EQ(stats_.deadlines.ops[op(TimedOp::handshake)], 1u);
  EXPECT_EQ(stats_.deadlines.timeouts[op(TimedOp::handshake)], 0u);
  EXPECT_EQ(net_.last_error().rfind("TLS handshake with " + authority_ + " failed: ", 0), 0u) << net_.last_error();
  EXPECT_EQ(tls_streams_active(), 0u);
}

TEST_F(ConnectorTest, ReadDeadlineIsCountedAndClassifiedByTheOwner) {
  Listener l;
  prepare(l.port());
  std::error_code rec;
  run([&]() -> Task<void> {
    EXPECT_FALSE(co_await net_.open(link_, 0));
    char buf[8];
    rec = (co_await net_.read_some(link_, buf, 50ms)).first;
  });
  EXPECT_EQ(rec, errc::timeout);
  EXPECT_EQ(stats_.deadlines.ops[op(TimedOp::read)], 1u);
  EXPECT_EQ(stats_.deadlines.timeouts[op(TimedOp::read)], 1u);
  EXPECT_EQ(stats_.read_timeouts, 0u) << "the connector does not decide a timed-out read is a failure";
  net_.note_io_failure(TimedOp::read, rec);
  net_.note_io_failure(TimedOp::write, make_error_code(errc::cancelled));  // an interruption: not counted
  net_.note_io_failure(TimedOp::read, make_error_code(asio::error::connection_reset));
  EXPECT_EQ(stats_.read_timeouts, 1u);
  EXPECT_EQ(stats_.write_timeouts, 0u);
  EXPECT_EQ(stats_.io_errors, 1u);
  EXPECT_TRUE(link_.is_open()) << "a timed-out read leaves closing to the owner";
}

TEST_F(ConnectorTest, BreakerAndBackoffHooks) {
  const auto t0 = Clock::now();
  EXPECT_TRUE(net_.admit(t0));
  auto d1 = net_.failed(t0);
  EXPECT_LE(d1, 10ms);
  EXPECT_EQ(net_.breaker().state(), Breaker::State::closed);
  EXPECT_TRUE(net_.admit(t0));
  auto d2 = net_.failed(t0);  // the 2nd consecutive failure opens it
  EXPECT_LE(d2, 20ms);
  EXPECT_EQ(net_.breaker().state(), Breaker::State::open);
  EXPECT_FALSE(net_.admit(t0 + 1s));
  EXPECT_FALSE(net_.admit(t0 + 2s));
  EXPECT_EQ(stats_.breaker_rejections, 2u);
  EXPECT_TRUE(net_.admit(t0 + 1h));  // recovery passed: one probe
  net_.succeeded(t0 + 1h);
  EXPECT_EQ(net_.breaker().state(), Breaker::State::closed);
  EXPECT_EQ(net_.backoff().attempt(), 0u);
}

}  // namespace
}  // namespace bh
