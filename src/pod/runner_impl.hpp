#pragma once
// The pod runner's insides, shared by runner.cpp (lifecycle), runner_api.cpp (admin routes) and
// runner_faults.cpp (kill, pause, partitions, delay). Not a public header.

#include <atomic>
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/asio_util.hpp"
#include "core/error.hpp"
#include "core/http_client.hpp"
#include "core/metrics.hpp"
#include "core/probe.hpp"
#include "core/process.hpp"
#include "pod/forward.hpp"
#include "pod/image_store.hpp"
#include "pod/log_file.hpp"
#include "pod/network.hpp"
#include "pod/run_dir.hpp"
#include "pod/runner.hpp"
#include "pod/services.hpp"
#include "pod/start_queue.hpp"
#include "pod/status.hpp"

namespace tender::pod {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The web view's panel (src/pod/ui), embedded by tender_embed_assets.
std::span<const UiAsset> ui_assets();

inline Container* find_container(Pod& pod, std::string_view name) {
  for (auto* list : {&pod.init, &pod.main}) {
    for (auto& c : *list) {
      if (c->spec.name == name) {
        return c.get();
      }
    }
  }
  return nullptr;
}

// A Job of the run and how far it has got (runner_jobs.cpp).
struct JobState {
  JobSpec spec;
  enum class Phase { kRunning, kComplete, kFailed, kSuspended } phase = Phase::kRunning;
  std::string reason;  // kFailed: BackoffLimitExceeded or DeadlineExceeded
  int made = 0;        // pods made so far: the next one's index
  SteadyClock::time_point started;
  struct Counts {
    int active = 0;     // not finished
    int succeeded = 0;  // finished, Succeeded
    int failed = 0;     // finished otherwise
    int restarts = 0;   // of their containers
  } counts;             // when the Job last looked
};

struct PodRunner::Impl {
  explicit Impl(RunnerOptions o) : opts(std::move(o)), client(ioc.get_executor()) {}

  RunnerOptions opts;
  Runtime* rt = nullptr;
  StartQueue starts;  // before ioc: coroutines waiting in it go first
  asio::io_context ioc{1};
  HttpClient client;
  std::thread thread;
  std::list<std::unique_ptr<Pod>> pods;               // supervisor thread only
  std::map<std::string, DeploymentSpec> deployments;  // supervisor thread only
  std::atomic<bool> draining{false};
  std::atomic<int> unfinished{0};  // pods whose processes are not all gone
  // The manifests' own pods start their containers once every one of them has its address and
  // its line in the hosts file, so that a container may resolve any pod of the run at once.
  bool first_pods_added = false;  // supervisor thread only
  int first_pods_unattached = 0;  // supervisor thread only
  std::atomic<bool> all_ready{false};
  std::mutex ready_mu;
  std::string not_ready_reason = "starting";
  std::string api_url;      // the admin API, on this machine
  std::string pod_api_url;  // the same, as pods on the pod network reach it
  LogView view;

  std::mutex scraped_mu;
  std::vector<ExternalFamily> scraped;  // the last scrape of every container, merged
  asio::awaitable<void> scrape_loop();

  CounterFamily* restarts = nullptr;
  CounterFamily* probe_failures = nullptr;
  GaugeFamily* containers_by_state = nullptr;
  GaugeFamily* pods_by_phase = nullptr;

  // --- lifecycle -------------------------------------------------------------------------
  // The manifests' pods, one per turn of the loop, until all are added or the runner drains.
  asio::awaitable<void> add_pods();
  // Holds a pod of the manifests until all of them are attached to the network (see above).
  asio::awaitable<void> await_first_pods(Pod& pod);
  // Adds the StatefulSet's replicas in order, each once the one before is ready (OrderedReady).
  asio::awaitable<void> run_stateful_set(const StatefulSetSpec& set);
  void add_pod(PodSpec spec);
  asio::awaitable<void> run_pod(Pod& pod);
  // run_pod's steps: its turn, directories and network; its init containers.
  asio::awaitable<void> prepare_pod(Pod& pod);
  asio::awaitable<void> run_init_containers(Pod& pod);
  asio::awaitable<void> container_loop(Pod& pod, Container& c);
  asio::awaitable<ExitStatus> run_to_exit(Pod& pod, Container& c);
  asio::awaitable<void> wait_exit(Container& c);
  asio::awaitable<void> probe_loop(Pod& pod, Container& c, int generation);
  asio::awaitable<void> periodic_probe(Pod& pod, Container& c, int generation, bool liveness);
  asio::awaitable<ProbeVerdict> run_action(const Pod& pod, const Container& c, const Action& a,
                                           milliseconds timeout);
  asio::awaitable<void> terminate_container(Pod& pod, Container& c, bool run_pre_stop);
  // preStop, SIGTERM to the container's process group, SIGKILL when the grace period ends;
  // returns once the process has exited. Unless `for_good`, the container loop restarts it.
  asio::awaitable<void> kill_container(Pod& pod, Container& c, bool for_good,
                                       bool run_pre_stop = true);
  asio::awaitable<void> terminate_pod(Pod& pod);
  asio::awaitable<void> pump(Pod& pod, Container& c, int fd);
  void begin_termination(Pod& pod);
  bool spawn(Pod& pod, Container& c);
  void record_exit(Pod& pod, Container& c, const ExitStatus& st);
  // The summary (readiness, state gauges) has changed; it is worked out again at most every
  // 20 ms, since doing so walks every pod.
  void update_summary();
  void compute_summary();
  asio::steady_timer summary_timer{ioc};
  bool summary_pending = false;
  SteadyClock::time_point summary_at;  // when it was last worked out
  // A process environment being built: "NAME=value" entries in order, a later NAME replacing
  // an earlier one in place, since getenv() would take the first of two.
  class EnvEntries {
   public:
    void set(const std::string& name, const std::string& value);
    [[nodiscard]] std::vector<std::string> take() && { return std::move(entries_); }

   private:
    std::vector<std::string> entries_;
    std::unordered_map<std::string, std::size_t> at_;
  };
  // The runner's own environment, less its TENDER_ variables and HOSTNAME.
  [[nodiscard]] static EnvEntries runner_environ();
  // `base` (runner_environ(), or an image's), then the pod's variables, the Services'
  // (`services`) and `resolved`, c's env: the manifest's definitions win.
  std::vector<std::string> container_env(
      const Pod& pod, const std::vector<std::pair<std::string, std::string>>& services,
      const std::vector<std::pair<std::string, std::string>>& resolved, EnvEntries base) const;
  // Volume bind mounts (and hiding other pods' files) for a process of container `c`, and its
  // securityContext: the container's main process, or (`in_container`) a probe or hook that
  // joins its PID namespace. An error says why it cannot run as asked.
  [[nodiscard]] Result<> isolate(const Pod& pod, const Container& c, SpawnOptions& o,
                                 bool in_container) const;
  // The directory of a PersistentVolumeClaim under opts.state_dir, made if missing.
  [[nodiscard]] Result<std::string> claim_dir(const std::string& namespace_,
                                              const std::string& claim) const;
  // The user, capabilities and read-only mounts of c's securityContext (as root).
  [[nodiscard]] Result<> secure(const Container& c, SpawnOptions& o) const;
  // Marks a start that failed before any process ran: terminated with `reason`, logged.
  void fail_start(Pod& pod, Container& c, std::string reason, std::string message);

  // --- image containers (runner_images.cpp) ------------------------------------------------
  std::unique_ptr<ImageStore> images;  // under opts.state_dir, made by start()
  // No command, or --runtime oci.
  [[nodiscard]] bool runs_image(const ContainerSpec& s) const;
  // Pulls (as imagePullPolicy says), unpacks and locks c's image into c.image, unless it is
  // there or c runs no image; false (after fail_start) if it cannot.
  asio::awaitable<bool> ensure_image(Pod& pod, Container& c);
  // A process of an image container: the image's environment under the manifest's, its
  // working directory, its user (or runAsUser) as the image's passwd and group name them.
  [[nodiscard]] Result<> image_process(
      const Pod& pod, const Container& c, SpawnOptions& o,
      const std::vector<std::pair<std::string, std::string>>& services,
      const std::vector<std::pair<std::string, std::string>>& resolved) const;
  // The container's main process: image_process(), its argv from the image and the manifest,
  // and a fresh overlay root on the image's layers.
  [[nodiscard]] Result<> image_root(
      const Pod& pod, const Container& c, SpawnOptions& o,
      const std::vector<std::pair<std::string, std::string>>& services,
      const std::vector<std::pair<std::string, std::string>>& resolved) const;
  bool privileged = ::geteuid() == 0;
  NodeInfo node;         // this machine, for fieldRef and resourceFieldRef (set by start())
  std::string self_exe;  // the runner's own binary: containers running it may be tender roles
  // Room for one more start without taking the descriptors the admin API and the containers'
  // logs and probes need; an error (too_many_files_open) says so when there is none. Counts
  // open descriptors only now and then: between counts it spends an estimate.
  [[nodiscard]] Result<> fd_room();
  std::uint64_t starts_before_fd_count = 0;

  // --- the pod network (null: pods share this machine's network) ---------------------------
  std::unique_ptr<PodNetwork> net;
  std::shared_ptr<TcpForward> api_forward;  // the admin API, for pods, at the gateway
  int admin_proxies = 0;  // exchanges in flight through .../containers/C/admin/ (at most 32)
  RunDir run_dir;         // opts.run_dir, locked while we run
  void forward_api();
  void setup_network();  // start(): the run namespace, or the fallback
  // A pod's namespace, address and hostPorts; false (and pod.network_error) if it cannot be
  // attached.
  bool attach_network(Pod& pod);
  void detach_network(Pod& pod);

  // --- Services (runner_services.cpp) --------------------------------------------------------
  std::vector<ServiceState> services;  // supervisor thread only, once start() has posted
  std::optional<Cidr> service_cidr;    // set when the pod network routes them
  std::vector<std::shared_ptr<TcpForward>> service_forwards;  // nodePorts, LoadBalancers
  bool applying_services = false;
  bool services_dirty = false;
  std::string services_applied;  // the last ruleset nft took
  std::string services_error;    // why the last one was not taken, or ""
  // start(): the Services' virtual IPs and their route (needs the pod network).
  void setup_services();
  // On the supervisor thread: 127.0.0.1 forwards for nodePorts and LoadBalancer ports.
  void forward_services();
  // Works out the endpoints again (update_summary() calls it) and, when they changed, rewrites
  // the hosts file and applies the ruleset.
  void update_services();
  asio::awaitable<void> apply_services();
  // What a container's environment gets from the Services (enableServiceLinks).
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> service_vars(const Pod& pod) const;
  [[nodiscard]] boost::json::array services_json() const;

  // --- Jobs (runner_jobs.cpp) -----------------------------------------------------------------
  std::map<std::string, JobState> jobs;  // supervisor thread only
  bool ending_after_jobs = false;
  [[nodiscard]] JobState::Counts count_job_pods(const std::string& job) const;
  // Makes the Job's pods until it completes or fails, then end_run_after_jobs().
  asio::awaitable<void> run_job(JobState& job);
  // Once every Job has ended in a run that does not serve (no Deployment, no pod restarting
  // Always), and every other pod has finished: shuts the runner down, exit code 0 if every Job
  // completed, else 1.
  asio::awaitable<void> end_run_after_jobs();
  [[nodiscard]] boost::json::array jobs_json() const;

  // Applies an nft script in the run namespace, through the file `name` of the run directory
  // (removed after). Errors: no_such_file_or_directory when nft is not installed, else "nft
  // failed: " and what it said (or why it did not finish), or "cannot write PATH".
  asio::awaitable<Result<>> run_nft(const std::string& script, const std::string& name);

  // --- faults (runner_faults.cpp) ------------------------------------------------------------
  Response signal_pod(Pod& pod, const std::string& container, int sig);
  Response pause_pod(Pod& pod, bool pause);
  asio::awaitable<Response> partition(std::vector<std::vector<std::string>> groups);
  asio::awaitable<Response> heal(std::vector<std::string> pods);
  // Applies `change` to the partitions in force, one apply at a time; they change only if nft
  // took the result.
  asio::awaitable<Response> apply_partitions(std::function<void(Partitions&)> change);
  bool applying_partitions = false;
  std::uint64_t partition_files = 0;
  asio::awaitable<Response> set_delay(Pod& pod, int ms, int jitter_ms, double loss_percent);
  boost::json::object partitions_json() const;
  Pod* find_pod(std::string_view name);
  void scale(const std::string& deployment, int replicas);
};

}  // namespace tender::pod
