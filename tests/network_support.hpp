// The fixture of the pod network tests (network_test.cpp, service_test.cpp): a runner (as
// root) of a manifest on the pod network, echo servers to reach, and ways in: `tender pod exec`,
// curl from inside a pod.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "support.hpp"

namespace tender::testing {

// An echo server answering on 0.0.0.0:8080 of its pod, with its pod's name as id.
inline std::string echo_pod(const std::string& name, const std::string& extra_ports = "") {
  return R"Y(
apiVersion: v1
kind: Pod
metadata: {name: )Y" +
         name + R"Y(}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: web
      command: ["tender", "echo", "--listen", "0.0.0.0:8080", "--admin", "127.0.0.1:9901",
                "--id", "$(POD_NAME)"]
      env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
      ports:
        - containerPort: 8080)Y" +
         extra_ports + R"Y(
      readinessProbe:
        httpGet: {path: /, port: 8080}
        periodSeconds: 1
---
)Y";
}

// Deployment "web": 2 replicas of an echo server on 0.0.0.0:8080 (port "http") with their pod's
// name as id, ready once it answers (or as `readiness`, the probe's action); `extra` is appended
// to the container (indented for it).
inline std::string web_deployment(int grace_seconds, const std::string& extra,
                                  const std::string& readiness = "httpGet: {path: /, port: 8080}") {
  return R"Y(
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: )Y" +
         std::to_string(grace_seconds) + R"Y(
      containers:
        - name: web
          command: ["tender", "echo", "--listen", "0.0.0.0:8080", "--admin", "127.0.0.1:9901",
                    "--id", "$(POD_NAME)"]
          env:
            - name: POD_NAME
              valueFrom: {fieldRef: {fieldPath: metadata.name}}
          ports: [{name: http, containerPort: 8080}]
          readinessProbe:
            )Y" +
         readiness + R"Y(
            periodSeconds: 1)Y" +
         extra + "\n---\n";
}

class NetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "the pod network needs root";
    }
    // `tender` (and the echo binary in the pods) from the build, as PATH finds it.
    std::string bin = std::filesystem::path(TENDER_BINARY).parent_path().string();
    ::setenv("PATH", (bin + ":" + std::getenv("PATH")).c_str(), 1);
  }

  void run(const std::string& manifest, std::vector<std::string> extra = {}) {
    std::string file = dir_.write("pods.yaml", manifest);
    std::vector<std::string> args = {"pod",
                                     "run",
                                     file,
                                     "--admin",
                                     "127.0.0.1:0",
                                     "--no-log-view",
                                     "--run-dir",
                                     dir_.path() + "/run",
                                     "--restart-backoff",
                                     "100ms:1s"};
    args.insert(args.end(), extra.begin(), extra.end());
    runner_.emplace(args);
  }
  std::string admin() const { return "127.0.0.1:" + std::to_string(runner_->port("admin")); }
  boost::json::value pod(const std::string& name) {
    auto r = http(runner_->port("admin"), "GET", "/v1/pods/" + name);
    return r.status == 200 ? boost::json::parse(r.body) : boost::json::value(nullptr);
  }
  bool ready(const std::string& name) {
    boost::json::value p = pod(name);
    return !p.is_null() && p.at("ready").as_bool();
  }
  void wait_ready(const std::vector<std::string>& names) {
    for (const auto& n : names) {
      ASSERT_TRUE(eventually([&] { return ready(n); }, 30s))
          << n << ": " << boost::json::serialize(pod(n));
    }
  }
  std::string ip(const std::string& name) { return std::string(pod(name).at("podIP").as_string()); }
  // `tender pod exec POD -- ARGV...`.
  RunResult exec(const std::string& pod_name, std::vector<std::string> argv,
                 const std::string& container = "") {
    std::vector<std::string> args = {"pod", "exec", pod_name, "--admin", admin()};
    if (!container.empty()) {
      args.insert(args.end(), {"-c", container});
    }
    args.emplace_back("--");
    args.insert(args.end(), argv.begin(), argv.end());
    return run_tender(args, 30s);
  }
  // curl from inside a pod; the exit code is curl's (0 ok, 7 refused, 28 timed out).
  RunResult curl(const std::string& from, const std::string& url,
                 const std::string& container = "") {
    return exec(from, {"curl", "-sS", "--max-time", "2", url}, container);
  }
  RunResult cli(std::vector<std::string> args) {
    args.insert(args.end(), {"--admin", admin()});
    return run_tender(args, 30s);
  }

  TempDir dir_;
  std::optional<Tender> runner_;
};

}  // namespace tender::testing
