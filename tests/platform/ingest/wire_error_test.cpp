// The wire error table: its names are the wire names of their codes (wire.md §1 order), counting
// maps every refusal to one code (anything outside the table to storage), and the committer's
// admission refusals are exactly the rows marked so.
#include "platform/ingest/wire_error.hpp"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

namespace bh {
namespace {

TEST(WireError, RowsAreTheWireCodesInContractOrder) {
  std::vector<std::string_view> names;
  for (const WireErrorRow& r : kWireErrors) {
    EXPECT_EQ(r.name, wire_name(r.code)) << r.name;
    EXPECT_EQ(&wire_row(r.id), &r) << r.name;
    names.push_back(r.name);
  }
  EXPECT_EQ(names, (std::vector<std::string_view>{"bad_json", "too_large", "busy", "shutting_down", "storage"}));
}

TEST(WireError, CountingMapsEachCodeAndTheRestToStorage) {
  WireErrorCounts c;
  EXPECT_EQ(c.count(errc::bad_json), WireError::bad_json);
  EXPECT_EQ(c.count(errc::busy), WireError::busy);
  EXPECT_EQ(c.count(errc::busy), WireError::busy);
  EXPECT_EQ(c.count(errc::storage), WireError::storage);
  EXPECT_EQ(c.count(errc::timeout), WireError::storage);  // not a wire code: answered as storage
  EXPECT_EQ(c[WireError::bad_json], 1u);
  EXPECT_EQ(c[WireError::too_large], 0u);
  EXPECT_EQ(c[WireError::busy], 2u);
  EXPECT_EQ(c[WireError::shutting_down], 0u);
  EXPECT_EQ(c[WireError::storage], 2u);
}

TEST(WireError, AdmissionRefusalsAreBusyAndShuttingDown) {
  std::vector<errc> admission;
  for (const WireErrorRow& r : kWireErrors)
    if (r.admission) admission.push_back(r.code);
  EXPECT_EQ(admission, (std::vector<errc>{errc::busy, errc::shutting_down}));
}

}  // namespace
}  // namespace bh
