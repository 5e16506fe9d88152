#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <thread>

#include "core/cli.hpp"
#include "core/http_client.hpp"
#include "pod/api_client.hpp"
#include "pod/network.hpp"
#include "pod/pod.hpp"
#include "pod/runner.hpp"
#include "pod/status.hpp"

namespace tender::pod {
namespace {

namespace json = boost::json;

// --max-manifest-bytes, --max-pods, --max-containers, --max-env: for `run` and `validate`.
struct LimitFlags {
  std::string max_manifest_bytes;
  int max_pods = 0;
  int max_containers = 0;
  int max_env = 0;

  void add_to(CLI::App& cmd) {
    const ManifestLimits defaults;
    cmd.add_option(
        "--max-manifest-bytes", max_manifest_bytes,
        "Largest manifest file read (default " + format_bytes(defaults.max_file_bytes) + ")");
    cmd.add_option("--max-pods", max_pods,
                   "Most pods in the run, counting replicas (default " +
                       std::to_string(defaults.max_pods) + ")")
        ->check(CLI::PositiveNumber);
    cmd.add_option("--max-containers", max_containers,
                   "Most containers in a pod, init containers included (default " +
                       std::to_string(defaults.max_containers) + ")")
        ->check(CLI::PositiveNumber);
    cmd.add_option(
           "--max-env", max_env,
           "Most env entries in a container (default " + std::to_string(defaults.max_env) + ")")
        ->check(CLI::PositiveNumber);
  }
  [[nodiscard]] ManifestLimits limits() const {
    ManifestLimits l;
    if (!max_manifest_bytes.empty()) {
      l.max_file_bytes = flag_bytes("max-manifest-bytes", max_manifest_bytes);
    }
    l.max_pods = max_pods > 0 ? max_pods : l.max_pods;
    l.max_containers = max_containers > 0 ? max_containers : l.max_containers;
    l.max_env = max_env > 0 ? max_env : l.max_env;
    return l;
  }
};

struct RunFlags {
  std::vector<std::string> files;
  LimitFlags limits;
  std::string run_dir;
  std::string restart_backoff;  // INITIAL:MAX, e.g. 10s:300s
  bool no_log_view = false;
  std::string log_max;
  int log_keep = -1;
  std::string scrape_interval;
  std::string network = "pod";
  std::string pod_cidr;
};

int run(const CommonFlags& common, const RunFlags& f) {
  ConfigNode file = common.load_config();
  file.warn_unknown({"admin", "admin_allow_hosts", "grace", "log_level", "log_format"});
  CommonOptions opts = resolve_common(common, file, kPodAdminPort);
  RunnerOptions ro;
  ro.limits = f.limits.limits();
  ro.manifests = load_manifests(f.files, ro.limits);
  if (common.grace.empty() && !file.has("grace")) {
    // Long enough for every pod's own terminationGracePeriodSeconds.
    std::chrono::milliseconds longest{0};
    for (const auto& p : ro.manifests.pods) {
      longest = std::max(longest, p.termination_grace);
    }
    for (const auto& d : ro.manifests.deployments) {
      longest = std::max(longest, d.template_.termination_grace);
    }
    opts.grace = longest + std::chrono::seconds(5);
  }
  ro.run_dir = f.run_dir;
  if (!f.restart_backoff.empty()) {
    auto colon = f.restart_backoff.find(':');
    auto initial = parse_duration(f.restart_backoff.substr(0, colon));
    auto max =
        colon == std::string::npos ? initial : parse_duration(f.restart_backoff.substr(colon + 1));
    if (!initial || !max || *max < *initial) {
      throw UsageError("--restart-backoff: expected INITIAL:MAX like 10s:300s or 0s:0s, not \"" +
                       f.restart_backoff + "\"");
    }
    if (initial->count() == 0) {
      // Backoff disabled: restart at once (for development and benchmarks).
      ro.restart_backoff.initial = std::chrono::nanoseconds(1);
      ro.restart_backoff.max = std::chrono::nanoseconds(1);
    } else {
      ro.restart_backoff.initial = *initial;
      ro.restart_backoff.max = *max;
    }
  }
  ro.log_view = !f.no_log_view;
  if (!f.log_max.empty()) {
    ro.log_max_bytes = flag_bytes("log-max-bytes", f.log_max);
  }
  if (f.log_keep >= 0) {
    ro.log_keep = f.log_keep;
  }
  if (!f.scrape_interval.empty()) {
    ro.scrape_interval = flag_duration("scrape-interval", f.scrape_interval);
    if (ro.scrape_interval.count() < 100) {
      throw UsageError("--scrape-interval: at least 100ms");
    }
  }
  if (f.network == "host") {
    ro.network = RunnerOptions::Network::kHost;
  } else if (f.network != "pod") {
    throw UsageError("--network: expected pod or host, not \"" + f.network + "\"");
  }
  if (!f.pod_cidr.empty()) {
    if (!Cidr::parse(f.pod_cidr)) {
      throw UsageError(
          "--pod-cidr: expected an IPv4 network from /8 to /24 like 10.217.0.0/16, "
          "not \"" +
          f.pod_cidr + "\"");
    }
    ro.pod_cidr = f.pod_cidr;
  }
  PodRunner runner(std::move(ro));
  return run_role("pod", runner, opts);
}

int status(const std::string& admin, bool as_json, bool watch) {
  std::string base = admin_url(admin);
  for (;;) {
    json::value v = get_json(base, "/v1/pods");
    if (as_json) {
      std::printf("%s\n", json::serialize(v).c_str());
    } else {
      if (watch) {
        std::printf("\033[H\033[2J");
      }
      std::fputs(status_table(v).c_str(), stdout);
    }
    std::fflush(stdout);
    if (!watch) {
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int logs(const std::string& admin, const std::string& pod_name, std::string container,
         bool follow) {
  std::string base = admin_url(admin);
  json::value st = get_json(base, "/statusz");
  json::value pod = get_json(base, "/v1/pods/" + pod_name);
  std::vector<std::string> names;
  for (const char* key : {"initContainers", "containers"}) {
    for (const auto& c : pod.at(key).as_array()) {
      names.emplace_back(c.at("name").as_string());
    }
  }
  if (container.empty()) {
    if (pod.at("containers").as_array().size() != 1 ||
        !pod.at("initContainers").as_array().empty()) {
      std::string list;
      for (const auto& n : names) {
        list += (list.empty() ? "" : ", ") + n;
      }
      throw UsageError("pod " + pod_name + " has several containers; choose one with -c: " + list);
    }
    container = names.front();
  } else if (std::find(names.begin(), names.end(), container) == names.end()) {
    throw UsageError("pod " + pod_name + " has no container " + container);
  }
  std::string path = std::string(st.at("status").at("run_dir").as_string()) + "/pods/" + pod_name +
                     "/logs/" + container + ".log";
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return 0;  // nothing logged yet
  }
  std::string chunk(65536, '\0');
  for (;;) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    std::streamsize n = in.gcount();
    if (n > 0) {
      std::fwrite(chunk.data(), 1, static_cast<std::size_t>(n), stdout);
      std::fflush(stdout);
      continue;
    }
    if (!follow) {
      return 0;
    }
    in.clear();
    auto pos = in.tellg();
    std::ifstream probe(path, std::ios::binary | std::ios::ate);
    if (probe && probe.tellg() < pos) {  // rotated: start the new file from its beginning
      in = std::move(probe);
      in.seekg(0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int scale(const std::string& admin, const std::string& name, int replicas) {
  std::string base = admin_url(admin);
  json::object body;
  body["replicas"] = replicas;
  auto r = fetch(base + "/v1/deployments/" + name + "/scale", "POST", json::serialize(body));
  if (!r) {
    throw UsageError("cannot reach the pod runner at " + base + ": " + r.error().message());
  }
  if (r->status != 200) {
    std::fprintf(stderr, "tender pod scale: %d %s", r->status, r->body.c_str());
    return r->status == 404 || r->status == 400 ? 2 : 1;
  }
  std::printf("%s scaled to %d\n", name.c_str(), replicas);
  return 0;
}

}  // namespace

CLI::App* add_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand("pod", "Run Kubernetes pod manifests on this machine");
  cmd->require_subcommand(1);

  auto* run_cmd = cmd->add_subcommand("run", "Run the pods of FILE... until SIGTERM/SIGINT");
  auto common = std::make_shared<CommonFlags>();
  auto rf = std::make_shared<RunFlags>();
  add_common_flags(*run_cmd, *common, kPodAdminPort);
  run_cmd->add_option("files", rf->files, "Manifest files (v1/Pod, apps/v1/Deployment)")
      ->required();
  run_cmd->add_option("--run-dir", rf->run_dir,
                      "Directory for container logs and emptyDir volumes (default: a new one in "
                      "$TMPDIR)");
  run_cmd->add_option("--restart-backoff", rf->restart_backoff,
                      "Restart backoff INITIAL:MAX (default 10s:300s; 0s:0s restarts at once)");
  run_cmd->add_flag("--no-log-view", rf->no_log_view,
                    "Do not copy container output to stdout (it still goes to the log files)");
  run_cmd->add_option("--log-max-bytes", rf->log_max,
                      "Rotate a container's log file past this size (default 10MiB)");
  run_cmd->add_option("--log-keep", rf->log_keep, "Rotated log files kept (default 3)");
  run_cmd->add_option("--scrape-interval", rf->scrape_interval,
                      "How often to scrape containers that declare prometheus.io/port (default "
                      "15s)");
  run_cmd->add_option("--network", rf->network,
                      "pod: a network namespace and address per pod (default; needs root, else "
                      "falls back to host); host: pods share this machine's network");
  run_cmd->add_option("--pod-cidr", rf->pod_cidr,
                      "Where pod addresses come from (default 10.217.0.0/16)");
  rf->limits.add_to(*run_cmd);
  run_cmd->callback([common, rf, &exit_code] { exit_code = run(*common, *rf); });

  auto admin = std::make_shared<std::string>();
  auto* status_cmd = cmd->add_subcommand("status", "Show pods and containers");
  auto as_json = std::make_shared<bool>(false);
  auto watch = std::make_shared<bool>(false);
  status_cmd->add_option("--admin", *admin, "The runner's admin address (default 127.0.0.1:9900)");
  status_cmd->add_flag("--json", *as_json, "Print the raw JSON of GET /v1/pods");
  status_cmd->add_flag("-w,--watch", *watch, "Redraw every second");
  status_cmd->callback(
      [admin, as_json, watch, &exit_code] { exit_code = status(*admin, *as_json, *watch); });

  auto* logs_cmd = cmd->add_subcommand("logs", "Print a container's log");
  auto pod_name = std::make_shared<std::string>();
  auto container = std::make_shared<std::string>();
  auto follow = std::make_shared<bool>(false);
  logs_cmd->add_option("pod", *pod_name, "Pod name")->required();
  logs_cmd->add_option("-c,--container", *container, "Container (needed when there are several)");
  logs_cmd->add_flag("-f,--follow", *follow, "Keep printing as the log grows");
  logs_cmd->add_option("--admin", *admin, "The runner's admin address (default 127.0.0.1:9900)");
  logs_cmd->callback([admin, pod_name, container, follow, &exit_code] {
    exit_code = logs(*admin, *pod_name, *container, *follow);
  });

  auto* scale_cmd = cmd->add_subcommand("scale", "Set the replicas of a Deployment");
  auto dep = std::make_shared<std::string>();
  auto replicas = std::make_shared<int>(0);
  scale_cmd->add_option("deployment", *dep, "Deployment name")->required();
  scale_cmd->add_option("replicas", *replicas, "Replica count")
      ->required()
      ->check(CLI::Range(0, 1000));
  scale_cmd->add_option("--admin", *admin, "The runner's admin address (default 127.0.0.1:9900)");
  scale_cmd->callback(
      [admin, dep, replicas, &exit_code] { exit_code = scale(*admin, *dep, *replicas); });

  auto* validate_cmd = cmd->add_subcommand("validate", "Check manifests without running them");
  auto vfiles = std::make_shared<std::vector<std::string>>();
  auto vlimits = std::make_shared<LimitFlags>();
  validate_cmd->add_option("files", *vfiles, "Manifest files")->required();
  vlimits->add_to(*validate_cmd);
  validate_cmd->callback([vfiles, vlimits, &exit_code] {
    Manifests m = load_manifests(*vfiles, vlimits->limits());
    std::printf("ok: %zu pod(s)\n", m.pod_count());
    exit_code = 0;
  });
  add_fault_commands(*cmd, exit_code);
  return cmd;
}

}  // namespace tender::pod
