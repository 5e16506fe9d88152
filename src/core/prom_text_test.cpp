#include "core/prom_text.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace tender {
namespace {

const std::vector<std::pair<std::string, std::string>> kLabels = {{"pod", "web-0"},
                                                                  {"container", "app"}};

TEST(ParseExposition, AddsPodAndContainerLabels) {
  auto f = parse_exposition(
      "# HELP req_total Requests.\n# TYPE req_total counter\nreq_total{code=\"200\"} 5\n"
      "req_total{code=\"500\",path=\"/a\\\"b\"} 1 1700000000000\n"
      "# TYPE up gauge\nup 1\n",
      kLabels);
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[0].name, "req_total");
  EXPECT_EQ((*f)[0].type, "counter");
  EXPECT_EQ((*f)[0].help, "Requests.");
  EXPECT_EQ((*f)[0].samples,
            (std::vector<std::string>{
                "req_total{pod=\"web-0\",container=\"app\",code=\"200\"} 5",
                "req_total{pod=\"web-0\",container=\"app\",code=\"500\",path=\"/a\\\"b\"} 1 "
                "1700000000000"}));
  EXPECT_EQ((*f)[1].samples, std::vector<std::string>{"up{pod=\"web-0\",container=\"app\"} 1"});
}

TEST(ParseExposition, HistogramSamplesStayInTheirFamily) {
  auto f = parse_exposition(
      "# TYPE lat histogram\nlat_bucket{le=\"0.1\"} 1\nlat_bucket{le=\"+Inf\"} 2\n"
      "lat_sum 0.3\nlat_count 2\nstray 7\n",
      kLabels);
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[0].samples.size(), 4u);
  EXPECT_EQ((*f)[1].name, "stray");
  EXPECT_EQ((*f)[1].type, "untyped");
}

TEST(ParseExposition, ClashingLabelsAreKeptAsExported) {
  auto f = parse_exposition("x{pod=\"inner\"} 1\n", kLabels);
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ((*f)[0].samples[0], "x{pod=\"web-0\",container=\"app\",exported_pod=\"inner\"} 1");
}

TEST(ParseExposition, MalformedInputNamesTheLine) {
  for (const char* bad :
       {"x{a=\"1} 2\n", "x{a=1} 2\n", "{a=\"1\"} 2\n", "x\n", "# TYPE x sideways\nx 1\n"}) {
    auto f = parse_exposition(std::string("ok 1\n") + bad, kLabels);
    ASSERT_FALSE(f) << bad;
    EXPECT_EQ(f.error().code(), std::errc::bad_message);
    EXPECT_EQ(f.error().message().rfind("line 2: ", 0), 0u) << f.error().message();
  }
}

TEST(ParseExposition, HelpMayFollowTypeAndNameAnUntypedFamily) {
  auto f = parse_exposition(
      "# TYPE a gauge\n# HELP a After the type.\na 1\n# HELP b No type at all.\nb 2\n", kLabels);
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[0].help, "After the type.");
  EXPECT_EQ((*f)[1].help, "No type at all.");
  EXPECT_EQ((*f)[1].type, "untyped");
}

TEST(ParseExposition, BlanksAreSpacesOrTabsAndAreNormalized) {
  auto f = parse_exposition(
      "  # TYPE a gauge\na\t1\n a{ x = \"1\" , y=\"2\", }   2 \t 1700000000000  \n", {});
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_EQ(f->size(), 1u);
  EXPECT_EQ((*f)[0].samples,
            (std::vector<std::string>{"a 1", "a{x=\"1\",y=\"2\"} 2 1700000000000"}));
}

TEST(ParseExposition, SpecialValuesAndTimestamps) {
  auto f = parse_exposition("a NaN\na +Inf -5\na -Inf\na 1.5e-3 0\na -0 +7\n", {});
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ((*f)[0].samples,
            (std::vector<std::string>{"a NaN", "a +Inf -5", "a -Inf", "a 1.5e-3 0", "a -0 +7"}));
}

TEST(ParseExposition, LabelValuesKeepTheirEscapes) {
  auto f = parse_exposition("a{p=\"C:\\\\dir\",q=\"say \\\"hi\\\"\\n\"} 1\n", kLabels);
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ((*f)[0].samples[0],
            "a{pod=\"web-0\",container=\"app\",p=\"C:\\\\dir\",q=\"say \\\"hi\\\"\\n\"} 1");
}

TEST(ParseExposition, SamplesOfAFamilyNeedNotBeAdjacent) {
  auto f = parse_exposition("# TYPE a gauge\na{i=\"1\"} 1\nb 2\na{i=\"2\"} 3\n", {});
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[0].name, "a");
  EXPECT_EQ((*f)[0].type, "gauge");
  EXPECT_EQ((*f)[0].samples.size(), 2u);
}

TEST(ParseExposition, SummarySamplesStayInTheirFamilyButNotBuckets) {
  auto f = parse_exposition(
      "# TYPE rpc summary\nrpc{quantile=\"0.5\"} 0.1\nrpc_sum 3\nrpc_count 9\nrpc_bucket 1\n", {});
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[0].samples.size(), 3u);
  EXPECT_EQ((*f)[1].name, "rpc_bucket");
  EXPECT_EQ((*f)[1].type, "untyped");
}

TEST(ParseExposition, RejectsWhatTheFormatDoesNotAllow) {
  for (const char* bad : {
           "a{b:c=\"1\"} 1\n",                  // a colon in a label name
           "a{b=\"\\q\"} 1\n",                  // an unknown escape
           "a{b=\"1\"c=\"2\"} 1\n",             // no comma between labels
           "a{b=\"1\",b=\"2\"} 1\n",            // a label twice
           "a one\n",                           // not a number
           "a 1 1.5\n",                         // a timestamp that is not an integer
           "a 1 2 3\n",                         // more after the timestamp
           "a$ 1\n",                            // a bad character in the name
           "# TYPE a gauge\n# TYPE a gauge\n",  // a second TYPE line
           "a 1\n# TYPE a gauge\n",             // TYPE after the samples
           "# HELP a x\n# HELP a y\n",          // a second HELP line
           "# HELP a bad \\q escape\n",         // an unknown escape in help
           "# TYPE a-b gauge\n",                // a bad name in a TYPE line
       }) {
    auto f = parse_exposition(bad, kLabels);
    EXPECT_FALSE(f) << bad;
    if (!f) {
      EXPECT_EQ(f.error().message().rfind("line ", 0), 0u) << f.error().message();
    }
  }
}

TEST(ParseSampleLine, TakesASampleApart) {
  auto s = parse_sample_line("http_requests{code=\"200\",path=\"C:\\\\x \\\"y\\\"\\n\"} 1.5e3 -42");
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->name, "http_requests");
  ASSERT_EQ(s->labels.size(), 2u);
  EXPECT_EQ(s->labels[0], (std::pair<std::string, std::string>{"code", "200"}));
  EXPECT_EQ(s->labels[1].second, "C:\\x \"y\"\n");  // escapes resolved
  EXPECT_EQ(s->value, 1500);
  EXPECT_EQ(s->timestamp_ms, -42);
}

TEST(ParseSampleLine, SpecialValuesAndNoLabels) {
  auto inf = parse_sample_line("a +Inf");
  ASSERT_TRUE(inf);
  EXPECT_TRUE(std::isinf(inf->value) && inf->value > 0);
  EXPECT_FALSE(inf->timestamp_ms);
  auto nan = parse_sample_line("a{} NaN");
  ASSERT_TRUE(nan);
  EXPECT_TRUE(std::isnan(nan->value));
  EXPECT_TRUE(nan->labels.empty());
  auto minus = parse_sample_line("a -Inf");
  ASSERT_TRUE(minus);
  EXPECT_TRUE(std::isinf(minus->value) && minus->value < 0);
}

TEST(ParseSampleLine, RefusesWhatParseExpositionRefuses) {
  for (const char* bad :
       {"a{b=\"\\q\"} 1", "a{b=\"1\",b=\"2\"} 1", "a one", "a 1 1.5", "{} 1", "a{b=\"1\"", "a"}) {
    auto s = parse_sample_line(bad);
    EXPECT_FALSE(s) << bad;
    if (!s) {
      EXPECT_EQ(s.error().code(), std::errc::bad_message) << bad;
    }
  }
}

TEST(ParseExpositionSamples, GroupsFamiliesAsParseExpositionDoes) {
  auto f = parse_exposition_samples(
      "# HELP lat Latency, in \\\\ seconds\\nper call.\n# TYPE lat histogram\n"
      "lat_bucket{le=\"0.1\"} 1\nlat_bucket{le=\"+Inf\"} 2\nlat_sum 0.3\nlat_count 2\n"
      "other{x=\"a\\\"b\"} 7 1000\n");
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[0].name, "lat");
  EXPECT_EQ((*f)[0].type, "histogram");
  EXPECT_EQ((*f)[0].help, "Latency, in \\ seconds\nper call.");  // unescaped
  ASSERT_EQ((*f)[0].samples.size(), 4u);
  EXPECT_EQ((*f)[0].samples[1].name, "lat_bucket");
  EXPECT_EQ((*f)[0].samples[1].labels[0].second, "+Inf");
  EXPECT_EQ((*f)[0].samples[3].value, 2);
  EXPECT_EQ((*f)[1].name, "other");
  EXPECT_EQ((*f)[1].type, "untyped");
  EXPECT_EQ((*f)[1].samples[0].labels[0].second, "a\"b");
  EXPECT_EQ((*f)[1].samples[0].timestamp_ms, 1000);
}

TEST(ParseExpositionSamples, NamesTheBadLine) {
  auto f = parse_exposition_samples("ok 1\n# TYPE x gauge\nx{a=1} 2\n");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message(), "line 3: malformed label");
}

TEST(MergeFamilies, JoinsByNameAndDropsTypeConflicts) {
  std::vector<ExternalFamily> all;
  merge_families(all, *parse_exposition("# TYPE up gauge\nup 1\n", kLabels));
  merge_families(
      all, *parse_exposition("# TYPE up gauge\nup 0\n", {{"pod", "web-1"}, {"container", "app"}}));
  auto dropped = merge_families(
      all, *parse_exposition("# TYPE up counter\nup 3\n", {{"pod", "x"}, {"container", "y"}}));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].samples.size(), 2u);
  EXPECT_EQ(dropped, std::vector<std::string>{"up"});
}

TEST(RegistryExternal, MergesIntoOneGroupPerNameInBothFormats) {
  Registry r;
  r.counter("req_total", "Own requests.").inc(2);
  auto ext = *parse_exposition(
      "# HELP req_total Theirs.\n# TYPE req_total counter\nreq_total 5\n"
      "# TYPE zz_only gauge\nzz_only 1\n# TYPE aa_only untyped\naa_only 3\n",
      kLabels);
  r.set_external([ext] { return ext; });
  std::string text = r.render(Format::kPrometheus);
  EXPECT_EQ(text,
            "# TYPE aa_only untyped\naa_only{pod=\"web-0\",container=\"app\"} 3\n"
            "# HELP req_total Own requests.\n# TYPE req_total counter\nreq_total 2\n"
            "req_total{pod=\"web-0\",container=\"app\"} 5\n"
            "# TYPE zz_only gauge\nzz_only{pod=\"web-0\",container=\"app\"} 1\n");
  std::string om = r.render(Format::kOpenMetrics);
  EXPECT_NE(om.find("# TYPE aa_only unknown\n"), std::string::npos) << om;
  EXPECT_NE(om.find("# TYPE req counter\n"), std::string::npos) << om;
  EXPECT_EQ(om.substr(om.size() - 6), "# EOF\n");
}

// The text format's timestamps are milliseconds, OpenMetrics' seconds.
TEST(RegistryExternal, TimestampsAreSecondsInOpenMetrics) {
  Registry r;
  auto ext = *parse_exposition(
      "# TYPE t gauge\nt{path=\"a b\\\" 9\"} 1.5 1700000000123\nt{path=\"c\"} 2 7\n"
      "t{path=\"d\"} 3\n",
      {});
  r.set_external([ext] { return ext; });
  std::string text = r.render(Format::kPrometheus);
  EXPECT_NE(text.find("t{path=\"a b\\\" 9\"} 1.5 1700000000123\n"), std::string::npos) << text;
  std::string om = r.render(Format::kOpenMetrics);
  EXPECT_NE(om.find("t{path=\"a b\\\" 9\"} 1.5 1700000000.123\n"), std::string::npos) << om;
  EXPECT_NE(om.find("t{path=\"c\"} 2 0.007\n"), std::string::npos) << om;
  EXPECT_NE(om.find("t{path=\"d\"} 3\n"), std::string::npos) << om;
}

// OpenMetrics' bucket bounds and quantiles are canonical floats ("1.0"); the text format keeps
// what the samples say.
TEST(RegistryExternal, BucketBoundsAreCanonicalInOpenMetrics) {
  Registry r;
  auto ext = *parse_exposition(
      "# TYPE h histogram\nh_bucket{x=\"le=\\\"1\\\"\",le=\"1\"} 1\nh_bucket{le=\"2.5\"} 1\n"
      "h_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 3\n"
      "h_bucket{y=\",le=\",le=\"3\"} 2\n"
      "# TYPE s summary\ns{quantile=\"1\"} 4\ns_count 1\ns_sum 4\n",
      {});
  r.set_external([ext] { return ext; });
  std::string text = r.render(Format::kPrometheus);
  EXPECT_NE(text.find("h_bucket{x=\"le=\\\"1\\\"\",le=\"1\"} 1\n"), std::string::npos) << text;
  std::string om = r.render(Format::kOpenMetrics);
  EXPECT_NE(om.find("h_bucket{x=\"le=\\\"1\\\"\",le=\"1.0\"} 1\n"), std::string::npos) << om;
  EXPECT_NE(om.find("h_bucket{le=\"2.5\"} 1\n"), std::string::npos) << om;
  EXPECT_NE(om.find("h_bucket{le=\"+Inf\"} 2\n"), std::string::npos) << om;
  EXPECT_NE(om.find("h_bucket{y=\",le=\",le=\"3.0\"} 2\n"), std::string::npos) << om;
  EXPECT_NE(om.find("s{quantile=\"1.0\"} 4\n"), std::string::npos) << om;
}

}  // namespace
}  // namespace tender
