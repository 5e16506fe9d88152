#include "core/metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include "core/http.hpp"

namespace tender {

using metrics_internal::FamilyBase;
using metrics_internal::format_double;
using metrics_internal::Kind;

namespace {

constexpr std::string_view kTotalSuffix = "_total";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_alpha_or_underscore(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return to_lower(x) == to_lower(y);
         });
}

// Splits `s` at every `sep`; always yields at least one (possibly empty) piece.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    auto pos = s.find(sep);
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) {
      return parts;
    }
    s.remove_prefix(pos + 1);
  }
}

bool is_counter(Kind kind) { return kind == Kind::kCounter || kind == Kind::kCounterCallback; }
bool is_callback(Kind kind) {
  return kind == Kind::kCounterCallback || kind == Kind::kGaugeCallback;
}

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::kCounter:
      return "counter";
    case Kind::kGauge:
      return "gauge";
    case Kind::kHistogram:
      return "histogram";
    case Kind::kCounterCallback:
      return "counter callback";
    case Kind::kGaugeCallback:
      return "gauge callback";
  }
  return "metric";
}

std::string describe(Kind kind, const std::vector<std::string>& label_names) {
  std::string out(kind_name(kind));
  out += " with labels {";
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    out += i == 0 ? "" : ",";
    out += label_names[i];
  }
  out += '}';
  return out;
}

[[noreturn]] void invalid(std::string_view name, std::string_view why) {
  throw std::invalid_argument("metric \"" + std::string(name) + "\": " + std::string(why));
}

// The sample and family names `name` occupies in either format; two families may not share one.
std::vector<std::string> exposed_names(Kind kind, std::string_view name) {
  std::string n(name);
  if (is_counter(kind)) {
    std::string base(name.substr(0, name.size() - kTotalSuffix.size()));
    return {base, n, base + "_created"};
  }
  if (kind == Kind::kHistogram) {
    return {n, n + "_bucket", n + "_count", n + "_sum", n + "_created"};
  }
  return {n};
}

// Appends `s` with backslash, newline and (if `quote`) double quote escaped.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// "# HELP" (unless the help is empty) and "# TYPE" lines. OpenMetrics names a counter family
// without its "_total"; it escapes double quotes in help text, Prometheus 0.0.4 does not.
void append_metadata(std::string& out, const FamilyBase& family, std::string_view type,
                     Format format) {
  std::string_view name = family.name();
  if (format == Format::kOpenMetrics && is_counter(family.kind())) {
    name.remove_suffix(kTotalSuffix.size());
  }
  if (!family.help().empty()) {
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, family.help(), format == Format::kOpenMetrics);
    out += '\n';
  }
  out += "# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// One sample line; `le`, when not empty, is the last label.
void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   const std::vector<std::string>& label_names,
                   const std::vector<std::string>& label_values, std::string_view le,
                   std::string_view value) {
  out += name;
  out += suffix;
  if (!label_names.empty() || !le.empty()) {
    out += '{';
    for (std::size_t i = 0; i < label_names.size(); ++i) {
      out += i == 0 ? "" : ",";
      out += label_names[i];
      out += "=\"";
      append_escaped(out, label_values[i], true);
      out += '"';
    }
    if (!le.empty()) {
      out += label_names.empty() ? "le=\"" : ",le=\"";
      out += le;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

// A counter or gauge whose value a function computes at render time.
class CallbackFamily final : public FamilyBase {
 public:
  CallbackFamily(Kind kind, std::string name, std::string help, std::function<double()> read)
      : FamilyBase(kind, std::move(name), std::move(help), {}, {}), read_(std::move(read)) {}

  void set_read(std::function<double()> read) {
    std::lock_guard lock(mutex_);
    read_ = std::move(read);
  }

  void render(std::string& out, Format format) const override {
    std::function<double()> read;
    {
      std::lock_guard lock(mutex_);
      read = read_;
    }
    const double value = read();
    append_metadata(out, *this, is_counter(kind()) ? "counter" : "gauge", format);
    append_sample(out, name(), "", {}, {}, "", format_double(value, format));
  }

 private:
  mutable std::mutex mutex_;
  std::function<double()> read_;
};

}  // namespace

bool is_valid_metric_name(std::string_view name) {
  if (name.empty() || !(is_alpha_or_underscore(name[0]) || name[0] == ':')) {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alpha_or_underscore(c) || is_digit(c) || c == ':'; });
}

bool is_valid_label_name(std::string_view name) {
  if (name.empty() || !is_alpha_or_underscore(name[0]) || name.starts_with("__")) {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alpha_or_underscore(c) || is_digit(c); });
}

namespace metrics_internal {

std::string format_double(double v, Format format) {
  if (std::isnan(v)) {
    return "NaN";
  }
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  // Shortest round-trip digits, as "d.ddde+XX"; Go's %e looks the same.
  std::array<char, 64> buf{};
  const auto result =
      std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::scientific);
  std::string_view sci(buf.data(), static_cast<std::size_t>(result.ptr - buf.data()));
  std::string out;
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  const auto e = sci.find('e');
  std::string_view exponent_text = sci.substr(e + 1);
  if (exponent_text.front() == '+') {
    exponent_text.remove_prefix(1);
  }
  int exponent = 0;
  std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), exponent);

  if (exponent < -4 || exponent >= 6) {  // Go's 'g' with shortest precision switches here
    out += sci;
  } else {
    std::string digits;
    for (char c : sci.substr(0, e)) {
      if (c != '.') {
        digits += c;
      }
    }
    if (exponent < 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-exponent - 1), '0');
      out += digits;
    } else {
      const auto int_digits = static_cast<std::size_t>(exponent) + 1;
      if (digits.size() <= int_digits) {
        out += digits;
        out.append(int_digits - digits.size(), '0');
      } else {
        out.append(digits, 0, int_digits);
        out += '.';
        out.append(digits, int_digits);
      }
    }
  }
  if (format == Format::kOpenMetrics && out.find_first_of(".e") == std::string::npos) {
    out += ".0";
  }
  return out;
}

FamilyBase::FamilyBase(Kind kind, std::string name, std::string help,
                       std::vector<std::string> label_names, std::vector<double> buckets)
    : kind_(kind),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      buckets_(std::move(buckets)) {}

}  // namespace metrics_internal

// ---- Histogram ----

namespace {

// Which of the ownable shards are taken. The mutex also orders a shard's last plain store by
// a thread that gave it back before the first load by the next owner.
std::mutex shards_mutex;
std::array<bool, metrics_internal::kSharedShard> shard_taken{};

struct ShardLease {
  std::size_t index = metrics_internal::kNoShard;
  ShardLease() = default;
  ShardLease(const ShardLease&) = delete;
  ShardLease& operator=(const ShardLease&) = delete;
  ~ShardLease() {
    // What the thread counts after this (other thread-locals' destructors) goes to the shared
    // shard.
    metrics_internal::t_shard = metrics_internal::kSharedShard;
    metrics_internal::t_owned = false;
    if (index != metrics_internal::kNoShard) {
      std::lock_guard lock(shards_mutex);
      shard_taken[index] = false;
    }
  }
};
thread_local ShardLease shard_lease;

}  // namespace

void metrics_internal::take_shard() {
  t_shard = kSharedShard;
  t_owned = false;
  std::lock_guard lock(shards_mutex);
  for (std::size_t i = 0; i < shard_taken.size(); ++i) {
    if (!shard_taken[i]) {
      shard_taken[i] = true;
      shard_lease.index = i;
      t_shard = i;
      t_owned = true;
      return;
    }
  }
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      lines_((bounds.size() + 1 + 7) / 8),
      counts_(lines_ * metrics_internal::kShards) {}

void Histogram::observe(double v) {
  const auto bucket =
      std::isnan(v) ? bounds_.size()
                    : static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                               bounds_.begin());
  const auto s = metrics_internal::shard();
  metrics_internal::add_to(counts_[s.index * lines_ + bucket / 8].c[bucket % 8], 1, s.owned);
  metrics_internal::add_to(sums_[s.index].v, v, s.owned);
}

double Histogram::sum() const {
  double total = 0;
  for (const auto& s : sums_) {
    total += s.v.load(std::memory_order_relaxed);
  }
  return total;
}

std::vector<std::uint64_t> Histogram::cumulative_counts() const {
  std::vector<std::uint64_t> out(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    for (std::size_t s = 0; s < metrics_internal::kShards; ++s) {
      total += counts_[s * lines_ + i / 8].c[i % 8].load(std::memory_order_relaxed);
    }
    out[i] = total;
  }
  return out;
}

std::uint64_t Histogram::count() const { return cumulative_counts().back(); }

// ---- Family ----

template <typename Metric>
Metric& Family<Metric>::with(std::initializer_list<std::string_view> values) {
  return find_or_create(std::span<const std::string_view>(values.begin(), values.size()));
}

template <typename Metric>
Metric& Family<Metric>::with(std::span<const std::string> values) {
  return find_or_create(values);
}

template <typename Metric>
template <typename Values>
Metric& Family<Metric>::find_or_create(const Values& values) {
  if (values.size() != label_names().size()) {
    invalid(name(), "got " + std::to_string(values.size()) + " label values for " +
                        describe(kind(), label_names()));
  }
  {
    std::shared_lock lock(mutex_);
    if (auto it = children_.find(values); it != children_.end()) {
      return *it->second;
    }
  }
  std::unique_lock lock(mutex_);
  auto it = children_.lower_bound(values);
  if (it != children_.end() && !children_.key_comp()(values, it->first)) {
    return *it->second;  // created by another thread meanwhile
  }
  std::unique_ptr<Metric> metric;
  if constexpr (std::is_same_v<Metric, Histogram>) {
    metric = std::make_unique<Histogram>(buckets());
  } else {
    metric = std::make_unique<Metric>();
  }
  std::vector<std::string> key(values.begin(), values.end());
  return *children_.emplace_hint(it, std::move(key), std::move(metric))->second;
}

template <typename Metric>
void Family<Metric>::render(std::string& out, Format format) const {
  std::shared_lock lock(mutex_);
  if (children_.empty()) {
    return;
  }
  if constexpr (std::is_same_v<Metric, Histogram>) {
    append_metadata(out, *this, "histogram", format);
    std::vector<std::string> les;
    for (double bound : buckets()) {
      les.push_back(format_double(bound, format));
    }
    les.emplace_back("+Inf");
    for (const auto& [values, histogram] : children_) {
      const auto counts = histogram->cumulative_counts();
      for (std::size_t i = 0; i < counts.size(); ++i) {
        append_sample(out, name(), "_bucket", label_names(), values, les[i],
                      std::to_string(counts[i]));
      }
      const std::string count = std::to_string(counts.back());
      const std::string sum = format_double(histogram->sum(), format);
      // Go's client writes _sum first; the OpenMetrics specification's examples _count first.
      if (format == Format::kOpenMetrics) {
        append_sample(out, name(), "_count", label_names(), values, "", count);
        append_sample(out, name(), "_sum", label_names(), values, "", sum);
      } else {
        append_sample(out, name(), "_sum", label_names(), values, "", sum);
        append_sample(out, name(), "_count", label_names(), values, "", count);
      }
    }
  } else {
    append_metadata(out, *this, std::is_same_v<Metric, Counter> ? "counter" : "gauge", format);
    for (const auto& [values, metric] : children_) {
      append_sample(out, name(), "", label_names(), values, "",
                    format_double(metric->value(), format));
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- Registry ----

Registry::Registry() = default;
Registry::~Registry() = default;

FamilyBase& Registry::add_family(Kind kind, std::string_view name, std::string_view help,
                                 std::vector<std::string> label_names,
                                 std::span<const double> bucket_span,
                                 std::function<double()> read) {
  if (!is_valid_metric_name(name)) {
    invalid(name, "invalid metric name, want [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  if (is_counter(kind) && (!name.ends_with(kTotalSuffix) || name.size() == kTotalSuffix.size())) {
    invalid(name, "a counter's name must end in \"_total\"");
  }
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!is_valid_label_name(label)) {
      invalid(name, "invalid label name \"" + label +
                        "\", want [a-zA-Z_][a-zA-Z0-9_]* not "
                        "starting with \"__\"");
    }
    if (std::find(label_names.begin(), label_names.begin() + static_cast<std::ptrdiff_t>(i),
                  label) != label_names.begin() + static_cast<std::ptrdiff_t>(i)) {
      invalid(name, "label \"" + label + "\" appears twice");
    }
    if (kind == Kind::kHistogram && label == "le") {
      invalid(name, "a histogram cannot have a label \"le\"");
    }
  }
  std::vector<double> buckets(bucket_span.begin(), bucket_span.end());
  if (!buckets.empty() && buckets.back() == std::numeric_limits<double>::infinity()) {
    buckets.pop_back();
  }
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i]) || (i > 0 && !(buckets[i - 1] < buckets[i]))) {
      invalid(name, "histogram buckets must be finite and strictly increasing");
    }
  }
  if (is_callback(kind) && !read) {
    invalid(name, "empty callback");
  }

  std::lock_guard lock(mutex_);
  if (auto it = families_.find(name); it != families_.end()) {
    FamilyBase& existing = *it->second;
    if (existing.kind() != kind || existing.label_names() != label_names) {
      invalid(name, "already registered as a " + describe(existing.kind(), existing.label_names()) +
                        ", not a " + describe(kind, label_names));
    }
    if (existing.buckets() != buckets) {
      invalid(name, "already registered with other buckets");
    }
    if (is_callback(kind)) {
      static_cast<CallbackFamily&>(existing).set_read(std::move(read));
    }
    return existing;
  }
  const std::vector<std::string> exposed = exposed_names(kind, name);
  for (const std::string& sample : exposed) {
    if (auto it = exposed_.find(sample); it != exposed_.end()) {
      invalid(name, "would expose \"" + sample + "\", as metric \"" + it->second + "\" does");
    }
  }

  std::string key(name);
  std::unique_ptr<FamilyBase> family;
  switch (kind) {
    case Kind::kCounter:
      family.reset(new CounterFamily(kind, key, std::string(help), std::move(label_names), {}));
      break;
    case Kind::kGauge:
      family.reset(new GaugeFamily(kind, key, std::string(help), std::move(label_names), {}));
      break;
    case Kind::kHistogram:
      family.reset(new HistogramFamily(kind, key, std::string(help), std::move(label_names),
                                       std::move(buckets)));
      break;
    case Kind::kCounterCallback:
    case Kind::kGaugeCallback:
      family = std::make_unique<CallbackFamily>(kind, key, std::string(help), std::move(read));
      break;
  }
  for (const std::string& sample : exposed) {
    exposed_.emplace(sample, key);
  }
  FamilyBase& result = *family;
  families_.emplace(std::move(key), std::move(family));
  return result;
}

Counter& Registry::counter(std::string_view name, std::string_view help) {
  return counter_family(name, help, {}).with({});
}

CounterFamily& Registry::counter_family(std::string_view name, std::string_view help,
                                        std::vector<std::string> label_names) {
  return static_cast<CounterFamily&>(
      add_family(Kind::kCounter, name, help, std::move(label_names), {}, nullptr));
}

Gauge& Registry::gauge(std::string_view name, std::string_view help) {
  return gauge_family(name, help, {}).with({});
}

GaugeFamily& Registry::gauge_family(std::string_view name, std::string_view help,
                                    std::vector<std::string> label_names) {
  return static_cast<GaugeFamily&>(
      add_family(Kind::kGauge, name, help, std::move(label_names), {}, nullptr));
}

Histogram& Registry::histogram(std::string_view name, std::string_view help,
                               std::span<const double> buckets) {
  return histogram_family(name, help, {}, buckets).with({});
}

HistogramFamily& Registry::histogram_family(std::string_view name, std::string_view help,
                                            std::vector<std::string> label_names,
                                            std::span<const double> buckets) {
  return static_cast<HistogramFamily&>(
      add_family(Kind::kHistogram, name, help, std::move(label_names), buckets, nullptr));
}

void Registry::counter_callback(std::string_view name, std::string_view help,
                                std::function<double()> read) {
  add_family(Kind::kCounterCallback, name, help, {}, {}, std::move(read));
}

void Registry::gauge_callback(std::string_view name, std::string_view help,
                              std::function<double()> read) {
  add_family(Kind::kGaugeCallback, name, help, {}, {}, std::move(read));
}

void Registry::set_external(std::function<std::vector<ExternalFamily>()> source) {
  std::lock_guard lock(mutex_);
  external_ = std::move(source);
}

namespace {

// The HELP and TYPE lines of an external family. OpenMetrics names a counter family without
// its "_total" (a counter without one is exposed as unknown) and calls untyped "unknown".
void render_external_header(std::string& out, const ExternalFamily& f, Format format) {
  std::string name = f.name;
  std::string type = f.type;
  if (format == Format::kOpenMetrics) {
    if (type == "counter") {
      if (name.size() > 6 && name.ends_with("_total")) {
        name.resize(name.size() - 6);
      } else {
        type = "unknown";
      }
    } else if (type == "untyped") {
      type = "unknown";
    }
  }
  if (!f.help.empty()) {
    out += "# HELP " + name + " " + f.help + "\n";
  }
  out += "# TYPE " + name + " " + type + "\n";
}

// OpenMetrics wants `le` and `quantile` values in canonical form, a float with a '.' or an
// exponent ("1.0", not the text format's "1"): the label `label` of `line` gets ".0" when its
// value is a bare integer.
std::string canonical_point(std::string_view line, std::string_view label) {
  std::string out(line);
  std::size_t i = line.find('{');
  if (i == std::string_view::npos) {
    return out;
  }
  // Label by label: name, '=', a quoted value with escapes; a value's insides are never names.
  while (++i < line.size() && line[i] != '}') {
    std::size_t eq = line.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
      return out;
    }
    std::string_view name = line.substr(i, eq - i);
    std::size_t begin = eq + 2;
    std::size_t end = begin;
    while (end < line.size() && line[end] != '"') {
      end += line[end] == '\\' ? 2 : 1;
    }
    if (end >= line.size()) {
      return out;
    }
    if (name == label) {
      std::string_view v = line.substr(begin, end - begin);
      std::string_view digits = !v.empty() && (v[0] == '-' || v[0] == '+') ? v.substr(1) : v;
      if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos) {
        out.insert(end, ".0");
      }
      return out;
    }
    i = end + 1;  // at ',' or '}'
    if (i >= line.size() || line[i] == '}') {
      return out;
    }
  }
  return out;
}

// One sample line of an external family of `type`. The text format's timestamps are
// milliseconds, OpenMetrics' seconds: "m{a=\"b c\"} 1 1700000000123" becomes
// "... 1 1700000000.123"; and OpenMetrics' bucket bounds and quantiles are canonical.
void append_external_sample(std::string& out, std::string_view line, Format format,
                            std::string_view type) {
  if (format != Format::kOpenMetrics) {
    out += line;
    out.push_back('\n');
    return;
  }
  std::string canonical;
  if (type == "histogram" || type == "summary") {
    canonical = canonical_point(line, type == "histogram" ? "le" : "quantile");
    line = canonical;
  }
  // Past the name and the labels (whose quoted values may hold spaces and escaped quotes).
  std::size_t i = 0;
  bool quoted = false;
  for (; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ' ' || c == '\t') {
      break;
    }
  }
  std::size_t value = line.find_first_not_of(" \t", i);
  std::size_t gap = value == std::string_view::npos ? value : line.find_first_of(" \t", value);
  std::size_t ts = gap == std::string_view::npos ? gap : line.find_first_not_of(" \t", gap);
  std::string_view stamp = ts == std::string_view::npos ? std::string_view() : line.substr(ts);
  bool negative = !stamp.empty() && stamp.front() == '-';
  std::string_view digits = negative ? stamp.substr(1) : stamp;
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
    out += line;  // no timestamp (or not one we can convert): as it came
    out.push_back('\n');
    return;
  }
  std::string ms(digits);
  if (ms.size() < 4) {
    ms.insert(0, 4 - ms.size(), '0');
  }
  out += line.substr(0, ts);
  if (negative) {
    out.push_back('-');
  }
  out.append(ms, 0, ms.size() - 3);
  out.push_back('.');
  out.append(ms, ms.size() - 3, 3);
  out.push_back('\n');
}

}  // namespace

std::string Registry::render(Format format) const {
  std::vector<std::pair<std::string, const FamilyBase*>> families;
  std::function<std::vector<ExternalFamily>()> external;
  {
    std::lock_guard lock(mutex_);
    families.reserve(families_.size());
    for (const auto& entry : families_) {
      families.emplace_back(entry.first, entry.second.get());
    }
    external = external_;
  }
  std::vector<ExternalFamily> ext;
  if (external) {
    ext = external();
    std::sort(ext.begin(), ext.end(),
              [](const ExternalFamily& a, const ExternalFamily& b) { return a.name < b.name; });
  }
  std::string out;
  std::size_t e = 0;
  auto append_samples = [&out, format](const ExternalFamily& f) {
    for (const auto& s : f.samples) {
      append_external_sample(out, s, format, f.type);
    }
  };
  for (const auto& [name, family] : families) {
    for (; e < ext.size() && ext[e].name < name; ++e) {
      render_external_header(out, ext[e], format);
      append_samples(ext[e]);
    }
    std::size_t before = out.size();
    family->render(out, format);
    if (e < ext.size() && ext[e].name == name) {
      if (out.size() == before) {
        render_external_header(out, ext[e], format);
      }
      append_samples(ext[e]);
      ++e;
    }
  }
  for (; e < ext.size(); ++e) {
    render_external_header(out, ext[e], format);
    append_samples(ext[e]);
  }
  if (format == Format::kOpenMetrics) {
    out += "# EOF\n";
  }
  return out;
}

std::vector<std::string> Registry::names_in_use() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  names.reserve(exposed_.size());
  for (const auto& entry : exposed_) {
    names.push_back(entry.first);
  }
  return names;
}

Format Registry::negotiate(std::string_view accept) {
  // The best media range we can serve in each format; higher q wins, then the more specific
  // range, then the earlier one (as Go's client and RFC 9110 order them).
  struct Choice {
    double q = -1;
    int specificity = -1;
    std::size_t index = 0;
    [[nodiscard]] bool beats(const Choice& other) const {
      if (q != other.q) {
        return q > other.q;
      }
      if (specificity != other.specificity) {
        return specificity > other.specificity;
      }
      return index < other.index;
    }
  };
  Choice openmetrics;
  Choice text;
  const auto ranges = split(accept, ',');
  for (std::size_t index = 0; index < ranges.size(); ++index) {
    const auto parts = split(ranges[index], ';');
    const std::string_view media = trim_ows(parts[0]);
    double q = 1;
    std::string_view version;
    bool ok = true;
    for (std::size_t i = 1; i < parts.size(); ++i) {
      const auto eq = parts[i].find('=');
      if (eq == std::string_view::npos) {
        continue;
      }
      const std::string_view key = trim_ows(parts[i].substr(0, eq));
      std::string_view value = trim_ows(parts[i].substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      if (equals_ignore_case(key, "q")) {
        const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), q);
        ok = ec == std::errc() && ptr == value.data() + value.size() && q >= 0 && q <= 1;
      } else if (equals_ignore_case(key, "version")) {
        version = value;
      }
    }
    const auto slash = media.find('/');
    if (!ok || q <= 0 || slash == std::string_view::npos) {
      continue;
    }
    const std::string_view type = media.substr(0, slash);
    const std::string_view subtype = media.substr(slash + 1);
    Choice choice{q, 2, index};
    if (equals_ignore_case(type, "application") &&
        equals_ignore_case(subtype, "openmetrics-text")) {
      if ((version.empty() || version == "1.0.0" || version == "0.0.1") &&
          choice.beats(openmetrics)) {
        openmetrics = choice;
      }
      continue;
    }
    if (type == "*" && subtype == "*") {
      choice.specificity = 0;
    } else if (equals_ignore_case(type, "text") && subtype == "*") {
      choice.specificity = 1;
    } else if (!equals_ignore_case(type, "text") || !equals_ignore_case(subtype, "plain") ||
               !(version.empty() || version == "0.0.4")) {
      continue;
    }
    if (choice.beats(text)) {
      text = choice;
    }
  }
  return openmetrics.q > 0 && openmetrics.beats(text) ? Format::kOpenMetrics : Format::kPrometheus;
}

std::string_view Registry::content_type(Format format) {
  return format == Format::kOpenMetrics
             ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
             : "text/plain; version=0.0.4; charset=utf-8";
}

// ---- Process metrics ----

namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
  double start_ticks = 0;  // clock ticks after boot
};

// Parses /proc/self/stat (see proc(5)): fields 14-15 utime and stime, 22 starttime, 23 vsize,
// 24 rss in pages. The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
std::optional<ProcStat> read_proc_stat() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) {
    return std::nullopt;
  }
  const auto close = line.rfind(')');
  if (close == std::string::npos) {
    return std::nullopt;
  }
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;  // fields[0] is field 3
  for (std::string field; rest >> field;) {
    fields.push_back(std::move(field));
  }
  if (fields.size() < 22) {
    return std::nullopt;
  }
  auto number = [&](int field) {
    double v = 0;
    const std::string& s = fields[static_cast<std::size_t>(field - 3)];
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  };
  const auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const auto page = static_cast<double>(sysconf(_SC_PAGESIZE));
  ProcStat stat;
  stat.cpu_seconds = (number(14) + number(15)) / ticks;
  stat.start_ticks = number(22);
  stat.virtual_bytes = number(23);
  stat.resident_bytes = number(24) * page;
  return stat;
}

double read_field(double ProcStat::*field) {
  const auto stat = read_proc_stat();
  return stat ? (*stat).*field : kNaN;
}

// The boot time ("btime" in /proc/stat) plus the process's start ticks, in Unix seconds.
double process_start_time() {
  const auto stat = read_proc_stat();
  std::ifstream in("/proc/stat");
  for (std::string key; stat && in >> key;) {
    if (key == "btime") {
      double boot = 0;
      if (in >> boot) {
        return boot + stat->start_ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
      }
      break;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return kNaN;
}

double count_open_fds() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) {
    return kNaN;
  }
  double n = 0;
  for (const std::filesystem::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) {
      return kNaN;
    }
    ++n;
  }
  return n;
}

double max_fds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return kNaN;
  }
  return static_cast<double>(limit.rlim_cur);
}

}  // namespace

void add_process_metrics(Registry& registry) {
  registry.counter_callback("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.",
                            [] { return read_field(&ProcStat::cpu_seconds); });
  registry.gauge_callback("process_resident_memory_bytes", "Resident memory size in bytes.",
                          [] { return read_field(&ProcStat::resident_bytes); });
  registry.gauge_callback("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                          [] { return read_field(&ProcStat::virtual_bytes); });
  registry.gauge_callback("process_open_fds", "Number of open file descriptors.", count_open_fds);
  registry.gauge_callback("process_max_fds", "Maximum number of open file descriptors.", max_fds);
  registry.gauge_callback("process_start_time_seconds",
                          "Start time of the process since unix epoch in seconds.",
                          [start = process_start_time()] { return start; });
}

}  // namespace tender
