#include "core/upstream/cluster.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <memory>
#include <vector>

#include "core/clock.hpp"

namespace tender::upstream {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::string_view kPrefix = "tender_test";

// Records what a cluster tells it.
struct Recorder : Cluster::SlotListener {
  std::vector<bool> calls;  // `wanted` of each call
  void on_slot(const Cluster& /*cluster*/, bool wanted) override { calls.push_back(wanted); }
};

ClusterConfig limited(std::uint32_t connections, std::uint32_t pending) {
  ClusterConfig c;
  c.name = "c";
  c.limits.max_connections = connections;
  c.limits.max_pending = pending;
  return c;
}

TEST(ClusterBreakers, ConnectionsAndPendingHoldTheirLimits) {
  Registry registry;
  Cluster c(limited(1, 1), registry, kPrefix);
  auto& overflow =
      registry.counter_family("tender_test_cluster_overflow_total", "", {"cluster", "breaker"});
  EXPECT_TRUE(c.try_connection());
  EXPECT_FALSE(c.try_connection());
  EXPECT_EQ(overflow.with({"c", "connections"}).value(), 1);
  EXPECT_FALSE(c.try_connection(false));  // a waiting request looking again is not counted
  EXPECT_EQ(overflow.with({"c", "connections"}).value(), 1);
  EXPECT_FALSE(c.connections_wanted());
  EXPECT_TRUE(c.try_pending());
  EXPECT_FALSE(c.try_pending());
  EXPECT_EQ(overflow.with({"c", "pending"}).value(), 1);
  EXPECT_TRUE(c.connections_wanted());  // full, with a request waiting
  c.end_pending();
  c.end_connection();
  EXPECT_EQ(c.pending_requests(), 0U);
  EXPECT_TRUE(c.try_connection());
}

// GET /v1/clusters (and the web view) says which breakers are open: full, so the next fails.
TEST(ClusterBreakers, StatusShowsWhichAreOpen) {
  Registry registry;
  Cluster c(limited(1, 2), registry, kPrefix);
  auto breakers = [&] { return c.to_json().at("breakers").as_object(); };
  EXPECT_EQ(breakers().at("connections").at("open"), false);
  ASSERT_TRUE(c.try_connection());
  ASSERT_TRUE(c.try_pending());
  auto b = breakers();
  EXPECT_EQ(b.at("connections").at("open"), true);
  EXPECT_EQ(b.at("connections").at("in_use"), 1);
  EXPECT_EQ(b.at("connections").at("max"), 1);
  EXPECT_EQ(b.at("pending").at("open"), false);
  EXPECT_EQ(b.at("pending").at("in_use"), 1);
  EXPECT_EQ(b.at("requests").at("max"), 1024);
  EXPECT_FALSE(b.at("retries").as_object().contains("max"));  // no limit of its own
  c.end_connection();
  EXPECT_EQ(breakers().at("connections").at("open"), false);
}

TEST(ClusterBreakers, ListenersHearOfSlotsOnlyWhileRequestsWait) {
  Registry registry;
  Cluster c(limited(2, 4), registry, kPrefix);
  auto a = std::make_shared<Recorder>();
  auto b = std::make_shared<Recorder>();
  c.listen_slots(a);
  c.listen_slots(a);  // once is enough
  c.listen_slots(b);
  ASSERT_TRUE(c.try_connection());
  c.end_connection();  // nobody waits: nobody is told
  EXPECT_TRUE(a->calls.empty());

  ASSERT_TRUE(c.try_pending());
  c.want_slot();  // a request began waiting: give up an idle connection
  EXPECT_EQ(a->calls, std::vector<bool>{true});
  EXPECT_EQ(b->calls, std::vector<bool>{true});
  ASSERT_TRUE(c.try_connection());
  c.end_connection();  // a slot freed while one waits
  EXPECT_EQ(a->calls, (std::vector<bool>{true, false}));

  b.reset();  // a listener that went away is not called
  ASSERT_TRUE(c.try_connection());
  c.end_connection();
  EXPECT_EQ(a->calls.size(), 3U);

  c.close_slots();  // the proxy stops: no one is told any more
  c.listen_slots(a);
  ASSERT_TRUE(c.try_connection());
  c.end_connection();
  EXPECT_EQ(a->calls.size(), 3U);
  c.end_pending();
}

// A new cluster may be given the address of one that went; its generations are its own, so a
// worker that remembers what it saw by address looks at the new one afresh.
TEST(ClusterGenerations, NoTwoClustersShareOne) {
  Registry registry;
  ClusterConfig config;
  config.name = "a";
  auto first = std::make_unique<Cluster>(config, registry, kPrefix);
  std::uint64_t seen = first->generation();
  first.reset();
  Cluster second(config, registry, kPrefix);
  EXPECT_NE(second.generation(), seen);
  second.bump();
  EXPECT_NE(second.generation(), seen);
}

ClusterConfig ring(bool auto_eject) {
  ClusterConfig c;
  c.name = "shards";
  c.policy = Policy::kRingHash;
  c.auto_eject = auto_eject;
  c.outlier.consecutive_failures = 1;
  return c;
}

// The key of `view` that lands on endpoint `name` while every endpoint is up.
std::uint64_t key_on(WorkerCluster& view, const std::string& name) {
  for (std::uint64_t k = 1; k < 10'000; ++k) {
    const Endpoint* e = view.pick_now(hash_key("key:" + std::to_string(k)));
    if (e != nullptr && e->name == name) {
      return hash_key("key:" + std::to_string(k));
    }
  }
  ADD_FAILURE() << "no key lands on " << name;
  return 0;
}

// A sharded cluster keeps each key with its endpoint: when the endpoint is down its keys get
// no endpoint (and the one that owns them is named), never another that lacks their data.
TEST(WorkerClusterSharding, KeysOfADownEndpointStayWithIt) {
  Registry registry;
  auto cluster = std::make_shared<Cluster>(ring(false), registry, kPrefix);
  cluster->set_endpoints({{"a", {"127.0.0.1", 1}}, {"b", {"127.0.0.1", 2}}});
  WorkerCluster view(cluster);
  std::uint64_t on_b = key_on(view, "b");
  std::uint64_t on_a = key_on(view, "a");
  const Endpoint& b = cluster->endpoints()->at(1);
  cluster->record(b, Outcome::kConnectFailure);  // ejected (consecutive_failures: 1)
  EXPECT_EQ(view.pick_now(on_b), nullptr);
  ASSERT_NE(view.owner_down(), nullptr);
  EXPECT_EQ(view.owner_down()->name, "b");
  EXPECT_FALSE(view.pick(on_b));
  const Endpoint* a = view.pick_now(on_a);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name, "a");
  EXPECT_EQ(view.owner_down(), nullptr);
  // Unhealthy by the active check: the same.
  cluster->record_check(b, true, "ok");  // passing checks readmit it...
  cluster->record_check(b, true, "ok");
  ASSERT_NE(view.pick_now(on_b), nullptr);
  for (int i = 0; i < 3; ++i) {
    cluster->record_check(b, false, "refused");  // ...and three failing ones take it out
  }
  EXPECT_EQ(view.pick_now(on_b), nullptr);
  EXPECT_NE(view.owner_down(), nullptr);
}

// Replicas of the same data (a scatter shard): another one, whatever the hash says, and never
// one that is down.
TEST(WorkerClusterSharding, PickOtherIgnoresTheHashButNotHealth) {
  Registry registry;
  auto cluster = std::make_shared<Cluster>(ring(false), registry, kPrefix);
  cluster->set_endpoints(
      {{"a", {"127.0.0.1", 1}}, {"b", {"127.0.0.1", 2}}, {"c", {"127.0.0.1", 3}}});
  WorkerCluster view(cluster);
  std::uint64_t on_b = key_on(view, "b");
  Picked first = view.pick(on_b);
  ASSERT_TRUE(first);
  EXPECT_EQ(view.pick(on_b, first.id()).id(), first.id());  // pick() keeps keys where they are
  Picked other = view.pick_other(first.id());
  ASSERT_TRUE(other);
  EXPECT_NE(other.id(), first.id());
  const auto& eps = *cluster->endpoints();
  for (const auto& e : eps) {  // all but b unhealthy: nothing else to offer
    for (int i = 0; e.name != "b" && i < 3; ++i) {
      cluster->record_check(e, false, "refused");
    }
  }
  EXPECT_FALSE(view.pick_other(first.id()));
}

// A cache (auto_eject: true) moves the keys of a down endpoint to the others.
TEST(WorkerClusterSharding, ACacheMovesTheKeysOfADownEndpoint) {
  Registry registry;
  auto cluster = std::make_shared<Cluster>(ring(true), registry, kPrefix);
  cluster->set_endpoints({{"a", {"127.0.0.1", 1}}, {"b", {"127.0.0.1", 2}}});
  WorkerCluster view(cluster);
  std::uint64_t on_b = key_on(view, "b");
  cluster->record(cluster->endpoints()->at(1), Outcome::kConnectFailure);
  const Endpoint* e = view.pick_now(on_b);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "a");
  EXPECT_EQ(view.owner_down(), nullptr);
}

// --- passive outlier ejection, on a fake clock ----------------------------------------------

// A cluster of `n` endpoints "e0".."e<n-1>" that ejects after `failures` in a row.
std::shared_ptr<Cluster> ejecting(Registry& registry, const Clock& clock, int n, int failures,
                                  milliseconds base, milliseconds max, int max_percent = 100) {
  ClusterConfig c;
  c.name = "c";
  c.outlier.consecutive_failures = failures;
  c.outlier.base_ejection = base;
  c.outlier.max_ejection = max;
  c.outlier.max_ejected_percent = max_percent;
  auto cluster = std::make_shared<Cluster>(c, registry, kPrefix, clock);
  std::vector<std::pair<std::string, HostPort>> named;
  for (int i = 0; i < n; ++i) {
    named.emplace_back("e" + std::to_string(i),
                       HostPort{"127.0.0.1", static_cast<std::uint16_t>(i + 1)});
  }
  cluster->set_endpoints(named);
  return cluster;
}

void fail(Cluster& c, const Endpoint& e, int times) {
  for (int i = 0; i < times; ++i) {
    c.record(e, Outcome::kConnectFailure);
  }
}

// How long `e` stays ejected from now; 0 when it is not.
milliseconds ejected_for(const Cluster& c, const Endpoint& e) {
  std::int64_t until = e.stats->ejected_until_ms.load();
  return until == 0 ? milliseconds(0) : milliseconds(until - c.now_ms());
}

TEST(OutlierEjection, EjectsAfterConsecutiveFailuresForTheBaseTime) {
  Registry registry;
  FakeClock clock;
  auto c = ejecting(registry, clock, 2, 3, seconds(30), seconds(300));
  const Endpoint& e = c->endpoints()->at(0);
  fail(*c, e, 2);
  c->record(e, Outcome::kSuccess);  // a success breaks the streak
  fail(*c, e, 2);
  EXPECT_TRUE(c->serving(e));
  fail(*c, e, 1);  // the third in a row
  EXPECT_FALSE(c->serving(e));
  EXPECT_EQ(ejected_for(*c, e), seconds(30));
  EXPECT_EQ(e.stats->ejections.load(), 1U);
  auto& ejections = registry.counter_family("tender_test_cluster_ejections_total", "", {"cluster"});
  EXPECT_EQ(ejections.with({"c"}).value(), 1);
  auto& errors = registry.counter_family("tender_test_upstream_errors_total", "",
                                         {"cluster", "endpoint", "kind"});
  EXPECT_EQ(errors.with({"c", "e0", "connect"}).value(), 5);
}

TEST(OutlierEjection, AnEjectedEndpointIsPickedAgainOnceItsTimeIsOver) {
  Registry registry;
  FakeClock clock;
  auto c = ejecting(registry, clock, 2, 1, seconds(30), seconds(300));
  WorkerCluster view(c);
  const Endpoint& e0 = c->endpoints()->at(0);
  fail(*c, e0, 1);
  for (int i = 0; i < 4; ++i) {  // round robin over what is left: e1 only
    const Endpoint* e = view.pick_now(0);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->name, "e1");
  }
  clock.advance(seconds(30) - milliseconds(1));
  EXPECT_FALSE(c->serving(e0));
  EXPECT_EQ(view.pick_now(0)->name, "e1");
  clock.advance(milliseconds(1));  // over: readmitted by the next pick, with no other change
  EXPECT_TRUE(c->serving(e0));
  bool e0_again = false;
  for (int i = 0; i < 2; ++i) {
    e0_again = e0_again || view.pick_now(0)->name == "e0";
  }
  EXPECT_TRUE(e0_again);
  EXPECT_EQ(e0.stats->ejected_until_ms.load(), 0);
}

// The n-th ejection in a row lasts n x base, up to max; a success after readmission starts
// again from base.
TEST(OutlierEjection, EjectionsInARowGrowUpToTheMax) {
  Registry registry;
  FakeClock clock;
  auto c = ejecting(registry, clock, 2, 1, seconds(10), seconds(25));
  const Endpoint& e = c->endpoints()->at(0);
  for (auto want : {seconds(10), seconds(20), seconds(25), seconds(25)}) {
    fail(*c, e, 1);
    EXPECT_EQ(ejected_for(*c, e), want);
    clock.advance(want);
    EXPECT_TRUE(c->usable(e, c->now_ms()));  // readmitted; fails again at once
  }
  c->record(e, Outcome::kSuccess);  // served after its readmission
  fail(*c, e, 1);
  EXPECT_EQ(ejected_for(*c, e), seconds(10));
}

// Never more than max_ejected_percent of the cluster is out, however many fail.
TEST(OutlierEjection, TheMaxEjectedPercentHolds) {
  Registry registry;
  FakeClock clock;
  auto c = ejecting(registry, clock, 4, 1, seconds(10), seconds(10), 50);
  auto eps = c->endpoints();
  for (const auto& e : *eps) {
    fail(*c, e, 1);
  }
  int out = 0;
  for (const auto& e : *eps) {
    out += c->serving(e) ? 0 : 1;
  }
  EXPECT_EQ(out, 2);
  EXPECT_TRUE(c->serving(eps->at(2)));
  clock.advance(seconds(10));
  EXPECT_TRUE(c->usable(eps->at(0), c->now_ms()));  // one back in: another may go
  fail(*c, eps->at(2), 1);
  EXPECT_FALSE(c->serving(eps->at(2)));
  // A cap that allows none (one endpoint at 50%): nothing is ejected.
  auto single = ejecting(registry, clock, 1, 1, seconds(10), seconds(10), 50);
  fail(*single, single->endpoints()->at(0), 3);
  EXPECT_TRUE(single->serving(single->endpoints()->at(0)));
}

// An active check that passes readmits an ejected endpoint before its time is over.
TEST(OutlierEjection, PassingHealthChecksReadmitEarly) {
  Registry registry;
  FakeClock clock;
  auto c = ejecting(registry, clock, 2, 1, seconds(30), seconds(30));
  const Endpoint& e = c->endpoints()->at(0);
  fail(*c, e, 1);
  ASSERT_FALSE(c->serving(e));
  c->record_check(e, true, "ok");
  EXPECT_FALSE(c->serving(e));  // healthy_threshold is 2
  auto before = c->generation();
  c->record_check(e, true, "ok");
  EXPECT_TRUE(c->serving(e));
  EXPECT_NE(c->generation(), before);  // workers rebuild their balancers
  EXPECT_EQ(c->to_json().at("endpoints").as_array().at(0).as_object().at("last_check"), "ok");
}

TEST(OutlierEjection, ZeroConsecutiveFailuresTurnsItOff) {
  Registry registry;
  FakeClock clock;
  auto c = ejecting(registry, clock, 2, 0, seconds(30), seconds(30));
  fail(*c, c->endpoints()->at(0), 100);
  EXPECT_TRUE(c->serving(c->endpoints()->at(0)));
}

// to_json says for how long, by the cluster's clock.
TEST(OutlierEjection, StatusShowsTheTimeLeft) {
  Registry registry;
  FakeClock clock;
  auto c = ejecting(registry, clock, 2, 1, seconds(30), seconds(30));
  fail(*c, c->endpoints()->at(1), 1);
  clock.advance(seconds(12));
  auto o = c->to_json();
  const auto& e1 = o.at("endpoints").as_array().at(1).as_object();
  EXPECT_EQ(e1.at("ejected"), true);
  EXPECT_EQ(e1.at("ejected_for_ms"), 18'000);
  EXPECT_EQ(o.at("endpoints").as_array().at(0).as_object().at("ejected"), false);
}

}  // namespace
}  // namespace tender::upstream
