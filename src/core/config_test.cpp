#include "core/config.hpp"

#include <gtest/gtest.h>

namespace tender {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsUnitsAndCombinations) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("10s"), milliseconds(10'000));
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1'500));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120'000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3'600'000));
  EXPECT_EQ(parse_duration("1m30s"), milliseconds(90'000));
  EXPECT_EQ(parse_duration("30"), milliseconds(30'000));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
}

TEST(ParseDuration, MicrosecondsRoundToTheMillisecondUnlessAskedFor) {
  using std::chrono::microseconds;
  EXPECT_EQ(parse_duration_us("50us"), microseconds(50));
  EXPECT_EQ(parse_duration_us("1ms500us"), microseconds(1'500));
  EXPECT_EQ(parse_duration_us("0.25ms"), microseconds(250));
  EXPECT_EQ(parse_duration_us("2s"), microseconds(2'000'000));
  EXPECT_EQ(parse_duration("1500us"), milliseconds(2));
  EXPECT_EQ(parse_duration("400us"), milliseconds(0));
  EXPECT_FALSE(parse_duration_us("50 us").has_value());
  EXPECT_FALSE(parse_duration_us("-5us").has_value());
}

TEST(ParseDuration, RejectsGarbage) {
  for (const char* bad : {"", "s", "10x", "-1s", "ten", "1s2", "1 s", "nan", "1e400s"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(FormatDuration, RoundTrips) {
  for (int ms : {0, 250, 1000, 30'000, 60'000, 90'000, 3'600'000}) {
    EXPECT_EQ(parse_duration(format_duration(milliseconds(ms))), milliseconds(ms));
  }
  EXPECT_EQ(format_duration(milliseconds(30'000)), "30s");
  EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
}

TEST(FormatUtc, Rfc3339WithOrWithoutMilliseconds) {
  std::chrono::system_clock::time_point t{std::chrono::milliseconds(1'796'545'756'042)};
  EXPECT_EQ(format_utc(t), "2026-12-06T08:29:16Z");
  EXPECT_EQ(format_utc(t, true), "2026-12-06T08:29:16.042Z");
  EXPECT_EQ(format_utc(std::chrono::system_clock::time_point{}), "1970-01-01T00:00:00Z");
}

TEST(ParseBytes, BinaryAndDecimalUnits) {
  EXPECT_EQ(parse_bytes("512"), 512u);
  EXPECT_EQ(parse_bytes("64KiB"), 65'536u);
  EXPECT_EQ(parse_bytes("8MiB"), 8u * 1024 * 1024);
  EXPECT_EQ(parse_bytes("1G"), 1024u * 1024 * 1024);
  EXPECT_EQ(parse_bytes("10KB"), 10'000u);
  EXPECT_FALSE(parse_bytes("").has_value());
  EXPECT_FALSE(parse_bytes("MiB").has_value());
  EXPECT_FALSE(parse_bytes("1TiB").has_value());
  EXPECT_FALSE(parse_bytes("-1").has_value());
  EXPECT_FALSE(parse_bytes("99999999999999999999G").has_value());
}

TEST(ParseHostPort, Forms) {
  auto a = parse_host_port("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  auto b = parse_host_port("[::1]:0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->str(), "[::1]:0");
  auto c = parse_host_port(":9000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "127.0.0.1");  // every interface only when named
  EXPECT_FALSE(parse_host_port("localhost").has_value());
  EXPECT_FALSE(parse_host_port("a:70000").has_value());
  EXPECT_FALSE(parse_host_port("a:").has_value());
  EXPECT_FALSE(parse_host_port("::1:80").has_value());
}

TEST(ConfigNode, ReadsTypedValues) {
  ConfigNode root = parse_config(
      "listen: 127.0.0.1:80\nthreads: 4\nlimits:\n  idle_timeout: 5s\n  max_body: 1MiB\n"
      "debug: true\nnames: [a, b]\n",
      "x.yaml");
  EXPECT_EQ(root.string("listen").value_or(""), "127.0.0.1:80");
  EXPECT_EQ(root.integer("threads", 1, 8).value_or(0), 4);
  EXPECT_EQ(root.child("limits").duration("idle_timeout"), milliseconds(5000));
  EXPECT_EQ(root.child("limits").bytes("max_body"), 1024u * 1024);
  EXPECT_EQ(root.boolean("debug"), true);
  EXPECT_EQ(root.strings("names"), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(root.string("absent").has_value());
  EXPECT_FALSE(root.child("absent").duration("x").has_value());
}

TEST(ConfigNode, ErrorsNameFileLineAndField) {
  ConfigNode root =
      parse_config("listen: x\nlimits:\n  idle_timeout: sixty\nthreads: 999\n", "echo.yaml");
  try {
    (void)root.child("limits").duration("idle_timeout");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), "echo.yaml");
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.field(), "limits.idle_timeout");
    EXPECT_STREQ(e.what(),
                 "echo.yaml:3: limits.idle_timeout: not a duration (like 250ms, 10s, 2m): "
                 "\"sixty\"");
  }
  try {
    (void)root.integer("threads", 1, 256);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.line(), 4);
    EXPECT_EQ(e.field(), "threads");
  }
}

TEST(ConfigNode, WrongShapesAreErrors) {
  ConfigNode root = parse_config("a: [1, 2]\nb: {c: 1}\nd: 5\n", "s.yaml");
  EXPECT_THROW((void)root.string("a"), ConfigError);
  EXPECT_THROW((void)root.integer("b", 0, 10), ConfigError);
  EXPECT_THROW((void)root.child("d").child("e"), ConfigError);
  EXPECT_THROW((void)root.child("d").items(), ConfigError);
  EXPECT_THROW((void)root.boolean("d"), ConfigError);
}

TEST(ConfigNode, SequenceItemsCarryIndexedPaths) {
  ConfigNode root = parse_config("items:\n  - port: 1\n  - port: nope\n", "l.yaml");
  auto items = root.child("items").items();
  ASSERT_EQ(items.size(), 2u);
  try {
    (void)items[1].integer("port", 0, 65535);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "items[1].port");
    EXPECT_EQ(e.line(), 3);
  }
}

TEST(ConfigNode, BadYamlNamesTheLine) {
  try {
    (void)parse_config("a: 1\nb: [unclosed\nc: 2\n", "bad.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), "bad.yaml");
    EXPECT_GE(e.line(), 2);
    EXPECT_NE(std::string(e.what()).find("invalid YAML"), std::string::npos);
  }
}

TEST(ConfigNode, MissingFileIsAnError) {
  try {
    (void)load_config_file("/nonexistent/tender.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tender.yaml"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("cannot read"), std::string::npos);
  }
}

TEST(ConfigNode, MultiDocumentStreams) {
  auto docs = parse_config_documents("kind: A\n---\nkind: B\n---\n", "m.yaml");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[1].string("kind").value_or(""), "B");
  EXPECT_EQ(docs[1].line(), 3);
}

TEST(ConfigNode, AbsentChildrenAreSafeToInspect) {
  ConfigNode root = parse_config("a: 1\n", "z.yaml");
  ConfigNode missing = root.child("nope").child("deeper");
  EXPECT_FALSE(missing.defined());
  EXPECT_FALSE(missing.is_map());
  EXPECT_FALSE(missing.has("x"));
  EXPECT_EQ(missing.warn_unknown({"x"}), 0);
  EXPECT_TRUE(missing.keys().empty());
}

TEST(ConfigNode, WarnsAboutUnknownKeys) {
  ConfigNode root = parse_config("listen: a\ntypo: 1\nother: 2\n", "w.yaml");
  EXPECT_EQ(root.warn_unknown({"listen"}), 2);
  EXPECT_EQ(root.warn_unknown({"listen", "typo", "other"}), 0);
}

}  // namespace
}  // namespace tender
