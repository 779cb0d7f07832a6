// DNS: host names to addresses for outbound connectors (sinks, sources), on the reactor thread and
// without the heap after start-up. Asio's async_resolve is deliberately not used: it runs
// getaddrinfo on a helper thread and allocates the host/service strings, the result vector and the
// operation on every call, which the sealed runtime forbids (and the device's static binary has no
// NSS modules anyway). This is a small stub resolver instead: /etc/resolv.conf and /etc/hosts are
// read at start-up, numeric hosts and hosts-file names are answered without the network, other
// names get A (then AAAA) queries over UDP to the configured name servers, each try and the whole
// lookup with a deadline. A DnsCache per connector keeps the answer for its TTL.
// Not a full resolver: no search domains or ndots (names are used as written), no TCP fallback for
// truncated answers, no EDNS, no DNSSEC, no mDNS/NSS. Reactor thread only.
#pragma once
#include <asio/ip/address.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "platform/core/task.hpp"

namespace bh {

// Why a lookup failed. Deadlines and shutdown come back as errc::timeout / errc::cancelled.
enum class dns_errc {
  ok = 0,
  bad_name,           // not a host name (empty, over 253 bytes, a label over 63, bad characters)
  malformed,          // the answer is not a well-formed DNS message (bounds, pointers, lengths)
  truncated,          // TC set: the answer did not fit 512 bytes (no TCP fallback)
  id_mismatch,        // not the answer to our query (ID)
  not_response,       // QR clear or an unexpected opcode
  question_mismatch,  // the answer echoes another question
  nxdomain,           // the name does not exist (RCODE 3)
  no_data,            // the name exists but has no address of the type asked
  server_failure,     // RCODE 2 (SERVFAIL) or another error RCODE
  refused,            // RCODE 5
  no_servers,         // no usable name server
  busy,               // another lookup of this cache is in flight and nothing is cached
};
const std::error_category& dns_category() noexcept;
inline std::error_code make_error_code(dns_errc e) noexcept { return {static_cast<int>(e), dns_category()}; }
// A short static description of a lookup error (dns_errc, errc::timeout/cancelled, socket errors),
// for logs after seal: std::error_code::message() allocates.
std::string_view dns_reason(std::error_code ec) noexcept;

namespace dns {

inline constexpr std::size_t kMaxServers = 3;      // glibc's MAXNS
inline constexpr std::size_t kMaxAddrs = 4;        // addresses kept per answer and per cache
inline constexpr std::size_t kMaxNameBytes = 253;  // text form, without a trailing dot
inline constexpr std::size_t kPacketBytes = 512;   // a UDP message without EDNS (RFC 1035 4.2.1)
inline constexpr std::size_t kMaxCnameHops = 8;    // CNAMEs followed within one answer
inline constexpr int kMaxPointerJumps = 16;        // compression pointers followed per name
inline constexpr std::uint16_t kDefaultPort = 53;
inline constexpr const char* kResolvConf = "/etc/resolv.conf";
inline constexpr const char* kHostsFile = "/etc/hosts";

enum class RecordType : std::uint16_t { a = 1, cname = 5, aaaa = 28 };

// Addresses for one name.
struct Answer {
  std::array<asio::ip::address, kMaxAddrs> addrs{};
  std::uint32_t count = 0;
  std::uint32_t ttl = 0;  // seconds: the smallest TTL of the records used, CNAMEs included
};

// The name servers and the timing from resolv.conf.
struct ResolvConf {
  std::array<asio::ip::address, kMaxServers> servers{};
  std::uint32_t count = 0;
  std::chrono::seconds timeout{5};  // per try (`options timeout:n`, 1..30; glibc's default 5)
  std::uint32_t attempts = 2;       // rounds over the servers (`options attempts:n`, 1..5; glibc's 2)
};

// True for a name this resolver will query: labels of 1..63 of `A-Z a-z 0-9 - _`, at most 253
// bytes, an optional trailing dot. Numeric addresses are answered before this check applies.
bool valid_host_name(std::string_view name) noexcept;
// Parses a numeric IPv4 or IPv6 address (no brackets, no scope) without allocating.
bool parse_ip(std::string_view text, asio::ip::address& out) noexcept;
// Formats an address into `buf` without allocating (address::to_string allocates).
std::string_view format_ip(const asio::ip::address& a, std::span<char, 64> buf) noexcept;

// Writes a standard recursive query (RD set, one question, class IN) for `name` into `out`.
// Returns its length, or 0 if the name is not valid_host_name or `out` is too small.
std::size_t build_query(std::span<std::uint8_t> out, std::string_view name, std::uint16_t id,
                        RecordType type) noexcept;

// Parses the answer to build_query(name, id, type). Strict and bounds-checked: the ID, QR, opcode
// and the echoed question must match; names may use compression pointers (backwards only, at
// most kMaxPointerJumps each); a CNAME chain from `name` is followed within the answer section
// (any order, at most kMaxCnameHops); address records of `type` for the chain's last name fill
// `out` (at most kMaxAddrs, in answer order). Authority and additional sections are not read.
// Errors: dns_errc::{id_mismatch, not_response, question_mismatch} (not our answer: a lookup keeps
// waiting), dns_errc::{nxdomain, no_data} (the answer is no), dns_errc::{server_failure, refused,
// truncated, malformed}.
std::error_code parse_response(std::span<const std::uint8_t> msg, std::uint16_t id, std::string_view name,
                               RecordType type, Answer& out) noexcept;

// Reads resolv.conf text: `nameserver` lines (numeric, the first kMaxServers; others ignored) and
// `options timeout:n attempts:n` (clamped to glibc's 1..30 and 1..5); everything else is ignored. Without
// a usable nameserver line the server is 127.0.0.1, as glibc does.
void parse_resolv_conf(std::string_view text, ResolvConf& out) noexcept;

// Finds `name` (case-insensitive, canonical name or alias) in hosts-file text. The addresses of
// every matching line, IPv4 before IPv6 and otherwise in file order, at most kMaxAddrs. Returns
// how many were found (0 = not listed).
std::uint32_t find_in_hosts(std::string_view text, std::string_view name, Answer& out) noexcept;

// Query and answer buffers of one lookup, kept in the caller's (pool-slot) object rather than in
// the coroutine frame, which lives on the small task arena.
struct Scratch {
  std::array<std::uint8_t, kPacketBytes> query{};
  std::array<std::uint8_t, kPacketBytes> reply{};
};

// Looks `name` up: A first, AAAA if the name has no A record. Every name server in turn, for
// conf.attempts rounds; each try opens one UDP socket (a kernel-chosen ephemeral source port,
// connected to the server so other senders are filtered), sends a query with a random ID, waits
// min(conf.timeout, the time left shared among the tries left) and closes the socket before the
// next try. Answers that are not ours are ignored; NXDOMAIN and "no address" end the lookup (a
// server's answer is final), SERVFAIL/REFUSED/truncated/malformed answers and ICMP errors move on
// to the next server. `total` bounds the whole lookup. Allocates nothing (handlers use the task's
// arena). Call only from a task (TaskPoolBase::spawn). Each try holds one FD: callers count it
// in a slot whose FD is not open yet (a sink resolves before opening the connection's socket).
// Errors: errc::timeout (no usable answer in time), errc::cancelled, dns_errc::*, socket errors
// (the last one seen when no server answered).
Task<std::error_code> lookup(const ResolvConf& conf, std::uint16_t port, std::string_view name,
                             Clock::duration total, Answer& out, Scratch& scratch);

}  // namespace dns

struct DnsOptions {
  // Longest time an answer is kept: the cache expires at now + min(record TTL, ttl). 0 = look the
  // name up on every resolve(). Numeric hosts and hosts-file names never expire.
  Clock::duration ttl = std::chrono::minutes(5);
  Clock::duration timeout = std::chrono::seconds(5);  // one whole lookup
  std::string resolv_conf = dns::kResolvConf;
  std::string hosts_file = dns::kHostsFile;
  std::uint16_t port = dns::kDefaultPort;  // the name servers' port (tests run a server elsewhere)
  Clock::time_point (*now)() = &Clock::now;  // the clock for expiry (tests inject one)
};

// Counters of one cache. failures and timeouts are disjoint; stale_used counts failed lookups that
// were answered with the expired cached address (each is also in failures or timeouts).
struct DnsStats {
  std::uint64_t resolves = 0;    // resolve() calls
  std::uint64_t cache_hits = 0;  // answered from a fresh cache entry, a numeric host or the hosts file
  std::uint64_t lookups = 0;     // lookups sent to the name servers
  std::uint64_t failures = 0;    // lookups that failed (NXDOMAIN, no address, SERVFAIL, bad answers, ...)
  std::uint64_t timeouts = 0;    // lookups that got no usable answer before the deadline
  std::uint64_t stale_used = 0;  // failed lookups answered with the expired cached address
};

// The addresses of one connector's host (one cache per sink, and per source). resolve() answers
// from the cache while it is fresh, looks the name up when it has expired, and when that lookup
// fails but an address was cached before, returns the stale address (counted) rather than failing
// the connection: a DNS outage does not take down a sink whose server still answers.
// Not shared between tasks: one lookup at a time (a concurrent resolve() gets the cached address
// or dns_errc::busy). Reactor thread only.
class DnsCache {
 public:
  struct Result {
    std::error_code ec;        // set when there is no address at all
    asio::ip::address addr{};  // valid when !ec
    bool stale = false;        // addr is the expired cached one: the lookup failed (lookup_error)
    std::error_code lookup_error;
  };

  DnsCache() noexcept = default;
  DnsCache(const DnsCache&) = delete;
  DnsCache& operator=(const DnsCache&) = delete;

  // Start-up (allocates): takes the host (a numeric address, or a name looked up in the hosts file
  // and otherwise via DNS) and reads resolv.conf. A missing resolv.conf means 127.0.0.1:53 (as
  // glibc), a missing hosts file means no entries. Errors: dns_errc::bad_name.
  std::error_code init(std::string_view host, const DnsOptions& opts);
  // An address for the host: from the cache when fresh, else by a lookup (see the class comment).
  // Errors (in Result::ec): the lookup's (errc::timeout, dns_errc::nxdomain, ...) when nothing was
  // cached; errc::cancelled; dns_errc::busy. Call only from a task.
  Task<Result> resolve();
  // The address last returned did not connect: the next resolve() returns the next cached one.
  void rotate() noexcept {
    if (entry_.count > 1) next_ = (next_ + 1) % entry_.count;
  }
  // Forgets the cached addresses (tests; static hosts keep theirs).
  void expire() noexcept { expires_ = {}; }

  std::string_view host() const noexcept { return {host_.data(), host_len_}; }
  // True when no DNS is involved (a numeric host or a hosts-file name).
  bool is_static() const noexcept { return static_; }
  const dns::Answer& cached() const noexcept { return entry_; }
  Clock::time_point expires_at() const noexcept { return expires_; }
  const dns::ResolvConf& resolv_conf() const noexcept { return conf_; }
  const DnsStats& stats() const noexcept { return stats_; }

 private:
  std::array<char, dns::kMaxNameBytes + 1> host_{};
  std::size_t host_len_ = 0;
  dns::ResolvConf conf_{};
  Clock::duration ttl_{};
  Clock::duration timeout_{};
  std::uint16_t port_ = dns::kDefaultPort;
  Clock::time_point (*now_)() = &Clock::now;
  dns::Answer entry_{};
  Clock::time_point expires_{};
  std::uint32_t next_ = 0;
  bool static_ = false;
  bool busy_ = false;
  DnsStats stats_{};
  dns::Scratch scratch_{};
};

}  // namespace bh

template <>
struct std::is_error_code_enum<bh::dns_errc> : std::true_type {};
