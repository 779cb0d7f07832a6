// ClockWatch: how far the wall clock can be trusted (issue 17, a board without a battery-backed
// clock). It is not a clock: every timer, deadline and age in the runtime is on the monotonic
// clock (hal/clock.hpp) and never consults it. It only watches the wall clock, whose readings go
// into event timestamps (`ts`), and says two things:
// - synced: whether the kernel says the wall clock is synchronised (adjtimex; `[clock]
//   sync_check = "kernel"`), or `unchecked` (sync_check = "off", the default: some hosts, VMs
//   among them, report an unsynchronised clock although it is right). While the check says not
//   synced, every event the committer takes is stored flagged (Store, EventIn::clock_unsynced)
//   and its envelope says "clock_synced":false.
// - jumps: each tick compares wall - monotonic with the previous tick's; a change of more than
//   kJumpThreshold is a step of the wall clock (an NTP sync, date -s): counted, logged once with
//   its signed size, and kept as the last jump (size, monotonic time, wall time).
// tick() is run by the watchdog's tick task; readings come through ClockSensors so tests inject
// them. No heap. Reactor thread only, except stamp_unsynced() (an atomic, read anywhere).
#pragma once
#include <chrono>
#include <cstdint>
#include <string_view>

#include "hal/clock.hpp"

namespace bh {

enum class ClockSyncCheck : std::uint8_t { off, kernel };
enum class ClockSync : std::uint8_t { unchecked, synced, not_synced };
std::string_view clock_sync_name(ClockSync s) noexcept;  // "unchecked", "synced", "not synced"

// What the watch reads each tick. ClockWatch::system() reads hal.
struct ClockSensors {
  bool (*kernel_synced)() noexcept = &hal::kernel_clock_synced;
  std::int64_t (*wall_minus_mono_ns)() noexcept = &hal::wall_minus_mono_ns;
  std::int64_t (*wall_ms)() noexcept = &hal::unix_ms;
};

struct ClockStatus {
  ClockSync sync = ClockSync::unchecked;
  std::uint64_t jumps = 0;                 // steps seen since start
  std::int64_t last_jump_ns = 0;           // signed: > 0 forward; 0 when none
  hal::Clock::time_point last_jump_at{};   // monotonic time of the tick that saw it
  std::int64_t last_jump_wall_ms = 0;      // wall time just after it (0: none)
};

class ClockWatch {
 public:
  static constexpr std::chrono::seconds kJumpThreshold{1};

  explicit ClockWatch(ClockSyncCheck check, ClockSensors sensors = {}) noexcept;
  ~ClockWatch();
  ClockWatch(const ClockWatch&) = delete;
  ClockWatch& operator=(const ClockWatch&) = delete;

  // Reads the sensors: sync state (published for stamp_unsynced()) and a jump since the last tick.
  void tick(hal::Clock::time_point now) noexcept;
  const ClockStatus& status() const noexcept { return status_; }
  ClockSyncCheck check() const noexcept { return check_; }

  // True while the check says the wall clock is not synced: events stamped now are flagged. False
  // when no watch runs or the check is off.
  static bool stamp_unsynced() noexcept;

 private:
  ClockSyncCheck check_;
  ClockSensors sensors_;
  ClockStatus status_{};
  std::int64_t offset_ns_ = 0;  // wall - monotonic at the last tick
};

}  // namespace bh
