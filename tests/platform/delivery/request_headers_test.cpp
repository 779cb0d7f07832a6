// RequestHeaders: the checks on configured lines (token names, no CR/LF or control bytes, bounds,
// reserved names), packing, Content-Type detection, and errors that never repeat a value.
#include "platform/delivery/request_headers.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bh {
namespace {

TEST(RequestHeaders, PacksLinesNormalisingTheSpaceAfterTheColon) {
  RequestHeaders h;
  std::string err;
  std::vector<std::string> lines{"Authorization: Bot abc.def", "X-Key:k1", "X-Pad:   v  "};
  ASSERT_TRUE(h.assign(lines, err)) << err;
  EXPECT_EQ(h.lines(), "Authorization: Bot abc.def\r\nX-Key: k1\r\nX-Pad: v\r\n");
  EXPECT_EQ(h.count(), 3u);
  EXPECT_FALSE(h.has_content_type());
  ASSERT_TRUE(h.assign(std::vector<std::string>{"content-TYPE: text/plain"}, err));
  EXPECT_TRUE(h.has_content_type());
  ASSERT_TRUE(h.assign({}, err));
  EXPECT_EQ(h.lines(), "");
}

TEST(RequestHeaders, BadLinesAreRefusedWithoutTheirValue) {
  const char* secret = "s3cr3t-token";
  std::vector<std::pair<std::string, std::string>> bad{
      {std::string("Authorization ") + secret, "no colon"},
      {std::string(": ") + secret, "empty header name"},
      {std::string("Bad Name: ") + secret, "not a token"},
      {std::string("X(y): ") + secret, "not a token"},
      {std::string("X: ") + secret + "\r\nInjected: 1", "CR or LF"},
      {std::string("X: ") + secret + "\n", "CR or LF"},
      {std::string("X: a") + '\0' + secret, "control byte"},
      {std::string("X: a\x7f") + secret, "control byte"},
      {std::string("Host: ") + secret, "writes this header itself"},
      {std::string("content-length: 5"), "writes this header itself"},
      {std::string("Connection: close"), "writes this header itself"},
      {std::string("Transfer-Encoding: chunked"), "writes this header itself"},
      {std::string(65, 'N') + ": v", "longer than 64"},
      {"X: " + std::string(510, 'v'), "longer than 512"},
  };
  for (auto& [line, why] : bad) {
    RequestHeaders h;
    std::string err;
    std::vector<std::string> lines{"Ok: 1", line};
    EXPECT_FALSE(h.assign(lines, err)) << line;
    EXPECT_NE(err.find("header 1"), std::string::npos) << err;
    EXPECT_NE(err.find(why), std::string::npos) << err;
    EXPECT_EQ(err.find(secret), std::string::npos) << "the error repeats the value: " << err;
    EXPECT_EQ(h.lines(), "") << "a refused set packs nothing";
  }
  EXPECT_EQ(RequestHeaders::line_problem("X-Tab: a\tb"), "");
}

TEST(RequestHeaders, CountAndTotalBounds) {
  RequestHeaders h;
  std::string err;
  std::vector<std::string> lines(RequestHeaders::kMaxHeaders, "X: v");  // N
  EXPECT_TRUE(h.assign(lines, err)) << err;
  lines.push_back("X: v");  // N+1
  EXPECT_FALSE(h.assign(lines, err));
  EXPECT_NE(err.find("at most 16"), std::string::npos) << err;
  // Each line under its own bound, together over the total.
  std::vector<std::string> big(3, "X-Big: " + std::string(400, 'v'));
  EXPECT_FALSE(h.assign(big, err));
  EXPECT_NE(err.find("more than 1024 bytes"), std::string::npos) << err;
  EXPECT_NE(err.find("X-Big"), std::string::npos) << err;
  EXPECT_EQ(err.find("vvvv"), std::string::npos) << err;
  big.pop_back();
  EXPECT_TRUE(h.assign(big, err)) << err;
}

}  // namespace
}  // namespace bh
