// The runner's containers: spawning them (with their isolation), supervising and stopping them,
// their probes and hooks, and their logs.
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstring>
#include <filesystem>

#include "core/fd.hpp"
#include "core/log.hpp"
#include "core/process.hpp"
#include "pod/admin_target.hpp"
#include "pod/runner_impl.hpp"

extern char** environ;

namespace tender::pod {

// --- containers --------------------------------------------------------------------------

void PodRunner::Impl::EnvEntries::set(const std::string& name, const std::string& value) {
  auto [it, added] = at_.try_emplace(name, entries_.size());
  if (added) {
    entries_.push_back(name + "=" + value);
  } else {
    entries_[it->second] = name + "=" + value;
  }
}

PodRunner::Impl::EnvEntries PodRunner::Impl::runner_environ() {
  EnvEntries env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos || kv.rfind("TENDER_", 0) == 0 ||
        kv.rfind("HOSTNAME=", 0) == 0) {
      continue;
    }
    env.set(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

std::vector<std::string> PodRunner::Impl::container_env(
    const Pod& pod, const std::vector<std::pair<std::string, std::string>>& services,
    const std::vector<std::pair<std::string, std::string>>& resolved, EnvEntries base) const {
  base.set("HOSTNAME", pod.spec.name);
  base.set("TENDER_POD_NAME", pod.spec.name);
  base.set("TENDER_POD_API", pod.netns && api_forward ? pod_api_url : api_url);
  for (const auto* vars : {&services, &resolved}) {
    for (const auto& [k, v] : *vars) {
      base.set(k, v);
    }
  }
  return std::move(base).take();
}

namespace {

namespace fs = std::filesystem;

// What Kubernetes does with a hostPath's `type` before mounting it: the ...OrCreate types make
// what is missing (a directory 0755 with its parents, an empty file 0644 in an existing
// directory), the others must find the path as that kind of file.
Result<> prepare_host_path(const Volume& v) {
  const std::string& type = v.host_path_type;
  std::error_code ec;
  fs::file_status st = fs::status(v.host_path, ec);
  bool exists = fs::exists(st);
  auto wrong = [&](const std::string& what) {
    return Error(std::errc::no_such_file_or_directory,
                 "hostPath volume " + v.name + ": " + v.host_path + " " + what);
  };
  if (type == "DirectoryOrCreate" && !exists) {
    fs::create_directories(v.host_path, ec);
    if (ec) {
      return wrong("cannot be made: " + ec.message());
    }
    ::chmod(v.host_path.c_str(), 0755);
    return {};
  }
  if (type == "FileOrCreate" && !exists) {
    Fd fd(::open(v.host_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    return fd ? Result<>{} : wrong("cannot be made: " + std::string(std::strerror(errno)));
  }
  if ((type == "Directory" || type == "DirectoryOrCreate") && !fs::is_directory(st)) {
    return wrong(exists ? "is not a directory" : "does not exist (type Directory)");
  }
  if ((type == "File" || type == "FileOrCreate") && !fs::is_regular_file(st)) {
    return wrong(exists ? "is not a file" : "does not exist (type File)");
  }
  if (type == "Socket" && !fs::is_socket(st)) {
    return wrong("is not a socket");
  }
  if (type == "CharDevice" && !fs::is_character_file(st)) {
    return wrong("is not a character device");
  }
  if (type == "BlockDevice" && !fs::is_block_file(st)) {
    return wrong("is not a block device");
  }
  return {};
}

}  // namespace

Result<std::string> PodRunner::Impl::claim_dir(const std::string& namespace_,
                                               const std::string& claim) const {
  // As a local-path provisioner makes them: one directory per claim, writable by any user
  // the containers run as, kept when the pods and the runner are gone.
  std::string dir = opts.state_dir + "/volumes/" + namespace_ + "/" + claim;
  std::error_code ec;
  if (fs::create_directories(dir, ec)) {
    fs::permissions(dir, fs::perms::all, ec);
  }
  if (ec || !fs::is_directory(dir, ec)) {
    return Error(std::errc::io_error, "PersistentVolumeClaim " + claim + ": cannot make " + dir +
                                          (ec ? ": " + ec.message() : ""));
  }
  return Result<std::string>(boost::system::in_place_value, std::move(dir));
}

Result<> PodRunner::Impl::isolate(const Pod& pod, const Container& c, SpawnOptions& o,
                                  bool in_container) const {
  if (!privileged) {
    return {};  // start() refused manifests with volume mounts already
  }
  for (const auto& m : c.spec.volume_mounts) {
    for (const auto& v : pod.spec.volumes) {
      if (v.name != m.name) {
        continue;
      }
      std::string source = pod.dir + "/volumes/" + v.name;
      if (v.kind == Volume::Kind::kHostPath) {
        source = v.host_path;
        if (auto made = prepare_host_path(v); !made) {
          return made.error();
        }
      } else if (v.kind == Volume::Kind::kPersistentVolumeClaim) {
        auto made = claim_dir(pod.spec.namespace_, v.claim_name);
        if (!made) {
          return made.error();
        }
        source = *made;
      }
      if (auto failed = pod.volume_errors.find(v.name); failed != pod.volume_errors.end()) {
        return Error(std::errc::io_error, failed->second);
      }
      if (!m.sub_path.empty()) {
        source += "/" + m.sub_path;
        std::error_code ec;
        if (v.is_generated() && !fs::exists(source, ec)) {
          return Error(std::errc::no_such_file_or_directory,
                       "volume " + v.name + " has no file or directory " + m.sub_path +
                           " (subPath of the mount at " + m.mount_path + ")");
        }
      }
      // A volume whose files the runner wrote is read-only, as the kubelet mounts it.
      o.mounts.push_back({source, m.mount_path, m.read_only || v.is_generated() || v.read_only});
    }
  }
  if (pod.netns) {
    // The pod's network: its namespace, its name, and every pod's name in /etc/hosts.
    o.netns_fd = pod.netns.get();
    o.mounts.push_back({net->hosts_path(), "/etc/hosts", true});
  }
  if (c.image && in_container && c.process) {
    // Inside an image container: its mount namespace is its root, volumes and /proc.
    std::string ns = "/proc/" + std::to_string(c.process->pid()) + "/ns/mnt";
    o.mount_namespace_fd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);  // closed by the caller
    if (o.mount_namespace_fd < 0) {
      return Error(std::errc::no_such_process, "the container is gone");
    }
    o.mounts.clear();
  }
  // The pod's name as host name, as in Kubernetes (which cuts it to 63 characters).
  o.hostname = pod.spec.name.substr(0, 63);
  // Other pods' volumes and every container's logs stay out of sight.
  if (!c.image) {
    o.hide.push_back(opts.run_dir + "/pods");
  }
  // A /proc of the container's own processes: through this machine's /proc, a process could
  // reach any other's files (/proc/PID/root). As PID 1 of its own PID namespace, nothing the
  // container starts outlives it, or us; probes and hooks join that namespace.
  o.mount_proc = o.mount_namespace_fd < 0;
  if (in_container && c.process) {
    std::string ns = "/proc/" + std::to_string(c.process->pid()) + "/ns/pid";
    o.pid_namespace_fd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);  // closed by the caller
  }
  o.new_pid_namespace = o.pid_namespace_fd < 0;
  return secure(c, o);
}

Result<> PodRunner::Impl::secure(const Container& c, SpawnOptions& o) const {
  const SecuritySpec& s = c.spec.security;
  if (!s.privileged) {
    o.capabilities = s.capabilities;
    // What runc makes read-only in every unprivileged container: writing there needs no
    // capability, only uid 0 (core_pattern, sysrq-trigger, sysfs knobs of this machine).
    o.read_only_paths = {"/proc/bus",           "/proc/fs", "/proc/irq", "/proc/sys",
                         "/proc/sysrq-trigger", "/sys"};
  }
  o.no_new_privs = s.no_new_privs();
  o.read_only_root = s.read_only_root_filesystem;
  const uid_t uid = static_cast<uid_t>(s.run_as_user.value_or(::geteuid()));
  if (s.run_as_non_root && uid == 0 && !c.image) {  // an image's user: image_process()
    return Error(std::errc::operation_not_permitted,
                 "runAsNonRoot is true but the container would run as root (set runAsUser)");
  }
  if (s.run_as_user || s.run_as_group || !s.groups.empty()) {
    SpawnOptions::User user;
    user.uid = uid;
    if (s.run_as_group) {
      user.gid = static_cast<gid_t>(*s.run_as_group);
    } else {
      // As containerd does: the user's group in the passwd file, else 0.
      passwd entry{};
      passwd* found = nullptr;
      std::array<char, 4096> buf{};
      user.gid = ::getpwuid_r(uid, &entry, buf.data(), buf.size(), &found) == 0 && found != nullptr
                     ? found->pw_gid
                     : ::getegid();
    }
    user.groups.push_back(user.gid);
    for (std::int64_t g : s.groups) {
      if (std::find(user.groups.begin(), user.groups.end(), static_cast<gid_t>(g)) ==
          user.groups.end()) {
        user.groups.push_back(static_cast<gid_t>(g));
      }
    }
    o.user = std::move(user);
  }
  return {};
}

Result<> PodRunner::Impl::fd_room() {
  // Kept free for the admin API, probes, scrapes and log rotation, and what one start needs
  // while it happens (pipes, the log file, a pidfd, /dev/null, the error pipe).
  constexpr std::uint64_t kReserve = 64;
  constexpr std::uint64_t kPerStart = 8;
  if (starts_before_fd_count > 0) {
    --starts_before_fd_count;
    return {};
  }
  auto usage = fd_usage();
  if (!usage) {
    return {};  // cannot tell: try, and let the start say what went wrong
  }
  if (usage->open + kReserve + kPerStart > usage->limit) {
    return Error(std::errc::too_many_files_open,
                 "too many open files: the runner has " + std::to_string(usage->open) +
                     " descriptors open of its limit of " + std::to_string(usage->limit) +
                     " and keeps " + std::to_string(kReserve) +
                     " free for its API; raise the limit (ulimit -n) or run fewer containers");
  }
  // A running container holds 4 (its two pipes, pidfd and log file): count again before the
  // starts could have spent half of what is free.
  starts_before_fd_count = (usage->limit - usage->open - kReserve) / (kPerStart * 2);
  return {};
}

void PodRunner::Impl::fail_start(Pod& pod, Container& c, std::string reason, std::string message) {
  c.state = Container::State::kTerminated;
  c.reason = std::move(reason);
  c.message = std::move(message);
  c.last_exit = ExitStatus{true, 128, 0, false};
  c.finished_at = std::chrono::system_clock::now();
  log::warn("container failed to start", {{"pod", pod.spec.name},
                                          {"container", c.spec.name},
                                          {"reason", c.reason},
                                          {"error", c.message}});
  update_summary();
}

bool PodRunner::Impl::spawn(Pod& pod, Container& c) {
  SpawnOptions o;
  std::string error;
  std::string reason = "StartError";
  if (auto isolated = isolate(pod, c, o, false); !isolated) {
    reason = "CreateContainerConfigError";
    error = isolated.error().message();
  } else if (auto room = fd_room(); !room) {
    reason = "StartError";
    error = room.error().message();
  }
  const auto services = service_vars(pod);
  auto resolved = resolve_env(pod.spec, c.spec, pod.ip, node, services);
  o.argv = expand_argv(c.spec, resolved, services);
  o.env = container_env(pod, services, resolved, runner_environ());
  o.cwd = c.spec.working_dir;
  if (c.image && error.empty()) {
    if (auto rooted = image_root(pod, c, o, services, resolved); !rooted) {
      reason = "CreateContainerError";
      error = rooted.error().message();
    }
  }
  c.admin = tender_admin_address(o.argv, self_exe, pod.ip);
  o.stdin_ = Stdio::null();
  o.stdout_ = Stdio::pipe();
  o.stderr_ = Stdio::pipe();
  if (error.empty() && c.log.path().empty()) {
    c.log.open(pod.dir + "/logs/" + c.spec.name + ".log", opts.log_max_bytes, opts.log_keep);
  }
  std::optional<Process> p;
  if (error.empty()) {
    auto spawned = Process::spawn(o);
    if (spawned) {
      p.emplace(std::move(*spawned));
    } else if (spawned.error().value() == EMFILE || spawned.error().value() == ENFILE) {
      error = "too many open files (" + spawned.error().message() +
              "): raise the runner's limit (ulimit -n) or run fewer containers";
    } else if (o.argv.empty()) {
      error = "empty command: " + spawned.error().message();
    } else if (c.image && spawned.error().value() == E2BIG && o.root) {
      error = "the image has too many layers for one overlay mount (" +
              std::to_string(o.root->lower.size()) + ")";
    } else if (c.spec.command.empty()) {
      error = o.argv[0] + ": " + spawned.error().message();  // the image's
    } else {
      // The command as the manifest wrote it where a Secret's value went into it.
      error = redact_expanded(o.argv[0] + ": " + spawned.error().message(), o.argv[0],
                              c.spec.command.front(), secret_values(pod.spec, c.spec));
    }
  }
  if (!p) {
    fail_start(pod, c, std::move(reason), std::move(error));
    return false;
  }
  c.process.emplace(std::move(*p));
  c.pgid = c.process->pgid();
  c.state = Container::State::kRunning;
  c.reason.clear();
  c.message.clear();
  c.started_at = std::chrono::system_clock::now();
  c.started = !c.spec.startup_probe;
  c.ready = false;
  ++c.generation;
  asio::co_spawn(ioc, pump(pod, c, c.process->release_stdout_fd()), asio::detached);
  asio::co_spawn(ioc, pump(pod, c, c.process->release_stderr_fd()), asio::detached);
  log::info("container started", {{"pod", pod.spec.name},
                                  {"container", c.spec.name},
                                  {"pid", static_cast<std::int64_t>(c.process->pid())}});
  update_summary();
  return true;
}

asio::awaitable<void> PodRunner::Impl::wait_exit(Container& c) {
  if (c.process->pidfd() >= 0) {
    // On the Process's own pidfd, which stays its own: released here, never closed.
    asio::posix::stream_descriptor sd(ioc, c.process->pidfd());
    struct Release {
      asio::posix::stream_descriptor& sd;
      ~Release() { (void)sd.release(); }
    } release{sd};
    co_await sd.async_wait(asio::posix::descriptor_base::wait_read, kTuple);
  } else {
    while (!c.process->try_wait()) {
      co_await sleep_for(milliseconds(10));
    }
  }
}

void PodRunner::Impl::record_exit(Pod& pod, Container& c, const ExitStatus& st) {
  // A container is its whole process group: what the main process left running goes too.
  (void)c.process->kill_group(SIGKILL);
  c.process.reset();
  c.state = Container::State::kTerminated;
  c.ready = false;
  c.last_exit = st;
  c.finished_at = std::chrono::system_clock::now();
  c.reason = st.success() ? "Completed" : "Error";
  log::info("container exited",
            {{"pod", pod.spec.name}, {"container", c.spec.name}, {"status", st.describe()}});
  update_summary();
}

asio::awaitable<ExitStatus> PodRunner::Impl::run_to_exit(Pod& pod, Container& c) {
  bool started = false;
  if (!co_await ensure_image(pod, c)) {
    co_return *c.last_exit;
  }
  {
    StartQueue::Turn turn = co_await starts.wait();
    if (pod.terminating) {
      co_return ExitStatus{};
    }
    started = spawn(pod, c);
  }
  if (!started) {
    co_return *c.last_exit;
  }
  co_await wait_exit(c);
  ExitStatus st = c.process->wait();
  record_exit(pod, c, st);
  co_return st;
}

asio::awaitable<void> PodRunner::Impl::container_loop(Pod& pod, Container& c) {
  for (;;) {
    bool started = false;
    if (co_await ensure_image(pod, c)) {
      StartQueue::Turn turn = co_await starts.wait();
      if (pod.terminating || c.stopping) {
        break;
      }
      started = spawn(pod, c);
    }
    if (started) {
      int gen = c.generation;
      asio::co_spawn(ioc, probe_loop(pod, c, gen), asio::detached);
      if (c.spec.post_start) {
        auto r = co_await run_action(pod, c, *c.spec.post_start, milliseconds(30'000));
        if (!r.passed && c.process) {
          log::warn("postStart hook failed; killing the container",
                    {{"pod", pod.spec.name}, {"container", c.spec.name}, {"error", r.message}});
          (void)c.process->kill_group(SIGKILL);
        }
      }
      co_await wait_exit(c);
      record_exit(pod, c, c.process->wait());
    }
    if (pod.terminating || c.stopping) {
      break;
    }
    bool again = c.restart_now || c.spec.is_sidecar() ||
                 pod.spec.restart_policy == RestartPolicy::kAlways ||
                 (pod.spec.restart_policy == RestartPolicy::kOnFailure && !c.last_exit->success());
    if (!again) {
      break;
    }
    milliseconds delay{0};
    if (c.restart_now) {
      c.restart_now = false;
    } else {
      delay = std::chrono::duration_cast<milliseconds>(c.backoff.next());
    }
    c.state = Container::State::kWaiting;
    bool pull_failed = c.reason.starts_with("ErrImage");
    c.reason = delay.count() == 0 ? "Restarting"
               : pull_failed      ? "ImagePullBackOff"
                                  : "CrashLoopBackOff";
    update_summary();
    auto until = SteadyClock::now() + delay;
    while (SteadyClock::now() < until && !pod.terminating && !c.stopping && !c.restart_now) {
      co_await sleep_for(std::min(
          milliseconds(50), std::chrono::duration_cast<milliseconds>(until - SteadyClock::now())));
    }
    c.restart_now = false;
    if (pod.terminating || c.stopping) {
      break;
    }
    ++c.restarts;
    restarts->with({pod.spec.name, c.spec.name}).inc();
  }
  c.done = true;
  if (pod.wake) {
    pod.wake();
  }
}

asio::awaitable<void> PodRunner::Impl::terminate_container(Pod& pod, Container& c,
                                                           bool run_pre_stop) {
  c.stopping = true;
  if (c.state != Container::State::kRunning || !c.process) {
    c.done = true;
    co_return;
  }
  co_await kill_container(pod, c, true, run_pre_stop);
}

asio::awaitable<void> PodRunner::Impl::kill_container(Pod& pod, Container& c, bool for_good,
                                                      bool run_pre_stop) {
  // For good: the pod's deadline. For a restart (failed probe, /restart): the pod's grace from now.
  auto deadline = for_good ? pod.deadline : SteadyClock::now() + pod.spec.termination_grace;
  int generation = c.generation;
  auto left = [&] {
    return std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
  };
  if (run_pre_stop && c.spec.pre_stop && left().count() > 0) {
    auto r = co_await run_action(pod, c, *c.spec.pre_stop, left());
    if (!r.passed) {
      log::warn("preStop hook failed",
                {{"pod", pod.spec.name}, {"container", c.spec.name}, {"error", r.message}});
    }
  }
  if (pod.paused) {
    (void)pause_pod(pod, false);  // a stopped process would hold SIGTERM until the grace ends
  }
  if (c.process) {
    (void)c.process->kill_group(SIGTERM);
  }
  bool killed = false;
  while (c.state == Container::State::kRunning && c.generation == generation) {
    if (pod.paused) {
      // Paused while this container stops: it would hold its SIGTERM until SIGKILL, and the
      // container started after it would run in a pod that says it is paused.
      (void)pause_pod(pod, false);
    }
    if (!killed && left().count() <= 0 && c.process) {
      log::warn("grace period over; killing", {{"pod", pod.spec.name}, {"container", c.spec.name}});
      (void)c.process->kill_group(SIGKILL);
      killed = true;
    }
    co_await sleep_for(milliseconds(5));
  }
}

// --- probes and hooks ----------------------------------------------------------------------

asio::awaitable<ProbeVerdict> PodRunner::Impl::run_action(const Pod& pod, const Container& c,
                                                          const Action& a, milliseconds timeout) {
  ProbeAction action;
  Fd pid_namespace;    // the container's, opened by isolate() for an exec action
  Fd mount_namespace;  // the same, for an image container
  std::string argv0;   // an exec action's command, expanded
  if (a.http_get) {
    action = HttpProbe{a.http_get->host.empty() ? pod.ip : a.http_get->host, a.http_get->port,
                       a.http_get->path, a.http_get->headers};
  } else if (a.tcp_socket) {
    action = TcpProbe{a.tcp_socket->host.empty() ? pod.ip : a.tcp_socket->host, a.tcp_socket->port};
  } else if (a.grpc) {
    action = GrpcProbe{pod.ip, a.grpc->port, a.grpc->service};
  } else if (a.exec) {
    ExecProbe exec;
    SpawnOptions& o = exec.spawn;
    const auto services = service_vars(pod);
    auto resolved = resolve_env(pod.spec, c.spec, pod.ip, node, services);
    std::map<std::string, std::string> vars(services.begin(), services.end());
    for (const auto& [k, v] : resolved) {
      vars[k] = v;  // the container's own definition wins over a Service's
    }
    for (const auto& arg : a.exec->command) {
      o.argv.push_back(expand_vars(arg, vars));
    }
    argv0 = o.argv.front();
    o.env = container_env(pod, services, resolved, runner_environ());
    o.cwd = c.spec.working_dir;
    Result<> isolated = isolate(pod, c, o, true);
    pid_namespace.reset(o.pid_namespace_fd);
    mount_namespace.reset(o.mount_namespace_fd);
    if (isolated && c.image) {
      isolated = image_process(pod, c, o, services, resolved);
    }
    if (!isolated) {
      co_return ProbeVerdict{false, isolated.error().message()};
    }
    action = std::move(exec);
  } else {
    co_return ProbeVerdict{false, "no action"};
  }
  ProbeVerdict verdict = co_await check(action, timeout, client);
  if (a.exec && !verdict.passed) {
    // "COMMAND: No such file or directory": never a Secret's value (see spawn()).
    verdict.message = redact_expanded(std::move(verdict.message), argv0, a.exec->command.front(),
                                      secret_values(pod.spec, c.spec));
  }
  co_return verdict;
}

namespace {

// Whether the probes of start `generation` of `c` go on: that start is still running and not
// being stopped.
bool probing(const Container& c, int generation) {
  return c.generation == generation && c.state == Container::State::kRunning && !c.stopping;
}

}  // namespace

asio::awaitable<void> PodRunner::Impl::probe_loop(Pod& pod, Container& c, int generation) {
  auto alive = [&] { return probing(c, generation); };
  c.startup.reset();
  c.liveness.reset();
  c.readiness.reset();
  if (c.spec.startup_probe) {
    const Probe& p = *c.spec.startup_probe;
    co_await sleep_for(p.initial_delay);
    while (alive()) {
      auto r = co_await run_action(pod, c, p.action, p.timeout);
      if (!alive()) {
        co_return;
      }
      c.startup.record(r.passed, r.message);
      if (r.passed) {
        c.started = true;
        log::info("startup probe passed", {{"pod", pod.spec.name}, {"container", c.spec.name}});
        break;
      }
      probe_failures->with({pod.spec.name, c.spec.name, "startup"}).inc();
      if (c.startup.consecutive_failures() >= c.startup.failure_threshold()) {
        log::warn("startup probe failed; restarting",
                  {{"pod", pod.spec.name}, {"container", c.spec.name}, {"result", r.message}});
        co_await kill_container(pod, c, false);
        co_return;
      }
      co_await sleep_for(p.period);
    }
  }
  if (!alive()) {
    co_return;
  }
  if (!c.spec.readiness_probe) {
    c.ready = true;
    update_summary();
  } else {
    asio::co_spawn(ioc, periodic_probe(pod, c, generation, false), asio::detached);
  }
  if (c.spec.liveness_probe) {
    co_await periodic_probe(pod, c, generation, true);
  }
}

asio::awaitable<void> PodRunner::Impl::periodic_probe(Pod& pod, Container& c, int generation,
                                                      bool liveness) {
  const Probe& p = liveness ? *c.spec.liveness_probe : *c.spec.readiness_probe;
  ProbeTracker& status = liveness ? c.liveness : c.readiness;
  const char* kind = liveness ? "liveness" : "readiness";
  auto alive = [&] { return probing(c, generation); };
  co_await sleep_for(p.initial_delay);
  while (alive()) {
    auto r = co_await run_action(pod, c, p.action, p.timeout);
    if (!alive()) {
      co_return;
    }
    status.record(r.passed, r.message);
    if (!r.passed) {
      probe_failures->with({pod.spec.name, c.spec.name, kind}).inc();
    }
    if (liveness) {
      if (!status.passing()) {
        log::warn("liveness probe failed; restarting the container",
                  {{"pod", pod.spec.name}, {"container", c.spec.name}, {"result", r.message}});
        co_await kill_container(pod, c, false);
        co_return;
      }
    } else {
      bool was = c.ready;
      c.ready = status.passing();
      if (was != c.ready) {
        log::info(c.ready ? "container ready" : "container not ready",
                  {{"pod", pod.spec.name}, {"container", c.spec.name}, {"result", r.message}});
        update_summary();
      }
    }
    co_await sleep_for(p.period);
  }
}

// --- logs ------------------------------------------------------------------------------------

asio::awaitable<void> PodRunner::Impl::pump(Pod& pod, Container& c, int fd) {
  if (fd < 0) {
    co_return;
  }
  asio::posix::stream_descriptor sd(ioc, fd);
  std::string partial;
  std::array<char, 16384> buf{};
  for (;;) {
    auto [ec, n] = co_await sd.async_read_some(asio::buffer(buf), kTuple);
    if (ec) {
      break;
    }
    partial.append(buf.data(), n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(partial.data() + start, nl - start);
      c.log.write(line);
      view.write(pod.spec.name, c.spec.name, line);
    }
    partial.erase(0, start);
    if (partial.size() > 64 * 1024) {  // a line too long to hold: flush it as it is
      c.log.write(partial);
      view.write(pod.spec.name, c.spec.name, partial);
      partial.clear();
    }
  }
  if (!partial.empty()) {
    c.log.write(partial);
    view.write(pod.spec.name, c.spec.name, partial);
  }
}

}  // namespace tender::pod
