// grpc probes against a real gRPC server (tests/grpc_health_server.py, on Debian's
// python3-grpcio): core's health client alone, then `tender pod run` with grpc readiness probes.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <optional>
#include <string>

#include "core/probe.hpp"
#include "pod_support.hpp"
#include "support.hpp"

namespace tender::testing {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr const char* kPython = "/usr/bin/python3";
const std::string server_script = std::string(TENDER_TESTS_DIR) + "/grpc_health_server.py";

// Why the tests cannot run here, or "" when python3 has its grpc module.
std::string missing_grpc() {
  RunResult r = run_command({kPython, "-c", "import grpc"});
  return r.status.success() ? ""
                            : "python3 cannot import grpc (Debian: apt-get install python3-grpcio)";
}

// Writes `status` for the server to answer, all at once (it reads the file at each call).
void set_status(const TempDir& dir, const std::string& status) {
  dir.write("status.new", status);
  std::rename((dir.path() + "/status.new").c_str(), (dir.path() + "/status").c_str());
}

ProbeVerdict check_once(const GrpcProbe& p) {
  asio::io_context ioc;
  std::optional<ProbeVerdict> out;
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { out = co_await check(p, std::chrono::seconds(5)); },
      asio::detached);
  ioc.run();
  return *out;
}

TEST(GrpcProbe, CoreClientAgainstARealGrpcServer) {
  if (auto why = missing_grpc(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  TempDir dir;
  set_status(dir, "SERVING");
  Tender server({server_script, "--port", "0", "--status-file", dir.path() + "/status", "--service",
                 "shop.v1.Cart"},
                {kPython, "-u"});
  const std::uint16_t port = server.port("listen");
  ProbeVerdict v = check_once(GrpcProbe{"127.0.0.1", port, ""});
  EXPECT_TRUE(v.passed) << v.message;
  EXPECT_EQ(v.message, "SERVING");
  v = check_once(GrpcProbe{"127.0.0.1", port, "shop.v1.Cart"});
  EXPECT_TRUE(v.passed) << v.message;

  set_status(dir, "NOT_SERVING");
  v = check_once(GrpcProbe{"127.0.0.1", port, "shop.v1.Cart"});
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "health status NOT_SERVING");
  set_status(dir, "SERVICE_UNKNOWN");
  EXPECT_EQ(check_once(GrpcProbe{"127.0.0.1", port, ""}).message, "health status SERVICE_UNKNOWN");

  v = check_once(GrpcProbe{"127.0.0.1", port, "shop.v1.Nope"});
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message, "grpc-status 5 (NOT_FOUND): unknown service");
  // Many calls in a row, each on a connection of its own, all answered.
  set_status(dir, "SERVING");
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(check_once(GrpcProbe{"127.0.0.1", port, ""}).passed) << i;
  }
}

TEST(GrpcProbe, AServerWithoutTheHealthServiceAnswersUnimplemented) {
  if (auto why = missing_grpc(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  TempDir dir;
  Tender server(
      {server_script, "--port", "0", "--status-file", dir.path() + "/status", "--no-health"},
      {kPython, "-u"});
  ProbeVerdict v = check_once(GrpcProbe{"127.0.0.1", server.port("listen"), ""});
  EXPECT_FALSE(v.passed);
  EXPECT_EQ(v.message.rfind("grpc-status 12 (UNIMPLEMENTED)", 0), 0u) << v.message;
}

TEST_F(PodTest, GrpcReadinessFollowsTheServersHealth) {
  if (auto why = missing_grpc(); !why.empty()) {
    GTEST_SKIP() << why;
  }
  set_status(dir_, "SERVING");
  const std::string port = std::to_string(free_port());
  // The server's own probe asks for the server as a whole; its neighbour's asks for a service
  // the server does not know, and never passes.
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: shop}
spec:
  containers:
    - name: server
      command: [")Y" +
      std::string(kPython) + R"Y(", ")Y" + server_script + R"Y(", "--port", ")Y" + port +
      R"Y(", "--status-file", ")Y" + d() + R"Y(/status"]
      readinessProbe:
        grpc: {port: )Y" +
      port + R"Y(}
        periodSeconds: 1
        failureThreshold: 1
    - name: client
      command: ["sleep", "1000"]
      readinessProbe:
        grpc: {port: )Y" +
      port + R"Y(, service: shop.v1.Unknown}
        periodSeconds: 1
)Y");
  auto readiness = [](const json::value& c) {
    return std::string(c.at("probes").at("readiness").at("message").as_string());
  };
  ASSERT_TRUE(wait_container("shop", "server", [&](const json::value& c) {
    return c.at("ready").as_bool() && readiness(c) == "SERVING";
  })) << json::serialize(container("shop", "server"));

  set_status(dir_, "NOT_SERVING");
  ASSERT_TRUE(wait_container("shop", "server", [&](const json::value& c) {
    return !c.at("ready").as_bool() && readiness(c) == "health status NOT_SERVING";
  })) << json::serialize(container("shop", "server"));
  EXPECT_FALSE(pod("shop").at("ready").as_bool());

  set_status(dir_, "SERVING");
  EXPECT_TRUE(wait_container("shop", "server", [](const json::value& c) {
    return c.at("ready").as_bool();
  })) << json::serialize(container("shop", "server"));

  EXPECT_TRUE(wait_container("shop", "client", [&](const json::value& c) {
    return readiness(c) == "grpc-status 5 (NOT_FOUND): unknown service";
  })) << json::serialize(container("shop", "client"));
  EXPECT_FALSE(container("shop", "client").at("ready").as_bool());
}

}  // namespace
}  // namespace tender::testing
