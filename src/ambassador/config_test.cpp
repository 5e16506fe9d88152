#include "ambassador/config.hpp"

#include <gtest/gtest.h>

namespace tender::ambassador {
namespace {

ProxyConfig parse(const std::string& yaml) {
  return parse_proxy_config(parse_config(yaml, "p.yaml"));
}

// The message of the ConfigError `yaml` raises, or "" if it parses.
std::string error_of(const std::string& yaml) {
  try {
    (void)parse(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ProxyConfig, ReadsACompleteConfig) {
  ProxyConfig c = parse(R"(
workers: 2
busy_poll: 20us
listeners:
  - name: cache
    listen: 127.0.0.1:6379
    protocol: redis
    cluster: redis
  - name: db
    listen: 127.0.0.1:5432
    cluster: pg
    idle_timeout: 1h
clusters:
  - name: redis
    endpoints: ["10.0.0.1:6379", "10.0.0.2:6379"]
    hash: murmur3
    health_check: {type: redis, interval: 2s, timeout: 500ms}
  - name: pg
    file: /etc/tender/pg-endpoints
    policy: least_request
    connect_timeout: 250ms
    outlier: {consecutive_failures: 3, base_ejection: 10s, max_ejected_percent: 30}
    limits: {max_connections: 100, max_requests: 50}
)");
  EXPECT_EQ(c.workers, 2);
  EXPECT_EQ(c.busy_poll, std::chrono::microseconds(20));
  ASSERT_EQ(c.listeners.size(), 2U);
  EXPECT_EQ(c.listeners[0].protocol, Protocol::kRedis);
  EXPECT_EQ(c.listeners[0].listen.port, 6379);
  EXPECT_EQ(c.listeners[1].protocol, Protocol::kTcp);  // the default
  EXPECT_EQ(c.listeners[1].idle_timeout, std::chrono::hours(1));
  const ClusterConfig* redis = c.cluster("redis");
  ASSERT_NE(redis, nullptr);
  EXPECT_EQ(redis->policy, Policy::kRingHash);  // a redis listener shards: ring hash by default
  EXPECT_EQ(redis->hash, HashFunction::kMurmur3);
  EXPECT_EQ(redis->health.type, HealthCheck::Type::kRedis);
  EXPECT_EQ(redis->health.timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(redis->endpoints.size(), 2U);
  const ClusterConfig* pg = c.cluster("pg");
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(pg->source, ClusterConfig::Source::kFile);
  EXPECT_EQ(pg->policy, Policy::kLeastRequest);
  EXPECT_EQ(pg->outlier.max_ejected_percent, 30);
  EXPECT_EQ(pg->limits.max_requests, 50U);
  EXPECT_EQ(pg->limits.max_pending, 1024U);  // untouched default
}

TEST(ProxyConfig, ErrorsNameTheLineAndField) {
  const std::string rest =
      "listeners:\n"
      "  - {listen: \"127.0.0.1:1\", cluster: c}\n"
      "clusters:\n"
      "  - {name: c, endpoints: [\"127.0.0.1:2\"]}\n";
  EXPECT_NE(error_of("busy_poll: 5ms\n" + rest)
                .find("p.yaml:1: busy_poll: more than 1000us: past that a sleep costs less"),
            std::string::npos);
  EXPECT_NE(error_of("workers: 1\nbusy_poll: fast\n" + rest)
                .find("p.yaml:2: busy_poll: not a duration (like 50us, 250ms, 10s): \"fast\""),
            std::string::npos);
  EXPECT_EQ(parse(rest).busy_poll, std::chrono::microseconds(0));  // off unless asked for
  EXPECT_NE(error_of("io_uring: always\n"
                     "listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", cluster: c}\n"
                     "clusters:\n"
                     "  - {name: c, endpoints: [\"127.0.0.1:2\"]}\n")
                .find("p.yaml:1: io_uring: not one of auto, off: \"always\""),
            std::string::npos);
  EXPECT_NE(error_of("listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", protocol: redis, cluster: c}\n"
                     "clusters:\n"
                     "  - {name: c, endpoints: [\"127.0.0.1:2\"], policy: round_robin}\n")
                .find("p.yaml:4: policy: cluster c serves redis listener"),
            std::string::npos);
  EXPECT_NE(error_of("listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", cluster: c}\n"
                     "clusters:\n"
                     "  - {name: c}\n")
                .find("needs exactly one of endpoints, dns, file"),
            std::string::npos);
  EXPECT_NE(error_of("listeners:\n"
                     "  - {listen: \"nowhere\", cluster: c}\n"
                     "clusters:\n"
                     "  - {name: c, endpoints: [\"127.0.0.1:2\"]}\n")
                .find("p.yaml:2: listeners[0].listen: expected HOST:PORT"),
            std::string::npos);
  EXPECT_NE(error_of("listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", protocol: udp, cluster: c}\n"
                     "clusters:\n"
                     "  - {name: c, endpoints: [\"127.0.0.1:2\"]}\n")
                .find("not one of tcp, http, redis"),
            std::string::npos);
  EXPECT_NE(error_of("listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", cluster: c}\n"
                     "  - {listen: \"127.0.0.1:1\", cluster: c}\n"
                     "clusters:\n"
                     "  - {name: c, endpoints: [\"127.0.0.1:2\"]}\n")
                .find("two listeners"),
            std::string::npos);
  EXPECT_NE(
      error_of("clusters:\n  - {name: c, endpoints: [\"127.0.0.1:2\"]}\n").find("no listeners"),
      std::string::npos);
  EXPECT_NE(error_of("listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", protocol: http, cluster: c, auth: pw}\n"
                     "clusters:\n"
                     "  - {name: c, endpoints: [\"127.0.0.1:2\"]}\n")
                .find("p.yaml:2: listeners[0].auth: only redis listeners take a password"),
            std::string::npos);
  EXPECT_NE(error_of("listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", protocol: redis, cluster: c, auth_user: app}\n"
                     "clusters:\n"
                     "  - {name: c, endpoints: [\"127.0.0.1:2\"]}\n")
                .find("p.yaml:2: listeners[0].auth_user: needs auth, the user's password"),
            std::string::npos);
  EXPECT_NE(error_of("listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", protocol: redis, cluster: c}\n"
                     "clusters:\n"
                     "  - {name: c, auth_user: app, endpoints: [\"127.0.0.1:2\"]}\n")
                .find("p.yaml:4: clusters[0].auth_user: needs auth, the user's password"),
            std::string::npos);
  EXPECT_NE(error_of("listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", protocol: tcp, cluster: c}\n"
                     "clusters:\n"
                     "  - {name: c, auth: pw, endpoints: [\"127.0.0.1:2\"]}\n")
                .find("p.yaml:4: auth: cluster c serves no redis listener and has no redis "
                      "health check"),
            std::string::npos);
  // A tcp listener in front of redis servers, checked with PING: the password is used.
  EXPECT_EQ(error_of("listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", protocol: tcp, cluster: c}\n"
                     "clusters:\n"
                     "  - {name: c, auth: pw, health_check: {type: redis},\n"
                     "     endpoints: [\"127.0.0.1:2\"]}\n"),
            "");
}

// A cluster that is not defined is reported where it is named, whichever field names it.
TEST(ProxyConfig, AMissingClusterIsReportedWhereItIsNamed) {
  const std::string clusters =
      "clusters:\n"
      "  - {name: api, endpoints: [\"127.0.0.1:2\"]}\n"
      "  - {name: cache, endpoints: [\"127.0.0.1:3\"]}\n";
  // A tcp listener's cluster.
  EXPECT_EQ(error_of("listeners:\n"
                     "  - listen: 127.0.0.1:1\n"
                     "    cluster: nope\n" +
                     clusters),
            "p.yaml:3: listeners[0].cluster: listener 127.0.0.1:1 uses cluster nope, which is "
            "not defined (clusters: api, cache)");
  // A redis listener's cluster.
  EXPECT_EQ(error_of("listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", protocol: redis, cluster: api}\n"
                     "  - name: cache\n"
                     "    listen: 127.0.0.1:4\n"
                     "    protocol: redis\n"
                     "    cluster: cahce\n" +
                     clusters),
            "p.yaml:6: listeners[1].cluster: listener cache uses cluster cahce, which is not "
            "defined (clusters: api, cache)");
  // An http route's cluster.
  EXPECT_EQ(error_of("listeners:\n"
                     "  - name: web\n"
                     "    listen: 127.0.0.1:1\n"
                     "    protocol: http\n"
                     "    routes:\n"
                     "      - {prefix: /a/, cluster: api}\n"
                     "      - prefix: /b/\n"
                     "        cluster: apii\n"
                     "    cluster: api\n" +
                     clusters),
            "p.yaml:8: listeners[0].routes[1].cluster: listener web uses cluster apii, which is "
            "not defined (clusters: api, cache)");
  // An http listener's `cluster:`, the route for "/" after the others.
  EXPECT_EQ(error_of("listeners:\n"
                     "  - name: web\n"
                     "    listen: 127.0.0.1:1\n"
                     "    protocol: http\n"
                     "    routes: [{prefix: /a/, cluster: api}]\n"
                     "    cluster: www\n" +
                     clusters),
            "p.yaml:6: listeners[0].cluster: listener web uses cluster www, which is not defined "
            "(clusters: api, cache)");
  // No clusters at all.
  EXPECT_EQ(error_of("listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", cluster: c}\n"),
            "p.yaml:2: listeners[0].cluster: listener 127.0.0.1:1 uses cluster c, which is not "
            "defined (no clusters are defined)");
}

TEST(ProxyConfig, HttpRoutesAndTheClusterShorthand) {
  ProxyConfig c = parse(R"(
listeners:
  - listen: 127.0.0.1:8080
    protocol: http
    routes:
      - {prefix: /api/, host: api.example, cluster: api}
    cluster: web
    retries: 3
clusters:
  - {name: api, endpoints: ["127.0.0.1:1"]}
  - {name: web, endpoints: ["127.0.0.1:2"]}
)");
  const auto& l = c.listeners[0];
  ASSERT_EQ(l.routes.size(), 2U);
  EXPECT_EQ(l.routes[0].cluster, "api");
  EXPECT_EQ(l.routes[1].prefix, "/");  // `cluster:` is the catch-all route, last
  EXPECT_EQ(l.routes[1].cluster, "web");
  EXPECT_EQ(l.retries, 3);
  EXPECT_NE(error_of("listeners:\n"
                     "  - {listen: \"127.0.0.1:1\", routes: [{prefix: /, cluster: c}]}\n"
                     "clusters:\n"
                     "  - {name: c, endpoints: [\"127.0.0.1:2\"]}\n")
                .find("only http listeners have routes"),
            std::string::npos);
}

TEST(ProxyConfig, OneLiner) {
  ProxyConfig c = one_liner_config("127.0.0.1:6379", Protocol::kRedis, "a:1,b:2,,c:3", "");
  ASSERT_EQ(c.listeners.size(), 1U);
  EXPECT_EQ(c.listeners[0].protocol, Protocol::kRedis);
  ASSERT_EQ(c.clusters[0].endpoints.size(), 3U);
  EXPECT_EQ(c.clusters[0].endpoints[2].host, "c");
  EXPECT_EQ(c.clusters[0].policy, Policy::kRingHash);
  EXPECT_THROW((void)one_liner_config("127.0.0.1:1", Protocol::kTcp, "a:1", "fastest"),
               ConfigError);
  EXPECT_THROW((void)one_liner_config("127.0.0.1:1", Protocol::kTcp, "no-port", ""), ConfigError);
}

TEST(ProxyConfig, ShardedClustersKeepTheirKeysUnlessACache) {
  ProxyConfig c = parse(R"(
listeners:
  - {name: cache, listen: 127.0.0.1:0, protocol: redis, cluster: redis}
  - {name: lru, listen: 127.0.0.1:0, protocol: redis, cluster: lru}
  - {name: web, listen: 127.0.0.1:0, protocol: http, cluster: users}
  - {name: sticky, listen: 127.0.0.1:0, protocol: http, cluster: sticky}
clusters:
  - {name: redis, endpoints: ["10.0.0.1:6379"]}
  - {name: lru, endpoints: ["10.0.0.1:6379"], auto_eject: true}
  - {name: users, endpoints: ["10.0.0.1:80"], policy: maglev, hash_on: "header:X-User"}
  - {name: sticky, endpoints: ["10.0.0.1:80"], policy: ring_hash}
)");
  ASSERT_EQ(c.clusters.size(), 4U);
  EXPECT_FALSE(c.clusters[0].auto_eject);
  EXPECT_TRUE(c.clusters[1].auto_eject);
  EXPECT_FALSE(c.clusters[2].auto_eject);
  EXPECT_EQ(c.clusters[2].hash_on.kind, HashOn::Kind::kHeader);
  EXPECT_EQ(c.clusters[2].hash_on.name, "X-User");
  EXPECT_TRUE(c.clusters[3].auto_eject);  // placed by client address: affinity, not data
  EXPECT_EQ(c.clusters[3].hash_on.kind, HashOn::Kind::kClientAddress);
  for (const char* text : {"client_address", "path", "header:X-A", "query:user"}) {
    auto on = HashOn::parse(text);
    ASSERT_TRUE(on) << text;
    EXPECT_EQ(on->str(), text);
  }
  EXPECT_FALSE(HashOn::parse("header:"));
  EXPECT_FALSE(HashOn::parse("cookie:a"));
  EXPECT_NE(error_of("listeners: [{listen: 127.0.0.1:0, protocol: http, cluster: a}]\n"
                     "clusters: [{name: a, endpoints: [\"h:1\"], hash_on: bogus, policy: jump}]\n")
                .find("p.yaml:2: clusters[0].hash_on"),
            std::string::npos);
  EXPECT_NE(error_of("listeners: [{listen: 127.0.0.1:0, protocol: http, cluster: a}]\n"
                     "clusters: [{name: a, endpoints: [\"h:1\"], hash_on: path}]\n")
                .find("hash_on needs ring_hash, maglev or jump"),
            std::string::npos);
}

}  // namespace
}  // namespace tender::ambassador
