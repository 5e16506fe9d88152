#include "core/json_text.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace tender {
namespace {

// What a JSON parser reads back from the appended text.
std::string read_back(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return std::string(boost::json::parse(out).as_string());
}

TEST(JsonText, EveryAsciiCharacterReadsBackAsItWas) {
  std::string all;
  for (int c = 0; c < 0x80; ++c) {
    all.push_back(static_cast<char>(c));
  }
  EXPECT_EQ(read_back(all), all);
  for (char c : all) {  // each alone, and between plain characters
    std::string one(1, c);
    EXPECT_EQ(read_back(one), one) << static_cast<int>(c);
    EXPECT_EQ(read_back("a" + one + "b"), "a" + one + "b") << static_cast<int>(c);
  }
}

TEST(JsonText, EscapesOnlyWhatJsonRequires) {
  std::string out = "x";
  append_json_string(out, "say \"hi\"\\\n\t\x01 h\xc3\xa9llo");
  EXPECT_EQ(out, "x\"say \\\"hi\\\"\\\\\\n\\t\\u0001 h\xc3\xa9llo\"");
  EXPECT_EQ(read_back(""), "");
  EXPECT_EQ(read_back("\xe2\x9c\x93 ok"), "\xe2\x9c\x93 ok");  // UTF-8 copied as it is
}

}  // namespace
}  // namespace tender
