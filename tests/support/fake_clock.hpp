// Virtual time for tests. Every runtime timer runs on hal::Clock (hal/clock.hpp), which a test
// moves on instead of sleeping:
// - in this process: advance(io, d) moves the clock and wakes `io` so that its due timers fire on
//   the next run/poll;
// - in a `bulkhead` child (BH_TEST_HOOKS builds): advance_clock(b, d) sends the hidden console
//   command `clock advance <d>`, which does the same inside the child.
#pragma once
#include <asio/io_context.hpp>

#include <chrono>

#include "hal/clock.hpp"
#include "tests/support/harness.hpp"

namespace bh::test {

// Moves hal::Clock on by d and makes `io` look at its timers again (a timer at the clock's epoch,
// the earliest of all, re-arms Asio's timerfd). Call it on the thread that runs `io`, or while no
// thread runs it.
void advance(asio::io_context& io, hal::Clock::duration d);

// Runs `io` on virtual time until it runs out of work: runs every ready handler, and when none is
// ready moves the clock on by `step` (so the next due timer fires without waiting for it). Gives
// up once `limit` of virtual time has passed (then `io` still has work: a test asserts on it).
// Only for work that waits on timers: I/O still in flight on a real socket would see its deadline
// pass at once. Returns the virtual time that passed.
hal::Clock::duration run_virtual(asio::io_context& io, hal::Clock::duration step = std::chrono::milliseconds(1),
                                 hal::Clock::duration limit = std::chrono::hours(2));

// `clock advance <d>` through the child's control socket (waits for the socket to be bound).
// True when the child answered that its clock moved.
bool advance_clock(const Bulkhead& b, std::chrono::milliseconds d);

}  // namespace bh::test
