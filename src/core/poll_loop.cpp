#include "core/poll_loop.hpp"

#include <sched.h>

#include <boost/asio/io_context.hpp>

#include "core/metrics.hpp"

namespace tender {

void AtIdle::defer(std::function<void()> work) {
  if (polling_ != nullptr && !interrupted_) {
    interrupted_ = true;
    polling_->stop();  // poll() returns after this handler; the loop then counts handlers
  }
  work_.push_back(std::move(work));
}

std::size_t AtIdle::poll(boost::asio::io_context& ioc) {
  polling_ = &ioc;
  auto ran = ioc.poll();
  polling_ = nullptr;
  if (interrupted_) {
    interrupted_ = false;
    ioc.restart();
  }
  return ran;
}

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
  using SteadyClock = std::chrono::steady_clock;
  // Runs what is ready, until some work is held (with at_idle): how many handlers ran.
  auto run_what_is_ready = [&] { return at_idle != nullptr ? at_idle->poll(ioc) : ioc.poll(); };
  while (!ioc.stopped()) {
    if (at_idle != nullptr && !at_idle->empty()) {
      // Work is held: at most the limit of handlers more, then (out of them or not) the work.
      run_ready(ioc, AtIdle::kMaxHandlers);
      at_idle->run();
      continue;
    }
    if (run_what_is_ready() > 0) {
      continue;
    }
    if (ioc.stopped()) {
      break;
    }
    bool found = false;
    if (auto budget = poll.budget(); budget.count() > 0) {
      auto idle_since = SteadyClock::now();
      auto last = idle_since;
      BusyPoll::Duration spun{0};
      do {
        sched_yield();  // whoever else can run here first: the event may be theirs to make
        found = run_what_is_ready() > 0;
        auto now = SteadyClock::now();
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
