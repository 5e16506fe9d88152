#pragma once
// Relabelling for the adapter's `text` source, with the semantics of Prometheus's
// metric_relabel_configs (docs/adapt.md), and the conversion of a scraped exposition into
// families with it. Regexes are compiled once, at configuration. No I/O.
//
//   Relabeler r = Relabeler::parse(settings.child("relabel"));   // ConfigError at its line
//   auto got = parse_exposition_samples(body);                    // core/prom_text.hpp
//   Relabelled out = relabel_families(std::move(*got), static_labels, r);
//
//   relabel:
//     - {source_labels: [__name__], regex: 'go_.*', action: drop}
//     - {source_labels: [__name__], regex: 'http_(.*)', target_label: __name__,
//        replacement: 'app_http_$1'}
//     - {target_label: app, replacement: web}
//     - {regex: 'pod_(.+)', action: labelmap}
#include <memory>
#include <string>
#include <vector>

#include "adapter/family.hpp"
#include "core/config.hpp"
#include "core/prom_text.hpp"

namespace tender::adapter {

class Relabeler {
 public:
  // No rules: every sample as it is.
  Relabeler();
  ~Relabeler();
  Relabeler(const Relabeler&);
  Relabeler& operator=(const Relabeler&);
  Relabeler(Relabeler&&) noexcept;
  Relabeler& operator=(Relabeler&&) noexcept;

  // The rules of `list` (a sequence; undefined is none). Each rule: source_labels, separator
  // (";"), regex (fully anchored, "(.*)"), target_label, replacement ("$1"; $1, ${1}, $name,
  // ${name}, $$), action: replace (default), keep, drop, keepequal, dropequal, lowercase,
  // uppercase, labelmap, labeldrop, labelkeep. Throws ConfigError at the rule's key: a bad
  // regex, an unknown action (hashmod is not supported), a missing target_label or
  // source_labels the action needs, a name that is not a label name.
  [[nodiscard]] static Relabeler parse(const ConfigNode& list);

  // Applies the rules in order to `labels`, which hold the sample's name as __name__. False:
  // the sample is dropped (keep, drop, keepequal, dropequal). A label set to "" is removed.
  [[nodiscard]] bool apply(Labels& labels) const;
  [[nodiscard]] std::size_t size() const;

 private:
  struct Rule;
  std::shared_ptr<const std::vector<Rule>> rules_;
};

struct Relabelled {
  std::vector<Family> families;
  std::uint64_t dropped = 0;  // samples a keep or drop rule left out
};

// The families of a scraped exposition relabelled: `labels` are added to every sample first
// (a sample's own label of such a name is kept as exported_<name>, as Prometheus does), then
// the rules run on each sample with __name__ set to its FAMILY's name (a histogram's
// _bucket, _sum and _count samples too, so a renamed family stays whole: the new name gets the
// same suffixes). Labels starting with "__" are removed afterwards. Families keep their type
// and help; samples renamed alike are gathered into one family. Never fails: a name made
// invalid is left for build_exposition to count.
[[nodiscard]] Relabelled relabel_families(const std::vector<PromFamily>& scraped,
                                          const Labels& labels, const Relabeler& rules);

}  // namespace tender::adapter
