// AdminService: placeholder until the real implementation lands (does nothing, starts nothing).
#include "firmware/admin.hpp"

namespace bh {

struct AdminService::Impl {
  RuntimeView& view;
};

AdminService::AdminService(RuntimeView& view) : impl_(std::make_unique<Impl>(Impl{view})) {}
AdminService::~AdminService() = default;
std::string AdminService::start() { return {}; }
void AdminService::stop() noexcept {}

}  // namespace bh
