#pragma once
// One valid exposition from the families of every source: names checked, counters ending in
// _total, no series twice, histograms with their +Inf bucket and _count, label values and help
// escaped (and made valid UTF-8), at most max_series_per_metric series per metric. What it
// leaves out is counted per source, so a bad source shows in tender_adapt_* metrics rather
// than breaking the scrape. No I/O.
//
//   std::vector<SourceFamilies> got = ...;              // what each source's collect() gave
//   Exposition out = build_exposition(std::move(got), {.max_series_per_metric = 10'000},
//                                     registry.names_in_use());
//   registry.set_external([f = out.families] { return f; });   // rendered with tender's own
//   for (const auto& [source, d] : out.drops) { over_cap.with({source}).inc(d.over_cap); }
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "adapter/family.hpp"
#include "core/metrics.hpp"

namespace tender::adapter {

struct ExpositionLimits {
  std::size_t max_series_per_metric = 10'000;  // label sets per metric name (a histogram's
                                               // buckets count as one)
};

struct SourceFamilies {
  std::string source;  // the source's name
  std::vector<Family> families;
};

// What a source's families lost on the way out.
struct ExpositionDrops {
  std::uint64_t over_cap = 0;   // series past max_series_per_metric
  std::uint64_t duplicate = 0;  // samples whose name and labels were already given
  std::uint64_t invalid = 0;    // samples with a bad name, label or value layout
  std::uint64_t conflict = 0;   // samples of a family whose name another family holds
  std::string last_reason;      // the last invalid or conflict, for /statusz
};

struct Exposition {
  std::vector<ExternalFamily> families;          // sorted by name
  std::map<std::string, ExpositionDrops> drops;  // by source; sources that lost nothing absent
  std::map<std::string, std::size_t> series;     // label sets written, by source
};

// Builds the exposition. Earlier sources win: a family of a name an earlier source gave with
// another type, or whose names (x, x_total, x_bucket, ...) meet another family's or one of
// `taken` (Registry::names_in_use, tender's own metrics), is left out as a conflict; families of
// the same name and type from several sources are merged. A counter named without "_total"
// gets it. Samples are grouped by label set; a histogram's buckets are sorted by `le`, a
// missing +Inf bucket is added from _count (a group with neither, or whose buckets go down,
// is invalid) and a missing _count from +Inf. Never throws on what the sources gave.
[[nodiscard]] Exposition build_exposition(std::vector<SourceFamilies> sources,
                                          const ExpositionLimits& limits,
                                          const std::vector<std::string>& taken);

// Appends `raw` as a label value between quotes: \ as \\, " as \", newline as \n, and bytes
// that are not valid UTF-8 as U+FFFD.
void append_label_value(std::string& out, std::string_view raw);
// A HELP text: \ as \\, newline as \n, invalid UTF-8 as U+FFFD.
[[nodiscard]] std::string escape_help(std::string_view raw);

}  // namespace tender::adapter
