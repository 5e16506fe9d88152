#pragma once
// Metrics: counters, gauges and histograms, exposed as Prometheus text 0.0.4 or OpenMetrics 1.0.
//
// One Registry per process holds every metric family; the admin listener renders it on
// GET /metrics. Register metrics at start-up, keep the returned references, and update them on
// the request path, where every update is a relaxed atomic operation and takes no lock:
//
//   Registry registry;
//   add_process_metrics(registry);
//   Counter& served = registry.counter("tender_echo_requests_total", "Requests served.");
//   CounterFamily& by_code = registry.counter_family(
//       "tender_echo_http_requests_total", "HTTP requests by status code.", {"code"});
//   Histogram& latency = registry.histogram("tender_echo_request_duration_seconds",
//                                           "Time to serve a request.", kLatencyBuckets);
//
//   served.inc();
//   by_code.with({"200"}).inc();  // a lookup under a shared lock; keep the reference if hot
//   latency.observe(0.0123);
//
//   Format format = Registry::negotiate(accept_header);
//   body = registry.render(format);  // served as Registry::content_type(format)
//
// Every function here is thread-safe. References returned by a Registry or a family stay valid
// for the Registry's lifetime; metrics are never removed.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tender {

// The exposition formats a Registry renders.
enum class Format {
  kPrometheus,   // text format 0.0.4
  kOpenMetrics,  // OpenMetrics 1.0.0 text
};

// Default histogram buckets for request latencies in seconds, 0.5 ms to 10 s.
inline constexpr std::array<double, 14> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// True if `name` is a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
[[nodiscard]] bool is_valid_metric_name(std::string_view name);
// True if `name` is a valid label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__".
[[nodiscard]] bool is_valid_label_name(std::string_view name);

namespace metrics_internal {

// Adds `v` to `target` with a relaxed compare-and-swap loop (lock-free on x86-64 and arm64).
inline void atomic_add(std::atomic<double>& target, double v) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + v, std::memory_order_relaxed)) {
  }
}

// Counts are spread over kShards cache lines, so that threads counting the same thing do not
// take the line from each other on every increment; reads add the shards up. A thread owns one
// of the first kShards - 1 while it lives, if one is free, and adds to it with a plain load and
// store (a locked read-modify-write costs ~20 cycles even uncontended, and a request counts
// several things); threads beyond that share the last shard with atomic adds.
inline constexpr std::size_t kShards = 8;
inline constexpr std::size_t kSharedShard = kShards - 1;
inline constexpr std::size_t kNoShard = ~std::size_t{0};
inline thread_local constinit std::size_t t_shard = kNoShard;
inline thread_local constinit bool t_owned = false;
void take_shard();  // sets t_shard and t_owned; gives an owned shard back at thread exit
struct Shard {
  std::size_t index;
  bool owned;
};
inline Shard shard() {
  if (t_shard == kNoShard) [[unlikely]] {
    take_shard();
  }
  return {t_shard, t_owned};
}
inline void add_to(std::atomic<std::uint64_t>& c, std::uint64_t n, bool owned) {
  if (owned) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  } else {
    c.fetch_add(n, std::memory_order_relaxed);
  }
}
inline void add_to(std::atomic<double>& d, double v, bool owned) {
  if (owned) {
    d.store(d.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
  } else {
    atomic_add(d, v);
  }
}
struct alignas(64) PaddedCount {
  std::atomic<std::uint64_t> v{0};
};
struct alignas(64) PaddedDouble {
  std::atomic<double> v{0.0};
};

}  // namespace metrics_internal

// A monotonically increasing count. Integral increments are a relaxed add on the calling
// thread's shard (see Shard above); fractional ones (add) a compare-and-swap loop on a separate
// double, so both stay lock-free.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `n`. Lock-free.
  void inc(std::uint64_t n = 1) {
    const auto s = metrics_internal::shard();
    metrics_internal::add_to(counts_[s.index].v, n, s.owned);
  }
  // Adds a fractional amount, e.g. seconds of work. Lock-free. A counter never goes down:
  // negative, zero and NaN `v` are ignored.
  void add(double v) {
    if (v > 0) {
      metrics_internal::atomic_add(fraction_, v);
    }
  }
  // The current total. Concurrent increments may or may not be included.
  [[nodiscard]] double value() const {
    std::uint64_t n = 0;
    for (const auto& c : counts_) {
      n += c.v.load(std::memory_order_relaxed);
    }
    return static_cast<double>(n) + fraction_.load(std::memory_order_relaxed);
  }

 private:
  std::array<metrics_internal::PaddedCount, metrics_internal::kShards> counts_;
  std::atomic<double> fraction_{0.0};
};

// A value that goes up and down. Lock-free.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1) { metrics_internal::atomic_add(value_, v); }
  void dec(double v = 1) { metrics_internal::atomic_add(value_, -v); }
  [[nodiscard]] double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Counts observations into buckets with inclusive upper bounds, plus +Inf. observe() is
// lock-free: one relaxed add on its bucket and a compare-and-swap loop on the sum, both in the
// calling thread's shard. A scrape that races with observe() may see the sum and the counts one
// observation apart, never the counts apart from each other (the total is derived from the
// buckets).
class Histogram {
 public:
  // `bounds`: finite, strictly increasing upper bounds; +Inf is implicit. Registry validates
  // them; constructing a Histogram directly with bad bounds is undefined behaviour.
  explicit Histogram(std::span<const double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Records `v` in the first bucket whose bound is >= v. NaN lands in +Inf only.
  void observe(double v);

  [[nodiscard]] std::span<const double> bounds() const { return bounds_; }
  // Cumulative counts: entry i counts observations <= bounds()[i]; the last entry (+Inf) counts
  // every observation. Size bounds().size() + 1.
  [[nodiscard]] std::vector<std::uint64_t> cumulative_counts() const;
  [[nodiscard]] std::uint64_t count() const;
  [[nodiscard]] double sum() const;

 private:
  struct alignas(64) Line {
    std::array<std::atomic<std::uint64_t>, 8> c{};
  };
  std::vector<double> bounds_;
  std::size_t lines_;         // cache lines of counts per shard
  std::vector<Line> counts_;  // per shard, per bucket (not cumulative)
  std::array<metrics_internal::PaddedDouble, metrics_internal::kShards> sums_;
};

namespace metrics_internal {

enum class Kind { kCounter, kGauge, kHistogram, kCounterCallback, kGaugeCallback };

// Orders label value tuples lexicographically; transparent so lookups need not allocate.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        std::begin(a), std::end(a), std::begin(b), std::end(b),
        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

// What the Registry knows of every family, whatever its metric type.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::string& help() const { return help_; }
  [[nodiscard]] const std::vector<std::string>& label_names() const { return label_names_; }
  [[nodiscard]] const std::vector<double>& buckets() const { return buckets_; }

  // Appends this family's metadata and samples in `format`; nothing if it has no samples.
  virtual void render(std::string& out, Format format) const = 0;

 protected:
  FamilyBase(Kind kind, std::string name, std::string help, std::vector<std::string> label_names,
             std::vector<double> buckets);

 private:
  Kind kind_;
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> buckets_;  // histograms only
};

// Formats `v` as Go's strconv.FormatFloat(v, 'g', -1, 64) does, which round-trips and is what
// Prometheus clients emit ("0.005", "1e-05", "1.234567e+06", "+Inf", "NaN"). For OpenMetrics,
// a result with neither '.' nor an exponent gets ".0" ("1.0"), the canonical form of `le`.
[[nodiscard]] std::string format_double(double v, Format format);

}  // namespace metrics_internal

class Registry;

// Metrics of one name that differ by label values. Obtained from a Registry.
template <typename Metric>
class Family final : public metrics_internal::FamilyBase {
 public:
  // The metric for `values`, one per label name in registration order, created at zero on first
  // use. Takes a shared lock (exclusive when creating), so keep the reference where hot.
  // Throws std::invalid_argument if the number of values differs from the number of labels.
  Metric& with(std::initializer_list<std::string_view> values);
  Metric& with(std::span<const std::string> values);

  void render(std::string& out, Format format) const override;

 private:
  friend class Registry;
  Family(metrics_internal::Kind kind, std::string name, std::string help,
         std::vector<std::string> label_names, std::vector<double> buckets)
      : FamilyBase(kind, std::move(name), std::move(help), std::move(label_names),
                   std::move(buckets)) {}

  template <typename Values>
  Metric& find_or_create(const Values& values);

  mutable std::shared_mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>, metrics_internal::LabelValuesLess>
      children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// Holds metric families and renders them. Registration is for start-up and may throw
// std::invalid_argument (a programming or configuration error):
//   - a metric name or label name is invalid (see is_valid_*), or a label name repeats;
//   - a counter's name does not end in "_total" (OpenMetrics names the family without it);
//   - a histogram has a label "le", or bounds that are not finite and strictly increasing
//     (a trailing +Inf is allowed and dropped);
//   - the name is taken by a family of another type, label names or buckets, or the samples it
//     would expose collide with another family's (e.g. histogram "x" and gauge "x_count").
// Registering an existing name with the same type, labels and buckets returns the existing
// metric; the first help text stays.
// A family gathered outside a registry (e.g. scraped from another process) and rendered with it.
struct ExternalFamily {
  std::string name;  // as named in the text format's TYPE line
  std::string type;  // counter, gauge, histogram, summary or untyped
  std::string help;
  std::vector<std::string> samples;  // whole sample lines, without their newline
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Counter& counter(std::string_view name, std::string_view help);
  CounterFamily& counter_family(std::string_view name, std::string_view help,
                                std::vector<std::string> label_names);

  Gauge& gauge(std::string_view name, std::string_view help);
  GaugeFamily& gauge_family(std::string_view name, std::string_view help,
                            std::vector<std::string> label_names);

  // `buckets`: finite, strictly increasing upper bounds; "+Inf" is always added.
  Histogram& histogram(std::string_view name, std::string_view help,
                       std::span<const double> buckets = kLatencyBuckets);
  Histogram& histogram(std::string_view name, std::string_view help,
                       std::initializer_list<double> buckets) {
    return histogram(name, help, std::span<const double>(buckets.begin(), buckets.size()));
  }
  HistogramFamily& histogram_family(std::string_view name, std::string_view help,
                                    std::vector<std::string> label_names,
                                    std::span<const double> buckets = kLatencyBuckets);
  HistogramFamily& histogram_family(std::string_view name, std::string_view help,
                                    std::vector<std::string> label_names,
                                    std::initializer_list<double> buckets) {
    return histogram_family(name, help, std::move(label_names),
                            std::span<const double>(buckets.begin(), buckets.size()));
  }

  // A metric whose value `read` computes at every render, e.g. memory in use. `read` runs on
  // the rendering thread without any registry lock held; it must be thread-safe and not throw.
  // Registering the same name and type again replaces `read`.
  void counter_callback(std::string_view name, std::string_view help, std::function<double()> read);
  void gauge_callback(std::string_view name, std::string_view help, std::function<double()> read);

  // Every family with at least one sample, sorted by name, label sets sorted by their values.
  // OpenMetrics output ends with "# EOF". Holds the registry lock only to list the families.
  [[nodiscard]] std::string render(Format format = Format::kPrometheus) const;

  // Families from elsewhere, fetched at every render and merged into the output by name: a
  // family this registry also has gets the external samples after its own, so each name still
  // appears as one group. `source` runs on the rendering thread; it must be thread-safe.
  void set_external(std::function<std::vector<ExternalFamily>()> source);

  // Every family and sample name the registry's own families expose in either format
  // ("x", "x_total", "x_bucket", ...), sorted: what an external family must not be named.
  [[nodiscard]] std::vector<std::string> names_in_use() const;

  // The format to answer a request with `accept` (an HTTP Accept header): OpenMetrics if the
  // most preferred acceptable media range is application/openmetrics-text (version 1.0.0,
  // 0.0.1 or none), else Prometheus text, also for "", "*/*" and garbage.
  [[nodiscard]] static Format negotiate(std::string_view accept);
  // The Content-Type of `format`'s output.
  [[nodiscard]] static std::string_view content_type(Format format);

 private:
  metrics_internal::FamilyBase& add_family(metrics_internal::Kind kind, std::string_view name,
                                           std::string_view help,
                                           std::vector<std::string> label_names,
                                           std::span<const double> buckets,
                                           std::function<double()> read);

  mutable std::mutex mutex_;
  std::function<std::vector<ExternalFamily>()> external_;
  std::map<std::string, std::unique_ptr<metrics_internal::FamilyBase>, std::less<>> families_;
  // Every sample or family name a family exposes in either format -> the family's name.
  std::map<std::string, std::string, std::less<>> exposed_;
};

// Registers the standard process metrics, read from /proc at render time:
// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds and process_start_time_seconds. A value that cannot be read
// (not Linux, /proc missing) renders as NaN. Calling it again is harmless.
void add_process_metrics(Registry& registry);

}  // namespace tender
