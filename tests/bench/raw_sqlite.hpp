// The raw SQLite baseline the benchmarks compare the store against: the same work Store::append
// does for one batch (BEGIN IMMEDIATE; N prepared INSERTs of 200-byte bodies; COMMIT in WAL mode)
// with nothing else around it. Bench support only: it allocates, blocks, and is never in the product.
#pragma once
#include <cstdint>
#include <string>

namespace bh::bench {

// Inserts `total_events` rows (200-byte bodies) in transactions of `batch` through one prepared
// INSERT into a fresh database in `dir` (WAL, synchronous FULL or NORMAL) and returns events per
// second; the database is deleted afterwards. Returns 0.0 if anything fails.
double raw_sqlite_insert_rate(const std::string& dir, std::uint32_t batch, std::uint32_t total_events, bool sync_full);

}  // namespace bh::bench
