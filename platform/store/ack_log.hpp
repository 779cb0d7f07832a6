// AckLog: the store's log of small batches (store.ack_log, issue 16: flash wear).
//
// Why: acked at 100 events/s, each event is its own commit, and SQLite writes a commit as WAL frames
// of 24 + 4 096 bytes: two 4 KiB blocks per fsync, ~9 KB per event at the device. With the log, a
// small batch (one record of at most kMaxRecord bytes) is appended to this preallocated file and
// made durable by one fdatasync of it: one block per fsync at low rates, records of batches that
// share an fsync packed into the same blocks at higher ones. The batch's rows go into SQLite too,
// in a transaction the store keeps open ("held") and commits after 30 s at most or when a half of
// this file is full, so that SQLite writes its pages once per few hundred events, not once per
// event. Big batches (full load) skip the log: their commit is cheaper than their copy.
//
// Layout: the file is two halves of kHalfBytes, written once with zeros when created (so that no
// later fdatasync changes the file's size or allocation: no filesystem journal commit). Records
// follow each other; a write covers only the new record's bytes. That a power cut during it leaves
// the bytes around it intact (an acked record sharing its block) is SQLite's own default assumption
// for its WAL (SQLITE_POWERSAFE_OVERWRITE), whose commits share sectors the same way; a torn record
// fails its CRC and ends the half. A record that would cross a block boundary it need not cross
// starts at the next block instead (the gap is not written; readers look there when the bytes right
// after a record do not check): one block per fsync, not two for one record in 14. A record: a
// 40-byte header (magic, CRC-32C of the rest, the half's generation, first seq, event count,
// payload bytes), then per event its ts, flags, lengths, dedupe key, source, identity and body.
// Writes fill one half; when the store commits its held transaction, and the WAL sync of that
// commit has made the other half's records durable in SQLite, writing moves to the other half with
// a new generation. A half holds the records from its start
// while they check and carry that half's first generation (the rest is an older lap's).
//
// Recovery (start-up): both halves are read, the older generation first; every event whose seq the
// database does not hold yet is inserted again. Native byte order: the board and the hosts that
// build it are little-endian (static_assert below).
//
// Start-up allocates nothing here (fixed buffers); append() is one pwrite() on the caller's thread.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <system_error>

#include "platform/util/function_ref.hpp"

namespace bh {

struct EventIn;
static_assert(std::endian::native == std::endian::little, "the ack log's records are little-endian");

struct AckLogStats {
  std::uint64_t records = 0;  // batches written since open
  std::uint64_t blocks = 0;   // 4 KiB blocks dirtied by the writes since open (one per small record)
  std::uint64_t switches = 0; // moves to the other half
  std::uint64_t replayed = 0; // events inserted again by recovery
};

class AckLog {
 public:
  static constexpr std::size_t kBlock = 4096;
  static constexpr std::size_t kHalfBytes = 2u << 20;  // ~7 000 single-event records: 70 s at 100/s
  static constexpr std::size_t kMaxRecord = 2 * kBlock;  // bigger batches are committed to SQLite directly
  static constexpr std::size_t kHeader = 40;

  AckLog() = default;
  ~AckLog() { close(); }
  AckLog(const AckLog&) = delete;
  AckLog& operator=(const AckLog&) = delete;

  // Opens `path`, creating it (two halves of zeros, synced, and the directory synced) when `create`
  // is set and it does not exist. Errors: errno values; no such file without `create`: ENOENT.
  // Start-up only.
  std::error_code open(const std::string& path, bool create);
  void close() noexcept;
  bool is_open() const noexcept { return fd_ >= 0; }
  const std::string& path() const noexcept { return path_; }

  // Visits every event of both halves, older generation first, with its seq; the views live during
  // the call. A record that does not check ends its half (a torn write, or an older lap's).
  // Errors: none yet (an unreadable block reads as the end of its half). Notes: no heap; reads.
  std::error_code scan(FunctionRef<void(const EventIn&, std::uint64_t seq)> visit) noexcept;
  // Start-up: scan(), then writing starts in half 0 with a generation above every one read.
  std::error_code recover(FunctionRef<void(const EventIn&, std::uint64_t seq)> visit) noexcept;
  void count_replayed(std::uint64_t n) noexcept { stats_.replayed += n; }

  // Bytes the record of `events` takes (header and payload), or 0 if it is above kMaxRecord.
  static std::size_t record_bytes(std::span<const EventIn> events) noexcept;
  // The record fits in the current half.
  bool room(std::size_t record) const noexcept { return place(record) + record <= kHalfBytes; }
  // Writes `events` (seqs first_seq, first_seq + 1, ...) as one record right after the last one, or
  // at the next block boundary when that makes it span fewer blocks. Does not sync. Precondition:
  // room(record_bytes(events)), and that is not 0. Errors: errno of pwrite (the position does not
  // move). Notes: no heap.
  std::error_code append(std::span<const EventIn> events, std::uint64_t first_seq) noexcept;
  // The store committed its held transaction: every record written so far is in SQLite once the
  // sync numbered `ticket` returns. If the other half is free by `durable_ticket`, writing moves there.
  void settled(std::uint64_t ticket, std::uint64_t durable_ticket) noexcept;
  // Writing may move to the other half now (called when the current one is full).
  bool try_switch(std::uint64_t durable_ticket) noexcept;
  // After a failed sync: zeroes, in both halves, the records from the first with a seq above `seq`
  // (they were answered err storage and must not come back at the next start), best effort.
  void forget_after(std::uint64_t seq) noexcept;
  const AckLogStats& stats() const noexcept { return stats_; }

 private:
  // Reads the record at `off` of half `h` into rbuf_; its size (0: none that checks, or `gen` != want when want != 0).
  std::size_t read_record(int h, std::size_t off, std::uint64_t want_gen, std::uint64_t& gen) noexcept;
  // read_record() at `off`, else at the next block boundary (where append() may have put it); on
  // success `off` is where the record starts.
  std::size_t next_record(int h, std::size_t& off, std::uint64_t want_gen, std::uint64_t& gen) noexcept;
  // Where the next record of `bytes` goes: pos_, or the next block boundary if it spans fewer there.
  std::size_t place(std::size_t bytes) const noexcept;
  void switch_half() noexcept;

  std::string path_;
  int fd_ = -1;
  int cur_ = 0;              // half written now
  std::size_t pos_ = 0;      // bytes used in it
  std::uint64_t gen_ = 1;    // its generation
  std::uint64_t max_gen_ = 0;  // the highest generation the last scan() read
  std::uint64_t free_after_[2] = {0, 0};  // half i may be overwritten once this ticket is durable
  bool unsettled_ = false;   // the current half holds records not yet committed to SQLite
  AckLogStats stats_{};
  unsigned char wbuf_[kMaxRecord];
  unsigned char rbuf_[kMaxRecord];
};

}  // namespace bh
