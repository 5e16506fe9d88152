#include "adapter/statsd_mapping.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tender::adapter {
namespace {

StatsdSettings settings(const std::string& yaml) {
  return parse_statsd_settings(parse_config(yaml, "statsd.yaml"), SourceDefaults{});
}

MapOutcome map(const StatsdSettings& s, std::string_view name,
               StatsdKind kind = StatsdKind::kCounter) {
  MapOutcome m;
  s.mapper->map(name, kind, m);
  return m;
}

// The ConfigError message of `yaml`, or "" if it parses.
std::string error_of(const std::string& yaml) {
  try {
    (void)settings(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(StatsdMapping, SanitisesNamesAsStatsdExporter) {
  EXPECT_EQ(sanitize_metric_name("api.get-user/x"), "api_get_user_x");
  EXPECT_EQ(sanitize_metric_name("1st:ok"), "_1st:ok");
  EXPECT_EQ(sanitize_label_name("env:x-y"), "env_x_y");
  EXPECT_EQ(sanitize_label_name("__name"), "tag__name");
  EXPECT_EQ(sanitize_label_name("..x"), "tag__x");      // reserved once sanitised
  EXPECT_EQ(sanitize_label_name("\x86\x90"), "tag__");  // found by fuzz_statsd
  EXPECT_EQ(sanitize_label_name("9lives"), "_9lives");
  StatsdSettings s = settings("udp: 127.0.0.1:0\n");
  MapOutcome m = map(s, "my.app-1.hits");
  EXPECT_EQ(m.name, "my_app_1_hits");
  EXPECT_TRUE(m.labels.empty());
  EXPECT_TRUE(m.options->summary);  // statsd_exporter's default observer
}

TEST(StatsdMapping, GlobCapturesComponents) {
  StatsdSettings s = settings(
      "udp: 127.0.0.1:0\n"
      "mappings:\n"
      "  - match: 'api.*.req_*'\n"
      "    name: 'api_${2}_total'\n"
      "    labels: {method: $1, kind: 'k-$2'}\n"
      "  - match: 'api.*'\n"
      "    name: api_other\n");
  MapOutcome m = map(s, "api.get.req_ok");
  EXPECT_EQ(m.name, "api_ok_total");
  EXPECT_EQ(m.labels, (Labels{{"kind", "k-ok"}, {"method", "get"}}));
  EXPECT_EQ(map(s, "api.x").name, "api_other");
  // '*' stays within one component: api.a.b.req_x is not api.*.req_*
  EXPECT_EQ(map(s, "api.a.b.req_x").name, "api_a_b_req_x");
  EXPECT_EQ(map(s, "api.get.other").name, "api_get_other");
}

TEST(StatsdMapping, FirstMatchWinsAndMetricTypeFilters) {
  StatsdSettings s = settings(
      "udp: 127.0.0.1:0\n"
      "mappings:\n"
      "  - match: 'db.*'\n"
      "    match_metric_type: gauge\n"
      "    name: db_gauge\n"
      "  - match: 'db.*'\n"
      "    name: db_$1\n"
      "    observer_type: histogram\n"
      "    histogram_options: {buckets: [1, 2, 5]}\n");
  EXPECT_EQ(map(s, "db.x", StatsdKind::kGauge).name, "db_gauge");
  MapOutcome o = map(s, "db.x", StatsdKind::kObserver);
  EXPECT_EQ(o.name, "db_x");
  EXPECT_FALSE(o.options->summary);
  EXPECT_EQ(o.options->buckets, (std::vector<double>{1, 2, 5}));
}

TEST(StatsdMapping, RegexAndDrop) {
  StatsdSettings s = settings(
      "udp: 127.0.0.1:0\n"
      "mappings:\n"
      "  - match: '^debug\\..*'\n"
      "    match_type: regex\n"
      "    action: drop\n"
      "  - match: '^svc\\.(\\w+)\\.(\\d+)$'\n"
      "    match_type: regex\n"
      "    name: svc_$1\n"
      "    labels: {code: '$2'}\n"
      "    help: Service calls.\n"
      "    ttl: 30s\n");
  EXPECT_TRUE(map(s, "debug.anything").drop);
  MapOutcome m = map(s, "svc.login.200");
  EXPECT_EQ(m.name, "svc_login");
  EXPECT_EQ(m.labels, (Labels{{"code", "200"}}));
  EXPECT_EQ(m.options->help, "Service calls.");
  EXPECT_EQ(m.options->ttl, std::chrono::seconds(30));
  EXPECT_FALSE(map(s, "svc.login.abc").drop);
}

TEST(StatsdMapping, DefaultsApplyToRulesAndUnmatched) {
  StatsdSettings s = settings(
      "udp: 127.0.0.1:0\n"
      "defaults:\n"
      "  observer_type: histogram\n"
      "  buckets: [0.1, 1]\n"
      "  ttl: 1m\n"
      "  match_type: regex\n"
      "  summary_options:\n"
      "    quantiles: [{quantile: 0.99, error: 0.001}, {quantile: 0.5, error: 0.05}]\n"
      "    max_age: 2m\n"
      "mappings:\n"
      "  - match: '^a\\.(.*)'\n"
      "    name: a_$1\n"
      "    observer_type: summary\n");
  MapOutcome unmatched = map(s, "zzz", StatsdKind::kObserver);
  EXPECT_FALSE(unmatched.options->summary);
  EXPECT_EQ(unmatched.options->buckets, (std::vector<double>{0.1, 1}));
  EXPECT_EQ(unmatched.options->ttl, std::chrono::minutes(1));
  MapOutcome a = map(s, "a.b", StatsdKind::kObserver);
  EXPECT_EQ(a.name, "a_b");
  EXPECT_TRUE(a.options->summary);
  ASSERT_EQ(a.options->quantiles.size(), 2u);
  EXPECT_EQ(a.options->quantiles[0].quantile, 0.5);  // sorted
  EXPECT_EQ(a.options->max_age, std::chrono::minutes(2));
  EXPECT_EQ(a.options->ttl, std::chrono::minutes(1));
}

TEST(StatsdMapping, SettingsAndTheirDefaults) {
  StatsdSettings s = settings("tcp: 127.0.0.1:9125\nmax_line_bytes: 1KiB\nmax_connections: 3\n");
  EXPECT_FALSE(s.udp);
  ASSERT_TRUE(s.tcp);
  EXPECT_EQ(s.tcp->port, 9125);
  EXPECT_EQ(s.max_line_bytes, 1024u);
  EXPECT_EQ(s.max_connections, 3u);
  EXPECT_EQ(s.read_buffer, 8u << 20);
  EXPECT_EQ(s.json.at("tcp").as_string(), "127.0.0.1:9125");
}

TEST(StatsdMapping, BadConfigurationNamesTheLine) {
  EXPECT_NE(error_of("max_connections: 3\n").find("listens on udp, tcp or both"),
            std::string::npos);
  EXPECT_NE(error_of("udp: nowhere\n").find("statsd.yaml:1: udp: not HOST:PORT"),
            std::string::npos);
  const std::string head = "udp: 127.0.0.1:0\nmappings:\n";
  EXPECT_NE(error_of(head + "  - match: '(unclosed'\n    match_type: regex\n    name: x\n")
                .find("statsd.yaml:3: mappings[0].match: \"(unclosed\": not a regular expression"),
            std::string::npos)
      << error_of(head + "  - match: '(unclosed'\n    match_type: regex\n    name: x\n");
  EXPECT_NE(error_of(head + "  - match: a.*\n    name: 'x-$1'\n").find(":4: mappings[0].name"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  - match: a.*\n    name: 'x_$2'\n").find("$2 is not a group"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  - match: a.*\n    name: '1x'\n").find("cannot be a metric name"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  - match: 'a b'\n    name: x\n").find("a glob holds"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  - match: a\n    name: x\n    buckets: [1, 0.5]\n")
                .find(":5: mappings[0].buckets[1]: bucket bounds must be strictly increasing"),
            std::string::npos)
      << error_of(head + "  - match: a\n    name: x\n    buckets: [1, 0.5]\n");
  EXPECT_NE(error_of(head + "  - match: a\n    name: x\n    buckets: [a]\n").find("not a number"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  - match: a\n    name: x\n    observer_type: tdigest\n")
                .find("observer_type is histogram or summary"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  - match: a\n    name: x\n    labels: {'bad-name': v}\n")
                .find("is not a label name"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  - match: a\n").find("needs a name"), std::string::npos);
  EXPECT_NE(error_of(head + "  - match: a\n    name: x\n    match_metric_type: set\n")
                .find("counter, gauge or observer"),
            std::string::npos);
  EXPECT_EQ(error_of(head + "  - match: a\n    name: x\n    frobnicate: 1\n"), "");  // warns
}

}  // namespace
}  // namespace tender::adapter
