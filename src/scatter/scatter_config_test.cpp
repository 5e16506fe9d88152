#include "scatter/scatter_config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <cstdio>

#include "core/cli.hpp"
#include "core/log.hpp"
#include "core/log_test_support.hpp"

namespace tender::scatter {
namespace {

using namespace std::chrono_literals;
using upstream::ClusterConfig;
using upstream::Policy;

ScatterFlags leaves(std::string text) {
  ScatterFlags f;
  f.leaves = std::move(text);
  return f;
}

ScatterConfig resolve(const std::string& yaml, const ScatterFlags& f = {}) {
  return resolve_scatter(f, parse_config(yaml, "scatter.yaml"));
}

// The message of the ConfigError that resolving `yaml` throws, or what went otherwise.
std::string config_error(const std::string& yaml, const ScatterFlags& f = {}) {
  try {
    (void)resolve(yaml, f);
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a ConfigError: ") + e.what();
  }
  return "no error";
}

std::string usage_error(const ScatterFlags& f, const std::string& yaml = "") {
  try {
    (void)resolve_scatter(f, yaml.empty() ? ConfigNode() : parse_config(yaml, "scatter.yaml"));
  } catch (const UsageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a UsageError: ") + e.what();
  }
  return "no error";
}

// `text` starts with `prefix` ("scatter.yaml:3: merge: ") and holds `part`.
::testing::AssertionResult says(const std::string& text, const std::string& prefix,
                                const std::string& part) {
  if (text.rfind(prefix, 0) == 0 && text.find(part) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "\"" << text << "\" does not start with \"" << prefix
                                       << "\" and hold \"" << part << "\"";
}

std::vector<std::string> endpoints(const ClusterConfig& c) {
  std::vector<std::string> out;
  for (const auto& e : c.endpoints) {
    out.push_back(e.str());
  }
  return out;
}

// --- parse_leaves, parse_quantile, HedgeConfig::str -------------------------------------------

TEST(ParseLeaves, CommasSeparateShardsAndBarsReplicas) {
  auto l = parse_leaves("127.0.0.1:9001|127.0.0.1:9002, b:80 ,[::1]:7");
  ASSERT_TRUE(l) << l.error().message();
  ASSERT_EQ(l->size(), 3U);
  EXPECT_EQ((*l)[0].size(), 2U);
  EXPECT_EQ((*l)[0][1].str(), "127.0.0.1:9002");
  EXPECT_EQ((*l)[1][0].str(), "b:80");
  EXPECT_EQ((*l)[2][0].str(), "[::1]:7");
}

TEST(ParseLeaves, ErrorsSayWhichShard) {
  auto message = [](std::string_view text) {
    auto l = parse_leaves(text);
    return l ? std::string("accepted") : l.error().message();
  };
  EXPECT_EQ(message(""), "no shards");
  EXPECT_EQ(message("a:1,,b:2"), "shard 2 is empty");
  EXPECT_EQ(message("a:1,"), "shard 2 is empty");
  EXPECT_EQ(message("x"), "shard 1: expected HOST:PORT, not \"x\"");
  EXPECT_EQ(message("a:1,b:2|c"), "shard 2: expected HOST:PORT, not \"c\"");
  EXPECT_EQ(message("a:1||b:2"), "shard 1: an empty replica (HOST:PORT between the '|'s)");
  EXPECT_EQ(message("a:0"), "shard 1: port 0 in \"a:0\": a leaf needs its port");
  EXPECT_EQ(parse_leaves("x").error().code(), std::errc::invalid_argument);
}

TEST(ParseQuantile, PercentilesWithDecimals) {
  EXPECT_DOUBLE_EQ(parse_quantile("p95").value(), 0.95);
  EXPECT_DOUBLE_EQ(parse_quantile("p99.9").value(), 0.999);
  EXPECT_DOUBLE_EQ(parse_quantile("p50").value(), 0.5);
  for (const char* bad : {"p", "95", "p0", "p100", "p-5", "p95x", "P95", "p1e1", "p 95"}) {
    EXPECT_FALSE(parse_quantile(bad)) << bad;
  }
}

TEST(HedgeConfig, StrIsWhatTheFlagTakes) {
  HedgeConfig h;
  EXPECT_EQ(h.str(), "off");
  h.mode = HedgeConfig::Mode::kQuantile;
  h.quantile = parse_quantile("p99.9").value();
  EXPECT_EQ(h.str(), "p99.9");
  h.quantile = 0.95;
  EXPECT_EQ(h.str(), "p95");
  h.mode = HedgeConfig::Mode::kFixed;
  h.delay = 20ms;
  EXPECT_EQ(h.str(), "20ms");
}

// --- good configurations ----------------------------------------------------------------------

TEST(ScatterConfig, LeavesFlagAloneGivesTheDefaults) {
  ScatterConfig c = resolve_scatter(leaves("a:1|a:2,b:1"), ConfigNode());
  EXPECT_EQ(c.listen.str(), "127.0.0.1:8100");
  EXPECT_EQ(c.threads, 1);
  ASSERT_EQ(c.shards.size(), 2U);
  EXPECT_EQ(c.shards[0].name, "s0");
  EXPECT_EQ(endpoints(c.shards[0]), (std::vector<std::string>{"a:1", "a:2"}));
  EXPECT_EQ(c.shards[1].name, "s1");
  EXPECT_EQ(c.shard_set, ScatterConfig::ShardSet::kList);
  EXPECT_EQ(c.merge.kind, MergeSpec::Kind::kConcat);
  EXPECT_EQ(c.split.kind, SplitSpec::Kind::kNone);
  EXPECT_EQ(c.deadline, 1s);
  EXPECT_EQ(c.max_deadline, 60s);
  EXPECT_DOUBLE_EQ(c.min_fraction, 1.0);
  EXPECT_EQ(c.hedge.mode, HedgeConfig::Mode::kOff);
  EXPECT_DOUBLE_EQ(c.hedge.budget, 0.05);
  EXPECT_EQ(c.retries, 1);
  EXPECT_EQ(c.timing, Timing::kOff);
  EXPECT_EQ(c.pass_headers.size(), 5U);
  EXPECT_EQ(c.path, "");
}

TEST(ScatterConfig, EveryKeyOfTheFile) {
  ScatterConfig c = resolve(
      "listen: 127.0.0.1:9100\n"
      "threads: 4\n"
      "max_body_bytes: 1MiB\n"
      "max_header_bytes: 8KiB\n"
      "header_timeout: 5s\n"
      "idle_timeout: 30s\n"
      "leaves: \"a:1|a:2,b:1\"\n"
      "replicas: {policy: least_request, connect_timeout: 200ms, limits: {max_requests: 8}}\n"
      "merge: \"topk:score:10@hits\"\n"
      "split: \"hash:user.id@items\"\n"
      "deadline: 250ms\n"
      "max_deadline: 5s\n"
      "min_fraction: 75%\n"
      "hedge: {after: p99, budget: 2%, burst: 4, min_samples: 50}\n"
      "retries: 0\n"
      "timing: wrapper\n"
      "pass_headers: [X-Tenant, authorization, Authorization]\n"
      "max_answer_bytes: 1MiB\n"
      "max_leaf_requests: 16\n");
  EXPECT_EQ(c.listen.str(), "127.0.0.1:9100");
  EXPECT_EQ(c.threads, 4);
  EXPECT_EQ(c.limits.max_body_bytes, 1U << 20);
  EXPECT_EQ(c.limits.max_header_bytes, 8U << 10);
  EXPECT_EQ(c.limits.header_timeout, 5s);
  EXPECT_EQ(c.limits.idle_timeout, 30s);
  ASSERT_EQ(c.shards.size(), 2U);
  EXPECT_EQ(c.shards[1].line, 7);
  for (const auto& s : c.shards) {
    EXPECT_EQ(s.policy, Policy::kLeastRequest) << s.name;
    EXPECT_EQ(s.connect_timeout, 200ms) << s.name;
    EXPECT_EQ(s.limits.max_requests, 8U) << s.name;
  }
  EXPECT_EQ(c.merge.kind, MergeSpec::Kind::kTopK);
  EXPECT_EQ(c.merge.fields, std::vector<std::string>{"score"});
  EXPECT_EQ(c.merge.k, 10U);
  EXPECT_EQ(c.merge.path, "hits");
  EXPECT_EQ(c.split.kind, SplitSpec::Kind::kHash);
  EXPECT_EQ(c.split.field, "user.id");
  EXPECT_EQ(c.split.path, "items");
  EXPECT_EQ(c.deadline, 250ms);
  EXPECT_EQ(c.max_deadline, 5s);
  EXPECT_DOUBLE_EQ(c.min_fraction, 0.75);
  EXPECT_EQ(c.hedge.mode, HedgeConfig::Mode::kQuantile);
  EXPECT_DOUBLE_EQ(c.hedge.quantile, 0.99);
  EXPECT_DOUBLE_EQ(c.hedge.budget, 0.02);
  EXPECT_DOUBLE_EQ(c.hedge.burst, 4);
  EXPECT_EQ(c.hedge.min_samples, 50U);
  EXPECT_EQ(c.retries, 0);
  EXPECT_EQ(c.timing, Timing::kWrapper);
  EXPECT_EQ(c.pass_headers, (std::vector<std::string>{"X-Tenant", "authorization"}));
  EXPECT_EQ(c.max_answer_bytes, 1U << 20);
  EXPECT_EQ(c.max_leaf_requests, 16U);
  EXPECT_EQ(c.path, "scatter.yaml");
}

TEST(ScatterConfig, LeavesAsAListOneShardPerItem) {
  ScatterConfig c = resolve(
      "leaves:\n"
      "  - a:1|a:2\n"
      "  - b:1\n"
      "  - \"c:1 | c:2 | c:3\"\n");
  ASSERT_EQ(c.shards.size(), 3U);
  EXPECT_EQ(c.shards[2].name, "s2");
  EXPECT_EQ(c.shards[2].line, 4);
  EXPECT_EQ(endpoints(c.shards[2]), (std::vector<std::string>{"c:1", "c:2", "c:3"}));
}

TEST(ScatterConfig, ShardBlocksTakeTheReplicasSettingsUnlessTheySetTheirOwn) {
  ScatterConfig c = resolve(
      "replicas:\n"
      "  policy: least_request\n"
      "  health_check: {type: http, path: /ready, interval: 1s}\n"
      "  outlier: {consecutive_failures: 3}\n"
      "shards:\n"
      "  - name: east\n"
      "    endpoints: [\"e1:80\", \"e2:80\"]\n"
      "  - name: west\n"
      "    dns: west.internal:8080\n"
      "    dns_refresh: 2s\n"
      "    policy: random\n"
      "  - name: north\n"
      "    file: /etc/tender/north.txt\n"
      "    health_check: {type: tcp}\n");
  EXPECT_EQ(c.shard_set, ScatterConfig::ShardSet::kList);
  ASSERT_EQ(c.shards.size(), 3U);
  const ClusterConfig& east = c.shards[0];
  EXPECT_EQ(east.name, "east");
  EXPECT_EQ(east.line, 6);
  EXPECT_EQ(endpoints(east), (std::vector<std::string>{"e1:80", "e2:80"}));
  EXPECT_EQ(east.policy, Policy::kLeastRequest);
  EXPECT_EQ(east.health.type, upstream::HealthCheck::Type::kHttp);
  EXPECT_EQ(east.health.path, "/ready");
  EXPECT_EQ(east.outlier.consecutive_failures, 3);
  const ClusterConfig& west = c.shards[1];
  EXPECT_EQ(west.source, ClusterConfig::Source::kDns);
  EXPECT_EQ(west.dns.str(), "west.internal:8080");
  EXPECT_EQ(west.dns_refresh, 2s);
  EXPECT_EQ(west.policy, Policy::kRandom);
  EXPECT_EQ(west.health.type, upstream::HealthCheck::Type::kHttp);
  const ClusterConfig& north = c.shards[2];
  EXPECT_EQ(north.source, ClusterConfig::Source::kFile);
  EXPECT_EQ(north.file, "/etc/tender/north.txt");
  EXPECT_EQ(north.policy, Policy::kLeastRequest);
  EXPECT_EQ(north.health.type, upstream::HealthCheck::Type::kTcp);
  EXPECT_EQ(north.outlier.consecutive_failures, 3);
}

TEST(ScatterConfig, AShardSetByDns) {
  ScatterConfig c = resolve(
      "shard_set: {dns: \"leaves.internal:9000\", dns_refresh: 10s}\n"
      "replicas: {connect_timeout: 50ms}\n");
  EXPECT_EQ(c.shard_set, ScatterConfig::ShardSet::kDns);
  EXPECT_EQ(c.shard_dns.str(), "leaves.internal:9000");
  EXPECT_EQ(c.dns_refresh, 10s);
  EXPECT_EQ(c.replicas.connect_timeout, 50ms);
  EXPECT_TRUE(c.shards.empty());
}

TEST(ScatterConfig, AShardSetFromAFile) {
  ScatterConfig c = resolve("shard_set:\n  file: /etc/tender/shards.txt\n");
  EXPECT_EQ(c.shard_set, ScatterConfig::ShardSet::kFile);
  EXPECT_EQ(c.shard_file, "/etc/tender/shards.txt");
}

TEST(ScatterConfig, FlagsBeatTheFile) {
  ScatterFlags f;
  f.listen = "127.0.0.1:7000";
  f.threads = 2;
  f.leaves = "x:1,y:1,z:1";
  f.merge = "count";
  f.split = "roundrobin";
  f.hedge = "30ms";
  f.hedge_budget = "0.1";
  f.deadline = "2s";
  f.min_fraction = "0.5";
  f.timing = "header";
  f.pass_headers = {"X-A", "X-B"};
  ScatterConfig c = resolve(
      "listen: 127.0.0.1:9100\n"
      "threads: 4\n"
      "shards:\n"
      "  - {name: east, endpoints: [\"e1:80\"]}\n"
      "replicas: {policy: random}\n"
      "merge: concat\n"
      "split: none\n"
      "hedge: {after: p95, budget: 5%, burst: 3}\n"
      "deadline: 100ms\n"
      "min_fraction: 1\n"
      "timing: off\n"
      "pass_headers: [X-C]\n",
      f);
  EXPECT_EQ(c.listen.port, 7000);
  EXPECT_EQ(c.threads, 2);
  ASSERT_EQ(c.shards.size(), 3U);
  EXPECT_EQ(c.shards[0].name, "s0");
  EXPECT_EQ(c.shards[0].policy, Policy::kRandom);  // replicas: from the file still
  EXPECT_EQ(c.merge.kind, MergeSpec::Kind::kCount);
  EXPECT_EQ(c.split.kind, SplitSpec::Kind::kRoundRobin);
  EXPECT_EQ(c.hedge.mode, HedgeConfig::Mode::kFixed);
  EXPECT_EQ(c.hedge.delay, 30ms);
  EXPECT_DOUBLE_EQ(c.hedge.budget, 0.1);
  EXPECT_DOUBLE_EQ(c.hedge.burst, 3);
  EXPECT_EQ(c.deadline, 2s);
  EXPECT_DOUBLE_EQ(c.min_fraction, 0.5);
  EXPECT_EQ(c.timing, Timing::kHeader);
  EXPECT_EQ(c.pass_headers, (std::vector<std::string>{"X-A", "X-B"}));
}

TEST(ScatterConfig, LeavesFlagReplacesAShardSet) {
  ScatterConfig c = resolve("shard_set: {file: /x}\n", leaves("a:1"));
  EXPECT_EQ(c.shard_set, ScatterConfig::ShardSet::kList);
  ASSERT_EQ(c.shards.size(), 1U);
}

TEST(ScatterConfig, HedgeShortFormAndFractions) {
  ScatterConfig c = resolve("leaves: a:1\nhedge: p99.9\nmin_fraction: 0.5\n");
  EXPECT_EQ(c.hedge.mode, HedgeConfig::Mode::kQuantile);
  EXPECT_DOUBLE_EQ(c.hedge.quantile, 0.999);
  EXPECT_DOUBLE_EQ(c.hedge.budget, 0.05);
  EXPECT_DOUBLE_EQ(c.min_fraction, 0.5);
  ScatterFlags f = leaves("a:1");
  f.hedge_budget = "2.5%";
  c = resolve("hedge: 15ms\n", f);
  EXPECT_EQ(c.hedge.mode, HedgeConfig::Mode::kFixed);
  EXPECT_EQ(c.hedge.delay, 15ms);
  EXPECT_DOUBLE_EQ(c.hedge.budget, 0.025);
  c = resolve("leaves: a:1\nhedge: {after: \"off\"}\n");
  EXPECT_EQ(c.hedge.mode, HedgeConfig::Mode::kOff);
  c = resolve("leaves: a:1\nhedge: off\n");  // YAML's boolean spelling, read as text
  EXPECT_EQ(c.hedge.mode, HedgeConfig::Mode::kOff);
}

TEST(ScatterConfig, AMergeContainerAndAPassHeaderAsOneString) {
  ScatterConfig c = resolve(
      "leaves: a:1\n"
      "merge: http://127.0.0.1:9500/merge\n"
      "pass_headers: X-Only\n");
  EXPECT_EQ(c.merge.kind, MergeSpec::Kind::kContainer);
  EXPECT_EQ(c.merge.url, "http://127.0.0.1:9500/merge");
  EXPECT_EQ(c.pass_headers, std::vector<std::string>{"X-Only"});
}

TEST(ScatterConfig, UnknownKeysAreWarnedAboutNotFatal) {
  LogCapture log;
  ScatterConfig c = resolve(
      "leaves: a:1\n"
      "deadlin: 5s\n"
      "hedge: {after: p95, budgett: 1%}\n"
      "replicas: {policy: random, polcy: maglev}\n"
      "shard_set_typo: 1\n"
      "admin: 127.0.0.1:9909\n");
  EXPECT_EQ(c.deadline, 1s);
  std::string text = log.text();
  EXPECT_NE(text.find("field=deadlin"), std::string::npos) << text;
  EXPECT_NE(text.find("line=2"), std::string::npos) << text;
  EXPECT_NE(text.find("field=hedge.budgett"), std::string::npos) << text;
  EXPECT_NE(text.find("field=replicas.polcy"), std::string::npos) << text;
  EXPECT_NE(text.find("line=4"), std::string::npos) << text;
  EXPECT_NE(text.find("field=shard_set_typo"), std::string::npos) << text;
  EXPECT_EQ(text.find("field=admin"), std::string::npos) << text;  // a common key
}

TEST(ScatterConfig, ToJsonShowsWhatRuns) {
  ScatterConfig c = resolve(
      "replicas: {policy: least_request}\n"
      "shards:\n"
      "  - {name: a, endpoints: [\"a1:80\", \"a2:80\"]}\n"
      "  - {name: b, endpoints: [\"b1:80\"], policy: random}\n"
      "merge: \"topk:score:10@hits\"\n"
      "hedge: {after: p95}\n"
      "min_fraction: 50%\n");
  boost::json::object j = c.to_json();
  EXPECT_EQ(j.at("listen"), "127.0.0.1:8100");
  EXPECT_EQ(j.at("merge"), "topk:score:10@hits");
  EXPECT_EQ(j.at("split"), "none");
  EXPECT_EQ(j.at("deadline"), "1s");
  EXPECT_EQ(j.at("min_fraction").as_double(), 0.5);
  EXPECT_EQ(j.at("hedge").at("after"), "p95");
  EXPECT_EQ(j.at("timing"), "off");
  EXPECT_EQ(j.at("shard_set"), "list");
  EXPECT_EQ(j.at("replicas").at("policy"), "least_request");
  const auto& shards = j.at("shards").as_array();
  ASSERT_EQ(shards.size(), 2U);
  EXPECT_EQ(shards[0].at("name"), "a");
  EXPECT_EQ(shards[0].at("endpoints").as_array().size(), 2U);
  EXPECT_FALSE(shards[0].as_object().contains("settings"));  // the replicas' own
  EXPECT_EQ(shards[1].at("settings").at("policy"), "random");
  EXPECT_EQ(j.at("config"), "scatter.yaml");

  c = resolve("shard_set: {dns: \"l.internal:9000\"}\n");
  j = c.to_json();
  EXPECT_EQ(j.at("shard_set").at("dns"), "l.internal:9000");
  EXPECT_EQ(j.at("shard_set").at("dns_refresh"), "5s");
}

// --- bad flags: UsageError naming the flag ----------------------------------------------------

TEST(ScatterConfig, NoShardsIsAUsageError) {
  std::string want = "no shards: give --leaves, or shards or shard_set in the config file";
  EXPECT_EQ(usage_error(ScatterFlags{}), want);
  EXPECT_EQ(usage_error(ScatterFlags{}, "merge: concat\n"), want);
}

TEST(ScatterConfig, BadFlagsNameTheFlag) {
  auto with = [](auto set) {
    ScatterFlags f = leaves("a:1");
    set(f);
    return usage_error(f);
  };
  EXPECT_EQ(usage_error(leaves("a:1,,b:2")), "--leaves: shard 2 is empty");
  EXPECT_TRUE(says(with([](ScatterFlags& f) { f.listen = "nowhere"; }), "--listen: ", "nowhere"));
  EXPECT_TRUE(says(with([](ScatterFlags& f) { f.threads = 300; }), "--threads: ", "1 to 256"));
  EXPECT_TRUE(says(with([](ScatterFlags& f) { f.merge = "median"; }),
                   "--merge: ", "unknown merge \"median\""));
  EXPECT_TRUE(
      says(with([](ScatterFlags& f) { f.split = "hash"; }), "--split: ", "hash needs a field"));
  EXPECT_TRUE(says(with([](ScatterFlags& f) { f.hedge = "p100"; }), "--hedge: ", "p100"));
  EXPECT_TRUE(says(with([](ScatterFlags& f) { f.hedge = "soon"; }), "--hedge: ", "\"soon\""));
  EXPECT_TRUE(says(with([](ScatterFlags& f) { f.hedge = "0ms"; }), "--hedge: ", "doubles"));
  EXPECT_TRUE(says(with([](ScatterFlags& f) { f.hedge_budget = "150%"; }),
                   "--hedge-budget: ", "from 0 to 1"));
  EXPECT_TRUE(says(with([](ScatterFlags& f) { f.hedge_budget = "lots"; }),
                   "--hedge-budget: ", "not a share"));
  EXPECT_TRUE(
      says(with([](ScatterFlags& f) { f.deadline = "0ms"; }), "--deadline: ", "at least 1ms"));
  EXPECT_TRUE(says(with([](ScatterFlags& f) { f.deadline = "2m"; }),
                   "--deadline: ", "longer than max_deadline (1m)"));
  EXPECT_TRUE(
      says(with([](ScatterFlags& f) { f.deadline = "later"; }), "--deadline: ", "not a duration"));
  EXPECT_TRUE(
      says(with([](ScatterFlags& f) { f.min_fraction = "0"; }), "--min-fraction: ", "more than 0"));
  EXPECT_TRUE(says(with([](ScatterFlags& f) { f.min_fraction = "101%"; }),
                   "--min-fraction: ", "at most 1"));
  EXPECT_TRUE(
      says(with([](ScatterFlags& f) { f.timing = "json"; }), "--timing: ", "off, header, wrapper"));
  EXPECT_TRUE(says(with([](ScatterFlags& f) { f.pass_headers = {"Host"}; }),
                   "--pass-header: ", "the root sets it"));
  EXPECT_TRUE(says(with([](ScatterFlags& f) { f.pass_headers = {"X Bad"}; }),
                   "--pass-header: ", "not a header name"));
}

// --- bad files: ConfigError at the file's line and key ----------------------------------------

TEST(ScatterConfig, BadShardsNameTheLine) {
  EXPECT_TRUE(says(config_error("merge: concat\nleaves: \"a:1,b\"\n"),
                   "scatter.yaml:2: leaves: ", "shard 2: expected HOST:PORT, not \"b\""));
  EXPECT_TRUE(says(config_error("leaves:\n  - a:1\n  - a:2,b:2\n"),
                   "scatter.yaml:3: leaves[1]: ", "one shard per item"));
  EXPECT_TRUE(says(config_error("leaves:\n  - a:1\n  - a:2||b:2\n"),
                   "scatter.yaml:3: leaves[1]: ", "an empty replica"));
  EXPECT_TRUE(says(config_error("leaves: []\n"), "scatter.yaml:1: leaves: ", "empty"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmerge: concat\nshards:\n  - {name: x, endpoints: "
                                "[\"x:1\"]}\n"),
                   "scatter.yaml:3: shards: ", "give one of leaves, shards, shard_set"));
  EXPECT_TRUE(says(config_error("shard_set: {file: /x}\nleaves: a:1\n"),
                   "scatter.yaml:2: leaves: ", "shard_set is given too"));
  EXPECT_TRUE(says(config_error("shards:\n"
                                "  - name: a\n"
                                "    endpoints: [\"a:1\"]\n"
                                "  - name: a\n"
                                "    endpoints: [\"b:1\"]\n"),
                   "scatter.yaml:4: shards[1].name: ", "two shards named a"));
  EXPECT_TRUE(says(config_error("shards:\n  - name: \"a,b\"\n    endpoints: [\"a:1\"]\n"),
                   "scatter.yaml:2: shards[0].name: ", "1-64 letters"));
  EXPECT_TRUE(says(config_error("shards:\n  - name: a\n    policy: maglev\n"),
                   "scatter.yaml:2: shards[0]: ", "exactly one of endpoints, dns, file"));
  EXPECT_TRUE(says(config_error("shards:\n  - name: a\n    endpoints: [\"a:1\", nope]\n"),
                   "scatter.yaml:3: shards[0].endpoints[1]: ", "expected HOST:PORT"));
  EXPECT_TRUE(says(config_error("shards: []\n"), "scatter.yaml:1: shards: ", "empty"));
  EXPECT_TRUE(
      says(config_error("shards: {name: a}\n"), "scatter.yaml:1: shards: ", "expected a list"));
  EXPECT_TRUE(says(config_error("replicas: {policy: maglev, hash_on: path}\n"
                                "shards:\n"
                                "  - name: a\n"
                                "    endpoints: [\"a:1\"]\n"
                                "    policy: random\n"),
                   "scatter.yaml:5: shards[0].policy: ", "hashes on path"));
}

TEST(ScatterConfig, BadReplicasNameTheirOwnLines) {
  EXPECT_TRUE(says(config_error("leaves: a:1\n"
                                "replicas:\n"
                                "  connect_timeout: 1s\n"
                                "  policy: fastest\n"),
                   "scatter.yaml:4: replicas.policy: ", "not one of round_robin"));
  EXPECT_TRUE(says(config_error("leaves: a:1\n"
                                "replicas:\n"
                                "  health_check:\n"
                                "    type: http\n"
                                "    interval: 1ms\n"),
                   "scatter.yaml:5: replicas.health_check.interval: ", "at least 10ms"));
  EXPECT_TRUE(says(config_error("leaves: a:1\n"
                                "replicas:\n"
                                "  policy: random\n"
                                "  endpoints: [\"a:1\"]\n"),
                   "scatter.yaml:4: replicas.endpoints: ", "replicas has no name or source"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nreplicas:\n  connect_timeout: soon\n"),
                   "scatter.yaml:3: replicas.connect_timeout: ", "not a duration"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nreplicas: random\n"),
                   "scatter.yaml:2: replicas: ", "expected a mapping"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nreplicas:\n  limits: {max_requests: -1}\n"),
                   "scatter.yaml:3: replicas.limits.max_requests: ", "out of range"));
}

TEST(ScatterConfig, BadShardSetsNameTheLine) {
  EXPECT_TRUE(says(config_error("shard_set:\n  dns: l:1\n  file: /x\n"),
                   "scatter.yaml:2: shard_set: ", "exactly one of dns, file"));
  EXPECT_TRUE(says(config_error("shard_set: {}\n"),
                   "scatter.yaml:1: shard_set: ", "exactly one of dns, file"));
  EXPECT_TRUE(says(config_error("shard_set:\n  dns: leaves.internal\n"),
                   "scatter.yaml:2: shard_set.dns: ", "expected HOST:PORT"));
  EXPECT_TRUE(says(config_error("shard_set:\n  dns: l:1\n  dns_refresh: 10ms\n"),
                   "scatter.yaml:3: shard_set.dns_refresh: ", "at least 100ms"));
  EXPECT_TRUE(says(config_error("shard_set:\n  file: /x\n  dns_refresh: 1s\n"),
                   "scatter.yaml:3: shard_set.dns_refresh: ", "only with dns"));
  EXPECT_TRUE(says(config_error("shard_set: leaves.internal:80\n"),
                   "scatter.yaml:1: shard_set: ", "expected a mapping"));
}

TEST(ScatterConfig, BadMergeAndSplitNameTheLine) {
  EXPECT_TRUE(says(config_error("leaves: a:1\nmerge: median\n"),
                   "scatter.yaml:2: merge: ", "unknown merge \"median\""));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmerge: \"topk:score\"\n"),
                   "scatter.yaml:2: merge: ", "topk needs FIELD:K"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmerge: \"concat@\"\n"),
                   "scatter.yaml:2: merge: ", "empty @PATH"));
  EXPECT_TRUE(says(config_error("leaves: a:1\n\nsplit: scatter\n"),
                   "scatter.yaml:3: split: ", "unknown split \"scatter\""));
  EXPECT_TRUE(says(config_error("leaves: a:1\nsplit: \"hash:\"\n"),
                   "scatter.yaml:2: split: ", "hash needs a field"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmerge: [concat]\n"),
                   "scatter.yaml:2: merge: ", "expected a single value"));
}

TEST(ScatterConfig, BadDeadlinesAndFractionsNameTheLine) {
  EXPECT_TRUE(says(config_error("leaves: a:1\ndeadline: soon\n"),
                   "scatter.yaml:2: deadline: ", "not a duration"));
  EXPECT_TRUE(says(config_error("leaves: a:1\ndeadline: 0ms\n"),
                   "scatter.yaml:2: deadline: ", "at least 1ms"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmax_deadline: 10s\ndeadline: 20s\n"),
                   "scatter.yaml:3: deadline: ", "longer than max_deadline (10s)"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmax_deadline: 2h\n"),
                   "scatter.yaml:2: max_deadline: ", "from 1ms to 1h"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmin_fraction: 0\n"),
                   "scatter.yaml:2: min_fraction: ", "more than 0"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmin_fraction: 1.5\n"),
                   "scatter.yaml:2: min_fraction: ", "at most 1"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmin_fraction: half\n"),
                   "scatter.yaml:2: min_fraction: ", "not a fraction"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmin_fraction: \"%\"\n"),
                   "scatter.yaml:2: min_fraction: ", "not a fraction"));
}

TEST(ScatterConfig, BadHedgesNameTheLine) {
  EXPECT_TRUE(says(config_error("leaves: a:1\nhedge:\n  after: p100\n"),
                   "scatter.yaml:3: hedge.after: ", "below p100"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nhedge:\n  after: fast\n"),
                   "scatter.yaml:3: hedge.after: ", "\"fast\""));
  EXPECT_TRUE(
      says(config_error("leaves: a:1\nhedge: p0\n"), "scatter.yaml:2: hedge: ", "above p0"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nhedge:\n  after: p95\n  budget: 200%\n"),
                   "scatter.yaml:4: hedge.budget: ", "from 0 to 1"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nhedge:\n  burst: 0.5\n"),
                   "scatter.yaml:3: hedge.burst: ", "from 1 to 1000000"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nhedge:\n  min_samples: 5000\n"),
                   "scatter.yaml:3: hedge.min_samples: ", "out of range"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nhedge: [p95]\n"),
                   "scatter.yaml:2: hedge: ", "expected off, p95, 20ms or {after"));
}

TEST(ScatterConfig, BadLeafRequestAndServerSettingsNameTheLine) {
  EXPECT_TRUE(says(config_error("leaves: a:1\nretries: 9\n"),
                   "scatter.yaml:2: retries: ", "out of range [0, 5]"));
  EXPECT_TRUE(says(config_error("leaves: a:1\ntiming: json\n"),
                   "scatter.yaml:2: timing: ", "not one of off, header, wrapper"));
  EXPECT_TRUE(says(config_error("leaves: a:1\npass_headers:\n  - X-Ok\n  - Content-Length\n"),
                   "scatter.yaml:4: pass_headers[1]: ", "the root sets it"));
  EXPECT_TRUE(says(config_error("leaves: a:1\npass_headers: [\"a b\"]\n"),
                   "scatter.yaml:2: pass_headers[0]: ", "not a header name"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmax_answer_bytes: 10\n"),
                   "scatter.yaml:2: max_answer_bytes: ", "from 1KiB to 1GiB"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmax_leaf_requests: -1\n"),
                   "scatter.yaml:2: max_leaf_requests: ", "out of range"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nmax_header_bytes: 100\n"),
                   "scatter.yaml:2: max_header_bytes: ", "from 1KiB to 1MiB"));
  EXPECT_TRUE(
      says(config_error("leaves: a:1\nthreads: 0\n"), "scatter.yaml:2: threads: ", "out of range"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nlisten: nowhere\n"),
                   "scatter.yaml:2: listen: ", "not HOST:PORT"));
  EXPECT_TRUE(says(config_error("leaves: a:1\nidle_timeout: forever\n"),
                   "scatter.yaml:2: idle_timeout: ", "not a duration"));
}

TEST(ScatterConfig, FlagsDoNotHideAFileMistake) {
  // The file's shards are read, and checked, even when --leaves replaces them.
  EXPECT_TRUE(says(config_error("shards:\n  - name: a\n", leaves("x:1")),
                   "scatter.yaml:2: shards[0]: ", "exactly one of"));
}

}  // namespace
}  // namespace tender::scatter

namespace tender::scatter {
namespace {

TEST(ScatterConfig, HedgeBurstFlagBeatsTheFileAndDefaultsToAHundred) {
  ScatterFlags f = leaves("a:1");
  f.hedge = "p95";
  EXPECT_DOUBLE_EQ(resolve("", f).hedge.burst, 100);
  f.hedge_burst = "7";
  EXPECT_DOUBLE_EQ(resolve("hedge: {after: p99, burst: 3}\n", f).hedge.burst, 7);
  f.hedge_burst = "0";
  EXPECT_NE(usage_error(f).find("--hedge-burst"), std::string::npos);
  f.hedge_burst = "lots";
  EXPECT_NE(usage_error(f).find("--hedge-burst"), std::string::npos);
}

}  // namespace
}  // namespace tender::scatter
