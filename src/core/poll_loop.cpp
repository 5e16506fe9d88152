#include "core/poll_loop.hpp"

#include <sched.h>

#include <boost/asio/io_context.hpp>

#include "core/metrics.hpp"

namespace tender {

void run_polling(boost::asio::io_context& ioc, const BusyPoll& poll, PollCounters counters) {
  using Clock = std::chrono::steady_clock;
  while (!ioc.stopped()) {
    if (ioc.poll() > 0) {
      continue;
    }
    if (ioc.stopped()) {
      break;
    }
    bool found = false;
    if (auto budget = poll.budget(); budget.count() > 0) {
      auto idle_since = Clock::now();
      auto last = idle_since;
      BusyPoll::Duration spun{0};
      do {
        sched_yield();  // whoever else can run here first: the event may be theirs to make
        found = ioc.poll() > 0;
        auto now = Clock::now();
        if (now - last <= BusyPoll::kLookAlone) {
          spun += now - last;
        }
        last = now;
        if (now - idle_since >= BusyPoll::kMaxLooking) {
          break;
        }
      } while (!found && spun < budget && !ioc.stopped());
    }
    if (!found && ioc.run_one() == 0) {
      break;  // stopped
    }
    if (Counter* c = found ? counters.polled : counters.slept) {
      c->inc();
    }
  }
}

}  // namespace tender
