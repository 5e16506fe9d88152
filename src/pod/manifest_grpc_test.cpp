// grpc probes as the manifest parser reads them: {port, service}, the port a number only.
#include <gtest/gtest.h>

#include <string>

#include "pod/manifest.hpp"
#include "pod/manifest_test_support.hpp"

namespace tender::pod {
namespace {

const std::string base_pod =
    "apiVersion: v1\n"                                     // 1
    "kind: Pod\n"                                          // 2
    "metadata: {name: shop}\n"                             // 3
    "spec:\n"                                              // 4
    "  containers:\n"                                      // 5
    "    - name: cart\n"                                   // 6
    "      command: [\"cart\"]\n"                          // 7
    "      ports: [{name: grpc, containerPort: 9000}]\n";  // 8

const ContainerSpec& cart(const Manifests& m) { return m.pods.at(0).containers.at(0); }

std::string error_of(const std::string& yaml) { return testing::manifest_error(yaml, "shop.yaml"); }

TEST(ManifestGrpc, ProbesTakeAPortAndAService) {
  Manifests m = parse_manifests(base_pod + R"y(      readinessProbe:
        grpc: {port: 9000, service: cart.v1.Cart}
        periodSeconds: 2
      livenessProbe:
        grpc:
          port: 9001
      startupProbe:
        grpc: {port: 9000, service: ""}
)y",
                                "shop.yaml");
  const Probe& ready = *cart(m).readiness_probe;
  ASSERT_TRUE(ready.action.grpc);
  EXPECT_TRUE(ready.action.defined());
  EXPECT_FALSE(ready.action.http_get || ready.action.tcp_socket || ready.action.exec);
  EXPECT_EQ(ready.action.grpc->port, 9000);
  EXPECT_EQ(ready.action.grpc->service, "cart.v1.Cart");
  EXPECT_EQ(ready.period, std::chrono::milliseconds(2000));
  EXPECT_EQ(cart(m).liveness_probe->action.grpc->port, 9001);
  EXPECT_EQ(cart(m).liveness_probe->action.grpc->service, "");  // the server as a whole
  EXPECT_EQ(cart(m).startup_probe->action.grpc->service, "");
}

TEST(ManifestGrpc, ThePortIsANumberInRange) {
  auto probe = [](const std::string& grpc) {
    return error_of(base_pod + "      livenessProbe:\n        grpc: " + grpc + "\n");
  };
  EXPECT_EQ(probe("{port: grpc}"),
            "shop.yaml:10: spec.containers[0].livenessProbe.grpc.port: must be a number (grpc "
            "probes take no port names): \"grpc\"");
  EXPECT_EQ(probe("{port: 0}"),
            "shop.yaml:10: spec.containers[0].livenessProbe.grpc.port: 0 is out of range "
            "[1, 65535]");
  EXPECT_EQ(probe("{port: 65536}"),
            "shop.yaml:10: spec.containers[0].livenessProbe.grpc.port: 65536 is out of range "
            "[1, 65535]");
  EXPECT_EQ(probe("{port: -1}"),
            "shop.yaml:10: spec.containers[0].livenessProbe.grpc.port: -1 is out of range "
            "[1, 65535]");
  EXPECT_EQ(probe("{service: cart}"),
            "shop.yaml:10: spec.containers[0].livenessProbe.grpc.port: required (a number: grpc "
            "probes take no port names)");
  EXPECT_EQ(probe("9000"),
            "shop.yaml:10: spec.containers[0].livenessProbe.grpc: expected {port, service}");
}

TEST(ManifestGrpc, HandlersHaveNoGrpcAction) {
  // As in Kubernetes, lifecycle handlers are exec, httpGet, tcpSocket or sleep.
  EXPECT_EQ(
      error_of(base_pod + "      lifecycle:\n        preStop:\n          grpc: {port: 9000}\n"),
      "shop.yaml:11: spec.containers[0].lifecycle.preStop: one of exec, httpGet, tcpSocket "
      "or sleep is required");
}

}  // namespace
}  // namespace tender::pod
