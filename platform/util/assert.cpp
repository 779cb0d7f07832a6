// The failure path of BH_ASSERT: one line straight to fd 2 (not through the log, whose level and
// redirect could hide it), registered secrets scrubbed as in log lines, then abort() so the core
// dump and the exit status show the bug.
#include "platform/util/assert.hpp"

#include <unistd.h>

#include <cstdlib>

#include "platform/util/redact.hpp"

namespace bh::detail {

void assert_fail(const char* file, int line, const char* cond, std::string_view msg) noexcept {
  char buf[1024];
  auto r = msg.empty() ? fmt::format_to_n(buf, sizeof buf - 1, "bulkhead: assertion failed: {}:{}: {}", file, line, cond)
                       : fmt::format_to_n(buf, sizeof buf - 1, "bulkhead: assertion failed: {}:{}: {}: {}", file, line,
                                          cond, msg);
  std::size_t n = r.size < sizeof buf - 1 ? r.size : sizeof buf - 1;
  n = redact::scrub(buf, n);  // a message may quote a value that holds a secret
  buf[n++] = '\n';
  ssize_t w = ::write(2, buf, n);
  (void)w;  // nowhere left to report a failed write
  std::abort();
}

}  // namespace bh::detail
