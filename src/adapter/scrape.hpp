#pragma once
// The HTTP fetch under the adapter's `json` and `text` sources: settings every scraped source
// shares, a cache that turns a storm of scrapes into one request, and the Source that fetches,
// parses and caches (docs/adapt.md).
//
//   ScrapeSettings s = parse_scrape_settings(settings);      // url, timeout, cache, ...
//   auto source = make_scraped_source(name, "json", std::move(s), config_json,
//                                     std::make_unique<MyParser>(...));
//   source->start(ctx);                                        // one HttpClient on ctx.io
//   source->collect(done);   // fetches unless the last fetch is younger than `cache`
//
// A fetch fails, and collect() gives an Error with a one-line reason, when the app cannot be
// reached ("connect: Connection refused"), takes longer than `timeout` in all ("timed out after
// 2s"), answers other than 2xx ("HTTP 503"), answers more than max_body_bytes, or answers what
// the parser refuses (its reason, e.g. "json: line 1, column 7: syntax error").
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "adapter/fetch_cache.hpp"
#include "adapter/source.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/http.hpp"

namespace tender::adapter {

// The settings of a scraped source.
struct ScrapeSettings {
  std::string url;  // as given: http://HOST[:PORT]/PATH
  HttpUrl target;
  std::chrono::milliseconds timeout{2'000};  // connect and answer, in all
  std::chrono::milliseconds cache{1'000};    // a fetch younger than this answers scrapes; 0: none
  std::vector<std::pair<std::string, std::string>> headers;  // sent with every fetch
  std::uint64_t max_body_bytes = std::uint64_t{8} << 20;
  Labels labels;  // static labels added to every series
};

// Keys parse_scrape_settings reads; a source's own keys come on top.
inline constexpr std::string_view kScrapeKeys[] = {"url",     "timeout",        "cache",
                                                   "headers", "max_body_bytes", "labels"};

// Reads the shared keys of `settings`. Throws ConfigError at the key's line: no url, a url that
// is not http:// (https is not supported), a bad duration or size, a timeout of 0, headers or
// labels that are not a map of strings, a label that is not a label name.
[[nodiscard]] ScrapeSettings parse_scrape_settings(const ConfigNode& settings);
// The settings as /configz shows them (header values as given; the caller redacts secrets).
[[nodiscard]] boost::json::object scrape_settings_json(const ScrapeSettings& s);

// A settings node as JSON for config(): maps, lists and scalars (as strings); null if absent.
[[nodiscard]] boost::json::value settings_json(const ConfigNode& node);

// What a scraped source does with an answer's body.
class ScrapeParser {
 public:
  virtual ~ScrapeParser() = default;
  // Registers the parser's own tender_adapt_* metrics. Called once, from Source::start.
  virtual void start(const SourceContext& /*ctx*/, const std::string& /*source*/) {}
  // The families `body` holds, or why it cannot be read (a one-line reason). Called on the io
  // thread once per fetch.
  [[nodiscard]] virtual Result<std::vector<Family>> parse(std::string_view body) = 0;
  // The parser's counters for /statusz. Thread-safe.
  [[nodiscard]] virtual boost::json::object status() const { return {}; }
};

// A Source of kind `kind` ("json", "text") fetching settings.url and reading answers with
// `parser`; `config` is what config() returns. Never fails: fetch failures are collect()'s.
[[nodiscard]] std::unique_ptr<Source> make_scraped_source(std::string name, std::string kind,
                                                          ScrapeSettings settings,
                                                          boost::json::object config,
                                                          std::unique_ptr<ScrapeParser> parser);

}  // namespace tender::adapter
