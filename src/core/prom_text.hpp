#pragma once
// Reading the Prometheus text format (0.0.4) that another process exposes, into families a
// Registry renders with its own (Registry::set_external): the pod runner's scrapes of its
// containers, and the adapter's `text` source. No I/O.
//
//   auto families = tender::parse_exposition(body, {{"pod", "web-0"}, {"container", "app"}});
//   if (!families) {
//     log::debug("scrape failed", {{"error", families.error().message()}});  // "line 3: ..."
//   } else {
//     tender::merge_families(all, std::move(*families));  // one group per metric name
//   }
//   registry.set_external([&] { return all; });
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/metrics.hpp"

namespace tender {

// Parses Prometheus text format 0.0.4: HELP and TYPE lines (in either order), samples with
// labels, a value (a float, NaN, +Inf or -Inf) and an optional timestamp (integer
// milliseconds); spaces or tabs between tokens. Every sample gets `labels` added in front of
// its own; a sample label of the same name is kept as `exported_<name>`. Samples are kept as
// lines of the same format (label values as escaped in the input). Samples of a name no TYPE
// line declared form untyped families of their own; a histogram's _bucket, _sum and _count
// samples and a summary's _sum and _count stay in their family. Families without samples are
// left out.
//
// Fails (errc::bad_message, "line N: why") on anything the format does not allow: a bad metric
// or label name, a label value with an unknown escape or no closing quote, a repeated label, a
// value that is not a number, a timestamp that is not an integer, text after the timestamp,
// an unknown type, or a second TYPE line for a name (also after its samples).
[[nodiscard]] Result<std::vector<ExternalFamily>> parse_exposition(
    std::string_view text, const std::vector<std::pair<std::string, std::string>>& labels);

// Appends `more` to `into`, joining families of the same name (the first type and help win;
// a family whose type disagrees with an earlier one of its name is dropped). Returns the names
// dropped.
std::vector<std::string> merge_families(std::vector<ExternalFamily>& into,
                                        std::vector<ExternalFamily> more);

}  // namespace tender
