// tender scatter with a split service: the user's container decides which shard gets what.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <string>

#include "scatter_support.hpp"

namespace tender::testing {
namespace {

std::int64_t requests_of(const Tender& leaf) {
  return json::parse(http(leaf.port("listen"), "GET", "/requests").body).at("count").as_int64();
}

TEST(ScatterServices, SplitServiceChoosesEachShardsPartAndShardsGivenNothingAreNotAsked) {
  auto leaves = start_leaves(3, [](std::size_t i) { return leaf_args(i, 1); });
  auto service = start_leaf({"--split-service"});
  auto root = start_root({"--leaves", leaves_arg(leaves), "--split",
                          "http://" + addr(*service) + "/split", "--merge", "concat"});
  // Elements addressed to s0 and s2 only: s1 is given nothing.
  json::array sent;
  for (int i = 0; i < 9; ++i) {
    sent.push_back(json::object{{"n", i}, {"to", i % 3 == 0 ? "s2" : "s0"}});
  }
  auto r = http(root->port("listen"), "POST", "/map", {{"Content-Type", "application/json"}},
                json::serialize(sent));
  ASSERT_EQ(r.status, 200) << r.body;
  auto answer = json::parse(r.body);
  const auto& got = answer.as_array();
  ASSERT_EQ(got.size(), sent.size());
  std::map<std::int64_t, std::string> shard_of;  // element n -> the shard that mapped it
  for (const auto& e : got) {
    shard_of[e.at("v").at("n").as_int64()] = std::string(e.at("shard").as_string());
  }
  for (int i = 0; i < 9; ++i) {
    EXPECT_EQ(shard_of[i], i % 3 == 0 ? "s2" : "s0") << "element " << i;
  }
  EXPECT_EQ(requests_of(*leaves[0]), 1);
  EXPECT_EQ(requests_of(*leaves[1]), 0);  // a null part: not asked
  EXPECT_EQ(requests_of(*leaves[2]), 1);
  // What the service was sent: the shards' names and the client's body as JSON.
  auto payload = json::parse(http(service->port("listen"), "GET", "/last-body").body);
  EXPECT_EQ(payload.at("shards"), json::parse(R"(["s0","s1","s2"])"));
  EXPECT_EQ(payload.at("body"), json::value(sent));
  EXPECT_EQ(payload.at("request").at("path").as_string(), "/map");
}

TEST(ScatterServices, AFailingSplitServiceIs502AndMalformedClientJsonIs400) {
  auto leaves = start_leaves(2, [](std::size_t i) { return leaf_args(i, 1); });
  auto broken = start_leaf({"--mode", "error"});
  auto root = start_root({"--leaves", leaves_arg(leaves), "--split",
                          "http://" + addr(*broken) + "/split", "--merge", "concat"});
  auto r =
      http(root->port("listen"), "POST", "/map", {{"Content-Type", "application/json"}}, "[1,2,3]");
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("split service"), std::string::npos) << r.body;
  r = http(root->port("listen"), "POST", "/map", {{"Content-Type", "application/json"}}, "[1,");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("malformed JSON"), std::string::npos) << r.body;
  EXPECT_EQ(requests_of(*leaves[0]) + requests_of(*leaves[1]), 0);
}

}  // namespace
}  // namespace tender::testing
