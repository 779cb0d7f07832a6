// PromWriter: the Prometheus text exposition format 0.0.4 written into a caller's fixed buffer
// (no heap): `# HELP` and `# TYPE` per family, then its samples, label values escaped. Running out
// of room is sticky and reported by ok(), never a partial family handed out as valid. It is not
// a metrics registry: callers read their counters and write them here, mostly through metric
// tables (MetricRow: one row per family, beside the stats it reads) and write_rows(). Also here:
// the per-pool families, read through the PoolBase registry. Reactor thread only.
#pragma once
#include <fmt/format.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

namespace bh {

// A sample's value, keeping the number type the stats hold: integers print exactly (signed ones
// with their sign), floating point in fmt's shortest round-trip form.
class PromValue {
 public:
  template <std::integral I>
  constexpr PromValue(I v) noexcept {  // NOLINT(google-explicit-constructor): rows return numbers
    if constexpr (std::is_signed_v<I>) t_ = Type::i, i_ = v;
    else t_ = Type::u, u_ = v;
  }
  template <std::floating_point F>
  constexpr PromValue(F v) noexcept : t_(Type::d), d_(static_cast<double>(v)) {}  // NOLINT

  template <typename Out>
  Out format_to(Out out) const {
    switch (t_) {
      case Type::u: return fmt::format_to(out, "{}", u_);
      case Type::i: return fmt::format_to(out, "{}", i_);
      case Type::d: break;
    }
    return fmt::format_to(out, "{}", d_);
  }

 private:
  enum class Type : unsigned char { u, i, d };
  Type t_;
  union {
    std::uint64_t u_;
    std::int64_t i_;
    double d_;
  };
};

}  // namespace bh

template <>
struct fmt::formatter<bh::PromValue> {
  constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
  template <typename Ctx>
  auto format(const bh::PromValue& v, Ctx& ctx) const {
    return v.format_to(ctx.out());
  }
};

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
  // A summary family without quantiles: its `_sum` and `_count` samples.
  void summary(std::string_view name, std::string_view help, PromValue sum, PromValue count) noexcept {
    family(name, Kind::summary, help);
    suffixed("_sum", sum);
    suffixed("_count", count);
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

// One metric family of a table: its name, kind and HELP text, and how to read its value from a T
// (the stats struct, or the object, it describes). Tables of rows sit beside the stats they read:
//   constexpr MetricRow<TaskStats> kTaskRows[] = {
//       {"bulkhead_tasks_spawned_total", Kind::counter, "Tasks started.", [](const TaskStats& s) -> PromValue { return s.spawned; }},
//   };
// so a new counter is one row.
//   when:  if set, a labelled family lists only the objects it holds for (none: no family).
//   count: a summary's `_count` (`get` is then its `_sum`); summaries are unlabelled only.
template <typename T>
struct MetricRow {
  std::string_view name;
  PromWriter::Kind kind;
  std::string_view help;
  PromValue (*get)(const T&);
  bool (*when)(const T&) = nullptr;
  PromValue (*count)(const T&) = nullptr;
};

// Each row as a family with one unlabelled sample read from `obj` (a summary: `_sum`, `_count`).
template <typename T, std::size_t N>
void write_rows(PromWriter& w, const MetricRow<T> (&rows)[N], const T& obj) noexcept {
  for (const MetricRow<T>& r : rows) {
    if (r.count) w.summary(r.name, r.help, r.get(obj), r.count(obj));
    else w.one(r.name, r.kind, r.help, r.get(obj));
  }
}

// Each row as a family with one sample per object of `objs` (a range of `const T*`, e.g. the
// configured sinks), labelled `label`="name_of(object)", in the range's order.
// Example: write_rows(w, kSinkRows, "sink", v.sinks, [](const Sink& s) { return s.options().name; });
template <typename T, std::size_t N, typename Objs, typename NameOf>
void write_rows(PromWriter& w, const MetricRow<T> (&rows)[N], std::string_view label, const Objs& objs,
                NameOf name_of) noexcept {
  for (const MetricRow<T>& r : rows) {
    bool any = r.when == nullptr;
    for (const T* o : objs) any = any || r.when(*o);
    if (!any) continue;
    w.family(r.name, r.kind, r.help);
    for (const T* o : objs)
      if (r.when == nullptr || r.when(*o)) w.value(label, name_of(*o), r.get(*o));
  }
}

// Every registered pool: bulkhead_pool_{capacity,limit,in_use,high_water,waiting} gauges and
// bulkhead_pool_{acquisitions,refusals,waits,wait_timeouts,saturations}_total, label `pool`.
void write_pool_metrics(PromWriter& w) noexcept;

}  // namespace bh
