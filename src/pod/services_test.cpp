// Services as values: virtual IPs, endpoints, the nft ruleset, hosts lines and environment.
#include "pod/services.hpp"

#include <gtest/gtest.h>

#include "core/config.hpp"

namespace tender::pod {
namespace {

const Cidr kServices = *Cidr::parse("10.96.0.0/12");
const Cidr kPods = *Cidr::parse("10.217.0.0/16");

ServiceSpec service(const std::string& name, std::vector<ServicePort> ports = {{}}) {
  ServiceSpec s;
  s.name = name;
  s.selector = {{"app", name}};
  for (auto& p : ports) {
    if (p.port == 0) {
      p.port = 80;
      p.target_port = 8080;
    }
  }
  s.ports = std::move(ports);
  s.file = "svc.yaml";
  s.line = 1;
  return s;
}

PodSpec pod(const std::string& name, const std::string& app) {
  PodSpec p;
  p.name = name;
  p.labels = {{"app", app}, {"tier", "x"}};
  ContainerSpec c;
  c.name = "app";
  c.ports.push_back(ContainerPort{"http", 8081, 0, "TCP"});
  p.containers.push_back(c);
  return p;
}

std::string error_of(const std::vector<ServiceSpec>& specs, const Cidr& net = kServices) {
  try {
    (void)plan_services(specs, net, kPods);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Services, AskedForAddressesAreKeptAndTheOthersAreTheLowestFree) {
  auto a = service("a");
  auto b = service("b");
  b.cluster_ip = "10.96.0.1";
  auto c = service("c");
  auto headless = service("h");
  headless.headless = true;
  auto plan = plan_services({a, b, c, headless}, kServices, kPods);
  EXPECT_EQ(plan[0].ip, "10.96.0.2");
  EXPECT_EQ(plan[1].ip, "10.96.0.1");
  EXPECT_EQ(plan[2].ip, "10.96.0.3");
  EXPECT_EQ(plan[3].ip, "");
}

TEST(Services, AnAddressOutsideTheNetworkTakenTwiceOrNoneLeftIsAConfigError) {
  auto a = service("a");
  a.cluster_ip = "10.0.0.10";
  EXPECT_EQ(error_of({a}),
            "svc.yaml:1: spec.clusterIP: clusterIP 10.0.0.10 is not an address of "
            "the service network 10.96.0.0/12 (see --service-cidr)");
  a.cluster_ip = "10.96.0.0";
  EXPECT_NE(error_of({a}).find("is not an address"), std::string::npos);
  a.cluster_ip = "10.96.0.7";
  auto b = service("b");
  b.cluster_ip = "10.96.0.7";
  EXPECT_EQ(error_of({a, b}),
            "svc.yaml:1: spec.clusterIP: clusterIP 10.96.0.7 is taken by another Service");
  EXPECT_EQ(error_of({service("a"), service("b"), service("c")}, *Cidr::parse("10.96.0.0/24")),
            "no error");
  std::vector<ServiceSpec> many(255, service("a"));
  EXPECT_EQ(error_of(many, *Cidr::parse("10.96.0.0/24")),
            "svc.yaml:1: spec.clusterIP: the service network 10.96.0.0/24 has no address left");
  EXPECT_EQ(error_of({service("a")}, *Cidr::parse("10.217.0.0/24")),
            "svc.yaml:1: spec.clusterIP: the service network 10.217.0.0/24 overlaps the pod "
            "network 10.217.0.0/16 (see --service-cidr and --pod-cidr)");
}

TEST(Services, OnlyReadyPodsOfTheSelectorAndNamespaceServe) {
  auto plan = plan_services({service("web")}, kServices, kPods);
  PodSpec w0 = pod("web-0", "web");
  PodSpec w1 = pod("web-1", "web");
  PodSpec w2 = pod("web-2", "web");
  PodSpec other = pod("db-0", "db");
  PodSpec elsewhere = pod("web-9", "web");
  elsewhere.namespace_ = "other";
  std::vector<EndpointCandidate> pods = {{&w0, "10.217.0.2", true, false},
                                         {&w1, "10.217.0.3", false, false},
                                         {&w2, "10.217.0.4", true, true},
                                         {&other, "10.217.0.5", true, false},
                                         {&elsewhere, "10.217.0.6", true, false}};
  EXPECT_TRUE(update_endpoints(plan, pods));
  ASSERT_EQ(plan[0].endpoints[0].size(), 1U);
  EXPECT_EQ(plan[0].endpoints[0][0], (Endpoint{"web-0", "10.217.0.2", 8080, true}));
  EXPECT_EQ(plan[0].pods.size(), 2U);  // web-0 and the unready web-1; not the terminating one
  EXPECT_FALSE(update_endpoints(plan, pods));  // nothing changed
  pods[1].ready = true;
  EXPECT_TRUE(update_endpoints(plan, pods));
  EXPECT_EQ(plan[0].endpoints[0].size(), 2U);
}

TEST(Services, ATargetPortByNameIsEachPodsOwnAndPublishNotReadyServesTheUnready) {
  ServicePort named;
  named.port = 80;
  named.target_port_name = "http";
  ServicePort missing;
  missing.name = "admin";
  missing.port = 81;
  missing.target_port_name = "admin";
  auto svc = service("web", {named, missing});
  svc.publish_not_ready = true;
  auto plan = plan_services({svc}, kServices, kPods);
  PodSpec w0 = pod("web-0", "web");
  PodSpec w1 = pod("web-1", "web");
  w1.containers[0].ports[0].container_port = 9000;
  EXPECT_TRUE(update_endpoints(
      plan, {{&w0, "10.217.0.2", true, false}, {&w1, "10.217.0.3", false, false}}));
  ASSERT_EQ(plan[0].endpoints[0].size(), 2U);
  EXPECT_EQ(plan[0].endpoints[0][0].port, 8081);
  EXPECT_EQ(plan[0].endpoints[0][1].port, 9000);
  EXPECT_TRUE(plan[0].endpoints[1].empty());  // no pod has a port named admin
}

TEST(Services, TheRulesetDnatsEachPortToItsEndpointsAndRejectsTheRest) {
  auto plan = plan_services({service("web"), service("idle")}, kServices, kPods);
  PodSpec w0 = pod("web-0", "web");
  PodSpec w1 = pod("web-1", "web");
  update_endpoints(plan, {{&w0, "10.217.0.2", true, false}, {&w1, "10.217.0.3", true, false}});
  std::string rules = services_ruleset(plan, kServices);
  EXPECT_NE(rules.find("ip daddr 10.96.0.1 tcp dport 80 jump svc0-0 comment \"default/web\""),
            std::string::npos)
      << rules;
  EXPECT_NE(rules.find("numgen random mod 2 vmap { 0 : jump svc0-0-0, 1 : jump svc0-0-1 }"),
            std::string::npos);
  EXPECT_NE(rules.find("meta l4proto tcp dnat to 10.217.0.3:8080"), std::string::npos);
  EXPECT_EQ(rules.find("10.96.0.2"), std::string::npos);  // "idle" has no endpoint
  EXPECT_NE(rules.find("ip daddr 10.96.0.0/12 meta l4proto tcp reject with tcp reset"),
            std::string::npos);
  EXPECT_NE(rules.find("ct status dnat masquerade"), std::string::npos);
}

TEST(Services, WithSessionAffinityAClientGoesBackToItsEndpointUntilTheTimeout) {
  ServiceSpec sticky = service("web");
  sticky.affinity_seconds = 600;
  auto plan = plan_services({sticky, service("other")}, kServices, kPods);
  PodSpec w0 = pod("web-0", "web");
  PodSpec w1 = pod("web-1", "web");
  PodSpec o0 = pod("other-0", "other");
  update_endpoints(plan, {{&w0, "10.217.0.2", true, false},
                          {&w1, "10.217.0.3", true, false},
                          {&o0, "10.217.0.4", true, false}});
  std::string rules = services_ruleset(plan, kServices);
  // Each endpoint remembers its clients for the timeout, renewed by each new connection...
  EXPECT_NE(rules.find("  set clients-svc0-0-1 {\n    type ipv4_addr\n    flags dynamic,timeout\n"
                       "    timeout 600s\n  }\n"),
            std::string::npos)
      << rules;
  EXPECT_NE(rules.find("  chain svc0-0-1 {\n    update @clients-svc0-0-1 { ip saddr }\n"
                       "    meta l4proto tcp dnat to 10.217.0.3:8080\n  }\n"),
            std::string::npos);
  // ...and a client it remembers goes back to it before any random pick.
  EXPECT_NE(rules.find("  chain svc0-0 {\n    ip saddr @clients-svc0-0-0 goto svc0-0-0\n"
                       "    ip saddr @clients-svc0-0-1 goto svc0-0-1\n"
                       "    numgen random mod 2 vmap"),
            std::string::npos);
  // A Service without affinity has no set.
  EXPECT_EQ(rules.find("clients-svc1"), std::string::npos);
  EXPECT_NE(rules.find("  chain svc1-0 {\n    numgen random mod 1 vmap { 0 : jump svc1-0-0 }"),
            std::string::npos);
}

TEST(Services, NamesGoToTheVirtualIPOrToEachPodOfAHeadlessService) {
  auto web = service("web");
  auto db = service("db");
  db.headless = true;
  auto other = service("web");
  other.namespace_ = "other";
  auto plan = plan_services({web, db, other}, kServices, kPods);
  PodSpec d0 = pod("db-0", "db");
  PodSpec d1 = pod("db-1", "db");
  update_endpoints(plan, {{&d0, "10.217.0.2", true, false}, {&d1, "10.217.0.3", false, false}});
  auto hosts = service_hosts(plan);
  ASSERT_EQ(hosts.size(), 3U);
  // "web" is in two namespaces: only its qualified names.
  EXPECT_EQ(hosts[0],
            (HostsEntry{"10.96.0.1",
                        {"web.default", "web.default.svc", "web.default.svc.cluster.local"}}));
  EXPECT_EQ(hosts[1],
            (HostsEntry{"10.217.0.2",
                        {"db", "db.default", "db.default.svc", "db.default.svc.cluster.local"}}));
  EXPECT_EQ(hosts[2].ip, "10.96.0.2");
}

TEST(Services, TheEnvironmentNamesEachServiceOfThePodsNamespace) {
  ServicePort a;
  a.name = "http";
  a.port = 80;
  ServicePort b;
  b.name = "metrics-udp";
  b.port = 9125;
  b.protocol = "UDP";
  auto plan = plan_services({service("redis-primary", {a, b})}, kServices, kPods);
  auto env = service_env(plan, "default");
  auto has = [&env](const std::string& k, const std::string& v) {
    return std::find(env.begin(), env.end(), std::pair{k, v}) != env.end();
  };
  EXPECT_TRUE(has("REDIS_PRIMARY_SERVICE_HOST", "10.96.0.1"));
  EXPECT_TRUE(has("REDIS_PRIMARY_SERVICE_PORT", "80"));
  EXPECT_TRUE(has("REDIS_PRIMARY_SERVICE_PORT_METRICS_UDP", "9125"));
  EXPECT_TRUE(has("REDIS_PRIMARY_PORT", "tcp://10.96.0.1:80"));
  EXPECT_TRUE(has("REDIS_PRIMARY_PORT_9125_UDP_PROTO", "udp"));
  EXPECT_TRUE(has("REDIS_PRIMARY_PORT_80_TCP_ADDR", "10.96.0.1"));
  EXPECT_TRUE(service_env(plan, "other").empty());
}

}  // namespace
}  // namespace tender::pod
