#include "adapter/statsd_store.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/clock.hpp"

namespace tender::adapter {
namespace {

using namespace std::chrono_literals;

class StatsdStoreTest : public ::testing::Test {
 protected:
  void make(const std::string& yaml, StatsdLimits limits = {}) {
    StatsdSettings s = parse_statsd_settings(
        parse_config("udp: 127.0.0.1:0\n" + yaml, "statsd.yaml"), SourceDefaults{});
    store = std::make_unique<StatsdStore>(s.mapper, limits);
  }
  StatsdResult feed(std::string_view text) {
    StatsdLine line;
    EXPECT_EQ(parse_statsd_line(text, line), ParseOutcome::kOk) << text;
    return store->ingest(line, clock.now());
  }
  std::vector<Family> families() { return store->collect(clock.now()); }
  // The value of the sample `name` with exactly `labels`, NaN if absent.
  double value(const std::string& name, const Labels& labels = {}) {
    for (const auto& f : families()) {
      for (const auto& s : f.samples) {
        if (s.name == name && s.labels == labels) {
          return s.value;
        }
      }
    }
    return NAN;
  }
  const Family* family(const std::vector<Family>& all, const std::string& name) {
    for (const auto& f : all) {
      if (f.name == name) {
        return &f;
      }
    }
    return nullptr;
  }

  FakeClock clock;
  std::unique_ptr<StatsdStore> store;
};

TEST_F(StatsdStoreTest, CountersAddWithSampleRates) {
  make("");
  EXPECT_EQ(feed("hits:1|c"), StatsdResult::kOk);
  EXPECT_EQ(feed("hits:2|c|@0.5"), StatsdResult::kOk);
  EXPECT_EQ(feed("hits:1|c:1|c"), StatsdResult::kOk);
  EXPECT_DOUBLE_EQ(value("hits_total"), 7);
  auto all = families();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].type, MetricType::kCounter);
  EXPECT_EQ(store->counts().counters, 1u);
}

TEST_F(StatsdStoreTest, GaugesSetAndMoveByDeltas) {
  make("");
  feed("q:10|g");
  feed("q:+5|g");
  feed("q:-2|g");
  EXPECT_DOUBLE_EQ(value("q"), 13);
  feed("q:4|g");
  EXPECT_DOUBLE_EQ(value("q"), 4);
}

TEST_F(StatsdStoreTest, TagsBecomeLabelsAndKeySeries) {
  make("mappings:\n  - {match: 'r.*', name: req, labels: {env: fixed, kind: $1}}\n");
  feed("r.a:1|c|#code:200,env:ignored");
  feed("r.a,code=200:2|c");
  feed("r.a#code=500:1|c");
  feed("r.b:1|c|#bad-key:v,code:200,code:201");
  EXPECT_DOUBLE_EQ(value("req_total", {{"code", "200"}, {"env", "fixed"}, {"kind", "a"}}), 3);
  EXPECT_DOUBLE_EQ(value("req_total", {{"code", "500"}, {"env", "fixed"}, {"kind", "a"}}), 1);
  EXPECT_DOUBLE_EQ(
      value("req_total", {{"bad_key", "v"}, {"code", "201"}, {"env", "fixed"}, {"kind", "b"}}), 1);
}

TEST_F(StatsdStoreTest, HistogramsCountEachObservationOneOverRateTimes) {
  make("mappings:\n  - {match: lat, name: lat, observer_type: histogram, buckets: [0.1, 1]}\n");
  feed("lat:50|ms");        // 0.05 s
  feed("lat:0.5|h|@0.25");  // counted 4 times
  feed("lat:7|d");
  auto all = families();
  const Family* f = family(all, "lat");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->type, MetricType::kHistogram);
  EXPECT_DOUBLE_EQ(value("lat_bucket", {{"le", "0.1"}}), 1);
  EXPECT_DOUBLE_EQ(value("lat_bucket", {{"le", "1"}}), 5);
  EXPECT_DOUBLE_EQ(value("lat_bucket", {{"le", "+Inf"}}), 6);
  EXPECT_DOUBLE_EQ(value("lat_count"), 6);
  EXPECT_DOUBLE_EQ(value("lat_sum"), 0.05 + 2 + 7);
}

TEST_F(StatsdStoreTest, SummariesGiveQuantilesOverTheirWindow) {
  make("defaults: {summary_options: {max_age: 1m, age_buckets: 2}}\n");
  for (int i = 1; i <= 100; ++i) {
    feed("t:" + std::to_string(i) + "|h");
  }
  EXPECT_NEAR(value("t", {{"quantile", "0.5"}}), 50, 1);
  EXPECT_NEAR(value("t", {{"quantile", "0.99"}}), 99, 1);
  EXPECT_DOUBLE_EQ(value("t_count"), 100);
  EXPECT_DOUBLE_EQ(value("t_sum"), 5050);
  clock.advance(2min);  // every observation is past max_age
  EXPECT_TRUE(std::isnan(value("t", {{"quantile", "0.5"}})));
  EXPECT_DOUBLE_EQ(value("t_count"), 100);  // _sum and _count stay cumulative
  feed("t:1000|h");
  EXPECT_DOUBLE_EQ(value("t", {{"quantile", "0.5"}}), 1000);
}

TEST_F(StatsdStoreTest, SummaryMemoryIsBounded) {
  make("defaults: {summary_options: {buf_cap: 10, age_buckets: 1}}\n");
  for (int i = 0; i < 10'000; ++i) {
    feed("t:" + std::to_string(i % 100) + "|h");
  }
  EXPECT_DOUBLE_EQ(value("t_count"), 10'000);
  double median = value("t", {{"quantile", "0.5"}});
  EXPECT_GE(median, 0);
  EXPECT_LT(median, 100);
}

TEST_F(StatsdStoreTest, SetsCountDistinctMembersInTheirWindow) {
  make("", {.set_window = 1min, .max_set_members = 3});
  feed("u:alice|s");
  feed("u:bob|s");
  feed("u:alice|s");
  EXPECT_DOUBLE_EQ(value("u"), 2);
  feed("u:carol|s");
  feed("u:dave|s");  // past max_set_members: not held
  EXPECT_DOUBLE_EQ(value("u"), 3);
  clock.advance(45s);
  feed("u:alice|s");
  clock.advance(30s);  // bob and carol were last seen 75 s ago
  EXPECT_DOUBLE_EQ(value("u"), 1);
}

TEST_F(StatsdStoreTest, AFullSetMakesRoomAsMembersLeaveTheWindow) {
  make("", {.set_window = 1min, .max_set_members = 2});
  feed("u:a|s");
  feed("u:b|s");
  clock.advance(61s);
  feed("u:c|s");  // a and b are past the window: c takes their room without a scrape
  feed("u:d|s");
  EXPECT_DOUBLE_EQ(value("u"), 2);
}

TEST_F(StatsdStoreTest, IdleSeriesExpireAfterTheirTtl) {
  make("mappings:\n  - {match: 'tmp.*', name: tmp, labels: {k: $1}, ttl: 10s}\n");
  feed("tmp.a:1|c");
  feed("tmp.b:1|c");
  feed("keep:1|c");  // the default ttl: never
  clock.advance(6s);
  feed("tmp.b:1|c");
  clock.advance(6s);
  store->expire(clock.now());
  EXPECT_TRUE(std::isnan(value("tmp_total", {{"k", "a"}})));
  EXPECT_DOUBLE_EQ(value("tmp_total", {{"k", "b"}}), 2);
  EXPECT_DOUBLE_EQ(value("keep_total"), 1);
  EXPECT_EQ(store->counts().total(), 2u);
  feed("tmp.a:5|c");  // comes back from zero, through a fresh cache entry
  EXPECT_DOUBLE_EQ(value("tmp_total", {{"k", "a"}}), 5);
}

TEST_F(StatsdStoreTest, NewSeriesPastTheCapAreRefused) {
  make("", {.max_series_per_metric = 2, .max_series = 3});
  EXPECT_EQ(feed("m:1|c|#k:a"), StatsdResult::kOk);
  EXPECT_EQ(feed("m:1|c|#k:b"), StatsdResult::kOk);
  EXPECT_EQ(feed("m:1|c|#k:c"), StatsdResult::kOverCap);
  EXPECT_EQ(feed("m:1|c|#k:a"), StatsdResult::kOk);  // known series still count
  EXPECT_EQ(feed("other:1|g"), StatsdResult::kOk);
  EXPECT_EQ(feed("third:1|g"), StatsdResult::kOverCap);  // max_series over every metric
  EXPECT_EQ(store->counts().total(), 3u);
  EXPECT_DOUBLE_EQ(value("m_total", {{"k", "a"}}), 2);
}

TEST_F(StatsdStoreTest, ATypeChangeIsAConflict) {
  make("");
  EXPECT_EQ(feed("x:1|c"), StatsdResult::kOk);
  EXPECT_EQ(feed("x:5|g"), StatsdResult::kConflict);
  EXPECT_EQ(feed("x:5|g|#other:label"), StatsdResult::kConflict);
  EXPECT_EQ(feed("x:1|c:2|g"), StatsdResult::kConflict);  // the counter part still counted
  auto all = families();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].type, MetricType::kCounter);
  EXPECT_DOUBLE_EQ(value("x_total"), 2);
}

TEST_F(StatsdStoreTest, DropActionsAreCountedAndCached) {
  make("mappings:\n  - {match: 'noise.*', action: drop}\n");
  EXPECT_EQ(feed("noise.a:1|c"), StatsdResult::kDropped);
  EXPECT_EQ(feed("noise.a:1|c"), StatsdResult::kDropped);
  EXPECT_TRUE(families().empty());
}

}  // namespace
}  // namespace tender::adapter
