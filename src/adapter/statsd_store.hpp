#pragma once
// What a statsd source holds: series keyed by (metric name, label set), fed by parsed lines and
// read as families at each scrape. Pure: no I/O, time given by the caller (a Clock's now()).
// Not thread-safe: one thread (the source's io thread) feeds and reads it.
//
//   StatsdStore store(settings.mapper, {.max_series_per_metric = 10'000});
//   StatsdLine line;
//   if (parse_statsd_line(text, line) == ParseOutcome::kOk) {
//     StatsdResult r = store.ingest(line, clock.now());   // kOk, kDropped, kConflict, ...
//   }
//   store.expire(clock.now());                            // idle series past their ttl go
//   std::vector<Family> families = store.collect(clock.now());
//
// Each distinct input (raw name, tags, kind) is mapped once: the result is cached, so a known
// series costs one hash lookup and no allocation. A metric's type is fixed by its first series:
// a later line of another kind for that name is a conflict, refused. A new series past
// max_series_per_metric (for its name) or max_series (for the store) is refused (kOverCap).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "adapter/family.hpp"
#include "adapter/statsd_mapping.hpp"
#include "adapter/statsd_parse.hpp"

namespace tender::adapter {

struct StatsdLimits {
  std::size_t max_series_per_metric = 10'000;
  std::size_t max_series = 100'000;
  std::chrono::milliseconds set_window{std::chrono::minutes(1)};
  std::size_t max_set_members = 10'000;
};

enum class StatsdResult {
  kOk,
  kMalformed,  // mapped to an empty name
  kDropped,    // action: drop
  kConflict,   // the metric has another type
  kOverCap,    // a new series refused by a cap
};

// What the store holds, by kind of series.
struct StatsdSeriesCounts {
  std::size_t counters = 0;
  std::size_t gauges = 0;
  std::size_t histograms = 0;
  std::size_t summaries = 0;
  std::size_t sets = 0;
  [[nodiscard]] std::size_t total() const {
    return counters + gauges + histograms + summaries + sets;
  }
};

class StatsdStore {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  StatsdStore(std::shared_ptr<const StatsdMapper> mapper, StatsdLimits limits);
  ~StatsdStore();
  StatsdStore(const StatsdStore&) = delete;
  StatsdStore& operator=(const StatsdStore&) = delete;

  // Applies every sample of a parsed line (ParseOutcome::kOk). The result is the first sample's
  // that failed, else kOk; samples before a failure stay applied. A counter adds value / rate;
  // an observation counts 1 / rate times; a gauge is set, or moved by a delta (+N, -N).
  StatsdResult ingest(const StatsdLine& line, TimePoint now);

  // Removes series idle for longer than their ttl (a ttl of 0 keeps them).
  void expire(TimePoint now);

  // Every metric as a family, samples in no particular order. Summaries give their quantiles
  // over the last max_age (NaN with no observation in it); sets the distinct members seen in
  // the last set_window.
  [[nodiscard]] std::vector<Family> collect(TimePoint now);

  [[nodiscard]] StatsdSeriesCounts counts() const { return counts_; }

 private:
  struct Series;
  struct Metric;
  struct CacheEntry {
    Series* series = nullptr;  // null: dropped by its mapping
  };

  // The cache miss: maps the line and finds or creates its series.
  StatsdResult resolve(const StatsdLine& line, StatsdKind kind, TimePoint now, Series*& out);
  void observe(Series& s, const StatsdSample& sample, TimePoint now);
  void count(const Metric& m, int delta);

  std::shared_ptr<const StatsdMapper> mapper_;
  StatsdLimits limits_;
  std::unordered_map<std::string, std::unique_ptr<Metric>> metrics_;
  std::unordered_map<std::string, CacheEntry> cache_;
  std::string key_;  // reused for cache keys
  MapOutcome mapped_;
  StatsdSeriesCounts counts_;
  std::uint64_t random_ = 0x9E3779B97F4A7C15ull;  // for reservoir sampling
};

}  // namespace tender::adapter
