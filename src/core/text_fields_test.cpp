#include "core/text_fields.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace tender {
namespace {

boost::json::value logfmt(std::string_view line) {
  auto fields = parse_logfmt(line);
  if (!fields) {
    ADD_FAILURE() << line << ": " << fields.error().message();
    return nullptr;
  }
  return *fields;
}

std::string logfmt_error(std::string_view line) {
  auto fields = parse_logfmt(line);
  if (fields) {
    return "parsed: " + boost::json::serialize(*fields);
  }
  EXPECT_EQ(fields.error().code(), std::errc::invalid_argument);
  return fields.error().message();
}

TEST(Logfmt, PairsBareAndQuotedValues) {
  EXPECT_EQ(logfmt(R"(ts=2026-12-06T12:00:00Z level=info msg="user logged in" user=42)"),
            boost::json::parse(R"({"ts":"2026-12-06T12:00:00Z","level":"info",
                                   "msg":"user logged in","user":"42"})"));
}

TEST(Logfmt, BareKeysAreTrueAndEmptyValuesEmpty) {
  EXPECT_EQ(logfmt("debug a= b=\"\" c"),
            boost::json::parse(R"({"debug":true,"a":"","b":"","c":true})"));
}

TEST(Logfmt, EscapesInQuotedValues) {
  EXPECT_EQ(logfmt(R"(msg="say \"hi\"\n\ttab \\ slash\/ \u00e9 \ud83d\ude00")"),
            boost::json::parse(R"({"msg":"say \"hi\"\n\ttab \\ slash/ \u00e9 \ud83d\ude00"})"));
  // A lone surrogate becomes U+FFFD, as Go's unquoting does.
  EXPECT_EQ(logfmt(R"(x="\ud800!")"), boost::json::parse(R"({"x":"\ufffd!"})"));
}

TEST(Logfmt, QuotedValuesWithoutEscapesAreTakenAsTheyAre) {
  EXPECT_EQ(logfmt("path=\"C:\tdir\" k=v"), boost::json::parse(R"({"path":"C:\tdir","k":"v"})"));
}

TEST(Logfmt, SeparatorsAreAnyBytesUpToSpace) {
  EXPECT_EQ(logfmt("  a=1\t\tb=2 \n c=3  "), boost::json::parse(R"({"a":"1","b":"2","c":"3"})"));
  EXPECT_EQ(logfmt(""), boost::json::parse("{}"));
  EXPECT_EQ(logfmt("   "), boost::json::parse("{}"));
}

TEST(Logfmt, AQuotedValueNeedsNoSpaceAfterIt) {
  EXPECT_EQ(logfmt(R"(a="x"b=y)"), boost::json::parse(R"({"a":"x","b":"y"})"));
}

TEST(Logfmt, ARepeatedKeyKeepsItsLastValue) {
  EXPECT_EQ(logfmt("k=1 k=2"), boost::json::parse(R"({"k":"2"})"));
}

TEST(Logfmt, KeysMayHoldAnythingButEqualsQuoteAndSpace) {
  EXPECT_EQ(logfmt("http.status=200 caller=main.go:42 größe=1"),
            boost::json::parse(R"({"http.status":"200","caller":"main.go:42","größe":"1"})"));
}

TEST(Logfmt, ErrorsSayWhatAndWhere) {
  EXPECT_EQ(logfmt_error("=x"), "unexpected '=' at byte 0");
  EXPECT_EQ(logfmt_error("a=1 =x"), "unexpected '=' at byte 4");
  EXPECT_EQ(logfmt_error("a\"b=1"), "unexpected '\"' at byte 1");
  EXPECT_EQ(logfmt_error("a=b=c"), "unexpected '=' at byte 3");
  EXPECT_EQ(logfmt_error("a=b\"c"), "unexpected '\"' at byte 3");
  EXPECT_EQ(logfmt_error("a=1 msg=\"open"), "unterminated quoted value at byte 8");
  EXPECT_EQ(logfmt_error(R"(msg="ends with \")"), "unterminated quoted value at byte 4");
  EXPECT_EQ(logfmt_error(R"(a="\x")"), "invalid quoted value at byte 2");
  EXPECT_EQ(logfmt_error(R"(a="\u12")"), "invalid quoted value at byte 2");
}

// --- regular expressions -------------------------------------------------------------------------

TEST(NamedGroups, AllThreeSpellingsInOrder) {
  EXPECT_EQ(named_groups(R"((?<a>x)(?'b'y)(?P<c>z)(plain)(?:nc)(?<a>again))"),
            (std::vector<std::string>{"a", "b", "c"}));
}

TEST(NamedGroups, LookbehindsEscapesAndClassesAreNotGroups) {
  EXPECT_EQ(named_groups(R"((?<=x)(?<!y)\(?<no>a)[(?<no2>b)]\Q(?<no3>\E(?<yes>c))"),
            (std::vector<std::string>{"yes"}));
  EXPECT_EQ(named_groups(R"([]\](?<no>][[:alpha:](?<no2>]+(?<y>.))"),
            (std::vector<std::string>{"y"}));
}

std::shared_ptr<const CompiledRegex> compile(const std::string& pattern, bool groups = true) {
  auto compiled = compile_regex("regex", pattern, groups);
  if (!compiled) {
    ADD_FAILURE() << compiled.error().message();
    return nullptr;
  }
  return *compiled;
}

TEST(CompileRegex, ErrorsNameTheOptionAndPosition) {
  auto bad = compile_regex("multiline_start", "ab(c", false);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), std::errc::invalid_argument);
  EXPECT_TRUE(bad.error().message().starts_with("multiline_start: ")) << bad.error().message();
  EXPECT_TRUE(bad.error().message().ends_with(" at 4")) << bad.error().message();
  EXPECT_EQ(bad.error().message().find("HERE"), std::string::npos) << bad.error().message();
  auto none = compile_regex("regex", "(a)(b)", true);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message(),
            "regex: no named group (?<name>...) to take a field from: (a)(b)");
  EXPECT_TRUE(compile_regex("multiline_start", "(a)(b)", false));
}

TEST(CompileRegex, TheSameExpressionIsCompiledOnce) {
  auto a = compile("(?<x>same)");
  auto b = compile("(?<x>same)");
  EXPECT_EQ(a.get(), b.get());
  auto c = compile("(?<x>other)");
  EXPECT_NE(a.get(), c.get());
}

TEST(ParseRegex, NamedGroupsBecomeStringFields) {
  auto re = compile(R"re(^(?<ip>\S+) (?<user>\S+)(?: (?<extra>x))? "(?<path>[^"]*)"$)re");
  ASSERT_TRUE(re);
  auto fields = parse_regex(*re, R"(10.0.0.1 - "/index.html")");
  ASSERT_TRUE(fields) << fields.error().message();
  // `extra` took no part in the match: no field.
  EXPECT_EQ(boost::json::value(*fields),
            boost::json::parse(R"({"ip":"10.0.0.1","user":"-","path":"/index.html"})"));
  auto miss = parse_regex(*re, "nothing like it");
  ASSERT_FALSE(miss);
  EXPECT_EQ(miss.error().message(), "no match");
}

TEST(ParseRegex, AnEmptyGroupAtTheEndIsAnEmptyField) {
  auto re = compile(R"(^(?<a>\w+)=(?<b>\w*)$)");
  ASSERT_TRUE(re);
  auto fields = parse_regex(*re, "k=");
  ASSERT_TRUE(fields);
  EXPECT_EQ(boost::json::value(*fields), boost::json::parse(R"({"a":"k","b":""})"));
}

TEST(ParseRegex, PerlDefaultsForMultilineText) {
  // ^ and $ are the ends of the text and '.' stops at a newline, as in Perl.
  auto re = compile(R"(^(?<first>.*)$)");
  ASSERT_TRUE(re);
  EXPECT_FALSE(parse_regex(*re, "one\ntwo"));
  auto search = compile(R"((?<first>.+))");
  auto fields = parse_regex(*search, "one\ntwo");
  ASSERT_TRUE(fields);
  EXPECT_EQ(boost::json::value(*fields), boost::json::parse(R"({"first":"one"})"));
  // (?s) and (?m) ask for the other behaviour.
  auto s = compile(R"((?s)^(?<all>.*)$)");
  fields = parse_regex(*s, "one\ntwo");
  ASSERT_TRUE(fields);
  EXPECT_EQ(boost::json::value(*fields), boost::json::parse(R"({"all":"one\ntwo"})"));
  auto m = compile(R"((?m)^(?<second>t.*)$)");
  fields = parse_regex(*m, "one\ntwo");
  ASSERT_TRUE(fields);
  EXPECT_EQ(boost::json::value(*fields), boost::json::parse(R"({"second":"two"})"));
}

TEST(RegexSearch, SearchesAnywhereUnlessAnchored) {
  auto re = compile(R"(\d{4}-\d\d)", false);
  EXPECT_TRUE(regex_search(*re, "at 2026-12 x"));
  auto anchored = compile(R"(^\d{4}-\d\d)", false);
  EXPECT_FALSE(regex_search(*anchored, "at 2026-12 x"));
  EXPECT_TRUE(regex_search(*anchored, "2026-12 x"));
}

TEST(RegexSearch, AnExpressionTooComplexForItsTextDoesNotMatch) {
  // Exponential backtracking: Boost.Regex gives up and this is "no match", not a crash.
  auto re = compile(R"((?<a>(x+x+)+y))");
  const std::string text(64, 'x');
  EXPECT_FALSE(regex_search(*re, text));
  auto fields = parse_regex(*re, text);
  ASSERT_FALSE(fields);
  EXPECT_EQ(fields.error().message(), "too complex to match");
}

}  // namespace
}  // namespace tender
