#include "election/elect_config.hpp"

#include <gtest/gtest.h>

#include "core/cli.hpp"

namespace tender::election {
namespace {

using namespace std::chrono_literals;

ElectFlags flags(std::string election = "db", std::string backend = "file:/shared/leader.lock") {
  ElectFlags f;
  f.election = std::move(election);
  f.backend = std::move(backend);
  return f;
}

ConfigNode none() { return ConfigNode(); }

TEST(ElectConfig, DefaultsAreTheContractsOnes) {
  ElectConfig c = resolve_elect(flags(), none());
  EXPECT_EQ(c.id, host_name());
  EXPECT_FALSE(c.id.empty());
  EXPECT_EQ(c.listen.str(), "127.0.0.1:4040");
  EXPECT_EQ(c.timing.ttl, 2s);
  EXPECT_EQ(c.timing.margin, 200ms);
  EXPECT_EQ(c.backend_url.kind, BackendUrl::Kind::kFile);
  EXPECT_TRUE(c.exec.empty());
}

TEST(ElectConfig, FlagsBeatTheFile) {
  ConfigNode file = parse_config(
      "election: web\nid: pod-b\nbackend: etcd://127.0.0.1:2379\nttl: 5s\nlisten: 127.0.0.1:4041\n"
      "exec: [./run, --fast]\nexec_grace: 2s\nwebhook: http://127.0.0.1:8080/hook\n",
      "elect.yaml");
  ElectFlags f;
  f.id = "pod-c";
  f.ttl = "3s";
  ElectConfig c = resolve_elect(f, file);
  EXPECT_EQ(c.election, "web");
  EXPECT_EQ(c.id, "pod-c");
  EXPECT_EQ(c.timing.ttl, 3s);
  EXPECT_EQ(c.timing.margin, 300ms);
  EXPECT_EQ(c.backend_url.kind, BackendUrl::Kind::kEtcd);
  EXPECT_EQ(c.listen.port, 4041);
  EXPECT_EQ(c.exec, (std::vector<std::string>{"./run", "--fast"}));
  EXPECT_EQ(c.exec_grace, 2s);
  EXPECT_EQ(c.webhook, "http://127.0.0.1:8080/hook");
}

TEST(ElectConfig, BadFlagsNameTheFlag) {
  auto fails = [](ElectFlags f, const std::string& want) {
    try {
      (void)resolve_elect(f, none());
      ADD_FAILURE() << "accepted; wanted " << want;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  fails(flags(""), "--election: required");
  fails(flags("a/b"), "--election:");
  fails(flags("db", ""), "--backend: required");
  fails(flags("db", "zk://x"), "--backend:");
  ElectFlags f = flags();
  f.ttl = "50ms";
  fails(f, "--ttl:");
  f = flags();
  f.margin = "1500ms";
  fails(f, "--margin:");
  f = flags();
  f.id = "pod a";
  fails(f, "--id:");
  f = flags();
  f.exec = true;
  fails(f, "--exec:");
  f = flags();
  f.command = {"./run"};
  fails(f, "without --exec");
  f = flags();
  f.webhook = "https://x/";
  fails(f, "--webhook:");
  f = flags();
  f.listen = "nowhere";
  fails(f, "--listen:");
}

TEST(ElectConfig, BadFileValuesNameTheFileAndLine) {
  ConfigNode file = parse_config("election: db\nbackend: file:/x\nttl: 2h\n", "elect.yaml");
  try {
    (void)resolve_elect(ElectFlags{}, file);
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("elect.yaml"), std::string::npos) << what;
    EXPECT_NE(what.find(":3"), std::string::npos) << what;
    EXPECT_NE(what.find("ttl"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace tender::election
