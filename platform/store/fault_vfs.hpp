// The fault plan's SQLite seam (platform/util/fault.hpp): a VFS that wraps the default one and fails
// xSync with SQLITE_IOERR_FSYNC (fault::Op::fsync) and xWrite with SQLITE_FULL (fault::Op::sqlite_write)
// when the plan says so. The store opens its connection through it only while a plan is armed or
// planned (fault::planned()); the checkpointer thread never uses it.
#pragma once

namespace bh {

// Registers the VFS on first use (not as the default) and returns its name.
const char* fault_plan_vfs() noexcept;

}  // namespace bh
