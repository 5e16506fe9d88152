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
//
// A program that changes what it reads (the adapter's relabelling) takes the samples apart:
//
//   auto got = tender::parse_exposition_samples(body);   // names, raw label values, numbers
//   for (const PromFamily& f : *got) { for (const PromSample& s : f.samples) { ... } }
#include <cstdint>
#include <optional>
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

// One sample taken apart: label values unescaped (\\, \" and \n resolved), in the order given.
struct PromSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  std::optional<std::int64_t> timestamp_ms;
};

// A family of taken-apart samples; `help` unescaped.
struct PromFamily {
  std::string name;
  std::string type;  // counter, gauge, histogram, summary or untyped
  std::string help;
  std::vector<PromSample> samples;
};

// One sample line ("name{a=\"b\"} 1.5 1700000000000"), without its newline. Fails
// (errc::bad_message) as parse_exposition does on a bad sample line, without the line number.
[[nodiscard]] Result<PromSample> parse_sample_line(std::string_view line);

// The same reading as parse_exposition, with the same families, grouping and failures ("line N:
// why"), but nothing added: samples taken apart, HELP text unescaped.
[[nodiscard]] Result<std::vector<PromFamily>> parse_exposition_samples(std::string_view text);

// Appends `more` to `into`, joining families of the same name (the first type and help win;
// a family whose type disagrees with an earlier one of its name is dropped). Returns the names
// dropped.
std::vector<std::string> merge_families(std::vector<ExternalFamily>& into,
                                        std::vector<ExternalFamily> more);

}  // namespace tender
