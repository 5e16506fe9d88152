#pragma once
// The runner's model of pods and containers, and its JSON form for /v1/pods and
// `tender pod status`. Owned and changed by the supervisor thread only; no Asio here.

#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/backoff.hpp"
#include "core/clock.hpp"
#include "core/fd.hpp"
#include "core/host_port.hpp"
#include "core/probe_tracker.hpp"
#include "core/process.hpp"
#include "pod/log_file.hpp"
#include "pod/manifest.hpp"

namespace tender::pod {

class TcpForward;
struct PreparedImage;

struct Container {
  Container(const ContainerSpec& s, bool is_init, const BackoffPolicy& policy)
      : spec(s),
        init(is_init),
        liveness(tracker(s.liveness_probe, ProbeTracker::kStartPassing)),
        readiness(tracker(s.readiness_probe, ProbeTracker::kStartFailing)),
        startup(tracker(s.startup_probe, ProbeTracker::kStartFailing)),
        backoff(policy, system_clock()) {}

  enum class State { kWaiting, kRunning, kTerminated };

  ContainerSpec spec;
  bool init = false;
  State state = State::kWaiting;
  std::string reason = "PodInitializing";  // waiting or terminated reason
  std::string message;
  std::optional<Process> process;
  pid_t pgid = -1;     // of the latest process, kept after exit to clean up leftovers
  int generation = 0;  // one per start; probe loops of older starts end
  int restarts = 0;
  std::optional<ExitStatus> last_exit;
  std::chrono::system_clock::time_point started_at;
  std::chrono::system_clock::time_point finished_at;
  bool started = false;  // startup probe passed, or none
  bool ready = false;
  bool stopping = false;     // terminating for good
  bool done = false;         // its loop has ended: it will not run again
  bool restart_now = false;  // POST .../restart asked for it
  // Reset at every start, as Kubernetes starts a container's probes afresh.
  ProbeTracker liveness;   // starts passing: alive until failure_threshold failures
  ProbeTracker readiness;  // starts failing: not ready until success_threshold successes
  ProbeTracker startup;    // starts failing: started at the first success
  Backoff backoff;
  LogFile log;
  // Its admin listener, when its command runs a tender role (admin_target.hpp); set at start.
  std::optional<HostPort> admin;
  // The image it runs on (its layers locked while it is held), once made ready; kept across
  // restarts, released when the pod finishes.
  std::shared_ptr<const PreparedImage> image;
  std::string image_id;  // its manifest's digest, for the status

  [[nodiscard]] const char* state_name() const;
  [[nodiscard]] boost::json::object to_json() const;

 private:
  static ProbeTracker tracker(const std::optional<Probe>& probe, ProbeTracker::Start start) {
    return probe ? ProbeTracker(start, probe->success_threshold, probe->failure_threshold)
                 : ProbeTracker(start, 1, 3);
  }
};

struct Pod {
  enum class Phase { kPending, kRunning, kSucceeded, kFailed };

  PodSpec spec;
  std::string dir;  // logs/ and volumes/
  std::string ip = "127.0.0.1";
  Fd netns;                                           // its network namespace, if it has one
  std::string link;                                   // its veth on the bridge
  std::vector<std::shared_ptr<TcpForward>> forwards;  // hostPort listeners
  bool paused = false;                                // SIGSTOPped by `tender pod pause`
  std::string delay;                                  // the netem setting, "" for none
  std::string network_error;                          // why it has no network
  // Generated volumes (configMap, secret, ...) that could not be written: name -> why. Its
  // containers that mount one fail to start with that message.
  std::map<std::string, std::string> volume_errors;
  bool first = false;  // one of the manifests' own pods
  Phase phase = Phase::kPending;
  std::vector<std::unique_ptr<Container>> init;
  std::vector<std::unique_ptr<Container>> main;
  bool terminating = false;
  bool finished = false;  // every process gone, volumes removed
  bool deleted = false;   // no longer listed (scaled away and finished, or replaced)
  bool deleted_when_finished = false;
  std::chrono::steady_clock::time_point deadline;
  std::chrono::system_clock::time_point created;
  // Set while its supervision waits for a change: a main container done for good, or the pod
  // told to stop. Call it after making one.
  std::function<void()> wake;

  [[nodiscard]] boost::json::object to_json() const;
};

[[nodiscard]] const char* phase_name(Pod::Phase p);
// Kubernetes' Ready condition: running, and every main container and sidecar ready.
[[nodiscard]] bool pod_ready(const Pod& pod);

// One line per pod and container, for `tender pod status` (from the /v1/pods JSON).
[[nodiscard]] std::string status_table(const boost::json::value& pods);
// One line per Service (from the /v1/services JSON): type, clusterIP, ports
// (PORT[:NODEPORT]/PROTOCOL), and how many endpoints its traffic goes to.
[[nodiscard]] std::string services_table(const boost::json::value& services);

}  // namespace tender::pod
