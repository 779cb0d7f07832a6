// Redaction: keeping secrets (bot tokens, webhook URLs, API keys) out of every output.
// Two tools. A process-wide registry of secret values, filled at start-up from the config (values
// that came from ${env:…} / ${file:…}), sealed before serving, and scrubbed as "***" out of text
// by scrub() (the log writer and dead-letter reasons call it: defence in depth). And url(), which
// shows a URL as "scheme://host[:port]/***" for console lines and start-up errors.
// Not a policy: callers still print names instead of URLs; the registry only catches what slips.
#pragma once
#include <fmt/format.h>

#include <cstddef>
#include <span>
#include <string_view>

namespace bh::redact {

// Registry capacity: values and total bytes (static storage, no heap).
inline constexpr std::size_t kMaxSecrets = 64;
inline constexpr std::size_t kMaxSecretBytes = 16 * 1024;
// Values shorter than this are not registered: scrubbing "60s" or "1" would mangle unrelated text.
inline constexpr std::size_t kMinSecretLen = 6;

// Registers a secret value (copied). Returns false, and counts it in refused(), when the registry
// is sealed or full; returns true without storing for a value shorter than kMinSecretLen or one
// already registered. Call only at start-up, on one thread.
bool add(std::string_view secret) noexcept;
// From here on add() refuses; scrub() may run on any thread.
void seal() noexcept;
bool sealed() noexcept;
std::size_t count() noexcept;    // values registered
std::size_t refused() noexcept;  // add() calls refused (full or sealed)
// Tests only: empties and unseals the registry.
void clear_for_tests() noexcept;

// Replaces every registered value found in buf[0, len) by "***", in place (a match is at least
// kMinSecretLen bytes, so the text only shrinks). Returns the new length. No heap.
std::size_t scrub(char* buf, std::size_t len) noexcept;

// A URL shown without what may carry a secret: "scheme://host[:port]" as written, then "/***" when
// anything (path, query) follows; user info is shown as "***@"; "***" when it has no "://".
// Format it with {fmt}: fmt::format("{}", redact::url(u)) ("https://api.telegram.org/***").
struct Url {
  std::string_view text;
};
inline Url url(std::string_view u) noexcept { return Url{u}; }
// The redacted form in pieces, printed in order (each points into `u` or is a constant).
struct UrlParts {
  std::string_view scheme;    // "https://", or "" without "://"
  std::string_view userinfo;  // "***@" when the URL has user info, else ""
  std::string_view host;      // host[:port] as written
  std::string_view tail;      // "/***" when a path or query follows, "***" without "://", else ""
};
UrlParts url_parts(std::string_view u) noexcept;

}  // namespace bh::redact

template <>
struct fmt::formatter<bh::redact::Url> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(const bh::redact::Url& u, Ctx& ctx) const {
    const bh::redact::UrlParts p = bh::redact::url_parts(u.text);
    return fmt::format_to(ctx.out(), "{}{}{}{}", p.scheme, p.userinfo, p.host, p.tail);
  }
};
