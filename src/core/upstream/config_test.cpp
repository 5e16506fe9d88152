#include "core/upstream/config.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tender::upstream {
namespace {

ClusterConfig parse(const std::string& yaml, std::initializer_list<std::string_view> extra = {}) {
  return parse_cluster(parse_config(yaml, "c.yaml"), extra);
}

std::string error_of(const std::string& yaml) {
  try {
    (void)parse(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// A role other than the proxy (scatter/gather) reads the same block, with its own fields.
TEST(ClusterConfigParse, ReadsEveryField) {
  ClusterConfig c = parse(
      "name: shards\n"
      "dns: \"shards.internal:8080\"\n"
      "dns_refresh: 2s\n"
      "policy: maglev\n"
      "hash: murmur3\n"
      "hash_on: header:x-user\n"
      "auto_eject: false\n"
      "connect_timeout: 250ms\n"
      "health_check: {type: http, path: /ready, interval: 1s, healthy_threshold: 1}\n"
      "outlier: {consecutive_failures: 3, base_ejection: 10s, max_ejection: 1m}\n"
      "limits: {max_requests: 10}\n"
      "fan_out: all\n",
      {"fan_out"});
  EXPECT_EQ(c.name, "shards");
  EXPECT_EQ(c.line, 1);
  EXPECT_EQ(c.source, ClusterConfig::Source::kDns);
  EXPECT_EQ(c.dns.str(), "shards.internal:8080");
  EXPECT_EQ(c.dns_refresh, std::chrono::seconds(2));
  EXPECT_EQ(c.policy, Policy::kMaglev);
  EXPECT_TRUE(c.policy_set);
  EXPECT_EQ(c.hash, HashFunction::kMurmur3);
  EXPECT_EQ(c.hash_on.str(), "header:x-user");
  EXPECT_FALSE(c.auto_eject);
  EXPECT_TRUE(c.auto_eject_set);
  EXPECT_EQ(c.connect_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(c.health.type, HealthCheck::Type::kHttp);
  EXPECT_EQ(c.health.path, "/ready");
  EXPECT_EQ(c.health.interval, std::chrono::seconds(1));
  EXPECT_EQ(c.health.healthy_threshold, 1);
  EXPECT_EQ(c.health.unhealthy_threshold, 3);
  EXPECT_EQ(c.outlier.consecutive_failures, 3);
  EXPECT_EQ(c.outlier.base_ejection, std::chrono::seconds(10));
  EXPECT_EQ(c.outlier.max_ejection, std::chrono::minutes(1));
  EXPECT_EQ(c.limits.max_requests, 10U);
  EXPECT_EQ(c.limits.max_connections, 1024U);
}

TEST(ClusterConfigParse, StaticAndFileSources) {
  ClusterConfig s = parse("name: a\nendpoints: [\"10.0.0.1:80\", \"b:81\"]\n");
  EXPECT_EQ(s.source, ClusterConfig::Source::kStatic);
  ASSERT_EQ(s.endpoints.size(), 2U);
  EXPECT_EQ(s.endpoints[1].str(), "b:81");
  EXPECT_FALSE(s.policy_set);
  EXPECT_EQ(s.policy, Policy::kRoundRobin);
  ClusterConfig f = parse("name: a\nfile: /etc/shards\n");
  EXPECT_EQ(f.source, ClusterConfig::Source::kFile);
  EXPECT_EQ(f.file, "/etc/shards");
}

TEST(ClusterConfigParse, ErrorsNameTheField) {
  EXPECT_EQ(error_of("endpoints: [\"a:1\"]\n"), "c.yaml:1: name: every cluster needs a name");
  EXPECT_NE(error_of("name: a\n").find("cluster a needs exactly one of endpoints, dns, file"),
            std::string::npos);
  EXPECT_NE(error_of("name: a\nendpoints: [\"a:1\"]\nfile: x\n").find("exactly one of"),
            std::string::npos);
  EXPECT_NE(error_of("name: a\nendpoints: [\"nope\"]\n").find("expected HOST:PORT, not \"nope\""),
            std::string::npos);
  EXPECT_NE(error_of("name: a\nendpoints: [\"a:1\"]\npolicy: fastest\n").find("policy: not one of"),
            std::string::npos);
  EXPECT_NE(error_of("name: a\nendpoints: [\"a:1\"]\nhash_on: path\n")
                .find("hash_on: cluster a has policy round_robin, which hashes nothing"),
            std::string::npos);
  EXPECT_NE(error_of("name: a\ndns: \"a:1\"\ndns_refresh: 10ms\n").find("at least 100ms"),
            std::string::npos);
  EXPECT_NE(error_of("name: a\nendpoints: [\"a:1\"]\nhealth_check: {interval: 1ms}\n")
                .find("health_check.interval: at least 10ms"),
            std::string::npos);
  EXPECT_NE(error_of("name: a\nendpoints: [\"a:1\"]\n"
                     "outlier: {base_ejection: 1m, max_ejection: 10s}\n")
                .find("max_ejection: shorter than base_ejection"),
            std::string::npos);
}

TEST(HashOnParse, RoundTrips) {
  for (const char* text : {"client_address", "path", "header:x-user", "query:id"}) {
    auto on = HashOn::parse(text);
    ASSERT_TRUE(on) << text;
    EXPECT_EQ(on->str(), text);
  }
  EXPECT_FALSE(HashOn::parse("header:"));
  EXPECT_FALSE(HashOn::parse("cookie:x"));
  EXPECT_FALSE(HashOn::parse("client_address")->keyed());
  EXPECT_TRUE(HashOn::parse("path")->keyed());
}

}  // namespace
}  // namespace tender::upstream
