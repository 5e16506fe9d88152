#include "adapter/json_path.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace tender::adapter {
namespace {

namespace json = boost::json;

// What `path` selects in `doc`, each as JSON text, from `context` (the document if null).
std::vector<std::string> select(const std::string& path, const json::value& doc,
                                const json::value* context = nullptr) {
  auto p = JsonPath::parse(path);
  EXPECT_TRUE(p) << path << ": " << (p ? "" : p.error().message());
  if (!p) {
    return {};
  }
  std::vector<JsonMatch> got;
  p->select(doc, context != nullptr ? *context : doc, got);
  std::vector<std::string> out;
  for (const auto& m : got) {
    out.push_back(json::serialize(*m.value));
  }
  return out;
}

using V = std::vector<std::string>;

const json::value kDoc = json::parse(R"({
  "uptime": 12,
  "a.b": {"c": true},
  "servers": [{"name": "x", "load": 5}, {"name": "y", "load": 15, "extra": {"load": 9}}],
  "queues": {"q1": {"depth": 3}, "q2": {"depth": 4}}
})");

TEST(JsonPath, KeysIndexesAndQuotedKeys) {
  EXPECT_EQ(select("$.uptime", kDoc), V{"12"});
  EXPECT_EQ(select("$['a.b'].c", kDoc), V{"true"});
  EXPECT_EQ(select("$[\"a.b\"]['c']", kDoc), V{"true"});
  EXPECT_EQ(select("$.servers[1].name", kDoc), V{"\"y\""});
  EXPECT_EQ(select("$.servers[-1].name", kDoc), V{"\"y\""});
  EXPECT_EQ(select("{ $.uptime }", kDoc), V{"12"});  // json_exporter's braces
  EXPECT_EQ(select("$", kDoc).size(), 1u);
}

TEST(JsonPath, MissingStepsSelectNothing) {
  EXPECT_TRUE(select("$.nope", kDoc).empty());
  EXPECT_TRUE(select("$.servers[5]", kDoc).empty());
  EXPECT_TRUE(select("$.uptime.x", kDoc).empty());
  EXPECT_TRUE(select("$.uptime[0]", kDoc).empty());
}

TEST(JsonPath, WildcardsOverArraysAndObjects) {
  EXPECT_EQ(select("$.servers[*].name", kDoc), (V{"\"x\"", "\"y\""}));
  EXPECT_EQ(select("$.queues.*.depth", kDoc), (V{"3", "4"}));
  EXPECT_EQ(select("$.queues[*].depth", kDoc), (V{"3", "4"}));
}

TEST(JsonPath, RecursiveDescentFindsEveryDepth) {
  EXPECT_EQ(select("$..load", kDoc), (V{"5", "15", "9"}));
  EXPECT_EQ(select("$..['depth']", kDoc), (V{"3", "4"}));
}

TEST(JsonPath, RelativePathsStartAtTheContext) {
  const json::value& server = kDoc.at("servers").at(1);
  EXPECT_EQ(select(".name", kDoc, &server), V{"\"y\""});
  EXPECT_EQ(select("@.extra.load", kDoc, &server), V{"9"});
  EXPECT_EQ(select("{.load}", kDoc, &server), V{"15"});
  EXPECT_EQ(select("$.uptime", kDoc, &server), V{"12"});  // absolute ignores the context
}

TEST(JsonPath, MatchesKnowTheirParentAndKey) {
  auto p = JsonPath::parse("$.queues.*");
  ASSERT_TRUE(p);
  std::vector<JsonMatch> got;
  p->select(kDoc, kDoc, got);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, "q1");
  EXPECT_EQ(got[1].key, "q2");
  EXPECT_EQ(got[0].parent, &kDoc.at("queues"));
  EXPECT_TRUE(p->many());
  EXPECT_FALSE(JsonPath::parse("$.a[0]")->many());
}

TEST(JsonPath, BadSyntaxSaysWhere) {
  for (const char* bad :
       {"", "uptime", "$.", "$[", "$[1", "$['a", "$[?(@.x)]", "$[0:2]", "$..*", "$.a b", "$]"}) {
    auto p = JsonPath::parse(bad);
    EXPECT_FALSE(p) << bad;
    if (!p) {
      EXPECT_EQ(p.error().message().rfind("at ", 0), 0u) << p.error().message();
    }
  }
}

}  // namespace
}  // namespace tender::adapter
