// bulkhead's error codes as std::error_code values (errors are values on the hot path). The codes
// that reach a producer mirror the wire contract's `err <code>` names (see `wire_name`).
#pragma once
#include <string_view>
#include <system_error>

namespace bh {

enum class errc {
  ok = 0,
  timeout,         // a deadline passed
  cancelled,       // shutdown or an explicit cancel interrupted the wait
  pool_exhausted,  // no slot free and no wait allowed
  shutting_down,   // the runtime is draining
  bad_json,        // not a single valid JSON object
  too_large,       // over a configured size limit
  busy,            // a cap (pending events, connections) is reached
  storage,         // the store could not commit
  protocol,        // a peer broke the protocol
  closed,          // the peer closed the connection
};

const std::error_category& bulkhead_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), bulkhead_category()}; }
// The wire name of a code ("bad_json", "busy", ...).
std::string_view wire_name(errc e) noexcept;

}  // namespace bh

template <>
struct std::is_error_code_enum<bh::errc> : std::true_type {};
