// The fixture of the `tender pod run` tests (pod_test.cpp, pod_logs_test.cpp): a runner of a
// manifest on the host network, its pods' and containers' JSON.
#pragma once

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <boost/json.hpp>

#include <csignal>
#include <functional>
#include <optional>

#include "support.hpp"

namespace tender::testing {

inline bool pid_alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

class PodTest : public ::testing::Test {
 public:
  // Runs `manifest` (YAML text) with a fast restart backoff and no terminal view.
  void run(const std::string& manifest, std::vector<std::string> extra = {}) {
    std::string file = dir_.write("pod.yaml", manifest);
    std::vector<std::string> args = {"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view",
                                     "--run-dir", dir_.path() + "/run", "--restart-backoff",
                                     "100ms:400ms",
                                     // These tests reach containers on 127.0.0.1;
                                     // network_test.cpp covers the pod network.
                                     "--network", "host"};
    args.insert(args.end(), extra.begin(), extra.end());
    runner_.emplace(args);
  }
  [[nodiscard]] std::uint16_t admin_port() const { return runner_->port("admin"); }

 protected:
  boost::json::value pod(const std::string& name) {
    auto r = http(runner_->port("admin"), "GET", "/v1/pods/" + name);
    if (r.status != 200) {
      return nullptr;
    }
    return boost::json::parse(r.body);
  }
  boost::json::value container(const std::string& pod_name, const std::string& c) {
    boost::json::value p = pod(pod_name);
    if (p.is_null()) {
      return nullptr;
    }
    for (const char* key : {"initContainers", "containers"}) {
      for (const auto& cv : p.at(key).as_array()) {
        if (cv.at("name").as_string() == c) {
          return cv;
        }
      }
    }
    return nullptr;
  }
  // Polls until `pred` holds for the container's JSON.
  bool wait_container(const std::string& p, const std::string& c,
                      const std::function<bool(const boost::json::value&)>& pred,
                      std::chrono::milliseconds timeout = 20s) {
    return eventually(
        [&] {
          boost::json::value v = container(p, c);
          return !v.is_null() && pred(v);
        },
        timeout);
  }
  std::string d() const { return dir_.path(); }

  TempDir dir_;
  std::optional<Tender> runner_;
};

}  // namespace tender::testing
