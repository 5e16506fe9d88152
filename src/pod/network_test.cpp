#include "pod/network.hpp"

#include <gtest/gtest.h>

namespace tender::pod {
namespace {

TEST(Cidr, ParsesPrivateNetworks) {
  auto c = Cidr::parse("10.217.0.0/16");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->prefix, 16);
  EXPECT_EQ(c->size(), 65536U);
  EXPECT_EQ(c->address(1), "10.217.0.1");
  EXPECT_EQ(c->address(258), "10.217.1.2");
  EXPECT_EQ(c->str(), "10.217.0.0/16");
  // Host bits are dropped.
  EXPECT_EQ(Cidr::parse("192.168.7.9/24")->str(), "192.168.7.0/24");
}

TEST(Cidr, RejectsWhatCannotHoldPods) {
  for (const char* bad : {"10.217.0.0", "10.217.0.0/7", "10.217.0.0/25", "10.217.0.0/16x",
                          "10.217.0/16", "fd00::/64", "/16", "10.217.0.0/", "nonsense"}) {
    EXPECT_FALSE(Cidr::parse(bad)) << bad;
  }
}

std::string link_of(const std::string& name) {
  if (name == "a") {
    return "tp1";
  }
  if (name == "b") {
    return "tp2";
  }
  if (name == "c") {
    return "tp3";
  }
  return "";  // not attached
}

TEST(Partitions, CutsEveryPairAcrossGroupsOnly) {
  Partitions p;
  p.cut({{"a", "b"}, {"c"}, {"d"}});
  std::set<std::pair<std::string, std::string>> want = {
      {"a", "c"}, {"b", "c"}, {"a", "d"}, {"b", "d"}, {"c", "d"}};
  EXPECT_EQ(p.pairs(), want);
  // A pod named in two groups is not cut from itself.
  Partitions q;
  q.cut({{"a"}, {"a", "b"}});
  EXPECT_EQ(q.pairs(), (std::set<std::pair<std::string, std::string>>{{"a", "b"}}));
}

TEST(Partitions, HealOnePodOrAll) {
  Partitions p;
  p.cut({{"a"}, {"b"}, {"c"}});
  p.heal({"b"});
  EXPECT_EQ(p.pairs(), (std::set<std::pair<std::string, std::string>>{{"a", "c"}}));
  p.heal({});
  EXPECT_TRUE(p.pairs().empty());
}

TEST(Partitions, RulesetDropsBothDirectionsBetweenBridgePorts) {
  Partitions p;
  p.cut({{"a"}, {"b", "gone"}});
  std::string rules = p.ruleset(link_of);
  EXPECT_NE(rules.find(R"(elements = { "tp1" . "tp2", "tp2" . "tp1" })"), std::string::npos)
      << rules;
  EXPECT_EQ(rules.find("gone"), std::string::npos);
  // Every frame between the ports, whatever its protocol or addresses.
  EXPECT_NE(rules.find("iifname . oifname @cut drop"), std::string::npos);
  // The table is replaced as a whole, whether or not it existed.
  EXPECT_EQ(rules.rfind("add table bridge tender\ndelete table bridge tender\n", 0), 0U);
  // With nothing cut the set is empty and valid.
  Partitions none;
  EXPECT_EQ(none.ruleset(link_of).find("elements"), std::string::npos);
}

TEST(Partitions, WithAddressesWhatIsRoutedBetweenThePairIsDroppedToo) {
  Partitions p;
  p.cut({{"a"}, {"b", "gone"}});
  auto ip_of = [](const std::string& name) -> std::string {
    return name == "a" ? "10.217.0.2" : name == "b" ? "10.217.0.3" : "";
  };
  std::string rules = p.ruleset(link_of, ip_of);
  EXPECT_NE(rules.find(R"(elements = { "tp1" . "tp2", "tp2" . "tp1" })"), std::string::npos);
  EXPECT_NE(rules.find("add table ip tender-partitions\ndelete table ip tender-partitions\n"),
            std::string::npos);
  EXPECT_NE(rules.find("elements = { 10.217.0.2 . 10.217.0.3, 10.217.0.3 . 10.217.0.2 }"),
            std::string::npos)
      << rules;
  EXPECT_NE(rules.find("ip saddr . ip daddr @cut drop"), std::string::npos);
  EXPECT_EQ(p.ruleset(link_of).find("tender-partitions"), std::string::npos);
}

}  // namespace
}  // namespace tender::pod
