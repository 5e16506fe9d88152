#pragma once
// Making sources from configuration: one factory per kind (each in its own file), and the
// dispatch on the entry's kind key. Factories only parse: nothing is bound or fetched until
// Source::start, so `tender adapt --check` runs them all.
//
//   # adapt.yaml                          ConfigNode entry = ...;   // one item of sources:
//   metrics:                              auto source = make_source(entry, defaults);
//     sources:
//       - name: app
//         json: {url: http://127.0.0.1:8080/stats, metrics: [...]}
#include <cstddef>
#include <memory>
#include <string>

#include "adapter/source.hpp"
#include "core/config.hpp"

namespace tender::adapter {

// Settings of the `metrics:` section every source obeys.
struct SourceDefaults {
  std::size_t max_series_per_metric = 10'000;
};

// One entry of `metrics.sources`: a `name` and exactly one of the keys json, statsd, text,
// redis, whose value (a map) goes to that kind's factory. Throws ConfigError at the line of
// what is wrong: no name, no kind or two, an unknown key, a bad setting.
[[nodiscard]] std::unique_ptr<Source> make_source(const ConfigNode& entry,
                                                  const SourceDefaults& defaults);

// The factories. `settings` is the map under the kind's key; each throws ConfigError.
[[nodiscard]] std::unique_ptr<Source> make_json_source(std::string name, const ConfigNode& settings,
                                                       const SourceDefaults& defaults);
[[nodiscard]] std::unique_ptr<Source> make_text_source(std::string name, const ConfigNode& settings,
                                                       const SourceDefaults& defaults);
[[nodiscard]] std::unique_ptr<Source> make_statsd_source(std::string name,
                                                         const ConfigNode& settings,
                                                         const SourceDefaults& defaults);
[[nodiscard]] std::unique_ptr<Source> make_redis_source(std::string name,
                                                        const ConfigNode& settings,
                                                        const SourceDefaults& defaults);

}  // namespace tender::adapter
