// The stub resolver: wire format (RFC 1035), resolv.conf and hosts parsing, the UDP lookup task
// and the per-connector cache.
#include "platform/net/dns.hpp"

#include <arpa/inet.h>
#include <sys/random.h>

#include <asio/buffer.hpp>
#include <asio/ip/udp.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

namespace bh {

// ---- error category ----------------------------------------------------------------------------

namespace {
class DnsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "dns"; }
  std::string message(int c) const override { return std::string(dns_reason({c, *this})); }
};
}  // namespace

const std::error_category& dns_category() noexcept {
  static const DnsCategory c;
  return c;
}

std::string_view dns_reason(std::error_code ec) noexcept {
  if (!ec) return "ok";
  if (ec.category() == dns_category()) {
    switch (static_cast<dns_errc>(ec.value())) {
      case dns_errc::ok: return "ok";
      case dns_errc::bad_name: return "not a valid host name";
      case dns_errc::malformed: return "malformed DNS answer";
      case dns_errc::truncated: return "truncated DNS answer";
      case dns_errc::id_mismatch: return "DNS answer with another ID";
      case dns_errc::not_response: return "DNS message is not a response";
      case dns_errc::question_mismatch: return "DNS answer to another question";
      case dns_errc::nxdomain: return "no such host (NXDOMAIN)";
      case dns_errc::no_data: return "host has no address";
      case dns_errc::server_failure: return "name server failure (SERVFAIL)";
      case dns_errc::refused: return "name server refused (REFUSED)";
      case dns_errc::no_servers: return "no name server";
      case dns_errc::busy: return "lookup in progress";
    }
    return "DNS error";
  }
  if (ec == errc::timeout) return "DNS timeout";
  if (ec == errc::cancelled) return "cancelled";
  if (ec == asio::error::connection_refused) return "name server port unreachable";
  if (ec == asio::error::network_unreachable || ec == asio::error::host_unreachable) return "name server unreachable";
  return "name server socket error";
}

namespace dns {
namespace {

std::uint16_t be16(std::span<const std::uint8_t> m, std::size_t at) noexcept {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}
std::uint32_t be32(std::span<const std::uint8_t> m, std::size_t at) noexcept {
  return (std::uint32_t{m[at]} << 24) | (std::uint32_t{m[at + 1]} << 16) | (std::uint32_t{m[at + 2]} << 8) |
         std::uint32_t{m[at + 3]};
}
char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}
std::string_view strip_dot(std::string_view n) noexcept {
  if (!n.empty() && n.back() == '.') n.remove_suffix(1);
  return n;
}

// A name in text form, lower-cased, labels joined by '.', no trailing dot.
struct Name {
  char text[kMaxNameBytes + 1];
  std::size_t len = 0;
  std::string_view view() const noexcept { return {text, len}; }
};

// Reads the (possibly compressed) name at `off`; `end` is where it ends in the message (after its
// first pointer or its root label). A pointer must point before the labels that led to it, so the
// offsets strictly decrease and no loop is possible; the jump limit bounds the work besides.
// Labels with '.' or NUL bytes, extended label types and names over 253 bytes are malformed.
bool read_name(std::span<const std::uint8_t> m, std::size_t off, Name& out, std::size_t& end) noexcept {
  out.len = 0;
  bool jumped = false;
  int jumps = 0;
  std::size_t pos = off;
  std::size_t limit = off;
  for (;;) {
    if (pos >= m.size()) return false;
    const std::uint8_t len = m[pos];
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= m.size()) return false;
      const std::size_t target = (std::size_t{len & 0x3Fu} << 8) | m[pos + 1];
      if (!jumped) end = pos + 2;
      jumped = true;
      if (++jumps > kMaxPointerJumps || target >= limit) return false;
      limit = target;
      pos = target;
      continue;
    }
    if (len & 0xC0) return false;
    if (len == 0) {
      if (!jumped) end = pos + 1;
      return true;
    }
    if (pos + 1 + len > m.size()) return false;
    if (out.len + (out.len ? 1 : 0) + len > kMaxNameBytes) return false;
    if (out.len) out.text[out.len++] = '.';
    for (std::size_t i = 0; i < len; ++i) {
      const char c = static_cast<char>(m[pos + 1 + i]);
      if (c == '.' || c == '\0') return false;
      out.text[out.len++] = lower(c);
    }
    pos += 1 + len;
  }
}

struct Record {
  Name owner;
  std::uint16_t type = 0;
  std::uint16_t cls = 0;
  std::uint32_t ttl = 0;
  std::size_t rdata = 0;
  std::uint16_t rdlen = 0;
};

// Calls f(record) for each of `count` resource records from `off`; f returns false to reject
// the message. Returns false on any structural error.
template <typename F>
bool walk_records(std::span<const std::uint8_t> m, std::size_t off, std::uint16_t count, F&& f) noexcept {
  Record r;
  for (std::uint16_t i = 0; i < count; ++i) {
    if (!read_name(m, off, r.owner, off)) return false;
    if (off + 10 > m.size()) return false;
    r.type = be16(m, off);
    r.cls = be16(m, off + 2);
    r.ttl = be32(m, off + 4);
    if (r.ttl & 0x80000000u) r.ttl = 0;  // RFC 2181 §8: a TTL with the top bit set means 0
    r.rdlen = be16(m, off + 8);
    r.rdata = off + 10;
    if (r.rdata + r.rdlen > m.size()) return false;
    if (!f(r)) return false;
    off = r.rdata + r.rdlen;
  }
  return true;
}

constexpr std::uint16_t kClassIn = 1;

}  // namespace

bool valid_host_name(std::string_view name) noexcept {
  name = strip_dot(name);
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

bool parse_ip(std::string_view text, asio::ip::address& out) noexcept {
  char buf[64];
  if (text.empty() || text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  asio::ip::address_v4::bytes_type b4;
  if (::inet_pton(AF_INET, buf, b4.data()) == 1) {
    out = asio::ip::address_v4(b4);
    return true;
  }
  asio::ip::address_v6::bytes_type b6;
  if (::inet_pton(AF_INET6, buf, b6.data()) == 1) {
    out = asio::ip::address_v6(b6);
    return true;
  }
  return false;
}

std::string_view format_ip(const asio::ip::address& a, std::span<char, 64> buf) noexcept {
  const char* r = nullptr;
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    r = ::inet_ntop(AF_INET, b.data(), buf.data(), static_cast<socklen_t>(buf.size()));
  } else {
    const auto b = a.to_v6().to_bytes();
    r = ::inet_ntop(AF_INET6, b.data(), buf.data(), static_cast<socklen_t>(buf.size()));
  }
  return r ? std::string_view(r) : std::string_view("?");
}

std::size_t build_query(std::span<std::uint8_t> out, std::string_view name, std::uint16_t id,
                        RecordType type) noexcept {
  if (!valid_host_name(name)) return 0;
  name = strip_dot(name);
  const std::size_t need = 12 + name.size() + 2 + 4;
  if (out.size() < need) return 0;
  const std::uint8_t head[12] = {static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id), 0x01, 0x00,  // RD
                                 0, 1, 0, 0, 0, 0, 0, 0};
  std::memcpy(out.data(), head, sizeof head);
  std::size_t n = 12;
  while (!name.empty()) {
    const std::size_t dot = std::min(name.find('.'), name.size());
    out[n++] = static_cast<std::uint8_t>(dot);
    std::memcpy(out.data() + n, name.data(), dot);
    n += dot;
    name.remove_prefix(std::min(dot + 1, name.size()));
  }
  out[n++] = 0;
  const auto t = static_cast<std::uint16_t>(type);
  out[n++] = static_cast<std::uint8_t>(t >> 8);
  out[n++] = static_cast<std::uint8_t>(t);
  out[n++] = 0;
  out[n++] = kClassIn;
  return n;
}

std::error_code parse_response(std::span<const std::uint8_t> m, std::uint16_t id, std::string_view name,
                               RecordType type, Answer& out) noexcept {
  if (m.size() < 12) return dns_errc::malformed;
  if (be16(m, 0) != id) return dns_errc::id_mismatch;
  const std::uint16_t flags = be16(m, 2);
  if (!(flags & 0x8000) || ((flags >> 11) & 0xF) != 0) return dns_errc::not_response;
  const std::uint16_t rcode = flags & 0xF;
  const std::uint16_t qd = be16(m, 4);
  const std::uint16_t an = be16(m, 6);
  name = strip_dot(name);
  if (name.size() > kMaxNameBytes) return dns_errc::question_mismatch;
  Name want;
  for (char c : name) want.text[want.len++] = lower(c);

  std::size_t off = 12;
  if (qd == 1) {
    Name q;
    if (!read_name(m, off, q, off) || off + 4 > m.size()) return dns_errc::malformed;
    if (q.view() != want.view() || be16(m, off) != static_cast<std::uint16_t>(type) || be16(m, off + 2) != kClassIn)
      return dns_errc::question_mismatch;
    off += 4;
  } else if (qd != 0 || rcode == 0) {
    return dns_errc::malformed;  // some servers drop the question from error answers; never from answers
  }
  if (rcode == 3) return dns_errc::nxdomain;
  if (rcode == 5) return dns_errc::refused;
  if (rcode != 0) return dns_errc::server_failure;
  if (flags & 0x0200) return dns_errc::truncated;

  // Follow the CNAME chain from the question's name (records may come in any order).
  Name cur = want;
  std::uint32_t ttl = UINT32_MAX;
  for (std::size_t hops = 0;; ++hops) {
    Name next;
    bool found = false;
    bool ok = walk_records(m, off, an, [&](const Record& r) {
      if (found || r.type != static_cast<std::uint16_t>(RecordType::cname) || r.cls != kClassIn ||
          r.owner.view() != cur.view())
        return true;
      std::size_t end = 0;
      if (!read_name(m, r.rdata, next, end) || end != r.rdata + r.rdlen) return false;
      found = true;
      ttl = std::min(ttl, r.ttl);
      return true;
    });
    if (!ok) return dns_errc::malformed;
    if (!found) break;
    if (hops == kMaxCnameHops) return dns_errc::malformed;  // too long, or a loop
    cur = next;
  }

  Answer a;
  const std::uint16_t rlen = type == RecordType::a ? 4 : 16;
  bool ok = walk_records(m, off, an, [&](const Record& r) {
    if (r.type != static_cast<std::uint16_t>(type) || r.cls != kClassIn || r.owner.view() != cur.view()) return true;
    if (r.rdlen != rlen) return false;
    if (a.count < kMaxAddrs) {
      if (type == RecordType::a) {
        asio::ip::address_v4::bytes_type b;
        std::memcpy(b.data(), m.data() + r.rdata, 4);
        a.addrs[a.count++] = asio::ip::address_v4(b);
      } else {
        asio::ip::address_v6::bytes_type b;
        std::memcpy(b.data(), m.data() + r.rdata, 16);
        a.addrs[a.count++] = asio::ip::address_v6(b);
      }
      ttl = std::min(ttl, r.ttl);
    }
    return true;
  });
  if (!ok) return dns_errc::malformed;
  if (a.count == 0) return dns_errc::no_data;
  a.ttl = ttl;
  out = a;
  return {};
}

namespace {
// Calls f(tokens...) per line: the line split on blanks, comments (from '#', or ';' in
// resolv.conf) removed.
template <typename F>
void each_line(std::string_view text, bool semicolon_comments, F&& f) noexcept {
  while (!text.empty()) {
    std::size_t nl = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(std::min(nl + 1, text.size()));
    line = line.substr(0, std::min(line.find('#'), line.size()));
    if (semicolon_comments) line = line.substr(0, std::min(line.find(';'), line.size()));
    std::array<std::string_view, 16> tok;
    std::size_t n = 0;
    while (n < tok.size()) {
      const std::size_t b = line.find_first_not_of(" \t\r\f\v");
      if (b == std::string_view::npos) break;
      line.remove_prefix(b);
      const std::size_t e = std::min(line.find_first_of(" \t\r\f\v"), line.size());
      tok[n++] = line.substr(0, e);
      line.remove_prefix(e);
    }
    if (n > 0) f(std::span<const std::string_view>(tok.data(), n));
  }
}

bool parse_uint(std::string_view s, std::uint32_t& out) noexcept {
  if (s.empty() || s.size() > 6) return false;
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  out = v;
  return true;
}
}  // namespace

void parse_resolv_conf(std::string_view text, ResolvConf& out) noexcept {
  out = ResolvConf{};
  each_line(text, true, [&](std::span<const std::string_view> t) {
    if (t[0] == "nameserver" && t.size() >= 2) {
      asio::ip::address a;
      if (out.count < kMaxServers && parse_ip(t[1], a)) out.servers[out.count++] = a;
    } else if (t[0] == "options") {
      for (std::string_view o : t.subspan(1)) {
        std::uint32_t v = 0;
        if (o.starts_with("timeout:") && parse_uint(o.substr(8), v))
          out.timeout = std::chrono::seconds(std::clamp<std::uint32_t>(v, 1, 30));  // glibc's bounds
        else if (o.starts_with("attempts:") && parse_uint(o.substr(9), v))
          out.attempts = std::clamp<std::uint32_t>(v, 1, 5);
      }
    }
  });
  if (out.count == 0) {
    out.servers[0] = asio::ip::address_v4::loopback();
    out.count = 1;
  }
}

std::uint32_t find_in_hosts(std::string_view text, std::string_view name, Answer& out) noexcept {
  name = strip_dot(name);
  Answer v4, v6;
  each_line(text, false, [&](std::span<const std::string_view> t) {
    asio::ip::address a;
    if (t.size() < 2 || !parse_ip(t[0], a)) return;
    bool listed = false;
    for (std::string_view n : t.subspan(1)) listed = listed || iequal(strip_dot(n), name);
    if (!listed) return;
    Answer& dst = a.is_v4() ? v4 : v6;
    for (std::uint32_t i = 0; i < dst.count; ++i)
      if (dst.addrs[i] == a) return;
    if (dst.count < kMaxAddrs) dst.addrs[dst.count++] = a;
  });
  out = Answer{};
  for (const Answer* src : {&v4, &v6})
    for (std::uint32_t i = 0; i < src->count && out.count < kMaxAddrs; ++i) out.addrs[out.count++] = src->addrs[i];
  return out.count;
}

namespace {
using UdpSocket = asio::basic_datagram_socket<asio::ip::udp, Executor>;

std::uint16_t random_id() noexcept {
  std::uint16_t v = 0;
  if (::getrandom(&v, sizeof v, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof v)) return v;
  // No entropy yet (early boot): the clock's low bits, mixed. The ID is not the only defence:
  // the socket is connected to the server and its source port is the kernel's random choice.
  std::uint64_t x = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return static_cast<std::uint16_t>(x);
}
}  // namespace

// clang 14's -fsanitize=function (in `undefined`, which the fuzz build uses) emits prologue data
// for a free-function coroutine that its assembler rejects ("Cannot represent a difference across
// sections"). The function is never called through a pointer, so that check has nothing to see.
#if defined(__clang__)
#define BH_NO_SANITIZE_FUNCTION __attribute__((no_sanitize("function")))
#else
#define BH_NO_SANITIZE_FUNCTION
#endif

BH_NO_SANITIZE_FUNCTION
Task<std::error_code> lookup(const ResolvConf& conf, std::uint16_t port, std::string_view name,
                             Clock::duration total, Answer& out, Scratch& s) {
  if (conf.count == 0) co_return make_error_code(dns_errc::no_servers);
  if (!valid_host_name(name)) co_return make_error_code(dns_errc::bad_name);
  const auto deadline = Clock::now() + total;
  std::error_code last;  // the last answer or socket error (reported when no try succeeds)
  for (RecordType type : {RecordType::a, RecordType::aaaa}) {
    last = {};
    const std::uint32_t tries = conf.attempts * conf.count;
    std::uint32_t done = 0;
    bool final_answer = false;
    for (std::uint32_t round = 0; round < conf.attempts && !final_answer; ++round) {
      for (std::uint32_t i = 0; i < conf.count && !final_answer; ++i, ++done) {
        if (cancelled()) co_return make_error_code(errc::cancelled);
        const auto now = Clock::now();
        if (now >= deadline) co_return last ? last : make_error_code(errc::timeout);
        const Clock::duration per_try = std::min<Clock::duration>(conf.timeout, (deadline - now) / (tries - done));
        // One socket per try, closed when the try ends: a late answer to an earlier try cannot
        // reach the next one, and the FD is held only while this try waits.
        UdpSocket sock(current_task()->pool->executor());
        const asio::ip::udp::endpoint ep(conf.servers[i], port);
        const std::uint16_t id = random_id();
        const std::size_t qn = build_query(s.query, name, id, type);
        std::error_code ec;
        sock.open(ep.protocol(), ec);
        if (!ec) sock.connect(ep, ec);  // the kernel picks a random ephemeral source port
        if (!ec) sock.send(asio::buffer(s.query.data(), qn), 0, ec);
        if (ec) {
          last = ec;
          continue;
        }
        const auto try_end = Clock::now() + per_try;
        for (;;) {
          const auto left = try_end - Clock::now();
          if (left <= Clock::duration::zero()) break;
          auto [rec, n] = co_await timed_op(
              left, [&](auto h) { sock.async_receive(asio::buffer(s.reply), std::move(h)); },
              [&] {
                std::error_code ig;
                sock.cancel(ig);
              });
          if (rec == errc::timeout) break;
          if (rec == asio::error::operation_aborted || cancelled()) co_return make_error_code(errc::cancelled);
          if (rec) {  // e.g. ECONNREFUSED: nothing listens there; next server
            last = rec;
            break;
          }
          std::error_code pe = parse_response(std::span<const std::uint8_t>(s.reply.data(), n), id, name, type, out);
          if (!pe) co_return pe;
          // Not the answer to this query (forged, or for a query this socket never sent): wait on.
          if (pe == dns_errc::id_mismatch || pe == dns_errc::not_response || pe == dns_errc::question_mismatch)
            continue;
          last = pe;
          // A server's "no such name" / "no such address" is the answer; other servers would agree.
          final_answer = pe == dns_errc::nxdomain || pe == dns_errc::no_data;
          break;
        }
      }
    }
    if (last != dns_errc::no_data) break;  // AAAA only for a name without an A record
  }
  co_return last ? last : make_error_code(errc::timeout);
}

}  // namespace dns

// ---- DnsCache ----------------------------------------------------------------------------------

namespace {
bool read_small_file(const std::string& path, std::string& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  if (out.size() > (1u << 20)) out.resize(1u << 20);  // a hosts file is not megabytes
  return true;
}
}  // namespace

std::error_code DnsCache::init(std::string_view host, const DnsOptions& o) {
  ttl_ = std::max(o.ttl, Clock::duration::zero());
  timeout_ = o.timeout;
  port_ = o.port;
  now_ = o.now ? o.now : &Clock::now;
  entry_ = {};
  expires_ = {};
  next_ = 0;
  static_ = false;
  busy_ = false;
  stats_ = {};
  host_len_ = 0;
  asio::ip::address a;
  if (dns::parse_ip(host, a)) {
    host_len_ = host.size();
    std::memcpy(host_.data(), host.data(), host_len_);
    entry_.addrs[0] = a;
    entry_.count = 1;
    static_ = true;
    return {};
  }
  if (!dns::valid_host_name(host)) return make_error_code(dns_errc::bad_name);
  if (host.back() == '.') host.remove_suffix(1);
  host_len_ = host.size();
  std::memcpy(host_.data(), host.data(), host_len_);
  std::string text;
  if (read_small_file(o.hosts_file, text) && dns::find_in_hosts(text, host, entry_) > 0) {
    static_ = true;
    return {};
  }
  text.clear();
  read_small_file(o.resolv_conf, text);
  dns::parse_resolv_conf(text, conf_);
  return {};
}

Task<DnsCache::Result> DnsCache::resolve() {
  ++stats_.resolves;
  if (static_ || (entry_.count > 0 && now_() < expires_)) {
    ++stats_.cache_hits;
    co_return Result{{}, entry_.addrs[next_], false, {}};
  }
  if (busy_) {
    if (entry_.count > 0) co_return Result{{}, entry_.addrs[next_], false, make_error_code(dns_errc::busy)};
    co_return Result{make_error_code(dns_errc::busy), {}, false, {}};
  }
  busy_ = true;
  ++stats_.lookups;
  dns::Answer a;
  std::error_code ec = co_await dns::lookup(conf_, port_, host(), timeout_, a, scratch_);
  busy_ = false;
  if (!ec) {
    entry_ = a;
    next_ = 0;
    expires_ = now_() + std::min<Clock::duration>(std::chrono::seconds(a.ttl), ttl_);
    co_return Result{{}, entry_.addrs[0], false, {}};
  }
  if (ec == errc::cancelled) co_return Result{ec, {}, false, {}};
  ++(ec == errc::timeout ? stats_.timeouts : stats_.failures);
  if (entry_.count > 0) {
    ++stats_.stale_used;
    co_return Result{{}, entry_.addrs[next_], true, ec};
  }
  co_return Result{ec, {}, false, ec};
}

}  // namespace bh
