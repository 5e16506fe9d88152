// The `json` source: an app's JSON stats fetched and mapped to metrics (docs/adapt.md).
#include <boost/json/array.hpp>
#include <mutex>

#include "adapter/json_map.hpp"
#include "adapter/scrape.hpp"
#include "adapter/sources.hpp"
#include "core/metrics.hpp"

namespace tender::adapter {

namespace json = boost::json;

namespace {

class JsonParser final : public ScrapeParser {
 public:
  explicit JsonParser(JsonMapping mapping) : mapping_(std::move(mapping)) {}

  void start(const SourceContext& ctx, const std::string& source) override {
    missing_ = &ctx.metrics
                    .counter_family("tender_adapt_json_values_missing_total",
                                    "Values a json source's mapping names that the app's "
                                    "document lacked or gave as null (no sample).",
                                    {"source"})
                    .with({source});
    invalid_ = &ctx.metrics
                    .counter_family("tender_adapt_json_values_invalid_total",
                                    "Values a json source could not map: not a number, a label "
                                    "that is an object or array, series labels do not tell "
                                    "apart.",
                                    {"source"})
                    .with({source});
  }

  Result<std::vector<Family>> parse(std::string_view body) override {
    auto doc = parse_json_document(body);
    if (!doc) {
      return doc.error();
    }
    JsonMapped got = map_json(mapping_, *doc);
    if (missing_ != nullptr && got.missing > 0) {
      missing_->inc(got.missing);
    }
    if (invalid_ != nullptr && got.invalid > 0) {
      invalid_->inc(got.invalid);
    }
    {
      std::lock_guard lock(mu_);
      missing_total_ += got.missing;
      invalid_total_ += got.invalid;
      if (!got.last_problem.empty()) {
        last_problem_ = std::move(got.last_problem);
      }
    }
    return std::move(got.families);
  }

  json::object status() const override {
    std::lock_guard lock(mu_);
    json::object o;
    o["values_missing"] = missing_total_;
    o["values_invalid"] = invalid_total_;
    o["last_invalid"] = last_problem_;
    return o;
  }

 private:
  JsonMapping mapping_;
  Counter* missing_ = nullptr;
  Counter* invalid_ = nullptr;
  mutable std::mutex mu_;
  std::uint64_t missing_total_ = 0;
  std::uint64_t invalid_total_ = 0;
  std::string last_problem_;
};

}  // namespace

std::unique_ptr<Source> make_json_source(std::string name, const ConfigNode& settings,
                                         const SourceDefaults& /*defaults*/) {
  if (!settings.is_map()) {
    settings.fail("", "a json source needs url and metrics");
  }
  settings.warn_unknown(
      {"url", "timeout", "cache", "headers", "max_body_bytes", "labels", "metrics"});
  ScrapeSettings scrape = parse_scrape_settings(settings);
  JsonMapping mapping = parse_json_mapping(settings, scrape.labels);
  json::object config = scrape_settings_json(scrape);
  config["metrics"] = settings_json(settings.child("metrics"));
  return make_scraped_source(std::move(name), "json", std::move(scrape), std::move(config),
                             std::make_unique<JsonParser>(std::move(mapping)));
}

}  // namespace tender::adapter
