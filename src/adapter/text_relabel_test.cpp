#include "adapter/text_relabel.hpp"

#include <gtest/gtest.h>

namespace tender::adapter {
namespace {

Relabeler rules(const std::string& yaml) {
  return Relabeler::parse(parse_config(yaml, "r.yaml").child("relabel"));
}

std::string get(const Labels& l, const std::string& name) {
  for (const auto& [n, v] : l) {
    if (n == name) {
      return v;
    }
  }
  return "<none>";
}

std::string config_error(const std::string& yaml) {
  try {
    (void)rules(yaml);
  } catch (const ConfigError& e) {
    return std::to_string(e.line()) + ": " + e.what();
  }
  return "no error";
}

TEST(Relabel, ReplaceRenamesWithGroupsAndSetsConstants) {
  auto r = rules(
      "relabel:\n"
      "  - {source_labels: [__name__], regex: 'http_(.*)', target_label: __name__,"
      "     replacement: 'app_http_$1'}\n"
      "  - {target_label: env, replacement: prod}\n"
      "  - {source_labels: [code, method], regex: '(?P<c>\\d)\\d\\d;(.*)', target_label: class,"
      "     replacement: '${c}xx_$2'}\n"
      "  - {source_labels: [nope], regex: 'x', target_label: never, replacement: y}\n");
  Labels l{{"code", "404"}, {"method", "GET"}, {"__name__", "http_requests"}};
  ASSERT_TRUE(r.apply(l));
  EXPECT_EQ(get(l, "__name__"), "app_http_requests");
  EXPECT_EQ(get(l, "env"), "prod");
  EXPECT_EQ(get(l, "class"), "4xx_GET");
  EXPECT_EQ(get(l, "never"), "<none>");
}

TEST(Relabel, ReplacementExpandsAsGoDoes) {
  auto r = rules(
      "relabel:\n"
      "  - {source_labels: [a], regex: '(?<word>[a-z]+)-(\\d+)', target_label: out,"
      "     replacement: '$1x|${1}x|$word|$$|$|${|$-|$9|${2}'}\n"
      "  - {source_labels: [a], regex: '(.*)-.*', target_label: 'to_$1', replacement: hit}\n");
  Labels l{{"a", "abc-42"}};
  ASSERT_TRUE(r.apply(l));
  // $1x is the group named "1x" (none: empty); $$ is $; malformed references stay as written.
  EXPECT_EQ(get(l, "out"), "|abcx|abc|$|$|${|$-||42");
  EXPECT_EQ(get(l, "to_abc"), "hit");  // target_label expands too
}

TEST(Relabel, RegexIsFullyAnchoredAndEmptyReplacementRemoves) {
  auto r = rules(
      "relabel:\n"
      "  - {source_labels: [a], regex: 'b', target_label: hit, replacement: yes}\n"
      "  - {source_labels: [a], regex: 'abc', target_label: a, replacement: ''}\n");
  Labels l{{"a", "abc"}};
  ASSERT_TRUE(r.apply(l));
  EXPECT_EQ(get(l, "hit"), "<none>");  // "b" does not match all of "abc"
  EXPECT_EQ(get(l, "a"), "<none>");
}

TEST(Relabel, KeepAndDrop) {
  auto keep = rules("relabel:\n  - {source_labels: [__name__], regex: 'app_.*', action: keep}\n");
  Labels yes{{"__name__", "app_x"}};
  Labels no{{"__name__", "go_gc"}};
  EXPECT_TRUE(keep.apply(yes));
  EXPECT_FALSE(keep.apply(no));
  auto drop = rules(
      "relabel:\n  - {source_labels: [__name__, le], separator: '@', regex: 'h@0\\.5', "
      "action: drop}\n");
  Labels bucket{{"__name__", "h"}, {"le", "0.5"}};
  Labels other{{"__name__", "h"}, {"le", "1"}};
  EXPECT_FALSE(drop.apply(bucket));
  EXPECT_TRUE(drop.apply(other));
}

TEST(Relabel, KeepEqualDropEqualLowercaseUppercase) {
  auto r = rules(
      "relabel:\n"
      "  - {source_labels: [m], target_label: m_low, action: lowercase}\n"
      "  - {source_labels: [m], target_label: m_up, action: uppercase}\n"
      "  - {source_labels: [a], target_label: b, action: keepequal}\n");
  Labels same{{"m", "GeT"}, {"a", "1"}, {"b", "1"}};
  ASSERT_TRUE(r.apply(same));
  EXPECT_EQ(get(same, "m_low"), "get");
  EXPECT_EQ(get(same, "m_up"), "GET");
  Labels differ{{"a", "1"}, {"b", "2"}};
  EXPECT_FALSE(r.apply(differ));
  auto de = rules("relabel:\n  - {source_labels: [a], target_label: b, action: dropequal}\n");
  Labels eq{{"a", "1"}, {"b", "1"}};
  EXPECT_FALSE(de.apply(eq));
}

TEST(Relabel, LabelMapLabelDropLabelKeep) {
  auto map = rules("relabel:\n  - {regex: 'pod_(.+)', action: labelmap}\n");
  Labels l{{"__name__", "x"}, {"pod_name", "web"}};
  ASSERT_TRUE(map.apply(l));
  EXPECT_EQ(get(l, "name"), "web");
  EXPECT_EQ(get(l, "pod_name"), "web");  // kept, as Prometheus does
  auto drop = rules("relabel:\n  - {regex: 'pod_.*', action: labeldrop}\n");
  ASSERT_TRUE(drop.apply(l));
  EXPECT_EQ(get(l, "pod_name"), "<none>");
  EXPECT_EQ(get(l, "__name__"), "x");
  auto keep = rules("relabel:\n  - {regex: 'name', action: labelkeep}\n");
  Labels k{{"__name__", "x"}, {"name", "a"}, {"other", "b"}};
  ASSERT_TRUE(keep.apply(k));
  EXPECT_EQ(k.size(), 2u);  // __name__ stays
  EXPECT_EQ(get(k, "other"), "<none>");
}

TEST(Relabel, BadRulesAreConfigErrorsAtTheirLine) {
  std::string regex = config_error(
      "relabel:\n  - source_labels: [a]\n    regex: '(unclosed'\n"
      "    action: keep\n");
  EXPECT_EQ(regex.substr(0, 2), "3:") << regex;
  EXPECT_NE(regex.find("not a regex"), std::string::npos) << regex;
  std::string action = config_error("relabel:\n  - {source_labels: [a], action: hashmod}\n");
  EXPECT_NE(action.find("hashmod is not supported"), std::string::npos) << action;
  std::string target = config_error("relabel:\n  - {source_labels: [a], regex: x}\n");
  EXPECT_NE(target.find("needs a target_label"), std::string::npos) << target;
  std::string keep = config_error("relabel:\n  - {regex: x, action: drop}\n");
  EXPECT_NE(keep.find("needs source_labels"), std::string::npos) << keep;
  std::string name = config_error("relabel:\n  - {source_labels: ['a-b'], action: drop}\n");
  EXPECT_NE(name.find("not a label name"), std::string::npos) << name;
}

std::vector<PromFamily> scraped(const std::string& text) {
  auto f = parse_exposition_samples(text);
  EXPECT_TRUE(f) << f.error().message();
  return f ? std::move(*f) : std::vector<PromFamily>{};
}

TEST(RelabelFamilies, RenamingAHistogramKeepsItWhole) {
  auto r = rules(
      "relabel:\n"
      "  - {source_labels: [__name__], regex: 'http_latency_seconds', target_label: __name__,"
      "     replacement: api_latency_seconds}\n");
  auto out = relabel_families(
      scraped(
          "# HELP http_latency_seconds Latency.\n# TYPE http_latency_seconds histogram\n"
          "http_latency_seconds_bucket{le=\"1\"} 1\nhttp_latency_seconds_bucket{le=\"+Inf\"} 2\n"
          "http_latency_seconds_sum 1.5\nhttp_latency_seconds_count 2\n"),
      {}, r);
  ASSERT_EQ(out.families.size(), 1u);
  const Family& f = out.families[0];
  EXPECT_EQ(f.name, "api_latency_seconds");
  EXPECT_EQ(f.type, MetricType::kHistogram);
  EXPECT_EQ(f.help, "Latency.");
  ASSERT_EQ(f.samples.size(), 4u);
  EXPECT_EQ(f.samples[0].name, "api_latency_seconds_bucket");
  EXPECT_EQ(get(f.samples[0].labels, "le"), "1");
  EXPECT_EQ(f.samples[3].name, "api_latency_seconds_count");
}

TEST(RelabelFamilies, StaticLabelsFirstClashesExportedUnderscoreLabelsGone) {
  auto r = rules(
      "relabel:\n"
      "  - {source_labels: [job], target_label: __tmp, replacement: '$1'}\n"
      "  - {source_labels: [__tmp], target_label: was, replacement: 'job_$1'}\n"
      "  - {source_labels: [__name__], regex: 'go_.*', action: drop}\n");
  auto out = relabel_families(scraped("up{app=\"inner\",job=\"j\"} 1 1000\ngo_gc 3\n"),
                              {{"app", "web"}}, r);
  EXPECT_EQ(out.dropped, 1u);
  ASSERT_EQ(out.families.size(), 1u);
  const Sample& s = out.families[0].samples[0];
  EXPECT_EQ(get(s.labels, "app"), "web");
  EXPECT_EQ(get(s.labels, "exported_app"), "inner");
  EXPECT_EQ(get(s.labels, "was"), "job_j");
  EXPECT_EQ(get(s.labels, "__tmp"), "<none>");
  EXPECT_EQ(get(s.labels, "__name__"), "<none>");
  EXPECT_EQ(s.timestamp_ms, 1000);
}

}  // namespace
}  // namespace tender::adapter
