#pragma once
// A real etcd (3.4, Debian's etcd-server) for tests: one member or a cluster of three, on free
// loopback ports, with data in a temporary directory; members can be killed (SIGKILL), paused
// (SIGSTOP/SIGCONT) and restarted. Everything is stopped and removed by the destructors.
// Header-only, so that unit tests (election_test), the integration tests of `tender elect` and
// benchmarks can all use it without linking tests/support.cpp.
//
//   tender::testing::EtcdCluster etcd(3);                   // started, every member healthy
//   std::string url = "etcd://" + etcd.endpoints();         // 127.0.0.1:P1,127.0.0.1:P2,...
//   etcd.member(0).kill();                                   // SIGKILL
//   etcd.member(1).pause(); ... etcd.member(1).resume();    // SIGSTOP / SIGCONT
//   etcd.member(0).restart();                                // same ports and data
//
//   tender::testing::EtcdCluster later(1, /*start=*/false); // ports chosen, nothing running
//   later.start();
//
// Throws std::runtime_error when etcd cannot be started or does not become healthy.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/http_client.hpp"
#include "core/process.hpp"
#include "free_port.hpp"

namespace tender::testing {

namespace etcd_detail {

inline std::string make_temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "tender-etcd-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("cannot make a temporary directory for etcd");
  }
  return pattern;
}

}  // namespace etcd_detail

// One member of an etcd cluster.
class EtcdMember {
 public:
  EtcdMember(std::string name, std::string dir)
      : name_(std::move(name)),
        dir_(std::move(dir)),
        client_port_(free_port()),
        peer_port_(free_port()) {}

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::uint16_t client_port() const { return client_port_; }
  [[nodiscard]] std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }
  [[nodiscard]] std::string peer_url() const {
    return "http://127.0.0.1:" + std::to_string(peer_port_);
  }
  [[nodiscard]] bool running() const { return process_.has_value(); }
  [[nodiscard]] std::string log_path() const { return dir_ + "/" + name_ + ".log"; }

  // Starts the member (its data dir is kept across restarts). `initial_cluster` lists every
  // member as name=peer_url; ignored by etcd once the data dir exists.
  void start(const std::string& initial_cluster, const std::string& token) {
    initial_cluster_ = initial_cluster;
    token_ = token;
    SpawnOptions o;
    std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
    o.argv = {"etcd",
              "--name",
              name_,
              "--data-dir",
              dir_ + "/" + name_ + ".etcd",
              "--listen-client-urls",
              client,
              "--advertise-client-urls",
              client,
              "--listen-peer-urls",
              peer_url(),
              "--initial-advertise-peer-urls",
              peer_url(),
              "--initial-cluster",
              initial_cluster,
              "--initial-cluster-token",
              token,
              "--initial-cluster-state",
              "new",
              "--heartbeat-interval",
              "50",
              "--election-timeout",
              "500",
              "--log-level",
              "warn"};
    o.stdout_ = Stdio::file(log_path());
    o.stderr_ = Stdio::file(log_path());
    auto p = Process::spawn(o);
    if (!p) {
      throw std::runtime_error("cannot start etcd: " + p.error().message());
    }
    process_.emplace(std::move(*p));
    paused_ = false;
  }

  // Answers GET /health with {"health":"true"} (it is running and its cluster has a leader).
  [[nodiscard]] bool healthy() const {
    if (!process_ || paused_) {
      return false;
    }
    auto r = fetch("http://" + endpoint() + "/health", "GET", "", std::chrono::milliseconds(500));
    return r && r->status == 200 && r->body.find("\"true\"") != std::string::npos;
  }

  // SIGKILL, and reaped.
  void kill() {
    if (process_) {
      (void)process_->kill(SIGKILL);
      process_->wait();
      process_.reset();
    }
    paused_ = false;
  }
  void pause() {
    if (process_) {
      (void)process_->kill(SIGSTOP);
      paused_ = true;
    }
  }
  void resume() {
    if (process_) {
      (void)process_->kill(SIGCONT);
      paused_ = false;
    }
  }
  // Kills it if it runs, and starts it again on the same ports and data.
  void restart() {
    kill();
    start(initial_cluster_, token_);
  }

 private:
  std::string name_;
  std::string dir_;
  std::uint16_t client_port_;
  std::uint16_t peer_port_;
  std::string initial_cluster_;
  std::string token_;
  std::optional<Process> process_;  // its destructor kills with SIGKILL (paused or not)
  bool paused_ = false;
};

// An etcd cluster of `size` members on loopback, in a temporary directory.
class EtcdCluster {
 public:
  explicit EtcdCluster(int size = 1, bool start_now = true) : dir_(etcd_detail::make_temp_dir()) {
    for (int i = 0; i < size; ++i) {
      members_.emplace_back("m" + std::to_string(i), dir_);
    }
    if (start_now) {
      start();
    }
  }
  ~EtcdCluster() {
    members_.clear();  // kills every member
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // Starts every member that is not running and waits until all are healthy.
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::string initial;
    for (const auto& m : members_) {
      initial += (initial.empty() ? "" : ",") + m.name() + "=" + m.peer_url();
    }
    std::string token =
        "tender-test-" + std::to_string(::getpid()) + "-" + dir_.substr(dir_.size() - 6);
    for (auto& m : members_) {
      if (!m.running()) {
        m.start(initial, token);
      }
    }
    wait_healthy(timeout);
  }

  // Waits until every running member answers /health with true.
  void wait_healthy(std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (const auto& m : members_) {
      if (!m.running()) {
        continue;
      }
      while (!m.healthy()) {
        if (std::chrono::steady_clock::now() > deadline) {
          throw std::runtime_error("etcd member " + m.name() + " is not healthy; see " +
                                   m.log_path());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }

  [[nodiscard]] EtcdMember& member(std::size_t i) { return members_.at(i); }
  [[nodiscard]] std::size_t size() const { return members_.size(); }
  // "127.0.0.1:P1,127.0.0.1:P2,...": what follows etcd:// in a backend URL.
  [[nodiscard]] std::string endpoints() const {
    std::string out;
    for (const auto& m : members_) {
      out += (out.empty() ? "" : ",") + m.endpoint();
    }
    return out;
  }
  [[nodiscard]] std::string url(const std::string& prefix = "") const {
    return "etcd://" + endpoints() + prefix;
  }

 private:
  std::string dir_;
  std::vector<EtcdMember> members_;
};

}  // namespace tender::testing
