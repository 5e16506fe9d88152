// Services on the pod network (as root), in the guestbook's shape: a Service in front of a
// 2-replica Deployment in one file with other kinds, a client pod reaching it by name, traffic
// following readiness, a nodePort on 127.0.0.1, a headless Service naming each pod.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <set>
#include <sstream>

#include "free_port.hpp"
#include "network_support.hpp"
#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

// The echo server's "id" in a response body (its pod's name), or "".
std::string id_of(const std::string& body) {
  auto at = body.find("\"id\":\"");
  if (at == std::string::npos) {
    return "";
  }
  at += 6;
  return body.substr(at, body.find('"', at) - at);
}

class ServiceTest : public NetworkTest {
 protected:
  // The guestbook's shape: Services, a Deployment whose replicas are ready once they answer
  // and unready while DIR/unready-POD exists, a client pod, and a kind tender ignores, in one
  // file.
  void run_guestbook(std::uint16_t node_port) {
    const std::string readiness = "exec: {command: [sh, -c, \"test ! -f " + dir_.path() +
                                  "/unready-$HOSTNAME && curl -sf -o /dev/null "
                                  "http://127.0.0.1:8080/\"]}\n            failureThreshold: 1";
    run(R"Y(
apiVersion: v1
kind: Service
metadata: {name: frontend, labels: {app: guestbook}}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: )Y" +
        std::to_string(node_port) + R"Y(}]
---
apiVersion: v1
kind: Service
metadata: {name: peers}
spec:
  clusterIP: None
  selector: {app: web}
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: none}
  ports: [{port: 80}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: guestbook}
---
)Y" + web_deployment(2, "", readiness) +
        R"Y(
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: sh
      env:
        - {name: FRONTEND_URL, value: "http://$(FRONTEND_SERVICE_HOST):$(FRONTEND_SERVICE_PORT)/"}
      command: ["sh", "-c", "echo $FRONTEND_SERVICE_HOST:$FRONTEND_SERVICE_PORT $(FRONTEND_SERVICE_PORT) $FRONTEND_URL > )Y" +
        dir_.path() + R"Y(/client-env; exec sleep 1000"]
)Y");
  }
  json::value service(const std::string& name) {
    auto all = json::parse(http(runner_->port("admin"), "GET", "/v1/services").body);
    for (const auto& s : all.at("services").as_array()) {
      if (s.at("name").as_string() == name) {
        return s;
      }
    }
    return nullptr;
  }
  // Once the rules in force balance over `n` endpoints.
  bool wait_endpoints(const std::string& name, std::size_t n) {
    return eventually([&] {
      json::value s = service(name);
      return !s.is_null() && s.at("applied").as_bool() &&
             s.at("ports").at(0).at("endpoints").as_array().size() == n;
    });
  }
  // The pods that answer `n` requests for http://frontend/ from the client pod.
  std::set<std::string> answered_in_pod(int n, const std::string& host = "frontend") {
    std::set<std::string> ids;
    for (int i = 0; i < n; ++i) {
      RunResult r = curl("client", "http://" + host + "/");
      ids.insert(r.status.code == 0 ? id_of(r.out) : "curl exit " + std::to_string(r.status.code));
    }
    return ids;
  }
  // The same through the nodePort on this machine's loopback.
  std::set<std::string> answered_on_node_port(int n, std::uint16_t port) {
    std::set<std::string> ids;
    for (int i = 0; i < n; ++i) {
      auto r = http(port, "GET", "/");
      ids.insert(r.status == 200 ? id_of(r.body) : "status " + std::to_string(r.status));
    }
    return ids;
  }
};

TEST_F(ServiceTest, AServiceBalancesOverTheReadyReplicasByNameAndOnItsNodePort) {
  const std::uint16_t node_port = free_port();
  run_guestbook(node_port);
  wait_ready({"web-0", "web-1", "client"});
  ASSERT_TRUE(wait_endpoints("frontend", 2));
  const std::set<std::string> both = {"web-0", "web-1"};

  // By name from a pod: every request answered, and both replicas reached.
  std::set<std::string> seen;
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& id : answered_in_pod(4)) {
          seen.insert(id);
        }
        return seen == both;
      },
      30s))
      << "answers: " << ::testing::PrintToString(seen) << runner_->stderr_text();
  EXPECT_EQ(
      id_of(curl("client", "http://frontend.default.svc.cluster.local/").out).rfind("web-", 0), 0U);
  // A replica reaches its own Service, itself included: the connection is masqueraded, so the
  // reply comes back through the runner's namespace.
  std::set<std::string> from_replica;
  ASSERT_TRUE(eventually([&] {
    RunResult r = curl("web-0", "http://frontend/");
    from_replica.insert(r.status.code == 0 ? id_of(r.out)
                                           : "curl exit " + std::to_string(r.status.code));
    return from_replica == both;
  })) << ::testing::PrintToString(from_replica);

  // The Service's address and port are in the client's environment, as Kubernetes puts them.
  json::value svc = service("frontend");
  ASSERT_FALSE(svc.is_null());
  std::string vip(svc.at("clusterIP").as_string());
  EXPECT_EQ(vip.rfind("10.96.", 0), 0U) << vip;
  const std::string env_file = dir_.path() + "/client-env";
  // In its environment, and in $(VAR) references of env values and of the command, as the
  // kubelet expands them.
  const std::string expected = vip + ":80 80 http://" + vip + ":80/\n";
  EXPECT_TRUE(eventually([&] { return slurp(env_file) == expected; })) << slurp(env_file);
  EXPECT_EQ(svc.at("ports").at(0).at("nodePort").as_int64(), node_port);
  RunResult status = cli({"pod", "status"});
  EXPECT_NE(status.out.find("80:" + std::to_string(node_port) + "/TCP"), std::string::npos)
      << status.out;

  // The nodePort answers on 127.0.0.1, from both replicas.
  std::set<std::string> local;
  ASSERT_TRUE(eventually([&] {
    for (const auto& id : answered_on_node_port(4, node_port)) {
      local.insert(id);
    }
    return local == both;
  }));

  // web-1 unready: it leaves the Service and every request goes to web-0.
  dir_.write("unready-web-1", "");
  ASSERT_TRUE(eventually([&] { return !ready("web-1"); }));
  ASSERT_TRUE(wait_endpoints("frontend", 1));
  EXPECT_EQ(answered_on_node_port(20, node_port), std::set<std::string>{"web-0"});
  EXPECT_EQ(answered_in_pod(10), std::set<std::string>{"web-0"});
  // Ready again: back in.
  std::remove((dir_.path() + "/unready-web-1").c_str());
  ASSERT_TRUE(wait_endpoints("frontend", 2));
  std::set<std::string> again;
  ASSERT_TRUE(eventually([&] {
    for (const auto& id : answered_on_node_port(4, node_port)) {
      again.insert(id);
    }
    return again == both;
  }));

  // A partition holds through a Service too: cut off from both replicas, the client's
  // connection to the virtual IP goes nowhere (curl's 28) until healed.
  ASSERT_EQ(cli({"pod", "partition", "client", "web-0,web-1"}).status.code, 0);
  EXPECT_EQ(curl("client", "http://frontend/").status.code, 28);
  ASSERT_EQ(cli({"pod", "heal"}).status.code, 0);
  EXPECT_EQ(id_of(curl("client", "http://frontend/").out).rfind("web-", 0), 0U);

  // A Service with no ready pod refuses at once (curl's 7), rather than leaving clients to time
  // out (28).
  EXPECT_EQ(curl("client", "http://nobody/").status.code, 7);
}

// sessionAffinity: ClientIP: the pod a client's first connection reached takes every later one,
// while another client may be sent elsewhere; when that pod leaves, the client moves on.
TEST_F(ServiceTest, WithClientIPAffinityAClientStaysWithOneReplica) {
  run_guestbook(free_port());
  wait_ready({"web-0", "web-1", "client"});
  ASSERT_TRUE(wait_endpoints("sticky", 2));
  EXPECT_EQ(service("sticky").at("sessionAffinity"), "ClientIP");
  EXPECT_EQ(service("sticky").at("sessionAffinityTimeoutSeconds"), 600);
  EXPECT_EQ(service("frontend").at("sessionAffinity"), "None");
  const std::set<std::string> first = answered_in_pod(12, "sticky");
  ASSERT_EQ(first.size(), 1U) << ::testing::PrintToString(first);
  const std::string chosen = *first.begin();
  ASSERT_EQ(chosen.rfind("web-", 0), 0U) << chosen;
  // Without affinity, the same client reaches both (balanced at random).
  std::set<std::string> frontend;
  ASSERT_TRUE(eventually([&] {
    for (const auto& id : answered_in_pod(4)) {
      frontend.insert(id);
    }
    return frontend.size() == 2;
  })) << ::testing::PrintToString(frontend);
  EXPECT_EQ(answered_in_pod(6, "sticky"), first);

  dir_.write("unready-" + chosen, "");
  ASSERT_TRUE(wait_endpoints("sticky", 1));
  const std::string other = chosen == "web-0" ? "web-1" : "web-0";
  EXPECT_EQ(answered_in_pod(6, "sticky"), std::set<std::string>{other});
}

TEST_F(ServiceTest, AHeadlessServiceNamesEachReadyPod) {
  run_guestbook(free_port());
  wait_ready({"web-0", "web-1", "client"});
  const std::set<std::string> ips = {ip("web-0"), ip("web-1")};
  auto resolved = [&] {
    RunResult r = exec("client", {"getent", "ahostsv4", "peers"});
    std::set<std::string> out;
    std::istringstream lines(r.out);
    std::string addr;
    std::string rest;
    while (lines >> addr && std::getline(lines, rest)) {
      out.insert(addr);
    }
    return out;
  };
  EXPECT_TRUE(eventually([&] { return resolved() == ips; }))
      << ::testing::PrintToString(resolved());
  dir_.write("unready-web-0", "");
  EXPECT_TRUE(eventually([&] { return resolved() == std::set<std::string>{ip("web-1")}; }))
      << ::testing::PrintToString(resolved());
}

TEST_F(ServiceTest, WithoutThePodNetworkServicesAreWarnedAboutAndThePodsRun) {
  run(R"Y(
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, labels: {app: db}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: db, command: [sleep, "1000"]}]
)Y",
      {"--network", "host"});
  wait_ready({"db"});
  EXPECT_NE(runner_->stderr_text().find("Services need the pod network"), std::string::npos)
      << runner_->stderr_text();
  EXPECT_TRUE(service("db").is_null());
}

TEST_F(ServiceTest, AClusterIPOutsideTheServiceNetworkExits2NamingTheService) {
  std::string file = dir_.write("svc.yaml",
                                "apiVersion: v1\nkind: Service\nmetadata: {name: db}\n"
                                "spec:\n  clusterIP: 10.0.0.10\n  selector: {app: db}\n"
                                "  ports: [{port: 5432}]\n");
  RunResult r =
      run_tender({"pod", "run", file, "--admin", "127.0.0.1:0", "--run-dir", dir_.path() + "/run"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("svc.yaml:1: spec.clusterIP: clusterIP 10.0.0.10 is not an address of the "
                       "service network 10.96.0.0/12"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace tender::testing
