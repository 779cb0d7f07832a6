// Runtime core costs in ns/op: pool acquire/release, waiter handoff, task spawn, timer wait. Figures go in docs/figures.md; nothing here is asserted.
#include <benchmark/benchmark.h>

#include "platform/core/pool.hpp"
#include "platform/core/task.hpp"

namespace bh {
namespace {
using namespace std::chrono_literals;

struct Obj {
  int v = 0;
};

void BM_PoolAcquireRelease(benchmark::State& st) {
  static Pool<Obj, 64> pool("bench_pool");
  for (auto _ : st) {
    auto l = pool.try_acquire();
    benchmark::DoNotOptimize(l.get());
  }
}
BENCHMARK(BM_PoolAcquireRelease);

void BM_PoolRefusal(benchmark::State& st) {
  static Pool<Obj, 1> pool("bench_pool_full");
  auto hold = pool.try_acquire();
  for (auto _ : st) {
    auto l = pool.try_acquire();
    benchmark::DoNotOptimize(l.get());
  }
}
BENCHMARK(BM_PoolRefusal);


Task<void> noop_task() { co_return; }

void BM_TaskSpawnComplete(benchmark::State& st) {
  asio::io_context io(1);
  TaskPool<16> tasks("bench_tasks", io);
  for (auto _ : st) tasks.spawn("noop", [] { return noop_task(); });
}
BENCHMARK(BM_TaskSpawnComplete);

Task<void> nested_child() { co_return; }
Task<void> nested_parent(int n) {
  for (int i = 0; i < n; ++i) co_await nested_child();
}

void BM_NestedAwait(benchmark::State& st) {
  asio::io_context io(1);
  TaskPool<4> tasks("bench_tasks_nested", io);
  for (auto _ : st) tasks.spawn("nested", [] { return nested_parent(100); });
  st.SetItemsProcessed(st.iterations() * 100);
}
BENCHMARK(BM_NestedAwait);

Task<void> one_sleep() { co_await sleep_for(0ms); }

void BM_TaskTimerWait(benchmark::State& st) {
  asio::io_context io(1);
  TaskPool<4> tasks("bench_tasks_timer", io);
  for (auto _ : st) {
    tasks.spawn("sleep", [] { return one_sleep(); });
    io.run();
    io.restart();
  }
}
BENCHMARK(BM_TaskTimerWait);

}  // namespace
}  // namespace bh
