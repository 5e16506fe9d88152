// The fencing run of `tender elect` under `tender pod` (as root, so that partitions are real):
// three etcd members, three electors and the checker store (tests/elect_store.py), each a pod,
// each a host of its own. The electors' --exec children write to the store with their term's
// token while at least 100 randomised faults hit the pods. What must hold is in
// elect_fencing.hpp; the seed is printed, TENDER_ELECT_SEED=N replays a run's schedule.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <boost/json.hpp>
#include <random>
#include <thread>

#include "elect_fencing.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;

std::string etcd_pod(const std::string& name, const std::string& data_dir) {
  return R"Y(
apiVersion: v1
kind: Pod
metadata: {name: )Y" +
         name + R"Y(}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: etcd
      command: ["etcd", "--name", ")Y" +
         name + R"Y(", "--data-dir", ")Y" + data_dir + "/" + name + R"Y(.etcd",
                "--listen-client-urls", "http://0.0.0.0:2379",
                "--advertise-client-urls", "http://)Y" +
         name + R"Y(:2379",
                "--listen-peer-urls", "http://0.0.0.0:2380",
                "--initial-advertise-peer-urls", "http://)Y" +
         name + R"Y(:2380",
                "--initial-cluster", "e0=http://e0:2380,e1=http://e1:2380,e2=http://e2:2380",
                "--initial-cluster-state", "new", "--initial-cluster-token", "fence",
                "--heartbeat-interval", "50", "--election-timeout", "500", "--pre-vote",
                "--log-level", "warn"]
---
)Y";
}

std::string elector_pod(const std::string& name, std::uint16_t host_port) {
  return R"Y(
apiVersion: v1
kind: Pod
metadata: {name: )Y" +
         name + R"Y(}
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: elect
      command: [")Y" +
         std::string(TENDER_BINARY) + R"Y(", "elect", "--election", "fence",
                "--backend", "etcd://e0:2379,e1:2379,e2:2379", "--ttl", "1s",
                "--listen", "0.0.0.0:4040", "--admin", "127.0.0.1:9900",
                "--exec", "--exec-grace", "1s", "--", ")Y" +
         python() + R"Y(", ")Y" + std::string(TENDER_TESTS_DIR) +
         R"Y(/elect_writer.py", "http://store:8080"]
      ports:
        - {containerPort: 4040, hostPort: )Y" +
         std::to_string(host_port) + R"Y(}
---
)Y";
}

std::string store_pod(std::uint16_t host_port) {
  return R"Y(
apiVersion: v1
kind: Pod
metadata: {name: store}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: store
      command: [")Y" +
         python() + R"Y(", "-u", ")Y" + std::string(TENDER_TESTS_DIR) +
         R"Y(/elect_store.py", "--listen", "0.0.0.0:8080"]
      ports:
        - {containerPort: 8080, hostPort: )Y" +
         std::to_string(host_port) + R"Y(}
)Y";
}

// The faults of the pod run, injected through the runner's admin API (what `tender pod kill`,
// `pause`, `resume`, `partition`, `heal` and a container's signal do): an elector pod killed,
// paused whole (resumed 0.3-2.5 s later), its elector process alone stopped while its command
// runs on (a long GC pause; SIGCONT 0.3-2.5 s later), or the pod cut off from every other pod
// but the store (healed 0.3-3.5 s later); or an etcd member killed (the runner restarts it; at
// most one every 2 s, so that a quorum is mostly there). Half of the elector faults hit the
// leader, and at most two electors are under a fault at once, so that one can always lead.
class PodFaults {
 public:
  PodFaults(std::uint16_t admin, std::vector<std::string> electors,
            std::vector<std::string> members, std::uint32_t seed, const Observer& observer)
      : admin_(admin),
        electors_(std::move(electors)),
        members_(std::move(members)),
        rng_(seed),
        observer_(observer),
        held_(electors_.size()) {}

  // Injects one fault of a kind drawn at random, then waits a random 50-700 ms (the schedule,
  // not a synchronisation). Undoes the pauses and cuts whose time has come.
  void step() {
    undo_due(false);
    auto kind = static_cast<Kind>(pick_kind_(rng_));
    int status = kind == kEtcdKill ? kill_member() : elector_fault(kind);
    if (status / 100 == 2) {
      ++faults_;
      ++done_[kNames[kind]];
    } else {  // 409: nothing runs there now (a container in its restart backoff)
      ++done_[std::string(kNames[kind]) + " answered " + std::to_string(status)];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(between(50, 700)));
  }
  // Resumes and heals whatever is due, or everything.
  void undo_due(bool all) {
    for (std::size_t i = 0; i < electors_.size(); ++i) {
      if (!held_[i] || (!all && Steady::now() < held_[i]->until)) {
        continue;
      }
      const std::string& pod = electors_[i];
      int status = 0;
      if (held_[i]->kind == kPause) {
        status = post("/v1/pods/" + pod + "/resume", "{}");
      } else if (held_[i]->kind == kStop) {
        status = post("/v1/pods/" + pod + "/containers/elect/signal?signal=CONT", "");
      } else {
        status = post("/v1/partitions/heal", R"({"pods":[")" + pod + R"("]})");
      }
      EXPECT_EQ(status / 100, 2) << kNames[held_[i]->kind] << " of " << pod << " not undone";
      held_[i].reset();
    }
  }
  [[nodiscard]] int faults() const { return faults_; }
  [[nodiscard]] std::string summary() const {
    std::string out;
    for (const auto& [what, n] : done_) {
      out += "[ fencing ] " + std::to_string(n) + " x " + what + "\n";
    }
    return out;
  }

 private:
  enum Kind { kKill, kPause, kStop, kCut, kEtcdKill };
  static constexpr std::array<const char*, 5> kNames = {"elector pod kill", "elector pod pause",
                                                        "elector process SIGSTOP",
                                                        "elector partition", "etcd member kill"};
  struct Held {
    Kind kind;
    Steady::time_point until;
  };

  int between(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  int post(const std::string& target, const std::string& body) const {
    return http(admin_, "POST", target, {{"Content-Type", "application/json"}}, body).status;
  }

  int kill_member() {
    while (Steady::now() < etcd_quiet_until_) {
      std::this_thread::sleep_for(20ms);  // until the last member killed may be back
      undo_due(false);
    }
    etcd_quiet_until_ = Steady::now() + 2s;
    const std::string& m = members_[static_cast<std::size_t>(between(0, 2))];
    return post("/v1/pods/" + m + "/kill", R"({"signal":"KILL"})");
  }

  // The electors under no fault now.
  [[nodiscard]] std::vector<std::size_t> unheld() const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < electors_.size(); ++i) {
      if (!held_[i]) {
        out.push_back(i);
      }
    }
    return out;
  }

  int elector_fault(Kind kind) {
    std::vector<std::size_t> free = unheld();
    while (free.size() < 2) {
      std::this_thread::sleep_for(20ms);  // until an undo comes due
      undo_due(false);
      free = unheld();
    }
    std::size_t target =
        free[static_cast<std::size_t>(between(0, static_cast<int>(free.size()) - 1))];
    if (between(0, 1) == 0) {
      for (std::size_t i : free) {
        if (electors_[i] == observer_.last_leader()) {
          target = i;
        }
      }
    }
    const std::string& pod = electors_[target];
    auto until = Steady::now() + std::chrono::milliseconds(between(300, 2500));
    int status = 0;
    switch (kind) {
      case kKill:
        return post("/v1/pods/" + pod + "/kill", R"({"signal":"KILL"})");
      case kPause:
        status = post("/v1/pods/" + pod + "/pause", "{}");
        break;
      case kStop:
        status = post("/v1/pods/" + pod + "/containers/elect/signal?signal=STOP", "");
        break;
      default:
        status = cut_off(pod);
        until += std::chrono::milliseconds(between(0, 1000));
        break;
    }
    if (status / 100 == 2) {
      held_[target] = Held{kind, until};
    }
    return status;
  }

  // Cuts `pod` off from every other pod of the run but the store.
  int cut_off(const std::string& pod) const {
    json::array others;
    for (const auto& p : members_) {
      others.emplace_back(p);
    }
    for (const auto& p : electors_) {
      if (p != pod) {
        others.emplace_back(p);
      }
    }
    json::object groups{{"groups", json::array{json::array{json::string(pod)}, others}}};
    return post("/v1/partitions", json::serialize(groups));
  }

  const std::uint16_t admin_;
  const std::vector<std::string> electors_;
  const std::vector<std::string> members_;
  std::mt19937 rng_;
  const Observer& observer_;
  std::discrete_distribution<int> pick_kind_{2, 2, 2, 3, 1};  // etcd member kills: 1 in 10
  std::vector<std::optional<Held>> held_;
  Steady::time_point etcd_quiet_until_{};
  std::map<std::string, int> done_;
  int faults_ = 0;
};

TEST(ElectFencing, PodsOnEtcdUnderRandomKillsPausesAndPartitions) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "partitions need the pod network, which needs root";
  }
  const std::uint32_t run_seed = seed();
  std::cout << "[ fencing ] TENDER_ELECT_SEED=" << run_seed << std::endl;
  TempDir dir;
  const std::vector<std::string> ids = {"p0", "p1", "p2"};
  const std::vector<std::string> members = {"e0", "e1", "e2"};
  std::vector<std::uint16_t> ports;
  std::string manifest;
  for (const auto& m : members) {
    manifest += etcd_pod(m, dir.path());
  }
  for (const auto& id : ids) {
    ports.push_back(free_port());
    manifest += elector_pod(id, ports.back());
  }
  std::uint16_t store_port = free_port();
  manifest += store_pod(store_port);
  Tender runner({"pod", "run", dir.write("fence.yaml", manifest), "--admin", "127.0.0.1:0",
                 "--no-log-view", "--run-dir", dir.path() + "/run", "--restart-backoff",
                 "100ms:1s"});
  auto logs = [&] {
    std::string out;
    for (const auto& p : ids) {
      out += "\n--- " + p + "\n" + slurp(dir.path() + "/run/pods/" + p + "/logs/elect.log");
    }
    return out;
  };

  Observer observer(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    observer.set_port(i, ports[i]);
  }
  ASSERT_TRUE(wait_agreed(ports, 0, 90s)) << describe(ports) << logs();
  PodFaults faults(runner.port("admin"), ids, members, run_seed, observer);
  while (faults.faults() < 100) {
    faults.step();
  }
  faults.undo_due(true);
  std::cout << faults.summary() << std::flush;

  auto final_leader = wait_agreed(ports, 0, 60s);
  ASSERT_TRUE(final_leader) << "seed " << run_seed << describe(ports) << logs();
  EXPECT_TRUE(wrote_accepted(store_port, *final_leader))
      << "the last leader's command wrote nothing accepted; seed " << run_seed;
  observer.stop();
  check_run(observer.observations(), ids, fence_log(store_port), *final_leader, run_seed);
  if (HasFailure()) {
    std::cout << logs();
  }
  runner.signal(SIGTERM);
  EXPECT_TRUE(runner.wait_exit(30s));
}

}  // namespace
}  // namespace tender::testing
