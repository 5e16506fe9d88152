// The fencing runs of `tender elect`: three electors whose --exec children write to a checker
// store (tests/elect_store.py) with their term's token, under randomised faults (seeded; the seed
// is printed, and TENDER_ELECT_SEED=N replays one). On one machine with the file backend, and,
// as root, under `tender pod` with a 3-member etcd in pods, so that partitions are real.
//
// What must hold, whatever the faults:
// - the store never accepted a write whose token is below one it accepted before, and no token
//   was ever used by two replicas (the checker's own log);
// - no token is ever named with two leaders, a replica claims only terms under its own id, no
//   replica's view of the token goes back, and a term is never claimed after a larger one was
//   (the electors' own answers, polled throughout);
// - once the faults stop, there is a leader again and its command's writes are accepted.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/units.hpp"
#include "elect_support.hpp"

namespace tender::testing {
namespace {

namespace json = boost::json;
using Steady = std::chrono::steady_clock;

// The python interpreter, as a path (pods run commands without a shell and without pyenv's
// shims in mind).
std::string python() {
  static const std::string path = [] {
    RunResult r = run_command({"python3", "-c", "import sys; print(sys.executable)"});
    std::string p = r.out.substr(0, r.out.find('\n'));
    return p.empty() ? std::string("/usr/bin/python3") : p;
  }();
  return path;
}

std::uint32_t seed() {
  if (const char* s = std::getenv("TENDER_ELECT_SEED"); s != nullptr && *s != '\0') {
    return static_cast<std::uint32_t>(std::strtoul(s, nullptr, 10));
  }
  return std::random_device{}();
}

struct Observation {
  std::size_t elector = 0;
  LeaderView view;
  Steady::time_point sent;
  Steady::time_point received;
};

// Polls every elector's /v1/leader from a thread of its own (a paused one holds up only its
// own), recording each answer with when the request left and when the answer came.
class Observer {
 public:
  explicit Observer(std::size_t n) : ports_(n) {
    for (std::size_t i = 0; i < n; ++i) {
      threads_.emplace_back([this, i] { poll(i); });
    }
  }
  ~Observer() { stop(); }
  Observer(const Observer&) = delete;
  Observer& operator=(const Observer&) = delete;

  void set_port(std::size_t i, std::uint16_t port) { ports_[i] = port; }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) {
        t.join();
      }
    }
  }
  [[nodiscard]] std::vector<Observation> observations() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  // The leader seen last, by any elector ("" if none yet).
  [[nodiscard]] std::string last_leader() const {
    std::lock_guard lock(mu_);
    for (auto it = seen_.rbegin(); it != seen_.rend(); ++it) {
      if (!it->view.name.empty()) {
        return it->view.name;
      }
    }
    return "";
  }

 private:
  void poll(std::size_t i) {
    while (!stop_) {
      std::uint16_t port = ports_[i];
      if (port != 0) {
        Observation o{i, {}, Steady::now(), {}};
        o.view = leader_view(port, 500ms);
        o.received = Steady::now();
        if (o.view.ok) {
          std::lock_guard lock(mu_);
          seen_.push_back(o);
        }
      }
      std::this_thread::sleep_for(20ms);  // pacing, not synchronisation
    }
  }

  std::vector<std::atomic<std::uint16_t>> ports_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Observation> seen_;
  std::vector<std::thread> threads_;
};

// The electors' answers against the safety rules (`ids[i]` is elector i's --id); empty when
// they hold. `owners` gets the leader named for each token.
std::string observation_violations(const std::vector<Observation>& seen,
                                   const std::vector<std::string>& ids,
                                   std::map<std::uint64_t, std::string>& owners) {
  std::string out;
  struct Named {
    std::uint64_t token = 0;
    std::string name;
    Steady::time_point when;
  };
  std::vector<Named> last(ids.size());
  std::vector<bool> went_back(ids.size(), false);
  // Times as wall-clock "HH:MM:SS.mmm", to compare with the electors' logs.
  auto at = [](Steady::time_point t) {
    auto wall = std::chrono::system_clock::now() -
                std::chrono::duration_cast<std::chrono::system_clock::duration>(Steady::now() - t);
    std::string s = format_utc(wall, true);
    return s.substr(11, 12);
  };
  struct Claims {
    Steady::time_point first_received = Steady::time_point::max();
    Steady::time_point last_sent = Steady::time_point::min();
  };
  std::map<std::uint64_t, Claims> claims;
  for (const Observation& o : seen) {
    const LeaderView& v = o.view;
    const std::string& who = ids[o.elector];
    if (v.self && v.name != who) {
      out += "\n  " + who + " says self=true for leader " + v.name + " at " + at(o.received);
    }
    if (v.token == 0) {
      continue;
    }
    auto [it, fresh] = owners.emplace(v.token, v.name);
    if (!fresh && it->second != v.name) {
      out += "\n  token " + std::to_string(v.token) + " named with " + it->second + " and " +
             v.name + " (by " + who + " at " + at(o.received) + ")";
    }
    if (v.token < last[o.elector].token && !went_back[o.elector]) {
      went_back[o.elector] = true;  // once per elector: the rest follows from it
      out += "\n  " + who + " named " + v.name + " (token " + std::to_string(v.token) + ") at " +
             at(o.received) + " after naming " + last[o.elector].name + " (token " +
             std::to_string(last[o.elector].token) + ") at " + at(last[o.elector].when);
    }
    if (v.token > last[o.elector].token) {
      last[o.elector] = {v.token, v.name, o.received};
    }
    if (v.self) {
      Claims& c = claims[v.token];
      c.first_received = std::min(c.first_received, o.received);
      c.last_sent = std::max(c.last_sent, o.sent);
    }
  }
  for (const auto& [low, lc] : claims) {
    for (const auto& [high, hc] : claims) {
      // The larger term was claimed (answered) before the smaller one was still claimed (asked).
      if (high > low && hc.first_received < lc.last_sent) {
        out += "\n  token " + std::to_string(low) + " claimed after token " + std::to_string(high) +
               " was";
      }
    }
  }
  return out;
}

// Every check on a finished run; `final_leader` is the leader agreed at the end.
void check_run(const std::vector<Observation>& seen, const std::vector<std::string>& ids,
               const std::vector<Write>& log, const Agreed& final_leader, std::uint32_t run_seed) {
  std::map<std::uint64_t, std::string> owners;
  std::string bad = observation_violations(seen, ids, owners);
  EXPECT_EQ(bad, "") << "seed " << run_seed;
  EXPECT_EQ(fencing_violations(log), "") << "seed " << run_seed;
  std::size_t accepted = 0;
  std::size_t refused = 0;
  std::set<std::uint64_t> tokens;
  for (const Write& w : log) {
    (w.accepted ? accepted : refused) += 1;
    tokens.insert(w.token);
    auto it = owners.find(w.token);
    EXPECT_TRUE(it == owners.end() || it->second == w.id)
        << "seed " << run_seed << ": token " << w.token << " written by " << w.id << " but led by "
        << it->second;
  }
  std::size_t selves = 0;
  for (const Observation& o : seen) {
    selves += o.view.self ? 1 : 0;
  }
  // Each elector is asked as often as the others, so this is about the share of the run
  // during which some replica led.
  double led = seen.empty() ? 0.0
                            : 100.0 * static_cast<double>(selves * ids.size()) /
                                  static_cast<double>(seen.size());
  std::cout << "[ fencing ] seed " << run_seed << ": " << seen.size() << " answers, "
            << owners.size() << " terms seen, a leader ~" << static_cast<int>(led)
            << "% of the time, " << log.size() << " writes (" << accepted << " accepted, "
            << refused << " refused) by " << tokens.size() << " terms; final leader "
            << final_leader.name << " token " << final_leader.token << std::endl;
  EXPECT_GT(accepted, 0U);
}

// --- one machine, the file backend ----------------------------------------------------------

TEST(ElectFencing, FileBackendUnderRandomKillsPausesAndTerms) {
  const std::uint32_t run_seed = seed();
  std::cout << "[ fencing ] TENDER_ELECT_SEED=" << run_seed << std::endl;
  std::mt19937 rng(run_seed);
  auto between = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  TempDir dir;
  Tender store = start_store();
  std::uint16_t store_port = store.port("listen");
  std::string url = "file:" + dir.path() + "/leader.lock";
  std::vector<std::string> exec = {"--exec",
                                   "--exec-grace",
                                   "1s",
                                   "--",
                                   python(),
                                   std::string(TENDER_TESTS_DIR) + "/elect_writer.py",
                                   "http://127.0.0.1:" + std::to_string(store_port)};
  const std::vector<std::string> ids = {"e0", "e1", "e2"};
  std::vector<std::unique_ptr<Tender>> electors(ids.size());
  Observer observer(ids.size());
  auto launch = [&](std::size_t i) {
    electors[i] = start_elector(ids[i], url, exec);
    observer.set_port(i, electors[i]->port("listen"));
  };
  for (std::size_t i = 0; i < ids.size(); ++i) {
    launch(i);
  }
  ASSERT_TRUE(wait_agreed(live(electors))) << describe(live(electors));

  // Faults: SIGKILL or SIGTERM (restarted at once, as a supervisor would) or SIGSTOP (SIGCONT
  // 0.3-2.5 s later: past the ttl of 1 s, or not). Half of them hit the leader.
  std::vector<std::optional<Steady::time_point>> paused_until(ids.size());
  int faults = 0;
  while (faults < 30) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (paused_until[i] && Steady::now() >= *paused_until[i]) {
        electors[i]->signal(SIGCONT);
        paused_until[i].reset();
      }
    }
    std::size_t target = static_cast<std::size_t>(between(0, 2));
    if (between(0, 1) == 0) {
      for (std::size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] == observer.last_leader()) {
          target = i;
        }
      }
    }
    if (!paused_until[target]) {
      int kind = between(0, 2);
      if (kind == 0) {
        electors[target]->signal(SIGKILL);
        ASSERT_TRUE(electors[target]->wait_exit());
        launch(target);
      } else if (kind == 1) {
        electors[target]->signal(SIGTERM);
        auto st = electors[target]->wait_exit(15s);
        ASSERT_TRUE(st) << ids[target] << " did not exit on SIGTERM";
        EXPECT_TRUE(st->success()) << st->describe() << "\n" << electors[target]->stderr_text();
        launch(target);
      } else {
        electors[target]->signal(SIGSTOP);
        paused_until[target] = Steady::now() + std::chrono::milliseconds(between(300, 2500));
      }
      ++faults;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(between(50, 800)));  // the schedule
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (paused_until[i]) {
      electors[i]->signal(SIGCONT);
    }
  }

  auto final_leader = wait_agreed(live(electors));
  ASSERT_TRUE(final_leader) << "seed " << run_seed << describe(live(electors));
  EXPECT_TRUE(eventually([&] {
    for (const Write& w : fence_log(store_port)) {
      if (w.accepted && w.token == final_leader->token && w.id == final_leader->name) {
        return true;
      }
    }
    return false;
  })) << "the last leader's command wrote nothing accepted; seed "
      << run_seed;
  observer.stop();
  check_run(observer.observations(), ids, fence_log(store_port), *final_leader, run_seed);
}

// --- pods: etcd members, electors and the checker, each a host of its own --------------------

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

TEST(ElectFencing, PodsOnEtcdUnderRandomKillsPausesAndPartitions) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "partitions need the pod network, which needs root";
  }
  const std::uint32_t run_seed = seed();
  std::cout << "[ fencing ] TENDER_ELECT_SEED=" << run_seed << std::endl;
  std::mt19937 rng(run_seed);
  auto between = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

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
  std::string file = dir.write("fence.yaml", manifest);
  Tender runner({"pod", "run", file, "--admin", "127.0.0.1:0", "--no-log-view", "--run-dir",
                 dir.path() + "/run", "--restart-backoff", "100ms:1s"});
  const std::uint16_t admin = runner.port("admin");
  auto post = [&](const std::string& target, const std::string& body) {
    return http(admin, "POST", target, {{"Content-Type", "application/json"}}, body).status;
  };
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
  auto first = wait_agreed(ports, 0, 90s);
  ASSERT_TRUE(first) << describe(ports) << logs();

  // Faults, one every 50-700 ms: an elector pod killed, paused whole (resumed 0.3-3 s later),
  // its elector process alone stopped while its command runs on (a long GC pause; SIGCONT
  // 0.3-3 s later), or the pod cut off from every other pod but the store (healed 0.3-4 s
  // later); or an etcd member killed (the runner restarts it). Half of the elector faults hit
  // the leader.
  enum Kind { kKill, kPause, kStop, kCut, kEtcdKill };
  const std::vector<std::string> kind_names = {"elector pod kill", "elector pod pause",
                                               "elector process SIGSTOP", "elector partition",
                                               "etcd member kill"};
  std::discrete_distribution<int> pick_kind({2, 2, 2, 3, 1});  // etcd kills: 1 in 10
  struct Held {
    Kind kind;
    Steady::time_point until;
  };
  std::vector<std::optional<Held>> held(ids.size());
  std::map<std::string, int> done;
  int faults = 0;
  Steady::time_point etcd_quiet_until{};
  auto undo_due = [&](bool all) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!held[i] || (!all && Steady::now() < held[i]->until)) {
        continue;
      }
      int status = 0;
      if (held[i]->kind == kPause) {
        status = post("/v1/pods/" + ids[i] + "/resume", "{}");
      } else if (held[i]->kind == kStop) {
        status = post("/v1/pods/" + ids[i] + "/containers/elect/signal?signal=CONT", "");
      } else {
        status = post("/v1/partitions/heal", R"({"pods":[")" + ids[i] + R"("]})");
      }
      EXPECT_EQ(status / 100, 2) << kind_names[held[i]->kind] << " of " << ids[i] << " not undone";
      held[i].reset();
    }
  };
  auto cut_off = [&](const std::string& pod) {
    json::array others;
    for (const auto& p : members) {
      others.emplace_back(p);
    }
    for (const auto& p : ids) {
      if (p != pod) {
        others.emplace_back(p);
      }
    }
    json::object groups{{"groups", json::array{json::array{json::string(pod)}, others}}};
    return post("/v1/partitions", json::serialize(groups));
  };
  while (faults < 100) {
    undo_due(false);
    auto kind = static_cast<Kind>(pick_kind(rng));
    int status = 0;
    if (kind == kEtcdKill) {
      while (Steady::now() < etcd_quiet_until) {
        undo_due(false);
        std::this_thread::sleep_for(20ms);  // the last member killed may not be back yet
      }
      std::string m = members[static_cast<std::size_t>(between(0, 2))];
      status = post("/v1/pods/" + m + "/kill", R"({"signal":"KILL"})");
      etcd_quiet_until = Steady::now() + 2s;
    } else {
      // The leader, or another elector, among those under no fault now. At most two are
      // under a fault at once, so that one can always lead.
      auto unheld = [&] {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < ids.size(); ++i) {
          if (!held[i]) {
            out.push_back(i);
          }
        }
        return out;
      };
      std::vector<std::size_t> free = unheld();
      while (free.size() < 2) {
        std::this_thread::sleep_for(20ms);  // until an undo comes due
        undo_due(false);
        free = unheld();
      }
      std::optional<std::size_t> leader;
      for (std::size_t i : free) {
        if (ids[i] == observer.last_leader()) {
          leader = i;
        }
      }
      std::size_t target =
          free[static_cast<std::size_t>(between(0, static_cast<int>(free.size()) - 1))];
      if (leader && between(0, 1) == 0) {
        target = *leader;
      }
      const std::string& pod = ids[target];
      auto until = Steady::now() + std::chrono::milliseconds(between(300, 2500));
      switch (kind) {
        case kKill:
          status = post("/v1/pods/" + pod + "/kill", R"({"signal":"KILL"})");
          break;
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
      if (kind != kKill && status / 100 == 2) {
        held[target] = Held{kind, until};
      }
    }
    if (status / 100 == 2) {  // 409: nothing running (a container in its restart backoff)
      ++faults;
      ++done[kind_names[kind]];
    } else {
      ++done[kind_names[kind] + " refused (" + std::to_string(status) + ")"];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(between(50, 700)));  // the schedule
  }
  undo_due(true);
  for (const auto& [what, n] : done) {
    std::cout << "[ fencing ] " << n << " x " << what << std::endl;
  }

  auto final_leader = wait_agreed(ports, 0, 60s);
  ASSERT_TRUE(final_leader) << "seed " << run_seed << describe(ports) << logs();
  EXPECT_TRUE(eventually(
      [&] {
        for (const Write& w : fence_log(store_port)) {
          if (w.accepted && w.token == final_leader->token && w.id == final_leader->name) {
            return true;
          }
        }
        return false;
      },
      20s))
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
