#pragma once
// Running an io_context with busy polling: when nothing is ready, the loop keeps looking for
// more for a while, yielding the CPU to any other runnable thread before each look, and only
// then sleeps in the kernel. A sleep and its wake-up cost more CPU than many looks (most of all
// in a virtual machine: about 15-20 us against 2.4 us for a look on the machine of
// docs/benchmarks.md), and under load the next event often comes within microseconds, often
// from a thread the yield let run.
//
// The budget is the loop's own spinning: a look during which other threads ran (it took
// longer than kLookAlone) is not charged, as that time was theirs. To keep the wake-up
// preemption a sleeping thread gets, the loop sleeps anyway once kMaxLooking has passed.
// The cost: a loop whose work comes just later than the budget spins the budget away before
// each sleep. Hence off by default in the roles (as HAProxy's busy-polling is).
//
//   tender::BusyPoll poll(std::chrono::microseconds(20));  // 0: sleep at once
//   tender::run_polling(ioc, poll);                        // until ioc.stop()
//
// A loop can also hold work back until what is ready has run (AtIdle): a write that several
// handlers add to then leaves once, with what all of them added.
//
//   tender::AtIdle at_idle;
//   tender::run_polling(ioc, poll, {}, &at_idle);
//   at_idle.defer([conn] { conn->flush(); });  // from a handler of that loop

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace tender {

class Counter;

// How long a loop out of work spins looking for more before it sleeps. Settable from any
// thread; the loop takes a new value the next time it runs out of work.
class BusyPoll {
 public:
  using Duration = std::chrono::nanoseconds;
  // A look that took longer let other threads run, and is not charged to the budget.
  static constexpr Duration kLookAlone = std::chrono::microseconds(10);
  // The longest a loop looks, however little of it was its own spinning.
  static constexpr Duration kMaxLooking = std::chrono::milliseconds(1);

  explicit BusyPoll(Duration budget) : budget_(budget.count()) {}
  [[nodiscard]] Duration budget() const {
    return Duration(budget_.load(std::memory_order_relaxed));
  }
  void set(Duration budget) { budget_.store(budget.count(), std::memory_order_relaxed); }

 private:
  std::atomic<Duration::rep> budget_;
};

// Where a loop's wake-ups came from.
struct PollCounters {
  Counter* polled = nullptr;  // work found while looking, without a sleep
  Counter* slept = nullptr;   // work found after a sleep
};

// Work a loop runs once it has run the handlers that are ready: when it finds no more, or
// after kMaxHandlers of them if more keep coming, so that held work waits a bounded time. Only
// the loop's own thread may defer work (from its handlers); deferred work may defer more, which
// runs at the next such point.
//
// While nothing is held the loop runs handlers as io_context::poll() does, keeping Asio's
// per-call cache of handler memory; the first work held ends that poll (with io_context::stop,
// undone at once), and the loop counts handlers until it runs the held work. Hence a loop with
// an AtIdle must be stopped from its own thread (post the stop to it): a stop from another
// thread at that moment could be taken for the AtIdle's own.
class AtIdle {
 public:
  static constexpr std::size_t kMaxHandlers = 64;

  void defer(std::function<void()> work);
  [[nodiscard]] bool empty() const { return work_.empty(); }
  // Runs what is deferred now; false if nothing was.
  bool run();
  // io_context::poll(), ended early by the first work deferred: how many handlers ran.
  std::size_t poll(boost::asio::io_context& ioc);

 private:
  std::vector<std::function<void()>> work_;
  std::vector<std::function<void()>> running_;
  boost::asio::io_context* polling_ = nullptr;  // in poll()
  bool interrupted_ = false;
};

// Runs `ioc` on the calling thread until it is stopped, looking for work within `poll`'s budget
// before each sleep, and running `at_idle`'s work (if given) as it says. Handlers' exceptions
// propagate, as from io_context::run().
void run_polling(boost::asio::io_context& ioc, const BusyPoll& poll, PollCounters counters = {},
                 AtIdle* at_idle = nullptr);

}  // namespace tender
