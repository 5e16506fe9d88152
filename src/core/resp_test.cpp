#include "core/resp.hpp"

#include <gtest/gtest.h>

namespace tender::resp {
namespace {

TEST(Resp, CommandIsAnArrayOfBulkStrings) {
  EXPECT_EQ(command({"CONFIG", "GET", "maxclients"}),
            "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$10\r\nmaxclients\r\n");
  EXPECT_EQ(command({"AUTH", "pa ss\r\n"}), "*2\r\n$4\r\nAUTH\r\n$7\r\npa ss\r\n\r\n");
}

TEST(Resp, ParsesEachKindAndSaysHowManyBytesItTook) {
  auto r = parse_reply("+OK\r\n:12\r\n", 1024);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->value.describe(), "+OK");
  EXPECT_EQ((*r)->size, 5U);
  r = parse_reply("-NOAUTH Authentication required.\r\n", 1024);
  ASSERT_TRUE(r && *r);
  EXPECT_TRUE((*r)->value.is_error());
  EXPECT_EQ((*r)->value.text, "NOAUTH Authentication required.");
  r = parse_reply("$-1\r\n", 1024);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->value.kind, Value::Kind::kNull);
  r = parse_reply("*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n", 1024);
  ASSERT_TRUE(r && *r);
  ASSERT_EQ((*r)->value.elements.size(), 2U);
  EXPECT_EQ((*r)->value.elements[0].text, "maxmemory");
  EXPECT_EQ((*r)->value.elements[1].text, "0");
}

TEST(Resp, BulkStringsAreFramedByTheirLengthNotByLines) {
  auto r = parse_reply("$11\r\na\r\nb\r\n:1\r\nc\r\n", 1024);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->value.text, "a\r\nb\r\n:1\r\nc");
  EXPECT_EQ((*r)->size, 18U);
}

TEST(Resp, EveryPrefixOfAReplyIsIncomplete) {
  const std::string whole = "*3\r\n$3\r\nabc\r\n:-4\r\n*1\r\n+x\r\n";
  for (std::size_t n = 0; n < whole.size(); ++n) {
    auto r = parse_reply(std::string_view(whole).substr(0, n), 1024);
    ASSERT_TRUE(r) << n << ": " << r.error().message();
    EXPECT_FALSE(*r) << n;
  }
  auto r = parse_reply(whole, 1024);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->size, whole.size());
}

TEST(Resp, RefusesAReplyLargerThanTheLimitBeforeItsBytesCome) {
  auto r = parse_reply("$17000000\r\nabc", 16 << 20);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), std::errc::message_size);
  EXPECT_EQ(r.error().message(), "reply larger than 16777216 bytes");
  r = parse_reply("*100000000\r\n", 16 << 20);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), std::errc::message_size);
  r = parse_reply(std::string(100, '+'), 64);  // a line that never ends
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), std::errc::message_size);
}

TEST(Resp, RefusesWhatIsNotResp) {
  for (std::string_view bad : {"HTTP/1.1 400 Bad Request\r\n", "$abc\r\n", "$3\r\nabcde\r\n",
                               ":1x\r\n", "$-2\r\n", "\r\n", "+a\rb\r\n"}) {
    auto r = parse_reply(bad, 1024);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), std::errc::protocol_error) << bad;
  }
  std::string deep;
  for (int i = 0; i < 20; ++i) {
    deep += "*1\r\n";
  }
  deep += ":1\r\n";
  EXPECT_FALSE(parse_reply(deep, 1024));
}

}  // namespace
}  // namespace tender::resp
