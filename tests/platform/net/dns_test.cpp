// DNS stub resolver: the query builder and the strict answer parser on hand-built messages, the
// resolv.conf and hosts parsers, and DnsCache lookups against a fake DNS server on 127.0.0.1
// (answers, TTL expiry on an injected clock, silence, NXDOMAIN, stale addresses, no FD left, no
// heap after seal).
#include "platform/net/dns.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "platform/alloc/alloc.hpp"
#include "tests/support/census.hpp"

namespace bh {
namespace {
using namespace std::chrono_literals;
using dns::Answer;
using dns::RecordType;

// ---- a message builder for hand-made answers ---------------------------------------------------

struct Msg {
  std::vector<std::uint8_t> b;
  Msg& u8(unsigned v) {
    b.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  Msg& u16(unsigned v) { return u8(v >> 8).u8(v & 0xff); }
  Msg& u32(std::uint32_t v) { return u16(v >> 16).u16(v & 0xffff); }
  Msg& name(std::string_view n) {  // uncompressed, root-terminated
    while (!n.empty()) {
      auto dot = std::min(n.find('.'), n.size());
      u8(static_cast<unsigned>(dot));
      for (std::size_t i = 0; i < dot; ++i) u8(static_cast<unsigned char>(n[i]));
      n.remove_prefix(std::min(dot + 1, n.size()));
    }
    return u8(0);
  }
  Msg& ptr(unsigned off) { return u16(0xC000 | off); }
  // Header: QR, RD, RA set plus `flags`.
  Msg& head(std::uint16_t id, unsigned an, unsigned rcode = 0, unsigned extra_flags = 0, unsigned qd = 1) {
    return u16(id).u16(0x8180 | rcode | extra_flags).u16(qd).u16(an).u16(0).u16(0);
  }
  Msg& question(std::string_view n, RecordType t = RecordType::a) { return name(n).u16(static_cast<unsigned>(t)).u16(1); }
  // A record's fixed part after its owner name.
  Msg& rr(RecordType t, std::uint32_t ttl, unsigned rdlen) { return u16(static_cast<unsigned>(t)).u16(1).u32(ttl).u16(rdlen); }
  Msg& a(std::uint32_t ttl, std::uint8_t x, std::uint8_t y, std::uint8_t z, std::uint8_t w) {
    return rr(RecordType::a, ttl, 4).u8(x).u8(y).u8(z).u8(w);
  }
  std::span<const std::uint8_t> span() const { return b; }
};

constexpr std::uint16_t kId = 0x1234;

std::error_code parse(const Msg& m, Answer& out, std::string_view name = "www.example.com",
                      RecordType t = RecordType::a, std::uint16_t id = kId) {
  return dns::parse_response(m.span(), id, name, t, out);
}

// ---- query builder -----------------------------------------------------------------------------

TEST(DnsWire, QueryIsOneRecursiveQuestion) {
  std::uint8_t buf[512];
  std::size_t n = dns::build_query(buf, "Example.COM.", 0xBEEF, RecordType::aaaa);
  const std::vector<std::uint8_t> want = {0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,  // RD, QD=1
                                          7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'C', 'O', 'M', 0,
                                          0, 28, 0, 1};
  ASSERT_EQ(n, want.size());
  EXPECT_EQ(std::vector<std::uint8_t>(buf, buf + n), want);
}

TEST(DnsWire, QueryRefusesBadNamesAndSmallBuffers) {
  std::uint8_t buf[512];
  const std::string label63(63, 'a'), label64(64, 'a');
  EXPECT_GT(dns::build_query(buf, label63 + ".example", 1, RecordType::a), 0u);
  for (std::string bad : {std::string(""), std::string("."), std::string("a..b"), std::string(".a"), label64 + ".x",
                          std::string("bad name"), std::string("a/b"), std::string("caf\xc3\xa9")})
    EXPECT_EQ(dns::build_query(buf, bad, 1, RecordType::a), 0u) << bad;
  std::string long_name;  // 4 x 63 + 3 dots = 255 > 253
  for (int i = 0; i < 4; ++i) long_name += (i ? "." : "") + label63;
  EXPECT_EQ(dns::build_query(buf, long_name, 1, RecordType::a), 0u);
  std::uint8_t small[20];
  EXPECT_EQ(dns::build_query(small, "www.example.com", 1, RecordType::a), 0u);  // needs 33
  EXPECT_EQ(dns::build_query(std::span(buf, 33), "www.example.com", 1, RecordType::a), 33u);
}

// ---- answer parser -----------------------------------------------------------------------------

Msg simple_answer() {
  Msg m;
  m.head(kId, 2).question("www.example.com");
  m.ptr(12).a(300, 192, 0, 2, 1);
  m.ptr(12).a(60, 192, 0, 2, 2);
  return m;
}

TEST(DnsParse, AddressesWithCompressionAndMinimumTtl) {
  Answer out;
  ASSERT_FALSE(parse(simple_answer(), out));
  ASSERT_EQ(out.count, 2u);
  EXPECT_EQ(out.addrs[0].to_string(), "192.0.2.1");
  EXPECT_EQ(out.addrs[1].to_string(), "192.0.2.2");
  EXPECT_EQ(out.ttl, 60u);
  // The question name matches case-insensitively, with or without a trailing dot.
  EXPECT_FALSE(parse(simple_answer(), out, "WWW.Example.Com."));
}

TEST(DnsParse, FollowsACnameChainInAnyOrder) {
  // www.example.com CNAME a.example.net; a.example.net CNAME b.example.org; b.example.org A.
  // The A record comes first, the CNAMEs out of order, and targets are compressed.
  Msg m;
  m.head(kId, 4).question("www.example.com");  // question name at 12
  const unsigned a_owner = static_cast<unsigned>(m.b.size());
  m.name("b.example.org").a(120, 198, 51, 100, 7);
  const unsigned cname2 = static_cast<unsigned>(m.b.size());
  m.name("a.example.net").rr(RecordType::cname, 30, 2).ptr(a_owner);
  m.ptr(12).rr(RecordType::cname, 600, 2).ptr(cname2);
  m.name("other.example").a(5, 10, 0, 0, 1);  // not on the chain: ignored, TTL not used
  Answer out;
  ASSERT_FALSE(parse(m, out));
  ASSERT_EQ(out.count, 1u);
  EXPECT_EQ(out.addrs[0].to_string(), "198.51.100.7");
  EXPECT_EQ(out.ttl, 30u);  // the smallest TTL on the chain
}

TEST(DnsParse, CnameLoopsAndOverlongChainsAreMalformed) {
  Msg loop;  // www -> x -> www
  loop.head(kId, 2).question("www.example.com");
  loop.ptr(12).rr(RecordType::cname, 60, 4).u8(1).u8('x').ptr(12);
  loop.u8(1).u8('x').ptr(12).rr(RecordType::cname, 60, 2).ptr(12);
  Answer out;
  EXPECT_EQ(parse(loop, out), dns_errc::malformed);

  auto chain = [](unsigned hops) {  // www.example.com -> c1 -> c2 ... -> c<hops> (A)
    Msg m;
    m.head(kId, hops + 1).question("www.example.com");
    for (unsigned i = 1; i <= hops; ++i) {
      if (i == 1) m.ptr(12);
      else m.name("c" + std::to_string(i - 1));
      m.rr(RecordType::cname, 60, static_cast<unsigned>(("c" + std::to_string(i)).size() + 2)).name("c" + std::to_string(i));
    }
    m.name("c" + std::to_string(hops)).a(60, 10, 0, 0, 9);
    return m;
  };
  EXPECT_FALSE(parse(chain(dns::kMaxCnameHops), out));  // N: followed
  EXPECT_EQ(out.addrs[0].to_string(), "10.0.0.9");
  EXPECT_EQ(parse(chain(dns::kMaxCnameHops + 1), out), dns_errc::malformed);  // N+1
}

TEST(DnsParse, NotOurAnswerIsToldApart) {
  Answer out;
  EXPECT_EQ(parse(simple_answer(), out, "www.example.com", RecordType::a, kId + 1), dns_errc::id_mismatch);
  Msg query = simple_answer();
  query.b[2] &= 0x7f;  // QR clear: a query, not an answer
  EXPECT_EQ(parse(query, out), dns_errc::not_response);
  Msg opcode = simple_answer();
  opcode.b[2] |= 0x10;  // opcode 2 (STATUS)
  EXPECT_EQ(parse(opcode, out), dns_errc::not_response);
  EXPECT_EQ(parse(simple_answer(), out, "www.example.org"), dns_errc::question_mismatch);
  EXPECT_EQ(parse(simple_answer(), out, "www.example.com", RecordType::aaaa), dns_errc::question_mismatch);
  Msg two_q;
  two_q.head(kId, 0, 0, 0, 2).question("www.example.com").question("www.example.com");
  EXPECT_EQ(parse(two_q, out), dns_errc::malformed);
}

TEST(DnsParse, ErrorCodesAndEmptyAnswers) {
  Answer out;
  out.count = 7;  // untouched on error
  Msg nx;
  nx.head(kId, 0, 3).question("www.example.com");
  EXPECT_EQ(parse(nx, out), dns_errc::nxdomain);
  Msg nx_noq;  // error answers may omit the question
  nx_noq.head(kId, 0, 3, 0, 0);
  EXPECT_EQ(parse(nx_noq, out), dns_errc::nxdomain);
  Msg ok_noq;  // ... but a NOERROR answer may not
  ok_noq.head(kId, 0, 0, 0, 0);
  EXPECT_EQ(parse(ok_noq, out), dns_errc::malformed);
  Msg fail;
  fail.head(kId, 0, 2).question("www.example.com");
  EXPECT_EQ(parse(fail, out), dns_errc::server_failure);
  Msg notimp;
  notimp.head(kId, 0, 4).question("www.example.com");
  EXPECT_EQ(parse(notimp, out), dns_errc::server_failure);
  Msg refused;
  refused.head(kId, 0, 5).question("www.example.com");
  EXPECT_EQ(parse(refused, out), dns_errc::refused);
  Msg tc = simple_answer();
  tc.b[2] |= 0x02;
  EXPECT_EQ(parse(tc, out), dns_errc::truncated);
  Msg empty;
  empty.head(kId, 0).question("www.example.com");
  EXPECT_EQ(parse(empty, out), dns_errc::no_data);
  Msg other_type;  // only an AAAA record while A was asked
  other_type.head(kId, 1).question("www.example.com");
  other_type.ptr(12).rr(RecordType::aaaa, 60, 16);
  for (int i = 0; i < 16; ++i) other_type.u8(i);
  EXPECT_EQ(parse(other_type, out), dns_errc::no_data);
  Msg other_class;  // class CH
  other_class.head(kId, 1).question("www.example.com");
  other_class.ptr(12).u16(1).u16(3).u32(60).u16(4).u32(0x7f000001);
  EXPECT_EQ(parse(other_class, out), dns_errc::no_data);
  EXPECT_EQ(out.count, 7u);
}

TEST(DnsParse, AaaaRecords) {
  Msg m;
  m.head(kId, 1).question("v6.example", RecordType::aaaa);
  m.ptr(12).rr(RecordType::aaaa, 0x80000001u, 16);  // a TTL with the top bit set counts as 0
  for (int i = 0; i < 15; ++i) m.u8(i == 0 ? 0x20 : 0);
  m.u8(1);
  Answer out;
  ASSERT_FALSE(parse(m, out, "v6.example", RecordType::aaaa));
  EXPECT_EQ(out.addrs[0].to_string(), "2000::1");
  EXPECT_EQ(out.ttl, 0u);
}

TEST(DnsParse, EveryTruncationOfAValidAnswerIsAnError) {
  Msg m = simple_answer();
  Answer out;
  for (std::size_t n = 0; n < m.b.size(); ++n) {
    Msg cut;
    cut.b.assign(m.b.begin(), m.b.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_TRUE(parse(cut, out)) << "prefix of " << n << " bytes";
  }
  Msg longer = m;  // trailing bytes beyond the counted sections are not read
  longer.u32(0xdeadbeef);
  EXPECT_FALSE(parse(longer, out));
}

TEST(DnsParse, MalformedRecordsAndNames) {
  Answer out;
  Msg self_ptr;  // the question's name points at itself
  self_ptr.head(kId, 0).ptr(12).u16(1).u16(1);
  EXPECT_EQ(parse(self_ptr, out), dns_errc::malformed);
  Msg fwd;  // the question's name points forward
  fwd.head(kId, 0).ptr(18).u16(1).u16(1).name("www.example.com");
  EXPECT_EQ(parse(fwd, out), dns_errc::malformed);
  Msg loop;  // an answer owner whose pointers chase each other: 30 -> 32 -> 30
  loop.head(kId, 1).question("www.example.com");
  const unsigned at = static_cast<unsigned>(loop.b.size());
  loop.ptr(at + 2).ptr(at).a(60, 1, 2, 3, 4);
  EXPECT_EQ(parse(loop, out), dns_errc::malformed);
  Msg a5;  // an A record of 5 bytes
  a5.head(kId, 1).question("www.example.com");
  a5.ptr(12).rr(RecordType::a, 60, 5).u32(0x01020304).u8(5);
  EXPECT_EQ(parse(a5, out), dns_errc::malformed);
  Msg past;  // rdlength beyond the message
  past.head(kId, 1).question("www.example.com");
  past.ptr(12).rr(RecordType::a, 60, 4).u16(0x0102);
  EXPECT_EQ(parse(past, out), dns_errc::malformed);
  Msg ext;  // an extended label type (0x40)
  ext.head(kId, 1).question("www.example.com");
  ext.u8(0x41).u8('x').u8(0).a(60, 1, 2, 3, 4);
  EXPECT_EQ(parse(ext, out), dns_errc::malformed);
  Msg dot;  // a label containing '.' would alias another name
  dot.head(kId, 1).question("www.example.com");
  dot.u8(3).u8('w').u8('.').u8('w').ptr(16).a(60, 1, 2, 3, 4);
  EXPECT_EQ(parse(dot, out), dns_errc::malformed);
  Msg bad_cname;  // a CNAME whose target does not end where its rdata ends
  bad_cname.head(kId, 1).question("www.example.com");
  bad_cname.ptr(12).rr(RecordType::cname, 60, 4).ptr(12).u16(0);
  EXPECT_EQ(parse(bad_cname, out), dns_errc::malformed);
}

TEST(DnsParse, KeepsAtMostMaxAddrs) {
  Msg m;
  m.head(kId, 6).question("www.example.com");
  for (int i = 0; i < 6; ++i) m.ptr(12).a(static_cast<std::uint32_t>(100 - i), 10, 0, 0, static_cast<std::uint8_t>(i));
  Answer out;
  ASSERT_FALSE(parse(m, out));
  EXPECT_EQ(out.count, dns::kMaxAddrs);
  EXPECT_EQ(out.addrs[3].to_string(), "10.0.0.3");
  EXPECT_EQ(out.ttl, 97u);  // of the records used
}

// ---- resolv.conf and hosts ---------------------------------------------------------------------

TEST(DnsConf, ResolvConfServersAndOptions) {
  dns::ResolvConf c;
  dns::parse_resolv_conf("# generated\n"
                         "search example.com\n"
                         "nameserver 10.0.0.1   # primary\n"
                         "nameserver not-an-address\n"
                         "; nameserver 10.9.9.9\n"
                         "nameserver\t2001:db8::53\n"
                         "nameserver fe80::1%eth0\n"
                         "nameserver 10.0.0.3\n"
                         "nameserver 10.0.0.4\n"
                         "options ndots:2 timeout:1 attempts:3 rotate\n",
                         c);
  ASSERT_EQ(c.count, 3u);  // the first three usable ones, like glibc
  EXPECT_EQ(c.servers[0].to_string(), "10.0.0.1");
  EXPECT_EQ(c.servers[1].to_string(), "2001:db8::53");
  EXPECT_EQ(c.servers[2].to_string(), "10.0.0.3");
  EXPECT_EQ(c.timeout, 1s);
  EXPECT_EQ(c.attempts, 3u);

  dns::parse_resolv_conf("options timeout:0 attempts:99\noptions timeout:x\n", c);
  ASSERT_EQ(c.count, 1u);  // none: the local server, as glibc
  EXPECT_EQ(c.servers[0].to_string(), "127.0.0.1");
  EXPECT_EQ(c.timeout, 1s);  // clamped
  EXPECT_EQ(c.attempts, 5u);
  dns::parse_resolv_conf("", c);
  EXPECT_EQ(c.timeout, 5s);
  EXPECT_EQ(c.attempts, 2u);
}

TEST(DnsConf, HostsFile) {
  const char* hosts = "127.0.0.1\tlocalhost\n"
                      "::1 localhost ip6-localhost  # loopback\n"
                      "127.0.0.1 localhost.localdomain LOCALHOST\n"
                      "# 10.0.0.1 commented\n"
                      "10.0.0.2 db db.lan\n"
                      "bogus line here\n"
                      "10.0.0.3 DB\n"
                      "10.0.0.4 db\n10.0.0.5 db\n10.0.0.6 db\n";
  Answer out;
  ASSERT_EQ(dns::find_in_hosts(hosts, "localhost", out), 2u);  // 127.0.0.1 once, IPv4 first
  EXPECT_EQ(out.addrs[0].to_string(), "127.0.0.1");
  EXPECT_EQ(out.addrs[1].to_string(), "::1");
  ASSERT_EQ(dns::find_in_hosts(hosts, "db.lan.", out), 1u);
  EXPECT_EQ(out.addrs[0].to_string(), "10.0.0.2");
  EXPECT_EQ(dns::find_in_hosts(hosts, "db", out), dns::kMaxAddrs);
  EXPECT_EQ(out.addrs[1].to_string(), "10.0.0.3");
  EXPECT_EQ(dns::find_in_hosts(hosts, "commented", out), 0u);
  EXPECT_EQ(dns::find_in_hosts(hosts, "line", out), 0u);
  EXPECT_EQ(dns::find_in_hosts(hosts, "ip6-localhost", out), 1u);
}

// ---- lookups against a fake server -------------------------------------------------------------

// A DNS server on 127.0.0.1 in its own thread (plain POSIX calls, no heap: the seal test counts
// every thread's allocations). Answers A queries with `addr`, AAAA with no data, unless `mode` says
// otherwise.
class FakeDns {
 public:
  enum class Mode : int { answer, silent, nxdomain, servfail, wrong_id_first, v6_only };
  std::atomic<Mode> mode{Mode::answer};
  std::atomic<std::uint32_t> ttl{60};
  std::atomic<std::uint32_t> addr{0xC0000201};  // 192.0.2.1
  std::atomic<int> queries{0};

  explicit FakeDns(std::uint32_t ip = INADDR_LOOPBACK, std::uint16_t port = 0) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(ip);
    a.sin_port = htons(port);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      ADD_FAILURE() << "fake DNS socket";
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeDns() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      std::uint8_t q[512];
      sockaddr_in from{};
      socklen_t fl = sizeof from;
      const ssize_t n = ::recvfrom(fd_, q, sizeof q, 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n < 17) continue;
      ++queries;
      std::size_t e = 12;
      while (e < static_cast<std::size_t>(n) && q[e] != 0) e += q[e] + 1u;
      e += 5;
      if (e > static_cast<std::size_t>(n)) continue;
      const unsigned qtype = (q[e - 4] << 8) | q[e - 3];
      const Mode m = mode;
      if (m == Mode::silent) continue;
      const bool v6 = qtype == 28;
      const bool has = (m == Mode::answer || m == Mode::wrong_id_first) ? !v6 : m == Mode::v6_only ? v6 : false;
      const unsigned rcode = m == Mode::nxdomain ? 3 : m == Mode::servfail ? 2 : 0;
      std::uint8_t r[512];
      std::memcpy(r, q, e);  // ID and question
      r[2] = 0x81;
      r[3] = static_cast<std::uint8_t>(0x80 | rcode);
      r[6] = 0;
      r[7] = has ? 1 : 0;
      std::size_t len = e;
      if (has) {
        const std::uint32_t t = ttl;
        const std::uint8_t head[] = {0xC0, 12, 0, static_cast<std::uint8_t>(qtype), 0, 1,
                                     static_cast<std::uint8_t>(t >> 24), static_cast<std::uint8_t>(t >> 16),
                                     static_cast<std::uint8_t>(t >> 8), static_cast<std::uint8_t>(t), 0,
                                     static_cast<std::uint8_t>(v6 ? 16 : 4)};
        std::memcpy(r + len, head, sizeof head);
        len += sizeof head;
        const std::uint32_t a = addr;
        if (v6) {
          std::memset(r + len, 0, 16);
          r[len] = 0x20, r[len + 1] = 0x01, r[len + 2] = 0x0d, r[len + 3] = 0xb8, r[len + 15] = 1;
          len += 16;
        } else {
          const std::uint8_t b[] = {static_cast<std::uint8_t>(a >> 24), static_cast<std::uint8_t>(a >> 16),
                                    static_cast<std::uint8_t>(a >> 8), static_cast<std::uint8_t>(a)};
          std::memcpy(r + len, b, 4);
          len += 4;
        }
      }
      if (m == Mode::wrong_id_first) {  // a forged answer first: must be ignored
        r[0] ^= 0x55;
        ::sendto(fd_, r, len, 0, reinterpret_cast<sockaddr*>(&from), fl);
        r[0] ^= 0x55;
      }
      ::sendto(fd_, r, len, 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
  }
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The injected clock of the expiry tests.
Clock::time_point g_now = Clock::time_point(std::chrono::hours(1000));
Clock::time_point fake_now() { return g_now; }

Task<void> resolve_into(DnsCache* c, DnsCache::Result* out) { *out = co_await c->resolve(); }

struct DnsFixture : ::testing::Test {
  test::CensusGuard census;  // first: checked last
  test::TempDir dir;
  asio::io_context io{1};
  TaskPool<4> tasks{"t_dns_tasks", io};

  // Writes a resolv.conf naming 127.0.0.1 (or `servers`) and an empty hosts file.
  DnsOptions options(std::uint16_t port, const std::string& extra = "options timeout:1 attempts:1\n",
                     const std::string& servers = "nameserver 127.0.0.1\n") {
    std::ofstream(dir.file("resolv.conf")) << servers << extra;
    std::ofstream(dir.file("hosts")) << "10.9.8.7 fromhosts\n";
    DnsOptions o;
    o.resolv_conf = dir.file("resolv.conf");
    o.hosts_file = dir.file("hosts");
    o.port = port;
    o.timeout = 2s;
    o.now = &fake_now;
    return o;
  }
  DnsCache::Result resolve(DnsCache& c) {
    DnsCache::Result r;
    r.ec = make_error_code(dns_errc::busy);
    EXPECT_TRUE(tasks.spawn("dns", [&] { return resolve_into(&c, &r); }));
    io.restart();
    io.run();
    return r;
  }
};

TEST_F(DnsFixture, NumericAndHostsFileHostsNeedNoServer) {
  DnsCache c;
  DnsOptions o = options(1);  // nothing listens on port 1: any query would fail
  ASSERT_FALSE(c.init("10.1.2.3", o));
  EXPECT_TRUE(c.is_static());
  DnsCache::Result r = resolve(c);
  ASSERT_FALSE(r.ec);
  EXPECT_EQ(r.addr.to_string(), "10.1.2.3");
  ASSERT_FALSE(c.init("::1", o));
  EXPECT_EQ(resolve(c).addr.to_string(), "::1");
  ASSERT_FALSE(c.init("FromHosts", o));
  EXPECT_TRUE(c.is_static());
  r = resolve(c);
  EXPECT_EQ(r.addr.to_string(), "10.9.8.7");
  EXPECT_EQ(c.stats().lookups, 0u);
  EXPECT_EQ(c.stats().cache_hits, 1u);
  EXPECT_EQ(c.init("bad host", o), dns_errc::bad_name);
  EXPECT_EQ(c.init("", o), dns_errc::bad_name);
}

TEST_F(DnsFixture, AnswerIsCachedUntilTheTtl) {
  FakeDns server;
  server.ttl = 60;
  DnsCache c;
  DnsOptions o = options(server.port());
  o.ttl = 300s;  // the record's 60 s is shorter: it wins
  ASSERT_FALSE(c.init("svc.example", o));
  EXPECT_FALSE(c.is_static());
  DnsCache::Result r = resolve(c);
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.addr.to_string(), "192.0.2.1");
  EXPECT_FALSE(r.stale);
  EXPECT_EQ(c.expires_at(), g_now + 60s);
  server.addr = 0xC0000202;  // 192.0.2.2 from now on
  g_now += 59s;
  EXPECT_EQ(resolve(c).addr.to_string(), "192.0.2.1");  // fresh: no query
  EXPECT_EQ(server.queries, 1);
  g_now += 1s;
  EXPECT_EQ(resolve(c).addr.to_string(), "192.0.2.2");  // expired: looked up again
  EXPECT_EQ(server.queries, 2);
  EXPECT_EQ(c.stats().resolves, 3u);
  EXPECT_EQ(c.stats().lookups, 2u);
  EXPECT_EQ(c.stats().cache_hits, 1u);
  EXPECT_EQ(c.stats().failures + c.stats().timeouts + c.stats().stale_used, 0u);

  // The configured TTL caps a longer record TTL; 0 looks up every time.
  server.ttl = 86400;
  o.ttl = 10s;
  ASSERT_FALSE(c.init("svc.example", o));
  ASSERT_FALSE(resolve(c).ec);
  EXPECT_EQ(c.expires_at(), g_now + 10s);
  o.ttl = 0s;
  ASSERT_FALSE(c.init("svc.example", o));
  const int before = server.queries;
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(resolve(c).ec);
  EXPECT_EQ(server.queries, before + 3);
  EXPECT_EQ(c.stats().cache_hits, 0u);
}

TEST_F(DnsFixture, SilentServerTimesOutAndIsCounted) {
  FakeDns server;
  server.mode = FakeDns::Mode::silent;
  DnsCache c;
  DnsOptions o = options(server.port(), "options timeout:5 attempts:2\n");
  o.timeout = 300ms;  // the whole lookup; the two tries share it
  ASSERT_FALSE(c.init("svc.example", o));
  const auto t0 = Clock::now();
  DnsCache::Result r = resolve(c);
  const auto took = Clock::now() - t0;
  EXPECT_EQ(r.ec, errc::timeout);
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(server.queries, 2);  // attempts:2, each try waits its share of the deadline
  EXPECT_EQ(c.stats().timeouts, 1u);
  EXPECT_EQ(c.stats().failures, 0u);
  EXPECT_EQ(c.stats().stale_used, 0u);
}

TEST_F(DnsFixture, FailedLookupUsesTheStaleAddress) {
  FakeDns server;
  server.ttl = 30;
  DnsCache c;
  DnsOptions o = options(server.port());
  o.timeout = 200ms;
  ASSERT_FALSE(c.init("svc.example", o));
  ASSERT_FALSE(resolve(c).ec);
  server.mode = FakeDns::Mode::silent;
  g_now += 31s;
  DnsCache::Result r = resolve(c);
  ASSERT_FALSE(r.ec);
  EXPECT_TRUE(r.stale);
  EXPECT_EQ(r.lookup_error, errc::timeout);
  EXPECT_EQ(r.addr.to_string(), "192.0.2.1");
  server.mode = FakeDns::Mode::nxdomain;
  r = resolve(c);  // still expired: looked up again, fails again
  ASSERT_FALSE(r.ec);
  EXPECT_TRUE(r.stale);
  EXPECT_EQ(r.lookup_error, dns_errc::nxdomain);
  EXPECT_EQ(c.stats().timeouts, 1u);
  EXPECT_EQ(c.stats().failures, 1u);
  EXPECT_EQ(c.stats().stale_used, 2u);
  server.mode = FakeDns::Mode::answer;  // DNS is back: fresh again
  r = resolve(c);
  EXPECT_FALSE(r.stale);
  EXPECT_EQ(c.stats().stale_used, 2u);
}

TEST_F(DnsFixture, ErrorsWithoutACachedAddress) {
  FakeDns server;
  DnsCache c;
  DnsOptions o = options(server.port());
  ASSERT_FALSE(c.init("missing.example", o));
  server.mode = FakeDns::Mode::nxdomain;
  EXPECT_EQ(resolve(c).ec, dns_errc::nxdomain);
  EXPECT_EQ(server.queries, 1);  // NXDOMAIN is final: no AAAA, no retry
  server.mode = FakeDns::Mode::servfail;
  EXPECT_EQ(resolve(c).ec, dns_errc::server_failure);
  EXPECT_EQ(c.stats().failures, 2u);
  EXPECT_EQ(c.stats().stale_used, 0u);

  // Nothing listens: the ICMP port-unreachable ends the try at once.
  std::uint16_t closed = 0;
  {
    FakeDns gone;
    closed = gone.port();
  }
  DnsCache d;
  ASSERT_FALSE(d.init("svc.example", options(closed)));
  const auto t0 = Clock::now();
  EXPECT_EQ(resolve(d).ec, asio::error::connection_refused);
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_EQ(d.stats().failures, 1u);
}

TEST_F(DnsFixture, ForgedAnswersAreIgnoredAndAaaaFollowsNoA) {
  FakeDns server;
  server.mode = FakeDns::Mode::wrong_id_first;
  DnsCache c;
  ASSERT_FALSE(c.init("svc.example", options(server.port())));
  DnsCache::Result r = resolve(c);
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.addr.to_string(), "192.0.2.1");

  server.mode = FakeDns::Mode::v6_only;
  server.queries = 0;
  c.expire();
  r = resolve(c);
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.addr.to_string(), "2001:db8::1");
  EXPECT_EQ(server.queries, 2);  // A (no data), then AAAA
}

TEST_F(DnsFixture, NextServerAfterASilentOne) {
  FakeDns silent;  // 127.0.0.1
  silent.mode = FakeDns::Mode::silent;
  FakeDns good(0x7f000002, silent.port());  // 127.0.0.2, the same port (the resolver has one)
  DnsCache c;
  DnsOptions o = options(silent.port(), "options timeout:5 attempts:1\n",
                         "nameserver 127.0.0.1\nnameserver 127.0.0.2\n");
  o.timeout = 1s;
  ASSERT_FALSE(c.init("svc.example", o));
  const auto t0 = Clock::now();
  DnsCache::Result r = resolve(c);
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.addr.to_string(), "192.0.2.1");
  EXPECT_EQ(silent.queries, 1);
  EXPECT_EQ(good.queries, 1);
  EXPECT_GE(Clock::now() - t0, 450ms);  // the first try waited its share: min(5 s, 1 s / 2 tries)
}

Task<void> resolve_then_flag(DnsCache* c, DnsCache::Result* out, bool* done) {
  *out = co_await c->resolve();
  *done = true;
}

TEST_F(DnsFixture, CancelledLookupIsNotATimeout) {
  FakeDns server;
  server.mode = FakeDns::Mode::silent;
  DnsCache c;
  DnsOptions o = options(server.port(), "options timeout:30\n");
  o.timeout = 30s;
  ASSERT_FALSE(c.init("svc.example", o));
  DnsCache::Result r;
  bool done = false;
  ASSERT_TRUE(tasks.spawn("dns", [&] { return resolve_then_flag(&c, &r, &done); }));
  asio::steady_timer t(io, 50ms);
  t.async_wait([&](std::error_code) { tasks.cancel_all(); });
  const auto t0 = Clock::now();
  io.run();
  EXPECT_TRUE(done);
  EXPECT_LT(Clock::now() - t0, 5s);
  EXPECT_EQ(r.ec, errc::cancelled);
  EXPECT_EQ(c.stats().timeouts + c.stats().failures, 0u);
}

// Lookups after start-up allocate nothing: the socket, the query, the timers and the handlers
// live in the cache, the Asio tables warmed up and the task's arena.
TEST_F(DnsFixture, LookupsAllocateNothingAfterSeal) {
  FakeDns server;
  DnsCache c;
  DnsOptions o = options(server.port());
  o.ttl = 0s;  // every resolve is a lookup
  ASSERT_FALSE(c.init("svc.example", o));
  DnsCache::Result r;
  auto run = [&](int n) {
    for (int i = 0; i < n; ++i) {
      tasks.spawn("dns", [&] { return resolve_into(&c, &r); });
      io.restart();
      io.run();
    }
  };
  run(3);  // warm-up
  alloc::seal();
  const std::uint64_t before = alloc::count();
  run(50);
  server.mode = FakeDns::Mode::nxdomain;  // the failure path (stale address) too
  run(5);
  const std::uint64_t after = alloc::count();
  alloc::unseal();
  EXPECT_EQ(after - before, 0u) << "heap allocations after seal";
  EXPECT_TRUE(r.stale);
  EXPECT_EQ(c.stats().lookups, 58u);
  EXPECT_EQ(c.stats().stale_used, 5u);
  EXPECT_EQ(server.queries, 58 + 0);  // NXDOMAIN ends each lookup after its A query
}

}  // namespace
}  // namespace bh
