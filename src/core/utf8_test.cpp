#include "core/utf8.hpp"

#include <gtest/gtest.h>

namespace tender {
namespace {

TEST(Utf8, AcceptsWhatRfc3629Allows) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain ascii"));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_TRUE(valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF, the last code point
}

TEST(Utf8, RefusesWhatItForbids) {
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_FALSE(valid_utf8("\x80"));              // a stray continuation byte
  EXPECT_FALSE(valid_utf8("\xc3"));              // cut short
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));      // overlong, three bytes
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
}

TEST(Utf8, ReplacesEachBadByteAndKeepsTheRest) {
  const std::string fffd = "\xEF\xBF\xBD";
  std::string out = "<";
  append_valid_utf8(out,
                    "a\xff"
                    "b\xc3\xa9\xe2\x82");
  EXPECT_EQ(out, "<a" + fffd + "b\xc3\xa9" + fffd + fffd);
  std::string same;
  append_valid_utf8(same, "caf\xc3\xa9");
  EXPECT_EQ(same, "caf\xc3\xa9");
}

}  // namespace
}  // namespace tender
