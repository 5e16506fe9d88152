#include "core/poll_loop.hpp"

#include <sched.h>

#include <boost/asio/io_context.hpp>

#include "core/metrics.hpp"

namespace tender {

bool AtIdle::run() {
  if (work_.empty()) {
    return false;
  }
  running_.swap(work_);
  for (auto& w : running_) {
    w();
  }
  running_.clear();
  return true;
}

namespace {

// Runs ready handlers, at most `limit`: how many ran.
std::size_t run_ready(boost::asio::io_context& ioc, std::size_t limit) {
  std::size_t ran = 0;
  while (ran < limit && ioc.poll_one() > 0) {
    ++ran;
  }
  return ran;
}

}  // namespace

void run_polling(boost::asio::io_context& ioc, const BusyPoll& poll, PollCounters counters,
                 AtIdle* at_idle) {
  using Clock = std::chrono::steady_clock;
  // Runs what is ready (with at_idle, at most its limit): how many handlers ran.
  auto run_what_is_ready = [&] {
    return at_idle != nullptr ? run_ready(ioc, AtIdle::kMaxHandlers) : ioc.poll();
  };
  while (!ioc.stopped()) {
    auto ran = run_what_is_ready();
    // Out of ready handlers, or at the limit: what was held back goes now.
    if ((at_idle != nullptr && at_idle->run()) || ran > 0) {
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
        found = run_what_is_ready() > 0;
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
