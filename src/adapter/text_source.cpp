// The `text` source: a Prometheus text endpoint fetched and relabelled (docs/adapt.md).
#include <boost/json/array.hpp>
#include <mutex>

#include "adapter/scrape.hpp"
#include "adapter/sources.hpp"
#include "adapter/text_relabel.hpp"
#include "core/prom_text.hpp"

namespace tender::adapter {

namespace json = boost::json;

namespace {

class TextParser final : public ScrapeParser {
 public:
  TextParser(Labels labels, Relabeler rules, std::string url)
      : labels_(std::move(labels)), rules_(std::move(rules)), url_(std::move(url)) {}

  Result<std::vector<Family>> parse(std::string_view body) override {
    auto got = parse_exposition_samples(body);
    if (!got) {
      return got.error().with_context("text");
    }
    Relabelled out = relabel_families(*got, labels_, rules_);
    for (auto& f : out.families) {
      if (f.help.empty()) {  // Prometheus's linters want one
        f.help = "Scraped from " + url_ + " (which gave no HELP).";
      }
    }
    {
      std::lock_guard lock(mu_);
      dropped_ += out.dropped;
    }
    return std::move(out.families);
  }

  json::object status() const override {
    std::lock_guard lock(mu_);
    json::object o;
    o["relabel_dropped"] = dropped_;
    return o;
  }

 private:
  Labels labels_;
  Relabeler rules_;
  std::string url_;
  mutable std::mutex mu_;
  std::uint64_t dropped_ = 0;
};

}  // namespace

std::unique_ptr<Source> make_text_source(std::string name, const ConfigNode& settings,
                                         const SourceDefaults& /*defaults*/) {
  if (!settings.is_map()) {
    settings.fail("", "a text source needs a url");
  }
  settings.warn_unknown(
      {"url", "timeout", "cache", "headers", "max_body_bytes", "labels", "relabel"});
  ScrapeSettings scrape = parse_scrape_settings(settings);
  Relabeler rules = Relabeler::parse(settings.child("relabel"));
  json::object config = scrape_settings_json(scrape);
  if (settings.has("relabel")) {
    config["relabel"] = settings_json(settings.child("relabel"));
  }
  Labels labels = scrape.labels;
  std::string url = scrape.url;
  return make_scraped_source(
      std::move(name), "text", std::move(scrape), std::move(config),
      std::make_unique<TextParser>(std::move(labels), std::move(rules), std::move(url)));
}

}  // namespace tender::adapter
