// App: bulkhead's wiring. Builds every component from the config and the budget (pools sized by
// firmware/budget.hpp), starts them, seals the runtime, runs the reactor, and checks at exit that
// every pool is back to zero. The components themselves live in platform/; this file only
// connects them. Construct it on the heap (its pools are large); start-up only.
#pragma once
#include <memory>
#include <string>

#include "firmware/config.hpp"

namespace bh {

struct RuntimeView;

struct RunOptions {
  bool print_budget = true;
};

class App {
 public:
  explicit App(Config cfg);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Opens the store and the audit log, binds the listeners, spawns the tasks. Returns "" on
  // success, else the reason it cannot start (the process exits 1).
  std::string start(const RunOptions& opts = {});
  // Runs until shutdown. Returns the process exit code: 0 after a clean shutdown with every pool
  // at zero; 1 if a pool still had slots in use; 130 after a forced (second signal) exit.
  int run();
  // The running system as the operator surface sees it (valid after a successful start()).
  RuntimeView& view();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bh
