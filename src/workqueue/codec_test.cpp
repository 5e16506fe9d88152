#include "workqueue/codec.hpp"

#include <gtest/gtest.h>

namespace tender::workqueue {
namespace {

TEST(Codec, Base64RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    bytes.push_back(static_cast<char>(i * 37));
    auto back = base64_decode(base64_encode(bytes));
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, bytes);
  }
  EXPECT_EQ(base64_encode("hi"), "aGk=");
  EXPECT_EQ(base64_encode("hi!"), "aGkh");
}

TEST(Codec, Base64RefusesWhatItCannotDecodeExactly) {
  EXPECT_FALSE(base64_decode("abc"));
  EXPECT_FALSE(base64_decode("ab$d"));
  EXPECT_FALSE(base64_decode("a=bc"));
  EXPECT_FALSE(base64_decode("ab=c"));
  EXPECT_FALSE(base64_decode("aGk=aGk="));
}

TEST(Codec, BytesGoAsTextOrBase64) {
  boost::json::object o;
  put_bytes(o, "payload", "hello");
  put_bytes(o, "result", std::string("\x00\xff", 2));
  EXPECT_EQ(o["payload"].as_string(), "hello");
  EXPECT_EQ(o["result_base64"].as_string(), "AP8=");
  auto p = get_bytes(o, "payload");
  auto r = get_bytes(o, "result");
  ASSERT_TRUE(p && r);
  EXPECT_EQ(**p, "hello");
  EXPECT_EQ(**r, std::string("\x00\xff", 2));
  auto none = get_bytes(o, "other");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  o["payload_base64"] = "aGk=";
  EXPECT_FALSE(get_bytes(o, "payload"));  // both given
}

}  // namespace
}  // namespace tender::workqueue
