#pragma once
// What every metrics source of `tender adapt` produces: metric families with typed samples and
// raw (unescaped) label values. exposition.hpp turns the families of every source into one
// valid Prometheus / OpenMetrics exposition. No I/O.
//
//   Family f{.name = "app_requests_total", .type = MetricType::kCounter,
//            .help = "Requests served."};
//   f.samples.push_back({.name = "app_requests_total", .labels = {{"code", "200"}}, .value = 7});
//
// Naming, as the text format has it: a counter family is named with its "_total" and so are
// its samples; a histogram "x" has samples x_bucket (with an "le" label), x_sum and x_count; a
// summary "x" has samples x (with a "quantile" label), x_sum and x_count.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tender::adapter {

enum class MetricType { kCounter, kGauge, kHistogram, kSummary, kUntyped };

// "counter", "gauge", "histogram", "summary", "untyped".
[[nodiscard]] std::string_view type_name(MetricType type);
// The type named `name` (as type_name spells it), or nullopt.
[[nodiscard]] std::optional<MetricType> parse_type(std::string_view name);

// Label names and raw values, in the order they are to be printed.
using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string name;  // the whole sample name: the family's, or with _bucket / _sum / _count
  Labels labels;
  double value = 0;
  std::optional<std::int64_t> timestamp_ms{};  // only what a scraped exposition carried
};

struct Family {
  std::string name;
  MetricType type = MetricType::kUntyped;
  std::string help;  // raw; escaped when printed
  std::vector<Sample> samples{};
};

}  // namespace tender::adapter
