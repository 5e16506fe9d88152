#include "ambassador/cluster.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "ambassador/worker.hpp"

namespace tender::ambassador {
namespace {

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

// The proxy's clusters keep the metric names docs/proxy.md lists.
TEST(ProxyCluster, MetricsAreNamedForTheProxy) {
  Registry registry;
  ClusterConfig config;
  config.name = "c";
  Cluster cluster(config, registry);
  cluster.set_endpoints({{"a:1", {"127.0.0.1", 1}}});
  cluster.record(cluster.endpoints()->at(0), Outcome::kTimeout);
  auto& errors = registry.counter_family("tender_proxy_upstream_errors_total", "",
                                         {"cluster", "endpoint", "kind"});
  EXPECT_EQ(errors.with({"c", "a:1", "timeout"}).value(), 1);
  auto& overflow =
      registry.counter_family("tender_proxy_cluster_overflow_total", "", {"cluster", "breaker"});
  config.limits.max_requests = 0;
  cluster.set_config(config);
  EXPECT_FALSE(cluster.try_request());
  EXPECT_EQ(overflow.with({"c", "requests"}).value(), 1);
}

// A reload changes the password the servers are sent, with the rest of the cluster's config.
TEST(ProxyCluster, AReloadChangesThePassword) {
  Registry registry;
  ClusterConfig config;
  config.name = "c";
  config.auth = "old";
  Cluster cluster(config, registry);
  EXPECT_EQ(cluster.auth().password, "old");
  config.auth = "new";
  config.auth_user = "app";
  config.connect_timeout = std::chrono::milliseconds(250);
  cluster.set_config(config);
  EXPECT_EQ(cluster.auth().password, "new");
  EXPECT_EQ(cluster.auth().user, "app");
  EXPECT_EQ(cluster.connect_timeout(), std::chrono::milliseconds(250));
}

}  // namespace
}  // namespace tender::ambassador
