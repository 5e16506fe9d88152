#include "core/ascii.hpp"

#include <gtest/gtest.h>

namespace tender {
namespace {

TEST(Ascii, ChangesOnlyTheLettersAToZ) {
  EXPECT_EQ(ascii_lower("Content-Length: 12"), "content-length: 12");
  EXPECT_EQ(ascii_upper("net_admin@[x]"), "NET_ADMIN@[X]");
  // Bytes above 127 (UTF-8 here) and the characters beside the letters in ASCII stay.
  EXPECT_EQ(ascii_lower("\xc3\x89T\xc3\xa9@[`{"), "\xc3\x89t\xc3\xa9@[`{");
  EXPECT_EQ(ascii_upper("\xc3\xa9t\xc3\x89@[`{"), "\xc3\xa9T\xc3\x89@[`{");
  static_assert(ascii_lower('Z') == 'z' && ascii_lower('z') == 'z' && ascii_lower('@') == '@');
  static_assert(ascii_upper('a') == 'A' && ascii_upper('`') == '`' && ascii_upper('{') == '{');
}

}  // namespace
}  // namespace tender
