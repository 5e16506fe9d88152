#pragma once
// The settings of a statsd source and its mapping rules, in statsd_exporter's mapping-file
// shape (docs/adapt.md). Pure: no I/O.
//
//   StatsdSettings s = parse_statsd_settings(settings_node, defaults);  // ConfigError
//   MapOutcome m;
//   s.mapper->map("api.get.latency", StatsdKind::kObserver, m);
//   // m.name "api_latency", m.labels {{"method", "get"}}, m.options->summary ...
//
// mappings: the first rule (in file order) that matches a name wins. A glob's `*` matches any
// run of characters within one dot-separated component and captures it as $1, $2...; a regex
// (match_type: regex) is searched in the name (anchor it with ^...$ to match the whole name) and
// its groups are $1... A name that no rule matches keeps its statsd name, sanitised.
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapter/family.hpp"
#include "adapter/sources.hpp"
#include "adapter/statsd_parse.hpp"
#include "core/config.hpp"
#include "core/host_port.hpp"

namespace tender::adapter {

// statsd_exporter's defaults (Prometheus' DefBuckets; 0.5/0.9/0.99 over 10 minutes).
inline constexpr double kStatsdDefaultBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                   0.5,   1,    2.5,   5,    10};

struct Quantile {
  double quantile = 0;
  double error = 0;  // accepted for compatibility; the estimate is a reservoir's
};

// How a mapped metric is kept: from its rule, else from `defaults:`.
struct MetricOptions {
  bool summary = true;  // observers: a summary (statsd_exporter's default) or a histogram
  std::vector<double> buckets;
  std::vector<Quantile> quantiles;
  std::chrono::milliseconds max_age{std::chrono::minutes(10)};
  std::size_t age_buckets = 5;
  std::size_t buf_cap = 500;         // observations sampled per age bucket
  std::chrono::milliseconds ttl{0};  // 0: series never expire
  std::string help;
};

// What a name maps to.
struct MapOutcome {
  bool drop = false;  // action: drop
  std::string name;   // a valid metric name
  Labels labels;      // the rule's labels, expanded
  const MetricOptions* options = nullptr;
};

// "a.b-c" -> "a_b_c", "1x" -> "_1x": what statsd_exporter does to a name. Characters outside
// [a-zA-Z0-9_:] become '_'; a leading digit gets a '_' before it. "" stays "".
[[nodiscard]] std::string sanitize_metric_name(std::string_view name);
// The same for a label name ([a-zA-Z0-9_]); one starting with "__" (reserved) gets "tag" before.
[[nodiscard]] std::string sanitize_label_name(std::string_view name);

class StatsdMapper {
 public:
  // `mappings` (a list) and `defaults` (a map) as the file has them; either may be undefined.
  // Throws ConfigError at the line of: a bad glob or regex, a name or label template that
  // cannot yield a valid name or refers to a group the match does not have, a bad bucket or
  // quantile list, an unknown observer_type, match_type or match_metric_type. Unknown keys
  // warn.
  StatsdMapper(const ConfigNode& mappings, const ConfigNode& defaults);
  ~StatsdMapper();
  StatsdMapper(const StatsdMapper&) = delete;
  StatsdMapper& operator=(const StatsdMapper&) = delete;

  // Maps `name` (a line of kind `kind`) into `out`. Never fails: an unmatched name keeps its
  // sanitised self with the defaults' options. out.name is "" when the sanitised result is
  // empty (a rule whose name is only $1 and $1 matched nothing).
  void map(std::string_view name, StatsdKind kind, MapOutcome& out) const;

  [[nodiscard]] const MetricOptions& defaults() const { return defaults_; }
  [[nodiscard]] std::size_t size() const { return rules_.size(); }
  // Whether any series can expire (a ttl in defaults or in a rule).
  [[nodiscard]] bool expires() const { return expires_; }

 private:
  struct Rule;
  // One item of `mappings:`, over the defaults; throws ConfigError.
  [[nodiscard]] std::unique_ptr<Rule> parse_rule(const ConfigNode& m, bool default_regex) const;

  MetricOptions defaults_;
  std::vector<std::unique_ptr<Rule>> rules_;
  bool expires_ = false;
};

struct StatsdSettings {
  std::optional<HostPort> udp;
  std::optional<HostPort> tcp;
  std::uint64_t read_buffer = 8 << 20;
  std::uint64_t max_line_bytes = 64 << 10;
  std::size_t max_connections = 256;
  std::size_t max_series_per_metric = 10'000;
  std::size_t max_series = 100'000;  // over every metric of the source
  std::chrono::milliseconds set_window{std::chrono::minutes(1)};
  std::size_t max_set_members = 10'000;  // per set series
  std::shared_ptr<const StatsdMapper> mapper;
  boost::json::object json;  // the effective settings, for config()
};

// The map under `statsd:`. Throws ConfigError at the key's line (no udp nor tcp, a bad
// address or size, what StatsdMapper refuses); unknown keys warn.
[[nodiscard]] StatsdSettings parse_statsd_settings(const ConfigNode& settings,
                                                   const SourceDefaults& defaults);

}  // namespace tender::adapter
