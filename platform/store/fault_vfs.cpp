#include "platform/store/fault_vfs.hpp"

#include <sqlite3.h>

#include "platform/util/fault.hpp"

namespace bh {
namespace {

sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;
sqlite3_io_methods g_methods;

struct File {
  sqlite3_file base;
  sqlite3_file* real;  // the wrapped file, right after this struct
};
sqlite3_file* R(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

int xClose(sqlite3_file* f) { return R(f)->pMethods->xClose(R(f)); }
int xRead(sqlite3_file* f, void* b, int n, sqlite3_int64 o) { return R(f)->pMethods->xRead(R(f), b, n, o); }
int xWrite(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  return fault::hit(fault::Op::sqlite_write) ? SQLITE_FULL : R(f)->pMethods->xWrite(R(f), b, n, o);
}
int xTruncate(sqlite3_file* f, sqlite3_int64 s) { return R(f)->pMethods->xTruncate(R(f), s); }
int xSync(sqlite3_file* f, int fl) {
  return fault::hit(fault::Op::fsync) ? SQLITE_IOERR_FSYNC : R(f)->pMethods->xSync(R(f), fl);
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

int xOpen(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out) {
  auto* ff = reinterpret_cast<File*>(f);
  ff->real = reinterpret_cast<sqlite3_file*>(ff + 1);
  const int rc = g_real->xOpen(g_real, name, ff->real, flags, out);
  ff->base.pMethods = ff->real->pMethods ? &g_methods : nullptr;
  return rc;
}

}  // namespace

const char* fault_plan_vfs() noexcept {
  constexpr const char* kName = "bh_fault_plan";
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
  }
  return kName;
}

}  // namespace bh
