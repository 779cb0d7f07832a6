// AuditLog: a plain-text trail of committed events, one line each: `<seq> <ts_ms> <source> <size>\n`.
// The file is opened once and kept (O_APPEND), a batch is formatted into a fixed buffer and written
// with one write() normally, and the file is rotated by size (path -> path.1 -> ... -> path.<keep>).
// It is best-effort and fast, not durable (no fsync but one before each rotation: the store is the
// durable record, and start-up rewrites a lost tail from it, see audit_catchup.hpp), and it
// never throws: failures are counted, the fd is closed, and the next append tries to reopen.
// What a crash or power cut keeps from reaching the disk is written back from the store at the next
// start (platform/store/audit_catchup.hpp, with find_tail below).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace bh {

struct AuditOptions {
  std::string path;
  std::uint64_t rotate_bytes = 64ULL << 20;  // rotate before a line would take the file past this
  std::uint32_t keep = 5;                    // rotated files kept: path.1 (newest) .. path.<keep>
};

struct AuditRecord {
  std::uint64_t seq;
  std::int64_t ts_ms;
  std::string_view source;  // whitespace/control bytes are written as '_', cut at kMaxSource bytes
  std::uint64_t size;       // body bytes
};

struct AuditStats {
  std::uint64_t lines = 0;         // written since open
  std::uint64_t bytes = 0;         // written since open
  std::uint64_t rotations = 0;
  std::uint64_t write_errors = 0;  // failed open/write/rotate steps
  std::uint64_t lost_lines = 0;    // lines not written because of those failures
  std::uint64_t file_bytes = 0;    // size of the current file
  bool open = false;               // fd held now
  // Start-up catch-up (platform/store/audit_catchup.hpp): lines written from the store for events
  // the trail missed (they are in `lines` too), and seqs the trail missed that the store no longer
  // holds (purged or dropped before the restart: a gap, never invented).
  std::uint64_t recovered_lines = 0;
  std::uint64_t unrecoverable_seqs = 0;
};

// Where the trail ends (AuditLog::find_tail): the last complete line's seq, in which file.
struct AuditTail {
  bool found = false;             // a complete line was found (else last_seq is 0)
  std::uint64_t last_seq = 0;
  std::uint32_t file = 0;         // 0: the current file, n: path.<n>
  std::uint64_t dropped_bytes = 0;  // incomplete/garbled tail cut from the current file
};

class AuditLog {
 public:
  static constexpr std::size_t kBufferBytes = 64 * 1024;
  // Written bytes handed to the kernel's writeback in chunks this large (start_writeback()).
  static constexpr std::uint64_t kWritebackChunk = 1ULL << 20;
  static constexpr std::size_t kMaxSource = 128;

  AuditLog() = default;
  ~AuditLog() { close(); }
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Opens (creates, 0640) the file for appending and remembers the options.
  // Errors: errno values (system_category); the options are kept anyway and the next append
  // retries the open, so a missing directory can heal. Notes: start-up only (copies the path).
  std::error_code open(const AuditOptions& opts);
  // Closes the fd (if any). Idempotent; the destructor calls it.
  void close() noexcept;

  // Appends one line per record: formats the batch into the internal buffer and writes it, one
  // write() per 64 KiB (one per batch normally), rotating first when the file would exceed
  // rotate_bytes. Errors: errno of the failed open/write/rename (also counted in write_errors);
  // the fd is then closed and the next call reopens. Notes: no heap, no fsync, never throws.
  std::error_code append(std::span<const AuditRecord> records) noexcept;

  // Start-up (after open): the seq of the trail's last complete line: in the current file or, if it
  // has none, in the newest rotated file that has one. An incomplete or garbled tail of the current
  // file (a power cut keeps a prefix of what was written, or zeros) is truncated away so appends
  // start on a line boundary. Reads backwards from the end, one 4 KiB block when the tail is intact.
  // Errors: errno values of the read/truncate (out is then as far as it got).
  std::error_code find_tail(AuditTail& out);
  // Start-up: counts the catch-up's result in stats() (recovered_lines, unrecoverable_seqs).
  void count_catch_up(std::uint64_t recovered, std::uint64_t unrecoverable) noexcept {
    stats_.recovered_lines += recovered;
    stats_.unrecoverable_seqs += unrecoverable;
  }

  // True when the file is open and the last open/write/rotate succeeded.
  bool healthy() const noexcept { return fd_ >= 0 && last_ok_; }
  AuditStats stats() const noexcept;
  const std::string& path() const noexcept { return opts_.path; }

 private:
  std::error_code reopen() noexcept;
  std::error_code rotate() noexcept;
  std::error_code flush() noexcept;
  void start_writeback() noexcept;
  std::error_code fail(int e, const char* what) noexcept;
  std::size_t format(const AuditRecord& r, char* out) noexcept;

  AuditOptions opts_;
  // format()'s " <ts> <source> " for the last (ts, source): a batch's records share them.
  std::int64_t mid_ts_ = 0;
  std::array<char, kMaxSource> mid_source_{};
  std::size_t mid_source_len_ = 0;
  std::array<char, 1 + 20 + 1 + kMaxSource + 1> mid_{};
  std::size_t mid_len_ = 0;  // 0: nothing kept yet
  int fd_ = -1;
  bool last_ok_ = false;
  std::uint64_t file_bytes_ = 0;
  std::uint64_t writeback_from_ = 0;  // page-aligned: the bytes before it went to start_writeback()
  std::size_t used_ = 0;        // bytes formatted in buf_, not yet written
  std::size_t used_lines_ = 0;  // lines in buf_
  AuditStats stats_{};
  std::array<char, kBufferBytes> buf_;
};

}  // namespace bh
