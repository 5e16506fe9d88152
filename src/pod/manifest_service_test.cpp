// Services as the manifest parser reads them: what is kept, what is refused and why.
#include <gtest/gtest.h>

#include "core/config.hpp"
#include "pod/manifest.hpp"
#include "pod/manifest_test_support.hpp"

namespace tender::pod {
namespace {

// A Service (its spec from line 5) in front of a Deployment, in one file.
std::string with_service(const std::string& spec) {
  return "apiVersion: v1\n"                          // 1
         "kind: Service\n"                           // 2
         "metadata: {name: web, namespace: shop}\n"  // 3
         "spec:\n" +                                 // 4
         spec +
         "---\n"
         "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
         "spec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n"
         "    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
         "        - name: app\n          command: [app]\n"
         "          ports: [{name: http, containerPort: 8080}]\n";
}

std::string error_of(const std::string& spec) {
  return testing::manifest_error(with_service(spec), "svc.yaml");
}

TEST(ServiceManifest, AServiceIsReadWithItsPortsAndSelector) {
  Manifests m = parse_manifests(with_service("  type: NodePort\n"
                                             "  selector: {app: web}\n"
                                             "  ports:\n"
                                             "    - {name: http, port: 80, targetPort: http, "
                                             "nodePort: 30080}\n"
                                             "    - {name: metrics, port: 9090, targetPort: 9100, "
                                             "protocol: UDP}\n"),
                                "svc.yaml");
  ASSERT_EQ(m.services.size(), 1U);
  const ServiceSpec& s = m.services[0];
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.namespace_, "shop");
  EXPECT_EQ(s.type, ServiceSpec::Type::kNodePort);
  EXPECT_FALSE(s.headless);
  EXPECT_EQ(s.selector, (std::map<std::string, std::string>{{"app", "web"}}));
  ASSERT_EQ(s.ports.size(), 2U);
  EXPECT_EQ(s.ports[0].port, 80);
  EXPECT_EQ(s.ports[0].target_port, 0);
  EXPECT_EQ(s.ports[0].target_port_name, "http");
  EXPECT_EQ(s.ports[0].node_port, 30080);
  EXPECT_EQ(s.ports[1].target_port, 9100);
  EXPECT_EQ(s.ports[1].protocol, "UDP");
  EXPECT_EQ(m.pod_count(), 2U);  // the Deployment beside it still runs
}

TEST(ServiceManifest, SessionAffinityIsClientIPForItsTimeoutOrNone) {
  auto affinity = [](const std::string& fields) {
    Manifests m = parse_manifests(
        with_service("  selector: {app: web}\n  ports: [{port: 80}]\n" + fields), "svc.yaml");
    return m.services.at(0).affinity_seconds;
  };
  EXPECT_EQ(affinity(""), std::nullopt);
  EXPECT_EQ(affinity("  sessionAffinity: None\n"), std::nullopt);
  EXPECT_EQ(affinity("  sessionAffinity: ClientIP\n"), 10800);  // Kubernetes' default
  EXPECT_EQ(affinity("  sessionAffinity: ClientIP\n"
                     "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n"),
            60);
  const std::string base = "  selector: {app: web}\n  ports: [{port: 80}]\n";
  EXPECT_EQ(error_of(base + "  sessionAffinity: Cookie\n"),
            "svc.yaml:7: spec.sessionAffinity: must be None or ClientIP, not Cookie");
  EXPECT_EQ(error_of(base + "  sessionAffinity: ClientIP\n"
                            "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 86401}}\n"),
            "svc.yaml:8: spec.sessionAffinityConfig.clientIP.timeoutSeconds: 86401 is out of "
            "range [1, 86400]");
  EXPECT_EQ(error_of(base + "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n"),
            "svc.yaml:7: spec.sessionAffinityConfig.clientIP.timeoutSeconds: only with "
            "sessionAffinity: ClientIP");
}

TEST(ServiceManifest, TargetPortDefaultsToPortAndClusterIPNoneIsHeadless) {
  Manifests m = parse_manifests(
      with_service("  clusterIP: None\n  selector: {app: web}\n  ports: [{port: 6379}]\n"),
      "svc.yaml");
  EXPECT_TRUE(m.services[0].headless);
  EXPECT_EQ(m.services[0].ports[0].target_port, 6379);
  m = parse_manifests(with_service("  clusterIP: None\n  selector: {app: web}\n"), "svc.yaml");
  EXPECT_TRUE(m.services[0].ports.empty());
}

TEST(ServiceManifest, WhatCannotBeServedIsRefusedWithTheReason) {
  EXPECT_EQ(error_of("  ports: [{port: 80}]\n"),
            "svc.yaml:5: spec.selector: required: a Service without a selector is served by "
            "Endpoints objects, which tender does not run");
  EXPECT_EQ(error_of("  type: ExternalName\n  externalName: db.example\n"),
            "svc.yaml:5: spec.type: ExternalName is not run: it is a DNS alias, and pods here "
            "resolve names through their hosts file (use the external name directly)");
  EXPECT_EQ(error_of("  selector: {app: web}\n  ports: [{port: 80, protocol: SCTP}]\n"),
            "svc.yaml:6: spec.ports[0].protocol: SCTP is not served (TCP or UDP)");
  EXPECT_EQ(error_of("  selector: {app: web}\n  ports: [{port: 80, nodePort: 30001}]\n"),
            "svc.yaml:6: spec.ports[0].nodePort: only a NodePort or LoadBalancer Service has one");
  EXPECT_EQ(error_of("  selector: {app: web}\n  ipFamilies: [IPv6]\n  ports: [{port: 80}]\n"),
            "svc.yaml:6: spec.ipFamilies: only IPv4 is served (the pod network is IPv4), not "
            "\"IPv6\"");
  EXPECT_EQ(error_of("  selector: {app: web}\n"),
            "svc.yaml:5: spec.ports: required: at least one port (only a headless Service may "
            "have none)");
  EXPECT_EQ(error_of("  type: NodePort\n  clusterIP: None\n  selector: {app: web}\n"),
            "svc.yaml:6: spec.clusterIP: None (headless) is for a ClusterIP Service only");
}

TEST(ServiceManifest, PortsAreCheckedAsTheApiServerChecksThem) {
  EXPECT_EQ(error_of("  selector: {app: web}\n  ports: [{port: 80}, {port: 81}]\n"),
            "svc.yaml:6: spec.ports[0].name: required when a Service has more than one port");
  EXPECT_EQ(
      error_of("  selector: {app: web}\n  ports: [{name: a, port: 80}, {name: a, port: 81}]\n"),
      "svc.yaml:6: spec.ports[1].name: duplicate port name \"a\"");
  EXPECT_EQ(
      error_of("  selector: {app: web}\n  ports: [{name: a, port: 80}, {name: b, port: 80}]\n"),
      "svc.yaml:6: spec.ports[1].port: duplicate port 80/TCP");
  EXPECT_EQ(error_of("  selector: {app: web}\n  ports: [{port: 0}]\n"),
            "svc.yaml:6: spec.ports[0].port: 0 is out of range [1, 65535]");
  EXPECT_EQ(error_of("  selector: {app: web}\n  ports: [{port: 80, targetPort: \"no way\"}]\n"),
            "svc.yaml:6: spec.ports[0].targetPort: not a port number or port name: \"no way\"");
}

TEST(ServiceManifest, TwoServicesOfOneNameInOneNamespaceAreRefused) {
  std::string twice = with_service("  selector: {app: web}\n  ports: [{port: 80}]\n") +
                      "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}"
                      "\nspec: {selector: {app: web}, ports: [{port: 81}]}\n";
  EXPECT_EQ(testing::manifest_error(twice, "svc.yaml"),
            "svc.yaml:24: metadata.name: Service \"web\" in namespace \"shop\" is already defined "
            "at svc.yaml:3");
}

TEST(ServiceManifest, ServicesAndTheirPortsAreBounded) {
  std::string many;
  for (std::size_t i = 0; i <= kMaxServices; ++i) {
    many += "---\napiVersion: v1\nkind: Service\nmetadata: {name: s" + std::to_string(i) +
            "}\nspec: {selector: {app: a}, ports: [{port: 80}]}\n";
  }
  EXPECT_NE(testing::manifest_error(many, "svc.yaml").find("more than 1000 Services in a run"),
            std::string::npos);
  std::string ports;
  for (std::size_t i = 0; i <= kMaxServicePorts; ++i) {
    ports += (i == 0 ? "" : ", ") +
             ("{name: p" + std::to_string(i) + ", port: " + std::to_string(1000 + i) + "}");
  }
  EXPECT_EQ(error_of("  selector: {app: web}\n  ports: [" + ports + "]\n"),
            "svc.yaml:6: spec.ports: more than 100 ports in a Service");
}

TEST(ServiceManifest, ANameThatCannotBeAVariableIsRefused) {
  std::string yaml =
      "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\n"
      "spec: {selector: {app: web}, ports: [{port: 80}]}\n";
  EXPECT_EQ(testing::manifest_error(yaml, "svc.yaml"),
            "svc.yaml:3: metadata.name: not a valid Service name (lowercase letters, digits and "
            "'-', starting with a letter, at most 63): \"1web\"");
}

}  // namespace
}  // namespace tender::pod
