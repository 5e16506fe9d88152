#include "adapter/json_map.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace tender::adapter {
namespace {

namespace json = boost::json;

JsonMapping mapping(const std::string& yaml, Labels static_labels = {}) {
  return parse_json_mapping(parse_config(yaml, "map.yaml"), std::move(static_labels));
}

JsonMapped map(const std::string& yaml, const std::string& doc) {
  return map_json(mapping(yaml), json::parse(doc));
}

const Family* find(const JsonMapped& m, const std::string& name) {
  for (const auto& f : m.families) {
    if (f.name == name) {
      return &f;
    }
  }
  return nullptr;
}

std::string label(const Sample& s, const std::string& name) {
  for (const auto& [n, v] : s.labels) {
    if (n == name) {
      return v;
    }
  }
  return "<none>";
}

// The ConfigError `yaml` gives, as "line: message".
std::string config_error(const std::string& yaml) {
  try {
    (void)mapping(yaml);
  } catch (const ConfigError& e) {
    return std::to_string(e.line()) + ": " + e.what();
  }
  return "no error";
}

TEST(JsonMap, GaugesAndCountersFromPaths) {
  auto m =
      map("metrics:\n"
          "  - {name: app_uptime_seconds, path: $.uptime, help: Uptime.}\n"
          "  - {name: app_requests, type: counter, path: '{.stats.requests}'}\n",
          R"({"uptime": 12.5, "stats": {"requests": 7}})");
  const Family* up = find(m, "app_uptime_seconds");
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(up->type, MetricType::kGauge);
  EXPECT_EQ(up->help, "Uptime.");
  ASSERT_EQ(up->samples.size(), 1u);
  EXPECT_EQ(up->samples[0].value, 12.5);
  const Family* req = find(m, "app_requests");
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(req->type, MetricType::kCounter);  // the exposition adds _total
  EXPECT_EQ(req->samples[0].value, 7);
  EXPECT_EQ(m.missing, 0u);
  EXPECT_EQ(m.invalid, 0u);
}

TEST(JsonMap, BooleansNumericStringsAndTheConverter) {
  auto m =
      map("metrics:\n"
          "  - {name: a, path: $.ok}\n"
          "  - {name: b, path: $.n}\n"
          "  - {name: c, path: $.state, value_converter: {up: 1, down: 0}}\n"
          "  - {name: d, path: $.other}\n",
          R"({"ok": true, "n": "4.25", "state": "down", "other": "sideways"})");
  EXPECT_EQ(find(m, "a")->samples[0].value, 1);
  EXPECT_EQ(find(m, "b")->samples[0].value, 4.25);
  EXPECT_EQ(find(m, "c")->samples[0].value, 0);
  EXPECT_EQ(find(m, "d"), nullptr);  // not a number, no converter entry
  EXPECT_EQ(m.invalid, 1u);
  EXPECT_NE(m.last_problem.find("sideways"), std::string::npos) << m.last_problem;
}

TEST(JsonMap, NullOrMissingGivesNoSampleAndIsCounted) {
  auto m =
      map("metrics:\n"
          "  - {name: a, path: $.gone}\n"
          "  - {name: b, path: $.nothing}\n",
          R"({"nothing": null})");
  EXPECT_TRUE(m.families.empty());
  EXPECT_EQ(m.missing, 2u);
}

TEST(JsonMap, LabelsLiteralRelativeAbsoluteAndStatic) {
  auto mp = mapping(
      "metrics:\n"
      "  - name: load\n"
      "    path: $.servers[*].load\n"
      "    labels: {server: '{.name}', dc: eu, version: '{$.version}', at: '{@key}'}\n",
      {{"app", "web"}});
  auto m = map_json(mp, json::parse(
                            R"({"version": 3, "servers": [{"name": "x", "load": 0.5},
                                                           {"name": "y", "load": 1.5}]})"));
  const Family* f = find(m, "load");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->samples.size(), 2u);
  EXPECT_EQ(label(f->samples[0], "server"), "x");
  EXPECT_EQ(label(f->samples[1], "server"), "y");
  EXPECT_EQ(f->samples[1].value, 1.5);
  EXPECT_EQ(label(f->samples[0], "dc"), "eu");
  EXPECT_EQ(label(f->samples[0], "version"), "3");
  EXPECT_EQ(label(f->samples[0], "at"), "load");  // the value's key in its object
  EXPECT_EQ(label(f->samples[0], "app"), "web");
}

TEST(JsonMap, SeveralValuesLabelsCannotTellApartAreInvalid) {
  auto m =
      map("metrics:\n"
          "  - {name: load, path: '$.servers[*].load'}\n"
          "  - {name: named, path: '$.servers[*].load', labels: {s: '{.name}'}}\n",
          R"({"servers": [{"name": "x", "load": 1}, {"name": "y", "load": 2}]})");
  EXPECT_EQ(find(m, "load"), nullptr);
  EXPECT_EQ(m.invalid, 2u);
  ASSERT_NE(find(m, "named"), nullptr);
  EXPECT_EQ(find(m, "named")->samples.size(), 2u);
}

TEST(JsonMap, ObjectTypeGivesASeriesPerElementPerValue) {
  auto m =
      map("metrics:\n"
          "  - name: app_queue\n"
          "    type: object\n"
          "    help: Queues.\n"
          "    path: $.queues\n"
          "    labels: {queue: '{.name}'}\n"
          "    values: {depth: .depth, state: '{.state}'}\n"
          "    value_converter: {state: {up: 1, down: 0}}\n"
          "  - name: pool\n"
          "    type: object\n"
          "    value_type: counter\n"
          "    path: $.pools.*\n"
          "    labels: {pool: '{@key}'}\n"
          "    values: {hits: .hits}\n",
          R"({"queues": [{"name": "a", "depth": 3, "state": "up"},
                     {"name": "b", "depth": 5, "state": "down"},
                     {"name": "c", "state": "up"}],
          "pools": {"p1": {"hits": 10}, "p2": {"hits": 20}}})");
  const Family* depth = find(m, "app_queue_depth");
  ASSERT_NE(depth, nullptr);
  EXPECT_EQ(depth->help, "Queues.");
  ASSERT_EQ(depth->samples.size(), 2u);
  EXPECT_EQ(label(depth->samples[1], "queue"), "b");
  EXPECT_EQ(depth->samples[1].value, 5);
  const Family* state = find(m, "app_queue_state");
  ASSERT_NE(state, nullptr);
  ASSERT_EQ(state->samples.size(), 3u);
  EXPECT_EQ(state->samples[1].value, 0);
  EXPECT_EQ(m.missing, 1u);  // c has no depth
  const Family* hits = find(m, "pool_hits");
  ASSERT_NE(hits, nullptr);
  EXPECT_EQ(hits->type, MetricType::kCounter);
  ASSERT_EQ(hits->samples.size(), 2u);
  EXPECT_EQ(label(hits->samples[0], "pool"), "p1");
  EXPECT_EQ(hits->samples[1].value, 20);
}

TEST(JsonMap, ObjectPathSelectingAScalarIsInvalid) {
  auto m =
      map("metrics:\n"
          "  - {name: q, type: object, path: $.n, values: {v: .v}}\n",
          R"({"n": 3})");
  EXPECT_TRUE(m.families.empty());
  EXPECT_EQ(m.invalid, 1u);
}

TEST(JsonMap, LabelThatIsAnObjectInvalidatesItsSeries) {
  auto m =
      map("metrics:\n"
          "  - {name: a, path: $.v, labels: {l: '{$.o}'}}\n",
          R"({"v": 1, "o": {"x": 1}})");
  EXPECT_TRUE(m.families.empty());
  EXPECT_EQ(m.invalid, 1u);
}

TEST(JsonMap, ConfigErrorsNameTheLine) {
  EXPECT_EQ(config_error("metrics: []\n").substr(0, 2), "1:");
  EXPECT_NE(config_error("metrics:\n  - {name: 'a-b', path: $.x}\n").find("2: "),
            std::string::npos);
  std::string bad_path = config_error("metrics:\n  - name: a\n    path: $.x[\n");
  EXPECT_EQ(bad_path.substr(0, 2), "3:") << bad_path;
  EXPECT_NE(bad_path.find("not a path"), std::string::npos) << bad_path;
  std::string type = config_error("metrics:\n  - name: a\n    type: histogram\n    path: $.x\n");
  EXPECT_EQ(type.substr(0, 2), "3:") << type;
  std::string no_values = config_error("metrics:\n  - {name: a, type: object, path: $.x}\n");
  EXPECT_NE(no_values.find("needs values"), std::string::npos) << no_values;
  std::string stray = config_error("metrics:\n  - {name: a, path: $.x, values: {b: .b}}\n");
  EXPECT_NE(stray.find("values go with type: object"), std::string::npos) << stray;
  std::string label = config_error("metrics:\n  - name: a\n    path: $.x\n    labels: {__x: y}\n");
  EXPECT_EQ(label.substr(0, 2), "4:") << label;
  std::string types =
      config_error("metrics:\n  - {name: a, path: $.x}\n  - {name: a, type: counter, path: $.y}\n");
  EXPECT_EQ(types.substr(0, 2), "3:") << types;
  std::string conv =
      config_error("metrics:\n  - {name: a, path: $.x, value_converter: {up: yes}}\n");
  EXPECT_NE(conv.find("a number"), std::string::npos) << conv;
}

TEST(JsonDocument, SyntaxErrorsSayLineAndColumn) {
  auto d = parse_json_document("{\n  \"a\": 1,\n  oops\n}");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message().rfind("json: line 3, column 3: ", 0), 0u) << d.error().message();
  auto trailing = parse_json_document("{} x");
  ASSERT_FALSE(trailing);
  EXPECT_EQ(trailing.error().message().rfind("json: line 1, column ", 0), 0u);
  auto scalar = parse_json_document("42");
  ASSERT_FALSE(scalar);
  EXPECT_EQ(scalar.error().message(), "json: the document is a number, not an object or array");
  EXPECT_FALSE(parse_json_document(""));
  EXPECT_TRUE(parse_json_document(" [1, 2] \n"));
}

TEST(JsonDocument, DeepNestingIsRefusedNotACrash) {
  std::string deep(100'000, '[');
  auto d = parse_json_document(deep);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message().rfind("json: line 1, column ", 0), 0u) << d.error().message();
  EXPECT_NE(d.error().message().find("too deep"), std::string::npos) << d.error().message();
  std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(parse_json_document(ok));
}

}  // namespace
}  // namespace tender::adapter
