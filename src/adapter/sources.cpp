#include "adapter/sources.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>

namespace tender::adapter {

std::unique_ptr<Source> make_source(const ConfigNode& entry, const SourceDefaults& defaults) {
  if (!entry.is_map()) {
    entry.fail("", "a source is a map with a name and one of json, statsd, text, redis");
  }
  std::optional<std::string> name = entry.string("name");
  if (!name || name->empty()) {
    entry.fail("name", "every source needs a name");
  }
  using Factory =
      std::unique_ptr<Source> (*)(std::string, const ConfigNode&, const SourceDefaults&);
  constexpr std::array<std::pair<std::string_view, Factory>, 4> kKinds{{
      {"json", &make_json_source},
      {"statsd", &make_statsd_source},
      {"text", &make_text_source},
      {"redis", &make_redis_source},
  }};
  const std::pair<std::string_view, Factory>* kind = nullptr;
  for (const auto& key : entry.keys()) {
    if (key == "name") {
      continue;
    }
    const auto* k =
        std::find_if(kKinds.begin(), kKinds.end(), [&](const auto& e) { return e.first == key; });
    if (k == kKinds.end()) {
      entry.fail(key, "not a source kind (json, statsd, text, redis)");
    }
    if (kind != nullptr) {
      entry.fail(key, "a source has one kind; this one is already " + std::string(kind->first));
    }
    kind = k;
  }
  if (kind == nullptr) {
    entry.fail("", "source " + *name + " has no kind (json, statsd, text or redis)");
  }
  ConfigNode settings = entry.child(kind->first);
  if (settings.defined() && !settings.is_map()) {
    entry.fail(kind->first, "the settings of a " + std::string(kind->first) + " source are a map");
  }
  return kind->second(*name, settings, defaults);
}

}  // namespace tender::adapter
