// PromWriter: the Prometheus text exposition format 0.0.4 written into a caller's fixed buffer
// (no heap): `# HELP` and `# TYPE` per family, then its samples, label values escaped. Running out
// of room is sticky and reported by ok(), never a partial family handed out as valid. It is not
// a metrics registry: callers read their counters and write them here. Also here: the per-pool
// families, read through the PoolBase registry. Reactor thread only.
#pragma once
#include <fmt/format.h>

#include <cstddef>
#include <string_view>
#include <utility>

namespace bh {

class PromWriter {
 public:
  enum class Kind : unsigned char { counter, gauge, summary };

  PromWriter(char* buf, std::size_t cap) noexcept : buf_(buf), cap_(cap) {}
  // False once something did not fit (the output is then unusable).
  bool ok() const noexcept { return !over_; }
  std::size_t size() const noexcept { return n_; }

  // Starts a family: its HELP and TYPE lines. Its samples follow (samples of one name together).
  void family(std::string_view name, Kind k, std::string_view help) noexcept;
  // A sample of the current family: unlabelled, with one label, or with two.
  template <typename V>
  void value(V v) noexcept {
    put("{} {}\n", name_, v);
  }
  template <typename V>
  void value(std::string_view label, std::string_view lv, V v) noexcept {
    put("{}{{{}=\"", name_, label);
    escaped(lv);
    put("\"}} {}\n", v);
  }
  template <typename V>
  void value(std::string_view l1, std::string_view v1, std::string_view l2, std::string_view v2, V v) noexcept {
    put("{}{{{}=\"", name_, l1);
    escaped(v1);
    put("\",{}=\"", l2);
    escaped(v2);
    put("\"}} {}\n", v);
  }
  // A sample named after the family plus a suffix (a summary's `_sum` and `_count`).
  template <typename V>
  void suffixed(std::string_view suffix, V v) noexcept {
    put("{}{} {}\n", name_, suffix, v);
  }
  // A family with one unlabelled sample.
  template <typename V>
  void one(std::string_view name, Kind k, std::string_view help, V v) noexcept {
    family(name, k, help);
    value(v);
  }

 private:
  template <typename... A>
  void put(fmt::format_string<A...> f, A&&... a) noexcept {
    if (over_) return;
    auto r = fmt::format_to_n(buf_ + n_, cap_ - n_, f, std::forward<A>(a)...);
    if (r.size > cap_ - n_) {
      over_ = true;
      return;
    }
    n_ += r.size;
  }
  // Label values: backslash, double quote and newline escaped.
  void escaped(std::string_view s) noexcept;

  char* buf_;
  std::size_t cap_;
  std::size_t n_ = 0;
  bool over_ = false;
  std::string_view name_;
};

// Every registered pool: bulkhead_pool_{capacity,limit,in_use,high_water,waiting} gauges and
// bulkhead_pool_{acquisitions,refusals,waits,wait_timeouts,saturations}_total, label `pool`.
void write_pool_metrics(PromWriter& w) noexcept;

}  // namespace bh
