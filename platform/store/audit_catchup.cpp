// Audit catch-up (see audit_catchup.hpp): find the trail's end, then read the store after it in
// chunks of kAuditCatchUpChunk events and append them through AuditLog::append.
#include "platform/store/audit_catchup.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "platform/store/audit_log.hpp"
#include "platform/store/store.hpp"
#include "platform/util/log.hpp"

namespace bh {

std::error_code catch_up_audit(AuditLog& audit, Store& store, AuditCatchUp& out) {
  out = {};
  AuditTail tail;
  if (auto ec = audit.find_tail(tail)) {
    log::warn("audit: cannot read the end of {}: {} (no catch-up)", audit.path(), ec.message());
    return ec;
  }
  out.trail = tail.found;
  out.trail_seq = tail.last_seq;
  out.dropped_bytes = tail.dropped_bytes;
  if (tail.dropped_bytes)
    log::info("audit: cut an incomplete or garbled last line ({} byte(s)) from {}", tail.dropped_bytes, audit.path());
  const std::uint64_t last = store.last_seq();
  if (tail.last_seq > last) {
    out.ahead = true;
    log::warn("audit: {} ends at seq {}, beyond the store's last seq {}: nothing to catch up", audit.path(),
              tail.last_seq, last);
    return {};
  }
  if (tail.last_seq == last) return {};

  // The chunk's records point into `sources` (EventOut views end with the visit).
  std::vector<AuditRecord> recs(kAuditCatchUpChunk);
  std::vector<char> sources(static_cast<std::size_t>(kAuditCatchUpChunk) * AuditLog::kMaxSource);
  std::error_code ec;
  for (std::uint64_t next = tail.last_seq + 1; next <= last;) {
    std::uint32_t n = 0, visited = 0;
    ec = store.read_range(
        next, last,
        [&](const EventOut& e) {
          char* src = sources.data() + static_cast<std::size_t>(n) * AuditLog::kMaxSource;
          const std::size_t len = std::min(e.source.size(), AuditLog::kMaxSource);
          std::memcpy(src, e.source.data(), len);
          recs[n++] = AuditRecord{e.seq, e.ts_ms, {src, len}, e.body.size()};
        },
        visited, kAuditCatchUpChunk);
    if (ec) {
      log::warn("audit: catch-up read from the store failed at seq {}: {}", next, ec.message());
      break;
    }
    if (n == 0) break;
    if ((ec = audit.append({recs.data(), n}))) break;  // counted (lost_lines) and logged by the log
    if (out.recovered == 0) out.first = recs[0].seq;
    out.last = recs[n - 1].seq;
    out.recovered += n;
    next = recs[n - 1].seq + 1;
  }
  if (!ec) out.unrecoverable = (last - tail.last_seq) - out.recovered;
  audit.count_catch_up(out.recovered, out.unrecoverable);
  if (out.recovered || out.unrecoverable) {
    std::string gap;
    if (out.unrecoverable)
      gap = fmt::format("; {} seq(s) after {} no longer in the store (purged): a gap in the trail", out.unrecoverable,
                        tail.last_seq);
    const std::string range = out.recovered ? fmt::format(" (seq {}..{})", out.first, out.last) : std::string();
    log::info("audit: {} line(s) recovered from the store{}{}", out.recovered, range, gap);
  }
  return ec;
}

}  // namespace bh
