// The store's SQLite VFS: a thin wrapper of the default one that every store connection (and the
// checkpointer's) opens its files through. It does two things and nothing else:
// - counts, per kind of file (database, WAL, journal/other), the bytes SQLite writes and the syncs
//   it asks for (store_io_counters(): the flash-wear figures, /metrics and the console's `store`);
// - serves the fault plan (platform/util/fault.hpp): xSync fails with SQLITE_IOERR_FSYNC
//   (fault::Op::fsync) and xWrite with SQLITE_FULL (fault::Op::sqlite_write) when the plan says so.
// It is not a cache or a different storage format: every call goes to the default VFS unchanged.
// The counters are process-wide (one store per process); they never allocate.
#pragma once
#include <cstdint>

namespace bh {

// What SQLite wrote through the VFS since the process started (bytes handed to xWrite; the kernel
// may write more: whole 4 KiB pages, the filesystem journal). Syncs: xSync calls (fdatasync/fsync).
struct StoreIoCounters {
  std::uint64_t db_bytes = 0, wal_bytes = 0, other_bytes = 0;
  std::uint64_t db_writes = 0, wal_writes = 0, other_writes = 0;
  std::uint64_t db_syncs = 0, wal_syncs = 0, other_syncs = 0;
};
StoreIoCounters store_io_counters() noexcept;

// Registers the VFS on first use (not as the default) and returns its name.
const char* store_vfs() noexcept;
// The same VFS without the fault plan (the checkpointer's connection: its syncs are counted, never
// failed by the plan, as before).
const char* store_vfs_without_faults() noexcept;
// The former name: the same VFS (the fault plan is one of its two jobs).
inline const char* fault_plan_vfs() noexcept { return store_vfs(); }

}  // namespace bh
