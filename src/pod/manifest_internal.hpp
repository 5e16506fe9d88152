#pragma once
// Pieces of the manifest parser shared by manifest.cpp, env.cpp and security.cpp. Not a public
// header.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "pod/manifest.hpp"

namespace tender::pod {

// metadata.labels['key'] / metadata.annotations['key'] -> the key, else nullopt.
[[nodiscard]] std::optional<std::string> subscript(std::string_view path, std::string_view prefix);

// Whether `container`'s environment, command and args fit in `max_bytes` once expanded for
// `pod` (with the longest pod address), counting each string's terminating NUL and each
// variable's '='. Stops as soon as they do not, however large expansion would make them.
[[nodiscard]] bool expands_within(const PodSpec& pod, const ContainerSpec& container,
                                  std::size_t max_bytes);

// The pod's securityContext (`sc` may be undefined). Throws ConfigError.
[[nodiscard]] PodSecurity parse_pod_security(const ConfigNode& sc);
// A container's securityContext (`sc` may be undefined) over its pod's. Throws ConfigError.
[[nodiscard]] SecuritySpec parse_container_security(const ConfigNode& sc, const PodSecurity& pod);

}  // namespace tender::pod
