// The bulkhead error category.
#include "platform/util/errors.hpp"

#include <string>

namespace bh {
namespace {
class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bulkhead"; }
  std::string message(int c) const override { return std::string(wire_name(static_cast<errc>(c))); }
};
}  // namespace

const std::error_category& bulkhead_category() noexcept {
  static const Category c;
  return c;
}

std::string_view wire_name(errc e) noexcept {
  switch (e) {
    case errc::ok: return "ok";
    case errc::timeout: return "timeout";
    case errc::cancelled: return "cancelled";
    case errc::pool_exhausted: return "pool_exhausted";
    case errc::shutting_down: return "shutting_down";
    case errc::bad_json: return "bad_json";
    case errc::too_large: return "too_large";
    case errc::busy: return "busy";
    case errc::storage: return "storage";
    case errc::protocol: return "protocol";
    case errc::closed: return "closed";
  }
  return "unknown";
}

}  // namespace bh
