// The pod network of `tender pod run` (as root): a namespace and address per pod, names in
// /etc/hosts, hostPort, partitions, pause, and nothing left behind. Traffic stays inside the
// namespaces the runner makes, or on 127.0.0.1.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>

#include "network_support.hpp"
#include "support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

// Every network namespace something holds: any thread's, or an open fd's ("net:[INODE]").
std::set<std::string> all_netns(pid_t only = 0) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos ||
        (only != 0 && name != std::to_string(only))) {
      continue;
    }
    std::error_code ignored;
    for (const auto& t : fs::directory_iterator(e.path() / "task", ignored)) {
      auto target = fs::read_symlink(t.path() / "ns" / "net", ignored);
      if (!ignored) {
        out.insert(target.string());
      }
    }
    for (const auto& f : fs::directory_iterator(e.path() / "fd", ignored)) {
      auto target = fs::read_symlink(f.path(), ignored);
      if (!ignored && target.string().rfind("net:[", 0) == 0) {
        out.insert(target.string());
      }
    }
  }
  return out;
}

std::set<std::string> host_links() {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator("/sys/class/net")) {
    out.insert(e.path().filename().string());
  }
  return out;
}

std::string mounts() {
  std::ifstream in("/proc/self/mountinfo");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(NetworkTest, ReplicasBindTheSamePortAndAnswerOnTheirOwnAddress) {
  run(web_deployment(2, "") + R"Y(
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: sh
      command: ["sleep", "1000"]
)Y");
  wait_ready({"web-0", "web-1", "client"});
  std::string ip0 = ip("web-0");
  std::string ip1 = ip("web-1");
  EXPECT_NE(ip0, ip1);
  EXPECT_EQ(ip0.rfind("10.217.", 0), 0U) << ip0;
  for (const auto& [name, addr] : {std::pair{"web-0", ip0}, std::pair{"web-1", ip1}}) {
    RunResult r = curl("client", "http://" + addr + ":8080/");
    EXPECT_EQ(r.status.code, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("\"id\":\"") + name + "\""), std::string::npos) << r.out;
    // By name, through /etc/hosts.
    // And by the names a StatefulSet's pod has behind a headless Service on Kubernetes.
    for (const std::string& host : {std::string(name), std::string(name) + ".web",
                                    std::string(name) + ".web.default.svc.cluster.local"}) {
      RunResult by_name = curl("client", "http://" + host + ":8080/");
      EXPECT_EQ(by_name.status.code, 0) << host << ": " << by_name.err;
      EXPECT_NE(by_name.out.find(std::string("\"id\":\"") + name + "\""), std::string::npos)
          << by_name.out;
    }
  }
  // A bare pod has its own name only.
  EXPECT_NE(curl("client", "http://client.web:8080/").status.code, 0);
  auto st = json::parse(http(runner_->port("admin"), "GET", "/statusz").body);
  EXPECT_EQ(st.at("status").at("network").as_string(), "pod");
  EXPECT_EQ(st.at("status").at("gateway").as_string(), "10.217.0.1");
  // Each pod has its own host name.
  RunResult host = exec("web-1", {"hostname"});
  EXPECT_EQ(host.out, "web-1\n");
}

TEST_F(NetworkTest, LoopbackIsSharedWithinAPodOnly) {
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: server
      command: ["tender", "echo", "--listen", "127.0.0.1:7070", "--admin", "127.0.0.1:0",
                "--id", "private"]
      readinessProbe:
        exec: {command: ["curl", "-sf", "http://127.0.0.1:7070/"]}
        periodSeconds: 1
    - name: side
      command: ["sleep", "1000"]
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: sh
      command: ["sleep", "1000"]
)Y");
  wait_ready({"a", "b"});
  RunResult same = curl("a", "http://127.0.0.1:7070/", "side");
  EXPECT_EQ(same.status.code, 0) << same.err;
  EXPECT_NE(same.out.find("\"id\":\"private\""), std::string::npos) << same.out;
  RunResult code = exec("a", {"sh", "-c", "exit 3"}, "side");
  EXPECT_EQ(code.status.code, 3);
  RunResult missing = exec("a", {"no-such-command"});
  EXPECT_EQ(missing.status.code, 127) << missing.err;
  RunResult other = curl("b", "http://127.0.0.1:7070/");
  EXPECT_EQ(other.status.code, 7) << "curl should be refused: " << other.out << other.err;
  // Nor is it on the host's loopback.
  EXPECT_TRUE(connect_refused(7070));
}

TEST_F(NetworkTest, AReplicaReplacedWithinItsGracePeriodKeepsItsNetwork) {
  run(web_deployment(5, R"Y(
          lifecycle:
            preStop:
              exec: {command: ["sleep", "1"]})Y") +
      echo_pod("client"));
  wait_ready({"web-0", "web-1", "client"});
  ASSERT_EQ(cli({"pod", "scale", "web", "1"}).status.code, 0);
  ASSERT_EQ(cli({"pod", "scale", "web", "2"}).status.code, 0);  // web-1 is still stopping
  wait_ready({"web-1"});
  // Once the old web-1 is gone for good, the new one still has its address and its name.
  ASSERT_TRUE(eventually(
      [&] {
        auto all = json::parse(http(runner_->port("admin"), "GET", "/v1/pods").body);
        return all.at("pods").as_array().size() == 3;
      },
      20s));
  RunResult r = curl("client", "http://web-1:8080/");
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"id\":\"web-1\""), std::string::npos) << r.out;
  RunResult addr = exec("web-1", {"sh", "-c", "ip -o -4 addr show eth0 || hostname -i"});
  EXPECT_NE(addr.out.find(ip("web-1")), std::string::npos) << addr.out;
}

TEST_F(NetworkTest, HostPortReachesThePodFromTheHostLoopback) {
  std::uint16_t port = free_port();
  run(echo_pod("exposed", "\n          hostPort: " + std::to_string(port)));
  wait_ready({"exposed"});
  HttpResult r = http(port, "GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"id\":\"exposed\""), std::string::npos) << r.body;
  runner_->signal(SIGTERM);
  ASSERT_TRUE(runner_->wait_exit(20s));
  EXPECT_TRUE(connect_refused(port));
}

TEST_F(NetworkTest, PartitionCutsTwoPodsApartAndHealJoinsThem) {
  run(echo_pod("a") + echo_pod("b") + echo_pod("c"));
  wait_ready({"a", "b", "c"});
  // Stateless: the rules without their counters, which this machine's own traffic moves.
  RunResult before = run_command({"nft", "--stateless", "list", "ruleset"});
  ASSERT_EQ(cli({"pod", "partition", "a", "b"}).status.code, 0);
  RunResult ab = curl("a", "http://b:8080/");
  EXPECT_EQ(ab.status.code, 28) << "a must not reach b: " << ab.out << ab.err;
  RunResult ba = curl("b", "http://a:8080/");
  EXPECT_EQ(ba.status.code, 28) << "b must not reach a: " << ba.out << ba.err;
  EXPECT_EQ(curl("a", "http://c:8080/").status.code, 0);
  EXPECT_EQ(curl("b", "http://c:8080/").status.code, 0);
  EXPECT_EQ(curl("c", "http://a:8080/").status.code, 0);
  // Nothing outside the runner's namespaces changed.
  EXPECT_EQ(run_command({"nft", "--stateless", "list", "ruleset"}).out, before.out);
  auto parts = json::parse(http(runner_->port("admin"), "GET", "/v1/partitions").body);
  EXPECT_EQ(json::serialize(parts.at("cut")), R"([["a","b"]])");

  ASSERT_EQ(cli({"pod", "heal"}).status.code, 0);
  RunResult healed = curl("a", "http://b:8080/");
  EXPECT_EQ(healed.status.code, 0) << healed.err;
  EXPECT_NE(healed.out.find("\"id\":\"b\""), std::string::npos);

  // Bad input: an unknown pod, a single group.
  RunResult unknown = cli({"pod", "partition", "a", "nope"});
  EXPECT_EQ(unknown.status.code, 2);
  EXPECT_NE(unknown.err.find("no pod named nope"), std::string::npos) << unknown.err;
  EXPECT_EQ(
      http(runner_->port("admin"), "POST", "/v1/partitions", {}, R"({"groups":[["a"]]})").status,
      400);
}

// The state letter of /proc/PID/stat ('T' when stopped), or 0.
char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() ? 0 : line[close + 2];
}

// Host pids of the processes named `comm` in the PID namespace of `pid`.
std::vector<pid_t> in_pid_namespace(pid_t pid, const std::string& comm) {
  std::vector<pid_t> out;
  std::error_code ec;
  auto ns = fs::read_symlink("/proc/" + std::to_string(pid) + "/ns/pid", ec);
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::error_code ignored;
    if (fs::read_symlink(e.path() / "ns" / "pid", ignored) != ns) {
      continue;
    }
    std::ifstream c(e.path() / "comm");
    std::string got;
    std::getline(c, got);
    if (got == comm) {
      out.push_back(static_cast<pid_t>(std::stoi(name)));
    }
  }
  return out;
}

TEST_F(NetworkTest, PauseFreezesAPodAndResumeThawsIt) {
  // The server also starts a process in a session of its own, which a process-group signal
  // would miss.
  run(R"Y(
apiVersion: v1
kind: Pod
metadata: {name: frozen}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: web
      command: ["sh", "-c", "setsid sleep 1000 & exec tender echo --listen 0.0.0.0:8080 --admin 127.0.0.1:0 --id frozen"]
      readinessProbe:
        httpGet: {path: /, port: 8080}
        periodSeconds: 1
---
)Y" + echo_pod("client"));
  wait_ready({"frozen", "client"});
  ASSERT_EQ(curl("client", "http://frozen:8080/").status.code, 0);
  pid_t pid = static_cast<pid_t>(pod("frozen").at("containers").at(0).at("pid").as_int64());
  auto sleeps = in_pid_namespace(pid, "sleep");
  ASSERT_EQ(sleeps.size(), 1U);
  RunResult paused = cli({"pod", "pause", "frozen"});
  ASSERT_EQ(paused.status.code, 0) << paused.err;
  EXPECT_TRUE(pod("frozen").at("paused").as_bool());
  EXPECT_EQ(curl("client", "http://frozen:8080/").status.code, 28);
  EXPECT_EQ(proc_state(pid), 'T');
  EXPECT_EQ(proc_state(sleeps[0]), 'T');
  ASSERT_EQ(cli({"pod", "resume", "frozen"}).status.code, 0);
  RunResult thawed = curl("client", "http://frozen:8080/");
  EXPECT_EQ(thawed.status.code, 0) << thawed.err;
  EXPECT_FALSE(pod("frozen").at("paused").as_bool());
  EXPECT_NE(proc_state(sleeps[0]), 'T');
  // A paused pod still stops at once: SIGTERM is not left pending behind SIGSTOP.
  ASSERT_EQ(cli({"pod", "pause", "frozen"}).status.code, 0);
  runner_->signal(SIGTERM);
  auto st = runner_->wait_exit(10s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->success()) << st->describe();
}

TEST_F(NetworkTest, KillRestartsAPodsContainers) {
  run(echo_pod("victim"));
  wait_ready({"victim"});
  RunResult r = cli({"pod", "kill", "victim"});
  ASSERT_EQ(r.status.code, 0) << r.err;
  ASSERT_TRUE(eventually(
      [&] {
        json::value p = pod("victim");
        return p.at("containers").at(0).at("restartCount").as_int64() >= 1;
      },
      30s));
  EXPECT_EQ(cli({"pod", "kill", "victim", "-c", "nope"}).status.code, 2);
  EXPECT_EQ(cli({"pod", "kill", "victim", "--signal", "BOGUS"}).status.code, 2);
}

TEST_F(NetworkTest, DelayNeedsNetemAndSaysSo) {
  run(echo_pod("slow"));
  wait_ready({"slow"});
  RunResult r = cli({"pod", "delay", "slow", "--ms", "50"});
  if (r.status.code == 0) {
    EXPECT_EQ(pod("slow").at("delay").as_string(), "50ms");
    EXPECT_EQ(cli({"pod", "delay", "slow", "--ms", "0"}).status.code, 0);
    EXPECT_FALSE(pod("slow").as_object().contains("delay"));
  } else {
    EXPECT_EQ(r.status.code, 1);
    EXPECT_NE(r.err.find("netem is not available"), std::string::npos) << r.err;
  }
  EXPECT_EQ(cli({"pod", "delay", "nope", "--ms", "5"}).status.code, 2);
}

TEST_F(NetworkTest, NothingIsLeftBehindAfterExitOrSigkill) {
  std::uint16_t port = free_port();
  std::string manifest = echo_pod("left", "\n          hostPort: " + std::to_string(port));
  auto links = host_links();
  auto mounts_before = mounts();
  for (int sig : {SIGTERM, SIGKILL}) {
    run(manifest);
    wait_ready({"left"});
    std::string pod_ns =
        fs::read_symlink("/proc/" +
                         std::to_string(pod("left").at("containers").at(0).at("pid").as_int64()) +
                         "/ns/net")
            .string();
    ASSERT_EQ(all_netns().count(pod_ns), 1U);
    // The runner's own: the run namespace with the bridge (its supervisor thread is in it, and
    // it holds fds of it and of every pod's).
    auto held = all_netns(runner_->pid());
    held.erase(fs::read_symlink("/proc/self/ns/net").string());
    ASSERT_GE(held.size(), 2U) << "expected the run namespace and the pod's";
    EXPECT_EQ(http(port, "GET", "/").status, 200);
    runner_->signal(sig);
    ASSERT_TRUE(runner_->wait_exit(20s));
    EXPECT_TRUE(eventually([&] {
      auto now = all_netns();
      for (const auto& ns : held) {
        if (now.count(ns) != 0) {
          return false;
        }
      }
      return now.count(pod_ns) == 0;
    })) << "a namespace of the run outlived the runner (signal "
        << sig << ")";
    EXPECT_EQ(host_links(), links);
    EXPECT_EQ(mounts(), mounts_before);
    EXPECT_TRUE(connect_refused(port));
    runner_.reset();
  }
  // The next run in the same directory cleans up after the killed one, and works.
  run(manifest);
  wait_ready({"left"});
  EXPECT_NE(runner_->stderr_text().find("cleaned up after a runner"), std::string::npos)
      << runner_->stderr_text();
  EXPECT_EQ(http(port, "GET", "/").status, 200);
}

TEST_F(NetworkTest, WithoutRootPodsRunOnTheHostNetworkWithAWarning) {
  // A copy of the binary and a run directory that the unprivileged user can use.
  TempDir open_dir;
  ::chmod(open_dir.path().c_str(), 0777);
  std::string bin = open_dir.path() + "/tender";
  fs::copy_file(TENDER_BINARY, bin);
  ::chmod(bin.c_str(), 0755);
  std::uint16_t port = free_port();
  std::string file = open_dir.write("pod.yaml", R"Y(
apiVersion: v1
kind: Pod
metadata: {name: plain}
spec:
  containers:
    - name: web
      command: [")Y" + bin + R"Y(", "echo", "--listen", "127.0.0.1:)Y" +
                                                    std::to_string(port) + R"Y(",
                "--admin", "127.0.0.1:0"]
)Y");
  ::chmod(file.c_str(), 0644);
  Tender runner({"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view", "--run-dir",
                 open_dir.path() + "/run"},
                {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin});
  ASSERT_TRUE(eventually([&] { return http(port, "GET", "/").status == 200; }, 20s))
      << runner.stderr_text();
  EXPECT_NE(runner.stderr_text().find("not running as root: no pod network"), std::string::npos)
      << runner.stderr_text();
  auto st = json::parse(http(runner.port("admin"), "GET", "/statusz").body);
  EXPECT_EQ(st.at("status").at("network").as_string(), "host");
  EXPECT_EQ(
      http(runner.port("admin"), "POST", "/v1/partitions", {}, R"({"groups":[["plain"],["x"]]})")
          .status,
      409);
}

}  // namespace
}  // namespace tender::testing
