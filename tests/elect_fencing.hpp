#pragma once
// The fencing runs of `tender elect` (elect_fencing_test.cpp, elect_pods_test.cpp): electors
// whose --exec children write to the checker store with their term's token, under randomised
// faults, seeded (TENDER_ELECT_SEED=N replays a run), and what must hold whatever the faults:
// - the store never accepted a write whose token is below one it accepted before, and no token
//   was ever used by two replicas (the checker's own log);
// - no token is ever named with two leaders, a replica claims only terms under its own id, no
//   replica's view of the token goes back, and a term is never claimed after a larger one was
//   (the electors' own answers, polled throughout by an Observer);
// - once the faults stop, there is a leader again and its command's writes are accepted.
//
//   Observer observer(3);  observer.set_port(0, port0); ...   // polls from now on
//   ... faults ...
//   auto leader = wait_agreed(ports);
//   EXPECT_TRUE(wrote_accepted(store_port, *leader));
//   observer.stop();
//   check_run(observer.observations(), ids, fence_log(store_port), *leader, seed);

#include <gtest/gtest.h>

#include <atomic>
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

using Steady = std::chrono::steady_clock;

// The python interpreter, as a path (pods run commands without a shell and without pyenv's
// shims in mind).
inline std::string python() {
  static const std::string path = [] {
    RunResult r = run_command({"python3", "-c", "import sys; print(sys.executable)"});
    std::string p = r.out.substr(0, r.out.find('\n'));
    return p.empty() ? std::string("/usr/bin/python3") : p;
  }();
  return path;
}

inline std::uint32_t seed() {
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
inline std::string observation_violations(const std::vector<Observation>& seen,
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
        out += "\n  token " + std::to_string(low) + " claimed (asked at " + at(lc.last_sent) +
               ") after token " + std::to_string(high) + " was (answered at " +
               at(hc.first_received) + ")";
      }
    }
  }
  return out;
}

// Every check on a finished run; `final_leader` is the leader agreed at the end.
inline void check_run(const std::vector<Observation>& seen, const std::vector<std::string>& ids,
                      const std::vector<Write>& log, const Agreed& final_leader,
                      std::uint32_t run_seed) {
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

// Whether the checker at `store_port` accepted a write of `leader`'s term (polled).
inline bool wrote_accepted(std::uint16_t store_port, const Agreed& leader,
                           std::chrono::milliseconds timeout = 20s) {
  return eventually(
      [&] {
        for (const Write& w : fence_log(store_port)) {
          if (w.accepted && w.token == leader.token && w.id == leader.name) {
            return true;
          }
        }
        return false;
      },
      timeout);
}

}  // namespace tender::testing
