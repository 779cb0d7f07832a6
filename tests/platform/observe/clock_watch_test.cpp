// ClockWatch on injected readings: the sync state is read only with the kernel check (unchecked
// with it off, and then nothing is flagged); a change of wall - monotonic beyond 1 s is a jump,
// counted with its signed size and time, while NTP-sized slews are not; stamp_unsynced() follows
// the last tick and is cleared when the watch goes away.
#include "platform/observe/clock_watch.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace bh {
namespace {
using namespace std::chrono_literals;

bool g_synced = false;
std::int64_t g_offset_ns = 0;
bool synced() noexcept { return g_synced; }
std::int64_t offset() noexcept { return g_offset_ns; }
std::int64_t wall_ms() noexcept { return 86'400'000 + g_offset_ns / 1'000'000; }
constexpr ClockSensors kFake{&synced, &offset, &wall_ms};

TEST(ClockWatch, KernelCheckFollowsTheSyncStateAndFlagsStamps) {
  g_synced = false;
  g_offset_ns = 0;
  {
    ClockWatch w(ClockSyncCheck::kernel, kFake);
    EXPECT_EQ(w.status().sync, ClockSync::not_synced);
    EXPECT_TRUE(ClockWatch::stamp_unsynced());
    g_synced = true;
    w.tick(hal::Clock::now());
    EXPECT_EQ(w.status().sync, ClockSync::synced);
    EXPECT_FALSE(ClockWatch::stamp_unsynced());
    g_synced = false;
    w.tick(hal::Clock::now());
    EXPECT_TRUE(ClockWatch::stamp_unsynced());
  }
  EXPECT_FALSE(ClockWatch::stamp_unsynced()) << "no watch, no flag";
}

TEST(ClockWatch, OffIsUncheckedAndNeverFlags) {
  g_synced = false;
  ClockWatch w(ClockSyncCheck::off, kFake);
  w.tick(hal::Clock::now());
  EXPECT_EQ(w.status().sync, ClockSync::unchecked);
  EXPECT_FALSE(ClockWatch::stamp_unsynced());
  EXPECT_EQ(clock_sync_name(w.status().sync), "unchecked");
}

TEST(ClockWatch, StepsBeyondASecondAreJumpsWithTheirSignedSize) {
  g_offset_ns = 1'000'000'000'000;
  ClockWatch w(ClockSyncCheck::off, kFake);
  g_offset_ns += 900'000'000;  // a slew-sized change: no jump
  w.tick(hal::Clock::now());
  EXPECT_EQ(w.status().jumps, 0u);
  constexpr std::int64_t kYears = 30LL * 365 * 86'400 * 1'000'000'000;
  g_offset_ns += kYears;  // NTP steps a board from 1970 to today
  const auto t1 = hal::Clock::now();
  w.tick(t1);
  EXPECT_EQ(w.status().jumps, 1u);
  EXPECT_EQ(w.status().last_jump_ns, kYears);
  EXPECT_EQ(w.status().last_jump_at, t1);
  EXPECT_EQ(w.status().last_jump_wall_ms, wall_ms());
  w.tick(hal::Clock::now());
  EXPECT_EQ(w.status().jumps, 1u) << "one step, one jump";
  g_offset_ns -= 3 * 3'600'000'000'000LL;  // back by hours
  w.tick(hal::Clock::now());
  EXPECT_EQ(w.status().jumps, 2u);
  EXPECT_EQ(w.status().last_jump_ns, -3 * 3'600'000'000'000LL);
}

}  // namespace
}  // namespace bh
