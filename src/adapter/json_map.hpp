#pragma once
// The mapping of the adapter's `json` source: which values of an app's JSON become which
// metrics, as json_exporter's `metrics:` list has it (docs/adapt.md). Configuration and
// mapping only; no I/O.
//
//   JsonMapping m = parse_json_mapping(settings, static_labels);   // ConfigError at its line
//   auto doc = parse_json_document(body);         // "json: line 1, column 7: syntax error"
//   if (doc) { JsonMapped got = map_json(m, *doc); ... got.families ... got.missing ... }
//
//   metrics:
//     - {name: app_uptime_seconds, path: $.uptime}
//     - name: app_requests
//       type: counter
//       path: $.servers[*].requests
//       labels: {server: '{.name}', dc: eu}           # relative to the object the value is in
//     - name: app_queue
//       type: object                                  # one element per array item / object
//       path: $.queues                                # an array, or objects ($.queues.*)
//       labels: {queue: '{@key}'}                     # the element's key (or index)
//       values: {depth: .depth, state: .state}        # app_queue_depth, app_queue_state
//       value_converter: {state: {up: 1, down: 0}}
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "adapter/family.hpp"
#include "adapter/json_path.hpp"
#include "core/config.hpp"
#include "core/error.hpp"

namespace tender::adapter {

// Documents nested deeper than this are refused by parse_json_document.
inline constexpr std::size_t kMaxJsonDepth = 64;

// Where a label's value comes from.
struct JsonLabel {
  enum class Kind { kLiteral, kPath, kKey } kind = Kind::kLiteral;
  std::string name;
  std::string literal;
  JsonPath path{};
};

// One value of a `type: object` metric (or the one value of a gauge or counter).
struct JsonValue {
  std::string family;  // the metric name: name, or name_suffix for an object's value
  JsonPath path;
  std::map<std::string, double, std::less<>> converter;  // string value -> number
};

struct JsonMetric {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;  // of the samples (an object's value_type)
  bool object = false;
  JsonPath path;
  std::vector<JsonLabel> labels;
  std::vector<JsonValue> values;  // one for a gauge or counter (its path: the value itself)
  int line = 0;                   // in the configuration, for reasons
};

struct JsonMapping {
  std::vector<JsonMetric> metrics;
  Labels static_labels;  // added to every series
};

// Reads `settings.metrics`. Throws ConfigError at the line of what is wrong: no metrics, a name
// that is not a metric name, an unknown type, a bad path, an object without values (or values
// without type: object), a label that is not a label name or is also a static label, a
// value_converter entry that is not a number, two metrics of one name and different types.
[[nodiscard]] JsonMapping parse_json_mapping(const ConfigNode& settings, Labels static_labels);

// What a document gave.
struct JsonMapped {
  std::vector<Family> families;
  std::uint64_t missing = 0;  // values absent or null: no sample
  std::uint64_t invalid = 0;  // values or labels that cannot be read, ambiguous series
  std::string last_problem;   // the last invalid one, for /statusz
};

// The families `doc` gives under `mapping`. Never fails: what cannot be read is counted.
[[nodiscard]] JsonMapped map_json(const JsonMapping& mapping, const boost::json::value& doc);

// Parses an answer's body, nested at most kMaxJsonDepth deep. Fails (errc::bad_message) with
// "json: line L, column C: why", or "json: the document is a string, not an object or array".
[[nodiscard]] Result<boost::json::value> parse_json_document(std::string_view body);

}  // namespace tender::adapter
