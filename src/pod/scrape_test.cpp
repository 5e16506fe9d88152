#include "pod/scrape.hpp"

#include <gtest/gtest.h>

namespace tender::pod {
namespace {

const std::vector<std::pair<std::string, std::string>> kLabels = {{"pod", "web-0"},
                                                                  {"container", "app"}};

TEST(ParseExposition, AddsPodAndContainerLabels) {
  std::string error;
  auto f = parse_exposition(
      "# HELP req_total Requests.\n# TYPE req_total counter\nreq_total{code=\"200\"} 5\n"
      "req_total{code=\"500\",path=\"/a\\\"b\"} 1 1700000000000\n"
      "# TYPE up gauge\nup 1\n",
      kLabels, error);
  ASSERT_TRUE(f) << error;
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
  std::string error;
  auto f = parse_exposition(
      "# TYPE lat histogram\nlat_bucket{le=\"0.1\"} 1\nlat_bucket{le=\"+Inf\"} 2\n"
      "lat_sum 0.3\nlat_count 2\nstray 7\n",
      kLabels, error);
  ASSERT_TRUE(f) << error;
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[0].samples.size(), 4u);
  EXPECT_EQ((*f)[1].name, "stray");
  EXPECT_EQ((*f)[1].type, "untyped");
}

TEST(ParseExposition, ClashingLabelsAreKeptAsExported) {
  std::string error;
  auto f = parse_exposition("x{pod=\"inner\"} 1\n", kLabels, error);
  ASSERT_TRUE(f) << error;
  EXPECT_EQ((*f)[0].samples[0], "x{pod=\"web-0\",container=\"app\",exported_pod=\"inner\"} 1");
}

TEST(ParseExposition, MalformedInputNamesTheLine) {
  for (const char* bad :
       {"x{a=\"1} 2\n", "x{a=1} 2\n", "{a=\"1\"} 2\n", "x\n", "# TYPE x sideways\nx 1\n"}) {
    std::string error;
    EXPECT_FALSE(parse_exposition(std::string("ok 1\n") + bad, kLabels, error)) << bad;
    EXPECT_NE(error.find("line 2"), std::string::npos) << error;
  }
}

TEST(MergeFamilies, JoinsByNameAndDropsTypeConflicts) {
  std::string error;
  std::vector<ExternalFamily> all;
  merge_families(all, *parse_exposition("# TYPE up gauge\nup 1\n", kLabels, error));
  merge_families(all, *parse_exposition("# TYPE up gauge\nup 0\n",
                                        {{"pod", "web-1"}, {"container", "app"}}, error));
  auto dropped = merge_families(all, *parse_exposition("# TYPE up counter\nup 3\n",
                                                       {{"pod", "x"}, {"container", "y"}}, error));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].samples.size(), 2u);
  EXPECT_EQ(dropped, std::vector<std::string>{"up"});
}

TEST(RegistryExternal, MergesIntoOneGroupPerNameInBothFormats) {
  Registry r;
  r.counter("req_total", "Own requests.").inc(2);
  std::string error;
  auto ext = *parse_exposition(
      "# HELP req_total Theirs.\n# TYPE req_total counter\nreq_total 5\n"
      "# TYPE zz_only gauge\nzz_only 1\n# TYPE aa_only untyped\naa_only 3\n",
      kLabels, error);
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

}  // namespace
}  // namespace tender::pod
