// The fencing run of `tender elect` on one machine: three electors on the file backend whose
// --exec children write to the checker store (tests/elect_store.py) with their term's token,
// under 30 randomised faults (SIGKILL, SIGTERM, SIGSTOP/SIGCONT of elector processes). What
// must hold is in elect_fencing.hpp; the seed is printed, TENDER_ELECT_SEED=N replays a run.
#include <gtest/gtest.h>
#include <signal.h>

#include <random>
#include <thread>

#include "elect_fencing.hpp"

namespace tender::testing {
namespace {

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
  EXPECT_TRUE(wrote_accepted(store_port, *final_leader))
      << "the last leader's command wrote nothing accepted; seed " << run_seed;
  observer.stop();
  check_run(observer.observations(), ids, fence_log(store_port), *final_leader, run_seed);
}

}  // namespace
}  // namespace tender::testing
