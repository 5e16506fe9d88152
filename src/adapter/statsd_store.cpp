#include "adapter/statsd_store.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <unordered_set>

#include "core/metrics.hpp"

namespace tender::adapter {

namespace {

enum class Shape { kCounter, kGauge, kHistogram, kSummary, kSet };

Shape shape_of(StatsdKind kind, const MetricOptions& o) {
  switch (kind) {
    case StatsdKind::kCounter:
      return Shape::kCounter;
    case StatsdKind::kGauge:
      return Shape::kGauge;
    case StatsdKind::kSet:
      return Shape::kSet;
    case StatsdKind::kObserver:
      break;
  }
  return o.summary ? Shape::kSummary : Shape::kHistogram;
}

std::string number(double v) { return metrics_internal::format_double(v, Format::kPrometheus); }

// Observations of a summary over a sliding window: age buckets, each a uniform reservoir.
struct AgeBucket {
  std::chrono::steady_clock::time_point start;
  std::uint64_t seen = 0;
  std::vector<double> samples;
};

// The quantiles of a summary's observations younger than max_age: each kept observation
// stands for seen / kept of its age bucket.
void append_quantiles(const std::vector<AgeBucket>& ages, const MetricOptions& o,
                      std::chrono::steady_clock::time_point now, const std::string& name,
                      const Labels& labels, std::vector<Sample>& out) {
  std::vector<std::pair<double, double>> points;  // value, weight
  double total = 0;
  for (const AgeBucket& b : ages) {
    if (b.samples.empty() || now - b.start >= o.max_age) {
      continue;
    }
    const double w = static_cast<double>(b.seen) / static_cast<double>(b.samples.size());
    for (double v : b.samples) {
      points.emplace_back(v, w);
    }
    total += static_cast<double>(b.seen);
  }
  std::sort(points.begin(), points.end());
  for (const Quantile& q : o.quantiles) {
    double value = std::numeric_limits<double>::quiet_NaN();
    double cumulative = 0;
    for (const auto& [v, w] : points) {
      cumulative += w;
      value = v;
      if (cumulative >= q.quantile * total) {
        break;
      }
    }
    Labels l = labels;
    l.emplace_back("quantile", number(q.quantile));
    out.push_back({.name = name, .labels = std::move(l), .value = value});
  }
}

}  // namespace

struct StatsdStore::Metric {
  std::string name;  // as mapped (a counter's family gets "_total")
  Shape shape = Shape::kGauge;
  const MetricOptions* options = nullptr;  // of the rule that made its first series
  std::unordered_map<std::string, std::unique_ptr<Series>> series;  // by label key
};

struct StatsdStore::Series {
  Metric* metric = nullptr;
  Labels labels;
  TimePoint last;
  double value = 0;
  // histograms and summaries
  std::vector<double> buckets;  // histograms: per bucket, not cumulative; +Inf last
  double sum = 0;
  double count = 0;
  std::vector<AgeBucket> ages;  // summaries
  std::size_t current = 0;
  // sets: a member's hash -> when it was last seen
  std::unordered_map<std::uint64_t, TimePoint> members;
  TimePoint last_purge;
};

StatsdStore::StatsdStore(std::shared_ptr<const StatsdMapper> mapper, StatsdLimits limits)
    : mapper_(std::move(mapper)), limits_(limits) {
  key_.reserve(256);
}

StatsdStore::~StatsdStore() = default;

void StatsdStore::count(const Metric& m, int delta) {
  auto add = [delta](std::size_t& n) {
    n = static_cast<std::size_t>(static_cast<long>(n) + delta);
  };
  switch (m.shape) {
    case Shape::kCounter:
      add(counts_.counters);
      break;
    case Shape::kGauge:
      add(counts_.gauges);
      break;
    case Shape::kHistogram:
      add(counts_.histograms);
      break;
    case Shape::kSummary:
      add(counts_.summaries);
      break;
    case Shape::kSet:
      add(counts_.sets);
      break;
  }
}

StatsdResult StatsdStore::ingest(const StatsdLine& line, TimePoint now) {
  if (line.samples.empty()) {
    return StatsdResult::kMalformed;
  }
  Series* series = nullptr;
  int kind = -1;
  for (const StatsdSample& sample : line.samples) {
    const StatsdKind k = kind_of(sample.type);
    if (static_cast<int>(k) != kind) {
      kind = static_cast<int>(k);
      key_.assign(line.head);
      key_ += '\x1f';
      key_ += line.dog_tags;
      key_ += static_cast<char>('0' + kind);
      if (auto it = cache_.find(key_); it != cache_.end()) {
        series = it->second.series;
        if (series == nullptr) {
          return StatsdResult::kDropped;
        }
      } else if (StatsdResult r = resolve(line, k, now, series); r != StatsdResult::kOk) {
        return r;
      }
    }
    observe(*series, sample, now);
  }
  return StatsdResult::kOk;
}

StatsdResult StatsdStore::resolve(const StatsdLine& line, StatsdKind kind, TimePoint now,
                                  Series*& out) {
  mapper_->map(line.name, kind, mapped_);
  const std::size_t max_cache = limits_.max_series + 1024;
  if (cache_.size() >= max_cache) {
    cache_.clear();  // distinct inputs beyond the bound: mapping them again is the cost
  }
  if (mapped_.drop) {
    cache_.emplace(key_, CacheEntry{nullptr});
    return StatsdResult::kDropped;
  }
  if (mapped_.name.empty()) {
    return StatsdResult::kMalformed;
  }
  // The rule's labels win over tags; of two tags of one name the later wins.
  Labels labels = std::move(mapped_.labels);
  const std::size_t from_rule = labels.size();
  for (const StatsdTag& t : line.tags) {
    std::string name = sanitize_label_name(t.key);
    if (name == "le" || name == "quantile") {
      name.insert(0, "tag_");
    }
    auto same =
        std::find_if(labels.begin(), labels.end(), [&](const auto& l) { return l.first == name; });
    if (same == labels.end()) {
      labels.emplace_back(std::move(name), std::string(t.value));
    } else if (static_cast<std::size_t>(same - labels.begin()) >= from_rule) {
      same->second = std::string(t.value);
    }
  }
  std::sort(labels.begin(), labels.end());
  std::string label_key;
  for (const auto& [n, v] : labels) {
    label_key += n;
    label_key += '\0';
    label_key += v;
    label_key += '\0';
  }
  const MetricOptions& options = *mapped_.options;
  const Shape shape = shape_of(kind, options);
  auto m = metrics_.find(mapped_.name);
  if (m != metrics_.end() && m->second->shape != shape) {
    return StatsdResult::kConflict;
  }
  if (m != metrics_.end()) {
    if (auto s = m->second->series.find(label_key); s != m->second->series.end()) {
      out = s->second.get();
      cache_.emplace(key_, CacheEntry{out});
      return StatsdResult::kOk;
    }
  }
  if (counts_.total() >= limits_.max_series ||
      (m != metrics_.end() && m->second->series.size() >= limits_.max_series_per_metric)) {
    return StatsdResult::kOverCap;
  }
  if (m == metrics_.end()) {
    auto metric = std::make_unique<Metric>();
    metric->name = mapped_.name;
    metric->shape = shape;
    metric->options = &options;
    m = metrics_.emplace(mapped_.name, std::move(metric)).first;
  }
  Metric& metric = *m->second;
  auto s = std::make_unique<Series>();
  s->metric = &metric;
  s->labels = std::move(labels);
  s->last = now;
  if (shape == Shape::kHistogram) {
    s->buckets.assign(metric.options->buckets.size() + 1, 0);
  } else if (shape == Shape::kSummary) {
    s->ages.resize(metric.options->age_buckets);
    s->ages[0].start = now;
  }
  out = s.get();
  metric.series.emplace(std::move(label_key), std::move(s));
  count(metric, 1);
  cache_.emplace(key_, CacheEntry{out});
  return StatsdResult::kOk;
}

void StatsdStore::observe(Series& s, const StatsdSample& sample, TimePoint now) {
  s.last = now;
  const Metric& m = *s.metric;
  const double weight = 1 / sample.rate;
  switch (m.shape) {
    case Shape::kCounter:
      s.value += sample.value * weight;
      return;
    case Shape::kGauge:
      s.value = sample.delta ? s.value + sample.value : sample.value;
      return;
    case Shape::kHistogram: {
      const auto& bounds = m.options->buckets;
      auto i = std::lower_bound(bounds.begin(), bounds.end(), sample.value) - bounds.begin();
      s.buckets[static_cast<std::size_t>(i)] += weight;
      s.sum += sample.value * weight;
      s.count += weight;
      return;
    }
    case Shape::kSummary: {
      s.sum += sample.value * weight;
      s.count += weight;
      const auto width = m.options->max_age / static_cast<long>(m.options->age_buckets);
      if (now - s.ages[s.current].start >= width) {
        s.current = (s.current + 1) % s.ages.size();
        AgeBucket& b = s.ages[s.current];
        b.start = now;
        b.seen = 0;
        b.samples.clear();
      }
      AgeBucket& b = s.ages[s.current];
      ++b.seen;
      if (b.samples.size() < m.options->buf_cap) {
        b.samples.push_back(sample.value);
      } else {
        random_ ^= random_ >> 12;
        random_ ^= random_ << 25;
        random_ ^= random_ >> 27;
        std::uint64_t j = (random_ * 0x2545F4914F6CDD1Dull) % b.seen;
        if (j < b.samples.size()) {
          b.samples[j] = sample.value;
        }
      }
      return;
    }
    case Shape::kSet: {
      std::uint64_t h = std::hash<std::string_view>{}(sample.member);
      if (s.members.size() >= limits_.max_set_members && s.members.count(h) == 0 &&
          now - s.last_purge >= std::chrono::seconds(1)) {
        // Full: members past the window make room (at most once a second, as it walks them).
        s.last_purge = now;
        std::erase_if(s.members,
                      [&](const auto& e) { return now - e.second >= limits_.set_window; });
      }
      if (s.members.size() < limits_.max_set_members || s.members.count(h) != 0) {
        s.members[h] = now;
      }
      return;
    }
  }
}

void StatsdStore::expire(TimePoint now) {
  if (!mapper_->expires()) {
    return;
  }
  std::unordered_set<const Series*> gone;
  for (auto m = metrics_.begin(); m != metrics_.end();) {
    Metric& metric = *m->second;
    for (auto s = metric.series.begin(); s != metric.series.end();) {
      const auto ttl = s->second->metric->options->ttl;
      if (ttl.count() > 0 && now - s->second->last > ttl) {
        gone.insert(s->second.get());
        s = metric.series.erase(s);
        count(metric, -1);
      } else {
        ++s;
      }
    }
    m = metric.series.empty() ? metrics_.erase(m) : std::next(m);
  }
  if (!gone.empty()) {
    std::erase_if(cache_, [&](const auto& e) {
      return e.second.series != nullptr && gone.count(e.second.series) != 0;
    });
  }
}

std::vector<Family> StatsdStore::collect(TimePoint now) {
  std::vector<Family> out;
  out.reserve(metrics_.size());
  for (auto& [name, mp] : metrics_) {
    const Metric& m = *mp;
    Family f;
    f.name = m.name;
    f.help = m.options->help.empty() ? "statsd metric " + m.name : m.options->help;
    switch (m.shape) {
      case Shape::kCounter:
        f.type = MetricType::kCounter;
        if (!f.name.ends_with("_total")) {
          f.name += "_total";
        }
        break;
      case Shape::kGauge:
      case Shape::kSet:
        f.type = MetricType::kGauge;
        break;
      case Shape::kHistogram:
        f.type = MetricType::kHistogram;
        break;
      case Shape::kSummary:
        f.type = MetricType::kSummary;
        break;
    }
    for (auto& [key, sp] : m.series) {
      Series& s = *sp;
      switch (m.shape) {
        case Shape::kCounter:
        case Shape::kGauge:
          f.samples.push_back({.name = f.name, .labels = s.labels, .value = s.value});
          break;
        case Shape::kSet: {
          std::erase_if(s.members,
                        [&](const auto& e) { return now - e.second >= limits_.set_window; });
          f.samples.push_back(
              {.name = f.name, .labels = s.labels, .value = static_cast<double>(s.members.size())});
          break;
        }
        case Shape::kHistogram: {
          const auto& bounds = m.options->buckets;
          double cumulative = 0;
          for (std::size_t i = 0; i <= bounds.size(); ++i) {
            cumulative += s.buckets[i];
            Labels l = s.labels;
            l.emplace_back("le", i < bounds.size() ? number(bounds[i]) : "+Inf");
            f.samples.push_back(
                {.name = f.name + "_bucket", .labels = std::move(l), .value = cumulative});
          }
          f.samples.push_back({.name = f.name + "_sum", .labels = s.labels, .value = s.sum});
          f.samples.push_back({.name = f.name + "_count", .labels = s.labels, .value = s.count});
          break;
        }
        case Shape::kSummary: {
          append_quantiles(s.ages, *m.options, now, f.name, s.labels, f.samples);
          f.samples.push_back({.name = f.name + "_sum", .labels = s.labels, .value = s.sum});
          f.samples.push_back({.name = f.name + "_count", .labels = s.labels, .value = s.count});
          break;
        }
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace tender::adapter
