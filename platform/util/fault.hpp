// Fault plan: a deterministic test seam. A plan says which calls of an operation fail, by their
// 1-based number counted from when the plan was armed (after start-up): "sqlite_step:40-45,write:3" fails the 40th
// to 45th SQLite steps and the 3rd ingest socket write. Call sites ask fault::hit(op) right before
// the real call and, when it answers true, behave exactly as if that call had failed (the same
// error path, counters and logs). Unarmed, hit() is one predictable branch on a global.
// The application arms it only in BH_TEST_HOOKS builds (env BH_TEST_FAULTS, firmware/main.cpp).
// hit() may be called from any thread (the WAL syncer's fdatasync consults it); arm/disarm are
// start-up only. The checkpointer thread's SQLite calls do not consult it.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace bh::fault {

enum class Op : std::uint8_t {
  connect,      // outbound TCP connects (the connector: sinks, sources): fails as ECONNREFUSED
  read,         // ingest socket reads: fails as ECONNRESET
  write,        // ingest socket writes (acks): fails as ECONNRESET
  fsync,        // the store's syncs: the WAL syncer's fdatasync (EIO) and SQLite's own through the
                // fault VFS (SQLITE_IOERR_FSYNC)
  open,         // audit log opens (start-up and rotation): EACCES
  audit_write,  // audit log writes: ENOSPC
  sqlite_step,  // the store's statement steps (appends, undos, reads, cursors, dead letters): SQLITE_IOERR
  sqlite_txn,   // the BEGINs and COMMITs of the store's appends, undos and dead letters: SQLITE_IOERR
  sqlite_write, // SQLite's file writes through the fault VFS: SQLITE_FULL (a full disk)
};
inline constexpr std::size_t kOps = 9;
std::string_view name(Op op) noexcept;

extern std::atomic<bool> g_armed;
bool hit_slow(Op op) noexcept;
// True if this call of `op` is one the plan fails. Counts the call either way while armed.
inline bool hit(Op op) noexcept { return g_armed.load(std::memory_order_acquire) && hit_slow(op); }

// Arms the plan `spec` ("op:N" or "op:N-M", comma-separated); "" disarms. Returns "" or the error.
// Start-up only.
std::string arm(std::string_view spec);
void disarm() noexcept;
bool armed() noexcept;
// A plan will be armed after start-up: seams chosen at start-up (the store's VFS, which carries
// fsync and sqlite_write) get ready for it. Tests that arm a plan after opening a store set it first.
void set_planned(bool planned) noexcept;
bool planned() noexcept;
std::uint64_t calls(Op op) noexcept;     // since armed
std::uint64_t injected(Op op) noexcept;  // failures injected since armed

}  // namespace bh::fault
