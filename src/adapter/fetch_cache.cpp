#include "adapter/fetch_cache.hpp"

#include <utility>

namespace tender::adapter {

bool FetchCache::collect(Done done) {
  if (!in_flight_ && have_ && clock_.now() - fetched_at_ < ttl_) {
    done(last_);
    return false;
  }
  waiters_.push_back(std::move(done));
  if (in_flight_) {
    return false;
  }
  in_flight_ = true;
  return true;
}

void FetchCache::finish(Result<std::vector<Family>> outcome) {
  in_flight_ = false;
  have_ = true;
  fetched_at_ = clock_.now();
  last_ = std::move(outcome);
  // A waiter may collect again from its callback: it then finds the cache already set.
  std::vector<Done> waiting = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiting) {
    w(last_);
  }
}

void FetchCache::abort(const Error& why) {
  in_flight_ = false;
  std::vector<Done> waiting = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiting) {
    w(why);
  }
}

}  // namespace tender::adapter
