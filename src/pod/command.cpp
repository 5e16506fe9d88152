#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include "core/cli.hpp"
#include "core/fd.hpp"
#include "core/file_watch.hpp"
#include "core/http_client.hpp"
#include "core/log.hpp"
#include "pod/api_client.hpp"
#include "pod/fault_command.hpp"
#include "pod/images_command.hpp"
#include "pod/network.hpp"
#include "pod/pod.hpp"
#include "pod/runner.hpp"
#include "pod/services.hpp"
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
    positive(cmd.add_option("--max-pods", max_pods,
                            "Most pods in the run, counting replicas (default " +
                                std::to_string(defaults.max_pods) + ")"));
    positive(cmd.add_option("--max-containers", max_containers,
                            "Most containers in a pod, init containers included (default " +
                                std::to_string(defaults.max_containers) + ")"));
    positive(cmd.add_option(
        "--max-env", max_env,
        "Most env entries in a container (default " + std::to_string(defaults.max_env) + ")"));
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
  std::string service_cidr;
  std::string runtime = "host";
  std::string state_dir;
};

// The longest terminationGracePeriodSeconds of the pods the manifests run.
std::chrono::milliseconds longest_grace(const Manifests& m) {
  std::chrono::milliseconds longest{0};
  for (const auto& p : m.pods) {
    longest = std::max(longest, p.termination_grace);
  }
  for (const auto& d : m.deployments) {
    longest = std::max(longest, d.template_.termination_grace);
  }
  for (const auto& j : m.jobs) {
    longest = std::max(longest, j.template_.termination_grace);
  }
  for (const auto& set : m.stateful_sets) {
    longest = std::max(longest, set.template_.termination_grace);
  }
  return longest;
}

// --network, --pod-cidr, --service-cidr; and each Service's clusterIP fits the service network
// (a ConfigError naming the Service if not).
void network_options(const RunFlags& f, RunnerOptions& ro) {
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
  if (!f.service_cidr.empty()) {
    if (!Cidr::parse(f.service_cidr)) {
      throw UsageError(
          "--service-cidr: expected an IPv4 network from /8 to /24 like 10.96.0.0/12, not \"" +
          f.service_cidr + "\"");
    }
    ro.service_cidr = f.service_cidr;
  }
  (void)plan_services(ro.manifests.services, *Cidr::parse(ro.service_cidr),
                      *Cidr::parse(ro.pod_cidr));
}

int run(const CommonFlags& common, const RunFlags& f) {
  ConfigNode file = common.load_config();
  file.warn_unknown({"admin", "admin_allow_hosts", "grace", "log_level", "log_format"});
  CommonOptions opts = resolve_common(common, file, kPodAdminPort);
  if (common.admin.empty() && !file.has("admin") && std::getenv("TENDER_POD_ADMIN") != nullptr) {
    // The address the client subcommands use, so that one variable points both at one runner.
    opts.admin = flag_host_port("admin", admin_address(""));
  }
  RunnerOptions ro;
  ro.limits = f.limits.limits();
  ro.manifests = load_manifests(f.files, ro.limits);
  if (common.grace.empty() && !file.has("grace")) {
    // Long enough for every pod's own terminationGracePeriodSeconds.
    opts.grace = longest_grace(ro.manifests) + std::chrono::seconds(5);
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
  network_options(f, ro);
  if (f.runtime == "oci") {
    ro.runtime = RunnerOptions::Runtime::kOci;
  } else if (f.runtime != "host") {
    throw UsageError("--runtime: expected host or oci, not \"" + f.runtime + "\"");
  }
  if (!f.state_dir.empty()) {
    // Absolute: overlay mounts and the containers' volumes name paths under it.
    ro.state_dir = std::filesystem::absolute(f.state_dir).lexically_normal().string();
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
      json::value services = get_json(base, "/v1/services");
      if (!services.at("services").as_array().empty()) {
        std::printf("\n%s", services_table(services).c_str());
      }
    }
    std::fflush(stdout);
    if (!watch) {
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

// Prints a container's log file as it grows, across the runner's rotations (LogFile renames
// app.log to app.log.1, the older ones up by one, and starts a new app.log; with --log-keep 0
// it deletes app.log instead), truncation, and deletion and recreation. The file is followed by
// its descriptor, so a rotated file is read to its end before its successor; files rotated
// more than once since the last read are found by (device, inode) among app.log.1, .2, ...
// and read in order. A truncation (size below what was read) starts the file over. What cannot
// be read: files rotated away (past --log-keep) or deleted before this caught up, and what a
// truncation followed by more writes than were there before put back before this looked.
class LogFollower {
 public:
  explicit LogFollower(std::string path) : path_(std::move(path)) {}

  // Prints whatever is new, switching files when the path holds another one.
  void catch_up() {
    if (!fd_) {
      open_current();
      drain();
      return;
    }
    struct stat own {};
    if (::fstat(fd_.get(), &own) == 0 && static_cast<std::uint64_t>(own.st_size) < offset_) {
      rewind();  // truncated below what was read: whatever is there now is new
    }
    drain();
    auto now = stat_id(path_);
    if (!now || *now == id_) {
      return;  // unchanged, or deleted and not recreated yet: the old file may still grow
    }
    drain();  // the last lines written before the rotation
    switch_files();
  }

 private:
  static std::optional<FileId> stat_id(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      return std::nullopt;
    }
    return FileId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
  }

  void open_current() {
    fd_.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    id_ = fd_id(fd_).value_or(FileId{});
    offset_ = 0;
  }

  void rewind() {
    ::lseek(fd_.get(), 0, SEEK_SET);
    offset_ = 0;
  }

  static std::optional<FileId> fd_id(const Fd& fd) {
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0) {
      return std::nullopt;
    }
    return FileId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
  }

  // Where the file being followed went: i if it is now path.i (the files path.i-1 ... path.1
  // came after it), 0 if it is gone. A rotation renames path.N-1 to path.N, ... path to
  // path.1 in turn, so while one runs there is one gap in the names: the scan goes past it.
  [[nodiscard]] int rotated_index() const {
    int missing = 0;
    for (int i = 1; i <= 100000 && missing < 2; ++i) {
      auto id = stat_id(path_ + "." + std::to_string(i));
      missing = id ? 0 : missing + 1;
      if (id && *id == id_) {
        return i;
      }
    }
    return 0;
  }

  // Prints the files rotated after the one followed (oldest first) and follows path again.
  // The files are opened first and kept only if their names still hold them afterwards, so a
  // rotation running meanwhile makes it try again rather than print a file twice or skip one.
  void switch_files() {
    for (int attempt = 0; attempt < 50; ++attempt) {
      int k = rotated_index();
      std::vector<std::pair<std::string, Fd>> files;
      for (int i = k - 1; i >= 1; --i) {
        std::string name = path_ + "." + std::to_string(i);
        files.emplace_back(name, Fd(::open(name.c_str(), O_RDONLY | O_CLOEXEC)));
      }
      files.emplace_back(path_, Fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC)));
      bool consistent =
          k == 0 || stat_id(path_ + "." + std::to_string(k)) == std::optional<FileId>(id_);
      for (const auto& [name, fd] : files) {
        auto opened = fd_id(fd);
        consistent = consistent && opened && stat_id(name) == opened;
      }
      if (!consistent && attempt + 1 < 50) {
        std::this_thread::yield();
        continue;
      }
      for (std::size_t i = 0; i + 1 < files.size(); ++i) {
        if (files[i].second) {
          copy_out(files[i].second.get(), nullptr);
        }
      }
      fd_ = std::move(files.back().second);
      id_ = fd_id(fd_).value_or(FileId{});
      offset_ = 0;
      drain();
      return;
    }
  }

  static void copy_out(int fd, std::uint64_t* offset) {
    std::array<char, 65536> buf{};
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return;
      }
      std::fwrite(buf.data(), 1, static_cast<std::size_t>(n), stdout);
      if (offset != nullptr) {
        *offset += static_cast<std::uint64_t>(n);
      }
    }
  }

  void drain() {
    if (fd_) {
      copy_out(fd_.get(), &offset_);
      std::fflush(stdout);
    }
  }

  std::string path_;
  Fd fd_;
  FileId id_;
  std::uint64_t offset_ = 0;
};

// GET /v1/pods/NAME. A pod the runner does not know (scaled away, deleted, mistyped) throws
// UsageError "no pod NAME (...); pods: A, B" rather than the bare 404; other failures as get_json.
json::value get_pod(const std::string& base, const std::string& pod_name) {
  auto r = fetch(base + "/v1/pods/" + pod_name);
  if (r && r->status == 200) {
    return json::parse(r->body);
  }
  if (r && r->status == 404) {
    std::string list;
    json::value pods = get_json(base, "/v1/pods");
    for (const auto& p : pods.at("pods").as_array()) {
      list += (list.empty() ? "" : ", ") + std::string(p.at("name").as_string());
    }
    throw UsageError("no pod " + pod_name + " (it may have been scaled away or deleted); pods: " +
                     (list.empty() ? "none" : list));
  }
  return get_json(base, "/v1/pods/" + pod_name);  // throws, naming the failure
}

int logs(const std::string& admin, const std::string& pod_name, std::string container,
         bool follow) {
  std::string base = admin_url(admin);
  json::value st = get_json(base, "/statusz");
  json::value pod = get_pod(base, pod_name);
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
  LogFollower follower(path);
  if (!follow) {
    follower.catch_up();
    return 0;  // nothing logged yet if the file is missing
  }
  auto watch = FileWatch::create();
  Result<> added = watch ? watch->add_file(path) : Result<>(watch.error());
  if (!added) {
    std::fprintf(stderr, "tender pod logs: cannot follow %s: %s\n", path.c_str(),
                 added.error().message().c_str());
    return 1;
  }
  follower.catch_up();
  for (;;) {
    // Events only say when to look: catch_up compares what the path holds with what was read.
    auto events = watch->wait(std::chrono::seconds(10));
    if (!events) {  // inotify failed; the rescans still see every change
      log::warn("following the log", {{"error", events.error().message()}});
      std::this_thread::sleep_for(std::max(watch->until_rescan(), std::chrono::milliseconds(100)));
    }
    follower.catch_up();
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

namespace {

void add_run_command(CLI::App* cmd, int& exit_code) {
  auto* run_cmd = cmd->add_subcommand("run", "Run the pods of FILE... until SIGTERM/SIGINT");
  auto common = std::make_shared<CommonFlags>();
  auto rf = std::make_shared<RunFlags>();
  add_common_flags(*run_cmd, *common, kPodAdminPort);
  // The runner's default is not the common 30s (see run()).
  run_cmd->get_option("--grace")->description(
      "Longest wait on SIGTERM for the pods to terminate before exiting, e.g. 90s (default: "
      "the manifests' longest terminationGracePeriodSeconds plus 5s)");
  run_cmd
      ->add_option("files", rf->files,
                   "Manifest files (v1/Pod, apps/v1/Deployment, and the v1/ConfigMap and "
                   "v1/Secret objects they use; other kinds: see docs/pod.md)")
      ->required();
  run_cmd->add_option("--run-dir", rf->run_dir,
                      "Directory for container logs and emptyDir volumes, kept at exit (default: "
                      "$TMPDIR/tender-pod-PORT for the admin port, which the next run on that "
                      "port takes over; with --admin HOST:0 a new one, removed at exit)");
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
  run_cmd->add_option("--service-cidr", rf->service_cidr,
                      "Where Services' virtual IPs come from (default 10.96.0.0/12)");
  run_cmd->add_option("--runtime", rf->runtime,
                      "host: a container with a command runs it as a process of this machine, "
                      "one without runs its image (default); oci: every container runs its "
                      "image");
  run_cmd->add_option("--state-dir", rf->state_dir,
                      "What outlives a run: the image store in images/ (default /var/lib/tender)");
  rf->limits.add_to(*run_cmd);
  run_cmd->callback([common, rf, &exit_code] { exit_code = run(*common, *rf); });
}

// status, logs and scale: clients of a running runner's admin API.
void add_client_commands(CLI::App* cmd, int& exit_code) {
  auto admin = std::make_shared<std::string>();
  auto* status_cmd = cmd->add_subcommand("status", "Show pods and containers");
  auto as_json = std::make_shared<bool>(false);
  auto watch = std::make_shared<bool>(false);
  status_cmd->add_option("--admin", *admin, kAdminHelp);
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
  logs_cmd->add_option("--admin", *admin, kAdminHelp);
  logs_cmd->callback([admin, pod_name, container, follow, &exit_code] {
    exit_code = logs(*admin, *pod_name, *container, *follow);
  });

  auto* scale_cmd = cmd->add_subcommand("scale", "Set the replicas of a Deployment");
  auto dep = std::make_shared<std::string>();
  auto replicas = std::make_shared<int>(0);
  scale_cmd->add_option("deployment", *dep, "Deployment name")->required();
  in_range(scale_cmd->add_option("replicas", *replicas, "Replica count")->required(), 0, 1000);
  scale_cmd->add_option("--admin", *admin, kAdminHelp);
  scale_cmd->callback(
      [admin, dep, replicas, &exit_code] { exit_code = scale(*admin, *dep, *replicas); });
}

void add_validate_command(CLI::App* cmd, int& exit_code) {
  auto* validate_cmd = cmd->add_subcommand("validate", "Check manifests without running them");
  auto vfiles = std::make_shared<std::vector<std::string>>();
  auto vlimits = std::make_shared<LimitFlags>();
  validate_cmd->add_option("files", *vfiles, "Manifest files, as for run")->required();
  vlimits->add_to(*validate_cmd);
  validate_cmd->callback([vfiles, vlimits, &exit_code] {
    Manifests m = load_manifests(*vfiles, vlimits->limits());
    std::printf(
        "ok: %zu pod(s), %zu Job(s), %zu Service(s), %zu ConfigMap(s), %zu Secret(s), %zu "
        "PersistentVolumeClaim(s)\n",
        m.pod_count(), m.jobs.size(), m.services.size(), m.objects->config_maps.size(),
        m.objects->secrets.size(), m.objects->claims.size());
    exit_code = 0;
  });
}

}  // namespace

CLI::App* add_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand("pod", "Run Kubernetes pod manifests on this machine");
  cmd->require_subcommand(1);
  add_run_command(cmd, exit_code);
  add_client_commands(cmd, exit_code);
  add_validate_command(cmd, exit_code);
  add_fault_commands(*cmd, exit_code);
  add_images_command(*cmd, exit_code);
  return cmd;
}

}  // namespace tender::pod
