// The TLS server side (TlsServerConfig, a server TlsStream, TlsListener start-up) in process: a
// client TlsStream and a server TlsStream handshake over a socketpair, stepped by hand (no
// reactor), against the test PKI. A good client certificate yields its CN as the identity; no
// certificate, another CA's, an expired one and bytes that are not TLS are refused with the reason
// the listener counts. The configuration refuses a key readable by others and files that are not
// PEM, naming them. One context's mbedTLS memory stays inside the budget's kTlsContextBytes.
#include <gtest/gtest.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <vector>
#include <memory>
#include <string>

#include "platform/net/tls.hpp"
#include "platform/net/tls_listener.hpp"
#include "tests/support/census.hpp"
#include "tests/support/tls_peer.hpp"

namespace bh {
namespace {
using test::TlsCerts;

class TlsServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new TlsCerts(); }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(certs_->ok()) << certs_->error(); }
  static TlsServerOptions server_opts(bool client_ca = true) {
    return TlsServerOptions{certs_->crt("server"), certs_->key("server"), client_ca ? certs_->crt("ca") : ""};
  }
  static inline TlsCerts* certs_ = nullptr;
};

// One client and one server stream over a socketpair.
struct Link {
  asio::io_context io;
  TlsStream::Socket csock{io};
  TlsStream::ServerSocket ssock{io};
  TlsClientConfig ccfg;
  TlsStream client, server;

  Link(TlsServerConfig& scfg, const TlsOptions& co) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    csock.assign(asio::ip::tcp::v4(), sv[0]);
    ssock.assign(asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), sv[1]);
    std::string err;
    EXPECT_FALSE(ccfg.init(co, "localhost", err)) << err;
    EXPECT_FALSE(client.setup(ccfg));
    EXPECT_FALSE(server.setup(scfg));
    EXPECT_FALSE(client.begin(csock));
    EXPECT_FALSE(server.begin(ssock));
  }
  ~Link() {
    client.end();
    server.end();
  }
  // Steps both sides until the server is done; the server's outcome.
  std::error_code handshake() {
    bool client_done = false;
    for (int i = 0; i < 1000; ++i) {
      if (!client_done) {
        const int rc = client.step_handshake();
        if (rc == 0) {
          client.on_established();
          client_done = true;
        } else if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) {
          client_done = true;
          std::error_code ig;
          csock.shutdown(asio::socket_base::shutdown_both, ig);  // the server sees EOF
        }
      }
      const int rs = server.step_handshake();
      if (rs == 0) {
        server.on_established();
        return {};
      }
      if (rs != MBEDTLS_ERR_SSL_WANT_READ && rs != MBEDTLS_ERR_SSL_WANT_WRITE) return server.fail(rs);
    }
    return make_error_code(errc::timeout);
  }
};

TlsOptions client_opts(const TlsCerts& c, const std::string& who) {
  TlsOptions o{c.crt("ca"), "", "", true};
  if (!who.empty()) o.client_cert = c.crt(who), o.client_key = c.key(who);
  return o;
}

TEST_F(TlsServer, GoodClientCertificateGivesItsCn) {
  TlsServerConfig cfg;
  std::string err;
  ASSERT_FALSE(cfg.init(server_opts(), err)) << err;
  EXPECT_TRUE(cfg.verifies_clients());
  Link l(cfg, client_opts(*certs_, "client"));
  ASSERT_FALSE(l.handshake());
  EXPECT_EQ(l.server.identity(), "bh-client");
  EXPECT_TRUE(l.server.established());
  // A second connection on the same (reset) contexts: the identity is the new one's.
  l.client.end();
  l.server.end();
}

TEST_F(TlsServer, WithoutClientCaAnyClientAndNoIdentity) {
  TlsServerConfig cfg;
  std::string err;
  ASSERT_FALSE(cfg.init(server_opts(false), err)) << err;
  Link l(cfg, client_opts(*certs_, ""));
  ASSERT_FALSE(l.handshake());
  EXPECT_EQ(l.server.identity(), "");
}

struct Refusal {
  const char* who;
  std::uint32_t flag;
};

TEST_F(TlsServer, BadClientCertificatesAreRefusedWithTheirReason) {
  TlsServerConfig cfg;
  std::string err;
  ASSERT_FALSE(cfg.init(server_opts(), err)) << err;
  for (const Refusal& r : {Refusal{"", MBEDTLS_X509_BADCERT_MISSING}, Refusal{"client_ca2", MBEDTLS_X509_BADCERT_NOT_TRUSTED},
                           Refusal{"client_expired", MBEDTLS_X509_BADCERT_EXPIRED}}) {
    SCOPED_TRACE(r.who);
    Link l(cfg, client_opts(*certs_, r.who));
    EXPECT_EQ(l.handshake(), tls_errc::verify_failed);
    EXPECT_TRUE(l.server.verify_flags() & r.flag) << l.server.verify_flags();
    EXPECT_EQ(l.server.identity(), "");
    char buf[160];
    EXPECT_NE(l.server.describe(buf).find("client certificate"), std::string_view::npos) << l.server.describe(buf);
  }
}

TEST_F(TlsServer, PlainBytesAreAProtocolFailure) {
  TlsServerConfig cfg;
  std::string err;
  ASSERT_FALSE(cfg.init(server_opts(), err)) << err;
  asio::io_context io;
  TlsStream::ServerSocket ssock{io};
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ssock.assign(asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), sv[1]);
  TlsStream server;
  ASSERT_FALSE(server.setup(cfg));
  ASSERT_FALSE(server.begin(ssock));
  const std::string line = "{\"n\":1}\n";
  ASSERT_EQ(::write(sv[0], line.data(), line.size()), static_cast<ssize_t>(line.size()));
  const int rs = server.step_handshake();
  EXPECT_EQ(server.fail(rs), tls_errc::handshake_failed);
  server.end();
  ::close(sv[0]);
}

TEST_F(TlsServer, ConfigRefusesAnOpenKeyAndNonPem) {
  test::TempDir d;
  const std::string key = d.file("open.key");
  std::filesystem::copy_file(certs_->key("server"), key);
  ::chmod(key.c_str(), 0640);
  TlsServerConfig a;
  std::string err;
  EXPECT_EQ(a.init(TlsServerOptions{certs_->crt("server"), key, ""}, err), tls_errc::config);
  EXPECT_NE(err.find(key + " is readable by its group"), std::string::npos) << err;

  const std::string junk = d.file("junk.pem");
  std::ofstream(junk) << "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  TlsServerConfig b;
  EXPECT_EQ(b.init(TlsServerOptions{junk, certs_->key("server"), ""}, err), tls_errc::config);
  EXPECT_NE(err.find("tls_cert " + junk), std::string::npos) << err;
  TlsServerConfig c;
  EXPECT_EQ(c.init(TlsServerOptions{certs_->crt("server"), certs_->key("server"), junk}, err), tls_errc::config);
  EXPECT_NE(err.find("tls_client_ca " + junk), std::string::npos) << err;
  TlsServerConfig e;  // a key that is not the certificate's
  EXPECT_EQ(e.init(TlsServerOptions{certs_->crt("server"), certs_->key("client"), ""}, err), tls_errc::config);
  EXPECT_NE(err.find("does not match"), std::string::npos) << err;
  TlsServerConfig f;
  EXPECT_EQ(f.init(TlsServerOptions{certs_->crt("server"), d.file("missing.key"), ""}, err), tls_errc::config);
  EXPECT_NE(err.find("cannot open"), std::string::npos) << err;
}

// One listener slot's mbedTLS memory: set up (record buffers) plus a connection's handshake and
// session with the peer certificate. The budget (firmware/budget.hpp kTlsContextBytes = 48 KiB per
// context, every TLS-capable pool at once under the 8 MiB TLS heap) relies on this bound.
TEST_F(TlsServer, OneContextFitsTheBudget) {
  constexpr std::uint64_t kTlsContextBytes = 48 * 1024;
  auto listener = std::make_unique<TlsListener<4>>();
  std::string err;
  ASSERT_FALSE(listener->init("test", server_opts(), err)) << err;
  const std::uint64_t before = tls_memory_stats().used;
  {
    TlsServerConfig cfg;
    ASSERT_FALSE(cfg.init(server_opts(), err)) << err;
    const std::uint64_t cfg_bytes = tls_memory_stats().used;
    tls_reset_high_water();
    Link l(cfg, client_opts(*certs_, "client"));
    ASSERT_FALSE(l.handshake());
    // Both ends of the link live in this heap: half of the peak is one side.
    const std::uint64_t peak = tls_memory_stats().high_water - cfg_bytes;
    std::printf("[ figure ] TLS server context: %.1f KiB at peak (handshake), per side\n", peak / 2 / 1024.0);
    EXPECT_LE(peak / 2, kTlsContextBytes);
  }
  EXPECT_EQ(tls_memory_stats().used, before);
}

// Figures (measured, not asserted): a full mutual-TLS handshake (both ends in this process, so
// client + server CPU) and bulk NDJSON through a TLS stream against the same bytes over the plain
// socketpair, medians of several runs in one process. Printed as "[ figure ]" lines.
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

TEST_F(TlsServer, Figures) {
  using Steady = std::chrono::steady_clock;
  TlsServerConfig cfg;
  std::string err;
  ASSERT_FALSE(cfg.init(server_opts(), err)) << err;
  std::vector<double> hs;
  for (int i = 0; i < 21; ++i) {
    Link l(cfg, client_opts(*certs_, "client"));
    const auto t0 = Steady::now();
    ASSERT_FALSE(l.handshake());
    hs.push_back(std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
  }
  // 4 MiB of 200-byte NDJSON lines, written in 16 KiB pieces and read on the other end.
  std::string chunk;
  while (chunk.size() + 200 <= 16 * 1024) chunk += "{\"device\":\"meter-0042\",\"v\":" + std::string(168, '7') + "}\n";
  constexpr std::size_t kTotal = 4u << 20;
  std::vector<char> rbuf(64 * 1024);
  auto pump = [&](auto write, auto read) {
    std::size_t sent = 0, got = 0;
    while (got < kTotal) {
      if (sent < kTotal) {
        const int n = write(chunk.data(), chunk.size());
        if (n > 0) sent += static_cast<std::size_t>(n);
      }
      const int r = read(rbuf.data(), rbuf.size());
      if (r > 0) got += static_cast<std::size_t>(r);
    }
  };
  std::vector<double> tls_mbs, plain_mbs;
  for (int run = 0; run < 5; ++run) {
    {
      Link l(cfg, client_opts(*certs_, "client"));
      ASSERT_FALSE(l.handshake());
      const auto t0 = Steady::now();
      pump([&](const char* p, std::size_t n) { return mbedtls_ssl_write(&l.client.ssl(), reinterpret_cast<const unsigned char*>(p), n); },
           [&](char* p, std::size_t n) { return mbedtls_ssl_read(&l.server.ssl(), reinterpret_cast<unsigned char*>(p), n); });
      tls_mbs.push_back(kTotal / 1048576.0 / std::chrono::duration<double>(Steady::now() - t0).count());
    }
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    const auto t0 = Steady::now();
    pump([&](const char* p, std::size_t n) { return static_cast<int>(::send(sv[0], p, n, MSG_NOSIGNAL)); },
         [&](char* p, std::size_t n) { return static_cast<int>(::recv(sv[1], p, n, 0)); });
    plain_mbs.push_back(kTotal / 1048576.0 / std::chrono::duration<double>(Steady::now() - t0).count());
    ::close(sv[0]);
    ::close(sv[1]);
  }
  std::printf("[ figure ] TLS server: mutual TLS 1.2 handshake (ECDHE-ECDSA P-256, both ends in process) median %.2f ms\n",
              median(hs));
  std::printf("[ figure ] TLS server: NDJSON through TLS %.0f MiB/s vs plain socketpair %.0f MiB/s (ratio %.2f), medians of 5\n",
              median(tls_mbs), median(plain_mbs), median(tls_mbs) / median(plain_mbs));
}

}  // namespace
}  // namespace bh
