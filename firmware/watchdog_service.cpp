// WatchdogService: placeholder until the real implementation lands (does nothing, starts nothing).
#include "firmware/watchdog_service.hpp"

namespace bh {

struct WatchdogService::Impl {
  RuntimeView& view;
};

WatchdogService::WatchdogService(RuntimeView& view) : impl_(std::make_unique<Impl>(Impl{view})) {}
WatchdogService::~WatchdogService() = default;
std::string WatchdogService::start() { return {}; }
void WatchdogService::stop() noexcept {}
Watchdog* WatchdogService::watchdog() noexcept { return nullptr; }

}  // namespace bh
