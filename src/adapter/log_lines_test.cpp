#include "adapter/log_lines.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace tender::adapter {
namespace {

struct Got {
  std::vector<std::pair<std::string, bool>> lines;
  auto sink() {
    return [this](std::string_view line, bool cut) { lines.emplace_back(std::string(line), cut); };
  }
};

using Lines = std::vector<std::pair<std::string, bool>>;

TEST(LineSplitter, LinesAcrossChunksAndCrLf) {
  LineSplitter s(64);
  Got g;
  s.feed("one\ntw", g.sink());
  s.feed("o\r\nthree", g.sink());
  EXPECT_EQ(g.lines, (Lines{{"one", false}, {"two", false}}));
  EXPECT_EQ(s.held(), 5U);
  s.finish(g.sink());
  EXPECT_EQ(g.lines, (Lines{{"one", false}, {"two", false}, {"three", false}}));
  s.feed("\n\n", g.sink());  // empty lines are lines
  EXPECT_EQ(g.lines.size(), 5U);
}

TEST(LineSplitter, ALongLineIsCutOnceAndItsRestSkipped) {
  LineSplitter s(8);
  Got g;
  s.feed("12345678\n", g.sink());  // exactly the limit: whole
  s.feed("123456789abc", g.sink());
  EXPECT_EQ(g.lines, (Lines{{"12345678", false}, {"12345678", true}}));
  s.feed(std::string(1000, 'x'), g.sink());  // still the same line: skipped, nothing held
  EXPECT_EQ(s.held(), 0U);
  s.feed("yy\nnext\n", g.sink());
  EXPECT_EQ(g.lines, (Lines{{"12345678", false}, {"12345678", true}, {"next", false}}));
}

TEST(LineSplitter, ACutAcrossChunksHoldsAtMostTheLimit) {
  LineSplitter s(8);
  Got g;
  s.feed("abcd", g.sink());
  s.feed("efgh", g.sink());
  EXPECT_EQ(s.held(), 8U);
  s.feed("i", g.sink());
  EXPECT_EQ(g.lines, (Lines{{"abcdefgh", true}}));
  EXPECT_EQ(s.held(), 0U);
  s.finish(g.sink());  // the end of a stream ends the skipping too
  s.feed("z\n", g.sink());
  EXPECT_EQ(g.lines, (Lines{{"abcdefgh", true}, {"z", false}}));
}

}  // namespace
}  // namespace tender::adapter
