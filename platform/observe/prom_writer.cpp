// PromWriter: HELP/TYPE lines, label escaping, and the registry-driven pool families
// (one table row per family).
#include "platform/observe/prom_writer.hpp"

#include <cstdint>

#include "platform/core/pool.hpp"
#include "platform/core/reactor_thread.hpp"
#include "platform/util/assert.hpp"

namespace bh {

void PromWriter::family(std::string_view name, Kind k, std::string_view help) noexcept {
  name_ = name;
  const std::string_view type = k == Kind::counter ? "counter" : k == Kind::gauge ? "gauge" : "summary";
  put("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void PromWriter::escaped(std::string_view s) noexcept {
  for (char ch : s) {
    if (over_) return;
    if (n_ + 2 > cap_) {
      over_ = true;
      return;
    }
    if (ch == '\\' || ch == '"') {
      buf_[n_++] = '\\';
      buf_[n_++] = ch;
    } else if (ch == '\n') {
      buf_[n_++] = '\\';
      buf_[n_++] = 'n';
    } else {
      buf_[n_++] = ch;
    }
  }
}

namespace {
using Kind = PromWriter::Kind;
using V = PromValue;

constexpr MetricRow<PoolStats> kPoolRows[] = {
    {"bulkhead_pool_capacity", Kind::gauge, "Slots compiled into the pool.", [](const PoolStats& s) -> V { return s.capacity; }},
    {"bulkhead_pool_limit", Kind::gauge, "Configured slot limit (at most the capacity).", [](const PoolStats& s) -> V { return s.limit; }},
    {"bulkhead_pool_in_use", Kind::gauge, "Slots in use now.", [](const PoolStats& s) -> V { return s.in_use; }},
    {"bulkhead_pool_high_water", Kind::gauge, "Most slots in use at once since start or the last reset.", [](const PoolStats& s) -> V { return s.high_water; }},
    {"bulkhead_pool_waiting", Kind::gauge, "Parties queued for a slot now.", [](const PoolStats& s) -> V { return s.waiting; }},
    {"bulkhead_pool_acquisitions_total", Kind::counter, "Slots handed out.", [](const PoolStats& s) -> V { return s.acquisitions; }},
    {"bulkhead_pool_refusals_total", Kind::counter, "Acquisitions refused because the pool was full.", [](const PoolStats& s) -> V { return s.refusals; }},
    {"bulkhead_pool_waits_total", Kind::counter, "Acquisitions that had to wait for a slot.", [](const PoolStats& s) -> V { return s.waits; }},
    {"bulkhead_pool_wait_timeouts_total", Kind::counter, "Waits for a slot that timed out.", [](const PoolStats& s) -> V { return s.wait_timeouts; }},
    {"bulkhead_pool_saturations_total", Kind::counter, "Times the pool reached its limit.", [](const PoolStats& s) -> V { return s.saturations; }},
};

}  // namespace

void write_pool_metrics(PromWriter& w) noexcept {
  BH_ASSERT(on_reactor_thread());
  for (const MetricRow<PoolStats>& m : kPoolRows) {
    w.family(m.name, m.kind, m.help);
    for (const PoolBase* p = PoolBase::first(); p; p = p->next()) w.value("pool", p->name(), m.get(p->stats()));
  }
}

}  // namespace bh
