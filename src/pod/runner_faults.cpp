// Helper commands and the faults a user or a test injects: kill, pause/resume, partitions,
// network delay.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/command.hpp"
#include "core/log.hpp"
#include "core/units.hpp"
#include "pod/runner_impl.hpp"

namespace tender::pod {
namespace {

namespace json = boost::json;
// The inode of /proc/PID/ns/pid, 0 if the process is gone.
ino_t pid_namespace_of(pid_t pid) {
  struct stat st {};
  std::string path = "/proc/" + std::to_string(pid) + "/ns/pid";
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Sends `sig` to every process of the PID namespace `ns` (found by walking /proc). Returns how
// many were signalled.
int signal_namespace(ino_t ns, int sig) {
  int n = 0;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) {
    return 0;
  }
  while (dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') {
      continue;
    }
    if (pid_namespace_of(static_cast<pid_t>(pid)) == ns &&
        ::kill(static_cast<pid_t>(pid), sig) == 0) {
      ++n;
    }
  }
  ::closedir(dir);
  return n;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

// Runs a helper command (nft, tc) in the network namespace `netns`, for at most 10 s.
asio::awaitable<Result<CommandOutcome>> run_helper(std::vector<std::string> argv, int netns) {
  CommandOptions o;
  o.spawn.argv = std::move(argv);
  o.spawn.netns_fd = netns;
  o.timeout = milliseconds(10'000);
  co_return co_await run_command(std::move(o));
}

// What a helper command said (its stdout, then its stderr), or why it did not run or finish.
std::string said(const Result<CommandOutcome>& r) {
  if (!r) {
    return r.error().message();
  }
  return r->timed_out ? r->describe() : trim(r->stdout_text + r->stderr_text);
}

// The helper command could not start because it is not installed.
bool missing(const Result<CommandOutcome>& r) {
  return !r && r.error().message().find("No such file") != std::string::npos;
}

}  // namespace

// --- kill, pause ---------------------------------------------------------------------------

Response PodRunner::Impl::signal_pod(Pod& pod, const std::string& container, int sig) {
  int sent = 0;
  for (auto* list : {&pod.init, &pod.main}) {
    for (auto& c : *list) {
      if ((!container.empty() && c->spec.name != container) || !c->process) {
        continue;
      }
      (void)c->process->kill_group(sig);
      ++sent;
    }
  }
  if (sent == 0) {
    return container.empty() || find_container(pod, container) != nullptr
               ? Response::error(409, "nothing of pod " + pod.spec.name + " is running")
               : Response::error(404, "pod " + pod.spec.name + " has no container " + container);
  }
  log::info("signalled", {{"pod", pod.spec.name},
                          {"container", container.empty() ? "*" : container},
                          {"signal", signal_name(sig)}});
  json::object o;
  o["pod"] = pod.spec.name;
  o["signal"] = signal_name(sig);
  o["containers"] = sent;
  return Response::json(200, o);
}

Response PodRunner::Impl::pause_pod(Pod& pod, bool pause) {
  int sig = pause ? SIGSTOP : SIGCONT;
  int processes = 0;
  for (auto* list : {&pod.init, &pod.main}) {
    for (auto& c : *list) {
      if (!c->process) {
        continue;
      }
      // A container with a PID namespace: every process in it, wherever its process group.
      // Walk twice, for processes forked while the first walk ran.
      ino_t ns = privileged ? pid_namespace_of(c->process->pid()) : 0;
      if (ns != 0 && ns != pid_namespace_of(::getpid())) {
        processes += signal_namespace(ns, sig);
        if (pause) {
          (void)signal_namespace(ns, sig);
        }
      } else if (c->process->kill_group(sig) == boost::system::error_code()) {
        ++processes;
      }
    }
  }
  if (processes == 0) {
    return Response::error(409, "nothing of pod " + pod.spec.name + " is running");
  }
  pod.paused = pause;
  log::info(pause ? "pod paused" : "pod resumed",
            {{"pod", pod.spec.name}, {"processes", processes}});
  json::object o;
  o["pod"] = pod.spec.name;
  o["paused"] = pause;
  o["processes"] = processes;
  return Response::json(200, o);
}

// --- partitions ----------------------------------------------------------------------------

boost::json::object PodRunner::Impl::partitions_json() const {
  json::array cut;
  if (net) {
    for (const auto& [a, b] : net->partitions().pairs()) {
      json::array pair;
      pair.emplace_back(a);
      pair.emplace_back(b);
      cut.push_back(std::move(pair));
    }
  }
  json::object o;
  o["network"] = net ? "pod" : "host";
  o["cut"] = std::move(cut);
  return o;
}

asio::awaitable<Response> PodRunner::Impl::partition(std::vector<std::vector<std::string>> groups) {
  if (!net) {
    co_return Response::error(
        409, "partitions need the pod network, and this runner uses the host's (--network host)");
  }
  for (const auto& g : groups) {
    for (const auto& name : g) {
      if (find_pod(name) == nullptr) {
        co_return Response::error(404, "no pod named " + name);
      }
    }
  }
  co_return co_await apply_partitions([&groups](Partitions& p) { p.cut(groups); });
}

asio::awaitable<Response> PodRunner::Impl::heal(std::vector<std::string> pods) {
  if (!net) {
    co_return Response::error(
        409, "partitions need the pod network, and this runner uses the host's (--network host)");
  }
  for (const auto& name : pods) {
    if (find_pod(name) == nullptr) {
      co_return Response::error(404, "no pod named " + name);
    }
  }
  co_return co_await apply_partitions([&pods](Partitions& p) { p.heal(pods); });
}

asio::awaitable<Result<>> PodRunner::Impl::run_nft(const std::string& script,
                                                   const std::string& name) {
  const std::string path = opts.run_dir + "/" + name;
  {
    std::ofstream f(path, std::ios::trunc);
    f << script;
    if (!f) {
      co_return Error("cannot write " + path);
    }
  }
  std::vector<std::string> nft = {"nft", "-f", path};
  auto r = co_await run_helper(std::move(nft), net->run_netns());
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  if (missing(r)) {
    co_return Error(std::errc::no_such_file_or_directory,
                    "the nft command (Debian package nftables) is not installed");
  }
  if (!r || !r->success()) {
    co_return Error("nft failed: " +
                    (r && !r->timed_out ? r->describe() + ": " + said(r) : said(r)));
  }
  co_return Result<>{};
}

asio::awaitable<Response> PodRunner::Impl::apply_partitions(
    std::function<void(Partitions&)> change) {
  // One apply at a time, each starting from what the last one left in force.
  while (applying_partitions) {
    co_await sleep_for(milliseconds(2));
  }
  applying_partitions = true;
  struct Release {
    bool& flag;
    ~Release() { flag = false; }
  } release{applying_partitions};
  Partitions next = net->partitions();
  change(next);
  auto applied = co_await run_nft(net->ruleset(next),
                                  "partitions-" + std::to_string(++partition_files) + ".nft");
  if (!applied && applied.error().code() == std::errc::no_such_file_or_directory) {
    co_return Response::error(
        501, "partitions need the nft command (Debian package nftables), which is not installed");
  }
  if (!applied) {
    log::error("partitions not applied", {{"error", applied.error().message()}});
    co_return Response::error(500, applied.error().message());
  }
  net->partitions() = std::move(next);
  log::info("partitions set",
            {{"pairs", static_cast<std::int64_t>(net->partitions().pairs().size())}});
  co_return Response::json(200, partitions_json());
}

// --- delay -----------------------------------------------------------------------------------

asio::awaitable<Response> PodRunner::Impl::set_delay(Pod& pod, int ms, int jitter_ms,
                                                     double loss_percent) {
  if (!net || !pod.netns) {
    co_return Response::error(
        409, "delay needs the pod network, and this runner uses the host's (--network host)");
  }
  bool clear = ms == 0 && jitter_ms == 0 && loss_percent == 0;
  std::string link = pod.link;
  // Owned copies: the pod may terminate (and its fd be reused) while tc runs.
  Fd run_ns(::fcntl(net->run_netns(), F_DUPFD_CLOEXEC, 3));
  Fd pod_ns(::fcntl(pod.netns.get(), F_DUPFD_CLOEXEC, 3));
  if (!run_ns || !pod_ns) {
    co_return Response::error(500, "cannot hold the pod's namespace");
  }
  char loss[32];
  std::snprintf(loss, sizeof loss, "%.4f%%", loss_percent);
  auto tc = [&](const std::string& dev, int ns, bool remove) {
    std::vector<std::string> argv;
    if (remove) {
      argv = {"tc", "qdisc", "del", "dev", dev, "root"};
    } else {
      argv = {"tc",    "qdisc", "replace",
              "dev",   dev,     "root",
              "netem", "delay", std::to_string(ms) + "ms"};
      if (jitter_ms > 0) {
        argv.push_back(std::to_string(jitter_ms) + "ms");
      }
      if (loss_percent > 0) {
        argv.insert(argv.end(), {"loss", loss});
      }
    }
    return run_helper(std::move(argv), ns);
  };
  // Both ends of the pod's link: what enters the pod and what leaves it.
  const std::pair<std::string, int> ends[] = {{link, run_ns.get()}, {"eth0", pod_ns.get()}};
  for (std::size_t i = 0; i < 2; ++i) {
    auto r = co_await tc(ends[i].first, ends[i].second, clear);
    if (clear) {
      continue;  // "no qdisc" errors mean nothing was set
    }
    const std::string tc_said = said(r);
    if (!r || !r->success()) {
      if (i == 1) {
        (void)co_await tc(ends[0].first, ends[0].second, true);  // no half-applied delay
      }
      if (missing(r)) {
        co_return Response::error(501, "delay needs the tc command (iproute2): " + tc_said);
      }
      if (tc_said.find("qdisc kind is unknown") != std::string::npos ||
          tc_said.find("not found") != std::string::npos) {
        co_return Response::error(
            501, "netem is not available: this kernel has no sch_netem (tc: " + tc_said + ")");
      }
      co_return Response::error(500, "tc failed: " + tc_said);
    }
  }
  pod.delay = clear ? "" : std::to_string(ms) + "ms";
  if (!clear && jitter_ms > 0) {
    pod.delay += " ±" + std::to_string(jitter_ms) + "ms";
  }
  if (!clear && loss_percent > 0) {
    char shown[40];
    std::snprintf(shown, sizeof shown, " loss %g%%", loss_percent);
    pod.delay += shown;
  }
  log::info("pod delay", {{"pod", pod.spec.name}, {"delay", clear ? "none" : pod.delay}});
  json::object o;
  o["pod"] = pod.spec.name;
  o["delay"] = pod.delay;
  co_return Response::json(200, o);
}

}  // namespace tender::pod
