// Wire errors: the codes a producer can get back for one line (wire.md §1 `err <code>`, the same
// per-line codes in POST /v1/events answers), in ONE table. The table yields the WireError enum,
// the wire names, which codes the committer refuses at admission, and WireErrorCounts, the
// per-code counters that TCP ingest, POST /v1/events and the committer keep and that /metrics
// and the console print. It is not errc (util/errors.hpp, every internal code): a WireError is
// one of the five codes a line can be refused with, in the order the contract lists them.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "platform/util/errors.hpp"

namespace bh {

// X(code, admission): `code` is both the errc member and the wire name; admission is true when
// Committer::submit itself refuses with it (the others come from the framer, the validator or the
// commit). Rows in wire.md order: /metrics lists the codes in this order. A new code is one row.
#define BH_WIRE_ERRORS(X) \
  X(bad_json, false)      \
  X(too_large, false)     \
  X(busy, true)           \
  X(shutting_down, true)  \
  X(storage, false)

enum class WireError : std::uint8_t {
#define BH_WIRE_ERROR_ENUM(code, admission) code,
  BH_WIRE_ERRORS(BH_WIRE_ERROR_ENUM)
#undef BH_WIRE_ERROR_ENUM
};

struct WireErrorRow {
  WireError id;
  errc code;
  std::string_view name;  // as on the wire: "bad_json", ...
  bool admission;         // Committer::submit refuses with it
};

inline constexpr WireErrorRow kWireErrors[] = {
#define BH_WIRE_ERROR_ROW(code, admission) {WireError::code, errc::code, #code, admission},
    BH_WIRE_ERRORS(BH_WIRE_ERROR_ROW)
#undef BH_WIRE_ERROR_ROW
};
inline constexpr std::size_t kWireErrorCount = std::size(kWireErrors);

constexpr const WireErrorRow& wire_row(WireError e) noexcept { return kWireErrors[static_cast<std::size_t>(e)]; }

// The wire error a refusal is answered with: a code outside the table counts as `storage` (the
// store could not take the line), as the ingest reply and the POST answer treat it.
constexpr WireError wire_error(errc c) noexcept {
  for (const WireErrorRow& r : kWireErrors)
    if (r.code == c) return r.id;
  return WireError::storage;
}

// Lines refused, per wire error code. count() takes the errc a refusal came with.
struct WireErrorCounts {
  std::array<std::uint64_t, kWireErrorCount> n{};

  // Counts one refusal; returns the code it was counted as.
  WireError count(errc c) noexcept {
    const WireError e = wire_error(c);
    ++n[static_cast<std::size_t>(e)];
    return e;
  }
  std::uint64_t operator[](WireError e) const noexcept { return n[static_cast<std::size_t>(e)]; }
};

static_assert(wire_row(WireError::storage).code == errc::storage && wire_row(WireError::bad_json).name == "bad_json",
              "kWireErrors rows are in enum order");

}  // namespace bh
