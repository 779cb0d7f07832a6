// Invariants that fail loudly: BH_ASSERT(cond) and BH_ASSERT_MSG(cond, fmt, args...) are on in
// every build, Release included (Seastar keeps its asserts on in release for the same reason: a
// broken invariant that goes on running corrupts what it touches next). A false condition means a
// bug in bulkhead, never bad input or a failing OS: it writes one line to stderr (file:line, the
// condition, the message) and aborts. Errors that input or the machine can cause are values, not
// asserts (platform/util/errors.hpp). Cost when true: one predicted branch; the failure path is
// out of line. Safe on any thread; allocates nothing.
//
//   BH_ASSERT(live_[i]);                                  // "double release"
//   BH_ASSERT_MSG(n <= kMax, "{} lines for {} rows", n, kMax);
#pragma once
#include <fmt/format.h>

#include <cstddef>
#include <string_view>
#include <utility>

namespace bh::detail {

// Writes "bulkhead: assertion failed: <file>:<line>: <cond>[: <msg>]" to stderr, then abort().
[[noreturn, gnu::cold]] void assert_fail(const char* file, int line, const char* cond, std::string_view msg) noexcept;

template <typename... Args>
[[noreturn, gnu::cold, gnu::noinline]] void assert_fail_fmt(const char* file, int line, const char* cond,
                                                           fmt::format_string<Args...> f, Args&&... args) noexcept {
  char buf[512];
  auto r = fmt::format_to_n(buf, sizeof buf, f, std::forward<Args>(args)...);
  assert_fail(file, line, cond, std::string_view(buf, r.size < sizeof buf ? r.size : sizeof buf));
}

}  // namespace bh::detail

#define BH_ASSERT(cond) \
  (__builtin_expect(static_cast<bool>(cond), 1) ? void(0) : ::bh::detail::assert_fail(__FILE__, __LINE__, #cond, {}))

#define BH_ASSERT_MSG(cond, ...)                                                    \
  (__builtin_expect(static_cast<bool>(cond), 1) ? void(0)                           \
                                                : ::bh::detail::assert_fail_fmt(__FILE__, __LINE__, #cond, __VA_ARGS__))
