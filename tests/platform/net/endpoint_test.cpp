// parse_listen: numeric IPv4 and bracketed IPv6 with a port; everything else refused.
#include "platform/net/endpoint.hpp"

#include <gtest/gtest.h>

namespace bh {
namespace {

TEST(Endpoint, ParsesNumericListenAddresses) {
  asio::ip::tcp::endpoint ep;
  ASSERT_TRUE(parse_listen("127.0.0.1:7700", ep));
  EXPECT_EQ(ep.address().to_string(), "127.0.0.1");
  EXPECT_EQ(ep.port(), 7700);
  ASSERT_TRUE(parse_listen("[::1]:65535", ep));
  EXPECT_TRUE(ep.address().is_v6());
  EXPECT_EQ(ep.port(), 65535);
}

TEST(Endpoint, RefusesMalformedAddresses) {
  asio::ip::tcp::endpoint ep(asio::ip::make_address("10.0.0.1"), 1);
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:7x",
                          "localhost:80", ":80", "[::1:80", "::1:80x"}) {
    EXPECT_FALSE(parse_listen(bad, ep)) << bad;
  }
  EXPECT_EQ(ep.port(), 1) << "unchanged on refusal";
}

}  // namespace
}  // namespace bh
