// ConsoleService: placeholder until the real implementation lands (does nothing, starts nothing).
#include "firmware/console.hpp"

namespace bh {

struct ConsoleService::Impl {
  RuntimeView& view;
};

ConsoleService::ConsoleService(RuntimeView& view) : impl_(std::make_unique<Impl>(Impl{view})) {}
ConsoleService::~ConsoleService() = default;
std::string ConsoleService::start() { return {}; }
void ConsoleService::stop() noexcept {}

}  // namespace bh
