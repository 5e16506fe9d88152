#include "adapter/exposition.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace tender::adapter {
namespace {

Sample sample(std::string name, Labels labels, double value) {
  return Sample{.name = std::move(name), .labels = std::move(labels), .value = value};
}

const ExternalFamily* find(const Exposition& e, std::string_view name) {
  for (const auto& f : e.families) {
    if (f.name == name) {
      return &f;
    }
  }
  return nullptr;
}

TEST(Exposition, EscapesLabelValuesAndHelp) {
  std::string out;
  append_label_value(out, "a\\b\"c\nd \xc3\xa9 \xff");
  EXPECT_EQ(out, "\"a\\\\b\\\"c\\nd \xc3\xa9 \xEF\xBF\xBD\"");
  EXPECT_EQ(escape_help("50\\s\nlater \"q\""), "50\\\\s\\nlater \"q\"");
}

TEST(Exposition, CountersGetTotalAndSamplesFollow) {
  Family f{.name = "hits", .type = MetricType::kCounter, .help = "Hits.", .samples = {}};
  f.samples.push_back(sample("hits", {{"path", "/"}}, 3));
  std::vector<SourceFamilies> in{{"app", {f}}};
  Exposition e = build_exposition(std::move(in), {}, {});
  const ExternalFamily* got = find(e, "hits_total");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->type, "counter");
  ASSERT_EQ(got->samples.size(), 1u);
  EXPECT_EQ(got->samples[0], "hits_total{path=\"/\"} 3");
}

TEST(Exposition, DuplicatesAndConflictsAreCountedPerSource) {
  Family g{.name = "depth", .type = MetricType::kGauge, .help = "", .samples = {}};
  g.samples.push_back(sample("depth", {{"q", "a"}}, 1));
  Family again = g;
  again.samples[0].value = 2;
  Family counter{.name = "depth", .type = MetricType::kCounter, .help = "", .samples = {}};
  counter.samples.push_back(sample("depth", {}, 5));
  Family mine{.name = "tender_x", .type = MetricType::kGauge, .help = "", .samples = {}};
  mine.samples.push_back(sample("tender_x", {}, 1));
  std::vector<SourceFamilies> in{{"one", {g}}, {"two", {again, mine}}, {"three", {counter}}};
  Exposition e = build_exposition(std::move(in), {}, {"tender_x"});
  const ExternalFamily* got = find(e, "depth");
  ASSERT_NE(got, nullptr);
  ASSERT_EQ(got->samples.size(), 1u);
  EXPECT_EQ(got->samples[0], "depth{q=\"a\"} 1");  // the first source wins
  EXPECT_EQ(e.drops["two"].duplicate, 1u);
  EXPECT_EQ(e.drops["two"].conflict, 1u);  // tender_x is tender's own
  EXPECT_EQ(find(e, "tender_x"), nullptr);
  // A counter "depth" becomes depth_total, whose bare name depth is the gauge's.
  EXPECT_EQ(e.drops["three"].conflict, 1u);
  EXPECT_EQ(find(e, "depth_total"), nullptr);
}

TEST(Exposition, CapsSeriesPerMetric) {
  Family f{.name = "per_user", .type = MetricType::kGauge, .help = "", .samples = {}};
  for (int i = 0; i < 5; ++i) {
    f.samples.push_back(sample("per_user", {{"user", std::to_string(i)}}, i));
  }
  std::vector<SourceFamilies> in{{"app", {f}}};
  Exposition e = build_exposition(std::move(in), {.max_series_per_metric = 3}, {});
  EXPECT_EQ(find(e, "per_user")->samples.size(), 3u);
  EXPECT_EQ(e.drops["app"].over_cap, 2u);
  EXPECT_EQ(e.series["app"], 3u);
}

TEST(Exposition, HistogramsAreCompletedAndOrdered) {
  Family h{.name = "lat", .type = MetricType::kHistogram, .help = "", .samples = {}};
  h.samples.push_back(sample("lat_bucket", {{"le", "1"}, {"op", "get"}}, 4));
  h.samples.push_back(sample("lat_bucket", {{"op", "get"}, {"le", "0.5"}}, 2));
  h.samples.push_back(sample("lat_count", {{"op", "get"}}, 5));
  h.samples.push_back(sample("lat_sum", {{"op", "get"}}, 2.5));
  // A group with neither +Inf nor _count cannot be completed.
  h.samples.push_back(sample("lat_bucket", {{"op", "put"}, {"le", "1"}}, 1));
  std::vector<SourceFamilies> in{{"app", {h}}};
  Exposition e = build_exposition(std::move(in), {}, {});
  const ExternalFamily* got = find(e, "lat");
  ASSERT_NE(got, nullptr);
  std::vector<std::string> want = {
      "lat_bucket{op=\"get\",le=\"0.5\"} 2", "lat_bucket{op=\"get\",le=\"1\"} 4",
      "lat_bucket{op=\"get\",le=\"+Inf\"} 5", "lat_count{op=\"get\"} 5", "lat_sum{op=\"get\"} 2.5"};
  EXPECT_EQ(got->samples, want);
  EXPECT_EQ(e.drops["app"].invalid, 1u);
}

TEST(Exposition, RefusesWhatTheFormatCannotCarry) {
  Family bad_name{.name = "1st", .type = MetricType::kGauge, .help = "", .samples = {}};
  bad_name.samples.push_back(sample("1st", {}, 1));
  Family g{.name = "ok", .type = MetricType::kGauge, .help = "", .samples = {}};
  g.samples.push_back(sample("ok", {{"bad-label", "x"}}, 1));
  g.samples.push_back(sample("ok", {{"a", "1"}, {"a", "2"}}, 1));
  g.samples.push_back(sample("ok_bucket", {}, 1));
  g.samples.push_back(sample("ok", {{"a", "1"}}, std::numeric_limits<double>::quiet_NaN()));
  std::vector<SourceFamilies> in{{"app", {bad_name, g}}};
  Exposition e = build_exposition(std::move(in), {}, {});
  EXPECT_EQ(e.drops["app"].invalid, 4u);
  ASSERT_NE(find(e, "ok"), nullptr);
  EXPECT_EQ(find(e, "ok")->samples, std::vector<std::string>{"ok{a=\"1\"} NaN"});
}

}  // namespace
}  // namespace tender::adapter
