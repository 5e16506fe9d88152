#pragma once
// The tail-latency bookkeeping of the root, per shard and per worker thread: what a shard's
// answers have taken lately (its p95 sets when a hedge goes), how many extra requests the
// budget still allows, and whether a shard is consistently slower than its peers.
//
//   LatencyWindow w(1024);
//   w.add(std::chrono::microseconds(830));                   // each answer, hedged or not
//   std::optional<microseconds> p95 = w.quantile(0.95);      // nullopt: too few samples yet
//
//   HedgeBudget budget(0.05, 10);    // at most 5% extra requests, a burst of 10
//   budget.on_request();              // each request sent to a shard earns 0.05 of a hedge
//   if (budget.try_hedge()) { ...send the hedge... } else { ...counted as refused... }
//
//   SlowShards slow(clock, {.factor = 3, .hold = std::chrono::seconds(10)});
//   slow.update({p95 of each shard});  bool s = slow.slow(i);    // ...reported in /statusz
//
// No I/O, no Asio; time (for SlowShards) through a Clock.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/clock.hpp"

namespace tender::scatter {

using std::chrono::microseconds;

// The last `capacity` latencies of one shard (a ring), and their quantiles. quantile() sorts a
// copy at most once per `capacity / 16` new samples and otherwise answers from that sort, so
// asking per request costs nothing.
class LatencyWindow {
 public:
  explicit LatencyWindow(std::size_t capacity = 1024);
  void add(microseconds latency);
  // The q-quantile (0 < q < 1) of the window, nearest rank; nullopt with fewer than
  // `min_samples` samples.
  [[nodiscard]] std::optional<microseconds> quantile(double q, std::size_t min_samples = 20);
  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] std::uint64_t total() const { return total_; }  // samples ever added

 private:
  std::size_t capacity_;
  std::vector<std::int64_t> ring_;
  std::size_t next_ = 0;
  std::uint64_t total_ = 0;
  std::vector<std::int64_t> sorted_;
  std::uint64_t sorted_at_ = 0;  // total_ when sorted_ was made
};

// A token bucket of hedges: each primary request adds `ratio` tokens (up to `burst`), a hedge
// takes one. Over any long run, hedges <= ratio x requests + burst.
class HedgeBudget {
 public:
  HedgeBudget(double ratio, double burst);
  void on_request();
  // Takes a token when one is there.
  [[nodiscard]] bool try_hedge();
  [[nodiscard]] double tokens() const { return tokens_; }

 private:
  double ratio_;
  double burst_;
  double tokens_;
};

// Which shards are consistently slow: a shard whose p95 stays above `factor` times the median
// of the shards' p95s for `hold` is reported slow, and stops being so once it has been under
// that for `hold`. Shards with too few samples (nullopt) are left out of the median and never
// slow.
struct SlowOptions {
  double factor = 3.0;
  std::chrono::milliseconds hold{10'000};
  std::chrono::microseconds floor{1'000};  // a p95 under this is never slow (all fast)
};
class SlowShards {
 public:
  SlowShards(const Clock& clock, SlowOptions options);
  // The shards' current p95s (by index; the count may change with the shard set).
  void update(const std::vector<std::optional<microseconds>>& p95);
  [[nodiscard]] bool slow(std::size_t shard) const;
  // The shards reported slow now, by index.
  [[nodiscard]] std::vector<std::size_t> slow_shards() const;

 private:
  struct State {
    bool slow = false;
    std::optional<std::chrono::steady_clock::time_point>
        since;  // when it last crossed the line, while it stays
  };
  const Clock& clock_;
  SlowOptions options_;
  std::vector<State> state_;
};

}  // namespace tender::scatter
