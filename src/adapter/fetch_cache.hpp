#pragma once
// Collections of a fetched source (json, text, redis) waiting for one fetch, and the last
// fetch's outcome kept for a TTL: a storm of scrapes is one request to the app. No I/O.
#include <chrono>
#include <functional>
#include <vector>

#include "adapter/family.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"

namespace tender::adapter {

// Collections waiting for one fetch, and the last fetch's outcome kept for `ttl`. Not
// thread-safe (the source's io thread only). No I/O.
//
//   if (cache.collect(std::move(done))) { start_fetch(); }   // else answered, or waiting
//   ... cache.finish(std::move(families_or_error));          // answers every waiter
class FetchCache {
 public:
  using Done = std::function<void(Result<std::vector<Family>>)>;
  FetchCache(const Clock& clock, std::chrono::milliseconds ttl) : clock_(clock), ttl_(ttl) {}

  // Answers `done` at once from the last outcome when it is younger than the TTL (and returns
  // false); else keeps `done` for the fetch in flight, returning true when none is and the
  // caller must start one.
  [[nodiscard]] bool collect(Done done);
  // A fetch ended with `outcome`: keeps it (an Error too) for the TTL and answers every waiter.
  void finish(Result<std::vector<Family>> outcome);
  // Answers every waiter with `why` and forgets the fetch in flight (stop).
  void abort(const Error& why);
  [[nodiscard]] bool in_flight() const { return in_flight_; }

 private:
  const Clock& clock_;
  std::chrono::milliseconds ttl_;
  bool in_flight_ = false;
  bool have_ = false;
  std::chrono::steady_clock::time_point fetched_at_{};
  Result<std::vector<Family>> last_{std::vector<Family>{}};
  std::vector<Done> waiters_;
};

}  // namespace tender::adapter
