// LineFramer (wire.md §1 framing): LF and CRLF, blank lines, a final line only at EOF, the size
// limit at N-1, N and N+1, a too-large line skipped to its '\n' and the next line served, and the
// same result whatever the split of the stream into reads (every offset, and byte by byte).
#include "platform/ingest/line_framer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace bh {
namespace {

// "e:<text>" for an event, "blank", "too_large".
using Seen = std::vector<std::string>;

std::string show(const LineFramer::Line& l) {
  switch (l.kind) {
    case LineFramer::Kind::event: return "e:" + std::string(l.text);
    case LineFramer::Kind::blank: return "blank";
    case LineFramer::Kind::too_large: return "too_large";
    case LineFramer::Kind::need_more: break;
  }
  return "need_more";
}

// Frames `in` as a connection does: the bytes arrive in reads cut at `cuts` (ascending offsets),
// each read is appended to the unconsumed tail, lines are taken until need_more, the consumed
// prefix is dropped; at the end, EOF takes a last line without '\n'.
Seen frame(std::string_view in, std::size_t max, const std::vector<std::size_t>& cuts) {
  LineFramer f(max);
  Seen out;
  std::string buf;
  std::size_t from = 0;
  auto drain = [&](bool eof) {
    std::size_t consumed = 0;
    for (;;) {
      LineFramer::Line l = f.next(buf, consumed, eof);
      if (l.kind == LineFramer::Kind::need_more) break;
      out.push_back(show(l));
    }
    buf.erase(0, consumed);
  };
  for (std::size_t cut : cuts) {
    buf.append(in.substr(from, cut - from));
    from = cut;
    drain(false);
  }
  buf.append(in.substr(from));
  drain(false);
  drain(true);
  return out;
}

Seen frame_whole(std::string_view in, std::size_t max) { return frame(in, max, {}); }

TEST(LineFramer, LfAndCrlfEndALineAndOnlyOneCrIsDropped) {
  EXPECT_EQ(frame_whole("a\nb\r\nc\n", 64), (Seen{"e:a", "e:b", "e:c"}));
  EXPECT_EQ(frame_whole("x\ry\n", 64), (Seen{"e:x\ry"}));  // a '\r' inside a line is the line's
  EXPECT_EQ(frame_whole("z\r\r\n", 64), (Seen{"e:z\r"}));
  EXPECT_EQ(frame_whole("{\"a\":1}\r\n{\"b\":2}\n", 64), (Seen{"e:{\"a\":1}", "e:{\"b\":2}"}));
}

TEST(LineFramer, BlankLinesAreReportedAsBlank) {
  EXPECT_EQ(frame_whole("\n\r\n\nq\n\n", 64), (Seen{"blank", "blank", "blank", "e:q", "blank"}));
}

TEST(LineFramer, ALastLineWithoutNewlineIsTakenOnlyAtEof) {
  LineFramer f(64);
  std::size_t consumed = 0;
  EXPECT_EQ(f.next("ok\nabc", consumed).kind, LineFramer::Kind::event);
  EXPECT_EQ(consumed, 3u);
  EXPECT_EQ(f.next("ok\nabc", consumed).kind, LineFramer::Kind::need_more);
  EXPECT_EQ(consumed, 3u);  // the partial line stays unconsumed
  LineFramer::Line last = f.next("ok\nabc", consumed, /*eof=*/true);
  EXPECT_EQ(show(last), "e:abc");
  EXPECT_EQ(consumed, 6u);
  EXPECT_EQ(f.next("ok\nabc", consumed, true).kind, LineFramer::Kind::need_more);
  EXPECT_EQ(frame_whole("tail\r", 64), (Seen{"e:tail"}));
}

TEST(LineFramer, TheLimitAtNMinusOneNAndNPlusOne) {
  const std::size_t max = 8;
  EXPECT_EQ(frame_whole(std::string(7, 'a') + "\n", max), (Seen{"e:" + std::string(7, 'a')}));
  EXPECT_EQ(frame_whole(std::string(8, 'b') + "\n", max), (Seen{"e:" + std::string(8, 'b')}));
  EXPECT_EQ(frame_whole(std::string(8, 'c') + "\r\n", max), (Seen{"e:" + std::string(8, 'c')}));  // '\r' not counted
  EXPECT_EQ(frame_whole(std::string(9, 'd') + "\nnext\n", max), (Seen{"too_large", "e:next"}));
  EXPECT_EQ(frame_whole(std::string(9, 'e'), max), (Seen{"too_large"}));  // at EOF too
}

TEST(LineFramer, ATooLargeLineIsReportedOnceAndSkippedToItsNewlineThenFramingRecovers) {
  LineFramer f(8);
  std::size_t consumed = 0;
  // 10 bytes and no '\n' yet: past max + 1 (room for a '\r'), so too large already.
  std::string buf = "0123456789";
  EXPECT_EQ(f.next(buf, consumed).kind, LineFramer::Kind::too_large);
  EXPECT_EQ(consumed, buf.size());  // all of it dropped: the read buffer never fills up
  EXPECT_TRUE(f.skipping());
  // More of the same line: swallowed without a second report.
  buf = "abcdefghijklmnop";
  consumed = 0;
  EXPECT_EQ(f.next(buf, consumed).kind, LineFramer::Kind::need_more);
  EXPECT_EQ(consumed, buf.size());
  EXPECT_TRUE(f.skipping());
  // Its end, then a good line.
  buf = "xyz\n{\"ok\":1}\n";
  consumed = 0;
  EXPECT_EQ(show(f.next(buf, consumed)), "e:{\"ok\":1}");
  EXPECT_FALSE(f.skipping());
  EXPECT_EQ(consumed, buf.size());
  // A partial line of exactly max + 1 bytes may still end in "\r\n": not judged yet.
  LineFramer g(8);
  consumed = 0;
  EXPECT_EQ(g.next("012345678", consumed).kind, LineFramer::Kind::need_more);
  EXPECT_FALSE(g.skipping());
  EXPECT_EQ(show(g.next("012345678\r\n", consumed)), "too_large");
}

TEST(LineFramer, TheSameLinesWhereverTheStreamIsSplit) {
  const std::size_t max = 8;
  const std::string in = std::string("a\r\n") + "\n" + "12345678\n" + "123456789\n" + "\r\n" + "0123456789abcdef\r\n" +
                         "{\"k\":1}\n" + "x\ry\n" + "last";
  const Seen want{"e:a", "blank", "e:12345678", "too_large", "blank", "too_large", "e:{\"k\":1}", "e:x\ry", "e:last"};
  ASSERT_EQ(frame_whole(in, max), want);
  for (std::size_t i = 0; i <= in.size(); ++i) EXPECT_EQ(frame(in, max, {i}), want) << "split at " << i;
  for (std::size_t i = 0; i <= in.size(); ++i)
    for (std::size_t j = i; j <= in.size(); ++j) ASSERT_EQ(frame(in, max, {i, j}), want) << "split at " << i << "," << j;
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < in.size(); ++i) every.push_back(i);
  EXPECT_EQ(frame(in, max, every), want) << "byte by byte";
}

}  // namespace
}  // namespace bh
