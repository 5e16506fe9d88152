#pragma once
// Upward aggregation: the runner re-exposes what its containers expose on their metrics port,
// with `pod` and `container` labels added, as Prometheus' own scrape would.
//
//   std::string error;
//   auto families = parse_exposition(body, {{"pod", "web-0"}, {"container", "app"}}, error);
//   merge_families(all, std::move(*families));      // one group per metric name
//   registry.set_external([&] { return all; });

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/metrics.hpp"

namespace tender::pod {

// Parses Prometheus text format 0.0.4. Every sample gets `labels` added in front of its own;
// a sample label of the same name is kept as `exported_<name>`. Samples before any TYPE line
// form untyped families of their own name. Returns nullopt with `error` naming the line on
// malformed input.
[[nodiscard]] std::optional<std::vector<ExternalFamily>> parse_exposition(
    std::string_view text, const std::vector<std::pair<std::string, std::string>>& labels,
    std::string& error);

// Appends `more` to `into`, joining families of the same name (the first type and help win;
// a family whose type disagrees with an earlier one of its name is dropped). Returns the names
// dropped.
std::vector<std::string> merge_families(std::vector<ExternalFamily>& into,
                                        std::vector<ExternalFamily> more);

}  // namespace tender::pod
