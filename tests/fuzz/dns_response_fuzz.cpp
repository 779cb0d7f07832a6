// libFuzzer target for bh::dns::parse_response (and, on a flag, the resolv.conf and hosts
// parsers): traps if a parse succeeds with no address, too many, or the wrong family, if a failed
// parse touched its output, if two parses of the same bytes disagree, or if our own query parses
// as an answer. Built by the tests/fuzz CMake project (`make test-fuzz`).
// Input: byte 0 = options (bit0 ask AAAA, bit1 question "a.b" instead of "www.example.com",
// bit2 expect another ID, bit3 also parse the bytes as resolv.conf and hosts text), then the
// DNS message (its own first two bytes are the expected ID unless bit2).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "platform/net/dns.hpp"

namespace {

using namespace bh;

bool same(const dns::Answer& a, const dns::Answer& b) {
  if (a.count != b.count || a.ttl != b.ttl) return false;
  for (std::uint32_t i = 0; i < a.count && i < dns::kMaxAddrs; ++i)  // the sentinel's count is out of range
    if (a.addrs[i] != b.addrs[i]) return false;
  return true;
}

void check_text(std::string_view text) {
  dns::ResolvConf rc;
  dns::parse_resolv_conf(text, rc);
  if (rc.count < 1 || rc.count > dns::kMaxServers) __builtin_trap();
  if (rc.timeout.count() < 1 || rc.timeout.count() > 30 || rc.attempts < 1 || rc.attempts > 5) __builtin_trap();
  dns::Answer h;
  const std::uint32_t n = dns::find_in_hosts(text, "localhost", h);
  if (n != h.count || n > dns::kMaxAddrs) __builtin_trap();
  for (std::uint32_t i = 1; i < n; ++i)  // IPv4 first
    if (h.addrs[i].is_v4() && h.addrs[i - 1].is_v6()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t opt = data[0];
  const std::span<const std::uint8_t> msg(data + 1, size - 1);
  const auto type = (opt & 1) ? dns::RecordType::aaaa : dns::RecordType::a;
  const std::string_view name = (opt & 2) ? "a.b" : "www.example.com";
  std::uint16_t id = msg.size() >= 2 ? static_cast<std::uint16_t>((msg[0] << 8) | msg[1]) : 0;
  if (opt & 4) id = static_cast<std::uint16_t>(~id);

  dns::Answer sentinel;
  sentinel.count = 99;
  sentinel.ttl = 12345;
  dns::Answer a = sentinel;
  const std::error_code ec = dns::parse_response(msg, id, name, type, a);
  dns::Answer b = sentinel;
  const std::error_code ec2 = dns::parse_response(msg, id, name, type, b);
  if (ec != ec2 || !same(a, b)) __builtin_trap();
  if (ec) {
    if (!same(a, sentinel)) __builtin_trap();
  } else {
    if (a.count < 1 || a.count > dns::kMaxAddrs) __builtin_trap();
    for (std::uint32_t i = 0; i < a.count; ++i)
      if (a.addrs[i].is_v6() != (type == dns::RecordType::aaaa)) __builtin_trap();
    if (a.ttl & 0x80000000u) __builtin_trap();  // RFC 2181: never above 2^31 - 1
    if (msg.size() < 12 + 9 + 16) __builtin_trap();  // header, shortest question (a.b), one A record
  }
  // Our own query is never taken for an answer.
  std::uint8_t q[dns::kPacketBytes];
  const std::size_t qn = dns::build_query(q, name, id, type);
  if (qn == 0 || dns::parse_response(std::span<const std::uint8_t>(q, qn), id, name, type, a) != bh::dns_errc::not_response)
    __builtin_trap();

  if (opt & 8) check_text(std::string_view(reinterpret_cast<const char*>(msg.data()), msg.size()));
  return 0;
}
