// libFuzzer target: `tender adapt`'s statsd source on arbitrary packets, from the line parser
// through a mapping, the store and the exposition to the text Prometheus reads. Beyond not
// crashing, it checks what the adapter relies on: a parsed line has a name and finite values
// (rates in (0, 1]); the store never gives the exposition a series it must refuse; and the
// exposition, whatever the packet held, is text that core's strict Prometheus parser reads
// back whole, in both formats' text form.
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "adapter/exposition.hpp"
#include "adapter/statsd_mapping.hpp"
#include "adapter/statsd_parse.hpp"
#include "adapter/statsd_store.hpp"
#include "check.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "core/prom_text.hpp"

namespace ad = tender::adapter;

namespace {

std::shared_ptr<const ad::StatsdMapper> mapper() {
  static const auto m = [] {
    tender::ConfigNode root = tender::parse_config(
        "mappings:\n"
        "  - {match: 'api.*.*', name: 'api_$2_total', labels: {route: '$1'}}\n"
        "  - {match: 'lat.*', name: lat_seconds, observer_type: histogram, "
        "buckets: [0.01, 0.1, 1]}\n"
        "  - {match: '(.*)\\.drop', match_type: regex, name: dropped, action: drop}\n"
        "  - {match: 'q.*', name: 'q_$1', observer_type: summary}\n",
        "fuzz.yaml");
    return std::make_shared<const ad::StatsdMapper>(root.child("mappings"), root.child("defaults"));
  }();
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view packet(reinterpret_cast<const char*>(data), size);
  ad::StatsdStore store(mapper(), ad::StatsdLimits{.max_series_per_metric = 50,
                                                   .max_series = 200,
                                                   .set_window = std::chrono::seconds(10),
                                                   .max_set_members = 20});
  ad::StatsdLine line;
  const auto now = std::chrono::steady_clock::time_point(std::chrono::seconds(1000));
  ad::for_each_line(packet, [&](std::string_view text) {
    if (ad::parse_statsd_line(text, line) != ad::ParseOutcome::kOk) {
      return;
    }
    CHECK(!line.name.empty());
    CHECK(!line.samples.empty());
    for (const auto& s : line.samples) {
      CHECK(std::isfinite(s.value));
      CHECK(s.rate > 0 && s.rate <= 1);
    }
    (void)store.ingest(line, now);
  });
  std::vector<ad::SourceFamilies> in;
  in.push_back({"fuzz", store.collect(now)});
  ad::Exposition e = ad::build_exposition(std::move(in), {.max_series_per_metric = 50}, {});
  if (auto d = e.drops.find("fuzz"); d != e.drops.end()) {
    CHECK(d->second.invalid == 0);
    CHECK(d->second.conflict == 0);
    CHECK(d->second.duplicate == 0);
  }
  tender::Registry registry;
  registry.set_external([&e] { return e.families; });
  auto parsed = tender::parse_exposition(registry.render(tender::Format::kPrometheus), {});
  CHECK(parsed.has_value());
  return 0;
}
