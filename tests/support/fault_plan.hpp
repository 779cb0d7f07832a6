// Arms the fault plan (platform/util/fault.hpp) for one scope of an in-process test and disarms it
// at scope end. PlannedFaults marks a plan as coming before a store opens, so the store takes the
// fault VFS (which carries fsync and sqlite_write); it is cleared at scope end too.
#pragma once
#include <gtest/gtest.h>

#include "platform/util/fault.hpp"

namespace bh::test {

struct FaultPlan {
  explicit FaultPlan(const char* spec) { EXPECT_EQ(fault::arm(spec), ""); }
  ~FaultPlan() { fault::disarm(); }
  FaultPlan(const FaultPlan&) = delete;
  FaultPlan& operator=(const FaultPlan&) = delete;
};

struct PlannedFaults {
  PlannedFaults() { fault::set_planned(true); }
  ~PlannedFaults() { fault::set_planned(false); }
  PlannedFaults(const PlannedFaults&) = delete;
  PlannedFaults& operator=(const PlannedFaults&) = delete;
};

}  // namespace bh::test
