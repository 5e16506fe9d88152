#include "adapter/statsd_parse.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tender::adapter {
namespace {

StatsdLine parse_ok(std::string_view text) {
  StatsdLine l;
  EXPECT_EQ(parse_statsd_line(text, l), ParseOutcome::kOk) << text << ": " << l.error;
  return l;
}

bool malformed(std::string_view text) {
  StatsdLine l;
  return parse_statsd_line(text, l) == ParseOutcome::kMalformed;
}

TEST(StatsdParse, EveryType) {
  StatsdLine c = parse_ok("hits:3|c");
  EXPECT_EQ(c.name, "hits");
  ASSERT_EQ(c.samples.size(), 1u);
  EXPECT_EQ(c.samples[0].type, StatsdType::kCounter);
  EXPECT_EQ(c.samples[0].value, 3);
  EXPECT_EQ(parse_ok("temp:21.5|g").samples[0].type, StatsdType::kGauge);
  StatsdLine ms = parse_ok("lat:250|ms");
  EXPECT_EQ(ms.samples[0].type, StatsdType::kTimer);
  EXPECT_DOUBLE_EQ(ms.samples[0].value, 0.25);  // milliseconds become seconds
  EXPECT_EQ(parse_ok("size:1e3|h").samples[0].value, 1000);
  EXPECT_EQ(parse_ok("size:7|d").samples[0].type, StatsdType::kDistribution);
  StatsdLine set = parse_ok("users:alice|s");
  EXPECT_EQ(set.samples[0].type, StatsdType::kSet);
  EXPECT_EQ(set.samples[0].member, "alice");
  EXPECT_EQ(kind_of(StatsdType::kTimer), StatsdKind::kObserver);
  EXPECT_EQ(kind_of(StatsdType::kDistribution), StatsdKind::kObserver);
}

TEST(StatsdParse, GaugeSignIsADelta) {
  StatsdLine up = parse_ok("q:+4|g");
  EXPECT_TRUE(up.samples[0].delta);
  EXPECT_EQ(up.samples[0].value, 4);
  StatsdLine down = parse_ok("q:-2.5|g");
  EXPECT_TRUE(down.samples[0].delta);
  EXPECT_EQ(down.samples[0].value, -2.5);
  EXPECT_FALSE(parse_ok("q:3|g").samples[0].delta);
}

TEST(StatsdParse, SampleRate) {
  StatsdLine l = parse_ok("hits:1|c|@0.1");
  EXPECT_DOUBLE_EQ(l.samples[0].rate, 0.1);
  EXPECT_EQ(parse_ok("g:1|g|@0.5").samples[0].rate, 1);  // gauges are not scaled
  EXPECT_TRUE(malformed("hits:1|c|@0"));
  EXPECT_TRUE(malformed("hits:1|c|@1.5"));
  EXPECT_TRUE(malformed("hits:1|c|@x"));
  EXPECT_TRUE(malformed("hits:1|c|@-0.5"));
}

TEST(StatsdParse, DogStatsdTags) {
  StatsdLine l = parse_ok("req:1|c|@0.5|#env:prod,region:eu-1,flag,url:http://x");
  EXPECT_EQ(l.name, "req");
  ASSERT_EQ(l.tags.size(), 3u);  // "flag" has no value: skipped
  EXPECT_EQ(l.tags[0].key, "env");
  EXPECT_EQ(l.tags[0].value, "prod");
  EXPECT_EQ(l.tags[1].key, "region");
  EXPECT_EQ(l.tags[2].value, "http://x");
  EXPECT_EQ(l.dog_tags, "env:prod,region:eu-1,flag,url:http://x");
  EXPECT_DOUBLE_EQ(l.samples[0].rate, 0.5);
}

TEST(StatsdParse, InfluxAndLibratoTags) {
  StatsdLine influx = parse_ok("req,env=prod,code=200:1|c");
  EXPECT_EQ(influx.name, "req");
  EXPECT_EQ(influx.head, "req,env=prod,code=200");
  ASSERT_EQ(influx.tags.size(), 2u);
  EXPECT_EQ(influx.tags[1].key, "code");
  EXPECT_EQ(influx.tags[1].value, "200");
  StatsdLine librato = parse_ok("req#env=prod:1|c");
  EXPECT_EQ(librato.name, "req");
  ASSERT_EQ(librato.tags.size(), 1u);
  EXPECT_EQ(librato.tags[0].value, "prod");
}

TEST(StatsdParse, SeveralSamplesOfOneName) {
  StatsdLine l = parse_ok("x:1|c:2|c|@0.5:3|ms");
  ASSERT_EQ(l.samples.size(), 3u);
  EXPECT_EQ(l.samples[1].value, 2);
  EXPECT_DOUBLE_EQ(l.samples[1].rate, 0.5);
  EXPECT_EQ(l.samples[2].type, StatsdType::kTimer);
}

TEST(StatsdParse, MalformedLines) {
  EXPECT_TRUE(malformed("no_colon"));
  EXPECT_TRUE(malformed("no_pipe:1"));
  EXPECT_TRUE(malformed(":1|c"));
  EXPECT_TRUE(malformed(",a=b:1|c"));
  EXPECT_TRUE(malformed("x:abc|c"));
  EXPECT_TRUE(malformed("x:1|q"));
  EXPECT_TRUE(malformed("x:1|"));
  EXPECT_TRUE(malformed("x:|c"));
  EXPECT_TRUE(malformed("x:nan|g"));
  EXPECT_TRUE(malformed("x:inf|ms"));
  EXPECT_TRUE(malformed("x:-1|c"));  // counters never go down
  EXPECT_TRUE(malformed("x:1|c|junk"));
  EXPECT_TRUE(malformed("x:1|c:2|zz"));
  EXPECT_TRUE(malformed("x:1 |c"));
  EXPECT_TRUE(malformed("x:++1|g"));
  EXPECT_TRUE(malformed(std::string(kMaxStatsdNameBytes + 1, 'a') + ":1|c"));
  EXPECT_TRUE(malformed("x:1|c|#k:" + std::string(kMaxStatsdTagBytes, 'v')));
  StatsdLine l;
  EXPECT_EQ(parse_statsd_line("x:1|q", l), ParseOutcome::kMalformed);
  EXPECT_STREQ(l.error, "unknown type");
}

TEST(StatsdParse, EmptyLinesAndCarriageReturns) {
  StatsdLine l;
  EXPECT_EQ(parse_statsd_line("", l), ParseOutcome::kEmpty);
  EXPECT_EQ(parse_statsd_line("  \r", l), ParseOutcome::kEmpty);
  EXPECT_EQ(parse_ok("x:1|c\r").samples[0].type, StatsdType::kCounter);
}

TEST(StatsdParse, PacketsSplitIntoLines) {
  std::vector<std::string> got;
  for_each_line("a:1|c\nb:2|g\n\nc:3|ms", [&](std::string_view l) { got.emplace_back(l); });
  EXPECT_EQ(got, (std::vector<std::string>{"a:1|c", "b:2|g", "", "c:3|ms"}));
  got.clear();
  for_each_line("a:1|c\n", [&](std::string_view l) { got.emplace_back(l); });
  EXPECT_EQ(got, (std::vector<std::string>{"a:1|c"}));
}

}  // namespace
}  // namespace tender::adapter
