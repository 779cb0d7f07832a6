// platform/sources/close_codes.hpp: the "LO-HI=action" rule syntax, first match wins, the Pusher
// defaults when no rule is given, and what no rule names.
#include <gtest/gtest.h>

#include <vector>

#include "platform/sources/close_codes.hpp"

namespace bh {
namespace {

std::vector<CloseRule> rules(std::initializer_list<const char*> texts) {
  std::vector<CloseRule> out;
  for (const char* t : texts) {
    CloseRule r;
    EXPECT_EQ(parse_close_rule(t, r), nullptr) << t;
    out.push_back(r);
  }
  return out;
}

TEST(CloseCodes, ParsesRangesSingleCodesAndSpaces) {
  CloseRule r;
  ASSERT_EQ(parse_close_rule("4000-4099=stop", r), nullptr);
  EXPECT_EQ(r.lo, 4000);
  EXPECT_EQ(r.hi, 4099);
  EXPECT_EQ(r.action, CloseAction::stop);
  ASSERT_EQ(parse_close_rule(" 4201 = reconnect ", r), nullptr);
  EXPECT_EQ(r.lo, 4201);
  EXPECT_EQ(r.hi, 4201);
  EXPECT_EQ(r.action, CloseAction::reconnect);
  ASSERT_EQ(parse_close_rule("1000-4999=backoff", r), nullptr);
  EXPECT_EQ(r.action, CloseAction::backoff);
}

TEST(CloseCodes, RefusesWhatIsNotARule) {
  for (const char* bad : {"", "4000", "4000-4099", "=stop", "4000-4099=halt", "4099-4000=stop", "999=stop",
                          "5000=stop", "40x0=stop", "4000-=stop", "-4000=stop", "4000-4099-4100=stop",
                          "4000=stop=stop", "4000=Stop"}) {
    CloseRule r{1, 2, CloseAction::reconnect};
    EXPECT_NE(parse_close_rule(bad, r), nullptr) << bad;
    EXPECT_EQ(r.lo, 1) << bad << ": a refused rule leaves `out` alone";
  }
}

TEST(CloseCodes, DefaultsAreThePusherRanges) {
  const std::span<const CloseRule> none;
  EXPECT_EQ(close_action(none, 3999), CloseAction::backoff);
  EXPECT_EQ(close_action(none, 4000), CloseAction::stop);
  EXPECT_EQ(close_action(none, 4099), CloseAction::stop);
  EXPECT_EQ(close_action(none, 4100), CloseAction::backoff);
  EXPECT_EQ(close_action(none, 4199), CloseAction::backoff);
  EXPECT_EQ(close_action(none, 4200), CloseAction::reconnect);
  EXPECT_EQ(close_action(none, 4201), CloseAction::reconnect);
  EXPECT_EQ(close_action(none, 4299), CloseAction::reconnect);
  EXPECT_EQ(close_action(none, 4300), CloseAction::backoff);
  EXPECT_EQ(close_action(none, 1000), CloseAction::backoff);
  EXPECT_EQ(close_action(none, 1005), CloseAction::backoff);  // a close without a code
}

TEST(CloseCodes, FirstMatchWinsAndUnmatchedBacksOff) {
  const auto r = rules({"4201=stop", "4200-4299=reconnect", "4000-4999=stop"});
  EXPECT_EQ(close_action(r, 4201), CloseAction::stop);
  EXPECT_EQ(close_action(r, 4200), CloseAction::reconnect);
  EXPECT_EQ(close_action(r, 4202), CloseAction::reconnect);
  EXPECT_EQ(close_action(r, 4100), CloseAction::stop);
  // Given rules replace the defaults entirely: 1001 matches none of them.
  EXPECT_EQ(close_action(r, 1001), CloseAction::backoff);
  const auto only = rules({"1000=reconnect"});
  EXPECT_EQ(close_action(only, 1000), CloseAction::reconnect);
  EXPECT_EQ(close_action(only, 4000), CloseAction::backoff);  // not the default's stop
}

static_assert(close_action({}, 4050) == CloseAction::stop);

}  // namespace
}  // namespace bh
