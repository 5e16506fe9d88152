#include "sidecar/record_parse.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace tender::sidecar {
namespace {

// --- FieldParser -----------------------------------------------------------------------------

Record parsed(ParseMode mode, std::string text, std::string regex = {}) {
  RecordOptions o;
  o.parse = mode;
  o.regex = std::move(regex);
  auto parser = FieldParser::create(o);
  EXPECT_TRUE(parser) << parser.error().message();
  Record record;
  record.text = std::move(text);
  const bool ok = parser->parse(record);
  EXPECT_EQ(ok, record.parse_error.empty());
  return record;
}

TEST(FieldParser, JsonErrorsSayWhy) {
  EXPECT_EQ(parsed(ParseMode::kJson, "\"s\"").parse_error, "json: not an object but a string");
  EXPECT_EQ(parsed(ParseMode::kJson, "12").parse_error, "json: not an object but a number");
  EXPECT_EQ(parsed(ParseMode::kJson, "null").parse_error, "json: not an object but null");
  EXPECT_EQ(parsed(ParseMode::kJson, "true").parse_error, "json: not an object but a boolean");
  auto bad = parsed(ParseMode::kJson, R"({"a":1,})");
  EXPECT_TRUE(bad.parse_error.starts_with("json: ")) << bad.parse_error;
  EXPECT_TRUE(bad.fields.empty());
  auto incomplete = parsed(ParseMode::kJson, R"({"a":)");
  EXPECT_TRUE(incomplete.parse_error.starts_with("json: ")) << incomplete.parse_error;
  auto trailing = parsed(ParseMode::kJson, R"({"a":1} x)");
  EXPECT_TRUE(trailing.parse_error.starts_with("json: ")) << trailing.parse_error;
  EXPECT_TRUE(parsed(ParseMode::kJson, "").parse_error.starts_with("json: "));
}

TEST(FieldParser, JsonKeepsNestedValuesAndTypes) {
  auto r = parsed(ParseMode::kJson, R"( {"a":{"b":[1,2.5,"x"]},"ok":true,"n":null} )");
  EXPECT_EQ(boost::json::value(r.fields),
            boost::json::parse(R"({"a":{"b":[1,2.5,"x"]},"ok":true,"n":null})"));
}

TEST(FieldParser, OneParserParsesRecordAfterRecord) {
  RecordOptions o;
  o.parse = ParseMode::kJson;
  auto parser = FieldParser::create(o);
  ASSERT_TRUE(parser);
  for (int i = 0; i < 3; ++i) {
    Record bad;
    bad.text = "{";
    EXPECT_FALSE(parser->parse(bad));
    Record good;
    good.text = R"({"i":)" + std::to_string(i) + "}";
    EXPECT_TRUE(parser->parse(good));
    EXPECT_EQ(good.fields.at("i").as_int64(), i);
  }
}

TEST(FieldParser, RawLeavesRecordsAlone) {
  auto r = parsed(ParseMode::kRaw, "a=1 {\"x\":1}");
  EXPECT_TRUE(r.fields.empty());
  EXPECT_TRUE(r.parse_error.empty());
}

TEST(FieldParser, LogfmtAndRegexErrorsArePrefixed) {
  EXPECT_EQ(parsed(ParseMode::kLogfmt, "a=\"x").parse_error,
            "logfmt: unterminated quoted value at byte 2");
  EXPECT_EQ(parsed(ParseMode::kRegex, "zzz", "^(?<d>\\d+)$").parse_error, "regex: no match");
}

}  // namespace
}  // namespace tender::sidecar
