// Listen addresses: "host:port" with a numeric IPv4 host or a bracketed IPv6 one ("[::1]:7700"),
// as the config loader validates them. No name resolution here.
#pragma once
#include <asio/ip/tcp.hpp>

#include <charconv>
#include <string_view>

namespace bh {

// Parses a listen address into an endpoint. Errors: false (ep unchanged) on any malformed part.
inline bool parse_listen(std::string_view s, asio::ip::tcp::endpoint& ep) {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::error_code ec;
  auto addr = asio::ip::make_address(std::string(host), ec);
  if (ec) return false;
  std::string_view port_s = s.substr(colon + 1);
  unsigned port = 0;
  auto [p, err] = std::from_chars(port_s.data(), port_s.data() + port_s.size(), port);
  if (err != std::errc() || p != port_s.data() + port_s.size() || port == 0 || port > 65535) return false;
  ep = asio::ip::tcp::endpoint(addr, static_cast<std::uint16_t>(port));
  return true;
}

}  // namespace bh
