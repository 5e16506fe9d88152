// The parts of scrape.hpp without I/O: settings and the fetch cache.
#include <boost/json/array.hpp>

#include "adapter/scrape.hpp"
#include "core/metrics.hpp"
#include "core/units.hpp"

namespace tender::adapter {

namespace json = boost::json;

namespace {

// A map of strings under `key` (empty when absent), in file order.
std::vector<std::pair<std::string, std::string>> string_map(const ConfigNode& settings,
                                                            std::string_view key) {
  ConfigNode node = settings.child(key);
  std::vector<std::pair<std::string, std::string>> out;
  if (!node.defined()) {
    return out;
  }
  if (!node.is_map()) {
    settings.fail(key, "a map of names to strings");
  }
  for (const auto& k : node.keys()) {
    if (node.child(k).defined() && !node.child(k).is_scalar()) {
      node.fail(k, "a string");
    }
    out.emplace_back(k, node.string(k).value_or(""));
  }
  return out;
}

json::value yaml_json(const YAML::Node& n) {
  if (n.IsMap()) {
    json::object o;
    for (const auto& kv : n) {
      o[kv.first.as<std::string>()] = yaml_json(kv.second);
    }
    return o;
  }
  if (n.IsSequence()) {
    json::array a;
    for (const auto& e : n) {
      a.push_back(yaml_json(e));
    }
    return a;
  }
  if (n.IsScalar()) {
    return json::string(n.Scalar());
  }
  return nullptr;
}

}  // namespace

json::value settings_json(const ConfigNode& node) { return yaml_json(node.yaml()); }

ScrapeSettings parse_scrape_settings(const ConfigNode& settings) {
  ScrapeSettings s;
  auto url = settings.string("url");
  if (!url || url->empty()) {
    settings.fail("url", "a scraped source needs a url (http://HOST:PORT/PATH)");
  }
  if (url->starts_with("https://")) {
    settings.fail("url", "https is not supported; give an http:// URL (the app on localhost)");
  }
  auto target = parse_http_url(*url);
  if (!target) {
    settings.fail("url", target.error().message());
  }
  s.url = *url;
  s.target = std::move(*target);
  if (auto t = settings.duration("timeout")) {
    if (t->count() <= 0) {
      settings.fail("timeout", "a fetch needs some time: at least 1ms");
    }
    s.timeout = *t;
  }
  if (auto c = settings.duration("cache")) {
    s.cache = *c;
  }
  if (auto b = settings.bytes("max_body_bytes")) {
    if (*b == 0) {
      settings.fail("max_body_bytes", "at least 1 byte");
    }
    s.max_body_bytes = *b;
  }
  s.headers = string_map(settings, "headers");
  for (const auto& [name, value] : s.headers) {
    if (name.empty() || name.find_first_of(" \t\r\n:") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      settings.child("headers").fail(name, "not a header field");
    }
  }
  for (auto& [name, value] : string_map(settings, "labels")) {
    if (!is_valid_label_name(name)) {
      settings.child("labels").fail(name, "not a label name ([a-zA-Z_][a-zA-Z0-9_]*, no __)");
    }
    s.labels.emplace_back(name, value);
  }
  return s;
}

json::object scrape_settings_json(const ScrapeSettings& s) {
  json::object o;
  o["url"] = s.url;
  o["timeout"] = format_duration(s.timeout);
  o["cache"] = format_duration(s.cache);
  o["max_body_bytes"] = s.max_body_bytes;
  json::object headers;
  for (const auto& [n, v] : s.headers) {
    headers[n] = v;
  }
  o["headers"] = std::move(headers);
  json::object labels;
  for (const auto& [n, v] : s.labels) {
    labels[n] = v;
  }
  o["labels"] = std::move(labels);
  return o;
}

}  // namespace tender::adapter
