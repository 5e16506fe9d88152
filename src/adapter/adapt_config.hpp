#pragma once
// `tender adapt`'s configuration: the one-liner flags and the YAML file, resolved into the
// sources, health checks and log adapters to run. Only parsing: nothing is bound or opened.
//
//   AdaptConfig cfg = resolve_adapt(flags, common_flags.load_config());  // ConfigError/UsageError
//
// The file (docs/adapt.md):
//   metrics:
//     listen: 127.0.0.1:9102          # adapted metrics on their own port (else the admin one)
//     max_series_per_metric: 10000
//     sources: [{name: app, json: {...}}, {name: statsd, statsd: {...}}, ...]
//   health: {checks: [...]}
//   logs: [...]
// A one-liner (--statsd, --json with --map, --text, --redis, --logs) adds a source (or a log
// adapter) named after its kind to what the file has.
#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapter/health.hpp"
#include "adapter/logs.hpp"
#include "adapter/sources.hpp"
#include "core/config.hpp"
#include "core/host_port.hpp"

namespace tender::adapter {

struct AdaptFlags {
  std::string statsd;          // ADDR: UDP and TCP statsd listeners
  std::string json;            // URL of the app's JSON (needs --map)
  std::string text;            // URL of a Prometheus text endpoint
  std::string redis;           // ADDR of a Redis server
  std::string map;             // the mapping of --json or --statsd
  std::string metrics_listen;  // HOST:PORT
  std::string max_series;      // per metric
  std::string logs;            // a log format: common, combined, logfmt, json
  std::string logs_input;      // with --logs: a file or FIFO; "-" (default) stdin
  std::string logs_output;     // with --logs: a file; "-" (default) stdout
  bool check = false;
};

struct AdaptConfig {
  std::optional<HostPort> metrics_listen;
  std::size_t max_series_per_metric = 10'000;
  std::vector<std::unique_ptr<Source>> sources;  // names unique
  std::shared_ptr<HealthChecks> health;          // never null
  std::unique_ptr<LogAdapters> logs;             // never null

  // Whether there is anything to run at all.
  [[nodiscard]] bool empty() const {
    return sources.empty() && health->size() == 0 && logs->size() == 0;
  }
  // For /configz: metrics (listen, cap, each source's config), health, logs.
  [[nodiscard]] boost::json::object to_json() const;
};

// Flags beat the file; one-liners add to the file's sources. Throws UsageError for a bad flag
// (--map without --json or --statsd, both, --json without --map, a bad address or URL) and
// ConfigError at the file's line for a bad file (or a --map file), including two sources of
// one name and a file with nothing to adapt.
[[nodiscard]] AdaptConfig resolve_adapt(const AdaptFlags& flags, const ConfigNode& file);

}  // namespace tender::adapter
