// TLS streams against a real TLS echo server (Python ssl / OpenSSL on loopback): handshake,
// write and read as awaitables; no heap allocation from our code (and none from mbedTLS) in a
// steady-state write/read loop; session resumption on a reset context; mbedTLS's heap counted and
// its hard limit failing a handshake cleanly; handshake deadline and cancellation; verification
// failures described. Prints the figures docs/figures.md quotes (handshake times, memory).
#include "platform/net/tls.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>

#include "platform/alloc/alloc.hpp"
#include "tests/support/census.hpp"
#include "tests/support/tls_peer.hpp"

namespace bh {
namespace {
using namespace std::chrono_literals;
using test::TlsCerts;
using test::TlsPeer;
using test::TlsPeerMode;

class TlsStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new TlsCerts();
    if (certs_->ok()) {
      echo_ = new TlsPeer(*certs_, "server", TlsPeerMode::echo);
      silent_ = new TlsPeer(*certs_, "server", TlsPeerMode::silent);
    }
  }
  static void TearDownTestSuite() {
    delete silent_;
    delete echo_;
    delete certs_;
    silent_ = echo_ = nullptr;
    certs_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(certs_->ok()) << certs_->error();
    ASSERT_TRUE(echo_->ok()) << echo_->log();
    ASSERT_TRUE(silent_->ok()) << silent_->log();
  }
  static TlsOptions opts(const std::string& ca = "ca") { return TlsOptions{certs_->crt(ca), "", "", true}; }
  static inline TlsCerts* certs_ = nullptr;
  static inline TlsPeer* echo_ = nullptr;
  static inline TlsPeer* silent_ = nullptr;
};

using Socket = TlsStream::Socket;

Clock::duration thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Connects `sock` to 127.0.0.1:port and runs the handshake; the handshake's wall time in *took,
// and the CPU time this (the reactor) thread spent in it in *cpu.
Task<std::error_code> connect_tls(TlsStream& t, Socket& sock, std::uint16_t port, Clock::duration hs_timeout,
                                  Clock::duration* took, Clock::duration* cpu = nullptr) {
  std::error_code ec;
  sock.open(asio::ip::tcp::v4(), ec);
  if (!ec) sock.set_option(asio::ip::tcp::no_delay(true), ec);  // as the sink does: no Nagle delay
  if (ec) co_return ec;
  const asio::ip::tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), port);
  auto [cec, n] = co_await timed_op(
      5s, [&](auto h) { sock.async_connect(ep, std::move(h)); },
      [&] {
        std::error_code ig;
        sock.cancel(ig);
      });
  (void)n;
  if (cec) co_return cec;
  if (auto e = t.begin(sock)) co_return e;
  const auto t0 = Clock::now();
  const auto c0 = thread_cpu();
  std::error_code hec = co_await tls_handshake(t, hs_timeout);
  if (took) *took = Clock::now() - t0;
  if (cpu) *cpu = thread_cpu() - c0;
  co_return hec;
}

void close(TlsStream& t, Socket& sock) {
  t.end();
  std::error_code ig;
  sock.close(ig);
}

struct Echo {
  std::array<char, 1024> out{};
  std::array<char, 1024> in{};
  int rounds = 0;
  std::error_code ec;
};

// n round trips of 1 KiB through the echo server.
Task<void> echo_rounds(TlsStream& t, Echo& e, int n) {
  for (int i = 0; i < n && !e.ec; ++i) {
    e.out[0] = static_cast<char>(i);
    const std::array<asio::const_buffer, 1> bufs{asio::buffer(e.out)};
    auto [wec, wn] = co_await tls_write_all(t, bufs, 5s);
    if (wec || wn != e.out.size()) {
      e.ec = wec ? wec : make_error_code(errc::protocol);
      co_return;
    }
    std::size_t got = 0;
    while (got < e.in.size()) {
      auto [rec, rn] = co_await tls_read_some(t, std::span<char>(e.in.data() + got, e.in.size() - got), 5s);
      if (rec) {
        e.ec = rec;
        co_return;
      }
      got += rn;
    }
    if (e.in != e.out) e.ec = make_error_code(errc::protocol);
    ++e.rounds;
  }
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

TEST_F(TlsStreamTest, MbedTlsHeapIsRoutedThroughTheCountingWrapper) {
  TlsClientConfig cfg;
  std::string err;
  ASSERT_FALSE(cfg.init(opts(), "localhost", err)) << err;
  TlsMemoryStats s = tls_memory_stats();
  EXPECT_TRUE(s.bounded) << "calloc/free of libmbed{tls,x509,crypto} not routed: memory not counted";
  EXPECT_GT(s.allocations, 0u) << "parsing the CA allocates through mbedTLS";
  EXPECT_GT(s.used, 0u);
  EXPECT_GE(s.high_water, s.used);
  EXPECT_EQ(s.limit, kTlsHeapLimitDefault);
}

TEST_F(TlsStreamTest, SteadyStateWriteReadAllocatesNothing) {
  test::CensusGuard census;
  asio::io_context io(1);
  TaskPool<2> tasks("t_tls_steady", io);
  TlsClientConfig cfg;
  std::string err;
  ASSERT_FALSE(cfg.init(opts(), "localhost", err)) << err;
  TlsStream t;
  ASSERT_FALSE(t.setup(cfg));
  Socket sock(io.get_executor());
  Echo e;
  std::error_code hec;
  std::uint64_t heap_before = 0, heap_after = 0;
  TlsMemoryStats m_before, m_after;
  ASSERT_TRUE(tasks.spawn("tls_steady", [&]() -> Task<void> {
    return [](TlsStream& t, Socket& sock, std::uint16_t port, Echo& e, std::error_code& hec, std::uint64_t& hb,
              std::uint64_t& ha, TlsMemoryStats& mb, TlsMemoryStats& ma) -> Task<void> {
      hec = co_await connect_tls(t, sock, port, 10s, nullptr);
      if (hec) co_return;
      co_await echo_rounds(t, e, 20);  // warm-up: Asio's timer heap and scheduler reach their size
      hb = alloc::count();
      mb = tls_memory_stats();
      co_await echo_rounds(t, e, 500);
      ha = alloc::count();
      ma = tls_memory_stats();
      close(t, sock);
    }(t, sock, echo_->port(), e, hec, heap_before, heap_after, m_before, m_after);
  }));
  io.run();
  ASSERT_FALSE(hec) << hec.message() << ": " << [&] {
    char b[256];
    return std::string(t.describe(b));
  }();
  ASSERT_FALSE(e.ec) << e.ec.message();
  EXPECT_EQ(e.rounds, 520);
  EXPECT_EQ(heap_after - heap_before, 0u) << "operator new from our code in the steady-state TLS loop";
  EXPECT_EQ(m_after.allocations - m_before.allocations, 0u) << "mbedTLS calloc in the steady-state TLS loop";
  EXPECT_EQ(m_after.used, m_before.used);
  EXPECT_EQ(tasks.live(), 0u);
  std::printf("[ figures  ] steady state: 500 x 1 KiB round trips: %llu operator new, %llu mbedTLS calloc\n",
              static_cast<unsigned long long>(heap_after - heap_before),
              static_cast<unsigned long long>(m_after.allocations - m_before.allocations));
}

TEST_F(TlsStreamTest, ResetContextResumesTheSessionAndFiguresAreMeasured) {
  test::CensusGuard census;
  asio::io_context io(1);
  TaskPool<1> tasks("t_tls_resume", io);
  const std::uint64_t u0 = tls_memory_stats().used;
  {
    TlsClientConfig sys;
    std::string err;
    ASSERT_FALSE(sys.init(TlsOptions{}, "example.com", err)) << err;  // the system bundle
    std::printf("[ figures  ] system CA bundle: %u certificates, %llu bytes of mbedTLS heap\n", sys.ca_certs(),
                static_cast<unsigned long long>(tls_memory_stats().used - u0));
  }
  TlsClientConfig cfg;
  std::string err;
  ASSERT_FALSE(cfg.init(opts(), "localhost", err)) << err;
  const std::uint64_t u1 = tls_memory_stats().used;
  TlsStream t;
  ASSERT_FALSE(t.setup(cfg));
  const std::uint64_t u2 = tls_memory_stats().used;
  Socket sock(io.get_executor());

  constexpr int kConns = 6;
  std::array<std::error_code, kConns> ec{};
  std::array<Clock::duration, kConns> took{}, cpu{};
  std::array<bool, kConns> resumed{};
  std::array<std::uint64_t, kConns> peak{}, after{};
  ASSERT_TRUE(tasks.spawn("tls_resume", [&]() -> Task<void> {
    return [](TlsStream& t, Socket& sock, std::uint16_t port, auto& ec, auto& took, auto& cpu, auto& resumed,
              auto& peak, auto& after) -> Task<void> {
      for (int i = 0; i < kConns; ++i) {
        tls_reset_high_water();
        ec[i] = co_await connect_tls(t, sock, port, 10s, &took[i], &cpu[i]);
        peak[i] = tls_memory_stats().high_water;
        after[i] = tls_memory_stats().used;
        resumed[i] = t.resumed();
        close(t, sock);
      }
    }(t, sock, echo_->port(), ec, took, cpu, resumed, peak, after);
  }));
  io.run();
  for (int i = 0; i < kConns; ++i) ASSERT_FALSE(ec[i]) << i << ": " << ec[i].message();
  EXPECT_FALSE(resumed[0]) << "the first connection has no session to resume";
  for (int i = 1; i < kConns; ++i) EXPECT_TRUE(resumed[i]) << i << ": the context was reset, the session offered";
  // The server's own count (its threads may still be writing it).
  for (int i = 0; i < 500 && echo_->counts().resumed < kConns - 1; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_GE(echo_->counts().resumed, kConns - 1);
  // Memory is bounded per connection: later connections retain no more than the first.
  for (int i = 1; i < kConns; ++i) EXPECT_LE(after[i], after[0] + 1024) << i;
  double resumed_ms = 0, resumed_cpu = 0;
  for (int i = 1; i < kConns; ++i) resumed_ms += ms(took[i]), resumed_cpu += ms(cpu[i]);
  resumed_ms /= kConns - 1;
  resumed_cpu /= kConns - 1;
  std::printf("[ figures  ] test CA config: %llu B; context setup (record buffers): %llu B\n",
              static_cast<unsigned long long>(u1 - u0), static_cast<unsigned long long>(u2 - u1));
  std::printf("[ figures  ] full handshake (ECDHE-ECDSA P-256, loopback): %.2f ms wall, %.2f ms client CPU; mbedTLS "
              "heap peak %llu B above the idle context, %llu B kept while connected (session, keys, saved session)\n",
              ms(took[0]), ms(cpu[0]), static_cast<unsigned long long>(peak[0] - u2),
              static_cast<unsigned long long>(after[0] - u2));
  std::printf("[ figures  ] resumed handshake: %.2f ms wall, %.2f ms client CPU (average of %d); heap peak %llu B above "
              "the idle context\n",
              resumed_ms, resumed_cpu, kConns - 1, static_cast<unsigned long long>(peak[1] - u2));
  RecordProperty("full_handshake_ms", std::to_string(ms(took[0])));
  RecordProperty("full_handshake_cpu_ms", std::to_string(ms(cpu[0])));
  RecordProperty("resumed_handshake_ms", std::to_string(resumed_ms));
  RecordProperty("handshake_heap_peak_bytes", std::to_string(peak[0] - u2));
  RecordProperty("context_setup_bytes", std::to_string(u2 - u1));
}

TEST_F(TlsStreamTest, HeapLimitFailsTheHandshakeCleanlyAndTheContextRecovers) {
  test::CensusGuard census;
  asio::io_context io(1);
  TaskPool<1> tasks("t_tls_limit", io);
  TlsClientConfig cfg;
  std::string err;
  ASSERT_FALSE(cfg.init(opts(), "localhost", err)) << err;
  TlsStream t;
  ASSERT_FALSE(t.setup(cfg));
  Socket sock(io.get_executor());
  const TlsMemoryStats s0 = tls_memory_stats();
  ASSERT_TRUE(s0.bounded);
  tls_set_memory_limit(s0.used + 4096);  // far below what a handshake needs
  std::error_code starved, recovered;
  std::string why;
  ASSERT_TRUE(tasks.spawn("tls_limit", [&]() -> Task<void> {
    return [](TlsStream& t, Socket& sock, std::uint16_t port, std::error_code& a, std::error_code& b,
              std::uint64_t normal, std::string& why) -> Task<void> {
      a = co_await connect_tls(t, sock, port, 10s, nullptr);
      char buf[256];
      why = t.describe(buf);
      close(t, sock);
      tls_set_memory_limit(normal);
      b = co_await connect_tls(t, sock, port, 10s, nullptr);
      close(t, sock);
    }(t, sock, echo_->port(), starved, recovered, s0.limit, why);
  }));
  io.run();
  tls_set_memory_limit(s0.limit);
  EXPECT_EQ(starved, tls_errc::out_of_memory) << starved.message();
  EXPECT_NE(why.find("memory limit"), std::string::npos) << why;
  EXPECT_GT(tls_memory_stats().refusals, s0.refusals);
  EXPECT_FALSE(recovered) << recovered.message() << ": the same context works once memory is there";
  EXPECT_EQ(tasks.live(), 0u);
}

// No TLS memory outstanding once a connector's config and contexts are gone, even after
// handshakes that saved a session and a failed one.
TEST_F(TlsStreamTest, NothingOutstandingWhenConfigAndContextsAreDestroyed) {
  test::CensusGuard census;
  const std::uint64_t before = tls_memory_stats().used;
  {
    asio::io_context io(1);
    TaskPool<1> tasks("t_tls_outstanding", io);
    TlsClientConfig cfg;
    std::string err;
    ASSERT_FALSE(cfg.init(opts(), "localhost", err)) << err;
    TlsStream a, b;
    ASSERT_FALSE(a.setup(cfg));
    ASSERT_FALSE(b.setup(cfg));
    Socket sa(io.get_executor()), sb(io.get_executor());
    std::error_code e1, e2, e3;
    ASSERT_TRUE(tasks.spawn("tls_outstanding", [&]() -> Task<void> {
      return [](TlsStream& a, TlsStream& b, Socket& sa, Socket& sb, std::uint16_t good, std::uint16_t silent,
                std::error_code& e1, std::error_code& e2, std::error_code& e3) -> Task<void> {
        e1 = co_await connect_tls(a, sa, good, 10s, nullptr);
        e2 = co_await connect_tls(b, sb, good, 10s, nullptr);  // resumes a's session; both stay open
        close(a, sa);
        e3 = co_await connect_tls(a, sa, silent, 200ms, nullptr);
        close(a, sa);
        close(b, sb);
      }(a, b, sa, sb, echo_->port(), silent_->port(), e1, e2, e3);
    }));
    io.run();
    EXPECT_FALSE(e1) << e1.message();
    EXPECT_FALSE(e2) << e2.message();
    EXPECT_EQ(e3, errc::timeout) << e3.message();
    EXPECT_TRUE(b.resumed());
    EXPECT_GT(tls_memory_stats().used, before);
  }
  EXPECT_EQ(tls_memory_stats().used, before) << "mbedTLS heap left behind by a config or context";
}

TEST_F(TlsStreamTest, WrongCaIsAVerifyFailureWithAReason) {
  asio::io_context io(1);
  TaskPool<1> tasks("t_tls_verify", io);
  TlsClientConfig cfg;
  std::string err;
  ASSERT_FALSE(cfg.init(opts("ca2"), "localhost", err)) << err;
  TlsStream t;
  ASSERT_FALSE(t.setup(cfg));
  Socket sock(io.get_executor());
  std::error_code ec;
  ASSERT_TRUE(tasks.spawn("tls_verify", [&]() -> Task<void> {
    return [](TlsStream& t, Socket& sock, std::uint16_t port, std::error_code& ec) -> Task<void> {
      ec = co_await connect_tls(t, sock, port, 10s, nullptr);
      close(t, sock);
    }(t, sock, echo_->port(), ec);
  }));
  io.run();
  EXPECT_EQ(ec, tls_errc::verify_failed) << ec.message();
  EXPECT_TRUE(t.verify_flags() & MBEDTLS_X509_BADCERT_NOT_TRUSTED);
  char b[256];
  EXPECT_EQ(std::string(t.describe(b)), "server certificate not signed by a trusted CA");
}

TEST_F(TlsStreamTest, HandshakeDeadlineAndCancellation) {
  test::CensusGuard census;
  asio::io_context io(1);
  TaskPool<2> tasks("t_tls_deadline", io);
  TlsClientConfig cfg;
  std::string err;
  ASSERT_FALSE(cfg.init(opts(), "localhost", err)) << err;
  TlsStream t1, t2;
  ASSERT_FALSE(t1.setup(cfg));
  ASSERT_FALSE(t2.setup(cfg));
  Socket s1(io.get_executor()), s2(io.get_executor());
  std::error_code timed, cancel;
  Clock::duration took{};
  auto task = [](TlsStream& t, Socket& sock, std::uint16_t port, Clock::duration timeout, std::error_code& ec,
                 Clock::duration* took) -> Task<void> {
    ec = co_await connect_tls(t, sock, port, timeout, took);
    close(t, sock);
  };
  ASSERT_TRUE(tasks.spawn("tls_timeout", [&] { return task(t1, s1, silent_->port(), 300ms, timed, &took); }));
  ASSERT_TRUE(tasks.spawn("tls_cancel", [&] { return task(t2, s2, silent_->port(), 1h, cancel, nullptr); }));
  asio::steady_timer stop(io, 2s);  // well after the 300 ms deadline, even on a loaded machine
  stop.async_wait([&](std::error_code) { tasks.cancel_all(); });
  io.run();
  EXPECT_EQ(timed, errc::timeout) << timed.message();
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3s);
  EXPECT_EQ(cancel, errc::cancelled) << cancel.message();
  EXPECT_EQ(tasks.live(), 0u);
}

}  // namespace
}  // namespace bh
