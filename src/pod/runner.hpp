#pragma once
// The pod runner: runs the pods of Kubernetes manifests as local process trees, with the
// lifecycle Kubernetes gives them (start order, probes, restarts with backoff, hooks, graceful
// termination) and a status API on the admin listener.
//
//   RunnerOptions opts;
//   opts.manifests = load_manifests({"web.yaml"});
//   PodRunner runner(std::move(opts));
//   return run_role("pod", runner, common);
//
// One supervisor thread owns every pod and container; admin handlers post to it.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/app.hpp"
#include "core/backoff.hpp"
#include "pod/manifest.hpp"

namespace tender::pod {

struct RunnerOptions {
  Manifests manifests;
  ManifestLimits limits;  // what the manifests were read with; max_pods also bounds scaling
  // Where container logs and emptyDir volumes live; created if missing. Empty: the default of
  // pod/run_dir.hpp ($TMPDIR/tender-pod-PORT, or a new directory for admin port 0).
  std::string run_dir;
  BackoffPolicy restart_backoff = BackoffPolicy::kubernetes_restart();
  std::uint64_t log_max_bytes = std::uint64_t{10} << 20;  // rotate a container log past this
  int log_keep = 3;                                       // rotated files kept
  bool log_view = true;                                   // prefixed lines on stdout
  // How often containers that declare prometheus.io/port are scraped for /metrics.
  std::chrono::milliseconds scrape_interval{15'000};
  // kPod: a network namespace per pod on a private bridge (needs root; without it the runner
  // warns and falls back to kHost). kHost: pods share this machine's network.
  enum class Network { kPod, kHost };
  Network network = Network::kPod;
  std::string pod_cidr = "10.217.0.0/16";     // where pod addresses come from (kPod)
  std::string service_cidr = "10.96.0.0/12";  // where Services' virtual IPs come from (kPod)
  // kHost: a container with a command runs it as a process of this machine, one without runs
  // its image. kOci: every container runs its image.
  enum class Runtime { kHost, kOci };
  Runtime runtime = Runtime::kHost;
  // What outlives a run: images/ (the image store). Created when first needed.
  std::string state_dir = "/var/lib/tender";
};

class PodRunner final : public Role {
 public:
  explicit PodRunner(RunnerOptions options);
  ~PodRunner() override;

  void start(Runtime& runtime) override;
  void drain() override;
  [[nodiscard]] bool drained() const override;
  void stop() override;
  [[nodiscard]] boost::json::object status() const override;
  [[nodiscard]] boost::json::object config() const override;
  [[nodiscard]] Health ready() const override;
  void add_admin_routes(Router& router) override;
  [[nodiscard]] std::span<const UiAsset> ui_assets() const override;

 private:
  void add_container_routes(Router& router);
  void add_workload_routes(Router& router);
  void add_fault_routes(Router& router);
  void add_network_fault_routes(Router& router);
  void add_delay_route(Router& router);
  // runner_ui.cpp: a container's log tail, and the proxy to a container's admin listener.
  void add_web_routes(Router& router);
  void add_log_route(Router& router);
  void add_admin_proxy_route(Router& router);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tender::pod
