#include "core/poll_loop.hpp"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.hpp"

namespace tender {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

struct Loop {
  explicit Loop(std::chrono::nanoseconds budget) : poll(budget) {
    thread = std::thread([this] {
      auto guard = boost::asio::make_work_guard(ioc);
      run_polling(ioc, poll, {&polled, &slept});
    });
  }
  ~Loop() { stop(); }
  // Ends the loop; its counts are final once this returns.
  void stop() {
    ioc.stop();
    if (thread.joinable()) {
      thread.join();
    }
  }
  // Posts a handler and waits until it has run.
  void round_trip() {
    std::atomic<bool> ran{false};
    boost::asio::post(ioc, [&] { ran = true; });
    while (!ran) {
      std::this_thread::yield();
    }
  }
  boost::asio::io_context ioc;
  BusyPoll poll;
  Counter polled;
  Counter slept;
  std::thread thread;
};

TEST(RunPolling, WorkSpacedWiderThanTheBudgetIsWaitedForAsleep) {
  Loop loop(microseconds(500));
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(milliseconds(5));  // gaps past the budget and kMaxLooking
    loop.round_trip();
  }
  loop.stop();
  // Each gap is ten budgets long, so the loop sleeps through it; only a loop thread preempted
  // while it looked (a loaded machine) can come back to find the work there, counted as polled.
  EXPECT_GE(loop.slept.value(), 3.0);
  EXPECT_EQ(loop.polled.value() + loop.slept.value(), 5.0);
}

TEST(RunPolling, WorkComingInQuickSuccessionIsFoundWithoutSleeping) {
  Loop loop(microseconds(500));
  for (int i = 0; i < 400; ++i) {
    loop.round_trip();
    // A short gap, far within the budget, after the loop has run out of work.
    auto until = std::chrono::steady_clock::now() + microseconds(20);
    while (std::chrono::steady_clock::now() < until) {
    }
  }
  loop.stop();
  // Nearly all are found while looking (399 of 400 on an idle machine); a gap stretched (this
  // thread preempted) or a look that yielded to a busy neighbour for past kMaxLooking costs a
  // sleep, so on a loaded machine far fewer are. Without polling, none. (Work already there
  // when a handler returns is no wake-up: the sum may fall short of 400.)
  EXPECT_GT(loop.polled.value(), 0.0);
  EXPECT_LE(loop.polled.value() + loop.slept.value(), 400.0);
}

TEST(RunPolling, OffNeverLooks) {
  Loop loop(microseconds(0));
  for (int i = 0; i < 100; ++i) {
    loop.round_trip();
  }
  loop.stop();
  EXPECT_EQ(loop.polled.value(), 0.0);
  EXPECT_GT(loop.slept.value(), 0.0);
}

TEST(RunPolling, StopEndsTheLoopWhetherLookingOrAsleep) {
  for (auto budget : {microseconds(0), microseconds(1000)}) {
    boost::asio::io_context ioc;
    BusyPoll poll(budget);
    std::thread t([&] {
      auto guard = boost::asio::make_work_guard(ioc);
      run_polling(ioc, poll);
    });
    std::atomic<int> ran{0};
    for (int i = 0; i < 50; ++i) {
      boost::asio::post(ioc, [&] { ++ran; });
    }
    boost::asio::post(ioc, [&] { ioc.stop(); });
    t.join();  // returns: the loop ended
    EXPECT_EQ(ran.load(), 50);
  }
}

// A loop with an AtIdle, and what its handlers recorded, in order.
struct IdleLoop {
  explicit IdleLoop(std::chrono::nanoseconds budget) : poll(budget) {
    thread = std::thread([this] {
      auto guard = boost::asio::make_work_guard(ioc);
      run_polling(ioc, poll, {}, &at_idle);
    });
  }
  ~IdleLoop() {
    boost::asio::post(ioc, [this] { ioc.stop(); });  // from the loop's thread, as AtIdle asks
    thread.join();
  }
  void note(std::string what) {
    std::lock_guard lock(mutex);
    seen.push_back(std::move(what));
  }
  // Runs `f` on the loop and waits until "done" has been noted.
  template <typename F>
  std::vector<std::string> run(F f) {
    boost::asio::post(ioc, f);
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (!seen.empty() && seen.back() == "done") {
          return seen;
        }
      }
      std::this_thread::yield();
    }
  }
  boost::asio::io_context ioc;
  BusyPoll poll;
  AtIdle at_idle;
  std::mutex mutex;
  std::vector<std::string> seen;
  std::thread thread;
};

TEST(AtIdle, HeldWorkRunsAfterTheHandlersReadyMeanwhile) {
  for (auto budget : {microseconds(0), microseconds(50)}) {
    IdleLoop loop(budget);
    auto seen = loop.run([&] {
      loop.at_idle.defer([&] {
        loop.note("held");
        loop.at_idle.defer([&] { loop.note("done"); });  // held from held work: the next time
        boost::asio::post(loop.ioc, [&] { loop.note("after held"); });
      });
      loop.note("first");
      boost::asio::post(loop.ioc, [&] { loop.note("ready 1"); });
      boost::asio::post(loop.ioc, [&] {
        loop.note("ready 2");
        boost::asio::post(loop.ioc, [&] { loop.note("ready 3"); });
      });
    });
    EXPECT_EQ(seen, (std::vector<std::string>{"first", "ready 1", "ready 2", "ready 3", "held",
                                              "after held", "done"}));
  }
}

TEST(AtIdle, HeldWorkWaitsForAtMostItsLimitOfHandlersWhenMoreKeepComing) {
  IdleLoop loop(microseconds(0));
  std::size_t ran_before = 0;
  bool held_ran = false;
  // A handler that is always ready again, so the loop never runs out of work, until the held
  // work has run (or it has run far past the limit).
  std::function<void()> busy = [&] {
    if (held_ran || ran_before > 10 * AtIdle::kMaxHandlers) {
      loop.note("done");
      return;
    }
    ++ran_before;
    boost::asio::post(loop.ioc, busy);
  };
  loop.run([&] {
    loop.at_idle.defer([&] { held_ran = true; });
    busy();
  });
  EXPECT_TRUE(held_ran);
  EXPECT_LE(ran_before, AtIdle::kMaxHandlers + 1);  // the one that deferred, then the limit
}

}  // namespace
}  // namespace tender
