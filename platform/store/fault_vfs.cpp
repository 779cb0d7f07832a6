#include "platform/store/fault_vfs.hpp"

#include <sqlite3.h>

#include <atomic>

#include "platform/util/fault.hpp"

namespace bh {
namespace {

sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs, g_vfs_nofault;
sqlite3_io_methods g_methods;

// Per kind of file: bytes, write calls, syncs (relaxed atomics: the checkpointer thread writes too).
enum Kind : int { kDb = 0, kWal = 1, kOther = 2 };
struct Counters {
  std::atomic<std::uint64_t> bytes{0}, writes{0}, syncs{0};
};
Counters g_count[3];

struct File {
  sqlite3_file base;
  sqlite3_file* real;  // the wrapped file, right after this struct
  int kind;
  bool faults;  // the fault plan applies (the store's connection; not the checkpointer's)
};
sqlite3_file* R(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }
Counters& C(sqlite3_file* f) { return g_count[reinterpret_cast<File*>(f)->kind]; }

int xClose(sqlite3_file* f) { return R(f)->pMethods->xClose(R(f)); }
int xRead(sqlite3_file* f, void* b, int n, sqlite3_int64 o) { return R(f)->pMethods->xRead(R(f), b, n, o); }
int xWrite(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  if (reinterpret_cast<File*>(f)->faults && fault::hit(fault::Op::sqlite_write)) return SQLITE_FULL;
  C(f).bytes.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
  C(f).writes.fetch_add(1, std::memory_order_relaxed);
  return R(f)->pMethods->xWrite(R(f), b, n, o);
}
int xTruncate(sqlite3_file* f, sqlite3_int64 s) { return R(f)->pMethods->xTruncate(R(f), s); }
int xSync(sqlite3_file* f, int fl) {
  if (reinterpret_cast<File*>(f)->faults && fault::hit(fault::Op::fsync)) return SQLITE_IOERR_FSYNC;
  C(f).syncs.fetch_add(1, std::memory_order_relaxed);
  return R(f)->pMethods->xSync(R(f), fl);
}
int xFileSize(sqlite3_file* f, sqlite3_int64* s) { return R(f)->pMethods->xFileSize(R(f), s); }
int xLock(sqlite3_file* f, int l) { return R(f)->pMethods->xLock(R(f), l); }
int xUnlock(sqlite3_file* f, int l) { return R(f)->pMethods->xUnlock(R(f), l); }
int xCheckReservedLock(sqlite3_file* f, int* o) { return R(f)->pMethods->xCheckReservedLock(R(f), o); }
int xFileControl(sqlite3_file* f, int op, void* a) { return R(f)->pMethods->xFileControl(R(f), op, a); }
int xSectorSize(sqlite3_file* f) { return R(f)->pMethods->xSectorSize(R(f)); }
int xDeviceCharacteristics(sqlite3_file* f) { return R(f)->pMethods->xDeviceCharacteristics(R(f)); }
int xShmMap(sqlite3_file* f, int i, int sz, int e, void volatile** p) { return R(f)->pMethods->xShmMap(R(f), i, sz, e, p); }
int xShmLock(sqlite3_file* f, int o, int n, int fl) { return R(f)->pMethods->xShmLock(R(f), o, n, fl); }
void xShmBarrier(sqlite3_file* f) { R(f)->pMethods->xShmBarrier(R(f)); }
int xShmUnmap(sqlite3_file* f, int d) { return R(f)->pMethods->xShmUnmap(R(f), d); }
int xFetch(sqlite3_file* f, sqlite3_int64 o, int n, void** p) { return R(f)->pMethods->xFetch(R(f), o, n, p); }
int xUnfetch(sqlite3_file* f, sqlite3_int64 o, void* p) { return R(f)->pMethods->xUnfetch(R(f), o, p); }

int xOpen(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* f, int flags, int* out) {
  auto* ff = reinterpret_cast<File*>(f);
  ff->faults = vfs == &g_vfs;
  ff->real = reinterpret_cast<sqlite3_file*>(ff + 1);
  ff->kind = (flags & SQLITE_OPEN_MAIN_DB) ? kDb : (flags & SQLITE_OPEN_WAL) ? kWal : kOther;
  const int rc = g_real->xOpen(g_real, name, ff->real, flags, out);
  ff->base.pMethods = ff->real->pMethods ? &g_methods : nullptr;
  return rc;
}

}  // namespace

StoreIoCounters store_io_counters() noexcept {
  auto v = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  StoreIoCounters c;
  c.db_bytes = v(g_count[kDb].bytes), c.wal_bytes = v(g_count[kWal].bytes), c.other_bytes = v(g_count[kOther].bytes);
  c.db_writes = v(g_count[kDb].writes), c.wal_writes = v(g_count[kWal].writes), c.other_writes = v(g_count[kOther].writes);
  c.db_syncs = v(g_count[kDb].syncs), c.wal_syncs = v(g_count[kWal].syncs), c.other_syncs = v(g_count[kOther].syncs);
  return c;
}

const char* store_vfs() noexcept {
  constexpr const char* kName = "bh_store";
  if (!g_real) {
    g_real = sqlite3_vfs_find(nullptr);
    g_vfs = *g_real;
    g_vfs.szOsFile = static_cast<int>(sizeof(File)) + g_real->szOsFile;
    g_vfs.zName = kName;
    g_vfs.pNext = nullptr;
    g_vfs.xOpen = xOpen;
    g_methods = {3,       xClose,   xRead,       xWrite,    xTruncate,          xSync,       xFileSize,
                 xLock,   xUnlock,  xCheckReservedLock,     xFileControl,       xSectorSize, xDeviceCharacteristics,
                 xShmMap, xShmLock, xShmBarrier, xShmUnmap, xFetch,             xUnfetch};
    sqlite3_vfs_register(&g_vfs, 0);
    g_vfs_nofault = g_vfs;
    g_vfs_nofault.zName = "bh_store_nofault";
    sqlite3_vfs_register(&g_vfs_nofault, 0);
  }
  return kName;
}

const char* store_vfs_without_faults() noexcept {
  store_vfs();
  return g_vfs_nofault.zName;
}

}  // namespace bh
