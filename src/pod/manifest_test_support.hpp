#pragma once
// What the manifest parser's tests share: the ConfigError a manifest gives. Test-only.

#include <string>

#include "core/config.hpp"
#include "pod/manifest.hpp"

namespace tender::pod::testing {

// The message of the ConfigError that parsing `yaml` as the file `name` throws, or "no error".
inline std::string manifest_error(const std::string& yaml, const std::string& name) {
  try {
    (void)parse_manifests(yaml, name);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace tender::pod::testing
