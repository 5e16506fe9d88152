// `tender pod kill|pause|resume|partition|heal|delay|exec`: faults and a shell into a pod.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

#include "core/capabilities.hpp"
#include "core/cli.hpp"
#include "pod/api_client.hpp"
#include "pod/fault_command.hpp"
#include "pod/pod.hpp"

namespace tender::pod {
namespace {

namespace json = boost::json;

int post(const char* verb, const std::string& admin, const std::string& path,
         const json::object& body) {
  Response r = post_json(admin_url(admin), path, json::serialize(body));
  if (r.status / 100 != 2) {
    return report_failure(verb, r);
  }
  std::fputs(r.body.c_str(), stdout);
  return 0;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = s.find(',', start);
    std::string part = s.substr(start, comma - start);
    if (!part.empty()) {
      out.push_back(part);
    }
    if (comma == std::string::npos) {
      return out;
    }
    start = comma + 1;
  }
}

// The container's host PID, chosen as `tender pod logs` chooses a container.
pid_t container_pid(const json::value& pod, const std::string& pod_name, std::string& container) {
  std::vector<const json::value*> all;
  for (const char* key : {"initContainers", "containers"}) {
    for (const auto& c : pod.at(key).as_array()) {
      all.push_back(&c);
    }
  }
  if (container.empty()) {
    const auto& mains = pod.at("containers").as_array();
    container = std::string(mains.front().at("name").as_string());
  }
  for (const auto* c : all) {
    if (c->at("name").as_string() == container) {
      const auto* pid = c->as_object().if_contains("pid");
      if (pid == nullptr || !pid->is_int64()) {
        throw UsageError("container " + pod_name + "/" + container + " is not running");
      }
      return static_cast<pid_t>(pid->as_int64());
    }
  }
  throw UsageError("pod " + pod_name + " has no container " + container);
}

std::vector<std::string> read_environ(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> env;
  std::size_t start = 0;
  for (std::size_t nul; (nul = all.find('\0', start)) != std::string::npos; start = nul + 1) {
    env.push_back(all.substr(start, nul - start));
  }
  return env;
}

// Who a container's process is and what it may do, as /proc/PID/status says: a command run in the
// container becomes the same, as kubectl exec's does.
struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::uint64_t bounding = 0;
  std::uint64_t effective = 0;
  std::uint64_t permitted = 0;
  std::uint64_t inheritable = 0;
  bool no_new_privs = false;
};

Identity read_identity(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  Identity id;
  bool seen = false;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line.substr(line.find(':') + 1));
    auto mask = [&fields] {
      std::string hex;
      fields >> hex;
      return std::strtoull(hex.c_str(), nullptr, 16);
    };
    if (line.rfind("Uid:", 0) == 0) {
      fields >> id.uid;  // the real one; a container process has them all the same
      seen = true;
    } else if (line.rfind("Gid:", 0) == 0) {
      fields >> id.gid;
    } else if (line.rfind("Groups:", 0) == 0) {
      for (gid_t g = 0; fields >> g;) {
        id.groups.push_back(g);
      }
    } else if (line.rfind("CapBnd:", 0) == 0) {
      id.bounding = mask();
    } else if (line.rfind("CapEff:", 0) == 0) {
      id.effective = mask();
    } else if (line.rfind("CapPrm:", 0) == 0) {
      id.permitted = mask();
    } else if (line.rfind("CapInh:", 0) == 0) {
      id.inheritable = mask();
    } else if (line.rfind("NoNewPrivs:", 0) == 0) {
      int v = 0;
      fields >> v;
      id.no_new_privs = v != 0;
    }
  }
  if (!seen) {
    throw UsageError("cannot read the container's process " + std::to_string(pid) + " (gone?)");
  }
  return id;
}

// In the forked child, before exec: the bounding set, the user (which clears every capability
// unless it is root), root's capability sets, no_new_privs. Returns false with errno set.
bool adopt_identity(const Identity& id) {
  if (int e = drop_bounding_set(id.bounding); e != 0) {
    errno = e;
    return false;
  }
  if (::setgroups(id.groups.size(), id.groups.data()) != 0 ||
      ::setresgid(id.gid, id.gid, id.gid) != 0 || ::setresuid(id.uid, id.uid, id.uid) != 0) {
    return false;
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // changing the user cleared it
  if (id.uid == 0) {
    if (int e = set_capability_sets({id.effective, id.permitted, id.inheritable}); e != 0) {
      errno = e;
      return false;
    }
  }
  return !id.no_new_privs || ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0;
}

// Where SIGTERM and SIGHUP are passed on to: the next process towards the command.
volatile pid_t target_pid = 0;

void forward_signal(int sig) {
  if (target_pid > 0) {
    ::kill(target_pid, sig);
  }
}

struct Ns {
  const char* name;
  int type;
  int fd = -1;
};

// The namespaces of process `pid` that differ from ours (in host mode, without root, there are
// none), opened.
std::vector<Ns> namespaces_of(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::vector<Ns> spaces = {
      {"net", CLONE_NEWNET}, {"uts", CLONE_NEWUTS}, {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS}};
  for (auto& ns : spaces) {
    struct stat theirs {};
    struct stat ours {};
    std::string path = proc + "/ns/" + ns.name;
    if (::stat(path.c_str(), &theirs) != 0) {
      throw UsageError("cannot see the container's process " + std::to_string(pid) + ": " +
                       std::strerror(errno));
    }
    if (::stat(("/proc/self/ns/" + std::string(ns.name)).c_str(), &ours) == 0 &&
        theirs.st_ino == ours.st_ino) {
      continue;
    }
    ns.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns.fd < 0) {
      throw UsageError("cannot open " + path + ": " + std::strerror(errno) +
                       " (entering a pod needs root)");
    }
  }
  return spaces;
}

// The command's own process, inside the pod: its working directory, its user, its PATH.
[[noreturn]] void exec_command(const std::string& dir, const std::optional<Identity>& identity,
                               const std::vector<std::string>& env, char** args, char** envp) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGQUIT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGHUP, SIG_DFL);
  if (::chdir(dir.c_str()) != 0 && ::chdir("/") != 0) {
    ::_exit(126);
  }
  if (identity && !adopt_identity(*identity)) {
    std::fprintf(stderr, "tender pod exec: cannot become the container's user: %s\n",
                 std::strerror(errno));
    ::_exit(126);
  }
  // PATH from the container's environment, as the container would search it.
  for (const auto& e : env) {
    if (e.rfind("PATH=", 0) == 0) {
      ::setenv("PATH", e.c_str() + 5, 1);
    }
  }
  ::execvpe(args[0], args, envp);
  std::fprintf(stderr, "tender pod exec: %s: %s\n", args[0], std::strerror(errno));
  ::_exit(errno == ENOENT ? 127 : 126);
}

// Runs argv inside the namespaces of process `pid` (network, host name, PID, mounts), with its
// environment and working directory, as nsenter would, and (unless `as_root`) as its user with
// its capabilities; returns the command's exit code.
int exec_in(pid_t pid, const std::vector<std::string>& argv, bool as_root) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::vector<std::string> env = read_environ(pid);
  char cwd[4096] = {};
  ssize_t n = ::readlink((proc + "/cwd").c_str(), cwd, sizeof cwd - 1);
  std::string dir = n > 0 ? std::string(cwd, static_cast<std::size_t>(n)) : "/";
  std::vector<Ns> spaces = namespaces_of(pid);
  const std::optional<Identity> identity =
      as_root || ::geteuid() != 0 ? std::nullopt : std::optional(read_identity(pid));
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) {
    envp.push_back(const_cast<char*>(e.c_str()));
  }
  envp.push_back(nullptr);
  std::fflush(stdout);
  // As system() does: the terminal's Ctrl-C and Ctrl-\ are for the command, not for us; a
  // SIGTERM or SIGHUP sent to us is passed on to it.
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGQUIT, SIG_IGN);
  ::signal(SIGTERM, forward_signal);
  ::signal(SIGHUP, forward_signal);
  // A single-threaded child joins the namespaces (mount namespaces refuse threaded callers),
  // then forks once more so the command is inside the PID namespace too.
  pid_t child = ::fork();
  if (child < 0) {
    throw UsageError(std::string("fork: ") + std::strerror(errno));
  }
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (auto& ns : spaces) {
      if (ns.fd >= 0 && ::setns(ns.fd, ns.type) != 0) {
        std::fprintf(stderr, "tender pod exec: cannot enter the %s namespace: %s\n", ns.name,
                     std::strerror(errno));
        ::_exit(126);
      }
    }
    pid_t inner = ::fork();
    if (inner < 0) {
      std::fprintf(stderr, "tender pod exec: cannot start a process in the pod: %s\n",
                   std::strerror(errno));
      ::_exit(126);
    }
    if (inner == 0) {
      exec_command(dir, identity, env, args.data(), envp.data());
    }
    target_pid = inner;
    int status = 0;
    while (::waitpid(inner, &status, 0) < 0 && errno == EINTR) {
    }
    ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  target_pid = child;
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// kill, pause and resume: signals to a pod's processes.
void add_signal_commands(CLI::App& cmd, int& exit_code) {
  auto admin = std::make_shared<std::string>();
  auto pod_name = std::make_shared<std::string>();
  auto container = std::make_shared<std::string>();

  auto* kill_cmd = cmd.add_subcommand("kill", "Send a signal (default KILL) to a pod's containers");
  auto signal = std::make_shared<std::string>("KILL");
  kill_cmd->add_option("pod", *pod_name, "Pod name")->required();
  kill_cmd->add_option("-c,--container", *container, "Only this container");
  kill_cmd->add_option("-s,--signal", *signal, "Signal name or number (default KILL)");
  kill_cmd->add_option("--admin", *admin, kAdminHelp);
  kill_cmd->callback([=, &exit_code] {
    json::object body;
    body["signal"] = *signal;
    if (!container->empty()) {
      body["container"] = *container;
    }
    exit_code = post("kill", *admin, "/v1/pods/" + *pod_name + "/kill", body);
  });

  for (const char* verb : {"pause", "resume"}) {
    bool pause = std::string(verb) == "pause";
    auto* c = cmd.add_subcommand(
        verb, pause ? "Freeze every process of a pod (SIGSTOP)" : "Thaw a paused pod (SIGCONT)");
    c->add_option("pod", *pod_name, "Pod name")->required();
    c->add_option("--admin", *admin, kAdminHelp);
    c->callback([=, &exit_code] {
      exit_code = post(verb, *admin, "/v1/pods/" + *pod_name + "/" + verb, json::object());
    });
  }
}

// partition, heal and delay: faults of the pod network.
void add_network_commands(CLI::App& cmd, int& exit_code) {
  auto admin = std::make_shared<std::string>();
  auto pod_name = std::make_shared<std::string>();

  auto* part_cmd = cmd.add_subcommand(
      "partition", "Cut traffic between groups of pods: tender pod partition a,b c");
  auto groups = std::make_shared<std::vector<std::string>>();
  part_cmd->add_option("groups", *groups, "Two or more groups, each a comma-separated list of pods")
      ->required()
      ->expected(2, -1);
  part_cmd->add_option("--admin", *admin, kAdminHelp);
  part_cmd->callback([=, &exit_code] {
    json::array gs;
    for (const auto& g : *groups) {
      json::array names;
      for (const auto& n : split_commas(g)) {
        names.emplace_back(n);
      }
      gs.push_back(std::move(names));
    }
    json::object body;
    body["groups"] = std::move(gs);
    exit_code = post("partition", *admin, "/v1/partitions", body);
  });

  auto* heal_cmd = cmd.add_subcommand("heal", "Undo partitions: of the pods named, or all");
  auto heal_pods = std::make_shared<std::vector<std::string>>();
  heal_cmd->add_option("pods", *heal_pods, "Pods whose partitions end (default: every one)");
  heal_cmd->add_option("--admin", *admin, kAdminHelp);
  heal_cmd->callback([=, &exit_code] {
    json::object body;
    if (!heal_pods->empty()) {
      json::array names;
      for (const auto& n : *heal_pods) {
        names.emplace_back(n);
      }
      body["pods"] = std::move(names);
    }
    exit_code = post("heal", *admin, "/v1/partitions/heal", body);
  });

  auto* delay_cmd =
      cmd.add_subcommand("delay", "Delay (and drop) packets on a pod's link with netem");
  auto ms = std::make_shared<int>(0);
  auto jitter = std::make_shared<int>(0);
  auto loss = std::make_shared<double>(0);
  delay_cmd->add_option("pod", *pod_name, "Pod name")->required();
  in_range(delay_cmd
               ->add_option("--ms", *ms,
                            "Delay of every packet in and out, ms (0 with no --loss: remove)")
               ->required(),
           0, 600'000);
  in_range(delay_cmd->add_option("--jitter", *jitter, "Random variation of the delay, ms"), 0,
           600'000);
  in_range(delay_cmd->add_option("--loss", *loss, "Share of packets dropped, percent"), 0.0, 100.0);
  delay_cmd->add_option("--admin", *admin, kAdminHelp);
  delay_cmd->callback([=, &exit_code] {
    json::object body;
    body["ms"] = *ms;
    body["jitter_ms"] = *jitter;
    body["loss"] = *loss;
    exit_code = post("delay", *admin, "/v1/pods/" + *pod_name + "/delay", body);
  });
}

void add_exec_command(CLI::App& cmd, int& exit_code) {
  auto admin = std::make_shared<std::string>();
  auto pod_name = std::make_shared<std::string>();
  auto container = std::make_shared<std::string>();
  auto* exec_cmd = cmd.add_subcommand(
      "exec", "Run a command inside a pod's container: tender pod exec web-0 -- curl localhost");
  auto argv = std::make_shared<std::vector<std::string>>();
  exec_cmd->add_option("pod", *pod_name, "Pod name")->required();
  exec_cmd->add_option("-c,--container", *container, "Container (default: the first)");
  exec_cmd->add_option("--admin", *admin, kAdminHelp);
  auto as_root = std::make_shared<bool>(false);
  exec_cmd->add_flag("--root", *as_root,
                     "Run as root with every capability, not as the container's user");
  exec_cmd->add_option("command", *argv, "The command and its arguments, after --")->required();
  exec_cmd->callback([=, &exit_code] {
    json::value pod = get_json(admin_url(*admin), "/v1/pods/" + *pod_name);
    std::string c = *container;
    exit_code = exec_in(container_pid(pod, *pod_name, c), *argv, *as_root);
  });
}

}  // namespace

void add_fault_commands(CLI::App& cmd, int& exit_code) {
  add_signal_commands(cmd, exit_code);
  add_network_commands(cmd, exit_code);
  add_exec_command(cmd, exit_code);
}

}  // namespace tender::pod
