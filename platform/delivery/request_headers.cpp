// RequestHeaders: line checks and packing.
#include "platform/delivery/request_headers.hpp"

#include <fmt/format.h>

#include <array>
#include <cstring>

namespace bh {
namespace {

// RFC 9110 §5.6.2 tchar.
bool tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Written by the sink itself (framing and routing): a configured one would contradict it.
constexpr std::array<std::string_view, 4> kReserved{"host", "content-length", "connection", "transfer-encoding"};

std::string_view name_of(std::string_view line) noexcept { return line.substr(0, line.find(':')); }

}  // namespace

std::string_view RequestHeaders::line_problem(std::string_view line) noexcept {
  if (line.size() > kMaxLineBytes) return "longer than 512 bytes";
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return "not \"Name: value\" (no colon)";
  const std::string_view name = line.substr(0, colon);
  if (name.empty()) return "empty header name";
  if (name.size() > kMaxNameBytes) return "header name longer than 64 bytes";
  for (char c : name)
    if (!tchar(c)) return "header name is not a token (letters, digits and !#$%&'*+-.^_`|~ only)";
  for (auto r : kReserved)
    if (iequal(name, r)) return "the sink writes this header itself";
  for (char c : line.substr(colon + 1)) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\r' || c == '\n') return "value contains CR or LF";
    if ((u < 0x20 && c != '\t') || u == 0x7f) return "value contains a control byte";
  }
  return {};
}

bool RequestHeaders::assign(std::span<const std::string> lines, std::string& error) {
  len_ = 0;
  count_ = 0;
  content_type_ = false;
  if (lines.size() > kMaxHeaders) {
    error = fmt::format("{} headers; at most {} allowed", lines.size(), kMaxHeaders);
    return false;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (auto p = line_problem(line); !p.empty()) {
      error = fmt::format("header {}: {}", i, p);
      len_ = 0;
      return false;
    }
    // "Name:value" and "Name:   value" are sent as "Name: value".
    const std::string_view name = name_of(line);
    std::string_view value = line.substr(name.size() + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    const std::size_t need = name.size() + 2 + value.size() + 2;
    if (len_ + need > kMaxBytes) {
      error = fmt::format("headers take more than {} bytes in all (at header {} '{}')", kMaxBytes, i, name);
      len_ = 0;
      return false;
    }
    char* o = buf_ + len_;
    std::memcpy(o, name.data(), name.size());
    o += name.size();
    std::memcpy(o, ": ", 2);
    o += 2;
    std::memcpy(o, value.data(), value.size());
    o += value.size();
    std::memcpy(o, "\r\n", 2);
    len_ += need;
    ++count_;
    if (iequal(name, "content-type")) content_type_ = true;
  }
  return true;
}

}  // namespace bh
