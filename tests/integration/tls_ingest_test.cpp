// TLS on the listeners, against real clients (Python's ssl module, i.e. OpenSSL) and the test PKI
// of tests/support/tls_peer.hpp: TCP ingest with mutual TLS accepts a good client certificate,
// stores its CN with each event (events.identity) and delivers it in the envelope
// ("identity":"bh-client", only then: events from elsewhere keep the old envelope); no
// certificate, a certificate from another CA, an expired one and a plain-TCP client are refused,
// counted per reason on /metrics, and none of them disturbs a connection that is open meanwhile;
// FDs come back to where they were; under a commit window, lines sent while a round waits join its
// batch over TLS too. The admin listener over TLS serves /healthz and
// POST /v1/events (over mutual TLS, its events carry the client's identity too). A key file readable by others and a broken PEM stop start-up with exit 2.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tests/support/eventually.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/test_sink.hpp"
#include "tests/support/tls_peer.hpp"

namespace bh::test {
namespace {
using namespace std::chrono_literals;

// argv: KIND HOST PORT CA CERT KEY ARG...  (CERT/KEY "-": no client certificate)
//   ingest HOLDFILE LINE...: sends the lines, prints "REPLIES a|b"; with HOLDFILE != "-" then waits
//     for that file, sends "late" and prints "LATE <reply>". HOLDFILE "+PATH": sends the first
//     line, waits for PATH, sends the others, then prints "REPLIES a|b|c".
//   https METHOD PATH [BODY]: prints "STATUS <code> <body>".
// Any failure prints "ERROR <what>".
constexpr const char* kClient = R"PY(
import os, socket, ssl, sys, time, http.client
kind, host, port, ca, cert, key = sys.argv[1:7]
args = sys.argv[7:]
def wait_for(path):  # a file the test creates; polled with a deadline
    deadline = time.time() + 30
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.01)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(ca)
if cert != "-":
    ctx.load_cert_chain(cert, key)
try:
    if kind == "https":
        c = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=20)
        c.request(args[0], args[1], body=(args[2].encode() if len(args) > 2 else None))
        r = c.getresponse()
        print("STATUS %d %s" % (r.status, r.read().decode().strip()), flush=True)
        sys.exit(0)
    raw = socket.create_connection((host, int(port)), timeout=20)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    hold, lines = args[0], args[1:]
    f = s.makefile("rb")
    for i, l in enumerate(lines):
        if i == 1 and hold.startswith("+"):
            wait_for(hold[1:])
        s.sendall(l.encode() + b"\n")
    if hold.startswith("+"):
        hold = "-"
    out = []
    for l in lines:
        r = f.readline()
        if not r:
            break
        out.append(r.decode().strip())
    print("REPLIES " + "|".join(out), flush=True)
    if hold != "-":
        wait_for(hold)
        s.sendall(b'{"late":1}\n')
        print("LATE " + f.readline().decode().strip(), flush=True)
except Exception as e:
    print("ERROR %s %s" % (type(e).__name__, e), flush=True)
)PY";

class TlsIngest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new TlsCerts();
    dir_ = new TempDir();
    std::ofstream(dir_->file("client.py")) << kClient;
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(certs_->ok()) << certs_->error(); }
  static const TlsCerts& certs() { return *certs_; }
  static std::string script() { return dir_->file("client.py"); }

  // Runs the client to completion and returns its output.
  static std::string run(const std::vector<std::string>& args) {
    std::string cmd = "timeout 40 python3 " + script();
    for (const auto& a : args) cmd += " '" + a + "'";
    cmd += " 2>&1";
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
      ::pclose(p);
    }
    return out;
  }
  static std::vector<std::string> ingest_args(std::uint16_t port, const std::string& who, const std::string& hold,
                                              const std::vector<std::string>& lines) {
    std::vector<std::string> a{"ingest", "127.0.0.1", std::to_string(port), certs().crt("ca"),
                               who.empty() ? "-" : certs().crt(who), who.empty() ? "-" : certs().key(who), hold};
    a.insert(a.end(), lines.begin(), lines.end());
    return a;
  }
  static std::string tls_toml(const std::string& section, bool client_ca) {
    std::string t = "[" + section + "]\ntls_cert = \"" + certs().crt("server") + "\"\ntls_key = \"" +
                    certs().key("server") + "\"\n";
    if (client_ca) t += "tls_client_ca = \"" + certs().crt("ca") + "\"\n";
    return t;
  }

  static inline TlsCerts* certs_ = nullptr;
  static inline TempDir* dir_ = nullptr;
};

int fd_count(int pid) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

// The identity column of every event, in seq order ("<null>" for NULL).
std::vector<std::string> stored_identities(const std::string& db) {
  std::vector<std::string> out;
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(h, "SELECT identity FROM events ORDER BY seq", -1, &s, nullptr) == SQLITE_OK) {
      while (sqlite3_step(s) == SQLITE_ROW) {
        const auto* t = sqlite3_column_text(s, 0);
        out.push_back(t ? reinterpret_cast<const char*>(t) : "<null>");
      }
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(h);
  return out;
}

std::string metric(const std::string& metrics, const std::string& reason) {
  const std::string key = "bulkhead_tls_server_handshake_failures_total{listener=\"ingest\",reason=\"" + reason + "\"} ";
  auto at = metrics.find(key);
  if (at == std::string::npos) return "missing";
  return metrics.substr(at + key.size(), metrics.find('\n', at) - at - key.size());
}

std::string get_metrics(std::uint16_t admin_port) {
  LineClient c;
  if (!c.connect(admin_port)) return {};
  c.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string all;
  while (auto l = c.read_line(5s)) all += *l + "\n";
  return all;
}

TEST_F(TlsIngest, MutualTlsStoresAndDeliversTheIdentityAndRefusesTheRest) {
  TestSink sink;
  Bulkhead b(tls_toml("ingest", true) + "[[sink]]\nname = \"s\"\nurl = \"" + sink.url() + "\"\n");
  ASSERT_TRUE(b.child() && b.child()->running()) << b.log();
  const std::uint16_t port = b.ingest_port();

  // A good client that stays connected while the bad ones come and go.
  const std::string hold = dir_->file("hold");
  std::filesystem::remove(hold);
  auto args = ingest_args(port, "client", hold, {"{\"n\":1}", "{\"n\":2}"});
  args.insert(args.begin(), {"/usr/bin/python3", script()});
  Child holder(args, dir_->file("holder.log"));
  auto holder_log = [&] {
    std::ifstream f(dir_->file("holder.log"));
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  ASSERT_TRUE(eventually([&] { return holder_log().find("REPLIES") != std::string::npos; }, slow(20s))) << holder_log();
  EXPECT_NE(holder_log().find("REPLIES ok 1|ok 2"), std::string::npos) << holder_log();
  ASSERT_TRUE(sink.wait_delivered(2, slow(20s)));  // the sink's connection is open from now on
  const int fds = fd_count(b.child()->pid());

  // Refused: no certificate, another CA's, an expired one, and a plain-TCP client.
  EXPECT_NE(run(ingest_args(port, "", "-", {"{\"n\":3}"})).find("ERROR"), std::string::npos);
  EXPECT_NE(run(ingest_args(port, "client_ca2", "-", {"{\"n\":4}"})).find("ERROR"), std::string::npos);
  EXPECT_NE(run(ingest_args(port, "client_expired", "-", {"{\"n\":5}"})).find("ERROR"), std::string::npos);
  {
    LineClient plain;
    ASSERT_TRUE(plain.connect(port));
    plain.send("{\"n\":6}\n");
    EXPECT_TRUE(plain.wait_closed(slow(15s)));
  }

  // Every refused connection's FD is back; the open connection is still served.
  EXPECT_TRUE(eventually([&] { return fd_count(b.child()->pid()) == fds; }, slow(10s)))
      << fd_count(b.child()->pid()) << " vs " << fds;
  std::ofstream(hold).close();
  ASSERT_TRUE(eventually([&] { return holder_log().find("LATE") != std::string::npos; }, slow(20s))) << holder_log();
  EXPECT_NE(holder_log().find("LATE ok 3"), std::string::npos) << holder_log();
  EXPECT_EQ(holder.wait(slow(10s)), 0);

  // An event from elsewhere (admin POST) has no identity: its envelope is the old one.
  {
    LineClient c;
    ASSERT_TRUE(c.connect(b.admin_port()));
    c.send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\n{\"n\":7}\n");
    auto status = c.read_line(10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_NE(status->find("200"), std::string::npos) << *status;
  }
  ASSERT_TRUE(sink.wait_delivered(4, slow(20s)));
  std::string bodies;
  for (const auto& r : sink.requests()) bodies += r.body;
  EXPECT_NE(bodies.find(R"("seq":1,"ts":)"), std::string::npos) << bodies;
  EXPECT_NE(bodies.find(R"("source":"ingest","identity":"bh-client","data":{"n":1}})"), std::string::npos) << bodies;
  EXPECT_NE(bodies.find(R"("source":"ingest","identity":"bh-client","data":{"late":1}})"), std::string::npos) << bodies;
  EXPECT_NE(bodies.find(R"("source":"ingest","data":{"n":7}})"), std::string::npos) << bodies;
  EXPECT_EQ(bodies.find("\"n\":3"), std::string::npos);
  EXPECT_EQ(bodies.find("\"n\":6"), std::string::npos);

  const std::string m = get_metrics(b.admin_port());
  EXPECT_EQ(metric(m, "no_cert"), "1") << m;
  EXPECT_EQ(metric(m, "bad_cert"), "1") << m;
  EXPECT_EQ(metric(m, "expired"), "1") << m;
  EXPECT_EQ(metric(m, "protocol"), "1") << m;
  EXPECT_NE(m.find("bulkhead_tls_server_handshakes_total{listener=\"ingest\"} 1"), std::string::npos) << m;

  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_NE(b.log().find("0 pool(s) not at zero"), std::string::npos) << b.log();
  EXPECT_NE(b.log().find("ingest: TLS handshake refused ("), std::string::npos) << b.log();
  EXPECT_EQ(stored_identities(b.db_path()), (std::vector<std::string>{"bh-client", "bh-client", "bh-client", "<null>"}));
}

// Issue 16: under a commit window a round reads on while its batch gathers (ingest_test.cpp has the
// plain-TCP case). Over TLS that read is cancelled by the round's answer and the replies are
// written on the same TLS stream: every line joins the one batch and every reply arrives.
TEST_F(TlsIngest, LinesPipelinedDuringTheCommitWindowJoinItsBatchOverTls) {
  Bulkhead b(tls_toml("ingest", true) + "[store]\ncommit_window = \"3s\"\n");
  ASSERT_TRUE(b.child() && b.child()->running()) << b.log();
  auto sample = [&](const std::string& name) {
    const std::string m = get_metrics(b.admin_port());
    const auto at = m.find("\n" + name + " ");
    return at == std::string::npos ? std::string("missing") : m.substr(at + name.size() + 2, m.find('\n', at + 1) - at - name.size() - 2);
  };
  const std::string hold = dir_->file("hold-window");
  std::filesystem::remove(hold);
  auto args = ingest_args(b.ingest_port(), "client", "+" + hold, {"{\"n\":1}", "{\"n\":2}", "{\"n\":3}"});
  args.insert(args.begin(), {"/usr/bin/python3", script()});
  Child client(args, dir_->file("window.log"));
  auto client_log = [&] {
    std::ifstream f(dir_->file("window.log"));
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  ASSERT_TRUE(eventually([&] { return sample("bulkhead_ingest_lines_total") == "1"; }, slow(20s))) << client_log();
  std::ofstream(hold).close();
  ASSERT_TRUE(eventually([&] { return sample("bulkhead_ingest_lines_total") == "3"; }, slow(20s))) << client_log();
  EXPECT_EQ(sample("bulkhead_committer_batches_total"), "0") << "the first line was answered before the window ended";
  ASSERT_TRUE(eventually([&] { return client_log().find("REPLIES") != std::string::npos; }, slow(20s)));
  EXPECT_NE(client_log().find("REPLIES ok 1|ok 2|ok 3"), std::string::npos) << client_log();
  EXPECT_EQ(client.wait(slow(10s)), 0);
  EXPECT_EQ(sample("bulkhead_committer_batches_total"), "1") << "the pipelined lines waited for a batch of their own";
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_NE(b.log().find("0 pool(s) not at zero"), std::string::npos) << b.log();
}

// `/@identity` in a sink's filter and template: the authenticated client, put first in the event
// those see (null for an event without one), so an event's own "@identity" member cannot pose as it.
TEST_F(TlsIngest, FiltersAndTemplatesSeeTheIdentityAsAtIdentity) {
  TestSink only_clients, rendered;
  Bulkhead b(tls_toml("ingest", true) + "[[sink]]\nname = \"a\"\nurl = \"" + only_clients.url() +
             "\"\nfilter = '/@identity == \"bh-client\"'\n"
             "[[sink]]\nname = \"b\"\nurl = \"" + rendered.url() +
             "\"\nformat = \"template\"\nbody = '{\"who\": \"{{ /@identity }}\", \"n\": {{ /n }}}'\n"
             "filter = 'exists(/n) && /n < 3'\n");
  ASSERT_TRUE(b.child() && b.child()->running()) << b.log();
  const std::string out = run(ingest_args(b.ingest_port(), "client", "-", {"{\"n\":1}", "{ \"n\" : 2 }"}));
  EXPECT_NE(out.find("REPLIES ok 1|ok 2"), std::string::npos) << out;
  {
    LineClient c;  // a plain event that claims the identity itself
    ASSERT_TRUE(c.connect(b.admin_port()));
    const std::string body = "{\"@identity\":\"bh-client\",\"n\":8}\n";
    c.send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body);
    auto status = c.read_line(10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_NE(status->find("200"), std::string::npos) << *status;
  }
  ASSERT_TRUE(rendered.wait_delivered(2, slow(20s))) << b.log();
  ASSERT_TRUE(only_clients.wait_delivered(2, slow(20s))) << b.log();
  // Seq 3 (the poser) settles on both sinks without being sent.
  ASSERT_TRUE(eventually([&] { return b.log().size() > 0 && stored_identities(b.db_path()).size() == 3; }, slow(10s)));
  std::string a, r;
  for (const auto& q : only_clients.requests()) a += q.body;
  for (const auto& q : rendered.requests()) r += q.body + "\n";
  EXPECT_NE(a.find(R"("identity":"bh-client","data":{"n":1}})"), std::string::npos) << a;
  EXPECT_EQ(a.find("\"n\":8"), std::string::npos) << a;
  EXPECT_NE(r.find(R"({"who":"bh-client","n":1})"), std::string::npos) << r;
  EXPECT_NE(r.find(R"({"who":"bh-client","n":2})"), std::string::npos) << r;
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_EQ(only_clients.delivered_seqs(), (std::vector<std::uint64_t>{1, 2}));
}

TEST_F(TlsIngest, AdminOverTlsServesHealthzAndEvents) {
  Bulkhead b(tls_toml("admin", false));
  ASSERT_TRUE(b.child() && b.child()->running()) << b.log();
  const std::string port = std::to_string(b.admin_port());
  const std::string ca = certs().crt("ca");
  EXPECT_NE(run({"https", "127.0.0.1", port, ca, "-", "-", "GET", "/healthz"}).find("STATUS 200"), std::string::npos);
  const std::string out = run({"https", "127.0.0.1", port, ca, "-", "-", "POST", "/v1/events", "{\"a\":1}\n"});
  EXPECT_NE(out.find("STATUS 200"), std::string::npos) << out;
  EXPECT_NE(out.find("ok"), std::string::npos) << out;
  // Plain HTTP on the TLS port gets no answer.
  LineClient plain;
  ASSERT_TRUE(plain.connect(b.admin_port()));
  plain.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(plain.wait_closed(slow(15s)));
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_EQ(stored_identities(b.db_path()).size(), 1u);
}

// POST /v1/events over mutual TLS: the events carry the client certificate's identity, as on TCP
// ingest (stored and in the envelope); a client without a certificate is refused at the handshake.
TEST_F(TlsIngest, AdminOverMutualTlsStoresTheClientIdentityWithPostedEvents) {
  TestSink sink;
  Bulkhead b(tls_toml("admin", true) + "[[sink]]\nname = \"s\"\nurl = \"" + sink.url() + "\"\n");
  ASSERT_TRUE(b.child() && b.child()->running()) << b.log();
  const std::string port = std::to_string(b.admin_port());
  const std::string ca = certs().crt("ca");
  const std::string out = run({"https", "127.0.0.1", port, ca, certs().crt("client"), certs().key("client"), "POST",
                               "/v1/events", "{\"a\":1}\n{\"a\":2}\n"});
  EXPECT_NE(out.find("STATUS 200"), std::string::npos) << out;
  EXPECT_NE(out.find("\"ok\":2"), std::string::npos) << out;
  EXPECT_NE(run({"https", "127.0.0.1", port, ca, "-", "-", "POST", "/v1/events", "{\"a\":3}\n"}).find("ERROR"),
            std::string::npos);
  ASSERT_TRUE(sink.wait_delivered(2, slow(20s))) << b.log();
  std::string bodies;
  for (const auto& r : sink.requests()) bodies += r.body;
  EXPECT_NE(bodies.find(R"("source":"ingest","identity":"bh-client","data":{"a":1}})"), std::string::npos) << bodies;
  EXPECT_NE(bodies.find(R"("source":"ingest","identity":"bh-client","data":{"a":2}})"), std::string::npos) << bodies;
  EXPECT_EQ(bodies.find("\"a\":3"), std::string::npos) << bodies;
  auto code = b.stop();
  ASSERT_TRUE(code.has_value()) << b.log();
  EXPECT_EQ(*code, 0) << b.log();
  EXPECT_EQ(stored_identities(b.db_path()), (std::vector<std::string>{"bh-client", "bh-client"}));
}

TEST_F(TlsIngest, KeyReadableByOthersAndBadPemAreConfigErrors) {
  TempDir d;
  const std::string key = d.file("open.key");
  std::filesystem::copy_file(certs().key("server"), key);
  ::chmod(key.c_str(), 0644);
  const std::string cfg = d.file("b.toml");
  std::ofstream(cfg) << "[ingest]\ntls_cert = \"" << certs().crt("server") << "\"\ntls_key = \"" << key << "\"\n";
  auto [code, out] = run_bulkhead({"check-config", cfg});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("ingest.tls_key"), std::string::npos) << out;
  EXPECT_NE(out.find(key + " is readable by others"), std::string::npos) << out;

  const std::string bad = d.file("bad.crt");
  std::ofstream(bad) << "not a certificate\n";
  std::ofstream(cfg, std::ios::trunc) << "[admin]\ntls_cert = \"" << bad << "\"\ntls_key = \"" << certs().key("server")
                                      << "\"\n";
  auto [code2, out2] = run_bulkhead({"check-config", cfg});
  EXPECT_EQ(code2, 2) << out2;
  EXPECT_NE(out2.find("admin.tls_cert"), std::string::npos) << out2;
  EXPECT_NE(out2.find(bad), std::string::npos) << out2;

  // Ingest on all addresses without client authentication: a warning, still valid.
  std::ofstream(cfg, std::ios::trunc) << "[ingest]\nlisten = \"0.0.0.0:7700\"\n";
  auto [code3, out3] = run_bulkhead({"check-config", cfg});
  EXPECT_EQ(code3, 0) << out3;
  EXPECT_NE(out3.find("warning"), std::string::npos) << out3;
  EXPECT_NE(out3.find("ingest.tls_client_ca is not set"), std::string::npos) << out3;
}

}  // namespace
}  // namespace bh::test
