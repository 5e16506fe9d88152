#include "core/log.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace tender::log {
namespace {

TEST(Log, TextLineQuotesAmbiguousValues) {
  Settings s;
  s.role = "echo";
  std::string line = format_line(s, Level::kWarn, "2026-01-01T00:00:00.000Z", "slow request",
                                 {{"path", "/a b"}, {"ms", 12}, {"empty", ""}});
  EXPECT_EQ(line,
            "2026-01-01T00:00:00.000Z warn echo: slow request path=\"/a b\" ms=12 empty=\"\"\n");
}

TEST(Log, JsonLineIsValidJson) {
  Settings s;
  s.role = "echo";
  s.format = Format::kJson;
  std::string line = format_line(s, Level::kError, "T", "bad \"thing\"\n",
                                 {{"n", 3}, {"ratio", 0.5}, {"ctl", std::string("\x01")}});
  ASSERT_EQ(line.back(), '\n');
  auto v = boost::json::parse(line);
  EXPECT_EQ(v.at("level").as_string(), "error");
  EXPECT_EQ(v.at("role").as_string(), "echo");
  EXPECT_EQ(v.at("msg").as_string(), "bad \"thing\"\n");
  EXPECT_EQ(v.at("n").as_int64(), 3);
  EXPECT_DOUBLE_EQ(v.at("ratio").as_double(), 0.5);
  EXPECT_EQ(v.at("ctl").as_string(), "\x01");
}

TEST(Log, LevelsParseAndFilter) {
  EXPECT_EQ(parse_level("warning"), Level::kWarn);
  EXPECT_FALSE(parse_level("loud").has_value());
  EXPECT_EQ(parse_format("json"), Format::kJson);
  EXPECT_FALSE(parse_format("xml").has_value());
  Settings s;
  s.level = Level::kWarn;
  configure(s);
  EXPECT_FALSE(enabled(Level::kInfo));
  EXPECT_TRUE(enabled(Level::kError));
  configure(Settings{});
}

}  // namespace
}  // namespace tender::log
