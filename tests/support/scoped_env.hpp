// ScopedEnv: sets (or unsets) one environment variable for a scope and restores it after. Child
// processes started meanwhile (the harness's `bulkhead`) inherit it. Not thread-safe: use it on
// the test's own thread while no other thread reads the environment.
#pragma once
#include <cstdlib>
#include <optional>
#include <string>

namespace bh::test {

class ScopedEnv {
 public:
  // value nullptr: unset.
  ScopedEnv(std::string name, const char* value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value) ::setenv(name_.c_str(), value, 1);
    else ::unsetenv(name_.c_str());
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace bh::test
