#include "tests/bench/raw_sqlite.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "platform/store/sqlite.hpp"

namespace bh::bench {

double raw_sqlite_insert_rate(const std::string& dir, std::uint32_t batch, std::uint32_t total_events, bool sync_full) {
  if (batch == 0 || total_events == 0) return 0.0;
  const std::string path = dir + "/bh_raw_baseline.db";
  auto remove_files = [&] {
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
  };
  remove_files();
  double rate = 0.0;
  {
    sql::Db db;
    if (db.open(path.c_str(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr, 1000)) return 0.0;
    std::string setup = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") + (sync_full ? "FULL" : "NORMAL") +
                        "; CREATE TABLE t(seq INTEGER PRIMARY KEY, ts INTEGER, source TEXT, body BLOB);";
    sql::Stmt ins;
    if (!db.exec(setup.c_str()) && !ins.prepare(db.get(), "INSERT INTO t(seq, ts, source, body) VALUES(?1, ?2, ?3, ?4)")) {
      const std::string body(200, 'x');
      const auto t0 = std::chrono::steady_clock::now();
      std::int64_t seq = 1;
      bool ok = true;
      for (std::uint32_t done = 0; ok && done < total_events;) {
        const std::uint32_t n = std::min(batch, total_events - done);
        ok = !db.begin_immediate();
        for (std::uint32_t i = 0; ok && i < n; ++i, ++seq) {
          ins.bind(1, seq);
          ins.bind(2, seq);
          ins.bind_text(3, "bench");
          ins.bind_blob(4, body);
          ok = ins.step() == SQLITE_DONE;
          ins.reset();
        }
        ok = ok && !db.commit();
        done += n;
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (ok && secs > 0) rate = total_events / secs;
      db.rollback();
    }
    ins.finalize();
  }
  remove_files();
  return rate;
}

}  // namespace bh::bench
