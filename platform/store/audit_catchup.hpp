// Audit catch-up: at start-up, the audit log is brought level with the store. The log is written
// after each commit without fsync (platform/store/audit_log.hpp), so a power cut loses its last
// seconds although every acked event is in the store. Before the runtime is sealed, the trail's end
// is found (AuditLog::find_tail, which also cuts an incomplete last line), and a line is appended,
// with the same writer and format as live lines (rotation included), for every stored event with a
// larger seq, read in bounded chunks. It is not a repair of older history: only seqs after the
// trail's last line are looked at, and a seq the store no longer holds (purged by retention,
// dropped by drop_oldest) is counted as a gap, never invented.
#pragma once
#include <cstdint>
#include <system_error>

namespace bh {

class AuditLog;
class Store;

struct AuditCatchUp {
  bool trail = false;                // the audit log had a complete line (else it starts from seq 1)
  std::uint64_t trail_seq = 0;       // its last seq
  std::uint64_t dropped_bytes = 0;   // incomplete tail cut from the current file
  std::uint64_t recovered = 0;       // lines appended from the store
  std::uint64_t first = 0, last = 0;  // seqs of the first and last recovered line
  std::uint64_t unrecoverable = 0;   // seqs after the trail that the store no longer holds (gap)
  bool ahead = false;                // the trail ends beyond the store's last seq: nothing done
};

// Runs the catch-up on an opened `audit` and an opened `store`, counts it in audit.stats() and logs
// one info line when anything was recovered or missing ("audit: N line(s) recovered from the store
// (seq A..B)"). Errors: errno values of the tail scan or an append, SQLite/store codes of a read
// (what was appended before stays; the rest is lost for the trail, as with a live failure).
// Notes: start-up only (allocates its chunk buffers); kChunk events per read and per append.
inline constexpr std::uint32_t kAuditCatchUpChunk = 1024;
std::error_code catch_up_audit(AuditLog& audit, Store& store, AuditCatchUp& out);

}  // namespace bh
