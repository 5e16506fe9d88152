#include "adapter/exposition.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "core/utf8.hpp"

namespace tender::adapter {

std::string_view type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kSummary:
      return "summary";
    case MetricType::kUntyped:
      break;
  }
  return "untyped";
}

std::optional<MetricType> parse_type(std::string_view name) {
  for (MetricType t : {MetricType::kCounter, MetricType::kGauge, MetricType::kHistogram,
                       MetricType::kSummary, MetricType::kUntyped}) {
    if (type_name(t) == name) {
      return t;
    }
  }
  return std::nullopt;
}

void append_label_value(std::string& out, std::string_view raw) {
  out.push_back('"');
  std::size_t plain = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c != '\\' && c != '"' && c != '\n') {
      continue;
    }
    append_valid_utf8(out, raw.substr(plain, i - plain));
    out += c == '\\' ? "\\\\" : c == '"' ? "\\\"" : "\\n";
    plain = i + 1;
  }
  append_valid_utf8(out, raw.substr(plain));
  out.push_back('"');
}

std::string escape_help(std::string_view raw) {
  std::string out;
  std::size_t plain = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' || raw[i] == '\n') {
      append_valid_utf8(out, raw.substr(plain, i - plain));
      out += raw[i] == '\\' ? "\\\\" : "\\n";
      plain = i + 1;
    }
  }
  append_valid_utf8(out, raw.substr(plain));
  return out;
}

namespace {

constexpr std::string_view kTotal = "_total";

// A float as Go's strconv.ParseFloat reads a label like "le": "0.5", "1e3", "+Inf", "NaN".
std::optional<double> parse_float(std::string_view s) {
  bool plus = !s.empty() && s.front() == '+';
  if (plus) {
    s.remove_prefix(1);
  }
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() ||
      (plus && (s.front() == '-' || s.front() == '+'))) {
    return std::nullopt;
  }
  return v;
}

// A label set as a lookup key, independent of the order the labels were given in.
std::string label_key(Labels labels) {
  std::sort(labels.begin(), labels.end());
  std::string key;
  for (const auto& [n, v] : labels) {
    key += n;
    key.push_back('\0');
    key += v;
    key.push_back('\0');
  }
  return key;
}

// Every name a family of `type` called `name` puts on the wire, in either format.
std::vector<std::string> names_of(const std::string& name, MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return {name, name.substr(0, name.size() - kTotal.size())};
    case MetricType::kHistogram:
      return {name, name + "_bucket", name + "_sum", name + "_count"};
    case MetricType::kSummary:
      return {name, name + "_sum", name + "_count"};
    case MetricType::kGauge:
    case MetricType::kUntyped:
      break;
  }
  return {name};
}

// One label set of a family, without `le` / `quantile`.
struct Group {
  std::string source;
  Labels labels;
  std::vector<std::pair<double, Sample>> points{};  // buckets by le, or quantiles
  std::optional<Sample> value{};                    // counters, gauges, untyped
  std::optional<Sample> sum{};
  std::optional<Sample> count{};
};

struct Merged {
  MetricType type = MetricType::kUntyped;
  std::string help;
  std::vector<Group> groups;
  std::map<std::string, std::size_t, std::less<>> group_index;
  std::set<std::string, std::less<>> series;  // sample name + label key
  std::set<std::string, std::less<>> capped;  // group keys left out by the cap
};

// What part of its family a sample is.
enum class Role { kValue, kPoint, kSum, kCount };

class Builder {
 public:
  Builder(const ExpositionLimits& limits, const std::vector<std::string>& taken)
      : limits_(limits), taken_(taken.begin(), taken.end()) {}

  void add(const std::string& source, Family family);
  Exposition finish();

 private:
  void invalid(const std::string& source, std::uint64_t n, std::string why) {
    auto& d = out_.drops[source];
    d.invalid += n;
    d.last_reason = std::move(why);
  }
  Merged* family_for(const std::string& source, const Family& family);
  void add_sample(const std::string& source, const std::string& family_name, Merged& m,
                  Sample sample);
  std::optional<Role> role_of(const std::string& family_name, MetricType type,
                              const std::string& sample_name) const;
  void render(const std::string& name, Merged& m);

  ExpositionLimits limits_;
  std::set<std::string, std::less<>> taken_;
  std::map<std::string, Merged, std::less<>> families_;
  std::map<std::string, std::string, std::less<>> exposed_;  // wire name -> family name
  Exposition out_;
};

Merged* Builder::family_for(const std::string& source, const Family& family) {
  if (auto it = families_.find(family.name); it != families_.end()) {
    if (it->second.type == family.type) {
      return &it->second;
    }
    auto& d = out_.drops[source];
    d.conflict += family.samples.size();
    d.last_reason = family.name + ": a " + std::string(type_name(it->second.type)) +
                    " of this name came first, this one is a " +
                    std::string(type_name(family.type));
    return nullptr;
  }
  std::vector<std::string> names = names_of(family.name, family.type);
  for (const auto& n : names) {
    std::string holder = taken_.contains(n) ? "tender's own metrics" : "";
    if (auto e = exposed_.find(n); holder.empty() && e != exposed_.end()) {
      holder = "the family " + e->second;
    }
    if (!holder.empty()) {
      auto& d = out_.drops[source];
      d.conflict += family.samples.size();
      d.last_reason = family.name + ": the name " + n + " is taken by " + holder;
      return nullptr;
    }
  }
  for (auto& n : names) {
    exposed_.emplace(std::move(n), family.name);
  }
  Merged& m = families_[family.name];
  m.type = family.type;
  return &m;
}

std::optional<Role> Builder::role_of(const std::string& family_name, MetricType type,
                                     const std::string& sample_name) const {
  if (sample_name == family_name) {
    if (type == MetricType::kHistogram) {
      return std::nullopt;
    }
    return type == MetricType::kSummary ? Role::kPoint : Role::kValue;
  }
  if (type != MetricType::kHistogram && type != MetricType::kSummary) {
    return std::nullopt;
  }
  std::string_view rest = std::string_view(sample_name);
  if (!rest.starts_with(family_name)) {
    return std::nullopt;
  }
  rest.remove_prefix(family_name.size());
  if (rest == "_sum") {
    return Role::kSum;
  }
  if (rest == "_count") {
    return Role::kCount;
  }
  if (rest == "_bucket" && type == MetricType::kHistogram) {
    return Role::kPoint;
  }
  return std::nullopt;
}

void Builder::add(const std::string& source, Family family) {
  if (family.samples.empty()) {
    return;
  }
  if (!is_valid_metric_name(family.name)) {
    invalid(source, family.samples.size(), "not a metric name: " + family.name);
    return;
  }
  if (family.type == MetricType::kCounter && !family.name.ends_with(kTotal)) {
    std::string bare = family.name;
    family.name += kTotal;
    for (auto& s : family.samples) {
      if (s.name == bare) {
        s.name = family.name;
      }
    }
  }
  Merged* m = family_for(source, family);
  if (m == nullptr) {
    return;
  }
  if (m->help.empty()) {
    m->help = family.help.empty() ? "Adapted by tender adapt from the source " + source + "."
                                  : std::move(family.help);
  }
  for (auto& s : family.samples) {
    add_sample(source, family.name, *m, std::move(s));
  }
}

void Builder::add_sample(const std::string& source, const std::string& family_name, Merged& m,
                         Sample sample) {
  std::optional<Role> role = role_of(family_name, m.type, sample.name);
  if (!role) {
    invalid(source, 1,
            sample.name + ": not a sample name of the " + std::string(type_name(m.type)) + " " +
                family_name);
    return;
  }
  const std::string_view point_label = m.type == MetricType::kHistogram ? "le" : "quantile";
  std::optional<double> point;
  Labels group_labels;
  std::set<std::string_view> seen;
  for (const auto& [n, v] : sample.labels) {
    if (!is_valid_label_name(n) || !seen.insert(n).second) {
      invalid(source, 1, sample.name + ": label " + n + " is not a label name or repeats");
      return;
    }
    if (*role == Role::kPoint && n == point_label) {
      point = parse_float(v);
      if (!point) {
        invalid(source, 1, sample.name + ": " + n + "=\"" + v + "\" is not a number");
        return;
      }
      continue;
    }
    if ((m.type == MetricType::kHistogram && n == "le") ||
        (m.type == MetricType::kSummary && n == "quantile")) {
      invalid(source, 1,
              sample.name + ": the label " + n + " belongs to " +
                  (m.type == MetricType::kHistogram ? "_bucket" : "quantile") + " samples only");
      return;
    }
    group_labels.emplace_back(n, v);
  }
  if (*role == Role::kPoint && !point) {
    invalid(source, 1, sample.name + ": no " + std::string(point_label) + " label");
    return;
  }
  std::string key = label_key(group_labels);
  std::string series = sample.name + '\xff' + key;
  if (point) {
    series += metrics_internal::format_double(*point, Format::kPrometheus);
  }
  if (!m.series.insert(series).second) {
    auto& d = out_.drops[source];
    ++d.duplicate;
    return;
  }
  auto g = m.group_index.find(key);
  if (g == m.group_index.end()) {
    if (m.groups.size() >= limits_.max_series_per_metric) {
      if (m.capped.insert(key).second) {
        ++out_.drops[source].over_cap;
      }
      return;
    }
    g = m.group_index.emplace(key, m.groups.size()).first;
    m.groups.push_back(Group{.source = source, .labels = group_labels});
  }
  Group& group = m.groups[g->second];
  sample.labels = std::move(group_labels);
  switch (*role) {
    case Role::kValue:
      group.value = std::move(sample);
      break;
    case Role::kPoint:
      group.points.emplace_back(*point, std::move(sample));
      break;
    case Role::kSum:
      group.sum = std::move(sample);
      break;
    case Role::kCount:
      group.count = std::move(sample);
      break;
  }
}

void append_sample(std::string& line, const Sample& s, std::string_view extra_name = {},
                   std::optional<double> extra = std::nullopt) {
  line = s.name;
  if (!s.labels.empty() || extra) {
    line.push_back('{');
    bool first = true;
    for (const auto& [n, v] : s.labels) {
      if (!first) {
        line.push_back(',');
      }
      first = false;
      line += n;
      line.push_back('=');
      append_label_value(line, v);
    }
    if (extra) {
      if (!first) {
        line.push_back(',');
      }
      line += extra_name;
      line += "=\"" + metrics_internal::format_double(*extra, Format::kPrometheus) + "\"";
    }
    line.push_back('}');
  }
  line.push_back(' ');
  line += metrics_internal::format_double(s.value, Format::kPrometheus);
  if (s.timestamp_ms) {
    line.push_back(' ');
    line += std::to_string(*s.timestamp_ms);
  }
}

// A histogram group's buckets made whole (sorted, with +Inf), or why they cannot be.
std::optional<std::string> complete_histogram(const std::string& name, Group& g) {
  std::sort(g.points.begin(), g.points.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const double inf = std::numeric_limits<double>::infinity();
  if (g.points.empty() || g.points.back().first != inf) {
    if (!g.count) {
      return name + ": a histogram with neither a +Inf bucket nor a _count";
    }
    Sample top = *g.count;
    top.name = name + "_bucket";
    g.points.emplace_back(inf, std::move(top));
  }
  for (std::size_t i = 1; i < g.points.size(); ++i) {
    if (!(g.points[i].second.value >= g.points[i - 1].second.value)) {
      return name + ": histogram buckets that go down";
    }
  }
  if (!g.count) {
    Sample count = g.points.back().second;
    count.name = name + "_count";
    g.count = std::move(count);
  }
  return std::nullopt;
}

void Builder::render(const std::string& name, Merged& m) {
  ExternalFamily f{.name = name,
                   .type = std::string(type_name(m.type)),
                   .help = escape_help(m.help),
                   .samples = {}};
  std::string line;
  for (Group& g : m.groups) {
    if (m.type == MetricType::kHistogram) {
      if (auto why = complete_histogram(name, g)) {
        invalid(g.source, g.points.size() + (g.sum ? 1 : 0) + (g.count ? 1 : 0), *why);
        continue;
      }
    } else if (m.type == MetricType::kSummary) {
      std::sort(g.points.begin(), g.points.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    if (g.value) {
      append_sample(line, *g.value);
      f.samples.push_back(line);
    }
    for (const auto& [at, s] : g.points) {
      append_sample(line, s, m.type == MetricType::kHistogram ? "le" : "quantile", at);
      f.samples.push_back(line);
    }
    for (const auto* s : {&g.count, &g.sum}) {
      if (*s) {
        append_sample(line, **s);
        f.samples.push_back(line);
      }
    }
    ++out_.series[g.source];
  }
  if (!f.samples.empty()) {
    out_.families.push_back(std::move(f));
  }
}

Exposition Builder::finish() {
  for (auto& [name, m] : families_) {
    render(name, m);
  }
  return std::move(out_);
}

}  // namespace

Exposition build_exposition(std::vector<SourceFamilies> sources, const ExpositionLimits& limits,
                            const std::vector<std::string>& taken) {
  Builder b(limits, taken);
  for (auto& s : sources) {
    for (auto& f : s.families) {
      b.add(s.source, std::move(f));
    }
  }
  return b.finish();
}

}  // namespace tender::adapter
