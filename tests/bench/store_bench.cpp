// Store benchmarks: group commit through Store::append against a raw SQLite baseline doing the
// same work (WAL, synchronous=FULL, BEGIN; N prepared INSERTs of 200-byte bodies; COMMIT), plus
// the audit log's batch append. Measured in wall time (the commit's fsync dominates).
// Databases live in a scratch directory under $BH_BENCH_DIR or the current directory (same disk
// as the build: /tmp may be tmpfs elsewhere, which would make fsync free).
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "platform/store/audit_log.hpp"
#include "platform/store/sqlite.hpp"
#include "platform/store/store.hpp"
#include "tests/bench/raw_sqlite.hpp"

namespace {

// A scratch directory removed at scope end.
struct Scratch {
  std::string path;
  Scratch() {
    const char* base = getenv("BH_BENCH_DIR");
    std::string tmpl = std::string(base ? base : ".") + "/bh-store-bench-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    path = mkdtemp(buf.data()) ? buf.data() : "";
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

const std::string kBody(200, 'x');

void BM_SqliteRawBatchedInsert(benchmark::State& state) {
  const auto batch = static_cast<std::uint32_t>(state.range(0));
  Scratch dir;
  bh::sql::Db db;
  if (db.open((dir.path + "/raw.db").c_str(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr,
              1000) ||
      db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
              "CREATE TABLE t(seq INTEGER PRIMARY KEY, ts INTEGER, source TEXT, body BLOB);")) {
    state.SkipWithError("open failed");
    return;
  }
  bh::sql::Stmt ins;
  if (ins.prepare(db.get(), "INSERT INTO t(seq, ts, source, body) VALUES(?1, ?2, ?3, ?4)")) {
    state.SkipWithError("prepare failed");
    return;
  }
  std::int64_t seq = 1;
  for (auto _ : state) {
    bool ok = !db.begin_immediate();
    for (std::uint32_t i = 0; ok && i < batch; ++i, ++seq) {
      ins.bind(1, seq);
      ins.bind(2, seq);
      ins.bind_text(3, "bench");
      ins.bind_blob(4, kBody);
      ok = ins.step() == SQLITE_DONE;
      ins.reset();
    }
    if (!ok || db.commit()) {
      state.SkipWithError("insert failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * batch);
  ins.finalize();
}
BENCHMARK(BM_SqliteRawBatchedInsert)->Arg(256)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);

void store_append(benchmark::State& state, bool sync_full) {
  const auto batch = static_cast<std::uint32_t>(state.range(0));
  Scratch dir;
  bh::Store store;
  bh::StoreOptions o;
  o.path = dir.path + "/store.db";
  o.sync_full = sync_full;
  o.max_batch = batch;
  if (store.open(o)) {
    state.SkipWithError("open failed");
    return;
  }
  std::vector<bh::EventIn> ev(batch, bh::EventIn{"bench", kBody, 1700000000000});
  std::vector<std::uint64_t> seqs(batch);
  for (auto _ : state) {
    if (store.append(ev, seqs)) {
      state.SkipWithError("append failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * batch);
  auto st = store.stats();
  state.counters["sqlite_mem_hw_kib"] = static_cast<double>(st.sqlite_mem_highwater) / 1024.0;
}

void BM_StoreAppend(benchmark::State& state) { store_append(state, true); }
BENCHMARK(BM_StoreAppend)->Arg(256)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_StoreAppendSyncNormal(benchmark::State& state) { store_append(state, false); }
BENCHMARK(BM_StoreAppendSyncNormal)->Arg(256)->Arg(1024)->UseRealTime()->Unit(benchmark::kMillisecond);

// One delivery step: read a batch behind the cursor and advance it (the store holds 1M events'
// worth of headroom: the batch is appended outside the timed region).
void BM_StoreReadAdvance(benchmark::State& state) {
  const auto batch = static_cast<std::uint32_t>(state.range(0));
  Scratch dir;
  bh::Store store;
  bh::StoreOptions o;
  o.path = dir.path + "/store.db";
  o.sync_full = false;
  o.max_batch = batch;
  int sink = -1;
  if (store.open(o) || store.register_sink("bench", sink)) {
    state.SkipWithError("open failed");
    return;
  }
  std::vector<bh::EventIn> ev(batch, bh::EventIn{"bench", kBody, 1700000000000});
  std::vector<std::uint64_t> seqs(batch);
  for (auto _ : state) {
    state.PauseTiming();
    bool ok = !store.append(ev, seqs);
    state.ResumeTiming();
    std::uint32_t count = 0;
    std::uint64_t last = 0;
    ok = ok && !store.read_batch(sink, batch, 1 << 30, [&](const bh::EventOut& e) { last = e.seq; }, count);
    ok = ok && !store.advance_cursor(sink, last);
    if (!ok) {
      state.SkipWithError("read/advance failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * batch);
}
BENCHMARK(BM_StoreReadAdvance)->Arg(256)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_AuditAppend(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  Scratch dir;
  bh::AuditLog log;
  if (log.open({.path = dir.path + "/audit.log", .rotate_bytes = 16 << 20, .keep = 1})) {
    state.SkipWithError("open failed");
    return;
  }
  std::vector<bh::AuditRecord> recs;
  for (std::size_t i = 0; i < batch; ++i) recs.push_back({1'000'000 + i, 1700000000000, "producer-1", 200});
  for (auto _ : state) {
    if (log.append(recs)) {
      state.SkipWithError("append failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(batch));
}
BENCHMARK(BM_AuditAppend)->Arg(256)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The plain-function baseline the load generator calls, reported once for cross-checking.
void BM_RawInsertRateFunction(benchmark::State& state) {
  Scratch dir;
  double rate = 0;
  for (auto _ : state) rate = bh::bench::raw_sqlite_insert_rate(dir.path, 1024, 51200, true);
  state.counters["events_per_s"] = rate;
}
BENCHMARK(BM_RawInsertRateFunction)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
