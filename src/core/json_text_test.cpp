#include "core/json_text.hpp"

#include <gtest/gtest.h>

#include <limits>

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

TEST(JsonTextUtf8, InvalidBytesBecomeReplacementCharacters) {
  std::string out;
  append_json_string_utf8(out, "a\xff\"\n h\xc3\xa9 \xc3");
  EXPECT_EQ(out, "\"a\xef\xbf\xbd\\\"\\n h\xc3\xa9 \xef\xbf\xbd\"");
  EXPECT_EQ(std::string(boost::json::parse(out).as_string()),
            "a\xef\xbf\xbd\"\n h\xc3\xa9 \xef\xbf\xbd");
  // Long runs take the 8-byte path: the same answers.
  std::string long_text(40, 'x');
  long_text += "\x80";
  long_text += std::string(40, 'y');
  out.clear();
  append_json_string_utf8(out, long_text);
  EXPECT_EQ(out, "\"" + std::string(40, 'x') + "\xef\xbf\xbd" + std::string(40, 'y') + "\"");
}

TEST(JsonTextUtf8, ValuesKeepTheirTypesAndStringsAreMadeValid) {
  boost::json::object o;
  o["n"] = 12;
  o["u"] = std::uint64_t{18446744073709551615ULL};
  o["d"] = 2.5;
  o["b"] = true;
  o["z"] = nullptr;
  o["s\xfe"] = "x\xfey";
  o["a"] = boost::json::array{1, "two"};
  std::string out;
  append_json_value(out, o);
  EXPECT_EQ(out,
            "{\"n\":12,\"u\":18446744073709551615,\"d\":2.5,\"b\":true,\"z\":null,"
            "\"s\xef\xbf\xbd\":\"x\xef\xbf\xbdy\",\"a\":[1,\"two\"]}");
  EXPECT_TRUE(boost::json::parse(out).is_object());
}

TEST(JsonTextUtf8, DoublesAreWrittenAsPeopleWriteThemAndReadBackAsDoubles) {
  auto text = [](double d) {
    std::string out;
    append_json_value(out, boost::json::value(d));
    return out;
  };
  EXPECT_EQ(text(29.8), "29.8");
  EXPECT_EQ(text(0.001), "0.001");
  EXPECT_EQ(text(1.0), "1.0");
  EXPECT_EQ(text(-3.0), "-3.0");
  EXPECT_EQ(text(1e21), "1e+21");
  EXPECT_EQ(text(std::numeric_limits<double>::quiet_NaN()), "null");
  EXPECT_EQ(text(std::numeric_limits<double>::infinity()), "null");
  for (double d : {29.8, 1.0, 1e21, 1.047386576, 5e-324}) {
    boost::json::value back = boost::json::parse(text(d));
    ASSERT_TRUE(back.is_double()) << text(d);
    EXPECT_EQ(back.get_double(), d);
  }
}

}  // namespace
}  // namespace tender
