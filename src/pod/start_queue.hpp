#pragma once
// Starts one at a time, in the order they were asked for, with a turn of the event loop before
// each: however many pods start at once (a Deployment of 1000, a crash loop with no backoff),
// admin requests, exits and probes are handled between two spawns.
//
//   {
//     StartQueue::Turn turn = co_await starts.wait();
//     spawn(pod, c);
//   }  // the next start in line goes
//
// Supervisor thread only. The queue must outlive every coroutine that waits on it (declare it
// before the io_context), and close() it before that io_context is destroyed.

#include <algorithm>
#include <boost/asio.hpp>
#include <deque>
#include <utility>

namespace tender::pod {

class StartQueue {
 public:
  // Held while starting; destroying it hands the turn on.
  class Turn {
   public:
    explicit Turn(StartQueue* queue) : queue_(queue) {}
    Turn(Turn&& other) noexcept : queue_(std::exchange(other.queue_, nullptr)) {}
    Turn& operator=(Turn&&) = delete;
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;
    ~Turn() {
      if (queue_ != nullptr) {
        queue_->next();
      }
    }

   private:
    StartQueue* queue_;
  };

  // Waits for this caller's turn.
  boost::asio::awaitable<Turn> wait() {
    auto executor = co_await boost::asio::this_coro::executor;
    if (busy_) {
      boost::asio::steady_timer timer(executor, boost::asio::steady_timer::time_point::max());
      waiting_.push_back(&timer);
      // A coroutine destroyed while it waits (at shutdown) leaves the line.
      struct Leave {
        std::deque<boost::asio::steady_timer*>& waiting;
        boost::asio::steady_timer* timer;
        ~Leave() {
          auto it = std::find(waiting.begin(), waiting.end(), timer);
          if (it != waiting.end()) {
            waiting.erase(it);
          }
        }
      } leave{waiting_, &timer};
      // Woken through the back of the loop's queue: what was queued before went first.
      co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    } else {
      busy_ = true;
      // What was queued on the loop before this start goes first.
      co_await boost::asio::post(executor, boost::asio::use_awaitable);
    }
    co_return Turn(this);
  }

  // Nobody gets a turn any more (the runner stops).
  void close() { closed_ = true; }

 private:
  void next() {
    if (closed_) {
      return;
    }
    if (waiting_.empty()) {
      busy_ = false;
      return;
    }
    // The turn passes to the first in line, whose wake-up goes to the back of the loop's queue.
    boost::asio::steady_timer* first = waiting_.front();
    waiting_.pop_front();
    first->cancel();
  }

  std::deque<boost::asio::steady_timer*> waiting_;
  bool busy_ = false;
  bool closed_ = false;
};

}  // namespace tender::pod
