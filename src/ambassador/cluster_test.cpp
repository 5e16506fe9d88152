#include "ambassador/cluster.hpp"

#include "ambassador/worker.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

namespace tender::ambassador {
namespace {

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
  Cluster c(limited(1, 1), registry);
  auto& overflow =
      registry.counter_family("tender_proxy_cluster_overflow_total", "", {"cluster", "breaker"});
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

TEST(ClusterBreakers, ListenersHearOfSlotsOnlyWhileRequestsWait) {
  Registry registry;
  Cluster c(limited(2, 4), registry);
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

// A reload that removes a cluster: the workers' views of it must not keep it (and its
// endpoints' state) for the rest of the process's life.
TEST(WorkerViews, AViewOnlyItsWorkerStillHoldsGoesWhenANewOneIsMade) {
  Registry registry;
  Worker w(0, false, std::chrono::microseconds(0), PollCounters{});
  auto named = [](const char* name) {
    ClusterConfig c;
    c.name = name;
    return c;
  };
  auto a = std::make_shared<Cluster>(named("a"), registry);
  auto b = std::make_shared<Cluster>(named("b"), registry);
  std::weak_ptr<Cluster> gone = a;
  w.view(a);
  w.view(b);
  EXPECT_EQ(&w.view(a).cluster(), a.get());  // the same view again
  a.reset();                                 // removed by a reload; its requests are done
  EXPECT_FALSE(gone.expired());              // only the view holds it now
  auto c = std::make_shared<Cluster>(named("c"), registry);
  w.view(c);
  EXPECT_TRUE(gone.expired());
  EXPECT_EQ(w.views(), 2U);  // b (still held here) and c
  EXPECT_EQ(&w.view(b).cluster(), b.get());
}

// A new cluster may be given the address of one that went; its generations are its own, so a
// worker that remembers what it saw by address looks at the new one afresh.
TEST(ClusterGenerations, NoTwoClustersShareOne) {
  Registry registry;
  ClusterConfig config;
  config.name = "a";
  auto first = std::make_unique<Cluster>(config, registry);
  std::uint64_t seen = first->generation();
  first.reset();
  Cluster second(config, registry);
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
  auto cluster = std::make_shared<Cluster>(ring(false), registry);
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

// A cache (auto_eject: true) moves the keys of a down endpoint to the others.
TEST(WorkerClusterSharding, ACacheMovesTheKeysOfADownEndpoint) {
  Registry registry;
  auto cluster = std::make_shared<Cluster>(ring(true), registry);
  cluster->set_endpoints({{"a", {"127.0.0.1", 1}}, {"b", {"127.0.0.1", 2}}});
  WorkerCluster view(cluster);
  std::uint64_t on_b = key_on(view, "b");
  cluster->record(cluster->endpoints()->at(1), Outcome::kConnectFailure);
  const Endpoint* e = view.pick_now(on_b);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "a");
  EXPECT_EQ(view.owner_down(), nullptr);
}

}  // namespace
}  // namespace tender::ambassador
