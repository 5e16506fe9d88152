#pragma once
// The queue's HTTP API (docs/queue.md) on a Store, and the per-queue activity it counts for
// /metrics and for the rates GET /v1/queues/Q shows.
//
//   Activity activity(runtime.metrics());
//   Router router;
//   add_api_routes(router, *store, activity);
//   add_dead_routes(admin_router, [&] { return store.get(); });  // the dead letters elsewhere
//   ... once a second: activity.tick();

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "core/metrics.hpp"
#include "core/router.hpp"
#include "workqueue/store.hpp"

namespace tender::workqueue {

enum class Event { kEnqueued, kLeased, kAcked, kNacked, kDead };
inline constexpr std::size_t kEvents = 5;

// Counts of what this server did, per queue: counters `tender_queue_<event>_total{queue}`,
// histograms of lease waits and item ages, and rates over the last minute. Thread-safe.
class Activity {
 public:
  explicit Activity(Registry& metrics, const Clock& clock = system_clock());
  void count(const std::string& queue, Event event, std::uint64_t n = 1);
  // A lease answered with items after waiting `waited`; `ages`: how long each was enqueued.
  void leased(const std::string& queue, std::chrono::duration<double> waited,
              const std::vector<double>& ages_seconds);
  // Takes this second's sample for the rates.
  void tick();
  // Events per second over the last minute (or since the first sample).
  [[nodiscard]] std::array<double, kEvents> rates(const std::string& queue) const;

 private:
  struct Totals {
    std::array<std::uint64_t, kEvents> n{};
    std::array<Counter*, kEvents> counters{};  // this queue's, looked up once
    std::deque<std::pair<std::chrono::steady_clock::time_point, std::array<std::uint64_t, kEvents>>>
        samples;
  };
  Registry& metrics_;
  const Clock& clock_;
  std::array<CounterFamily*, kEvents> counters_{};
  Histogram& lease_wait_;
  Histogram& item_age_;
  mutable std::mutex mu_;
  std::map<std::string, Totals, std::less<>> totals_;
};

[[nodiscard]] std::string_view event_name(Event e);  // "enqueued", "leased", ...

// Adds /v1/queues... and /v1/items... to `router`. `store` and `activity` must outlive it.
void add_api_routes(Router& router, Store& store, Activity& activity);

// The store a route should use now; nullptr while it is not open (the route answers 503).
using StoreSource = std::function<Store*()>;

// Adds the dead-letter routes (GET /v1/queues/{queue}/dead, GET .../dead/{id}, POST
// .../dead/{op} and .../dead/{id}/{op} with op requeue or purge) to `router`. add_api_routes
// adds them on --listen; the role adds them on its admin listener too, for the web view.
// Failures are answered as HTTP errors (400 bad option, 404 no such item, 503 no store).
void add_dead_routes(Router& router, StoreSource source);

}  // namespace tender::workqueue
